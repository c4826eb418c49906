//! Request and response messages (`reference.md` §1.5).
//!
//! Requests decode leniently (unknown keys ignored, every field optional so that a missing
//! required field becomes a [`crate::ValidationError`] naming it, not a decode failure).
//! Responses encode with absent optional fields omitted, as the SDKs do.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::definition::MessageStreamDefinition;
use crate::enums::ResponseStatusCode;

/// Op 1: the first frame of every connection.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectRequest {
    /// Request id, echoed.
    #[serde(default)]
    pub request_id: Option<String>,
    /// The client's preferred protocol version.
    #[serde(default)]
    pub protocol_version: Option<String>,
    /// Other versions the client can speak.
    #[serde(default, deserialize_with = "nullable_strings")]
    pub other_supported_protocol_versions: Vec<String>,
    /// SDK version, informational.
    #[serde(default)]
    pub sdk_version: Option<String>,
    /// Authentication token (the component's SVCUID under Greengrass).
    #[serde(default, skip_serializing)]
    pub auth_token: Option<String>,
}

fn nullable_strings<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default())
}

/// Op 2 and op 15: create or update a stream.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamDefinitionRequest {
    /// Request id, echoed.
    #[serde(default)]
    pub request_id: Option<String>,
    /// The full definition.
    #[serde(default)]
    pub definition: Option<MessageStreamDefinition>,
}

/// Ops 3 and 13: delete or describe a stream by name.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NamedRequest {
    /// Request id, echoed.
    #[serde(default)]
    pub request_id: Option<String>,
    /// Stream name.
    #[serde(default)]
    pub name: Option<String>,
}

/// Op 4: append one message.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppendMessageRequest {
    /// Request id, echoed.
    #[serde(default)]
    pub request_id: Option<String>,
    /// Stream name.
    #[serde(default)]
    pub name: Option<String>,
    /// The message (at least one byte); shares the received frame's buffer.
    #[serde(default, with = "opt_bytes")]
    pub payload: Option<Bytes>,
}

mod opt_bytes {
    use bytes::Bytes;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(v: &Option<Bytes>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(b) => s.serialize_bytes(b),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Bytes>, D::Error> {
        Ok(Option::<serde_bytes::ByteBuf>::deserialize(d)?.map(|b| Bytes::from(b.into_vec())))
    }
}

/// Options of a read (`reference.md` §1.9).
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadMessagesOptions {
    /// First sequence number wanted (default 0; clamped to the oldest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_start_sequence_number: Option<i64>,
    /// Fewest messages to return (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_message_count: Option<i64>,
    /// Most messages to return (default: the minimum).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_message_count: Option<i64>,
    /// How long to wait for `minMessageCount` messages (default 0: do not wait).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_timeout_millis: Option<i64>,
}

/// What validated read options ask, their defaults applied: start, fewest and most messages,
/// and the longest wait in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadAsk {
    /// First sequence number wanted (to be clamped to the oldest).
    pub start: u64,
    /// Fewest messages to return (at least 1).
    pub min: u64,
    /// Most messages to return (at least `min`).
    pub max: u64,
    /// How long to wait for `min` messages, ms.
    pub wait_ms: u64,
}

impl ReadMessagesOptions {
    /// The options' meaning, defaults applied (call after `validate::read_options`).
    pub fn ask(&self) -> ReadAsk {
        let min = self.min_message_count.unwrap_or(1).max(1) as u64;
        ReadAsk {
            start: self.desired_start_sequence_number.unwrap_or(0).max(0) as u64,
            min,
            max: self
                .max_message_count
                .map_or(min, |m| (m.max(1) as u64).max(min)),
            wait_ms: self.read_timeout_millis.unwrap_or(0).max(0) as u64,
        }
    }
}

/// Op 5: read messages.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadMessagesRequest {
    /// Request id, echoed.
    #[serde(default)]
    pub request_id: Option<String>,
    /// Stream name.
    #[serde(default)]
    pub stream_name: Option<String>,
    /// Options; absent means all defaults.
    #[serde(default)]
    pub read_messages_options: Option<ReadMessagesOptions>,
}

/// Op 11: list streams.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListStreamsRequest {
    /// Request id, echoed.
    #[serde(default)]
    pub request_id: Option<String>,
}

/// Op 6: the answer to Connect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectResponse {
    /// Echoed request id.
    pub request_id: Option<String>,
    /// Status.
    pub status: ResponseStatusCode,
    /// Why the connect failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// The chosen protocol version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol_version: Option<String>,
    /// Every protocol version the server speaks.
    #[serde(default)]
    pub supported_protocol_versions: Vec<String>,
    /// Server version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_version: Option<String>,
    /// Identifier assigned to this connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_identifier: Option<String>,
}

/// Ops 7, 8, 16 and 17: a response that carries only a status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusResponse {
    /// Echoed request id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Status.
    pub status: ResponseStatusCode,
    /// What went wrong.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

/// Op 9: the answer to an append.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppendMessageResponse {
    /// Echoed request id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Status.
    pub status: ResponseStatusCode,
    /// What went wrong.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// Sequence number of the appended message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sequence_number: Option<i64>,
}

/// One message in a read response.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageRef<'a> {
    /// Stream name.
    pub stream_name: &'a str,
    /// Sequence number.
    pub sequence_number: i64,
    /// Time of the append, ms since the epoch.
    pub ingest_time: i64,
    /// The payload, as a CBOR byte string.
    #[serde(with = "serde_bytes")]
    pub payload: &'a [u8],
}

/// One message as a client receives it: the owned, decodable counterpart of [`MessageRef`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    /// Stream name.
    #[serde(default)]
    pub stream_name: String,
    /// Sequence number.
    #[serde(default)]
    pub sequence_number: i64,
    /// Time of the append, ms since the epoch.
    #[serde(default)]
    pub ingest_time: i64,
    /// The payload, as a CBOR byte string.
    #[serde(default, with = "serde_bytes")]
    pub payload: Vec<u8>,
}

/// Op 10: the answer to a read.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadMessagesResponse<'a> {
    /// Echoed request id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Status.
    pub status: ResponseStatusCode,
    /// What went wrong.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// The messages, in sequence order.
    pub messages: Vec<MessageRef<'a>>,
}

/// Op 12: the answer to ListStreams.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListStreamsResponse {
    /// Echoed request id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Status.
    pub status: ResponseStatusCode,
    /// What went wrong.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// Stream names.
    pub streams: Vec<String>,
}

/// Storage figures of a stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StorageStatus {
    /// First message still available (on an empty stream: the next sequence number).
    pub oldest_sequence_number: i64,
    /// Last appended message (on an empty stream: oldest − 1).
    pub newest_sequence_number: i64,
    /// Bytes the stream occupies.
    pub total_bytes: i64,
    /// Stored messages found damaged (failed their CRC) and skipped by reads. An extension
    /// of this server: sent only when non-zero, and ignored by the SDKs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corrupt_records: Option<i64>,
}

/// Progress of one export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportStatus {
    /// The export's identifier.
    pub export_config_identifier: String,
    /// Last message exported (−1 before the first).
    pub last_exported_sequence_number: i64,
    /// Time of the last export attempt, ms since the epoch (0 before the first).
    pub last_export_time: i64,
    /// Error of the last attempt, if it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// Bytes exported.
    pub exported_bytes_from_stream: i64,
    /// Messages exported or processed.
    pub exported_messages_count: i64,
    /// Messages skipped (non-retryable errors, or removed by retention before export).
    /// Not in the SDKs' model: they ignore it; raw clients and operators can read it.
    #[serde(default)]
    pub skipped_messages_count: i64,
    /// Of the skipped messages, those removed by retention before they were exported. An
    /// extension of this server: sent only when non-zero.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub evicted_messages_count: i64,
    /// Failed export attempts since the daemon started (calls that failed in whole or in part
    /// and are retried; batches that could not be read). An extension: sent only when non-zero.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub failed_attempts_count: i64,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

/// Everything describe says about a stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageStreamInfo {
    /// The definition with defaults filled.
    pub definition: MessageStreamDefinition,
    /// Storage figures.
    pub storage_status: StorageStatus,
    /// One entry per export configuration.
    pub export_statuses: Vec<ExportStatus>,
    /// The daemon's telemetry counters (not in the SDKs' model: they ignore it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telemetry: Option<Telemetry>,
}

/// Daemon-wide byte counters, named after the reference's telemetry metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Telemetry {
    /// Payload bytes appended to all streams since start.
    pub bytes_appended: i64,
    /// Payload bytes delivered to Kinesis since start.
    pub bytes_uploaded_to_kinesis: i64,
    /// Payload bytes delivered to IoT SiteWise since start.
    pub bytes_uploaded_to_iot_sitewise: i64,
    /// Payload bytes delivered to IoT Analytics since start.
    pub bytes_uploaded_to_iot_analytics: i64,
    /// Bytes delivered to S3 since start.
    pub bytes_uploaded_to_s3: i64,
    /// Payload bytes delivered to HTTP endpoints since start.
    pub bytes_uploaded_to_http: i64,
}

/// Op 14: the answer to DescribeMessageStream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeMessageStreamResponse {
    /// Echoed request id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Status.
    pub status: ResponseStatusCode,
    /// What went wrong.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// The stream.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_stream_info: Option<MessageStreamInfo>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_options_mean_their_defaults() {
        let ask = ReadMessagesOptions::default().ask();
        let want = ReadAsk {
            start: 0,
            min: 1,
            max: 1,
            wait_ms: 0,
        };
        assert_eq!(ask, want, "one message from 0, no wait");
        let o = ReadMessagesOptions {
            desired_start_sequence_number: Some(5),
            min_message_count: Some(3),
            max_message_count: None,
            read_timeout_millis: Some(250),
        };
        let want = ReadAsk {
            start: 5,
            min: 3,
            max: 3,
            wait_ms: 250,
        };
        assert_eq!(o.ask(), want, "max defaults to min");
        let o = ReadMessagesOptions {
            max_message_count: Some(10),
            ..o
        };
        assert_eq!(o.ask().max, 10);
    }

    #[test]
    fn message_ref_decodes_as_message() {
        let sent = MessageRef {
            stream_name: "s",
            sequence_number: 7,
            ingest_time: 1_700_000_000_000,
            payload: b"abc",
        };
        let json = serde_json::to_vec(&sent).unwrap();
        let got: Message = serde_json::from_slice(&json).unwrap();
        assert_eq!(
            got,
            Message {
                stream_name: "s".into(),
                sequence_number: 7,
                ingest_time: 1_700_000_000_000,
                payload: b"abc".to_vec(),
            }
        );
    }
}
