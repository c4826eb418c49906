//! What `smctl` prints: messages, the describe summary and the status table. Pure functions
//! from client types to text.

use std::fmt::Write as _;

use base64::Engine;
use sm_client::{
    ExportDefinition, Message, MessageStreamInfo, Persistence, ResponseStatusCode, StrategyOnFull,
};

use crate::cli::Format;

/// One message as one line (with its `\n`).
pub fn message_line(m: &Message, format: Format) -> String {
    match format {
        Format::Text => format!("{}\t{}\n", m.sequence_number, escape_text(&m.payload)),
        Format::Hex => {
            let mut s = format!("{}\t", m.sequence_number);
            for b in &m.payload {
                let _ = write!(s, "{b:02x}");
            }
            s.push('\n');
            s
        }
        Format::Json => {
            let mut v = serde_json::json!({
                "streamName": m.stream_name,
                "sequenceNumber": m.sequence_number,
                "ingestTime": m.ingest_time,
                "payload": base64::engine::general_purpose::STANDARD.encode(&m.payload),
            });
            if let Ok(text) = std::str::from_utf8(&m.payload) {
                v["payloadText"] = text.into();
            }
            let mut s = v.to_string();
            s.push('\n');
            s
        }
    }
}

/// The payload as one line of text: UTF-8 (invalid bytes become U+FFFD), control characters
/// and backslashes escaped so a message can never break the line or the terminal.
fn escape_text(payload: &[u8]) -> String {
    let text = String::from_utf8_lossy(payload);
    let mut s = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            '\t' => s.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(s, "\\u{{{:x}}}", c as u32);
            }
            c => s.push(c),
        }
    }
    s
}

/// The name of a status code, as in the protocol (`ResourceNotFound`).
pub fn status_name(s: ResponseStatusCode) -> String {
    format!("{s:?}")
}

/// One export configuration of a stream, whatever its destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportRef {
    /// Destination kind: `http`, `kinesis`, `iotAnalytics`, `IotSitewise`, `s3TaskExecutor`.
    pub kind: &'static str,
    /// The export's identifier.
    pub identifier: String,
    /// Paused by `disabled: true`.
    pub disabled: bool,
}

/// Every export of a definition, in the order of the definition's lists.
pub fn exports(def: Option<&ExportDefinition>) -> Vec<ExportRef> {
    let Some(d) = def else { return Vec::new() };
    let mut out = Vec::new();
    let mut add = |kind, identifier: &str, disabled: Option<bool>| {
        out.push(ExportRef {
            kind,
            identifier: identifier.to_owned(),
            disabled: disabled.unwrap_or(false),
        });
    };
    for c in &d.http {
        add("http", &c.identifier, c.disabled);
    }
    for c in &d.kinesis {
        add("kinesis", &c.identifier, c.disabled);
    }
    for c in &d.iot_analytics {
        add("iotAnalytics", &c.identifier, c.disabled);
    }
    for c in &d.iot_sitewise {
        add("IotSitewise", &c.identifier, c.disabled);
    }
    for c in &d.s3_task_executor {
        add("s3TaskExecutor", &c.identifier, c.disabled);
    }
    out
}

/// Messages not exported yet: newest − lastExported (never negative).
pub fn lag(newest: i64, last_exported: i64) -> i64 {
    newest.saturating_sub(last_exported).max(0)
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn sequence_range(info: &MessageStreamInfo) -> (String, String, i64) {
    let s = &info.storage_status;
    let count = (s.newest_sequence_number - s.oldest_sequence_number + 1).max(0);
    if count == 0 {
        ("-".into(), "-".into(), 0)
    } else {
        (
            s.oldest_sequence_number.to_string(),
            s.newest_sequence_number.to_string(),
            count,
        )
    }
}

/// The human summary of `describe`.
pub fn describe_summary(info: &MessageStreamInfo) -> String {
    let d = &info.definition;
    let s = &info.storage_status;
    let (oldest, newest, count) = sequence_range(info);
    let persistence = match d.persistence {
        Some(Persistence::Memory) => "Memory",
        Some(Persistence::File) | None => "File",
    };
    let strategy = match d.strategy_on_full {
        Some(StrategyOnFull::OverwriteOldestData) => "OverwriteOldestData",
        Some(StrategyOnFull::RejectNewData) | None => "RejectNewData",
    };
    let opt = |v: Option<i64>| v.map_or_else(|| "-".to_owned(), |v| v.to_string());
    let mut rows: Vec<(String, String)> = vec![
        ("stream".into(), d.name.clone()),
        (
            "persistence".into(),
            format!(
                "{persistence}, flushOnWrite {}",
                d.flush_on_write.unwrap_or(false)
            ),
        ),
        (
            "limits".into(),
            format!(
                "maxSize {} bytes, segments {} bytes, {strategy}, timeToLiveMillis {}",
                opt(d.max_size),
                opt(d.stream_segment_size),
                opt(d.time_to_live_millis)
            ),
        ),
        (
            "storage".into(),
            format!(
                "{} bytes, {count} message{}, oldest {oldest}, newest {newest}",
                s.total_bytes,
                if count == 1 { "" } else { "s" }
            ),
        ),
    ];
    let refs = exports(d.export_definition.as_ref());
    if refs.is_empty() {
        rows.push(("exports".into(), "none".into()));
    }
    let mut out = table_kv(&rows);
    if !refs.is_empty() {
        out.push_str("exports:\n");
        let mut t = vec![row(&[
            "  EXPORT", "STATE", "LAST", "LAG", "MESSAGES", "BYTES", "SKIPPED", "ERROR",
        ])];
        for r in &refs {
            let st = info
                .export_statuses
                .iter()
                .find(|e| e.export_config_identifier == r.identifier);
            let state = if r.disabled { "disabled" } else { "enabled" };
            let name = format!("  {}:{}", r.kind, r.identifier);
            t.push(match st {
                Some(e) => vec![
                    name,
                    state.into(),
                    e.last_exported_sequence_number.to_string(),
                    lag(s.newest_sequence_number, e.last_exported_sequence_number).to_string(),
                    e.exported_messages_count.to_string(),
                    e.exported_bytes_from_stream.to_string(),
                    e.skipped_messages_count.to_string(),
                    e.error_message
                        .as_deref()
                        .map_or_else(|| "-".into(), one_line),
                ],
                None => {
                    let mut v = vec![name, state.into()];
                    v.extend(std::iter::repeat_n("-".to_owned(), 6));
                    v
                }
            });
        }
        out.push_str(&table(&t));
    }
    out
}

fn row(cells: &[&str]) -> Vec<String> {
    cells.iter().map(|c| (*c).to_owned()).collect()
}

fn table_kv(rows: &[(String, String)]) -> String {
    let w = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    rows.iter()
        .map(|(k, v)| format!("{k:<w$}  {v}\n"))
        .collect()
}

/// Rows as columns separated by two spaces, each as wide as its widest cell (the last column
/// is not padded). Widths count characters.
pub fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (c, cell) in r.iter().enumerate() {
            if c > 0 {
                line.push_str("  ");
            }
            line.push_str(cell);
            if c + 1 < r.len() {
                let pad = widths[c] - cell.chars().count();
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The rows of `status` for one stream: one per export, or one with `-` when it has none.
pub fn status_rows(info: &MessageStreamInfo) -> Vec<Vec<String>> {
    let s = &info.storage_status;
    let (oldest, newest, _) = sequence_range(info);
    let base = vec![
        info.definition.name.clone(),
        s.total_bytes.to_string(),
        oldest,
        newest,
    ];
    let refs = exports(info.definition.export_definition.as_ref());
    if refs.is_empty() {
        let mut r = base;
        r.extend(["-", "-", "-"].map(String::from));
        return vec![r];
    }
    refs.iter()
        .map(|x| {
            let mut r = base.clone();
            let name = if x.disabled {
                format!("{}:{} (disabled)", x.kind, x.identifier)
            } else {
                format!("{}:{}", x.kind, x.identifier)
            };
            r.push(name);
            match info
                .export_statuses
                .iter()
                .find(|e| e.export_config_identifier == x.identifier)
            {
                Some(e) => {
                    r.push(
                        lag(s.newest_sequence_number, e.last_exported_sequence_number).to_string(),
                    );
                    r.push(
                        e.error_message
                            .as_deref()
                            .map_or_else(|| "-".into(), one_line),
                    );
                }
                None => r.extend(["-", "-"].map(String::from)),
            }
            r
        })
        .collect()
}

/// One stream of `status --json`: its storage and, per export, the lag and last error.
pub fn status_json(info: &MessageStreamInfo) -> serde_json::Value {
    let s = &info.storage_status;
    let exports: Vec<serde_json::Value> = exports(info.definition.export_definition.as_ref())
        .iter()
        .map(|x| {
            let st = info
                .export_statuses
                .iter()
                .find(|e| e.export_config_identifier == x.identifier);
            serde_json::json!({
                "kind": x.kind,
                "identifier": x.identifier,
                "disabled": x.disabled,
                "lag": st.map(|e| lag(s.newest_sequence_number, e.last_exported_sequence_number)),
                "lastExportedSequenceNumber": st.map(|e| e.last_exported_sequence_number),
                "exportedMessagesCount": st.map(|e| e.exported_messages_count),
                "errorMessage": st.and_then(|e| e.error_message.clone()),
            })
        })
        .collect();
    serde_json::json!({
        "stream": info.definition.name,
        "totalBytes": s.total_bytes,
        "oldestSequenceNumber": s.oldest_sequence_number,
        "newestSequenceNumber": s.newest_sequence_number,
        "exports": exports,
    })
}

/// The header of the status table.
pub fn status_header() -> Vec<String> {
    row(&[
        "STREAM",
        "BYTES",
        "OLDEST",
        "NEWEST",
        "EXPORT",
        "LAG",
        "LAST ERROR",
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use sm_client::{ExportStatus, HttpConfig, MessageStreamDefinition, StorageStatus};

    fn msg(seq: i64, payload: &[u8]) -> Message {
        Message {
            stream_name: "s".into(),
            sequence_number: seq,
            ingest_time: 1_700_000_000_000,
            payload: payload.to_vec(),
        }
    }

    #[test]
    fn message_formats() {
        let m = msg(7, b"a\tb\n\x01\\");
        assert_eq!(message_line(&m, Format::Text), "7\ta\\tb\\n\\u{1}\\\\\n");
        assert_eq!(message_line(&m, Format::Hex), "7\t6109620a015c\n");
        let v: serde_json::Value = serde_json::from_str(&message_line(&m, Format::Json)).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"streamName": "s", "sequenceNumber": 7,
                "ingestTime": 1_700_000_000_000_i64, "payload": "YQliCgFc",
                "payloadText": "a\tb\n\u{1}\\"})
        );
        let bin = msg(0, &[0xff, 0x00]);
        assert_eq!(message_line(&bin, Format::Text), "0\t\u{fffd}\\u{0}\n");
        let v: serde_json::Value = serde_json::from_str(&message_line(&bin, Format::Json)).unwrap();
        assert_eq!(v["payload"], "/wA=");
        assert!(v.get("payloadText").is_none(), "{v}");
    }

    #[test]
    fn table_aligns_columns_and_leaves_the_last_unpadded() {
        let t = table(&[row(&["A", "BB", "C"]), row(&["long", "x", "yyyy"])]);
        assert_eq!(t, "A     BB  C\nlong  x   yyyy\n");
    }

    fn info(newest: i64, last_exported: Option<i64>) -> MessageStreamInfo {
        MessageStreamInfo {
            definition: MessageStreamDefinition {
                name: "s".into(),
                export_definition: Some(ExportDefinition {
                    http: vec![HttpConfig {
                        identifier: "h".into(),
                        uri: "http://127.0.0.1:1/".into(),
                        disabled: Some(true),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
                ..Default::default()
            },
            storage_status: StorageStatus {
                oldest_sequence_number: 0,
                newest_sequence_number: newest,
                total_bytes: 123,
                corrupt_records: None,
            },
            export_statuses: last_exported
                .map(|l| ExportStatus {
                    export_config_identifier: "h".into(),
                    last_exported_sequence_number: l,
                    last_export_time: 0,
                    error_message: Some("connection\nrefused".into()),
                    exported_bytes_from_stream: 0,
                    exported_messages_count: 0,
                    skipped_messages_count: 0,
                })
                .into_iter()
                .collect(),
            telemetry: None,
        }
    }

    #[test]
    fn status_rows_show_lag_per_export() {
        assert_eq!(
            status_rows(&info(4, Some(-1))),
            vec![row(&[
                "s",
                "123",
                "0",
                "4",
                "http:h (disabled)",
                "5",
                "connection refused"
            ])]
        );
        // An empty stream: no sequence numbers, no lag.
        assert_eq!(
            status_rows(&info(-1, Some(-1)))[0][2..6],
            row(&["-", "-", "http:h (disabled)", "0"])[..]
        );
        // An export the daemon has no status for yet.
        assert_eq!(status_rows(&info(4, None))[0][5..], row(&["-", "-"])[..]);
    }

    #[test]
    fn status_json_has_the_lag_per_export() {
        let v = status_json(&info(4, Some(1)));
        assert_eq!(
            v,
            serde_json::json!({"stream": "s", "totalBytes": 123, "oldestSequenceNumber": 0,
                "newestSequenceNumber": 4, "exports": [{"kind": "http", "identifier": "h",
                "disabled": true, "lag": 3, "lastExportedSequenceNumber": 1,
                "exportedMessagesCount": 0, "errorMessage": "connection\nrefused"}]})
        );
    }

    #[test]
    fn describe_summary_names_storage_and_exports() {
        assert_eq!(
            describe_summary(&info(4, Some(1))),
            "stream       s\n\
             persistence  File, flushOnWrite false\n\
             limits       maxSize - bytes, segments - bytes, RejectNewData, timeToLiveMillis -\n\
             storage      123 bytes, 5 messages, oldest 0, newest 4\n\
             exports:\n  \
             EXPORT  STATE     LAST  LAG  MESSAGES  BYTES  SKIPPED  ERROR\n  \
             http:h  disabled  1     3    0         0      0        connection refused\n"
        );
    }
}
