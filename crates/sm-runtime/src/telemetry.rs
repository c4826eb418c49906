//! Daemon-wide byte counters (the reference's `BytesAppended` and `BytesUploadedTo<X>`
//! telemetry metrics), shown in describe and ready for a metrics endpoint.

use std::sync::atomic::{AtomicU64, Ordering};

use sm_model::{ExportKind, Telemetry};

/// The counters.
#[derive(Debug, Default)]
pub struct Counters {
    appended: AtomicU64,
    uploaded: [AtomicU64; 5],
}

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
    /// Counts appended payload bytes.
    pub fn appended(&self, bytes: u64) {
        self.appended.fetch_add(bytes, Ordering::Relaxed);
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
    }
}
