//! Daemon-wide counters: the reference's `BytesAppended` and `BytesUploadedTo<X>` telemetry
//! metrics (shown in describe), the number of appends and of appends that failed in storage,
//! all read by the metrics endpoint ([`crate::metrics`]). Relaxed atomics: one add per append.

use std::sync::atomic::{AtomicU64, Ordering};

use sm_model::{ExportKind, Telemetry};

/// The counters.
#[derive(Debug, Default)]
pub struct Counters {
    appends: AtomicU64,
    appended: AtomicU64,
    append_io_errors: AtomicU64,
    uploaded: [AtomicU64; 5],
}

/// Every destination kind, in the order of the counters.
pub const KINDS: [ExportKind; 5] = [
    ExportKind::Kinesis,
    ExportKind::IoTSiteWise,
    ExportKind::IoTAnalytics,
    ExportKind::S3TaskExecutor,
    ExportKind::Http,
];

fn slot(kind: ExportKind) -> usize {
    match kind {
        ExportKind::Kinesis => 0,
        ExportKind::IoTSiteWise => 1,
        ExportKind::IoTAnalytics => 2,
        ExportKind::S3TaskExecutor => 3,
        ExportKind::Http => 4,
    }
}

impl Counters {
    /// Counts one acknowledged append of `bytes` payload bytes.
    pub fn appended(&self, bytes: u64) {
        self.appends.fetch_add(1, Ordering::Relaxed);
        self.appended.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Counts an append that failed in storage (a write or an fsync).
    pub fn append_io_error(&self) {
        self.append_io_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Appends acknowledged, and their payload bytes.
    pub fn appends(&self) -> (u64, u64) {
        (
            self.appends.load(Ordering::Relaxed),
            self.appended.load(Ordering::Relaxed),
        )
    }

    /// Appends that failed in storage.
    pub fn append_io_errors(&self) -> u64 {
        self.append_io_errors.load(Ordering::Relaxed)
    }

    /// Bytes delivered to each destination kind.
    pub fn uploaded_by_kind(&self) -> [(ExportKind, u64); 5] {
        KINDS.map(|k| (k, self.uploaded[slot(k)].load(Ordering::Relaxed)))
    }

    /// Counts bytes delivered to a destination.
    pub fn uploaded(&self, kind: ExportKind, bytes: u64) {
        self.uploaded[slot(kind)].fetch_add(bytes, Ordering::Relaxed);
    }

    /// The current values.
    pub fn snapshot(&self) -> Telemetry {
        let get = |a: &AtomicU64| i64::try_from(a.load(Ordering::Relaxed)).unwrap_or(i64::MAX);
        Telemetry {
            bytes_appended: get(&self.appended),
            bytes_uploaded_to_kinesis: get(&self.uploaded[0]),
            bytes_uploaded_to_iot_sitewise: get(&self.uploaded[1]),
            bytes_uploaded_to_iot_analytics: get(&self.uploaded[2]),
            bytes_uploaded_to_s3: get(&self.uploaded[3]),
            bytes_uploaded_to_http: get(&self.uploaded[4]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_destination() {
        let c = Counters::default();
        c.appended(10);
        c.uploaded(ExportKind::Kinesis, 3);
        c.uploaded(ExportKind::Http, 4);
        c.uploaded(ExportKind::Kinesis, 5);
        let s = c.snapshot();
        assert_eq!(
            (
                s.bytes_appended,
                s.bytes_uploaded_to_kinesis,
                s.bytes_uploaded_to_http
            ),
            (10, 8, 4)
        );
        assert_eq!(s.bytes_uploaded_to_s3, 0);
        assert_eq!(c.appends(), (1, 10));
        let by_kind = c.uploaded_by_kind();
        assert!(by_kind.contains(&(ExportKind::Kinesis, 8)));
        assert!(by_kind.contains(&(ExportKind::Http, 4)));
        assert!(by_kind.contains(&(ExportKind::S3TaskExecutor, 0)));
    }
}
