//! What `smctl top` shows, from two successive samples of every stream's describe answer:
//! pure (the caller passes the time of each sample).

use std::collections::BTreeMap;

use sm_client::MessageStreamInfo;

use crate::format::{exports, lag};

/// One row of the streams table.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamRow {
    /// Stream name.
    pub name: String,
    /// Messages appended per second since the previous sample (None on the first).
    pub rate: Option<f64>,
    /// Bytes stored.
    pub bytes: i64,
    /// Messages held.
    pub messages: i64,
    /// Oldest sequence number held (None when empty).
    pub oldest: Option<i64>,
    /// Newest sequence number held (None when empty).
    pub newest: Option<i64>,
}

/// One row of the exports table.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportRow {
    /// Stream name.
    pub stream: String,
    /// `kind:identifier`.
    pub export: String,
    /// Paused.
    pub disabled: bool,
    /// Messages not exported yet.
    pub lag: i64,
    /// Messages delivered per second since the previous sample.
    pub rate: Option<f64>,
    /// Messages delivered in all.
    pub exported: i64,
    /// The last attempt's error, on one line.
    pub error: Option<String>,
}

/// Everything on screen.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct View {
    /// Streams by name.
    pub streams: Vec<StreamRow>,
    /// Exports by stream, in definition order.
    pub exports: Vec<ExportRow>,
}

#[derive(Debug, Clone, Default)]
struct Counts {
    newest: i64,
    exported: BTreeMap<String, i64>,
}

/// Keeps the previous sample to turn counters into rates.
#[derive(Debug, Default)]
pub struct Model {
    prev: Option<(f64, BTreeMap<String, Counts>)>,
}

fn per_second(now: i64, before: Option<i64>, dt: Option<f64>) -> Option<f64> {
    let (b, dt) = (before?, dt?);
    (dt > 0.0).then(|| (now - b).max(0) as f64 / dt)
}

impl Model {
    /// The view of a sample taken at `at` seconds (any monotonic origin).
    pub fn update(&mut self, at: f64, infos: &[MessageStreamInfo]) -> View {
        let dt = self.prev.as_ref().map(|(t, _)| at - t);
        let prev = self.prev.as_ref().map(|(_, c)| c);
        let mut counts = BTreeMap::new();
        let mut view = View::default();
        let mut sorted: Vec<&MessageStreamInfo> = infos.iter().collect();
        sorted.sort_by(|a, b| a.definition.name.cmp(&b.definition.name));
        for info in sorted {
            let name = &info.definition.name;
            let s = &info.storage_status;
            let before = prev.and_then(|p| p.get(name));
            let messages = (s.newest_sequence_number - s.oldest_sequence_number + 1).max(0);
            view.streams.push(StreamRow {
                name: name.clone(),
                rate: per_second(s.newest_sequence_number, before.map(|c| c.newest), dt),
                bytes: s.total_bytes,
                messages,
                oldest: (messages > 0).then_some(s.oldest_sequence_number),
                newest: (messages > 0).then_some(s.newest_sequence_number),
            });
            let mut c = Counts {
                newest: s.newest_sequence_number,
                exported: BTreeMap::new(),
            };
            for x in exports(info.definition.export_definition.as_ref()) {
                let st = info
                    .export_statuses
                    .iter()
                    .find(|e| e.export_config_identifier == x.identifier);
                let exported = st.map_or(0, |e| e.exported_messages_count);
                view.exports.push(ExportRow {
                    stream: name.clone(),
                    export: format!("{}:{}", x.kind, x.identifier),
                    disabled: x.disabled,
                    lag: st.map_or(messages, |e| {
                        lag(s.newest_sequence_number, e.last_exported_sequence_number)
                    }),
                    rate: per_second(
                        exported,
                        before.and_then(|b| b.exported.get(&x.identifier).copied()),
                        dt,
                    ),
                    exported,
                    error: st
                        .and_then(|e| e.error_message.as_deref())
                        .map(|m| m.split_whitespace().collect::<Vec<_>>().join(" ")),
                });
                c.exported.insert(x.identifier.clone(), exported);
            }
            counts.insert(name.clone(), c);
        }
        self.prev = Some((at, counts));
        view
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sm_client::{
        ExportDefinition, ExportStatus, HttpConfig, MessageStreamDefinition, StorageStatus,
    };

    fn info(name: &str, newest: i64, exported: i64, error: Option<&str>) -> MessageStreamInfo {
        MessageStreamInfo {
            definition: MessageStreamDefinition {
                name: name.into(),
                export_definition: Some(ExportDefinition {
                    http: vec![HttpConfig {
                        identifier: "h".into(),
                        uri: "http://127.0.0.1:1/".into(),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
                ..Default::default()
            },
            storage_status: StorageStatus {
                oldest_sequence_number: 0,
                newest_sequence_number: newest,
                total_bytes: 100,
                corrupt_records: None,
            },
            export_statuses: vec![ExportStatus {
                export_config_identifier: "h".into(),
                last_exported_sequence_number: exported - 1,
                last_export_time: 0,
                error_message: error.map(str::to_owned),
                exported_bytes_from_stream: 0,
                exported_messages_count: exported,
                skipped_messages_count: 0,
            }],
            telemetry: None,
        }
    }

    #[test]
    fn rates_come_from_two_samples() {
        let mut m = Model::default();
        let v = m.update(10.0, &[info("b", 9, 5, None), info("a", -1, 0, None)]);
        assert_eq!(v.streams[0].name, "a", "sorted by name");
        assert_eq!(v.streams[0].oldest, None, "empty");
        assert_eq!(v.streams[1].rate, None, "no rate from one sample");
        assert_eq!(v.exports[1].lag, 5);
        let v = m.update(12.0, &[info("b", 29, 15, Some("HTTP 503\nfrom x"))]);
        assert_eq!(v.streams.len(), 1);
        assert_eq!(v.streams[0].rate, Some(10.0));
        assert_eq!(v.streams[0].messages, 30);
        assert_eq!(v.exports[0].rate, Some(5.0));
        assert_eq!(v.exports[0].lag, 15);
        assert_eq!(v.exports[0].error.as_deref(), Some("HTTP 503 from x"));
        assert_eq!(v.exports[0].export, "http:h");
        // A stream that appears later has no rate yet.
        let v = m.update(13.0, &[info("b", 29, 15, None), info("c", 3, 0, None)]);
        assert_eq!(v.streams[0].rate, Some(0.0));
        assert_eq!(v.streams[1].rate, None);
    }
}
