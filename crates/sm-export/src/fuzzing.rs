//! Entry point for `cargo fuzz` (`fuzz/fuzz_targets/export_engine.rs`) and for the replay of
//! its corpus: the engine driven by arbitrary events through the same public functions the
//! runtime calls. Not a stable API.

use std::collections::BTreeMap;

use sm_model::{
    ExportDefinition, ExportProgress, HttpConfig, IoTAnalyticsConfig, IoTSiteWiseConfig,
    KinesisConfig, MessageStreamDefinition, S3ExportTaskExecutorConfig,
};

use crate::{
    Action, Answer, Bounds, Config, Engine, FileInfo, IoFailure, OpId, OpResult, Record, StreamDef,
    StreamId, TransportError, TransportKind,
};

/// Reads the fuzzer's bytes; missing bytes are zero.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn u8(&mut self) -> u8 {
        let (b, rest) = self.0.split_first().map_or((0, &[][..]), |(b, r)| (*b, r));
        self.0 = rest;
        b
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let n = n.min(self.0.len());
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a.to_vec()
    }
    fn done(&self) -> bool {
        self.0.is_empty()
    }
}

/// One stream of the fuzzed world.
struct Stream {
    /// Its id: a new one for every stream created (as the runtime gives them).
    id: u64,
    def: MessageStreamDefinition,
    oldest: u64,
    next: u64,
}

/// What an operation the engine asked for was.
enum Pending {
    Read { stream: usize, from: u64, max: u64 },
    Call { records: usize },
    Stat,
    File { len: u64 },
    State,
}

fn definition(name: &str, r: &mut Input<'_>) -> MessageStreamDefinition {
    let mut e = ExportDefinition::default();
    for i in 0..r.u8() % 4 {
        let id = format!("x{i}");
        let batch_size = Some(1 + i64::from(r.u8() % 12));
        let priority = (!r.u8().is_multiple_of(3)).then(|| 1 + i64::from(r.u8() % 10));
        let interval = r.u8().is_multiple_of(4).then_some(60_000);
        let disabled = Some(r.u8().is_multiple_of(8));
        let start = r.u8().is_multiple_of(8).then(|| i64::from(r.u8() % 20));
        match r.u8() % 5 {
            0 => e.http.push(HttpConfig {
                identifier: id,
                uri: "http://sink.test/p".into(),
                export_format: Some(if r.u8().is_multiple_of(2) {
                    sm_model::ExportFormat::JsonBatched
                } else {
                    sm_model::ExportFormat::RawNotBatched
                }),
                batch_size,
                batch_interval_millis: interval,
                priority,
                start_sequence_number: start,
                disabled,
            }),
            1 => e.kinesis.push(KinesisConfig {
                identifier: id,
                kinesis_stream_name: "k".into(),
                batch_size,
                batch_interval_millis: interval,
                priority,
                start_sequence_number: start,
                disabled,
            }),
            2 => e.iot_sitewise.push(IoTSiteWiseConfig {
                identifier: id,
                batch_size,
                batch_interval_millis: interval,
                priority,
                start_sequence_number: start,
                disabled,
            }),
            3 => e.iot_analytics.push(IoTAnalyticsConfig {
                identifier: id,
                iot_channel: "c".into(),
                iot_msg_id_prefix: None,
                batch_size,
                batch_interval_millis: interval,
                priority,
                start_sequence_number: start,
                disabled,
            }),
            _ => e.s3_task_executor.push(S3ExportTaskExecutorConfig {
                identifier: id,
                size_threshold_for_multipart_upload_bytes: None,
                priority,
                disabled,
                status_config: None,
            }),
        }
    }
    MessageStreamDefinition {
        name: name.into(),
        export_definition: Some(e),
        ..MessageStreamDefinition::default()
    }
}

/// A payload: an S3 task, a SiteWise entry, or bytes.
fn payload(seq: u64, r: &mut Input<'_>) -> Vec<u8> {
    match r.u8() % 4 {
        0 => br#"{"inputUrl":"file:/data/f","bucket":"bkt","key":"k/!{timestamp:yyyy}"}"#.to_vec(),
        1 => format!(
            r#"{{"entryId":"e","propertyAlias":"/p","propertyValues":[{{"value":{{"integerValue":{seq}}},"timestamp":{{"timeInSeconds":1700000000}}}}]}}"#
        )
        .into_bytes(),
        _ => {
            let n = usize::from(r.u8() % 16);
            let mut p = format!("{seq}:").into_bytes();
            p.extend(r.bytes(n));
            p
        }
    }
}

/// An answer to a call that carried `records` records.
fn answer(records: usize, r: &mut Input<'_>) -> Result<Answer, TransportError> {
    const STATUS: [u16; 9] = [200, 200, 200, 400, 404, 407, 429, 500, 503];
    let kind = r.u8();
    if kind.is_multiple_of(8) {
        let kinds = [
            TransportKind::Connect,
            TransportKind::Timeout,
            TransportKind::Io,
            TransportKind::TooLarge,
            TransportKind::Credentials,
            TransportKind::NoCredentials,
            TransportKind::ProxyAuth,
            TransportKind::Signing,
        ];
        return Err(TransportError {
            kind: kinds[usize::from(r.u8()) % kinds.len()],
            message: "fuzzed".into(),
        });
    }
    let status = if kind % 8 == 1 {
        r.u16()
    } else {
        STATUS[usize::from(r.u8()) % STATUS.len()]
    };
    let body = match r.u8() % 6 {
        // A plausible Kinesis answer, with some records failed.
        0 => {
            let recs: Vec<String> = (0..records)
                .map(|_| {
                    if r.u8().is_multiple_of(4) {
                        r#"{"ErrorCode":"ProvisionedThroughputExceededException","ErrorMessage":"x"}"#.to_owned()
                    } else {
                        r#"{"SequenceNumber":"1","ShardId":"s"}"#.to_owned()
                    }
                })
                .collect();
            format!(r#"{{"FailedRecordCount":0,"Records":[{}]}}"#, recs.join(",")).into_bytes()
        }
        1 => br#"{"errorEntries":[{"entryId":"0","errors":[{"errorCode":"ThrottlingException"}]}]}"#.to_vec(),
        2 => br#"<InitiateMultipartUploadResult><UploadId>u1</UploadId></InitiateMultipartUploadResult>"#.to_vec(),
        3 => Vec::new(),
        _ => {
            let n = usize::from(r.u8());
            r.bytes(n)
        }
    };
    let etag = r.u8().is_multiple_of(2).then(|| "\"abc\"".to_owned());
    Ok(Answer {
        status,
        error_type: None,
        etag,
        body,
    })
}

/// Drives an engine with the events `data` describes and checks, after every event: each
/// operation id is new; reads ask for at least one message at or after the export's start;
/// an export's saved position never goes back (unless its `startSequenceNumber` moved it) and
/// never goes past its stream's end; `poll_timeout` is never in the past. Panics only if one of
/// them breaks or the engine panics.
pub fn engine(data: &[u8]) {
    let mut r = Input(data);
    let mut now: i64 = 1_700_000_000_000;
    let config = Config {
        max_in_flight: 1 + usize::from(r.u8() % 4),
        bandwidth_bytes_per_sec: r.u8().is_multiple_of(4).then(|| 1 + u64::from(r.u16())),
        region: (!r.u8().is_multiple_of(8)).then(|| "us-east-1".to_owned()),
        s3_allowed_dirs: r.u8().is_multiple_of(2).then(|| vec!["/data".into()]),
        seed: u64::from(r.u16()),
        ..Config::default()
    };
    let mut engine = Engine::new(config.clone(), now);
    let mut streams: Vec<Stream> = Vec::new();
    let mut saved: BTreeMap<(usize, String), ExportProgress> = BTreeMap::new();
    let mut pending: Vec<(OpId, Pending)> = Vec::new();
    let mut seen_ops = std::collections::BTreeSet::new();
    let mut steps = 0;
    let mut next_id = 0;
    while !r.done() && steps < 400 {
        steps += 1;
        match r.u8() % 7 {
            0 => now += i64::from(r.u16()) * i64::from(1 + r.u8() % 16),
            1 if streams.len() < 3 => {
                let name = format!("s{}", streams.len());
                next_id += 1;
                streams.push(Stream {
                    id: next_id,
                    def: definition(&name, &mut r),
                    oldest: 0,
                    next: 0,
                });
                engine.handle_streams(now, defs(&streams, &saved));
            }
            1 | 2 => {
                if let Some(i) = pick(streams.len(), &mut r) {
                    let name = streams[i].def.name.clone();
                    streams[i].def = definition(&name, &mut r);
                    if r.u8().is_multiple_of(8) {
                        let gone = streams.remove(i).id as usize;
                        saved.retain(|(s, _), _| *s != gone);
                    }
                    engine.handle_streams(now, defs(&streams, &saved));
                }
            }
            3 => {
                if let Some(i) = pick(streams.len(), &mut r) {
                    streams[i].next += 1 + u64::from(r.u8() % 40);
                }
            }
            4 => {
                if let Some(i) = pick(streams.len(), &mut r) {
                    let s = &mut streams[i];
                    s.oldest = (s.oldest + u64::from(r.u8() % 20)).min(s.next);
                }
            }
            5 => {
                if let Some(i) = pick(pending.len(), &mut r) {
                    let (op, p) = pending.swap_remove(i);
                    let result = result_of(&p, &streams, &mut r);
                    engine.handle_result(now, op, result);
                }
            }
            _ => {
                // A crash: the engine starts again from what was saved.
                engine = Engine::new(config.clone(), now);
                pending.clear();
                seen_ops.clear();
                engine.handle_streams(now, defs(&streams, &saved));
            }
        }
        for s in &streams {
            let b = Bounds {
                oldest: s.oldest,
                next: s.next,
            };
            engine.handle_bounds(now, StreamId(s.id), b, |seq| Some(now - seq as i64));
        }
        while let Some(action) = engine.poll_action(now) {
            check(&action, &streams, &mut saved, &mut seen_ops);
            if let Some(p) = pending_of(action) {
                pending.push(p);
            }
        }
        if let Some(t) = engine.poll_timeout() {
            assert!(t >= now, "poll_timeout {t} is before now {now}");
        }
    }
}

fn pick(n: usize, r: &mut Input<'_>) -> Option<usize> {
    (n > 0).then(|| usize::from(r.u8()) % n)
}

fn defs(streams: &[Stream], saved: &BTreeMap<(usize, String), ExportProgress>) -> Vec<StreamDef> {
    streams
        .iter()
        .map(|s| StreamDef {
            id: StreamId(s.id),
            definition: s.def.clone(),
            saved: saved
                .iter()
                .filter(|((x, _), _)| *x == s.id as usize)
                .map(|((_, id), p)| (id.clone(), p.clone()))
                .collect(),
        })
        .collect()
}

fn check(
    action: &Action,
    streams: &[Stream],
    saved: &mut BTreeMap<(usize, String), ExportProgress>,
    seen_ops: &mut std::collections::BTreeSet<u64>,
) {
    let op = match action {
        Action::Read {
            op, max_messages, ..
        } => {
            assert!(*max_messages >= 1, "a read of no message");
            Some(op)
        }
        Action::Call { op, .. }
        | Action::Stat { op, .. }
        | Action::ReadFile { op, .. }
        | Action::LoadUploadState { op, .. } => Some(op),
        Action::SaveProgress {
            stream, progress, ..
        } => {
            let i = stream.0 as usize;
            if let Some(s) = streams.iter().find(|s| s.id as usize == i) {
                let start = progress.start_sequence_number;
                let key = (i, progress.identifier.clone());
                if let Some(old) = saved.get(&key) {
                    if old.start_sequence_number == start {
                        assert!(
                            progress.cursor >= old.cursor,
                            "{} went back from {} to {}",
                            key.1,
                            old.cursor,
                            progress.cursor
                        );
                    }
                }
                assert!(
                    progress.cursor >= start.min(s.next) || progress.cursor >= s.oldest,
                    "{} before its start",
                    key.1
                );
                assert!(
                    progress.cursor <= s.next.max(start),
                    "{} past its stream's end",
                    key.1
                );
                saved.insert(key, progress.clone());
            }
            None
        }
        Action::RemoveProgress { stream, export } => {
            saved.remove(&(stream.0 as usize, export.clone()));
            None
        }
        Action::SaveUploadState { .. } | Action::AppendStatus { .. } => None,
    };
    if let Some(op) = op {
        assert!(seen_ops.insert(op.0), "operation {op:?} asked for twice");
    }
}

fn pending_of(action: Action) -> Option<(OpId, Pending)> {
    Some(match action {
        Action::Read {
            op,
            stream,
            from,
            max_messages,
            ..
        } => (
            op,
            Pending::Read {
                stream: stream.0 as usize,
                from,
                max: max_messages,
            },
        ),
        Action::Call { op, call } => {
            let records = serde_json::from_slice::<serde_json::Value>(call.request.body())
                .ok()
                .and_then(|v| v.get("Records").and_then(|r| r.as_array()).map(Vec::len))
                .unwrap_or(1);
            (op, Pending::Call { records })
        }
        Action::Stat { op, .. } => (op, Pending::Stat),
        Action::ReadFile { op, len, .. } => (op, Pending::File { len }),
        Action::LoadUploadState { op, .. } => (op, Pending::State),
        _ => return None,
    })
}

fn result_of(p: &Pending, streams: &[Stream], r: &mut Input<'_>) -> OpResult {
    let fail = |what: &str| IoFailure {
        message: what.into(),
    };
    match p {
        Pending::Read { stream, from, max } => {
            if r.u8().is_multiple_of(16) {
                return OpResult::Read(Err(fail("read failed")));
            }
            let Some(s) = streams.iter().find(|s| s.id as usize == *stream) else {
                return OpResult::Read(Ok(Vec::new()));
            };
            let first = (*from).max(s.oldest);
            let records = (first..s.next.min(first + max))
                .map(|seq| Record {
                    seq,
                    ingest_time: 1_700_000_000_000,
                    payload: payload(seq, r).into(),
                })
                .collect();
            OpResult::Read(Ok(records))
        }
        Pending::Call { records } => OpResult::Call(answer(*records, r)),
        Pending::Stat => OpResult::Stat(match r.u8() % 4 {
            0 => Err(fail("no such file")),
            n => Ok(FileInfo {
                path: if n == 1 {
                    "/etc/passwd".into()
                } else {
                    "/data/f".into()
                },
                size: u64::from(r.u16()) * (1 + u64::from(r.u8())) * 4096,
                mtime_ns: 1,
                is_file: n != 3,
            }),
        }),
        Pending::File { len } => OpResult::File(match r.u8() % 8 {
            0 => Err(fail("cannot read")),
            _ => Ok(vec![b'x'; (*len).min(1 << 20) as usize]),
        }),
        Pending::State => OpResult::UploadState(match r.u8() % 4 {
            0 => Err(fail("unreadable")),
            1 => Ok(Some(r.bytes(40))),
            2 => Ok(Some(
                br#"{"seq":0,"uploadId":"u1","bucket":"bkt","key":"k/2023","size":1,"mtimeNs":1}"#
                    .to_vec(),
            )),
            _ => Ok(None),
        }),
    }
}
