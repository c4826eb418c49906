//! The status page served at `GET /` of the metrics address: what the daemon holds, as a
//! picture, for a person on the device (which may be offline: the page loads nothing else).
//!
//! This crate owns the pure parts:
//!
//! * [`History`]: a ring buffer of daemon-wide counter samples (appends, messages exported)
//!   taken every [`SAMPLE_EVERY_MS`], holding the last hour ([`CAPACITY`] samples, a few
//!   kilobytes whatever the load), turned into rates for the plots;
//! * [`status_json`]: the JSON the page fetches from `GET /status.json` (streams, exports,
//!   lag, errors, the rate history);
//! * [`PAGE`]: the page itself, one HTML file with its CSS and script inline
//!   (`status.html`, included at build time).
//!
//! # How it is driven
//!
//! The runtime samples its counters every [`SAMPLE_EVERY_MS`] and calls [`History::push`]
//! with the time; on `GET /status.json` it fills a [`Status`] from the same snapshot the
//! metrics use and answers [`status_json`]; on `GET /` it answers [`PAGE`]. No clock, no IO
//! here.

use std::collections::VecDeque;

use serde_json::{json, Value};

/// The page (HTML, CSS and script in one file, no external asset).
pub const PAGE: &str = include_str!("status.html");

/// How often the runtime samples the counters for the history.
pub const SAMPLE_EVERY_MS: i64 = 5_000;
/// Samples kept: one hour at [`SAMPLE_EVERY_MS`].
pub const CAPACITY: usize = 720;

/// Daemon-wide counters at one time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// When, in ms since the epoch.
    pub at_ms: i64,
    /// Appends acknowledged since the daemon started.
    pub appends: u64,
    /// Messages delivered by every export (their counts continue from checkpoints).
    pub exported: u64,
}

/// One point of the plots: the rates between two samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RatePoint {
    /// The later sample's time (ms since the epoch).
    pub at_ms: i64,
    /// Appends per second.
    pub appends_per_second: f64,
    /// Messages exported per second.
    pub exported_per_second: f64,
}

/// The last [`CAPACITY`] samples.
#[derive(Debug, Clone)]
pub struct History {
    samples: VecDeque<Sample>,
    capacity: usize,
}

impl Default for History {
    fn default() -> Self {
        Self::with_capacity(CAPACITY)
    }
}

impl History {
    /// A history of at most `capacity` samples (at least 2).
    pub fn with_capacity(capacity: usize) -> Self {
        let capacity = capacity.max(2);
        Self {
            samples: VecDeque::with_capacity(capacity),
            capacity,
        }
    }

    /// Adds a sample, dropping the oldest beyond the capacity. A sample not later than the
    /// last one (a clock step back) replaces nothing and is ignored.
    pub fn push(&mut self, s: Sample) {
        if self.samples.back().is_some_and(|b| s.at_ms <= b.at_ms) {
            return;
        }
        if self.samples.len() == self.capacity {
            self.samples.pop_front();
        }
        self.samples.push_back(s);
    }

    /// Samples held.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// No sample yet.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// The rates between consecutive samples, oldest first. A counter that went down (an
    /// export removed with its count, a stream deleted) counts as no progress, never as a
    /// negative rate.
    pub fn rates(&self) -> Vec<RatePoint> {
        self.samples
            .iter()
            .zip(self.samples.iter().skip(1))
            .map(|(a, b)| {
                let secs = (b.at_ms - a.at_ms) as f64 / 1000.0;
                RatePoint {
                    at_ms: b.at_ms,
                    appends_per_second: b.appends.saturating_sub(a.appends) as f64 / secs,
                    exported_per_second: b.exported.saturating_sub(a.exported) as f64 / secs,
                }
            })
            .collect()
    }
}

/// One stream as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamRow {
    /// Name.
    pub name: String,
    /// Bytes of its segments.
    pub stored_bytes: i64,
    /// Oldest sequence number held.
    pub oldest: i64,
    /// Newest sequence number held (oldest − 1 when empty).
    pub newest: i64,
    /// Appends since the daemon started.
    pub appends: u64,
}

/// One export as the page shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportRow {
    /// Its stream.
    pub stream: String,
    /// Identifier.
    pub identifier: String,
    /// Destination kind (`http`, `kinesis`, …).
    pub kind: String,
    /// Paused.
    pub disabled: bool,
    /// Messages held and not delivered yet.
    pub lag_messages: u64,
    /// Age of the oldest of them, in seconds (0 when caught up).
    pub lag_seconds: f64,
    /// Messages delivered.
    pub messages: u64,
    /// Messages skipped.
    pub skipped: u64,
    /// Failed attempts.
    pub errors: u64,
    /// The last attempt's error.
    pub last_error: Option<String>,
}

/// Everything the page shows besides the history.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    /// When, in ms since the epoch.
    pub now_ms: i64,
    /// The health verdict (`ok`, `degraded`, `unhealthy`), as `/health` answers it.
    pub health: String,
    /// Streams, by name.
    pub streams: Vec<StreamRow>,
    /// Exports, by stream.
    pub exports: Vec<ExportRow>,
}

/// The JSON of `GET /status.json`.
pub fn status_json(s: &Status, history: &History) -> Value {
    let streams: Vec<Value> = s
        .streams
        .iter()
        .map(|r| {
            json!({
                "name": r.name,
                "storedBytes": r.stored_bytes,
                "oldestSequenceNumber": r.oldest,
                "newestSequenceNumber": r.newest,
                "messages": (r.newest - r.oldest + 1).max(0),
                "appends": r.appends,
            })
        })
        .collect();
    let exports: Vec<Value> = s
        .exports
        .iter()
        .map(|e| {
            json!({
                "stream": e.stream,
                "identifier": e.identifier,
                "kind": e.kind,
                "disabled": e.disabled,
                "lagMessages": e.lag_messages,
                "lagSeconds": e.lag_seconds,
                "messages": e.messages,
                "skipped": e.skipped,
                "errors": e.errors,
                "lastError": e.last_error,
            })
        })
        .collect();
    let points: Vec<Value> = history
        .rates()
        .iter()
        .map(|p| json!([p.at_ms, p.appends_per_second, p.exported_per_second]))
        .collect();
    json!({
        "nowMs": s.now_ms,
        "health": s.health,
        "streams": streams,
        "exports": exports,
        "history": {
            "sampleEveryMs": SAMPLE_EVERY_MS,
            "columns": ["atMs", "appendsPerSecond", "exportedPerSecond"],
            "points": points,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(at_ms: i64, appends: u64, exported: u64) -> Sample {
        Sample {
            at_ms,
            appends,
            exported,
        }
    }

    #[test]
    fn rates_between_samples_and_bounded_memory() {
        let mut h = History::with_capacity(3);
        assert!(h.rates().is_empty());
        h.push(s(0, 0, 0));
        h.push(s(5_000, 50, 10));
        h.push(s(10_000, 150, 10));
        assert_eq!(
            h.rates(),
            [
                RatePoint {
                    at_ms: 5_000,
                    appends_per_second: 10.0,
                    exported_per_second: 2.0
                },
                RatePoint {
                    at_ms: 10_000,
                    appends_per_second: 20.0,
                    exported_per_second: 0.0
                }
            ]
        );
        // The fourth sample pushes the first out.
        h.push(s(15_000, 150, 5));
        assert_eq!(h.len(), 3);
        let r = h.rates();
        assert_eq!(r[0].at_ms, 10_000);
        assert_eq!(
            r[1].exported_per_second, 0.0,
            "a counter going down is no progress"
        );
        // A clock step back is ignored.
        h.push(s(1_000, 999, 999));
        assert_eq!(h.len(), 3);
        assert_eq!(h.rates().last().unwrap().at_ms, 15_000);
        // The default holds one hour of samples.
        assert_eq!(
            History::default().capacity as i64 * SAMPLE_EVERY_MS,
            3_600_000
        );
    }

    #[test]
    fn json_has_streams_exports_and_history() {
        let mut h = History::default();
        h.push(s(1_000, 0, 0));
        h.push(s(6_000, 25, 5));
        let st = Status {
            now_ms: 6_000,
            health: "degraded".into(),
            streams: vec![StreamRow {
                name: "t".into(),
                stored_bytes: 100,
                oldest: 0,
                newest: 24,
                appends: 25,
            }],
            exports: vec![ExportRow {
                stream: "t".into(),
                identifier: "sink".into(),
                kind: "http".into(),
                disabled: false,
                lag_messages: 20,
                lag_seconds: 4.5,
                messages: 5,
                skipped: 0,
                errors: 2,
                last_error: Some("HTTP 503".into()),
            }],
        };
        let v = status_json(&st, &h);
        assert_eq!(v["health"], "degraded");
        assert_eq!(v["streams"][0]["messages"], 25);
        assert_eq!(v["exports"][0]["lastError"], "HTTP 503");
        assert_eq!(v["exports"][0]["lagSeconds"], 4.5);
        assert_eq!(v["history"]["points"], json!([[6_000, 5.0, 1.0]]));
    }

    #[test]
    fn the_page_is_self_contained() {
        assert!(PAGE.starts_with("<!doctype html>"));
        assert!(PAGE.contains("status.json"));
        // Nothing loaded from elsewhere: no external script, style, font or image.
        for bad in ["src=\"http", "href=\"http", "url(http", "@import", "//cdn"] {
            assert!(!PAGE.contains(bad), "{bad}");
        }
    }
}
