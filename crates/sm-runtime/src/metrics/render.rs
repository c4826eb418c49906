//! The pure half of the metrics endpoint: a [`Snapshot`] of every counter and gauge, its
//! rendering in the Prometheus text exposition format (version 0.0.4), and the health verdict.
//! No IO and no clock: the snapshot carries the time it was taken.

use std::fmt::Write;

use serde_json::json;

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

/// Content type of [`render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Escapes a label value: backslash, double quote and line feed.
pub fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes HELP text: backslash and line feed.
fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

/// A sample value.
#[derive(Debug, Clone, Copy)]
enum Value {
    U(u64),
    I(i64),
    F(f64),
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Self::U(v) => write!(f, "{v}"),
            Self::I(v) => write!(f, "{v}"),
            Self::F(v) if v.is_nan() => f.write_str("NaN"),
            Self::F(v) if v.is_infinite() => f.write_str(if v > 0.0 { "+Inf" } else { "-Inf" }),
            Self::F(v) => write!(f, "{v}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
}

/// Text being built, one family at a time.
struct Text(String);

impl Text {
    /// Writes a family: HELP, TYPE, then one line per sample (none: nothing at all).
    fn family<'a>(
        &mut self,
        name: &str,
        kind: Kind,
        help: &str,
        samples: impl IntoIterator<Item = (Vec<(&'static str, &'a str)>, Value)>,
    ) {
        debug_assert_eq!(kind == Kind::Counter, name.ends_with("_total"), "{name}");
        let mut samples = samples.into_iter().peekable();
        if samples.peek().is_none() {
            return;
        }
        let t = match kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        };
        let _ = writeln!(self.0, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.0, "# TYPE {name} {t}");
        for (labels, value) in samples {
            self.0.push_str(name);
            if !labels.is_empty() {
                self.0.push('{');
                for (i, (k, v)) in labels.iter().enumerate() {
                    if i > 0 {
                        self.0.push(',');
                    }
                    let _ = write!(self.0, "{k}=\"{}\"", escape_label(v));
                }
                self.0.push('}');
            }
            let _ = writeln!(self.0, " {value}");
        }
    }
}

fn one(v: Value) -> std::iter::Once<(Vec<(&'static str, &'static str)>, Value)> {
    std::iter::once((Vec::new(), v))
}

/// Renders the snapshot in the Prometheus text format (every family with HELP and TYPE,
/// counters named `*_total`, label values escaped).
pub fn render(s: &Snapshot) -> String {
    use Kind::{Counter, Gauge};
    use Value::{F, I, U};
    let d = &s.daemon;
    let mut t = Text(String::new());
    t.family(
        "stream_manager_appends_total",
        Counter,
        "Appends acknowledged since the daemon started.",
        one(U(d.appends)),
    );
    t.family(
        "stream_manager_appended_bytes_total",
        Counter,
        "Payload bytes of the appends acknowledged since the daemon started (describe's telemetry bytesAppended).",
        one(U(d.appended_bytes)),
    );
    t.family(
        "stream_manager_append_io_errors_total",
        Counter,
        "Appends that failed in storage (a write or an fsync, answered UnknownFailure) since the daemon started.",
        one(U(d.append_io_errors)),
    );
    t.family(
        "stream_manager_uploaded_bytes_total",
        Counter,
        "Payload bytes delivered to each destination kind since the daemon started (describe's telemetry bytesUploadedTo*).",
        d.uploaded_bytes
            .iter()
            .map(|(k, v)| (vec![("kind", *k)], U(*v))),
    );
    t.family(
        "stream_manager_fsyncs_total",
        Counter,
        "Fsyncs and fdatasyncs the store has run since the daemon started (group commits, segment rolls, tail and export checkpoints, definitions, folders).",
        one(U(d.fsyncs)),
    );
    t.family(
        "stream_manager_connections_open",
        Gauge,
        "Client connections open.",
        one(U(d.connections_open)),
    );
    t.family(
        "stream_manager_streams",
        Gauge,
        "Streams.",
        one(U(s.streams.len() as u64)),
    );
    t.family(
        "stream_manager_store_writable",
        Gauge,
        "1 when the last probe write in the store root (every 5 s) succeeded, else 0.",
        one(U(u64::from(d.store.writable))),
    );

    let per_stream = |f: fn(&StreamMetrics) -> Value| {
        s.streams
            .iter()
            .map(move |m| (vec![("stream", m.name.as_str())], f(m)))
    };
    t.family(
        "stream_manager_stream_appends_total",
        Counter,
        "Appends to the stream acknowledged since the daemon started.",
        per_stream(|m| U(m.appends)),
    );
    t.family(
        "stream_manager_stream_appended_bytes_total",
        Counter,
        "Payload bytes of those appends.",
        per_stream(|m| U(m.appended_bytes)),
    );
    t.family(
        "stream_manager_stream_stored_bytes",
        Gauge,
        "Bytes of the stream's segments, record headers included (describe's storageStatus.totalBytes).",
        per_stream(|m| I(m.stored_bytes)),
    );
    t.family(
        "stream_manager_stream_oldest_sequence_number",
        Gauge,
        "Oldest sequence number the stream holds.",
        per_stream(|m| I(m.oldest)),
    );
    t.family(
        "stream_manager_stream_newest_sequence_number",
        Gauge,
        "Newest sequence number the stream holds (oldest - 1 when empty).",
        per_stream(|m| I(m.newest)),
    );
    t.family(
        "stream_manager_stream_messages",
        Gauge,
        "Sequence numbers the stream holds: newest - oldest + 1 (damaged records included).",
        per_stream(|m| I((m.newest - m.oldest + 1).max(0))),
    );
    t.family(
        "stream_manager_stream_corrupt_records",
        Gauge,
        "Damaged records found in the stream (describe's storageStatus.corruptRecords).",
        per_stream(|m| I(m.corrupt_records)),
    );
    t.family(
        "stream_manager_stream_fsyncs_total",
        Counter,
        "Group-commit fdatasyncs run for the stream's flushOnWrite appends since the daemon started.",
        per_stream(|m| U(m.fsyncs)),
    );

    let now = s.now_ms;
    let per_export = |f: &dyn Fn(&ExportMetrics) -> Value| {
        s.exports
            .iter()
            .map(|e| {
                (
                    vec![
                        ("stream", e.stream.as_str()),
                        ("export", e.identifier.as_str()),
                        ("kind", e.kind),
                    ],
                    f(e),
                )
            })
            .collect::<Vec<_>>()
    };
    t.family(
        "stream_manager_export_messages_total",
        Counter,
        "Messages the export delivered (describe's exportedMessagesCount; continues from the checkpoint after a restart).",
        per_export(&|e| U(e.messages)),
    );
    t.family(
        "stream_manager_export_bytes_total",
        Counter,
        "Payload bytes the export delivered (describe's exportedBytesFromStream).",
        per_export(&|e| U(e.bytes)),
    );
    t.family(
        "stream_manager_export_skipped_messages_total",
        Counter,
        "Messages the export skipped: refused for good by the destination, or removed by retention before export.",
        per_export(&|e| U(e.skipped)),
    );
    t.family(
        "stream_manager_export_errors_total",
        Counter,
        "Failed export attempts since the daemon started (a send that failed in whole or in part, or a batch that could not be read).",
        per_export(&|e| U(e.errors)),
    );
    t.family(
        "stream_manager_export_retries_total",
        Counter,
        "Sends since the daemon started that repeated (part of) a batch already attempted.",
        per_export(&|e| U(e.retries)),
    );
    t.family(
        "stream_manager_export_last_exported_sequence_number",
        Gauge,
        "Describe's lastExportedSequenceNumber (-1 before the first).",
        per_export(&|e| I(e.last_exported)),
    );
    t.family(
        "stream_manager_export_lag_messages",
        Gauge,
        "Messages the stream holds that the export has not delivered yet: newest - max(lastExported, oldest - 1).",
        per_export(&|e| U(e.lag_messages)),
    );
    t.family(
        "stream_manager_export_lag_seconds",
        Gauge,
        "Age of the oldest message the export has not delivered yet (now - its ingestTime), in seconds; 0 when caught up.",
        per_export(&|e| F(e.lag_seconds(now))),
    );
    t.family(
        "stream_manager_export_disabled",
        Gauge,
        "1 when the export is configured disabled.",
        per_export(&|e| U(u64::from(e.disabled))),
    );
    t.family(
        "stream_manager_export_stalled",
        Gauge,
        "1 when the export has had a backlog and its cursor has not moved for longer than the stall threshold (see /health).",
        per_export(&|e| U(u64::from(e.stalled(now, s.stall_after_ms)))),
    );
    t.0
}

/// Overall health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Store writable, no export stalled.
    Ok,
    /// Store writable, some export stalled: answered 200 (a destination being down is not
    /// something a restart of the daemon fixes).
    Degraded,
    /// Store not writable: answered 503.
    Unhealthy,
}

/// The health verdict: HTTP status, overall status and the JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    /// 200 or 503.
    pub http_status: u16,
    /// Overall status.
    pub status: Status,
    /// The body.
    pub body: serde_json::Value,
}

/// Evaluates health: 503 when the store root is not writable; 200 otherwise, `"degraded"`
/// with every stalled export listed when some export is stalled, else `"ok"`.
pub fn health(s: &Snapshot) -> Health {
    let stalled: Vec<&ExportMetrics> = s
        .exports
        .iter()
        .filter(|e| e.stalled(s.now_ms, s.stall_after_ms))
        .collect();
    let store = &s.daemon.store;
    let status = if !store.writable {
        Status::Unhealthy
    } else if !stalled.is_empty() {
        Status::Degraded
    } else {
        Status::Ok
    };
    let body = json!({
        "status": match status {
            Status::Ok => "ok",
            Status::Degraded => "degraded",
            Status::Unhealthy => "unhealthy",
        },
        "store": {
            "writable": store.writable,
            "checkedAt": store.checked_at_ms,
            "error": store.error,
            "appendIoErrors": s.daemon.append_io_errors,
        },
        "exports": {
            "count": s.exports.len(),
            "stallThresholdSeconds": s.stall_after_ms as f64 / 1000.0,
            "stalled": stalled.iter().map(|e| json!({
                "stream": e.stream,
                "export": e.identifier,
                "kind": e.kind,
                "lagMessages": e.lag_messages,
                "lagSeconds": e.lag_seconds(s.now_ms),
                "stalledSeconds": e.stalled_for_ms(s.now_ms) as f64 / 1000.0,
                "lastError": e.last_error,
            })).collect::<Vec<_>>(),
        },
    });
    Health {
        http_status: if status == Status::Unhealthy {
            503
        } else {
            200
        },
        status,
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn export(lag: u64) -> ExportMetrics {
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

    fn snapshot() -> Snapshot {
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

    /// Each sample line `name{labels} value` of a rendering, with the family's TYPE.
    fn lines(text: &str) -> Vec<&str> {
        text.lines().filter(|l| !l.starts_with('#')).collect()
    }

    #[test]
    fn renders_every_family_with_help_and_type() {
        let text = render(&snapshot());
        assert!(text.ends_with('\n'));
        let mut typed = std::collections::BTreeMap::new();
        for l in text.lines().filter(|l| l.starts_with("# TYPE ")) {
            let mut parts = l["# TYPE ".len()..].split(' ');
            typed.insert(parts.next().unwrap(), parts.next().unwrap());
        }
        // Every sample belongs to a family declared before it, with a HELP line.
        let mut declared = std::collections::BTreeSet::new();
        for l in text.lines() {
            if let Some(rest) = l.strip_prefix("# HELP ") {
                declared.insert(rest.split(' ').next().unwrap());
            } else if !l.starts_with('#') {
                let name = l.split(['{', ' ']).next().unwrap();
                assert!(declared.contains(name), "{name} sampled before its HELP");
                assert!(typed.contains_key(name), "{name} has no TYPE");
            }
        }
        for (name, t) in &typed {
            assert_eq!(*t == "counter", name.ends_with("_total"), "{name} is a {t}");
            assert!(name.starts_with("stream_manager_"), "{name}");
        }
        let l = lines(&text);
        for want in [
            "stream_manager_appends_total 12",
            "stream_manager_appended_bytes_total 345",
            "stream_manager_uploaded_bytes_total{kind=\"http\"} 100",
            "stream_manager_fsyncs_total 7",
            "stream_manager_connections_open 2",
            "stream_manager_streams 1",
            "stream_manager_store_writable 1",
            "stream_manager_stream_stored_bytes{stream=\"s\"} 1000",
            "stream_manager_stream_oldest_sequence_number{stream=\"s\"} 3",
            "stream_manager_stream_newest_sequence_number{stream=\"s\"} 14",
            "stream_manager_stream_messages{stream=\"s\"} 12",
            "stream_manager_stream_fsyncs_total{stream=\"s\"} 4",
            "stream_manager_export_messages_total{stream=\"s\",export=\"e\",kind=\"http\"} 10",
            "stream_manager_export_lag_messages{stream=\"s\",export=\"e\",kind=\"http\"} 5",
            // Oldest pending message ingested at 50 s, now 100 s.
            "stream_manager_export_lag_seconds{stream=\"s\",export=\"e\",kind=\"http\"} 50",
            // Backlog since 50 s (later than the last move at 40 s): 50 s > 30 s.
            "stream_manager_export_stalled{stream=\"s\",export=\"e\",kind=\"http\"} 1",
            "stream_manager_export_last_exported_sequence_number{stream=\"s\",export=\"e\",kind=\"http\"} 9",
        ] {
            assert!(l.contains(&want), "missing {want:?} in\n{text}");
        }
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label(r#"a\b"c"#), r#"a\\b\"c"#);
        assert_eq!(escape_label("x\ny"), "x\\ny");
        assert_eq!(escape_label("plain é,{}="), "plain é,{}=");
        let mut s = snapshot();
        s.streams[0].name = "we\"ird\\name\nline".into();
        s.exports[0].stream = s.streams[0].name.clone();
        s.exports[0].identifier = "id \"1\"".into();
        let text = render(&s);
        assert!(text.contains(
            "stream_manager_stream_appends_total{stream=\"we\\\"ird\\\\name\\nline\"} 12\n"
        ));
        assert!(text.contains("export=\"id \\\"1\\\"\""));
        // Each sample is still one line ending in its value.
        assert!(lines(&text)
            .iter()
            .all(|l| l.rsplit_once(' ').unwrap().1.parse::<f64>().is_ok()));
        assert_eq!(
            text.lines().count(),
            render(&snapshot()).lines().count(),
            "escaping added or removed lines"
        );
    }

    #[test]
    fn values_and_empty_families() {
        assert_eq!(Value::F(0.25).to_string(), "0.25");
        assert_eq!(Value::F(3.0).to_string(), "3");
        assert_eq!(Value::F(f64::INFINITY).to_string(), "+Inf");
        assert_eq!(Value::F(f64::NEG_INFINITY).to_string(), "-Inf");
        assert_eq!(Value::F(f64::NAN).to_string(), "NaN");
        assert_eq!(Value::I(-1).to_string(), "-1");
        // No streams: the per-stream and per-export families are left out entirely.
        let mut s = snapshot();
        s.streams.clear();
        s.exports.clear();
        let text = render(&s);
        assert!(!text.contains("stream_manager_stream_"));
        assert!(!text.contains("stream_manager_export_"));
        assert!(text.contains("stream_manager_streams 0\n"));
        assert_eq!(escape_help("a\\b\nc"), "a\\\\b\\nc");
    }

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

    #[test]
    fn health_verdicts() {
        let mut s = snapshot();
        s.exports[0].moved_at_ms = 90_000;
        let h = health(&s);
        assert_eq!((h.http_status, h.status), (200, Status::Ok));
        assert_eq!(h.body["status"], "ok");
        assert_eq!(h.body["store"]["writable"], true);
        assert_eq!(h.body["exports"]["stalled"].as_array().unwrap().len(), 0);

        // Stalled export: 200, degraded, listed with its numbers.
        s.exports[0].moved_at_ms = 40_000;
        s.exports[0].last_error = Some("HTTP 500".into());
        s.exports.push(ExportMetrics {
            identifier: "fine".into(),
            ..export(0)
        });
        let h = health(&s);
        assert_eq!((h.http_status, h.status), (200, Status::Degraded));
        let stalled = h.body["exports"]["stalled"].as_array().unwrap();
        assert_eq!(stalled.len(), 1);
        assert_eq!(stalled[0]["export"], "e");
        assert_eq!(stalled[0]["stream"], "s");
        assert_eq!(stalled[0]["kind"], "http");
        assert_eq!(stalled[0]["lagMessages"], 5);
        assert_eq!(stalled[0]["stalledSeconds"], 50.0);
        assert_eq!(stalled[0]["lastError"], "HTTP 500");
        assert_eq!(h.body["exports"]["count"], 2);

        // Unwritable store: 503 whatever the exports do.
        s.daemon.store = StoreProbe {
            writable: false,
            checked_at_ms: 99_000,
            error: Some("Permission denied (os error 13)".into()),
        };
        let h = health(&s);
        assert_eq!((h.http_status, h.status), (503, Status::Unhealthy));
        assert_eq!(h.body["status"], "unhealthy");
        assert_eq!(h.body["store"]["error"], "Permission denied (os error 13)");
    }
}
