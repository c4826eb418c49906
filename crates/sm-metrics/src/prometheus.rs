//! The Prometheus text exposition format (version 0.0.4) of a [`Snapshot`] (`GET /metrics`).

use std::fmt::Write;

use crate::{ExportMetrics, Snapshot, StreamMetrics};

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
    let mut t = Text(String::new());
    daemon_families(&mut t, s);
    stream_families(&mut t, s);
    export_families(&mut t, s);
    t.0
}

/// The daemon-wide families.
fn daemon_families(t: &mut Text, s: &Snapshot) {
    use Kind::{Counter, Gauge};
    use Value::U;
    let d = &s.daemon;
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
}

/// One family per stream measure, one sample per stream.
fn stream_families(t: &mut Text, s: &Snapshot) {
    use Kind::{Counter, Gauge};
    use Value::{I, U};
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
}

/// One family per export measure, one sample per export of every stream.
fn export_families(t: &mut Text, s: &Snapshot) {
    use Kind::{Counter, Gauge};
    use Value::{F, I, U};
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::fixtures::snapshot;

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
}
