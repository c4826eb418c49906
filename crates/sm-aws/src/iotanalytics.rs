//! IoT Analytics `BatchPutMessage` (REST-JSON, `POST /messages/batch`). The service was retired
//! on 2025-12-15; the call still works against any endpoint that speaks the API.

use base64::Engine;
use serde::Serialize;
use sm_retry::RecordOutcome;

use crate::endpoint::{host_of, Endpoint};
use crate::error::whole_call;
use crate::CallOutcome;

/// Messages per call.
pub const MAX_MESSAGES: usize = 100;

/// A message id unique per stream and sequence number, and stable across retries:
/// `prefix` (≤ 32 characters, validated upstream) + 16 hex digits naming the stream + `_` +
/// the sequence number. At most 32 + 16 + 1 + 20 = 69 characters (the API allows 128).
pub fn message_id(prefix: Option<&str>, stream_tag: u64, seq: u64) -> String {
    format!("{}{stream_tag:016x}_{seq}", prefix.unwrap_or(""))
}

#[derive(Serialize)]
struct Message<'a> {
    #[serde(rename = "messageId")]
    message_id: &'a str,
    payload: String,
}

#[derive(Serialize)]
struct Batch<'a> {
    #[serde(rename = "channelName")]
    channel_name: &'a str,
    messages: Vec<Message<'a>>,
}

/// Builds the request for `messages` (id, payload) to `channel`.
pub fn batch_put_message(
    endpoint: &Endpoint,
    channel: &str,
    messages: &[(String, &[u8])],
) -> http::Request<Vec<u8>> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let body = Batch {
        channel_name: channel,
        messages: messages
            .iter()
            .map(|(id, p)| Message {
                message_id: id,
                payload: b64.encode(p),
            })
            .collect(),
    };
    let body = serde_json::to_vec(&body).unwrap_or_default();
    http::Request::post(format!("{}/messages/batch", endpoint.url))
        .header("host", host_of(&endpoint.url))
        .header("content-type", "application/json")
        .body(body)
        .unwrap_or_default()
}

/// Parses the answer to a call that sent messages with these `ids`, in order.
pub fn parse_batch_put_message(
    status: u16,
    error_type: Option<&str>,
    body: &[u8],
    ids: &[String],
) -> CallOutcome {
    if !(200..300).contains(&status) {
        return whole_call(status, error_type, body);
    }
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or(serde_json::Value::Null);
    let errors = v
        .get("batchPutMessageErrorEntries")
        .and_then(|e| e.as_array())
        .cloned()
        .unwrap_or_default();
    CallOutcome::Records(
        ids.iter()
            .map(|id| {
                let err = errors
                    .iter()
                    .find(|e| e.get("messageId").and_then(|m| m.as_str()) == Some(id.as_str()));
                match err {
                    None => RecordOutcome::Delivered,
                    Some(e) => {
                        let code = e
                            .get("errorCode")
                            .and_then(|c| c.as_str())
                            .unwrap_or("Unknown");
                        let msg = format!(
                            "{code}: {}",
                            e.get("errorMessage").and_then(|m| m.as_str()).unwrap_or("")
                        );
                        if code == "InvalidRequestException" {
                            RecordOutcome::Skip(msg)
                        } else {
                            RecordOutcome::Retry(msg)
                        }
                    }
                }
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Endpoints, Service};

    #[test]
    fn ids_are_stable_and_short() {
        let a = message_id(Some(&"p".repeat(32)), u64::MAX, u64::MAX);
        assert!(a.len() <= 128);
        assert_eq!(message_id(None, 1, 7), "0000000000000001_7");
        assert_eq!(message_id(Some("x-"), 1, 7), message_id(Some("x-"), 1, 7));
    }

    #[test]
    fn shape_and_partial_errors() {
        let ep = Endpoints::default().resolve(Service::IotAnalytics, "us-east-1");
        let ids = vec!["a".to_string(), "b".to_string(), "c".to_string()];
        let req = batch_put_message(
            &ep,
            "chan",
            &[(ids[0].clone(), b"{}"), (ids[1].clone(), b"x")],
        );
        assert_eq!(
            req.uri(),
            "https://iotanalytics.us-east-1.amazonaws.com/messages/batch"
        );
        let v: serde_json::Value = serde_json::from_slice(req.body()).unwrap();
        assert_eq!(v["channelName"], "chan");
        assert_eq!(v["messages"][1]["payload"], "eA==");
        let body = br#"{"batchPutMessageErrorEntries":[{"messageId":"b","errorCode":"InvalidRequestException","errorMessage":"bad"},{"messageId":"c","errorCode":"ThrottlingException","errorMessage":"slow"}]}"#;
        assert_eq!(
            parse_batch_put_message(200, None, body, &ids),
            CallOutcome::Records(vec![
                RecordOutcome::Delivered,
                RecordOutcome::Skip("InvalidRequestException: bad".into()),
                RecordOutcome::Retry("ThrottlingException: slow".into()),
            ])
        );
        assert!(matches!(
            parse_batch_put_message(404, None, b"", &ids),
            CallOutcome::Fail(_)
        ));
    }
}
