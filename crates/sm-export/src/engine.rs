//! The engine: the exports of every stream, their batches and sends, driven by events.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use sm_model::{defaults, ExportKind, ExportProgress, MessageStreamDefinition, Persistence};
use tracing::{debug, info, warn};

use crate::api::{Action, Bounds, Config, OpId, OpResult, Persist, Record, StreamDef, StreamId};
use crate::batch::BatchState;
use crate::classify::{Class, ExportError, Failure};
use crate::retry::Backoff;
use crate::rng::Rng;
use crate::schedule::{Done, ExportKey, ExportSpec, Limits, Scheduler, SendOrder, UNSET_PRIORITY};
use crate::send::{Attempt, Cx, Io, SendEvent, Sender, Step};

/// Longest a checkpoint stays only crash-safe (not power-loss-safe) while an export is busy.
pub const DURABLE_EVERY_MS: i64 = 1000;

/// A stream as the engine knows it.
struct StreamInfo {
    name: String,
    definition: Arc<MessageStreamDefinition>,
    bounds: Option<Bounds>,
}

/// One export configuration as the engine needs it.
struct Wanted {
    kind: ExportKind,
    identifier: String,
    spec: ExportSpec,
    start: u64,
    /// The configuration as JSON: a change rebuilds the sender.
    config: serde_json::Value,
}

/// A batch read for an export, across its attempts.
struct Batch {
    records: Vec<Record>,
    state: BatchState,
    sender: Sender,
    /// An attempt is under way.
    sending: bool,
    /// The IO the attempt waits for.
    waiting: Option<OpId>,
    /// The attempt pauses until then.
    sleep_until: Option<i64>,
}

struct Export {
    stream: StreamId,
    kind: ExportKind,
    identifier: String,
    spec: ExportSpec,
    start: u64,
    config: serde_json::Value,
    progress: ExportProgress,
    backoff: Backoff,
    /// File stream: its checkpoint is saved (Memory streams only publish progress).
    persist: bool,
    durable_at: i64,
    /// Bumped when a batch is abandoned: results of its operations are then ignored.
    generation: u64,
    reading: Option<OpId>,
    batch: Option<Batch>,
    /// The configuration changed while an attempt was under way: rebuild the sender after it.
    rebuild: bool,
}

/// The export engine. See the crate documentation for its drive loop.
pub struct Engine {
    config: Config,
    rng: Rng,
    sched: Scheduler,
    now: i64,
    streams: BTreeMap<StreamId, StreamInfo>,
    exports: BTreeMap<ExportKey, Export>,
    by_name: BTreeMap<(StreamId, String), ExportKey>,
    ops: BTreeMap<OpId, (ExportKey, u64)>,
    next_key: ExportKey,
    next_op: u64,
    actions: VecDeque<Action>,
    /// What senders reported while they ran (applied to their export's progress at once).
    events: Vec<SendEvent>,
}

/// What the engine tells about one export (tests, fuzzing, introspection).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportView {
    /// The stream.
    pub stream: StreamId,
    /// The export's identifier.
    pub identifier: String,
    /// Its destination kind.
    pub kind: ExportKind,
    /// Its priority (1 highest; 11 = unset).
    pub priority: u8,
    /// Paused by configuration.
    pub disabled: bool,
    /// Its progress.
    pub progress: ExportProgress,
    /// A read or a send is under way.
    pub busy: bool,
    /// Records of a batch read and not finished yet.
    pub held: usize,
}

/// A destination's largest (and default) batch size: `sm-model`'s table.
fn max_batch(kind: ExportKind) -> i64 {
    defaults::max_batch_size(kind).unwrap_or(1)
}

fn wanted(def: &MessageStreamDefinition) -> Vec<Wanted> {
    let Some(e) = &def.export_definition else {
        return Vec::new();
    };
    let spec = |batch: Option<i64>,
                max: i64,
                interval: Option<i64>,
                priority: Option<i64>,
                disabled: Option<bool>| ExportSpec {
        batch_size: batch.unwrap_or(max).clamp(1, max) as u64,
        interval_ms: interval.map(|v| v.max(0) as u64),
        priority: priority.map_or(UNSET_PRIORITY, |p| p.clamp(1, 10) as u8),
        disabled: disabled.unwrap_or(false),
    };
    let start = |s: Option<i64>| s.unwrap_or(0).max(0) as u64;
    let mut out = Vec::new();
    for c in &e.http {
        out.push(Wanted {
            kind: ExportKind::Http,
            identifier: c.identifier.clone(),
            spec: spec(
                c.batch_size,
                max_batch(ExportKind::Http),
                c.batch_interval_millis,
                c.priority,
                c.disabled,
            ),
            start: start(c.start_sequence_number),
            config: serde_json::to_value(c).unwrap_or_default(),
        });
    }
    for c in &e.kinesis {
        out.push(Wanted {
            kind: ExportKind::Kinesis,
            identifier: c.identifier.clone(),
            spec: spec(
                c.batch_size,
                max_batch(ExportKind::Kinesis),
                c.batch_interval_millis,
                c.priority,
                c.disabled,
            ),
            start: start(c.start_sequence_number),
            config: serde_json::to_value(c).unwrap_or_default(),
        });
    }
    for c in &e.iot_analytics {
        out.push(Wanted {
            kind: ExportKind::IoTAnalytics,
            identifier: c.identifier.clone(),
            spec: spec(
                c.batch_size,
                max_batch(ExportKind::IoTAnalytics),
                c.batch_interval_millis,
                c.priority,
                c.disabled,
            ),
            start: start(c.start_sequence_number),
            config: serde_json::to_value(c).unwrap_or_default(),
        });
    }
    for c in &e.iot_sitewise {
        out.push(Wanted {
            kind: ExportKind::IoTSiteWise,
            identifier: c.identifier.clone(),
            spec: spec(
                c.batch_size,
                max_batch(ExportKind::IoTSiteWise),
                c.batch_interval_millis,
                c.priority,
                c.disabled,
            ),
            start: start(c.start_sequence_number),
            config: serde_json::to_value(c).unwrap_or_default(),
        });
    }
    for c in &e.s3_task_executor {
        out.push(Wanted {
            kind: ExportKind::S3TaskExecutor,
            identifier: c.identifier.clone(),
            // One task at a time, in order.
            spec: spec(Some(1), 1, None, c.priority, c.disabled),
            start: 0,
            config: serde_json::to_value(c).unwrap_or_default(),
        });
    }
    out
}

impl Engine {
    /// An engine with these settings, starting at `now` (ms since the epoch).
    pub fn new(config: Config, now: i64) -> Self {
        let limits = Limits {
            max_in_flight: config.max_in_flight.max(1),
            bandwidth_bytes_per_sec: config.bandwidth_bytes_per_sec,
        };
        Self {
            rng: Rng::new(config.seed),
            sched: Scheduler::new(limits, now),
            config,
            now,
            streams: BTreeMap::new(),
            exports: BTreeMap::new(),
            by_name: BTreeMap::new(),
            ops: BTreeMap::new(),
            next_key: 1,
            next_op: 1,
            actions: VecDeque::new(),
            events: Vec::new(),
        }
    }

    fn tick(&mut self, now: i64) {
        self.now = self.now.max(now);
    }

    /// The streams and their definitions changed (or this is the first call): every stream
    /// that has exports, with its definition and the saved progress of its exports. Exports
    /// are matched by stream and identifier; new ones start from their saved progress (if its
    /// `startSequenceNumber` is still the configured one) or from `startSequenceNumber`;
    /// missing ones are removed (their checkpoints deleted, an S3 task in progress canceled).
    pub fn handle_streams(&mut self, now: i64, defs: Vec<StreamDef>) {
        self.tick(now);
        let mut seen = Vec::new();
        let mut streams = BTreeMap::new();
        for def in defs {
            let persist = def.definition.persistence != Some(Persistence::Memory);
            for w in wanted(&def.definition) {
                let name = (def.id, w.identifier.clone());
                seen.push(name.clone());
                match self.by_name.get(&name).copied() {
                    Some(k) if self.exports.get(&k).is_some_and(|e| e.kind == w.kind) => {
                        self.update(k, w)
                    }
                    Some(k) => {
                        self.remove(k);
                        self.add(
                            def.id,
                            &def.definition.name,
                            persist,
                            w,
                            def.saved.get(&name.1),
                        );
                    }
                    None => self.add(
                        def.id,
                        &def.definition.name,
                        persist,
                        w,
                        def.saved.get(&name.1),
                    ),
                }
            }
            let bounds = self.streams.get(&def.id).and_then(|s| s.bounds);
            streams.insert(
                def.id,
                StreamInfo {
                    name: def.definition.name.clone(),
                    definition: Arc::new(def.definition),
                    bounds,
                },
            );
        }
        let gone: Vec<ExportKey> = self
            .by_name
            .iter()
            .filter(|(n, _)| !seen.contains(n))
            .map(|(_, k)| *k)
            .collect();
        // Removed while the streams they belong to are still known (their names go into the
        // canceled tasks' status messages).
        for k in gone {
            self.remove(k);
        }
        self.streams = streams;
    }

    fn add(
        &mut self,
        stream: StreamId,
        stream_name: &str,
        persist: bool,
        w: Wanted,
        saved: Option<&ExportProgress>,
    ) {
        let mut progress = saved
            .filter(|p| p.start_sequence_number == w.start && p.identifier == w.identifier)
            .cloned()
            .unwrap_or_else(|| ExportProgress::new(&w.identifier, w.start));
        progress.moved_at = self.now;
        let key = self.next_key;
        self.next_key += 1;
        self.sched.upsert(key, w.spec, progress.cursor);
        debug!(stream = stream_name, export = %w.identifier, cursor = progress.cursor, "export started");
        self.actions.push_back(Action::SaveProgress {
            stream,
            kind: w.kind,
            progress: progress.clone(),
            persist: Persist::No,
            delivered_bytes: 0,
        });
        self.by_name.insert((stream, w.identifier.clone()), key);
        self.exports.insert(
            key,
            Export {
                stream,
                kind: w.kind,
                identifier: w.identifier,
                spec: w.spec,
                start: w.start,
                config: w.config,
                progress,
                backoff: Backoff::new(self.config.retry.base_ms, self.config.retry.cap_ms),
                persist,
                durable_at: 0,
                generation: 0,
                reading: None,
                batch: None,
                rebuild: false,
            },
        );
    }

    fn update(&mut self, key: ExportKey, w: Wanted) {
        let now = self.now;
        let Some(e) = self.exports.get_mut(&key) else {
            return;
        };
        e.spec = w.spec;
        self.sched.upsert(key, w.spec, e.progress.cursor);
        if w.config != e.config {
            // The next attempt (of this batch too: a fixed URL must unblock it) uses it.
            e.config = w.config;
            e.rebuild = e.batch.is_some();
        }
        if w.start != e.start {
            info!(export = %e.identifier, from = w.start, "startSequenceNumber changed; the export restarts there");
            e.start = w.start;
            e.generation += 1;
            e.batch = None;
            e.reading = None;
            e.rebuild = false;
            e.progress.cursor = w.start;
            e.progress.start_sequence_number = w.start;
            e.progress.moved_at = now;
            // Forget the send in flight (its results are ignored now) and start over there.
            self.sched.remove(key);
            self.sched.upsert(key, w.spec, w.start);
            self.save(key, true, 0);
        }
    }

    fn remove(&mut self, key: ExportKey) {
        self.sched.remove(key);
        let Some(mut e) = self.exports.remove(&key) else {
            return;
        };
        self.by_name.remove(&(e.stream, e.identifier.clone()));
        info!(export = %e.identifier, "export removed");
        if let Some(mut b) = e.batch.take() {
            let stream_name = self.stream_name(e.stream);
            let mut cx = Cx {
                now: self.now,
                rng: &mut self.rng,
                config: &self.config,
                stream: &stream_name,
                stream_id: e.stream,
                export: &e.identifier,
                ttl_ms: None,
                out: &mut self.actions,
                events: &mut self.events,
            };
            let abort = b.sender.cancel(&mut cx, &b.records);
            self.events.clear();
            if let Some(call) = abort {
                // Nobody waits for the abort's answer.
                let op = OpId(self.next_op);
                self.next_op += 1;
                self.actions.push_back(Action::Call { op, call });
            }
        }
        self.actions.push_back(Action::RemoveProgress {
            stream: e.stream,
            export: e.identifier,
        });
    }

    fn stream_name(&self, id: StreamId) -> String {
        self.streams
            .get(&id)
            .map(|s| s.name.clone())
            .unwrap_or_default()
    }

    /// A stream grew, or retention removed records: it now holds `bounds`. When an export's
    /// interval trigger needs the age of its oldest pending message, the engine asks
    /// `ingest_time_at(seq)` (`None`: unknown, counted from now).
    pub fn handle_bounds(
        &mut self,
        now: i64,
        stream: StreamId,
        bounds: Bounds,
        mut ingest_time_at: impl FnMut(u64) -> Option<i64>,
    ) {
        self.tick(now);
        let Some(s) = self.streams.get_mut(&stream) else {
            return;
        };
        s.bounds = Some(bounds);
        let keys: Vec<ExportKey> = self
            .by_name
            .range((stream, String::new())..)
            .take_while(|((id, _), _)| *id == stream)
            .map(|(_, k)| *k)
            .collect();
        for k in keys {
            self.sched
                .handle_stream(k, bounds.next, &mut ingest_time_at, self.now);
        }
    }

    /// The result of an operation the engine asked for. Results of operations it no longer
    /// waits for (an export removed or restarted since) are ignored.
    pub fn handle_result(&mut self, now: i64, op: OpId, result: OpResult) {
        self.tick(now);
        let Some((key, generation)) = self.ops.remove(&op) else {
            return;
        };
        let Some(e) = self.exports.get_mut(&key) else {
            return;
        };
        if e.generation != generation {
            return;
        }
        if e.reading == Some(op) {
            e.reading = None;
            match result {
                OpResult::Read(r) => self.on_read(key, r),
                other => {
                    let what = crate::send::kind_of(&other);
                    self.on_read(
                        key,
                        Err(crate::classify::IoFailure {
                            message: format!("a read was answered with {what}"),
                        }),
                    );
                }
            }
            return;
        }
        let Some(mut b) = e.batch.take() else {
            return;
        };
        if b.waiting == Some(op) {
            b.waiting = None;
            let info = self.streams.get(&e.stream);
            let stream_name = info.map(|s| s.name.clone()).unwrap_or_default();
            let ttl_ms = info.and_then(|s| s.definition.time_to_live_millis);
            let mut cx = Cx {
                now: self.now,
                rng: &mut self.rng,
                config: &self.config,
                stream: &stream_name,
                stream_id: e.stream,
                export: &e.identifier,
                ttl_ms,
                out: &mut self.actions,
                events: &mut self.events,
            };
            b.sender.handle(&mut cx, &b.records, result);
        }
        if let Some(e) = self.exports.get_mut(&key) {
            e.batch = Some(b);
        }
        self.apply_events(key);
    }

    /// The next thing for the runtime to do at `now`, if any. Call until `None` after every
    /// event, then wait until [`Self::poll_timeout`] or the next event.
    #[must_use]
    pub fn poll_action(&mut self, now: i64) -> Option<Action> {
        self.tick(now);
        if self.actions.is_empty() {
            self.pump();
        }
        self.actions.pop_front()
    }

    /// When the engine next has something to do by time alone (a batch interval, a retry, a
    /// pause within a send, the bandwidth budget), ms since the epoch.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<i64> {
        let sleeps = self
            .exports
            .values()
            .filter_map(|e| e.batch.as_ref())
            .filter(|b| b.sending && b.waiting.is_none())
            .filter_map(|b| b.sleep_until);
        sleeps.chain(self.sched.poll_timeout(self.now)).min()
    }

    /// Every export's state.
    pub fn exports(&self) -> impl Iterator<Item = ExportView> + '_ {
        self.exports.values().map(|e| ExportView {
            stream: e.stream,
            identifier: e.identifier.clone(),
            kind: e.kind,
            priority: e.spec.priority,
            disabled: e.spec.disabled,
            progress: e.progress.clone(),
            busy: e.reading.is_some() || e.batch.as_ref().is_some_and(|b| b.sending),
            held: e.batch.as_ref().map_or(0, |b| b.records.len()),
        })
    }

    /// Runs every export that can go on, and the sends the scheduler orders, until nothing
    /// moves without IO or time.
    fn pump(&mut self) {
        loop {
            let mut moved = false;
            let ready: Vec<ExportKey> = self
                .exports
                .iter()
                .filter(|(_, e)| {
                    e.batch.as_ref().is_some_and(|b| {
                        b.sending
                            && b.waiting.is_none()
                            && b.sleep_until.is_none_or(|t| t <= self.now)
                    })
                })
                .map(|(k, _)| *k)
                .collect();
            for k in ready {
                self.step(k);
                moved = true;
            }
            while let Some(order) = self.sched.poll_send(self.now) {
                self.dispatch(order);
                moved = true;
            }
            if !moved || !self.actions.is_empty() {
                break;
            }
        }
    }

    fn new_op(&mut self, key: ExportKey, generation: u64) -> OpId {
        let op = OpId(self.next_op);
        self.next_op += 1;
        self.ops.insert(op, (key, generation));
        op
    }

    fn dispatch(&mut self, order: SendOrder) {
        let Some(e) = self.exports.get_mut(&order.key) else {
            self.sched.handle_done(
                order.key,
                Done::Progress {
                    cursor: order.from_seq,
                    bytes: 0,
                },
                self.now,
            );
            return;
        };
        if e.batch.is_some() {
            // Sending (what is left of) a batch already attempted.
            e.progress.retries += 1;
            self.begin(order.key);
            return;
        }
        let (stream, generation) = (e.stream, e.generation);
        let op = self.new_op(order.key, generation);
        let e = self.exports.get_mut(&order.key).expect("checked above");
        e.reading = Some(op);
        self.actions.push_back(Action::Read {
            op,
            stream,
            from: order.from_seq,
            max_messages: order.max_messages,
            max_bytes: self.config.max_batch_bytes,
        });
    }

    fn on_read(&mut self, key: ExportKey, r: Result<Vec<Record>, crate::classify::IoFailure>) {
        let now = self.now;
        let Some(e) = self.exports.get_mut(&key) else {
            return;
        };
        let bounds = self.streams.get(&e.stream).and_then(|s| s.bounds);
        let mut records = match r {
            Ok(records) => records,
            Err(err) => {
                warn!(export = %e.identifier, "cannot read the next batch: {err}");
                e.progress.error_message = Some(ExportError::Read(err).to_string());
                e.progress.last_export_time = now;
                e.progress.errors += 1;
                let delay = e.backoff.next_delay_ms(self.rng.next_u64());
                let cursor = e.progress.cursor;
                self.save(key, false, 0);
                self.sched.handle_done(
                    key,
                    Done::Retry {
                        cursor,
                        bytes: 0,
                        delay_ms: delay,
                    },
                    now,
                );
                return;
            }
        };
        let cursor = e.progress.cursor;
        records.retain(|r| r.seq >= cursor);
        records.sort_by_key(|r| r.seq);
        records.dedup_by_key(|r| r.seq);
        // Records before the first one read (or, with none read, before the oldest held)
        // were removed by retention before they were exported.
        let first = records
            .first()
            .map(|r| r.seq)
            .or_else(|| bounds.map(|b| b.oldest.min(b.next)))
            .unwrap_or(cursor);
        let evicted = first > cursor;
        if evicted {
            let lost = first - cursor;
            warn!(export = %e.identifier, from = cursor, to = first - 1, "{lost} messages were removed by retention before they were exported; skipping them");
            e.progress.skipped_messages += lost;
            e.progress.evicted_messages += lost;
            e.progress.cursor = first;
            e.progress.moved_at = now;
        }
        if evicted {
            self.save(key, false, 0);
        }
        let Some(e) = self.exports.get_mut(&key) else {
            return;
        };
        if records.is_empty() {
            let cursor = e.progress.cursor;
            self.sched
                .handle_done(key, Done::Progress { cursor, bytes: 0 }, now);
            return;
        }
        let Some(sender) = self
            .streams
            .get(&e.stream)
            .and_then(|s| Sender::new(e.kind, &e.identifier, &s.definition))
        else {
            let cursor = e.progress.cursor;
            self.sched
                .handle_done(key, Done::Progress { cursor, bytes: 0 }, now);
            return;
        };
        let state = BatchState::new(records.iter().map(|r| (r.seq, r.payload.len() as u64)));
        e.rebuild = false;
        e.batch = Some(Batch {
            records,
            state,
            sender,
            sending: false,
            waiting: None,
            sleep_until: None,
        });
        self.begin(key);
    }

    /// Starts an attempt at the batch's records still to send.
    fn begin(&mut self, key: ExportKey) {
        let Some(e) = self.exports.get_mut(&key) else {
            return;
        };
        let def = self.streams.get(&e.stream).map(|s| s.definition.clone());
        let Some(mut b) = e.batch.take() else {
            return;
        };
        if e.rebuild {
            if let Some(s) = def
                .as_deref()
                .and_then(|d| Sender::new(e.kind, &e.identifier, d))
            {
                b.sender = s;
            }
            e.rebuild = false;
        }
        let stream_name = self
            .streams
            .get(&e.stream)
            .map(|s| s.name.clone())
            .unwrap_or_default();
        let ttl_ms = def.as_deref().and_then(|d| d.time_to_live_millis);
        let mut cx = Cx {
            now: self.now,
            rng: &mut self.rng,
            config: &self.config,
            stream: &stream_name,
            stream_id: e.stream,
            export: &e.identifier,
            ttl_ms,
            out: &mut self.actions,
            events: &mut self.events,
        };
        b.sending = true;
        b.waiting = None;
        b.sleep_until = None;
        let to_send = b.state.to_send();
        b.sender.begin(&mut cx, &b.records, to_send);
        e.batch = Some(b);
        self.apply_events(key);
    }

    /// Advances an export's attempt until it waits for IO or time, or ends.
    fn step(&mut self, key: ExportKey) {
        loop {
            let Some(e) = self.exports.get_mut(&key) else {
                return;
            };
            let Some(mut b) = e.batch.take() else {
                return;
            };
            let stream_name = self
                .streams
                .get(&e.stream)
                .map(|s| s.name.clone())
                .unwrap_or_default();
            let ttl_ms = self
                .streams
                .get(&e.stream)
                .and_then(|s| s.definition.time_to_live_millis);
            let (stream, generation) = (e.stream, e.generation);
            let mut cx = Cx {
                now: self.now,
                rng: &mut self.rng,
                config: &self.config,
                stream: &stream_name,
                stream_id: stream,
                export: &e.identifier,
                ttl_ms,
                out: &mut self.actions,
                events: &mut self.events,
            };
            let step = b.sender.step(&mut cx, &b.records);
            self.exports.get_mut(&key).expect("present").batch = Some(b);
            self.apply_events(key);
            let mut b = self
                .exports
                .get_mut(&key)
                .and_then(|e| e.batch.take())
                .expect("put back above");
            match step {
                Step::Io(io) => {
                    let op = self.new_op(key, generation);
                    b.waiting = Some(op);
                    self.actions.push_back(match io {
                        Io::Call(call) => Action::Call { op, call: *call },
                        Io::Stat(path) => Action::Stat { op, path },
                        Io::ReadFile { path, offset, len } => Action::ReadFile {
                            op,
                            path,
                            offset,
                            len,
                        },
                        Io::LoadUploadState => Action::LoadUploadState {
                            op,
                            stream,
                            export: self.exports[&key].identifier.clone(),
                        },
                    });
                    self.exports.get_mut(&key).expect("present").batch = Some(b);
                    return;
                }
                Step::Sleep(t) if t > self.now => {
                    b.sleep_until = Some(t);
                    self.exports.get_mut(&key).expect("present").batch = Some(b);
                    return;
                }
                Step::Sleep(_) => {
                    b.sleep_until = None;
                    self.exports.get_mut(&key).expect("present").batch = Some(b);
                }
                Step::Done(attempt) => {
                    b.sending = false;
                    b.sleep_until = None;
                    self.exports.get_mut(&key).expect("present").batch = Some(b);
                    self.settle(key, attempt);
                    return;
                }
            }
        }
    }

    /// Folds an attempt's outcomes into the batch and the export's progress, saves it, and
    /// tells the scheduler when the export may send again.
    fn settle(&mut self, key: ExportKey, attempt: Attempt) {
        let now = self.now;
        let Some(e) = self.exports.get_mut(&key) else {
            return;
        };
        let Some(b) = e.batch.as_mut() else {
            return;
        };
        let s = b.state.settle(attempt.outcomes, attempt.stopped);
        let done = b.state.is_done();
        let p = &mut e.progress;
        p.last_export_time = now;
        if let Some(c) = s.checkpoint.filter(|&c| c > p.cursor) {
            p.cursor = c;
            p.moved_at = now;
        }
        p.exported_messages += s.delivered;
        p.exported_bytes += s.delivered_bytes;
        p.skipped_messages += s.skipped.len() as u64;
        for (seq, err) in &s.skipped {
            warn!(export = %e.identifier, seq, "message skipped (not retryable): {err}");
        }
        let progressed = s.delivered > 0 || !s.skipped.is_empty();
        let done_msg = match s.retry {
            Some(f) => {
                if progressed {
                    // The destination works: start the backoff over instead of slowing down a
                    // flow that is making progress.
                    e.backoff.reset();
                }
                let delay = retry_delay(&mut e.backoff, &self.config, &f, self.rng.next_u64());
                warn!(export = %e.identifier, attempt = e.backoff.attempts(), retry_in_ms = delay, "export failed: {}", f.error);
                p.error_message = Some(f.error.to_string());
                Done::Retry {
                    cursor: p.cursor,
                    bytes: attempt.bytes,
                    delay_ms: delay,
                }
            }
            None => {
                p.error_message = s.skipped.last().map(|(_, e)| e.to_string());
                e.backoff.reset();
                Done::Progress {
                    cursor: p.cursor,
                    bytes: attempt.bytes,
                }
            }
        };
        if done {
            e.batch = None;
        }
        let caught_up = self
            .streams
            .get(&e.stream)
            .and_then(|s| s.bounds)
            .is_none_or(|b| e.progress.cursor >= b.next);
        self.save(key, caught_up, s.delivered_bytes);
        self.sched.handle_done(key, done_msg, now);
    }

    /// Applies what a sender reported to its export's progress, and publishes it when a call
    /// failed (describe shows the error while the send retries).
    fn apply_events(&mut self, key: ExportKey) {
        if self.events.is_empty() {
            return;
        }
        let events = std::mem::take(&mut self.events);
        let Some(e) = self.exports.get_mut(&key) else {
            return;
        };
        let mut failed = false;
        for event in events {
            match event {
                SendEvent::Failed(f) => {
                    e.progress.errors += 1;
                    e.progress.error_message = Some(f.error.to_string());
                    e.progress.last_export_time = self.now;
                    failed = true;
                }
                SendEvent::Retried => e.progress.retries += 1,
            }
        }
        if failed {
            self.actions.push_back(Action::SaveProgress {
                stream: e.stream,
                kind: e.kind,
                progress: e.progress.clone(),
                persist: Persist::No,
                delivered_bytes: 0,
            });
        }
    }

    /// Publishes an export's progress and saves its checkpoint: durably when asked or when the
    /// last durable save is older than [`DURABLE_EVERY_MS`]; in between, a crash-safe replace.
    fn save(&mut self, key: ExportKey, durable: bool, delivered_bytes: u64) {
        let now = self.now;
        let Some(e) = self.exports.get_mut(&key) else {
            return;
        };
        let persist = if !e.persist {
            Persist::No
        } else if durable || now - e.durable_at >= DURABLE_EVERY_MS {
            e.durable_at = now;
            Persist::Durable
        } else {
            Persist::Fast
        };
        self.actions.push_back(Action::SaveProgress {
            stream: e.stream,
            kind: e.kind,
            progress: e.progress.clone(),
            persist,
            delivered_bytes,
        });
    }
}

/// The delay before an export's next send after a failed one.
fn retry_delay(backoff: &mut Backoff, config: &Config, f: &Failure, draw: u64) -> u64 {
    let delay = backoff.next_delay_ms(draw);
    if f.class == Class::Blocked {
        // Needs a fix outside: try again rarely (but keep trying).
        delay.max(config.retry.slow_ms)
    } else {
        delay
    }
}
