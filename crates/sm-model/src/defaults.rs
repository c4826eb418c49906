//! The documented server defaults (`reference.md` §2), filled into a definition for describe
//! and for the runtime.

use crate::definition::{ExportDefinition, ExportKind, MessageStreamDefinition};
use crate::enums::{Persistence, StatusLevel, StrategyOnFull};

/// Default `maxSize`: 256 MiB.
pub const MAX_SIZE: i64 = 256 * 1024 * 1024;
/// Default `streamSegmentSize`: 16 MiB.
pub const SEGMENT_SIZE: i64 = 16 * 1024 * 1024;

/// The largest `batchSize` of a destination, which is also its default: the one table that
/// validation ([`crate::validate`]), these defaults and the export engine use. `None` for S3
/// (tasks run one at a time; it has no batch size).
pub const fn max_batch_size(kind: ExportKind) -> Option<i64> {
    match kind {
        // PutRecords takes at most 500 records.
        ExportKind::Kinesis => Some(500),
        // BatchPutMessage takes at most 100 messages.
        ExportKind::IoTAnalytics => Some(100),
        // BatchPutAssetPropertyValue takes at most 10 entries.
        ExportKind::IoTSiteWise => Some(10),
        // The reference server's maximum.
        ExportKind::Http => Some(500),
        ExportKind::S3TaskExecutor => None,
    }
}

/// [`max_batch_size`] of a kind that has one.
const fn batch(kind: ExportKind) -> i64 {
    match max_batch_size(kind) {
        Some(n) => n,
        None => 1,
    }
}
/// Default S3 multipart threshold: 5 MiB.
pub const MULTIPART_THRESHOLD: i64 = 5 * 1024 * 1024;

/// The definition with every documented default filled in. Export lists are always present
/// (empty when unused), as the reference server describes them.
pub fn filled(def: &MessageStreamDefinition) -> MessageStreamDefinition {
    let mut d = def.clone();
    d.max_size.get_or_insert(MAX_SIZE);
    d.stream_segment_size.get_or_insert(SEGMENT_SIZE);
    d.persistence.get_or_insert(Persistence::File);
    d.flush_on_write.get_or_insert(false);
    let e = d
        .export_definition
        .get_or_insert_with(ExportDefinition::default);
    for c in &mut e.kinesis {
        c.batch_size.get_or_insert(batch(ExportKind::Kinesis));
        c.disabled.get_or_insert(false);
    }
    for c in &mut e.iot_analytics {
        c.batch_size.get_or_insert(batch(ExportKind::IoTAnalytics));
        c.disabled.get_or_insert(false);
    }
    for c in &mut e.iot_sitewise {
        c.batch_size.get_or_insert(batch(ExportKind::IoTSiteWise));
        c.disabled.get_or_insert(false);
    }
    for c in &mut e.http {
        c.batch_size.get_or_insert(batch(ExportKind::Http));
        c.disabled.get_or_insert(false);
    }
    for c in &mut e.s3_task_executor {
        c.size_threshold_for_multipart_upload_bytes
            .get_or_insert(MULTIPART_THRESHOLD);
        c.disabled.get_or_insert(false);
        if let Some(s) = &mut c.status_config {
            s.status_level.get_or_insert(StatusLevel::Info);
        }
    }
    d
}

/// The storage settings of a stream, resolved from a validated definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorageSettings {
    /// Maximum stream size in bytes.
    pub max_size: u64,
    /// Segment size in bytes.
    pub segment_size: u64,
    /// Time to live in ms, if any.
    pub ttl_millis: Option<u64>,
    /// Behaviour when full.
    pub strategy: StrategyOnFull,
    /// File or Memory.
    pub persistence: Persistence,
    /// Fsync each append.
    pub flush_on_write: bool,
}

impl StorageSettings {
    /// Resolves the settings of a definition that passed [`crate::validate::definition`]
    /// (negative numbers cannot occur there; they are clamped to the minimum here anyway).
    pub fn of(def: &MessageStreamDefinition) -> Self {
        let pos = |v: i64| u64::try_from(v).unwrap_or(0);
        Self {
            max_size: pos(def.max_size.unwrap_or(MAX_SIZE)).max(1024),
            segment_size: pos(def.stream_segment_size.unwrap_or(SEGMENT_SIZE)).max(1024),
            ttl_millis: def.time_to_live_millis.map(pos),
            strategy: def
                .strategy_on_full
                .unwrap_or(StrategyOnFull::OverwriteOldestData),
            persistence: def.persistence.unwrap_or(Persistence::File),
            flush_on_write: def.flush_on_write.unwrap_or(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KinesisConfig;

    #[test]
    fn fills_documented_defaults() {
        let d = MessageStreamDefinition {
            name: "s".into(),
            strategy_on_full: Some(StrategyOnFull::RejectNewData),
            export_definition: Some(ExportDefinition {
                kinesis: vec![KinesisConfig {
                    identifier: "k".into(),
                    kinesis_stream_name: "ks".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        };
        let f = filled(&d);
        assert_eq!(f.max_size, Some(268_435_456));
        assert_eq!(f.stream_segment_size, Some(16_777_216));
        assert_eq!(f.persistence, Some(Persistence::File));
        assert_eq!(f.flush_on_write, Some(false));
        assert_eq!(f.time_to_live_millis, None);
        assert_eq!(
            f.export_definition.unwrap().kinesis[0].batch_size,
            Some(500)
        );
        let s = StorageSettings::of(&d);
        assert_eq!(s.max_size, 268_435_456);
        assert_eq!(s.strategy, StrategyOnFull::RejectNewData);
    }

    /// Every destination's default batch is its maximum, and validation accepts exactly
    /// 1..=maximum: both read the one table.
    #[test]
    fn batch_defaults_and_validation_follow_the_one_table() {
        use crate::{HttpConfig, IoTAnalyticsConfig, IoTSiteWiseConfig};
        let unset = ExportDefinition {
            kinesis: vec![KinesisConfig {
                identifier: "k".into(),
                kinesis_stream_name: "ks".into(),
                ..Default::default()
            }],
            iot_analytics: vec![IoTAnalyticsConfig {
                identifier: "a".into(),
                iot_channel: "c".into(),
                ..Default::default()
            }],
            iot_sitewise: vec![IoTSiteWiseConfig {
                identifier: "w".into(),
                ..Default::default()
            }],
            http: vec![HttpConfig {
                identifier: "h".into(),
                uri: "http://x".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let d = MessageStreamDefinition {
            name: "s".into(),
            export_definition: Some(unset),
            ..Default::default()
        };
        let e = filled(&d).export_definition.unwrap();
        let table = |k| max_batch_size(k);
        assert_eq!(e.kinesis[0].batch_size, table(ExportKind::Kinesis));
        assert_eq!(
            e.iot_analytics[0].batch_size,
            table(ExportKind::IoTAnalytics)
        );
        assert_eq!(e.iot_sitewise[0].batch_size, table(ExportKind::IoTSiteWise));
        assert_eq!(e.http[0].batch_size, table(ExportKind::Http));
        assert_eq!(table(ExportKind::S3TaskExecutor), None);
        assert!(
            crate::validate::export_definition(&e).is_ok(),
            "the maxima are valid"
        );
        for (i, kind) in ["kinesis", "iotAnalytics", "IotSitewise", "http"]
            .iter()
            .enumerate()
        {
            let mut over = e.clone();
            match i {
                0 => over.kinesis[0].batch_size = Some(501),
                1 => over.iot_analytics[0].batch_size = Some(101),
                2 => over.iot_sitewise[0].batch_size = Some(11),
                _ => over.http[0].batch_size = Some(501),
            }
            let err = crate::validate::export_definition(&over).unwrap_err();
            assert!(
                err.message().contains(&format!("{kind}.batchSize")),
                "{err}"
            );
        }
    }
}
