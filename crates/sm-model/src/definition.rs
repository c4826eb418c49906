//! `MessageStreamDefinition` and the export configurations it carries.

use serde::{Deserialize, Serialize};

use crate::enums::{ExportFormat, Persistence, StatusLevel, StrategyOnFull};

/// The definition of a stream, as created, updated, described and persisted.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageStreamDefinition {
    /// Stream name: 1..=255 characters of `^[\w ,.\-_]*$`.
    #[serde(default)]
    pub name: String,
    /// Maximum size of the stream in bytes (default 256 MiB, minimum 1024).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_size: Option<i64>,
    /// Segment size in bytes (default 16 MiB, minimum 1024): the unit of deletion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_segment_size: Option<i64>,
    /// Minimum time data is kept, in ms (no TTL by default, minimum 60000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_to_live_millis: Option<i64>,
    /// Required: what to do when the stream is full.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy_on_full: Option<StrategyOnFull>,
    /// File (default) or Memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistence: Option<Persistence>,
    /// Fsync each append before acknowledging it (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flush_on_write: Option<bool>,
    /// Export configurations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export_definition: Option<ExportDefinition>,
}

/// All export configurations of a stream; every list may be absent (same as empty).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ExportDefinition {
    /// HTTP destinations (test only).
    #[serde(default, deserialize_with = "nullable_list")]
    pub http: Vec<HttpConfig>,
    /// IoT Analytics destinations.
    #[serde(rename = "iotAnalytics", default, deserialize_with = "nullable_list")]
    pub iot_analytics: Vec<IoTAnalyticsConfig>,
    /// Kinesis Data Streams destinations.
    #[serde(default, deserialize_with = "nullable_list")]
    pub kinesis: Vec<KinesisConfig>,
    /// IoT SiteWise destinations. The wire key is `IotSitewise` (capital I).
    #[serde(rename = "IotSitewise", default, deserialize_with = "nullable_list")]
    pub iot_sitewise: Vec<IoTSiteWiseConfig>,
    /// S3 export task executors.
    #[serde(rename = "s3TaskExecutor", default, deserialize_with = "nullable_list")]
    pub s3_task_executor: Vec<S3ExportTaskExecutorConfig>,
}

/// A list that may also arrive as `null`.
fn nullable_list<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// Export to a Kinesis data stream.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KinesisConfig {
    /// Unique identifier of this export within the stream.
    #[serde(default)]
    pub identifier: String,
    /// Target Kinesis stream.
    #[serde(default)]
    pub kinesis_stream_name: String,
    /// Messages per batch, 1..=500 (default 500).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<i64>,
    /// Maximum wait for a batch, ms (≥ 60000; unset = immediately).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_interval_millis: Option<i64>,
    /// 1 (highest) ..= 10; unset = lowest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i64>,
    /// First sequence number to export.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_sequence_number: Option<i64>,
    /// Pause the export.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
}

/// Export to an IoT Analytics channel.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IoTAnalyticsConfig {
    /// Unique identifier of this export within the stream.
    #[serde(default)]
    pub identifier: String,
    /// Target channel.
    #[serde(default)]
    pub iot_channel: String,
    /// Message id prefix, at most 32 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iot_msg_id_prefix: Option<String>,
    /// Messages per batch, 1..=100 (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<i64>,
    /// Maximum wait for a batch, ms (≥ 60000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_interval_millis: Option<i64>,
    /// 1 (highest) ..= 10; unset = lowest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i64>,
    /// First sequence number to export.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_sequence_number: Option<i64>,
    /// Pause the export.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
}

/// Export JSON asset property values to IoT SiteWise.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IoTSiteWiseConfig {
    /// Unique identifier of this export within the stream.
    #[serde(default)]
    pub identifier: String,
    /// Entries per batch, 1..=10 (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<i64>,
    /// Maximum wait for a batch, ms (≥ 60000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_interval_millis: Option<i64>,
    /// 1 (highest) ..= 10; unset = lowest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i64>,
    /// First sequence number to export.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_sequence_number: Option<i64>,
    /// Pause the export.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
}

/// Export to an HTTP endpoint (test only, as in the reference).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpConfig {
    /// Unique identifier of this export within the stream.
    #[serde(default)]
    pub identifier: String,
    /// Target URI.
    #[serde(default)]
    pub uri: String,
    /// Messages per batch, 1..=500 (default 500).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<i64>,
    /// Maximum wait for a batch, ms (≥ 60000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_interval_millis: Option<i64>,
    /// 1 (highest) ..= 10; unset = lowest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i64>,
    /// First sequence number to export.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_sequence_number: Option<i64>,
    /// Pause the export.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    /// Body format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export_format: Option<ExportFormat>,
}

/// Run S3 export tasks (JSON `S3ExportTaskDefinition` messages).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct S3ExportTaskExecutorConfig {
    /// Unique identifier of this export within the stream.
    #[serde(default)]
    pub identifier: String,
    /// Files larger than this use multipart upload (≥ 5 MiB, default 5 MiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_threshold_for_multipart_upload_bytes: Option<i64>,
    /// 1 (highest) ..= 10; unset = lowest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i64>,
    /// Pause the export.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    /// Where task status messages go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_config: Option<StatusConfig>,
}

/// Status stream configuration of an S3 export.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusConfig {
    /// Verbosity (default INFO).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_level: Option<StatusLevel>,
    /// Name of the status stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_stream_name: Option<String>,
}

/// The destination kind of an export configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportKind {
    /// HTTP.
    Http,
    /// IoT Analytics.
    IoTAnalytics,
    /// Kinesis Data Streams.
    Kinesis,
    /// IoT SiteWise.
    IoTSiteWise,
    /// S3 export tasks.
    S3TaskExecutor,
}

impl ExportKind {
    /// The wire key of this destination's list.
    pub fn wire_key(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::IoTAnalytics => "iotAnalytics",
            Self::Kinesis => "kinesis",
            Self::IoTSiteWise => "IotSitewise",
            Self::S3TaskExecutor => "s3TaskExecutor",
        }
    }
}

/// The common view of one export configuration, whatever its destination.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportSummary<'a> {
    /// Destination kind.
    pub kind: ExportKind,
    /// Identifier, unique within the stream.
    pub identifier: &'a str,
    /// `startSequenceNumber`, if the destination has one and it is set.
    pub start_sequence_number: Option<i64>,
    /// `disabled` (unset = enabled).
    pub disabled: bool,
}

impl ExportDefinition {
    /// Every export configuration, in wire order.
    pub fn summaries(&self) -> Vec<ExportSummary<'_>> {
        let mut out = Vec::new();
        out.extend(self.http.iter().map(|c| ExportSummary {
            kind: ExportKind::Http,
            identifier: &c.identifier,
            start_sequence_number: c.start_sequence_number,
            disabled: c.disabled.unwrap_or(false),
        }));
        out.extend(self.iot_analytics.iter().map(|c| ExportSummary {
            kind: ExportKind::IoTAnalytics,
            identifier: &c.identifier,
            start_sequence_number: c.start_sequence_number,
            disabled: c.disabled.unwrap_or(false),
        }));
        out.extend(self.kinesis.iter().map(|c| ExportSummary {
            kind: ExportKind::Kinesis,
            identifier: &c.identifier,
            start_sequence_number: c.start_sequence_number,
            disabled: c.disabled.unwrap_or(false),
        }));
        out.extend(self.iot_sitewise.iter().map(|c| ExportSummary {
            kind: ExportKind::IoTSiteWise,
            identifier: &c.identifier,
            start_sequence_number: c.start_sequence_number,
            disabled: c.disabled.unwrap_or(false),
        }));
        out.extend(self.s3_task_executor.iter().map(|c| ExportSummary {
            kind: ExportKind::S3TaskExecutor,
            identifier: &c.identifier,
            start_sequence_number: None,
            disabled: c.disabled.unwrap_or(false),
        }));
        out
    }
}

impl MessageStreamDefinition {
    /// Every export configuration of the stream (empty when there is no export definition).
    pub fn exports(&self) -> Vec<ExportSummary<'_>> {
        self.export_definition
            .as_ref()
            .map(ExportDefinition::summaries)
            .unwrap_or_default()
    }
}
