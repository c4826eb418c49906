//! The streams of the daemon: definitions, logs and their storage, and the operations on them.

pub mod checkpoints;
mod commit;
mod durability;
pub mod faults;
pub mod fsutil;
mod segments;

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use sm_log::{decode_records, Full, LogSettings, RecoveryAction, ScanStop, StreamLog};
use sm_model::defaults::{self, StorageSettings};
use sm_model::update::{check_update, CurrentState};
use sm_model::{
    validate, ExportStatus, MessageStreamDefinition, MessageStreamInfo, Persistence,
    ResponseStatusCode, StorageStatus, StrategyOnFull,
};
use tokio::sync::{watch, Notify};
use tracing::{info, warn};

use crate::clock;
use checkpoints::ExportProgress;
use commit::GroupCommit;
use faults::Faults;
use fsutil::{folder_for, write_atomic, DEFINITION_FILE, TRASH_PREFIX};
use segments::{FileSegments, Segments};

/// An operation's failure: the status to answer and the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpError {
    /// Response status.
    pub status: ResponseStatusCode,
    /// `errorMessage`.
    pub message: String,
}

impl OpError {
    /// A failure with this status and message.
    pub fn new(status: ResponseStatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    fn not_found(name: &str) -> Self {
        Self::new(
            ResponseStatusCode::ResourceNotFound,
            format!("stream {name:?} does not exist"),
        )
    }

    fn io(what: &str, name: &str, e: &io::Error) -> Self {
        Self::new(
            ResponseStatusCode::UnknownFailure,
            format!("{what} of stream {name:?} failed: {e}"),
        )
    }
}

impl From<validate::ValidationError> for OpError {
    fn from(e: validate::ValidationError) -> Self {
        Self::new(ResponseStatusCode::InvalidRequest, e.message())
    }
}

/// The persisted form of a definition (`stream.json`).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DefinitionFile {
    format_version: u32,
    definition: MessageStreamDefinition,
}

fn log_settings(def: &MessageStreamDefinition) -> LogSettings {
    let s = StorageSettings::of(def);
    LogSettings {
        max_size: s.max_size,
        segment_size: s.segment_size,
        full: match s.strategy {
            StrategyOnFull::RejectNewData => Full::Reject,
            StrategyOnFull::OverwriteOldestData => Full::Overwrite,
        },
        ttl_millis: s.ttl_millis,
    }
}

struct State {
    def: MessageStreamDefinition,
    log: StreamLog,
    segments: Segments,
    deleted: bool,
}

/// One stream.
pub struct Stream {
    name: String,
    dir: Option<PathBuf>,
    state: Mutex<State>,
    /// Bumped after every append and on delete, to wake long-poll readers.
    changed: watch::Sender<u64>,
    /// Progress of each export, by identifier (kept by the export manager).
    exports: Mutex<BTreeMap<String, ExportProgress>>,
    /// Wakes the export manager (shared by all streams of a store).
    activity: Arc<Notify>,
    /// Group commit of flushOnWrite appends.
    commit: GroupCommit,
    /// Appends acknowledged since the daemon started (metrics).
    appends: AtomicU64,
    /// Payload bytes of those appends (metrics).
    appended_bytes: AtomicU64,
}

/// One export as the metrics endpoint sees it.
#[derive(Debug, Clone)]
pub struct ObservedExport {
    /// Destination kind.
    pub kind: sm_model::ExportKind,
    /// Configured `disabled`.
    pub disabled: bool,
    /// Its progress (the same describe shows), runtime counters included.
    pub progress: ExportProgress,
}

/// A stream as the metrics endpoint sees it, taken under one lock.
#[derive(Debug, Clone)]
pub struct Observed {
    /// The describe answer (without telemetry): storage status and export statuses.
    pub info: MessageStreamInfo,
    /// Each export, in the order of `info.export_statuses`.
    pub exports: Vec<ObservedExport>,
    /// Appends acknowledged since the daemon started.
    pub appends: u64,
    /// Their payload bytes.
    pub appended_bytes: u64,
    /// Fsyncs group commit ran for flushOnWrite appends.
    pub fsyncs: u64,
}

/// How an export checkpoint is saved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persist {
    /// Only in memory (Memory streams, or progress that is not a checkpoint).
    No,
    /// Atomic replace without fsync: survives a process crash.
    Fast,
    /// Atomic replace with fsync: survives a power loss too.
    Durable,
}

/// One message read back, owning its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedMessage {
    /// Sequence number.
    pub seq: i64,
    /// Ingest time, ms.
    pub ingest_time: i64,
    /// Payload (a slice of the bytes read from the segment).
    pub payload: Bytes,
}

/// Payloads written by [`Stream::write_batch`], not yet acknowledged.
#[derive(Debug)]
#[must_use = "a written batch is acknowledged by Stream::settle"]
pub struct WrittenBatch {
    /// Each payload's sequence number or error, in order.
    results: Vec<Result<i64, OpError>>,
    /// Each payload's length.
    lens: Vec<u64>,
    /// The newest record written when the stream flushes on write: acknowledgements wait
    /// until it is durable.
    sync_upto: Option<u64>,
}

/// What a read attempt found.
pub enum ReadOutcome {
    /// Enough messages.
    Messages(Vec<OwnedMessage>),
    /// Fewer than the minimum are there.
    NotEnough,
}

impl Stream {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the log half-applied (plans are applied
        // after their IO succeeds), so a poisoned lock is still consistent.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The stream name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Subscribes to append notifications.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Appends one validated payload; returns its sequence number once it is stored (and
    /// durable, with flushOnWrite).
    pub async fn append(&self, payload: &[u8]) -> Result<i64, OpError> {
        let written = self.write_batch(&[payload]);
        self.settle(written)
            .await
            .pop()
            .expect("one result per payload")
    }

    /// Writes validated payloads in order, each run of records that fits the active segment
    /// with one vectored write (the others one by one, with their segment roll or eviction),
    /// under one hold of the stream's lock. Nothing is acknowledged yet: pass the result to
    /// [`Self::settle`].
    pub fn write_batch<P: AsRef<[u8]>>(&self, payloads: &[P]) -> WrittenBatch {
        let mut results = Vec::with_capacity(payloads.len());
        let lens: Vec<u64> = payloads.iter().map(|p| p.as_ref().len() as u64).collect();
        let (sync, newest) = {
            let mut st = self.lock();
            if st.deleted {
                results.resize(payloads.len(), Err(OpError::not_found(&self.name)));
                return WrittenBatch {
                    results,
                    lens: Vec::new(),
                    sync_upto: None,
                };
            }
            let now = clock::now_ms();
            let mut newest = None;
            let mut i = 0;
            while i < payloads.len() {
                let st = &mut *st;
                let run = st.log.plan_run(&lens[i..], now);
                if !run.is_empty() {
                    let n = run.len();
                    match st.segments.execute_run(&run, &payloads[i..i + n]) {
                        Ok(()) => {
                            for plan in &run {
                                st.log.apply_append(plan);
                                results.push(Ok(plan.seq as i64));
                            }
                            newest = Some(run[n - 1].seq);
                        }
                        Err(e) => {
                            let e = OpError::io("append", &self.name, &e);
                            results.resize(results.len() + n, Err(e));
                        }
                    }
                    i += n;
                    continue;
                }
                let one = st
                    .log
                    .plan_append(lens[i], now)
                    .map_err(|e| {
                        OpError::new(
                            ResponseStatusCode::InvalidRequest,
                            format!("cannot append to stream {:?}: {e}", self.name),
                        )
                    })
                    .and_then(|plan| {
                        st.segments
                            .execute_append(&plan, payloads[i].as_ref())
                            .map_err(|e| OpError::io("append", &self.name, &e))?;
                        st.log.apply_append(&plan);
                        Ok(plan.seq)
                    });
                if let Ok(seq) = one {
                    newest = Some(seq);
                }
                results.push(one.map(|seq| seq as i64));
                i += 1;
            }
            let flush = StorageSettings::of(&st.def).flush_on_write;
            (flush && matches!(st.segments, Segments::File(_)), newest)
        };
        if newest.is_some() {
            // Long-poll readers subscribe before they look, so with none subscribed there is
            // no one to wake (and no version to bump for a reader yet to come).
            if self.changed.receiver_count() > 0 {
                self.changed.send_modify(|v| *v += 1);
            }
            self.activity.notify_one();
        }
        WrittenBatch {
            results,
            lens,
            sync_upto: newest.filter(|_| sync),
        }
    }

    /// Acknowledges a written batch: waits until its records are durable when the stream
    /// flushes on write (a failed fsync fails every record it covered), counts the appends
    /// and returns each payload's sequence number or error, in order.
    pub async fn settle(&self, written: WrittenBatch) -> Vec<Result<i64, OpError>> {
        let WrittenBatch {
            mut results,
            lens,
            sync_upto,
        } = written;
        if let Some(seq) = sync_upto {
            let records = results.iter().filter(|r| r.is_ok()).count() as u64;
            let durable = self
                .commit
                .wait_durable(seq, records, || self.sync_snapshot());
            if let Err(e) = durable.await {
                let e = OpError::io("fsync", &self.name, &e);
                for r in results.iter_mut().filter(|r| r.is_ok()) {
                    *r = Err(e.clone());
                }
            }
        }
        let (mut acked, mut bytes) = (0, 0);
        for (_, len) in results.iter().zip(&lens).filter(|(r, _)| r.is_ok()) {
            acked += 1;
            bytes += len;
        }
        self.appends.fetch_add(acked, Ordering::Relaxed);
        self.appended_bytes.fetch_add(bytes, Ordering::Relaxed);
        results
    }

    /// One attempt at a read: at least `min` and at most `max` messages from `start`.
    pub fn try_read(
        &self,
        start: u64,
        min: u64,
        max: u64,
        soft_bytes: u64,
        hard_bytes: u64,
    ) -> Result<ReadOutcome, OpError> {
        let mut st = self.lock();
        if st.deleted {
            return Err(OpError::not_found(&self.name));
        }
        let mut plan = self.plan_read_indexed(&mut st, start, max, soft_bytes)?;
        if plan.count < min && plan.limited_by_bytes {
            plan = self.plan_read_indexed(&mut st, start, min, hard_bytes)?;
            if plan.count < min && plan.limited_by_bytes {
                return Err(OpError::new(
                    ResponseStatusCode::ResponsePayloadTooLarge,
                    format!(
                        "{min} messages from sequence number {start} would exceed the response limit of {hard_bytes} bytes"
                    ),
                ));
            }
        }
        if plan.count < min {
            return Ok(ReadOutcome::NotEnough);
        }
        let mut out = Vec::with_capacity(plan.count as usize);
        for chunk in &plan.chunks {
            let bytes = st.segments.read(chunk).map_err(|e| {
                OpError::new(
                    ResponseStatusCode::MessageStoreReadError,
                    format!("reading stream {:?} failed: {e}", self.name),
                )
            })?;
            let bytes = Bytes::from(bytes);
            match decode_records(&bytes, chunk.first_seq, chunk.count) {
                Ok(records) => out.extend(records.into_iter().map(|r| OwnedMessage {
                    seq: r.seq as i64,
                    ingest_time: r.ingest_time,
                    payload: bytes.slice_ref(r.payload),
                })),
                Err(e) => {
                    // A record went bad after its segment was indexed: re-index the segment
                    // (marking the damage, reported once) and answer with the rest. If the
                    // index finds nothing new, the read itself is unreliable.
                    if self.reindex(&mut st, chunk.segment)? {
                        drop(st);
                        return self.try_read(start, min, max, soft_bytes, hard_bytes);
                    }
                    return Err(OpError::new(
                        ResponseStatusCode::MessageStoreReadError,
                        format!("stream {:?}: {e}", self.name),
                    ));
                }
            }
        }
        Ok(ReadOutcome::Messages(out))
    }

    /// The describe answer.
    pub fn info(&self) -> Result<MessageStreamInfo, OpError> {
        let st = self.lock();
        if st.deleted {
            return Err(OpError::not_found(&self.name));
        }
        let progress = self
            .exports
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(Self::info_of(&st, &progress))
    }

    /// Describe's answer and each export's kind and full progress, under the stream's lock
    /// (so the two agree), with the stream's counters; `None` once deleted.
    pub fn observe(&self) -> Option<Observed> {
        let st = self.lock();
        if st.deleted {
            return None;
        }
        let progress = self
            .exports
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let info = Self::info_of(&st, &progress);
        let exports = st
            .def
            .exports()
            .iter()
            .map(|e| ObservedExport {
                kind: e.kind,
                disabled: e.disabled,
                progress: Self::progress_of(e, &progress),
            })
            .collect();
        Some(Observed {
            info,
            exports,
            appends: self.appends.load(Ordering::Relaxed),
            appended_bytes: self.appended_bytes.load(Ordering::Relaxed),
            fsyncs: self.commit.fsyncs(),
        })
    }

    /// An export's recorded progress, or that of an export that has sent nothing yet.
    fn progress_of(
        e: &sm_model::ExportSummary<'_>,
        progress: &BTreeMap<String, ExportProgress>,
    ) -> ExportProgress {
        progress.get(e.identifier).cloned().unwrap_or_else(|| {
            let start = e.start_sequence_number.unwrap_or(0).max(0) as u64;
            ExportProgress::new(e.identifier, start)
        })
    }

    fn info_of(st: &State, progress: &BTreeMap<String, ExportProgress>) -> MessageStreamInfo {
        let oldest = st.log.oldest_seq() as i64;
        let export_statuses = st
            .def
            .exports()
            .iter()
            .map(|e| {
                let p = Self::progress_of(e, progress);
                ExportStatus {
                    export_config_identifier: e.identifier.to_owned(),
                    last_exported_sequence_number: p.cursor as i64 - 1,
                    last_export_time: p.last_export_time,
                    error_message: p.error_message,
                    exported_bytes_from_stream: p.exported_bytes as i64,
                    exported_messages_count: p.exported_messages as i64,
                    skipped_messages_count: p.skipped_messages as i64,
                    evicted_messages_count: p.evicted_messages as i64,
                    failed_attempts_count: p.errors as i64,
                }
            })
            .collect();
        MessageStreamInfo {
            definition: defaults::filled(&st.def),
            storage_status: StorageStatus {
                oldest_sequence_number: oldest,
                newest_sequence_number: st.log.newest_seq().map_or(oldest - 1, |n| n as i64),
                total_bytes: st.log.total_bytes() as i64,
                corrupt_records: Some(st.log.corrupt_records() as i64).filter(|&n| n > 0),
            },
            export_statuses,
            telemetry: None,
        }
    }

    /// The stream's folder (File streams).
    pub fn folder(&self) -> Option<PathBuf> {
        self.dir.clone()
    }

    /// The definition as given by the client.
    pub fn definition(&self) -> Option<MessageStreamDefinition> {
        let st = self.lock();
        (!st.deleted).then(|| st.def.clone())
    }

    /// The next sequence number and the oldest available one, or `None` once deleted.
    pub fn bounds(&self) -> Option<(u64, u64)> {
        let st = self.lock();
        (!st.deleted).then(|| (st.log.next_seq(), st.log.oldest_seq()))
    }

    /// Ingest time of the message `seq` (or the oldest after it), if stored.
    pub fn ingest_time_at(&self, seq: u64) -> Option<i64> {
        match self.try_read(seq, 1, 1, 1, 1 << 30) {
            Ok(ReadOutcome::Messages(m)) => m.first().map(|m| m.ingest_time),
            _ => None,
        }
    }

    /// The export's progress, if the export manager has recorded any.
    pub fn export_progress(&self, identifier: &str) -> Option<ExportProgress> {
        self.exports
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(identifier)
            .cloned()
    }

    /// Records an export's progress, and persists it as a checkpoint for File streams
    /// (`Persist::Fast` survives a process crash, `Persist::Durable` also a power loss).
    pub fn set_export_progress(&self, p: ExportProgress, persist: Persist) -> io::Result<()> {
        let dir = self.dir.clone();
        self.exports
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(p.identifier.clone(), p.clone());
        match (&dir, persist) {
            (Some(dir), Persist::Fast | Persist::Durable) if !self.lock().deleted => {
                checkpoints::save(dir, &p, persist == Persist::Durable)
            }
            _ => Ok(()),
        }
    }

    /// An S3 export's saved upload state (opaque bytes), if any. Memory streams keep none.
    pub fn upload_state(&self, identifier: &str) -> io::Result<Option<Vec<u8>>> {
        let Some(dir) = &self.dir else {
            return Ok(None);
        };
        match std::fs::read(checkpoints::upload_state_path(dir, identifier)) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Saves (durably: an upload is resumed from it after a power loss) or removes an S3
    /// export's upload state.
    pub fn set_upload_state(&self, identifier: &str, state: Option<&[u8]>) -> io::Result<()> {
        let Some(dir) = &self.dir else {
            return Ok(());
        };
        if self.lock().deleted {
            return Ok(());
        }
        let path = checkpoints::upload_state_path(dir, identifier);
        match state {
            Some(bytes) => fsutil::replace(&path, bytes, true),
            None => match std::fs::remove_file(&path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            },
        }
    }

    /// Forgets an export's progress and deletes its checkpoint.
    pub fn remove_export_progress(&self, identifier: &str) -> io::Result<()> {
        self.exports
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(identifier);
        match &self.dir {
            Some(dir) if !self.lock().deleted => checkpoints::remove(dir, identifier),
            _ => Ok(()),
        }
    }

    fn update(&self, new: MessageStreamDefinition) -> Result<(), OpError> {
        let mut st = self.lock();
        if st.deleted {
            return Err(OpError::not_found(&self.name));
        }
        let now = CurrentState {
            total_bytes: st.log.total_bytes(),
            newest_sequence_number: st.log.newest_seq(),
        };
        check_update(&st.def, &new, now)
            .map_err(|e| OpError::new(ResponseStatusCode::UpdateNotAllowed, e.message()))?;
        if let Some(dir) = &self.dir {
            persist_definition(dir, &new)
                .map_err(|e| OpError::io("saving the definition", &self.name, &e))?;
        }
        st.log.set_settings(log_settings(&new));
        if let Some(files) = st.segments.file() {
            files.configure(&StorageSettings::of(&new));
        }
        st.def = new;
        let plan = st.log.plan_shrink();
        if !plan.is_empty() {
            st.segments
                .execute_retention(&plan)
                .map_err(|e| OpError::io("shrinking", &self.name, &e))?;
            st.log.apply_retention(&plan);
        }
        Ok(())
    }

    /// Removes segments past their TTL.
    fn expire(&self, now_ms: i64) {
        let mut st = self.lock();
        if st.deleted {
            return;
        }
        self.maintain(&mut st, now_ms);
        let plan = st.log.plan_expire(now_ms);
        if plan.is_empty() {
            return;
        }
        match st.segments.execute_retention(&plan) {
            Ok(()) => {
                st.log.apply_retention(&plan);
                info!(stream = %self.name, segments = plan.evict.len(), "removed segments past their time to live");
            }
            Err(e) => warn!(stream = %self.name, "TTL removal failed: {e}"),
        }
    }

    fn sync_all(&self) -> io::Result<()> {
        let mut st = self.lock();
        st.segments.sync_all()?;
        Self::write_checkpoint(&mut st)
    }
}

fn persist_definition(dir: &Path, def: &MessageStreamDefinition) -> io::Result<()> {
    let file = DefinitionFile {
        format_version: 1,
        definition: def.clone(),
    };
    let json = serde_json::to_vec_pretty(&file).map_err(io::Error::other)?;
    write_atomic(&dir.join(DEFINITION_FILE), &json)
}

/// All streams.
pub struct Store {
    root: PathBuf,
    streams: RwLock<BTreeMap<String, Arc<Stream>>>,
    /// Serialises create and delete (folder creation and removal).
    admin: Mutex<()>,
    /// Bumped whenever a stream is created, updated or deleted.
    generation: AtomicU64,
    /// Wakes the export manager on appends and definition changes.
    activity: Arc<Notify>,
    /// The storage seam (fault injection in tests).
    faults: Arc<Faults>,
    /// Deleted streams' folders whose removal failed, retried on every TTL tick.
    pending_trash: Mutex<Vec<PathBuf>>,
}

impl Store {
    /// Opens the store at `root` (created if missing) and recovers every File stream in it.
    /// Never refuses to start over a damaged stream: it is skipped or repaired with a warning.
    pub fn open(root: &Path) -> anyhow::Result<Self> {
        Self::open_with(root, Faults::none())
    }

    /// [`Self::open`] with a storage seam (tests inject disk-full and removal failures).
    pub fn open_with(root: &Path, faults: Arc<Faults>) -> anyhow::Result<Self> {
        fs::create_dir_all(root)
            .map_err(|e| anyhow::anyhow!("cannot create store root {}: {e}", root.display()))?;
        let mut streams = BTreeMap::new();
        let activity = Arc::new(Notify::new());
        let mut folders = Vec::new();
        let mut trash = Vec::new();
        for entry in fs::read_dir(root)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            if name.starts_with(TRASH_PREFIX) {
                if let Err(e) = fs::remove_dir_all(&path) {
                    warn!(folder = %path.display(), "could not finish deleting a stream folder: {e}; will retry");
                    trash.push(path);
                }
                continue;
            }
            if !entry.file_type()?.is_dir() {
                continue;
            }
            folders.push(path);
        }
        for (path, loaded) in durability::load_all(folders, &faults, &activity) {
            match loaded {
                Ok(Some(s)) => {
                    if streams.contains_key(&s.name) {
                        warn!(folder = %path.display(), stream = %s.name, "a second folder holds the same stream; ignoring it");
                        continue;
                    }
                    streams.insert(s.name.clone(), Arc::new(s));
                }
                Ok(None) => {
                    warn!(folder = %path.display(), "folder has no {DEFINITION_FILE}; not a stream, ignoring it")
                }
                Err(e) => {
                    warn!(folder = %path.display(), "could not load stream: {e}; ignoring it")
                }
            }
        }
        info!(root = %root.display(), streams = streams.len(), "store opened");
        Ok(Self {
            root: root.to_owned(),
            streams: RwLock::new(streams),
            admin: Mutex::new(()),
            generation: AtomicU64::new(1),
            activity,
            faults,
            pending_trash: Mutex::new(trash),
        })
    }

    /// The store's root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Changes whenever a stream is created, updated or deleted.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Notified on appends and definition changes (one stored permit).
    pub fn activity(&self) -> &Arc<Notify> {
        &self.activity
    }

    fn changed(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.activity.notify_one();
    }

    /// Every stream.
    pub fn streams(&self) -> Vec<Arc<Stream>> {
        self.streams
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .values()
            .cloned()
            .collect()
    }

    /// The stream called `name`.
    pub fn get(&self, name: &str) -> Result<Arc<Stream>, OpError> {
        self.streams
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(name)
            .cloned()
            .ok_or_else(|| OpError::not_found(name))
    }

    /// Names of all streams, sorted.
    pub fn list(&self) -> Vec<String> {
        self.streams
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .keys()
            .cloned()
            .collect()
    }

    /// Creates a stream from a validated definition.
    pub fn create(&self, def: MessageStreamDefinition) -> Result<(), OpError> {
        let _admin = self
            .admin
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if self.get(&def.name).is_ok() {
            return Err(OpError::new(
                ResponseStatusCode::InvalidRequest,
                format!("stream {:?} already exists", def.name),
            ));
        }
        let settings = log_settings(&def);
        let (dir, segments) = match StorageSettings::of(&def).persistence {
            Persistence::Memory => (None, Segments::Memory(Default::default())),
            Persistence::File => {
                let dir = folder_for(&self.root, &def.name);
                let made = fs::create_dir(&dir)
                    .and_then(|()| persist_definition(&dir, &def))
                    .and_then(|()| fsutil::sync_dir(&self.root));
                if let Err(e) = made {
                    let _ = fs::remove_dir_all(&dir);
                    return Err(OpError::io("creation", &def.name, &e));
                }
                let mut files = FileSegments::empty(&dir, self.faults.clone());
                files.configure(&StorageSettings::of(&def));
                let segs = Segments::File(files);
                (Some(dir), segs)
            }
        };
        let name = def.name.clone();
        let stream = Stream {
            name: name.clone(),
            dir,
            state: Mutex::new(State {
                def,
                log: StreamLog::new(settings, 0),
                segments,
                deleted: false,
            }),
            changed: watch::Sender::new(0),
            exports: Mutex::new(BTreeMap::new()),
            activity: self.activity.clone(),
            commit: GroupCommit::new(0),
            appends: AtomicU64::new(0),
            appended_bytes: AtomicU64::new(0),
        };
        self.streams
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(name.clone(), Arc::new(stream));
        self.changed();
        info!(stream = %name, "stream created");
        Ok(())
    }

    /// Replaces a stream's definition.
    pub fn update(&self, def: MessageStreamDefinition) -> Result<(), OpError> {
        let s = self.get(&def.name)?;
        s.update(def)?;
        self.changed();
        info!(stream = %s.name, "stream updated");
        Ok(())
    }

    /// Deletes a stream and its data.
    pub fn delete(&self, name: &str) -> Result<(), OpError> {
        let _admin = self
            .admin
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let s = self
            .streams
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(name)
            .ok_or_else(|| OpError::not_found(name))?;
        {
            let mut st = s.lock();
            st.deleted = true;
            st.segments.close();
        }
        s.changed.send_modify(|v| *v += 1);
        self.changed();
        if let Some(dir) = &s.dir {
            // Rename first so that a crash mid-removal never leaves a half-deleted stream
            // that would come back at start-up.
            let leaf = dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let trash = self.root.join(format!("{TRASH_PREFIX}{leaf}"));
            match fs::rename(dir, &trash).and_then(|()| fsutil::sync_dir(&self.root)) {
                Ok(()) => self.remove_trash(trash),
                Err(e) => warn!(stream = %name, "removing the stream's files failed: {e}"),
            }
        }
        info!(stream = %name, "stream deleted");
        Ok(())
    }

    /// Applies TTL retention to every stream.
    pub fn expire_all(&self, now_ms: i64) {
        for s in self.streams() {
            s.expire(now_ms);
        }
        self.upkeep();
    }

    /// Fsyncs every File stream (shutdown).
    pub fn sync_all(&self) {
        for s in self
            .streams
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .values()
        {
            if let Err(e) = s.sync_all() {
                warn!(stream = %s.name, "fsync at shutdown failed: {e}");
            }
        }
    }
}

fn load_stream(
    dir: &Path,
    faults: &Arc<Faults>,
    activity: &Arc<Notify>,
) -> anyhow::Result<Option<Stream>> {
    let def_path = dir.join(DEFINITION_FILE);
    let bytes = match fs::read(&def_path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let file: DefinitionFile = serde_json::from_slice(&bytes)
        .map_err(|e| anyhow::anyhow!("{} is not a valid definition: {e}", def_path.display()))?;
    let def = file.definition;
    validate::definition(&def)
        .map_err(|e| anyhow::anyhow!("{} holds an invalid definition: {e}", def_path.display()))?;
    let scan = FileSegments::scan(dir)?;
    for u in scan.unknown {
        warn!(stream = %def.name, file = %u, "unknown file in stream folder; leaving it alone");
    }
    let zeros = scan
        .last
        .as_ref()
        .filter(|l| l.stop == ScanStop::Clean && l.file_len > l.valid_len);
    if let Some(l) = zeros {
        info!(stream = %def.name, segment = l.base, bytes = l.file_len - l.valid_len, "zeros after the last record (space allocated ahead of flushOnWrite appends, or data a power loss kept from the disk): the log ends there");
    }
    let (log, actions) = StreamLog::recover_lazy(log_settings(&def), scan.sealed, scan.last);
    for a in &actions {
        match a {
            RecoveryAction::Truncate { segment, len } => {
                warn!(stream = %def.name, segment, len, "truncating a torn tail left by a crash")
            }
            RecoveryAction::RewriteHeader { segment } => {
                warn!(stream = %def.name, segment, "segment header damaged; starting the segment afresh")
            }
            RecoveryAction::Delete { segment } => {
                warn!(stream = %def.name, segment, "deleting a segment file too short to hold a record")
            }
            RecoveryAction::Ignore { segment, reason } => {
                warn!(stream = %def.name, segment, "ignoring segment: {reason}")
            }
            RecoveryAction::SealedDamage {
                segment,
                at_seq,
                reason,
            } => {
                warn!(stream = %def.name, segment, at_seq, "damaged record in an older segment ({reason}); the rest of that segment is skipped")
            }
        }
    }
    let mut segments = FileSegments::open_recovered(
        dir,
        &actions,
        log.segment_bases(),
        log.active_segment()
            .and_then(|b| log.index_request(b))
            .map_or(0, |r| r.len),
        scan.checkpoint,
        faults.clone(),
    )?;
    segments.configure(&StorageSettings::of(&def));
    let next = log.next_seq();
    let ids: Vec<&str> = def.exports().iter().map(|e| e.identifier).collect();
    let exports = checkpoints::load(dir, &ids);
    info!(
        stream = %def.name,
        oldest = log.oldest_seq(),
        next = log.next_seq(),
        bytes = log.total_bytes(),
        "stream recovered"
    );
    Ok(Some(Stream {
        name: def.name.clone(),
        dir: Some(dir.to_owned()),
        state: Mutex::new(State {
            def,
            log,
            segments: Segments::File(segments),
            deleted: false,
        }),
        changed: watch::Sender::new(0),
        exports: Mutex::new(exports),
        activity: activity.clone(),
        commit: GroupCommit::new(next),
        appends: AtomicU64::new(0),
        appended_bytes: AtomicU64::new(0),
    }))
}
