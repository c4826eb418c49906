//! A [`Snapshot`]: every counter and gauge the endpoints report, taken at one moment by the
//! runtime, and the definitions of lag and stall over it.

/// Everything the endpoint reports, taken at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// When it was taken, ms since the epoch.
    pub now_ms: i64,
    /// An export with a backlog whose cursor has not moved for longer than this is stalled.
    pub stall_after_ms: i64,
    /// Daemon-wide values.
    pub daemon: DaemonMetrics,
    /// One per stream, by name.
    pub streams: Vec<StreamMetrics>,
    /// One per export of every stream.
    pub exports: Vec<ExportMetrics>,
}

/// Daemon-wide values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DaemonMetrics {
    /// Appends acknowledged since the daemon started.
    pub appends: u64,
    /// Their payload bytes.
    pub appended_bytes: u64,
    /// Appends that failed in storage (write or fsync).
    pub append_io_errors: u64,
    /// Bytes delivered per destination kind (label value, bytes).
    pub uploaded_bytes: Vec<(&'static str, u64)>,
    /// Fsyncs the store has run.
    pub fsyncs: u64,
    /// Client connections open.
    pub connections_open: u64,
    /// The last probe write in the store root.
    pub store: StoreProbe,
}

/// The result of the last probe write in the store root.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreProbe {
    /// The probe file could be created, written and removed.
    pub writable: bool,
    /// When the probe ran, ms since the epoch (0 = never).
    pub checked_at_ms: i64,
    /// The OS error when it failed.
    pub error: Option<String>,
}

/// One stream.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamMetrics {
    /// Stream name.
    pub name: String,
    /// Appends acknowledged since the daemon started.
    pub appends: u64,
    /// Their payload bytes.
    pub appended_bytes: u64,
    /// Bytes of the stream's segments (describe's `storageStatus.totalBytes`).
    pub stored_bytes: i64,
    /// Oldest sequence number held.
    pub oldest: i64,
    /// Newest sequence number held (`oldest - 1` when empty, as in describe).
    pub newest: i64,
    /// Damaged records found so far.
    pub corrupt_records: i64,
    /// Group-commit fsyncs of flushOnWrite appends.
    pub fsyncs: u64,
}

/// One export of one stream.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExportMetrics {
    /// Stream name.
    pub stream: String,
    /// Export identifier.
    pub identifier: String,
    /// Destination kind (its wire key: `http`, `kinesis`, …).
    pub kind: &'static str,
    /// Configured `disabled`.
    pub disabled: bool,
    /// Describe's `lastExportedSequenceNumber`.
    pub last_exported: i64,
    /// Messages delivered.
    pub messages: u64,
    /// Bytes delivered.
    pub bytes: u64,
    /// Messages skipped (not retryable, or removed by retention before export).
    pub skipped: u64,
    /// Of them, those removed by retention before export.
    pub evicted: u64,
    /// Failed attempts since the daemon started.
    pub errors: u64,
    /// Repeated sends since the daemon started.
    pub retries: u64,
    /// Messages held by the stream and not exported yet.
    pub lag_messages: u64,
    /// Ingest time of the oldest of them (ms), when it could be read.
    pub oldest_pending_ingest_ms: Option<i64>,
    /// When the cursor last moved (ms).
    pub moved_at_ms: i64,
    /// The last attempt's error.
    pub last_error: Option<String>,
}

impl ExportMetrics {
    /// Age of the oldest message not exported yet, in seconds; 0 when the export has caught
    /// up (or that message could not be read).
    pub fn lag_seconds(&self, now_ms: i64) -> f64 {
        match self.oldest_pending_ingest_ms {
            Some(t) if self.lag_messages > 0 => (now_ms - t).max(0) as f64 / 1000.0,
            _ => 0.0,
        }
    }

    /// How long the export has had a backlog without its cursor moving, in ms: the time since
    /// the later of the last move and the arrival of the oldest pending message. 0 when it has
    /// no backlog or is disabled.
    pub fn stalled_for_ms(&self, now_ms: i64) -> i64 {
        if self.lag_messages == 0 || self.disabled {
            return 0;
        }
        let since = self
            .oldest_pending_ingest_ms
            .map_or(self.moved_at_ms, |t| t.max(self.moved_at_ms));
        (now_ms - since).max(0)
    }

    /// Whether the export has been stalled for longer than `after_ms`.
    pub fn stalled(&self, now_ms: i64, after_ms: i64) -> bool {
        self.stalled_for_ms(now_ms) > after_ms
    }
}

/// Fixtures shared by the tests of the renderings.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;

    pub(crate) fn export(lag: u64) -> ExportMetrics {
        ExportMetrics {
            stream: "s".into(),
            identifier: "e".into(),
            kind: "http",
            last_exported: 9,
            messages: 10,
            bytes: 100,
            lag_messages: lag,
            oldest_pending_ingest_ms: (lag > 0).then_some(50_000),
            moved_at_ms: 40_000,
            ..Default::default()
        }
    }

    pub(crate) fn snapshot() -> Snapshot {
        Snapshot {
            now_ms: 100_000,
            stall_after_ms: 30_000,
            daemon: DaemonMetrics {
                appends: 12,
                appended_bytes: 345,
                uploaded_bytes: vec![("http", 100), ("kinesis", 0)],
                fsyncs: 7,
                connections_open: 2,
                store: StoreProbe {
                    writable: true,
                    checked_at_ms: 99_000,
                    error: None,
                },
                ..Default::default()
            },
            streams: vec![StreamMetrics {
                name: "s".into(),
                appends: 12,
                appended_bytes: 345,
                stored_bytes: 1000,
                oldest: 3,
                newest: 14,
                corrupt_records: 0,
                fsyncs: 4,
            }],
            exports: vec![export(5)],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::export;
    use super::*;

    #[test]
    fn lag_and_stall_definitions() {
        let now = 100_000;
        let caught_up = export(0);
        assert_eq!(caught_up.lag_seconds(now), 0.0);
        assert_eq!(caught_up.stalled_for_ms(now), 0);
        let behind = export(5);
        assert_eq!(behind.lag_seconds(now), 50.0);
        assert_eq!(behind.stalled_for_ms(now), 50_000);
        assert!(behind.stalled(now, 49_999));
        assert!(!behind.stalled(now, 50_000));
        // Moving recently resets the stall clock, not the lag.
        let moving = ExportMetrics {
            moved_at_ms: 95_000,
            ..export(5)
        };
        assert_eq!(moving.lag_seconds(now), 50.0);
        assert_eq!(moving.stalled_for_ms(now), 5_000);
        // A disabled export is never stalled; an unreadable oldest message falls back to the
        // last move.
        let disabled = ExportMetrics {
            disabled: true,
            ..export(5)
        };
        assert_eq!(disabled.stalled_for_ms(now), 0);
        let unreadable = ExportMetrics {
            oldest_pending_ingest_ms: None,
            ..export(5)
        };
        assert_eq!(unreadable.lag_seconds(now), 0.0);
        assert_eq!(unreadable.stalled_for_ms(now), 60_000);
        // A clock that went backwards gives 0, not a negative age.
        assert_eq!(behind.lag_seconds(10_000), 0.0);
        assert_eq!(behind.stalled_for_ms(10_000), 0);
    }
}

impl ExportMetrics {
    /// An export's metrics from what describe says of it (`status`), its progress, and its
    /// stream's `oldest` and `newest` sequence numbers. Pending is what the stream still holds
    /// after the last exported message (older ones are skipped); `ingest_time_at(seq)` gives
    /// the age of the oldest pending one, asked only when something is pending.
    pub fn of(
        stream: &str,
        kind: &'static str,
        disabled: bool,
        status: &sm_model::ExportStatus,
        p: &sm_model::ExportProgress,
        (oldest, newest): (i64, i64),
        ingest_time_at: impl FnOnce(u64) -> Option<i64>,
    ) -> Self {
        let first_pending = (status.last_exported_sequence_number + 1).max(oldest);
        let lag_messages = (newest + 1 - first_pending).max(0) as u64;
        Self {
            stream: stream.to_owned(),
            identifier: status.export_config_identifier.clone(),
            kind,
            disabled,
            last_exported: status.last_exported_sequence_number,
            messages: p.exported_messages,
            bytes: p.exported_bytes,
            skipped: p.skipped_messages,
            evicted: p.evicted_messages,
            errors: p.errors,
            retries: p.retries,
            lag_messages,
            oldest_pending_ingest_ms: (lag_messages > 0)
                .then(|| ingest_time_at(first_pending as u64))
                .flatten(),
            moved_at_ms: p.moved_at,
            last_error: status.error_message.clone(),
        }
    }
}

#[cfg(test)]
mod lag_tests {
    use super::*;

    #[test]
    fn lag_is_what_the_stream_holds_after_the_last_exported() {
        let status = sm_model::ExportStatus {
            export_config_identifier: "x".into(),
            last_exported_sequence_number: 4,
            last_export_time: 0,
            error_message: Some("HTTP 503".into()),
            exported_bytes_from_stream: 0,
            exported_messages_count: 5,
            skipped_messages_count: 0,
            evicted_messages_count: 0,
            failed_attempts_count: 2,
        };
        let mut p = sm_model::ExportProgress::new("x", 0);
        (p.exported_messages, p.errors, p.evicted_messages) = (5, 2, 1);
        let m = ExportMetrics::of("s", "http", false, &status, &p, (0, 9), |seq| {
            assert_eq!(seq, 5);
            Some(1_000)
        });
        assert_eq!(
            (m.lag_messages, m.oldest_pending_ingest_ms),
            (5, Some(1_000))
        );
        assert_eq!((m.messages, m.errors, m.evicted), (5, 2, 1));
        assert_eq!(m.last_error.as_deref(), Some("HTTP 503"));
        // Retention took what was pending: only what is held counts, from the oldest.
        let m = ExportMetrics::of("s", "http", false, &status, &p, (8, 9), |seq| {
            assert_eq!(seq, 8);
            None
        });
        assert_eq!(m.lag_messages, 2);
        // Caught up: the ingest time is not asked.
        let m = ExportMetrics::of("s", "http", false, &status, &p, (0, 4), |_| panic!("asked"));
        assert_eq!((m.lag_messages, m.oldest_pending_ingest_ms), (0, None));
    }
}
