//! The export manager: drives `sm-schedule` and `sm-retry` with real time, reads batches from
//! the streams, sends them to their destinations, and keeps each export's progress (describe)
//! and checkpoint (restart) up to date.
//!
//! One task runs the loop: sync the exports with the stream definitions when they change,
//! tell the scheduler how far each stream has grown, start every send it orders (each in its
//! own task, at most the thread-pool size at once), apply each send's report, and sleep until
//! the scheduler's next deadline, an append, a definition change or a report.

mod aws_dest;
mod http;
pub mod s3;

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::Duration;

use sm_model::{ExportKind, MessageStreamDefinition, Persistence};
use sm_retry::{Backoff, BatchState, RecordOutcome, MAX_BACKOFF_MS};
use sm_schedule::{Done, ExportKey, ExportSpec, Limits, Scheduler, SendOrder, UNSET_PRIORITY};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::aws::Aws;
use crate::clock;
use crate::store::checkpoints::ExportProgress;
use crate::store::{OwnedMessage, Persist, ReadOutcome, Store, Stream};
use crate::telemetry::Counters;
use aws_dest::{IotAnalyticsDestination, KinesisDestination, SiteWiseDestination};
use http::HttpDestination;

/// S3 task settings.
#[derive(Debug, Clone, Default)]
pub struct S3Config {
    /// Smallest multipart part (at least 5 MiB).
    pub min_part_size: u64,
    /// Folders task files must be in (after resolving symlinks and `..`); `None` = anywhere.
    pub allowed_dirs: Option<Vec<std::path::PathBuf>>,
}

/// Exporter settings.
#[derive(Debug, Clone)]
pub struct ExportConfig {
    /// Concurrent sends (`STREAM_MANAGER_EXPORTER_THREAD_POOL_SIZE`).
    pub max_in_flight: usize,
    /// Average bandwidth cap in kbit/s (`STREAM_MANAGER_EXPORTER_MAX_BANDWIDTH`).
    pub max_bandwidth_kbps: Option<u64>,
    /// First retry delay.
    pub retry_base: Duration,
    /// Timeout of one HTTP request.
    pub http_timeout: Duration,
    /// S3 task settings.
    pub s3: S3Config,
}

/// Largest batch read for one send, in bytes of records.
const MAX_BATCH_BYTES: u64 = 16 * 1024 * 1024;

/// What one send achieved.
#[derive(Debug, Default)]
pub struct SendResult {
    /// One outcome per message sent, in order; missing ones failed with `whole_error`.
    pub outcomes: Vec<RecordOutcome>,
    /// Why the call (or the rest of it) failed.
    pub whole_error: String,
    /// Bytes put on the wire.
    pub bytes: u64,
    /// The failure needs a change outside (configuration, permissions): retry slowly.
    pub slow: bool,
}

/// A destination an export sends to.
enum Destination {
    Http(HttpDestination),
    Kinesis(KinesisDestination),
    IotAnalytics(IotAnalyticsDestination),
    SiteWise(SiteWiseDestination),
    S3(s3::S3Destination),
}

impl Destination {
    async fn send(&self, stream: &str, messages: &[&OwnedMessage]) -> SendResult {
        match self {
            Self::Http(h) => h.send(stream, messages).await,
            Self::Kinesis(k) => k.send(messages).await,
            Self::IotAnalytics(i) => i.send(stream, messages).await,
            Self::SiteWise(w) => w.send(messages).await,
            Self::S3(d) => d.send(stream, messages).await,
        }
    }
}

/// One export's configuration as the manager needs it.
struct Wanted {
    kind: ExportKind,
    identifier: String,
    spec: ExportSpec,
    start: u64,
    /// `None` when this version cannot export to that destination yet.
    dest: Result<Destination, String>,
}

struct InFlight {
    state: BatchState,
    messages: Arc<Vec<OwnedMessage>>,
}

struct Entry {
    kind: ExportKind,
    stream: Arc<Stream>,
    stream_name: String,
    identifier: String,
    start: u64,
    persist: bool,
    dest: Arc<Destination>,
    progress: ExportProgress,
    batch: Option<InFlight>,
    backoff: Backoff,
    /// When the checkpoint was last saved durably (ms).
    durable_at: i64,
}

/// Longest a checkpoint stays only crash-safe (not power-loss-safe) while an export is busy.
const DURABLE_EVERY_MS: i64 = 1000;

struct Report {
    key: ExportKey,
    sent: Vec<usize>,
    result: SendResult,
}

fn random() -> u64 {
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
}

fn wanted(
    def: &MessageStreamDefinition,
    client: &reqwest::Client,
    aws: &Arc<Aws>,
    store: &Arc<Store>,
    s3_config: &S3Config,
) -> Vec<Wanted> {
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
                500,
                c.batch_interval_millis,
                c.priority,
                c.disabled,
            ),
            start: start(c.start_sequence_number),
            dest: Ok(Destination::Http(HttpDestination::new(
                client.clone(),
                &c.uri,
                c.export_format,
            ))),
        });
    }
    for c in &e.kinesis {
        out.push(Wanted {
            kind: ExportKind::Kinesis,
            identifier: c.identifier.clone(),
            spec: spec(
                c.batch_size,
                500,
                c.batch_interval_millis,
                c.priority,
                c.disabled,
            ),
            start: start(c.start_sequence_number),
            dest: Ok(Destination::Kinesis(KinesisDestination {
                aws: aws.clone(),
                stream: c.kinesis_stream_name.clone(),
            })),
        });
    }
    for c in &e.iot_analytics {
        out.push(Wanted {
            kind: ExportKind::IoTAnalytics,
            identifier: c.identifier.clone(),
            spec: spec(
                c.batch_size,
                100,
                c.batch_interval_millis,
                c.priority,
                c.disabled,
            ),
            start: start(c.start_sequence_number),
            dest: Ok(Destination::IotAnalytics(IotAnalyticsDestination {
                aws: aws.clone(),
                channel: c.iot_channel.clone(),
                prefix: c.iot_msg_id_prefix.clone(),
            })),
        });
    }
    for c in &e.iot_sitewise {
        let spec = spec(
            c.batch_size,
            10,
            c.batch_interval_millis,
            c.priority,
            c.disabled,
        );
        out.push(Wanted {
            kind: ExportKind::IoTSiteWise,
            identifier: c.identifier.clone(),
            spec,
            start: start(c.start_sequence_number),
            dest: Ok(Destination::SiteWise(SiteWiseDestination {
                aws: aws.clone(),
                batch_size: spec.batch_size as usize,
            })),
        });
    }
    for c in &e.s3_task_executor {
        out.push(Wanted {
            kind: ExportKind::S3TaskExecutor,
            identifier: c.identifier.clone(),
            // One task at a time, in order.
            spec: spec(Some(1), 1, None, c.priority, c.disabled),
            start: 0,
            dest: Ok(Destination::S3(s3::S3Destination {
                aws: aws.clone(),
                store: store.clone(),
                export: c.identifier.clone(),
                threshold: c
                    .size_threshold_for_multipart_upload_bytes
                    .unwrap_or(sm_model::defaults::MULTIPART_THRESHOLD)
                    .max(0) as u64,
                min_part: s3_config.min_part_size,
                status: c.status_config.as_ref().and_then(|sc| {
                    sc.status_stream_name
                        .clone()
                        .map(|n| (n, sc.status_level.unwrap_or(sm_model::StatusLevel::Info)))
                }),
                allowed_dirs: s3_config.allowed_dirs.clone(),
                cancelled: std::sync::atomic::AtomicBool::new(false),
            })),
        });
    }
    out
}

/// The export manager.
pub struct Manager {
    store: Arc<Store>,
    config: ExportConfig,
    client: reqwest::Client,
    aws: Arc<Aws>,
    telemetry: Arc<Counters>,
    sched: Scheduler,
    entries: HashMap<ExportKey, Entry>,
    by_name: BTreeMap<(String, String), ExportKey>,
    next_key: ExportKey,
    generation: u64,
    tx: mpsc::UnboundedSender<Report>,
    rx: mpsc::UnboundedReceiver<Report>,
}

impl Manager {
    /// A manager over the store's streams.
    pub fn new(
        store: Arc<Store>,
        telemetry: Arc<Counters>,
        config: ExportConfig,
        aws: crate::aws::AwsSettings,
    ) -> anyhow::Result<Self> {
        let (tx, rx) = mpsc::unbounded_channel();
        let limits = Limits {
            max_in_flight: config.max_in_flight.max(1),
            bandwidth_bytes_per_sec: config
                .max_bandwidth_kbps
                .map(|k| k.saturating_mul(1000) / 8),
        };
        Ok(Self {
            store,
            client: crate::net::http_client(&aws.net, config.http_timeout)?,
            config,
            aws: Arc::new(Aws::new(aws)?),
            telemetry,
            sched: Scheduler::new(limits, clock::now_ms()),
            entries: HashMap::new(),
            by_name: BTreeMap::new(),
            next_key: 1,
            generation: 0,
            tx,
            rx,
        })
    }

    /// Runs until the task is aborted.
    pub async fn run(mut self) {
        let store = self.store.clone();
        let activity = store.activity();
        loop {
            // Read before looking: an append or definition change after it ends the wait.
            let seen = activity.version();
            let now = clock::now_ms();
            let generation = self.store.generation();
            if generation != self.generation {
                self.generation = generation;
                self.sync();
            }
            self.refresh(now);
            while let Some(order) = self.sched.poll_send(now) {
                self.dispatch(order, now);
            }
            let wait = self.sched.poll_timeout(now).map(|t| {
                Duration::from_millis(t.saturating_sub(now).clamp(1, MAX_BACKOFF_MS as i64) as u64)
            });
            tokio::select! {
                () = activity.changed(seen) => {}
                Some(r) = self.rx.recv() => self.on_report(r),
                () = sleep_or_forever(wait) => {}
            }
            // Apply every report already waiting before looking again.
            while let Ok(r) = self.rx.try_recv() {
                self.on_report(r);
            }
        }
    }

    /// Makes the set of exports match the stream definitions.
    fn sync(&mut self) {
        let mut seen = Vec::new();
        for stream in self.store.streams() {
            let Some(def) = stream.definition() else {
                continue;
            };
            let persist = def.persistence != Some(Persistence::Memory);
            for w in wanted(&def, &self.client, &self.aws, &self.store, &self.config.s3) {
                let name = (def.name.clone(), w.identifier.clone());
                seen.push(name.clone());
                let existing = self.by_name.get(&name).copied().filter(|k| {
                    self.entries
                        .get(k)
                        .is_some_and(|e| Arc::ptr_eq(&e.stream, &stream))
                });
                let dest = match w.dest {
                    Ok(d) => d,
                    Err(msg) => {
                        // Not exportable yet: visible in describe, never scheduled.
                        if let Some(k) = existing {
                            self.drop_entry(k, false);
                        }
                        let mut p = stream
                            .export_progress(&w.identifier)
                            .unwrap_or_else(|| ExportProgress::new(&w.identifier, w.start));
                        if p.error_message.as_deref() != Some(msg.as_str()) {
                            warn!(stream = %def.name, export = %w.identifier, "{msg}");
                            p.error_message = Some(msg);
                            let _ = stream.set_export_progress(p, Persist::No);
                        }
                        continue;
                    }
                };
                match existing {
                    Some(k) => {
                        let e = self.entries.get_mut(&k).expect("checked above");
                        e.dest = Arc::new(dest);
                        self.sched.upsert(k, w.spec, e.progress.cursor);
                        if w.start != e.start {
                            info!(stream = %e.stream_name, export = %e.identifier, from = w.start, "startSequenceNumber changed; the export restarts there");
                            e.start = w.start;
                            e.progress.cursor = w.start;
                            e.progress.start_sequence_number = w.start;
                            e.progress.moved_at = clock::now_ms();
                            e.batch = None;
                            self.sched.set_cursor(k, w.start);
                            save(e, clock::now_ms(), true);
                        }
                    }
                    None => {
                        let mut progress = stream
                            .export_progress(&w.identifier)
                            .filter(|p| p.start_sequence_number == w.start)
                            .unwrap_or_else(|| ExportProgress::new(&w.identifier, w.start));
                        progress.moved_at = clock::now_ms();
                        let key = self.next_key;
                        self.next_key += 1;
                        self.sched.upsert(key, w.spec, progress.cursor);
                        debug!(stream = %def.name, export = %w.identifier, cursor = progress.cursor, "export started");
                        let entry = Entry {
                            kind: w.kind,
                            stream: stream.clone(),
                            stream_name: def.name.clone(),
                            identifier: w.identifier.clone(),
                            start: w.start,
                            persist,
                            dest: Arc::new(dest),
                            progress,
                            batch: None,
                            backoff: Backoff::new(
                                self.config.retry_base.as_millis() as u64,
                                MAX_BACKOFF_MS,
                            ),
                            durable_at: 0,
                        };
                        let _ = entry
                            .stream
                            .set_export_progress(entry.progress.clone(), Persist::No);
                        self.entries.insert(key, entry);
                        self.by_name.insert(name, key);
                    }
                }
            }
        }
        let gone: Vec<ExportKey> = self
            .by_name
            .iter()
            .filter(|(n, _)| !seen.contains(n))
            .map(|(_, k)| *k)
            .collect();
        for k in gone {
            self.drop_entry(k, true);
        }
    }

    fn drop_entry(&mut self, key: ExportKey, forget_progress: bool) {
        self.sched.remove(key);
        if let Some(e) = self.entries.remove(&key) {
            self.by_name
                .remove(&(e.stream_name.clone(), e.identifier.clone()));
            if forget_progress {
                info!(stream = %e.stream_name, export = %e.identifier, "export removed");
                if let (Destination::S3(_), Some(batch)) = (&*e.dest, &e.batch) {
                    // An S3 task was under way: stop it and report it Canceled.
                    let dest = e.dest.clone();
                    let messages = batch.messages.clone();
                    let stream = e.stream_name.clone();
                    tokio::spawn(async move {
                        if let Destination::S3(d) = &*dest {
                            for m in messages.iter() {
                                d.cancel(&stream, m).await;
                            }
                        }
                    });
                }
                if let Err(err) = e.stream.remove_export_progress(&e.identifier) {
                    warn!(stream = %e.stream_name, export = %e.identifier, "could not delete the checkpoint: {err}");
                }
            }
        }
    }

    /// Tells the scheduler how far each stream has grown.
    fn refresh(&mut self, now: i64) {
        for (&k, e) in &self.entries {
            if let Some((next, _oldest)) = e.stream.bounds() {
                self.sched
                    .handle_stream(k, next, |seq| e.stream.ingest_time_at(seq), now);
            }
        }
    }

    fn dispatch(&mut self, order: SendOrder, now: i64) {
        let Some(e) = self.entries.get_mut(&order.key) else {
            self.sched.handle_done(
                order.key,
                Done::Progress {
                    cursor: order.from_seq,
                    bytes: 0,
                },
                now,
            );
            return;
        };
        if e.batch.is_some() {
            // Sending (what is left of) a batch that was already attempted.
            e.progress.retries += 1;
        } else {
            match e.stream.try_read(
                order.from_seq,
                1,
                order.max_messages,
                MAX_BATCH_BYTES,
                MAX_BATCH_BYTES,
            ) {
                Ok(ReadOutcome::Messages(m)) if !m.is_empty() => {
                    let first = m[0].seq as u64;
                    if first > order.from_seq {
                        let lost = first - order.from_seq;
                        warn!(stream = %e.stream_name, export = %e.identifier, from = order.from_seq, to = first - 1, "{lost} messages were removed by retention before they were exported; skipping them");
                        e.progress.skipped_messages += lost;
                        e.progress.cursor = first;
                        e.progress.moved_at = now;
                    }
                    let state =
                        BatchState::new(m.iter().map(|x| (x.seq as u64, x.payload.len() as u64)));
                    e.batch = Some(InFlight {
                        state,
                        messages: Arc::new(m),
                    });
                }
                Ok(_) => {
                    self.sched.handle_done(
                        order.key,
                        Done::Progress {
                            cursor: order.from_seq,
                            bytes: 0,
                        },
                        now,
                    );
                    return;
                }
                Err(err) => {
                    warn!(stream = %e.stream_name, export = %e.identifier, "cannot read the next batch: {err}");
                    e.progress.error_message = Some(err.to_string());
                    e.progress.last_export_time = now;
                    e.progress.errors += 1;
                    let _ = e
                        .stream
                        .set_export_progress(e.progress.clone(), Persist::No);
                    let delay = e.backoff.next_delay_ms(random());
                    self.sched.handle_done(
                        order.key,
                        Done::Retry {
                            cursor: e.progress.cursor,
                            bytes: 0,
                            delay_ms: delay,
                        },
                        now,
                    );
                    return;
                }
            }
        }
        let batch = e.batch.as_ref().expect("set above");
        let sent = batch.state.to_send();
        let messages = batch.messages.clone();
        let dest = e.dest.clone();
        let stream = e.stream_name.clone();
        let tx = self.tx.clone();
        let key = order.key;
        tokio::spawn(async move {
            let refs: Vec<&OwnedMessage> = sent.iter().map(|&i| &messages[i]).collect();
            let result = dest.send(&stream, &refs).await;
            let _ = tx.send(Report { key, sent, result });
        });
    }

    fn on_report(&mut self, r: Report) {
        let now = clock::now_ms();
        let Some(e) = self.entries.get_mut(&r.key) else {
            return;
        };
        let Some(batch) = e.batch.as_mut() else {
            self.sched.handle_done(
                r.key,
                Done::Progress {
                    cursor: e.progress.cursor,
                    bytes: r.result.bytes,
                },
                now,
            );
            return;
        };
        let s = batch
            .state
            .settle(&r.sent, &r.result.outcomes, &r.result.whole_error);
        let done = batch.state.is_done();
        let p = &mut e.progress;
        p.last_export_time = now;
        if let Some(c) = s.checkpoint.filter(|&c| c > p.cursor) {
            p.cursor = c;
            p.moved_at = now;
        }
        p.exported_messages += s.delivered;
        p.exported_bytes += s.delivered_bytes;
        self.telemetry.uploaded(e.kind, s.delivered_bytes);
        p.skipped_messages += s.skipped.len() as u64;
        for (seq, err) in &s.skipped {
            warn!(stream = %e.stream_name, export = %e.identifier, seq, "message skipped (not retryable): {err}");
        }
        let done_msg = match &s.retry_error {
            Some(err) => {
                if s.delivered > 0 || !s.skipped.is_empty() {
                    // The destination works, it just refused some records: start the backoff
                    // over instead of slowing down a flow that is making progress.
                    e.backoff.reset();
                }
                let mut delay = e.backoff.next_delay_ms(random());
                if r.result.slow {
                    // Needs a fix outside: try again rarely (but keep trying).
                    let slow = (self.config.retry_base.as_millis() as u64)
                        .saturating_mul(60)
                        .min(MAX_BACKOFF_MS);
                    delay = delay.max(slow);
                }
                warn!(stream = %e.stream_name, export = %e.identifier, attempt = e.backoff.attempts(), retry_in_ms = delay, "export failed: {err}");
                p.error_message = Some(err.clone());
                p.errors += 1;
                Done::Retry {
                    cursor: p.cursor,
                    bytes: r.result.bytes,
                    delay_ms: delay,
                }
            }
            None => {
                p.error_message = s.skipped.last().map(|(_, e)| e.clone());
                e.backoff.reset();
                Done::Progress {
                    cursor: p.cursor,
                    bytes: r.result.bytes,
                }
            }
        };
        if done {
            e.batch = None;
        }
        // Durable when the export has caught up (or at least every second while it is busy);
        // in between, a crash-safe replace keeps the hot path free of fsyncs.
        let caught_up = e
            .stream
            .bounds()
            .is_none_or(|(next, _)| e.progress.cursor >= next);
        save(e, now, caught_up);
        self.sched.handle_done(r.key, done_msg, now);
    }
}

/// Publishes an entry's progress to its stream and, for File streams, to its checkpoint:
/// durably when asked or when the last durable save is older than [`DURABLE_EVERY_MS`].
fn save(e: &mut Entry, now: i64, durable: bool) {
    let persist = if !e.persist {
        Persist::No
    } else if durable || now - e.durable_at >= DURABLE_EVERY_MS {
        e.durable_at = now;
        Persist::Durable
    } else {
        Persist::Fast
    };
    let result =
        tokio::task::block_in_place(|| e.stream.set_export_progress(e.progress.clone(), persist));
    if let Err(err) = result {
        warn!(stream = %e.stream_name, export = %e.identifier, "could not save the export checkpoint: {err}");
    }
}

async fn sleep_or_forever(d: Option<Duration>) {
    match d {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}
