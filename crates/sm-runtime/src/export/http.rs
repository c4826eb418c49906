//! The HTTP destination (test-only in the reference, kept for parity and for local sinks).
//!
//! * `RAW_NOT_BATCHED` (the default): one POST per message, the raw payload as the body,
//!   `Content-Type: application/octet-stream`; messages go one after another and the first
//!   retryable failure stops the batch (the rest is retried later, in order).
//! * `JSON_BATCHED`: one POST per batch, `Content-Type: application/json`, the body a JSON array
//!   of `{"streamName", "sequenceNumber", "ingestTime", "payload"}` with the payload in standard
//!   base64.
//!
//! Classification: 2xx = delivered; 408, 429, 5xx, timeouts and connection errors =
//! retryable; any other status (3xx, 4xx) = non-retryable: the message (raw) or the batch (JSON)
//! is skipped, counted and reported, because sending the same bytes again cannot succeed.

use serde::Serialize;
use sm_model::ExportFormat;
use sm_retry::RecordOutcome;

use super::SendResult;
use crate::store::OwnedMessage;

/// An HTTP export target.
#[derive(Debug)]
pub struct HttpDestination {
    client: reqwest::Client,
    uri: String,
    format: ExportFormat,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonMessage<'a> {
    stream_name: &'a str,
    sequence_number: i64,
    ingest_time: i64,
    #[serde(serialize_with = "base64_str")]
    payload: &'a [u8],
}

/// Writes the payload's base64 straight into the JSON body (no string per message).
fn base64_str<S: serde::Serializer>(payload: &&[u8], s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&base64::display::Base64Display::new(
        payload,
        &base64::engine::general_purpose::STANDARD,
    ))
}

enum Answer {
    Delivered,
    Retry(String),
    Skip(String),
}

impl HttpDestination {
    /// A destination posting to `uri`.
    pub fn new(client: reqwest::Client, uri: &str, format: Option<ExportFormat>) -> Self {
        Self {
            client,
            uri: uri.to_owned(),
            format: format.unwrap_or(ExportFormat::RawNotBatched),
        }
    }

    async fn post(&self, content_type: &str, body: impl Into<reqwest::Body>) -> Answer {
        let sent = self
            .client
            .post(&self.uri)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body)
            .send()
            .await;
        match sent {
            Ok(resp) => {
                let status = resp.status();
                if status.is_success() {
                    Answer::Delivered
                } else {
                    let msg = match status.as_u16() {
                        407 => format!(
                            "HTTP 407 Proxy Authentication Required from the proxy of {}",
                            self.uri
                        ),
                        _ => format!("HTTP {} from {}", status.as_u16(), self.uri),
                    };
                    // 407: a proxy on the way wants (other) credentials; the message says so.
                    if status.is_server_error() || matches!(status.as_u16(), 407 | 408 | 429) {
                        Answer::Retry(msg)
                    } else {
                        Answer::Skip(msg)
                    }
                }
            }
            Err(e) => {
                let what = if e.is_timeout() {
                    "timed out"
                } else if e.is_connect() {
                    "could not connect"
                } else {
                    "failed"
                };
                Answer::Retry(format!(
                    "POST {} {what}: {}",
                    self.uri,
                    crate::net::error_chain(&e)
                ))
            }
        }
    }

    /// Sends the messages.
    pub async fn send(&self, stream: &str, messages: &[&OwnedMessage]) -> SendResult {
        match self.format {
            ExportFormat::RawNotBatched => {
                let mut r = SendResult::default();
                for m in messages {
                    r.bytes += m.payload.len() as u64;
                    match self
                        .post("application/octet-stream", m.payload.clone())
                        .await
                    {
                        Answer::Delivered => r.outcomes.push(RecordOutcome::Delivered),
                        Answer::Skip(e) => r.outcomes.push(RecordOutcome::Skip(e)),
                        Answer::Retry(e) => {
                            // Stop here: later messages must not overtake this one.
                            r.whole_error = e;
                            break;
                        }
                    }
                }
                r
            }
            ExportFormat::JsonBatched => {
                let body: Vec<JsonMessage<'_>> = messages
                    .iter()
                    .map(|m| JsonMessage {
                        stream_name: stream,
                        sequence_number: m.seq,
                        ingest_time: m.ingest_time,
                        payload: &m.payload,
                    })
                    .collect();
                let body = match serde_json::to_vec(&body) {
                    Ok(b) => b,
                    Err(e) => {
                        return SendResult {
                            whole_error: format!("could not encode the batch: {e}"),
                            ..SendResult::default()
                        }
                    }
                };
                let mut r = SendResult {
                    bytes: body.len() as u64,
                    ..SendResult::default()
                };
                match self.post("application/json", body).await {
                    Answer::Delivered => {
                        r.outcomes = vec![RecordOutcome::Delivered; messages.len()]
                    }
                    Answer::Skip(e) => r.outcomes = vec![RecordOutcome::Skip(e); messages.len()],
                    Answer::Retry(e) => r.whole_error = e,
                }
                r
            }
        }
    }
}
