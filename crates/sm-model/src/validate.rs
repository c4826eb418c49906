//! Server-side validation with the SDK's exact limits (`reference.md` Appendix A).
//!
//! Every check returns a [`ValidationError`] whose message names the offending field with its
//! wire key, the limit and the value received, so a client sees why it was refused.

use std::collections::HashSet;
use std::fmt;

use crate::defaults::max_batch_size;
use crate::definition::{ExportDefinition, ExportKind, MessageStreamDefinition, StatusConfig};
use crate::messages::ReadMessagesOptions;

/// A request that breaks one of the protocol's rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    message: String,
}

impl ValidationError {
    /// A validation error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    /// The message, suitable for a response's `errorMessage`.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ValidationError {}

type Result<T = ()> = std::result::Result<T, ValidationError>;

/// Largest `maxSize`, `startSequenceNumber`, `desiredStartSequenceNumber`.
pub const MAX_LONG: i64 = i64::MAX;
/// Largest `timeToLiveMillis`, `batchIntervalMillis`, `readTimeoutMillis` (fits in ns as i64).
pub const MAX_MILLIS: i64 = 9_223_372_036_854;
/// Smallest `maxSize` and `streamSegmentSize`.
pub const MIN_SIZE: i64 = 1024;
/// Largest `streamSegmentSize`.
pub const MAX_SEGMENT_SIZE: i64 = i32::MAX as i64;
/// Smallest `timeToLiveMillis` and `batchIntervalMillis`.
pub const MIN_MILLIS: i64 = 60_000;
/// Smallest S3 multipart threshold (5 MiB).
pub const MIN_MULTIPART_THRESHOLD: i64 = 5 * 1024 * 1024;
/// Largest count in read options.
pub const MAX_COUNT: i64 = i32::MAX as i64;

/// Whether `c` matches Python's Unicode `\w` closely enough: letters, digits, underscore.
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Checks a stream or export name: 1..=255 characters of `^[\w ,.\-_]*$`.
pub fn name(field: &str, value: &str) -> Result {
    let len = value.chars().count();
    if len == 0 {
        return Err(ValidationError::new(format!("{field} must not be empty")));
    }
    if len > 255 {
        return Err(ValidationError::new(format!(
            "{field} must be at most 255 characters, got {len}"
        )));
    }
    if let Some(bad) = value
        .chars()
        .find(|&c| !(is_word_char(c) || matches!(c, ' ' | ',' | '.' | '-')))
    {
        return Err(ValidationError::new(format!(
            "{field} must match ^[\\w ,.\\-_]*$, but contains {bad:?}"
        )));
    }
    Ok(())
}

/// Checks that a required string is present and names it in the error otherwise.
pub fn required<'a>(field: &str, value: Option<&'a str>) -> Result<&'a str> {
    value.ok_or_else(|| ValidationError::new(format!("{field} is required")))
}

/// Checks a request id: present and non-empty. Its pattern is not enforced, so that every
/// SDK's ids (including the Node.js SDK's single space) are accepted and echoed verbatim.
pub fn request_id(value: Option<&str>) -> Result<&str> {
    match value {
        Some(id) if !id.is_empty() => Ok(id),
        Some(_) => Err(ValidationError::new("requestId must not be empty")),
        None => Err(ValidationError::new("requestId is required")),
    }
}

fn range(field: &str, value: Option<i64>, min: i64, max: i64) -> Result {
    match value {
        Some(v) if v < min || v > max => Err(ValidationError::new(format!(
            "{field} must be between {min} and {max}, got {v}"
        ))),
        _ => Ok(()),
    }
}

fn non_empty(field: &str, value: &str) -> Result {
    if value.is_empty() {
        Err(ValidationError::new(format!("{field} must not be empty")))
    } else {
        Ok(())
    }
}

/// Checks a whole stream definition, including its export configurations.
pub fn definition(def: &MessageStreamDefinition) -> Result {
    name("definition.name", &def.name)?;
    range("definition.maxSize", def.max_size, MIN_SIZE, MAX_LONG)?;
    range(
        "definition.streamSegmentSize",
        def.stream_segment_size,
        MIN_SIZE,
        MAX_SEGMENT_SIZE,
    )?;
    range(
        "definition.timeToLiveMillis",
        def.time_to_live_millis,
        MIN_MILLIS,
        MAX_MILLIS,
    )?;
    if def.strategy_on_full.is_none() {
        return Err(ValidationError::new(
            "definition.strategyOnFull is required",
        ));
    }
    if let Some(exports) = &def.export_definition {
        export_definition(exports)?;
    }
    Ok(())
}

struct Common<'a> {
    kind: ExportKind,
    identifier: &'a str,
    batch_size: Option<i64>,
    batch_interval_millis: Option<i64>,
    priority: Option<i64>,
    start_sequence_number: Option<i64>,
}

fn common(c: &Common<'_>) -> Result {
    let k = c.kind.wire_key();
    name(&format!("{k}.identifier"), c.identifier)?;
    let max_batch = max_batch_size(c.kind).unwrap_or(1);
    range(&format!("{k}.batchSize"), c.batch_size, 1, max_batch)?;
    range(
        &format!("{k}.batchIntervalMillis"),
        c.batch_interval_millis,
        MIN_MILLIS,
        MAX_MILLIS,
    )?;
    range(&format!("{k}.priority"), c.priority, 1, 10)?;
    range(
        &format!("{k}.startSequenceNumber"),
        c.start_sequence_number,
        0,
        MAX_LONG,
    )
}

/// Checks every export configuration and that identifiers are unique within the stream.
pub fn export_definition(e: &ExportDefinition) -> Result {
    for c in &e.kinesis {
        common(&Common {
            kind: ExportKind::Kinesis,
            identifier: &c.identifier,
            batch_size: c.batch_size,
            batch_interval_millis: c.batch_interval_millis,
            priority: c.priority,
            start_sequence_number: c.start_sequence_number,
        })?;
        non_empty("kinesis.kinesisStreamName", &c.kinesis_stream_name)?;
    }
    for c in &e.iot_analytics {
        common(&Common {
            kind: ExportKind::IoTAnalytics,
            identifier: &c.identifier,
            batch_size: c.batch_size,
            batch_interval_millis: c.batch_interval_millis,
            priority: c.priority,
            start_sequence_number: c.start_sequence_number,
        })?;
        non_empty("iotAnalytics.iotChannel", &c.iot_channel)?;
        if let Some(p) = &c.iot_msg_id_prefix {
            let n = p.chars().count();
            if n > 32 {
                return Err(ValidationError::new(format!(
                    "iotAnalytics.iotMsgIdPrefix must be at most 32 characters, got {n}"
                )));
            }
        }
    }
    for c in &e.iot_sitewise {
        common(&Common {
            kind: ExportKind::IoTSiteWise,
            identifier: &c.identifier,
            batch_size: c.batch_size,
            batch_interval_millis: c.batch_interval_millis,
            priority: c.priority,
            start_sequence_number: c.start_sequence_number,
        })?;
    }
    for c in &e.http {
        common(&Common {
            kind: ExportKind::Http,
            identifier: &c.identifier,
            batch_size: c.batch_size,
            batch_interval_millis: c.batch_interval_millis,
            priority: c.priority,
            start_sequence_number: c.start_sequence_number,
        })?;
        non_empty("http.uri", &c.uri)?;
    }
    for c in &e.s3_task_executor {
        name("s3TaskExecutor.identifier", &c.identifier)?;
        range(
            "s3TaskExecutor.sizeThresholdForMultipartUploadBytes",
            c.size_threshold_for_multipart_upload_bytes,
            MIN_MULTIPART_THRESHOLD,
            MAX_LONG,
        )?;
        range("s3TaskExecutor.priority", c.priority, 1, 10)?;
        if let Some(s) = &c.status_config {
            status_config(s)?;
        }
    }
    let mut seen = HashSet::new();
    for s in e.summaries() {
        if !seen.insert(s.identifier) {
            return Err(ValidationError::new(format!(
                "export identifier {:?} is used more than once; identifiers must be unique within a stream",
                s.identifier
            )));
        }
    }
    Ok(())
}

fn status_config(s: &StatusConfig) -> Result {
    if let Some(n) = &s.status_stream_name {
        name("s3TaskExecutor.statusConfig.statusStreamName", n)?;
    }
    Ok(())
}

/// Checks read options (ranges, and `minMessageCount <= maxMessageCount` when both are set).
pub fn read_options(o: &ReadMessagesOptions) -> Result {
    range(
        "readMessagesOptions.desiredStartSequenceNumber",
        o.desired_start_sequence_number,
        0,
        MAX_LONG,
    )?;
    range(
        "readMessagesOptions.minMessageCount",
        o.min_message_count,
        1,
        MAX_COUNT,
    )?;
    range(
        "readMessagesOptions.maxMessageCount",
        o.max_message_count,
        1,
        MAX_COUNT,
    )?;
    range(
        "readMessagesOptions.readTimeoutMillis",
        o.read_timeout_millis,
        0,
        MAX_MILLIS,
    )?;
    if let (Some(min), Some(max)) = (o.min_message_count, o.max_message_count) {
        if min > max {
            return Err(ValidationError::new(format!(
                "readMessagesOptions.minMessageCount ({min}) must be less than or equal to maxMessageCount ({max})"
            )));
        }
    }
    Ok(())
}

/// Checks an append's payload: present and at least one byte.
pub fn payload(p: Option<&[u8]>) -> Result<&[u8]> {
    match p {
        Some(p) if !p.is_empty() => Ok(p),
        Some(_) => Err(ValidationError::new(
            "payload must be at least 1 byte; empty messages are not supported",
        )),
        None => Err(ValidationError::new("payload is required")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{KinesisConfig, StrategyOnFull};

    fn def() -> MessageStreamDefinition {
        MessageStreamDefinition {
            name: "s".into(),
            strategy_on_full: Some(StrategyOnFull::OverwriteOldestData),
            ..Default::default()
        }
    }

    #[test]
    fn names() {
        assert!(name("n", "a b,c.d-e_f").is_ok());
        assert!(name("n", ".").is_ok());
        assert!(name("n", "..").is_ok());
        assert!(name("n", "Größe").is_ok());
        assert!(name("n", "").unwrap_err().message().contains("empty"));
        assert!(name("n", &"a".repeat(255)).is_ok());
        assert!(name("n", &"a".repeat(256))
            .unwrap_err()
            .message()
            .contains("255"));
        assert!(name("n", "a/b").unwrap_err().message().contains("'/'"));
        assert!(name("n", "a\0b").is_err());
    }

    #[test]
    fn definition_limits() {
        assert!(definition(&def()).is_ok());
        let mut d = def();
        d.max_size = Some(1023);
        assert!(definition(&d).unwrap_err().message().contains("maxSize"));
        let mut d = def();
        d.stream_segment_size = Some(1 << 31);
        assert!(definition(&d)
            .unwrap_err()
            .message()
            .contains("streamSegmentSize"));
        let mut d = def();
        d.time_to_live_millis = Some(59_999);
        assert!(definition(&d).unwrap_err().message().contains("timeToLive"));
        let mut d = def();
        d.strategy_on_full = None;
        assert!(definition(&d)
            .unwrap_err()
            .message()
            .contains("strategyOnFull"));
    }

    #[test]
    fn export_limits() {
        let k = |f: &dyn Fn(&mut KinesisConfig)| {
            let mut c = KinesisConfig {
                identifier: "k".into(),
                kinesis_stream_name: "ks".into(),
                ..Default::default()
            };
            f(&mut c);
            let mut d = def();
            d.export_definition = Some(ExportDefinition {
                kinesis: vec![c],
                ..Default::default()
            });
            definition(&d)
        };
        assert!(k(&|_| {}).is_ok());
        assert!(k(&|c| c.batch_size = Some(500)).is_ok());
        assert!(k(&|c| c.batch_size = Some(501))
            .unwrap_err()
            .message()
            .contains("batchSize"));
        assert!(k(&|c| c.batch_size = Some(0)).is_err());
        assert!(k(&|c| c.batch_interval_millis = Some(1000)).is_err());
        assert!(k(&|c| c.priority = Some(11))
            .unwrap_err()
            .message()
            .contains("priority"));
        assert!(k(&|c| c.kinesis_stream_name.clear()).is_err());
        assert!(k(&|c| c.identifier = "a/b".into()).is_err());
        let mut d = def();
        let c = KinesisConfig {
            identifier: "dup".into(),
            kinesis_stream_name: "x".into(),
            ..Default::default()
        };
        d.export_definition = Some(ExportDefinition {
            kinesis: vec![c.clone(), c],
            ..Default::default()
        });
        assert!(definition(&d).unwrap_err().message().contains("unique"));
    }

    #[test]
    fn read_option_limits() {
        let o = ReadMessagesOptions {
            min_message_count: Some(5),
            max_message_count: Some(4),
            ..Default::default()
        };
        assert!(read_options(&o).is_err());
        let o = ReadMessagesOptions {
            read_timeout_millis: Some(-1),
            ..Default::default()
        };
        assert!(read_options(&o).is_err());
        assert!(read_options(&ReadMessagesOptions::default()).is_ok());
    }

    #[test]
    fn payloads() {
        assert!(payload(Some(b"")).is_err());
        assert!(payload(None).is_err());
        assert_eq!(payload(Some(b"x")).unwrap(), b"x");
    }
}
