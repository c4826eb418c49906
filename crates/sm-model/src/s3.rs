//! S3 export tasks: the JSON `S3ExportTaskDefinition` a client appends to an S3-exporting
//! stream, and the JSON `StatusMessage` the daemon writes to the status stream (enums as
//! integers, as the SDKs' `Util.deserialize_json_bytes_to_obj` expects).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_repr::{Deserialize_repr, Serialize_repr};

use crate::enums::StatusLevel;
use crate::validate::ValidationError;

/// One upload task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct S3ExportTaskDefinition {
    /// `file:` URL of the local file.
    pub input_url: String,
    /// Target bucket.
    pub bucket: String,
    /// Target key; may contain `!{timestamp:PATTERN}` placeholders.
    pub key: String,
    /// User metadata, sent as `x-amz-meta-*` headers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_metadata: Option<BTreeMap<String, String>>,
}

/// Status of a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize_repr, Deserialize_repr)]
#[repr(u8)]
pub enum Status {
    /// Uploaded.
    Success = 0,
    /// Failed for good.
    Failure = 1,
    /// Started.
    InProgress = 2,
    /// Something went wrong that did not fail the task (e.g. a failed abort).
    Warning = 3,
    /// The stream or export went away, or the task outlived the stream's TTL.
    Canceled = 4,
}

/// What the status is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize_repr, Deserialize_repr)]
#[repr(u8)]
pub enum EventType {
    /// An S3 export task.
    S3Task = 0,
}

/// Which task a status message is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusContext {
    /// The task.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s3_export_task_definition: Option<S3ExportTaskDefinition>,
    /// The export's identifier.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub export_identifier: Option<String>,
    /// The stream the task was appended to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_name: Option<String>,
    /// The task message's sequence number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sequence_number: Option<i64>,
}

/// One status message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusMessage {
    /// Always S3Task.
    pub event_type: EventType,
    /// The level of this message.
    pub status_level: StatusLevel,
    /// The status.
    pub status: Status,
    /// Which task.
    pub status_context: StatusContext,
    /// What happened.
    pub message: String,
    /// When, ms since the epoch.
    pub timestamp_epoch_ms: i64,
}

impl Status {
    /// The level a status is written at: Failure and Canceled are errors, Warning a warning,
    /// the rest information.
    pub fn level(self) -> StatusLevel {
        match self {
            Self::Failure | Self::Canceled => StatusLevel::Error,
            Self::Warning => StatusLevel::Warn,
            Self::Success | Self::InProgress => StatusLevel::Info,
        }
    }
}

/// Whether a message at `level` passes a stream configured for `configured` (ERROR=0 …
/// TRACE=4: lower is more severe).
pub fn level_passes(level: StatusLevel, configured: StatusLevel) -> bool {
    (level as u8) <= (configured as u8)
}

fn bucket_ok(b: &str) -> bool {
    let n = b.len();
    if !(3..=63).contains(&n) {
        return false;
    }
    // Not an IP address.
    if b.split('.')
        .all(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()))
    {
        return false;
    }
    b.split('.').all(|label| {
        !label.is_empty()
            && label
                .bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    })
}

/// Decodes and checks a task message (bucket pattern, key length; key characters and
/// placeholders are checked when the key is resolved).
pub fn parse_task(payload: &[u8]) -> Result<S3ExportTaskDefinition, ValidationError> {
    let t: S3ExportTaskDefinition = serde_json::from_slice(payload)
        .map_err(|e| ValidationError::new(format!("not a JSON S3ExportTaskDefinition: {e}")))?;
    if t.input_url.is_empty() {
        return Err(ValidationError::new("inputUrl must not be empty"));
    }
    if !bucket_ok(&t.bucket) {
        return Err(ValidationError::new(format!(
            "bucket {:?} is not a valid S3 bucket name",
            t.bucket
        )));
    }
    let n = t.key.chars().count();
    if !(1..=1024).contains(&n) {
        return Err(ValidationError::new(format!(
            "key must be 1..=1024 characters, got {n}"
        )));
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_and_status_json() {
        let t = parse_task(br#"{"inputUrl":"file:/tmp/x","bucket":"my-bucket.1","key":"a/!{timestamp:yyyy}/b","userMetadata":{"k":"v"}}"#).unwrap();
        assert_eq!(t.user_metadata.as_ref().unwrap()["k"], "v");
        for bad in [
            r#"{"inputUrl":"file:/x","bucket":"UPPER","key":"k"}"#,
            r#"{"inputUrl":"file:/x","bucket":"192.168.1.1","key":"k"}"#,
            r#"{"inputUrl":"file:/x","bucket":"ok-bucket","key":""}"#,
            r#"{"inputUrl":"","bucket":"ok-bucket","key":"k"}"#,
            r#"{"bucket":"ok-bucket","key":"k"}"#,
        ] {
            assert!(parse_task(bad.as_bytes()).is_err(), "{bad}");
        }
        let m = StatusMessage {
            event_type: EventType::S3Task,
            status_level: StatusLevel::Info,
            status: Status::Success,
            status_context: StatusContext {
                s3_export_task_definition: Some(t),
                export_identifier: Some("e".into()),
                stream_name: Some("s".into()),
                sequence_number: Some(3),
            },
            message: "done".into(),
            timestamp_epoch_ms: 5,
        };
        let v: serde_json::Value = serde_json::to_value(&m).unwrap();
        assert_eq!(v["eventType"], 0);
        assert_eq!(v["status"], 0);
        assert_eq!(v["statusLevel"], 2);
        assert_eq!(
            v["statusContext"]["s3ExportTaskDefinition"]["inputUrl"],
            "file:/tmp/x"
        );
        assert_eq!(v["statusContext"]["sequenceNumber"], 3);
        assert!(level_passes(StatusLevel::Error, StatusLevel::Info));
        assert!(!level_passes(StatusLevel::Info, StatusLevel::Warn));
    }
}
