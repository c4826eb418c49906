//! What the stream manager component tells the nucleus and remembers from it, sans-IO: the
//! telemetry metrics it reports (names and unit of the Greengrass telemetry documentation,
//! deltas since the last acknowledged report) and the cache of tokens the nucleus validated.
//! Time comes in as an argument (`now`).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use sm_model::Telemetry;

use crate::{Metric, MetricUnit};

/// How long a positive validation is trusted.
pub const CACHE_TTL: Duration = Duration::from_secs(60);
/// Most tokens cached at once.
pub const CACHE_MAX: usize = 1024;

/// Positive validations, by token, until they expire. Bounded: when full, expired entries
/// go, and if none has, everything does (the next connections ask the nucleus again). No
/// `Debug`: it holds tokens.
#[derive(Default)]
pub struct ValidationCache {
    valid_until: HashMap<String, Instant>,
}

impl ValidationCache {
    /// Whether `token` was validated less than [`CACHE_TTL`] before `now` (an expired entry
    /// is dropped).
    pub fn hit(&mut self, token: &str, now: Instant) -> bool {
        match self.valid_until.get(token) {
            Some(until) if *until > now => true,
            Some(_) => {
                self.valid_until.remove(token);
                false
            }
            None => false,
        }
    }

    /// Remembers `token` as valid from `now`.
    pub fn insert(&mut self, token: &str, now: Instant) {
        if self.valid_until.len() >= CACHE_MAX && !self.valid_until.contains_key(token) {
            self.valid_until.retain(|_, until| *until > now);
            if self.valid_until.len() >= CACHE_MAX {
                self.valid_until.clear();
            }
        }
        self.valid_until.insert(token.to_owned(), now + CACHE_TTL);
    }
}

/// The metric names of the reference (Greengrass telemetry documentation), with the counters.
pub fn metrics(delta: &Telemetry) -> Vec<Metric> {
    let m = |name: &str, value: i64| Metric {
        name: name.to_owned(),
        unit: MetricUnit::Bytes,
        value: value.max(0) as f64,
    };
    vec![
        m("BytesAppended", delta.bytes_appended),
        m(
            "BytesUploadedToIoTAnalytics",
            delta.bytes_uploaded_to_iot_analytics,
        ),
        m("BytesUploadedToKinesis", delta.bytes_uploaded_to_kinesis),
        m(
            "BytesUploadedToIoTSiteWise",
            delta.bytes_uploaded_to_iot_sitewise,
        ),
        m("BytesUploadedToS3", delta.bytes_uploaded_to_s3),
    ]
}

/// `now - base`, per counter: what a report sends (the nucleus sums what it receives).
pub fn telemetry_delta(now: &Telemetry, base: &Telemetry) -> Telemetry {
    Telemetry {
        bytes_appended: now.bytes_appended - base.bytes_appended,
        bytes_uploaded_to_kinesis: now.bytes_uploaded_to_kinesis - base.bytes_uploaded_to_kinesis,
        bytes_uploaded_to_iot_sitewise: now.bytes_uploaded_to_iot_sitewise
            - base.bytes_uploaded_to_iot_sitewise,
        bytes_uploaded_to_iot_analytics: now.bytes_uploaded_to_iot_analytics
            - base.bytes_uploaded_to_iot_analytics,
        bytes_uploaded_to_s3: now.bytes_uploaded_to_s3 - base.bytes_uploaded_to_s3,
        bytes_uploaded_to_http: now.bytes_uploaded_to_http - base.bytes_uploaded_to_http,
    }
}

/// Whether a report of `d` would say nothing (every metric 0: not worth sending).
pub fn is_zero(d: &Telemetry) -> bool {
    metrics(d).iter().all(|m| m.value == 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_expires_and_stays_bounded() {
        #[allow(clippy::disallowed_methods)] // any instant will do as the start
        let t0 = Instant::now();
        let mut c = ValidationCache::default();
        assert!(!c.hit("a", t0));
        c.insert("a", t0);
        assert!(c.hit("a", t0 + Duration::from_secs(59)));
        assert!(!c.hit("a", t0 + CACHE_TTL));
        assert!(c.valid_until.is_empty(), "an expired entry is dropped");
        for i in 0..CACHE_MAX {
            c.insert(&format!("t{i}"), t0);
        }
        assert_eq!(c.valid_until.len(), CACHE_MAX);
        // Full of live entries: the next insert starts over.
        c.insert("new", t0);
        assert_eq!(c.valid_until.len(), 1);
        assert!(c.hit("new", t0));
        // Full with expired entries: only those go.
        for i in 0..CACHE_MAX - 1 {
            c.insert(&format!("old{i}"), t0);
        }
        let later = t0 + CACHE_TTL + Duration::from_secs(1);
        c.insert("fresh", later);
        c.insert("fresh2", later);
        assert!(c.hit("fresh", later) && c.hit("fresh2", later));
        assert_eq!(c.valid_until.len(), 2);
    }
}
