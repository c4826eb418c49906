//! The export executor: runs `sm-export`'s [`Engine`] with real time and carries out its
//! actions. It decides nothing: what to send, when, how answers are read, what is retried or
//! skipped and when progress is saved are the engine's; this module reads batches from the
//! store, sends calls (signing AWS ones) with reqwest, reads S3 task files, saves checkpoints
//! and upload states, and appends status messages.
//!
//! One task runs the loop: hand the engine the stream definitions when they change and every
//! stream's bounds, carry out every action it polls (calls and file reads in tasks of their
//! own, whose results come back through a channel), and sleep until its next deadline, an
//! append, a definition change or a result.

mod net;

use std::sync::Arc;
use std::time::Duration;

use sm_export::{
    Action, Bounds, Engine, FileInfo, IoFailure, OpId, OpResult, Record, StreamDef, StreamId,
};
use tokio::sync::mpsc;
use tracing::warn;

use crate::aws::Aws;
use crate::clock;
use crate::store::{ReadOutcome, Store, Stream};
use crate::telemetry::Counters;
pub(crate) use net::{read_body, transport};

/// The streams the engine knows, by the id it knows them by.
#[derive(Default)]
struct Streams {
    next: u64,
    held: Vec<(Arc<Stream>, StreamId)>,
}

impl Streams {
    fn get(&self, id: StreamId) -> Option<&Arc<Stream>> {
        self.held.iter().find(|(_, i)| *i == id).map(|(s, _)| s)
    }
}

/// The export manager.
pub struct Manager {
    store: Arc<Store>,
    telemetry: Arc<Counters>,
    engine: Engine,
    aws: Arc<Aws>,
    streams: Streams,
    generation: u64,
    tx: mpsc::UnboundedSender<(OpId, OpResult)>,
    rx: mpsc::UnboundedReceiver<(OpId, OpResult)>,
    status: mpsc::UnboundedSender<(String, Vec<u8>)>,
}

/// The engine's seed (its jitter and partition keys), from the process's random state.
fn seed() -> u64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(0)
}

impl Manager {
    /// A manager over the store's streams, with the engine's settings (`config`; the region,
    /// endpoints and Kinesis limits come from `aws`).
    pub fn new(
        store: Arc<Store>,
        telemetry: Arc<Counters>,
        config: sm_export::Config,
        aws: crate::aws::AwsSettings,
    ) -> anyhow::Result<Self> {
        let aws = Aws::new(aws);
        let config = sm_export::Config {
            region: aws.region().ok(),
            endpoints: aws.settings.endpoints.clone(),
            kinesis_limits: aws.settings.kinesis_limits.unwrap_or(config.kinesis_limits),
            seed: seed(),
            ..config
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let (status, status_rx) = mpsc::unbounded_channel();
        tokio::spawn(append_statuses(store.clone(), status_rx));
        Ok(Self {
            engine: Engine::new(config, clock::now_ms()),
            aws: Arc::new(aws),
            store,
            telemetry,
            streams: Streams::default(),
            generation: 0,
            tx,
            rx,
            status,
        })
    }

    /// Runs until the task is aborted.
    pub async fn run(mut self) {
        let store = self.store.clone();
        let activity = store.activity();
        loop {
            // Read before looking, so that an append while we look wakes the wait below.
            let seen = activity.version();
            let now = clock::now_ms();
            let generation = self.store.generation();
            if generation != self.generation {
                self.generation = generation;
                self.sync(now);
            }
            for (stream, id) in &self.streams.held {
                if let Some((next, oldest)) = stream.bounds() {
                    let bounds = Bounds { oldest, next };
                    self.engine
                        .handle_bounds(now, *id, bounds, |seq| stream.ingest_time_at(seq));
                }
            }
            while let Some(action) = self.engine.poll_action(now) {
                self.execute(now, action);
            }
            let wait = self.engine.poll_timeout().map(|t| {
                Duration::from_millis(
                    t.saturating_sub(now)
                        .clamp(1, sm_export::MAX_BACKOFF_MS as i64) as u64,
                )
            });
            tokio::select! {
                () = activity.changed(seen) => {}
                Some((op, r)) = self.rx.recv() => self.engine.handle_result(clock::now_ms(), op, r),
                () = sleep_or_forever(wait) => {}
            }
            // Hand over every result already waiting before looking again.
            while let Ok((op, r)) = self.rx.try_recv() {
                self.engine.handle_result(clock::now_ms(), op, r);
            }
        }
    }

    /// Hands the engine every stream's definition and its exports' saved progress.
    fn sync(&mut self, now: i64) {
        let mut defs = Vec::new();
        let mut held = Vec::new();
        for stream in self.store.streams() {
            let Some(definition) = stream.definition() else {
                continue;
            };
            let id = match self
                .streams
                .held
                .iter()
                .find(|(s, _)| Arc::ptr_eq(s, &stream))
            {
                Some((_, id)) => *id,
                None => {
                    self.streams.next += 1;
                    StreamId(self.streams.next)
                }
            };
            let saved = definition
                .exports()
                .iter()
                .filter_map(|e| {
                    stream
                        .export_progress(e.identifier)
                        .map(|p| (e.identifier.to_owned(), p))
                })
                .collect();
            defs.push(StreamDef {
                id,
                definition,
                saved,
            });
            held.push((stream, id));
        }
        // Deleted streams stay held until the engine has let go of their exports.
        let keep: Vec<StreamId> = held.iter().map(|(_, id)| *id).collect();
        let old = std::mem::replace(&mut self.streams.held, held);
        self.streams
            .held
            .extend(old.into_iter().filter(|(_, id)| !keep.contains(id)));
        self.engine.handle_streams(now, defs);
        while let Some(action) = self.engine.poll_action(now) {
            self.execute(now, action);
        }
        self.streams.held.retain(|(_, id)| keep.contains(id));
    }

    fn execute(&mut self, now: i64, action: Action) {
        match action {
            Action::Read {
                op,
                stream,
                from,
                max_messages,
                max_bytes,
            } => {
                let r = match self.streams.get(stream) {
                    Some(s) => read(s, from, max_messages, max_bytes),
                    None => Ok(Vec::new()),
                };
                self.engine.handle_result(now, op, OpResult::Read(r));
            }
            Action::Call { op, call } => {
                let (aws, tx) = (self.aws.clone(), self.tx.clone());
                tokio::spawn(async move {
                    let r = net::send(&aws, call).await;
                    let _ = tx.send((op, OpResult::Call(r)));
                });
            }
            Action::Stat { op, path } => self.blocking(op, move || OpResult::Stat(stat(&path))),
            Action::ReadFile {
                op,
                path,
                offset,
                len,
            } => self.blocking(op, move || OpResult::File(read_file(&path, offset, len))),
            Action::LoadUploadState { op, stream, export } => {
                let r = Ok(self
                    .streams
                    .get(stream)
                    .and_then(|s| s.upload_state(&export)));
                self.engine.handle_result(now, op, OpResult::UploadState(r));
            }
            Action::SaveUploadState {
                stream,
                export,
                state,
            } => {
                if let Some(s) = self.streams.get(stream) {
                    let r = tokio::task::block_in_place(|| match &state {
                        Some(bytes) => s.set_upload_state(&export, bytes),
                        None => s.clear_upload_state(&export),
                    });
                    warn_failed(r, s, &export, "save the upload's resume state");
                }
            }
            Action::SaveProgress {
                stream,
                kind,
                progress,
                persist,
                delivered_bytes,
            } => {
                self.telemetry.uploaded(kind, delivered_bytes);
                if let Some(s) = self.streams.get(stream) {
                    let id = progress.identifier.clone();
                    let r =
                        tokio::task::block_in_place(|| s.set_export_progress(progress, persist));
                    warn_failed(r, s, &id, "save the export checkpoint");
                }
            }
            Action::RemoveProgress { stream, export } => {
                if let Some(s) = self.streams.get(stream) {
                    warn_failed(
                        s.remove_export_progress(&export),
                        s,
                        &export,
                        "delete the checkpoint",
                    );
                }
            }
            Action::AppendStatus { stream, payload } => {
                let _ = self.status.send((stream, payload));
            }
        }
    }

    fn blocking(&self, op: OpId, f: impl FnOnce() -> OpResult + Send + 'static) {
        let tx = self.tx.clone();
        tokio::task::spawn_blocking(move || {
            let _ = tx.send((op, f()));
        });
    }
}

fn warn_failed(r: Result<(), crate::store::StoreError>, s: &Stream, export: &str, what: &str) {
    if let Err(e) = r {
        warn!(stream = %s.name(), export, "could not {what}: {e}");
    }
}

/// A batch from the stream: at least one message when any is there from `from` on.
fn read(s: &Stream, from: u64, max: u64, max_bytes: u64) -> Result<Vec<Record>, IoFailure> {
    match s.try_read(from, 1, max.max(1), max_bytes, max_bytes.max(1 << 30)) {
        Ok(ReadOutcome::Messages(m)) => Ok(m
            .into_iter()
            .map(|m| Record {
                seq: m.seq as u64,
                ingest_time: m.ingest_time,
                payload: m.payload,
            })
            .collect()),
        Ok(ReadOutcome::NotEnough) => Ok(Vec::new()),
        Err(e) => Err(IoFailure::of(e)),
    }
}

fn stat(path: &std::path::Path) -> Result<FileInfo, IoFailure> {
    use std::os::unix::fs::MetadataExt;
    let fail =
        |e: std::io::Error| IoFailure::of(format_args!("cannot read {}: {e}", path.display()));
    let real = std::fs::canonicalize(path).map_err(fail)?;
    let md = std::fs::metadata(&real).map_err(fail)?;
    Ok(FileInfo {
        path: real,
        size: md.len(),
        mtime_ns: md.mtime() * 1_000_000_000 + md.mtime_nsec(),
        is_file: md.is_file(),
    })
}

fn read_file(path: &std::path::Path, offset: u64, len: u64) -> Result<Vec<u8>, IoFailure> {
    use std::os::unix::fs::FileExt;
    let f = std::fs::File::open(path).map_err(IoFailure::of)?;
    let mut body = vec![0u8; usize::try_from(len).map_err(IoFailure::of)?];
    f.read_exact_at(&mut body, offset).map_err(IoFailure::of)?;
    Ok(body)
}

/// Appends status messages in the order the engine wrote them.
async fn append_statuses(store: Arc<Store>, mut rx: mpsc::UnboundedReceiver<(String, Vec<u8>)>) {
    while let Some((name, payload)) = rx.recv().await {
        match store.get(&name) {
            Ok(s) => {
                // Blocking: a flushOnWrite status stream waits for its fsync (rare messages).
                let appended = tokio::task::spawn_blocking(move || s.append(&payload)).await;
                if let Ok(Err(e)) = appended {
                    warn!(status_stream = %name, "could not write a status message: {e}");
                }
            }
            Err(_) => {
                warn!(status_stream = %name, "the status stream does not exist; create it before the export")
            }
        }
    }
}

async fn sleep_or_forever(d: Option<Duration>) {
    match d {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}
