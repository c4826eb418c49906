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
    /// The stream's name (log lines, and the senders' status messages).
    stream_name: String,
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
    /// The pace of each Kinesis stream the exports write to.
    pacers: BTreeMap<String, crate::send::pace::Pacer>,
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

mod defs;
mod sends;

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
            pacers: BTreeMap::new(),
        }
    }

    fn tick(&mut self, now: i64) {
        self.now = self.now.max(now);
    }

    /// A stream's bounds: it holds `bounds` now (it grew, or retention removed records). Call
    /// it for every stream after every event handed to the engine (it is cheap): an export
    /// with a batch interval whose batch just moved its position learns the age of its oldest
    /// pending message here, from `ingest_time_at(seq)` (`None`: unknown, counted from now),
    /// which the engine calls only then.
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
            let ttl_ms = self
                .streams
                .get(&e.stream)
                .and_then(|s| s.definition.time_to_live_millis);
            let mut cx = Cx {
                now: self.now,
                rng: &mut self.rng,
                config: &self.config,
                stream: &e.stream_name,
                stream_id: e.stream,
                export: &e.identifier,
                ttl_ms,
                out: &mut self.actions,
                events: &mut self.events,
                pacers: &mut self.pacers,
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
}
