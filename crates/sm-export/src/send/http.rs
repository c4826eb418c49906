//! The HTTP destination (test-only in the reference, kept for parity and for local sinks).
//!
//! * `RAW_NOT_BATCHED` (the default): one POST per message, the raw payload as the body,
//!   `Content-Type: application/octet-stream`, one after another; a message that still fails
//!   after its quick retries stops the attempt (later messages must not overtake it).
//! * `JSON_BATCHED`: one POST per attempt, `Content-Type: application/json`, the body a JSON
//!   array of `{"streamName", "sequenceNumber", "ingestTime", "payload"}` with the payload in
//!   standard base64.
//!
//! Answers are classified by [`crate::classify::http_status`].

use serde::Serialize;
use sm_model::ExportFormat;

use super::{Cx, Plan, UnitDest, UnitResult};
use crate::api::{Call, Config, OpResult, Record, Target};
use crate::batch::RecordOutcome;
use crate::classify::{self, ExportError, Failure, RecordError};

/// An HTTP export target.
#[derive(Debug)]
pub(crate) struct Http {
    uri: String,
    format: ExportFormat,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonMessage<'a> {
    stream_name: &'a str,
    sequence_number: u64,
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

impl Http {
    pub(crate) fn new(uri: &str, format: Option<ExportFormat>) -> Self {
        Self {
            uri: uri.to_owned(),
            format: format.unwrap_or(ExportFormat::RawNotBatched),
        }
    }

    fn post(
        &self,
        config: &Config,
        content_type: &'static str,
        body: Vec<u8>,
    ) -> Result<Call, RecordError> {
        http::Request::post(&self.uri)
            .header(http::header::CONTENT_TYPE, content_type)
            .body(body)
            .map(|request| Call::new(Target::Http, request, config))
            .map_err(|e| RecordError::Build(e.to_string()))
    }
}

impl UnitDest for Http {
    fn plan(&mut self, _: &mut Cx<'_>, _: &[Record], to_send: Vec<usize>) -> Result<Plan, Failure> {
        let units = match self.format {
            ExportFormat::RawNotBatched => to_send.into_iter().map(|i| vec![i]).collect(),
            ExportFormat::JsonBatched => vec![to_send],
        };
        Ok(Plan {
            units,
            settled: Vec::new(),
        })
    }

    fn build(
        &mut self,
        cx: &mut Cx<'_>,
        records: &[Record],
        unit: &[usize],
    ) -> Result<Call, UnitResult> {
        let built = match self.format {
            ExportFormat::RawNotBatched => {
                let body = records[unit[0]].payload.to_vec();
                self.post(cx.config, "application/octet-stream", body)
            }
            ExportFormat::JsonBatched => {
                let messages: Vec<JsonMessage<'_>> = unit
                    .iter()
                    .map(|&i| JsonMessage {
                        stream_name: cx.stream,
                        sequence_number: records[i].seq,
                        ingest_time: records[i].ingest_time,
                        payload: &records[i].payload,
                    })
                    .collect();
                serde_json::to_vec(&messages)
                    .map_err(|e| RecordError::Build(e.to_string()))
                    .and_then(|body| self.post(cx.config, "application/json", body))
            }
        };
        // Only the URI can make the request unbuildable: the export is misconfigured.
        built.map_err(|e| UnitResult::Whole(super::blocked(ExportError::Record(e))))
    }

    fn parse(
        &mut self,
        _: &mut Cx<'_>,
        _: &[Record],
        unit: &[usize],
        answer: OpResult,
    ) -> UnitResult {
        let (class, error) = match answer {
            OpResult::Call(Ok(a)) => match classify::http_status(a.status) {
                None => {
                    return UnitResult::Records(
                        unit.iter()
                            .map(|&i| (i, RecordOutcome::Delivered))
                            .collect(),
                    )
                }
                Some(class) => (
                    class,
                    ExportError::HttpStatus {
                        status: a.status,
                        uri: self.uri.clone(),
                    },
                ),
            },
            OpResult::Call(Err(e)) => (
                classify::transport(&e),
                ExportError::Transport {
                    target: format!("POST {}", self.uri),
                    error: e,
                },
            ),
            other => unreachable_result(&other),
        };
        UnitResult::Whole(Failure::new(class, error))
    }
}

/// The answer to a call was not a call's result (a runtime bug): a transient failure, not a
/// panic in the daemon.
pub(super) fn unreachable_result(other: &OpResult) -> (classify::Class, ExportError) {
    (
        classify::Class::Transient,
        ExportError::Internal(format!("a call was answered with {}", kind_of(other))),
    )
}

/// The name of a result's kind, for messages.
pub(crate) fn kind_of(r: &OpResult) -> &'static str {
    match r {
        OpResult::Read(_) => "a read",
        OpResult::Call(_) => "a call's answer",
        OpResult::Stat(_) => "a file's information",
        OpResult::File(_) => "a file's bytes",
        OpResult::UploadState(_) => "an upload state",
    }
}
