//! A simulated device: streams that grow and lose records to retention, the store's saved
//! progress, a network with round trips, outages and a bandwidth limit, the destinations of
//! `dest.rs`, crashes of the daemon, and definition updates; all in simulated time, driving
//! the same [`Engine`] functions the runtime calls.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use sm_export::{
    Action, Bounds, Config, Engine, OpId, OpResult, Record, StreamDef, StreamId, Target,
    TransportError, TransportKind,
};
use sm_model::{
    ExportDefinition, ExportProgress, HttpConfig, IoTAnalyticsConfig, IoTSiteWiseConfig,
    KinesisConfig, MessageStreamDefinition, Persistence,
};

use crate::dest::{self, Faults, Kind};
use crate::rng::Rng;

/// The time the simulations start at: 2023-11-14 (SiteWise checks timestamps against it).
pub const T0: i64 = 1_700_000_000_000;

/// One export of a scenario.
#[derive(Debug, Clone)]
pub struct ExportSpec {
    pub kind: Kind,
    pub id: String,
    pub batch_size: i64,
    pub priority: Option<i64>,
    pub interval_ms: Option<i64>,
    pub disabled: bool,
    pub faults: Faults,
}

/// One stream of a scenario.
#[derive(Debug, Clone)]
pub struct StreamSpec {
    pub name: String,
    pub exports: Vec<ExportSpec>,
    /// When each record is appended (ms after [`T0`]), ascending.
    pub appends: Vec<i64>,
    /// Payload size of each record (bytes of padding).
    pub pad: usize,
}

/// Something that happens at a time.
#[derive(Debug, Clone)]
pub enum Change {
    /// The daemon is killed and started again.
    Crash,
    /// Retention removes the oldest `n` records of a stream.
    Evict { stream: usize, n: u64 },
    /// An export is paused (`true`) or resumed.
    Disable {
        stream: usize,
        export: usize,
        disabled: bool,
    },
    /// An export gets another batch size and priority.
    Respec {
        stream: usize,
        export: usize,
        batch_size: i64,
        priority: Option<i64>,
    },
}

/// A scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub seed: u64,
    pub config: Config,
    pub streams: Vec<StreamSpec>,
    /// (ms after T0, change), ascending.
    pub changes: Vec<(i64, Change)>,
    /// Periods without network: (from, to) ms after T0.
    pub outages: Vec<(i64, i64)>,
    /// The link's rate, bytes per second (`None`: unlimited).
    pub link_bytes_per_sec: Option<u64>,
    /// The client's request timeout, ms.
    pub timeout_ms: i64,
}

/// What a destination saw of one export.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    /// Applied records, in the order applied (with duplicates).
    pub applied: Vec<u64>,
    /// Records refused for good.
    pub refused: Vec<u64>,
    /// Payload bytes applied, and when (ms after T0).
    pub bytes_at: Vec<(i64, u64)>,
    /// Calls the destination processed whose answer was lost (each may bring its records
    /// again: duplicates).
    pub lost_answers: u64,
}

enum Event {
    /// A request reaches its destination.
    Arrive {
        export: (usize, usize),
        verdict_applied: Vec<u64>,
        refused: Vec<u64>,
        bytes: u64,
    },
    /// Its answer reaches the engine (if the daemon that sent it still runs).
    Answer {
        op: OpId,
        life: u64,
        result: OpResult,
    },
}

/// The simulated device.
pub struct World {
    pub sc: Scenario,
    pub now: i64,
    engine: Engine,
    life: u64,
    rng: Rng,
    /// Per stream: records held (oldest first) and the next sequence number.
    held: Vec<(Vec<Record>, u64)>,
    definitions: Vec<MessageStreamDefinition>,
    /// The store's saved progress: (stream, export id) → progress.
    saved: BTreeMap<(usize, String), ExportProgress>,
    /// Records retention removed, per stream.
    pub evicted: Vec<Vec<u64>>,
    /// Per (stream, export): what its destination saw.
    pub seen: BTreeMap<(usize, usize), Seen>,
    /// Per (stream, export): the largest batch size it ever had.
    pub max_batch: BTreeMap<(usize, usize), i64>,
    events: BinaryHeap<Reverse<(i64, u64, usize)>>,
    slots: Vec<Option<Event>>,
    order: u64,
    next_append: Vec<usize>,
    next_change: usize,
    /// When the link is next free (bandwidth).
    link_free_at: i64,
    pub crashes: u64,
    /// Every (ms, stream, export, op) a Read was asked for (priority checks).
    pub reads: Vec<(i64, usize, usize)>,
    /// Whether to record `reads` (it costs a look at every export per read).
    pub record_reads: bool,
    /// Reads ordered while an export of higher priority had records due (`record_reads`).
    pub priority_violations: Vec<String>,
    /// Actions carried out (cost statistics).
    pub actions: u64,
    /// Loop iterations (cost statistics).
    pub steps: u64,
}

fn payload(stream: usize, seq: u64, kind: Option<Kind>, ingest: i64, pad: usize) -> Vec<u8> {
    if kind == Some(Kind::SiteWise) {
        if seq % 17 == 16 {
            // An entry SiteWise cannot take (refused before any call).
            return format!("s{stream}:{seq}:not json").into_bytes();
        }
        return format!(
            r#"{{"entryId":"e","propertyAlias":"/p/{}","propertyValues":[{{"value":{{"integerValue":{seq}}},"timestamp":{{"timeInSeconds":{}}}}}]}}"#,
            seq % 3,
            ingest / 1000
        )
        .into_bytes();
    }
    let mut p = format!("s{stream}:{seq}:").into_bytes();
    p.resize(p.len() + pad, b'x');
    p
}

impl World {
    pub fn new(sc: Scenario) -> Self {
        let definitions: Vec<MessageStreamDefinition> = sc.streams.iter().map(definition).collect();
        let mut max_batch = BTreeMap::new();
        for (s, st) in sc.streams.iter().enumerate() {
            for (e, ex) in st.exports.iter().enumerate() {
                max_batch.insert((s, e), ex.batch_size);
            }
        }
        let engine = Engine::new(
            Config {
                seed: sc.seed,
                ..sc.config.clone()
            },
            T0,
        );
        let n = sc.streams.len();
        let mut w = Self {
            rng: Rng::new(sc.seed),
            engine,
            life: 0,
            now: T0,
            held: vec![(Vec::new(), 0); n],
            definitions,
            saved: BTreeMap::new(),
            evicted: vec![Vec::new(); n],
            seen: BTreeMap::new(),
            max_batch,
            events: BinaryHeap::new(),
            slots: Vec::new(),
            order: 0,
            next_append: vec![0; n],
            next_change: 0,
            link_free_at: T0,
            crashes: 0,
            reads: Vec::new(),
            record_reads: false,
            priority_violations: Vec::new(),
            actions: 0,
            steps: 0,
            sc,
        };
        w.hand_definitions();
        w
    }

    fn hand_definitions(&mut self) {
        let defs = self
            .definitions
            .iter()
            .enumerate()
            .map(|(i, d)| StreamDef {
                id: StreamId(i as u64),
                definition: d.clone(),
                saved: self
                    .saved
                    .iter()
                    .filter(|((s, _), _)| *s == i)
                    .map(|((_, id), p)| (id.clone(), p.clone()))
                    .collect(),
            })
            .collect();
        self.engine.handle_streams(self.now, defs);
        for i in 0..self.held.len() {
            self.bounds(i);
        }
    }

    fn bounds(&mut self, i: usize) {
        let (records, next) = &self.held[i];
        let oldest = records.first().map_or(*next, |r| r.seq);
        let b = Bounds {
            oldest,
            next: *next,
        };
        self.engine
            .handle_bounds(self.now, StreamId(i as u64), b, |seq| {
                let at = records.partition_point(|r| r.seq < seq);
                records.get(at).map(|r| r.ingest_time)
            });
    }

    fn push(&mut self, at: i64, e: Event) {
        self.order += 1;
        self.slots.push(Some(e));
        self.events
            .push(Reverse((at, self.order, self.slots.len() - 1)));
    }

    /// Runs until every export has finished every record and nothing is left to happen, or
    /// `limit` (ms after T0) passes. Returns whether it drained.
    pub fn run(&mut self, limit: i64) -> bool {
        loop {
            self.drain_actions();
            let next_append = (0..self.held.len())
                .filter_map(|i| {
                    self.sc.streams[i]
                        .appends
                        .get(self.next_append[i])
                        .map(|t| T0 + t)
                })
                .min();
            let next_change = self.sc.changes.get(self.next_change).map(|(t, _)| T0 + t);
            let next_event = self.events.peek().map(|Reverse((t, _, _))| *t);
            let next_timer = self.engine.poll_timeout();
            let Some(t) = [next_append, next_change, next_event, next_timer]
                .into_iter()
                .flatten()
                .min()
            else {
                return true;
            };
            if next_append.is_none()
                && next_change.is_none()
                && next_event.is_none()
                && self.drained()
            {
                return true;
            }
            if t > T0 + limit {
                return self.drained();
            }
            self.now = self.now.max(t);
            self.steps += 1;
            self.step_events();
            // As the runtime does after every event: the streams' bounds (an export whose
            // batch just moved its position learns the age of what is left).
            for i in 0..self.held.len() {
                self.bounds(i);
            }
        }
    }

    /// Whether every export's position is at its stream's end.
    pub fn drained(&self) -> bool {
        self.engine
            .exports()
            .all(|e| e.progress.cursor >= self.held[e.stream.0 as usize].1 && !e.busy)
    }

    fn step_events(&mut self) {
        let now = self.now;
        for i in 0..self.held.len() {
            let mut grew = false;
            while let Some(&t) = self.sc.streams[i].appends.get(self.next_append[i]) {
                if T0 + t > now {
                    break;
                }
                let seq = self.held[i].1;
                let kind = self.sc.streams[i].exports.first().map(|e| e.kind);
                let p = payload(i, seq, kind, now, self.sc.streams[i].pad);
                self.held[i].0.push(Record {
                    seq,
                    ingest_time: now,
                    payload: p.into(),
                });
                self.held[i].1 += 1;
                self.next_append[i] += 1;
                grew = true;
            }
            if grew {
                self.bounds(i);
            }
        }
        while let Some((t, change)) = self.sc.changes.get(self.next_change).cloned() {
            if T0 + t > now {
                break;
            }
            self.next_change += 1;
            self.apply(change);
        }
        while let Some(&Reverse((t, _, slot))) = self.events.peek() {
            if t > now {
                break;
            }
            self.events.pop();
            match self.slots[slot].take() {
                Some(Event::Arrive {
                    export,
                    verdict_applied,
                    refused,
                    bytes,
                }) => {
                    let seen = self.seen.entry(export).or_default();
                    seen.applied.extend(verdict_applied);
                    seen.refused.extend(refused);
                    seen.bytes_at.push((t - T0, bytes));
                }
                Some(Event::Answer { op, life, result }) if life == self.life => {
                    self.engine.handle_result(now, op, result);
                }
                _ => {}
            }
        }
    }

    fn apply(&mut self, change: Change) {
        match change {
            Change::Crash => {
                // The daemon dies: its timers and waiting answers with it; requests already
                // on the wire still arrive. It starts again from the saved progress.
                self.crashes += 1;
                self.life += 1;
                let seed = self.sc.seed.wrapping_add(self.life);
                self.engine = Engine::new(
                    Config {
                        seed,
                        ..self.sc.config.clone()
                    },
                    self.now,
                );
                self.hand_definitions();
            }
            Change::Evict { stream, n } => {
                let (records, next) = &mut self.held[stream];
                let n = (n as usize).min(records.len());
                self.evicted[stream].extend(records.drain(..n).map(|r| r.seq));
                let _ = next;
                self.bounds(stream);
            }
            Change::Disable {
                stream,
                export,
                disabled,
            } => {
                self.sc.streams[stream].exports[export].disabled = disabled;
                self.definitions[stream] = definition(&self.sc.streams[stream]);
                self.hand_definitions();
            }
            Change::Respec {
                stream,
                export,
                batch_size,
                priority,
            } => {
                let e = &mut self.sc.streams[stream].exports[export];
                e.batch_size = batch_size;
                e.priority = priority;
                let m = self.max_batch.entry((stream, export)).or_default();
                *m = (*m).max(batch_size);
                self.definitions[stream] = definition(&self.sc.streams[stream]);
                self.hand_definitions();
            }
        }
    }

    fn drain_actions(&mut self) {
        while let Some(action) = self.engine.poll_action(self.now) {
            self.execute(action);
        }
    }

    fn execute(&mut self, action: Action) {
        self.actions += 1;
        if std::env::var_os("SIM_TRACE").is_some() {
            eprintln!(
                "{:>10} life {} {}",
                self.now - T0,
                self.life,
                brief(&action)
            );
        }
        match action {
            Action::Read {
                op,
                stream,
                from,
                max_messages,
                ..
            } => {
                let i = stream.0 as usize;
                let held = &self.held[i].0;
                let at = held.partition_point(|r| r.seq < from);
                let recs: Vec<Record> = held[at..]
                    .iter()
                    .take(max_messages as usize)
                    .cloned()
                    .collect();
                if self.record_reads {
                    if let Some(e) = self.export_of_read(i, from) {
                        self.reads.push((self.now, i, e));
                        self.check_priority(i, e);
                    }
                }
                self.engine
                    .handle_result(self.now, op, OpResult::Read(Ok(recs)));
            }
            Action::Call { op, call } => self.call(op, call),
            Action::SaveProgress {
                stream,
                progress,
                persist,
                ..
            } => {
                if persist != sm_export::Persist::No {
                    self.saved
                        .insert((stream.0 as usize, progress.identifier.clone()), progress);
                }
            }
            Action::RemoveProgress { stream, export } => {
                self.saved.remove(&(stream.0 as usize, export));
            }
            Action::AppendStatus { .. } | Action::SaveUploadState { .. } => {}
            Action::Stat { op, .. }
            | Action::ReadFile { op, .. }
            | Action::LoadUploadState { op, .. } => {
                panic!("no S3 export in the simulation, yet {op:?} asked for a file");
            }
        }
    }

    /// Whether an export of higher priority than the one now reading had records due.
    fn check_priority(&mut self, stream: usize, export: usize) {
        let id = &self.sc.streams[stream].exports[export].id;
        let views: Vec<_> = self.engine.exports().collect();
        let Some(me) = views
            .iter()
            .find(|v| v.stream.0 as usize == stream && &v.identifier == id)
        else {
            return;
        };
        for v in &views {
            let pending = v.progress.cursor < self.held[v.stream.0 as usize].1;
            if v.priority < me.priority && pending && !v.busy && !v.disabled {
                self.priority_violations.push(format!(
                    "at {} ms {} (priority {}) read while {} (priority {}) had records due",
                    self.now - T0,
                    me.identifier,
                    me.priority,
                    v.identifier,
                    v.priority
                ));
            }
        }
    }

    /// The export a read at `from` is for (the busy export of that stream with that cursor).
    fn export_of_read(&self, stream: usize, from: u64) -> Option<usize> {
        let view: Vec<_> = self
            .engine
            .exports()
            .filter(|e| e.stream.0 as usize == stream && e.progress.cursor == from)
            .collect();
        let id = &view.first()?.identifier;
        self.sc.streams[stream]
            .exports
            .iter()
            .position(|e| &e.id == id)
    }

    fn call(&mut self, op: OpId, call: sm_export::Call) {
        let target = call.request.headers().get("x-amz-target");
        if target.is_some_and(|t| t == "Kinesis_20131202.ListShards") {
            // Half the scenarios may read the shard map (two shards), the others may not.
            let answer = dest::list_shards(self.sc.seed.is_multiple_of(2));
            let at = self.now + 5;
            self.push(
                at,
                Event::Answer {
                    op,
                    life: self.life,
                    result: OpResult::Call(Ok(answer)),
                },
            );
            return;
        }
        let (stream, export) = self.route(&call);
        let spec = &self.sc.streams[stream].exports[export];
        let (kind, faults) = (spec.kind, spec.faults);
        let body = call.request.body();
        let records = dest::records_of(kind, body);
        let body_len = body.len();
        let rtt = self.rng.range(faults.rtt_ms.0, faults.rtt_ms.1);
        let in_outage = |t: i64| {
            self.sc
                .outages
                .iter()
                .any(|(a, b)| (T0 + a..T0 + b).contains(&t))
        };
        // The request needs the link for its bytes.
        let mut sent_at = self.now;
        if let Some(rate) = self.sc.link_bytes_per_sec {
            let start = self.link_free_at.max(self.now);
            self.link_free_at = start + (body_len as i64 * 1000) / rate.max(1) as i64;
            sent_at = self.link_free_at;
        }
        if in_outage(self.now) {
            let e = TransportError {
                kind: TransportKind::Connect,
                message: "network unreachable".into(),
            };
            let at = self.now + 1;
            self.push(
                at,
                Event::Answer {
                    op,
                    life: self.life,
                    result: OpResult::Call(Err(e)),
                },
            );
            return;
        }
        let v = dest::judge(kind, &faults, &mut self.rng, records);
        let bytes = if v.applied.is_empty() {
            0
        } else {
            body_len as u64
        };
        match v.answer {
            None => {
                if !v.applied.is_empty() || !v.refused.is_empty() {
                    // Processed, but the answer is lost: the records arrive all the same.
                    self.seen.entry((stream, export)).or_default().lost_answers += 1;
                    self.push(
                        sent_at + rtt / 2,
                        Event::Arrive {
                            export: (stream, export),
                            verdict_applied: v.applied,
                            refused: v.refused,
                            bytes,
                        },
                    );
                }
                let e = TransportError {
                    kind: TransportKind::Timeout,
                    message: "timed out".into(),
                };
                let at = self.now + self.sc.timeout_ms;
                self.push(
                    at,
                    Event::Answer {
                        op,
                        life: self.life,
                        result: OpResult::Call(Err(e)),
                    },
                );
            }
            Some(answer) => {
                let arrive = sent_at + rtt / 2;
                let back = sent_at + rtt;
                self.push(
                    arrive,
                    Event::Arrive {
                        export: (stream, export),
                        verdict_applied: v.applied,
                        refused: v.refused,
                        bytes,
                    },
                );
                let _ = v.seqs;
                self.push(
                    back,
                    Event::Answer {
                        op,
                        life: self.life,
                        result: OpResult::Call(Ok(answer)),
                    },
                );
            }
        }
    }

    /// Which export a call belongs to: by URI path (HTTP), stream name (Kinesis), channel
    /// (IoT Analytics), or the one SiteWise export.
    fn route(&self, call: &sm_export::Call) -> (usize, usize) {
        let find = |pred: &dyn Fn(&ExportSpec) -> bool| {
            for (s, st) in self.sc.streams.iter().enumerate() {
                if let Some(e) = st.exports.iter().position(pred) {
                    return (s, e);
                }
            }
            panic!("a call to nowhere: {:?}", call.request.uri());
        };
        match &call.target {
            Target::Http => {
                let path = call.request.uri().path().to_owned();
                find(&|e: &ExportSpec| path == format!("/{}", e.id))
            }
            Target::Aws { service, .. } => {
                // The name the request carries, without parsing the whole body.
                let name_after = |key: &str| -> String {
                    let body = std::str::from_utf8(call.request.body()).unwrap_or("");
                    body.split_once(key)
                        .and_then(|(_, rest)| rest.split('"').nth(1))
                        .unwrap_or("")
                        .to_owned()
                };
                match service {
                    sm_aws::Service::Kinesis => {
                        let name = name_after("\"StreamName\":");
                        find(&|e: &ExportSpec| e.kind == Kind::Kinesis && e.id == name)
                    }
                    sm_aws::Service::IotAnalytics => {
                        let name = name_after("\"channelName\":");
                        find(&|e: &ExportSpec| e.kind == Kind::IotAnalytics && e.id == name)
                    }
                    _ => find(&|e: &ExportSpec| e.kind == Kind::SiteWise),
                }
            }
        }
    }

    /// The engine's view of every export, by (stream, export index).
    pub fn progress(&self) -> BTreeMap<(usize, usize), ExportProgress> {
        self.engine
            .exports()
            .map(|v| {
                let s = v.stream.0 as usize;
                let e = self.sc.streams[s]
                    .exports
                    .iter()
                    .position(|x| x.id == v.identifier)
                    .expect("known export");
                ((s, e), v.progress)
            })
            .collect()
    }

    /// The next sequence number of a stream.
    pub fn next(&self, stream: usize) -> u64 {
        self.held[stream].1
    }
}

fn definition(s: &StreamSpec) -> MessageStreamDefinition {
    let mut d = ExportDefinition::default();
    for e in &s.exports {
        match e.kind {
            Kind::HttpJson | Kind::HttpRaw => d.http.push(HttpConfig {
                identifier: e.id.clone(),
                uri: format!("http://sink.test/{}", e.id),
                export_format: Some(if e.kind == Kind::HttpJson {
                    sm_model::ExportFormat::JsonBatched
                } else {
                    sm_model::ExportFormat::RawNotBatched
                }),
                batch_size: Some(e.batch_size),
                batch_interval_millis: e.interval_ms,
                priority: e.priority,
                disabled: Some(e.disabled),
                ..HttpConfig::default()
            }),
            Kind::Kinesis => d.kinesis.push(KinesisConfig {
                identifier: e.id.clone(),
                kinesis_stream_name: e.id.clone(),
                batch_size: Some(e.batch_size),
                batch_interval_millis: e.interval_ms,
                priority: e.priority,
                disabled: Some(e.disabled),
                ..KinesisConfig::default()
            }),
            Kind::SiteWise => d.iot_sitewise.push(IoTSiteWiseConfig {
                identifier: e.id.clone(),
                batch_size: Some(e.batch_size),
                batch_interval_millis: e.interval_ms,
                priority: e.priority,
                disabled: Some(e.disabled),
                ..IoTSiteWiseConfig::default()
            }),
            Kind::IotAnalytics => d.iot_analytics.push(IoTAnalyticsConfig {
                identifier: e.id.clone(),
                iot_channel: e.id.clone(),
                batch_size: Some(e.batch_size),
                batch_interval_millis: e.interval_ms,
                priority: e.priority,
                disabled: Some(e.disabled),
                ..IoTAnalyticsConfig::default()
            }),
        }
    }
    MessageStreamDefinition {
        name: s.name.clone(),
        persistence: Some(Persistence::File),
        export_definition: Some(d),
        ..MessageStreamDefinition::default()
    }
}

/// One line about an action (`SIM_TRACE`).
fn brief(a: &Action) -> String {
    match a {
        Action::Read {
            op,
            stream,
            from,
            max_messages,
            ..
        } => format!(
            "read {op:?} stream {} from {from} max {max_messages}",
            stream.0
        ),
        Action::Call { op, call } => format!(
            "call {op:?} {} {} bytes",
            call.request.uri(),
            call.request.body().len()
        ),
        Action::SaveProgress {
            stream,
            progress: p,
            persist,
            ..
        } => format!(
            "save stream {} {} cursor {} delivered {} skipped {} {persist:?} err {:?}",
            stream.0,
            p.identifier,
            p.cursor,
            p.exported_messages,
            p.skipped_messages,
            p.error_message
        ),
        other => format!("{other:?}"),
    }
}
