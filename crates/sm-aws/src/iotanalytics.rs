//! IoT Analytics `BatchPutMessage` (REST-JSON, `POST /messages/batch`). The service was retired
//! on 2025-12-15; the call still works against any endpoint that speaks the API.

use base64::Engine;
use serde::Serialize;

use crate::endpoint::{host_of, Endpoint};
use crate::error::{parse_error, AwsError, BuildError};
use crate::Parsed;

/// Messages per call.
pub const MAX_MESSAGES: usize = 100;

/// A message id unique per stream and sequence number, and stable across retries and
/// restarts: `prefix` (≤ 32 characters, validated upstream) + 16 hex digits naming the stream
/// (its FNV-1a 64 hash) + `_` + the sequence number. At most 32 + 16 + 1 + 20 = 69 characters
/// (the API allows 128).
pub fn message_id(prefix: Option<&str>, stream: &str, seq: u64) -> String {
    let tag = stream.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("{}{tag:016x}_{seq}", prefix.unwrap_or(""))
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
) -> Result<http::Request<Vec<u8>>, BuildError> {
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
    let body = serde_json::to_vec(&body)?;
    Ok(
        http::Request::post(format!("{}/messages/batch", endpoint.url))
            .header("host", host_of(&endpoint.url))
            .header("content-type", "application/json")
            .body(body)?,
    )
}

/// Parses the answer to a call that sent messages with these `ids`, in order: per message,
/// `None` when it was accepted, else its `batchPutMessageErrorEntries` error.
pub fn parse_batch_put_message(
    status: u16,
    error_type: Option<&str>,
    body: &[u8],
    ids: &[String],
) -> Parsed<Vec<Option<AwsError>>> {
    if !(200..300).contains(&status) {
        return Err(parse_error(status, error_type, body));
    }
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or(serde_json::Value::Null);
    let errors = v
        .get("batchPutMessageErrorEntries")
        .and_then(|e| e.as_array())
        .map(Vec::as_slice)
        .unwrap_or_default();
    Ok(ids
        .iter()
        .map(|id| {
            let e = errors
                .iter()
                .find(|e| e.get("messageId").and_then(|m| m.as_str()) == Some(id.as_str()))?;
            Some(AwsError {
                status,
                code: e
                    .get("errorCode")
                    .and_then(|c| c.as_str())
                    .unwrap_or("Unknown")
                    .to_owned(),
                message: e
                    .get("errorMessage")
                    .and_then(|m| m.as_str())
                    .unwrap_or("")
                    .to_owned(),
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Endpoints, Service};

    #[test]
    fn ids_are_stable_and_short() {
        let a = message_id(Some(&"p".repeat(32)), &"s".repeat(255), u64::MAX);
        assert!(a.len() <= 128);
        // FNV-1a 64 of "s" (the ids the daemon has always sent).
        assert_eq!(message_id(None, "s", 7), "af63ee4c86020b22_7");
        assert_eq!(message_id(None, "", 7), "cbf29ce484222325_7");
        assert_eq!(message_id(Some("x-"), "s", 7), "x-af63ee4c86020b22_7");
    }

    #[test]
    fn shape_and_partial_errors() {
        let ep = Endpoints::default().resolve(Service::IotAnalytics, "us-east-1");
        let ids = vec!["a".to_string(), "b".to_string(), "c".to_string()];
        let req = batch_put_message(
            &ep,
            "chan",
            &[(ids[0].clone(), b"{}"), (ids[1].clone(), b"x")],
        )
        .unwrap();
        assert_eq!(
            req.uri(),
            "https://iotanalytics.us-east-1.amazonaws.com/messages/batch"
        );
        let v: serde_json::Value = serde_json::from_slice(req.body()).unwrap();
        assert_eq!(v["channelName"], "chan");
        assert_eq!(v["messages"][1]["payload"], "eA==");
        let body = br#"{"batchPutMessageErrorEntries":[{"messageId":"b","errorCode":"InvalidRequestException","errorMessage":"bad"},{"messageId":"c","errorCode":"ThrottlingException","errorMessage":"slow"}]}"#;
        let r = parse_batch_put_message(200, None, body, &ids).unwrap();
        assert_eq!(r[0], None);
        assert_eq!(r[1].as_ref().unwrap().code, "InvalidRequestException");
        assert_eq!(
            (
                r[2].as_ref().unwrap().code.as_str(),
                r[2].as_ref().unwrap().message.as_str()
            ),
            ("ThrottlingException", "slow")
        );
        assert_eq!(
            parse_batch_put_message(404, None, b"", &ids)
                .unwrap_err()
                .status,
            404
        );
    }
}
