//! One stream: its definition, its log and storage under one lock, and the data operations
//! (append, read, update, retention). Describe and export progress are in `observe.rs`, the
//! durability side (indexing, checkpoints) in `durability.rs`.

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use sm_log::{decode_records, StreamLog};
use sm_model::defaults::StorageSettings;
use sm_model::update::{check_update, CurrentState};
use sm_model::MessageStreamDefinition;
use tracing::{info, warn};

use crate::checkpoints::ExportProgress;
use crate::commit::{Gather, GroupCommit};
use crate::definition;
use crate::segments::Segments;
use crate::signal::Signal;
use crate::store::Context;
use crate::StoreError;

/// Preferred size of a read response: a read returns fewer messages rather than exceed it,
/// unless that would be fewer than its minimum.
pub const SOFT_READ_BYTES: u64 = 16 * 1024 * 1024;

pub(crate) struct State {
    pub(crate) def: MessageStreamDefinition,
    pub(crate) log: StreamLog,
    pub(crate) segments: Segments,
    pub(crate) deleted: bool,
}

/// One stream.
pub struct Stream {
    pub(crate) name: String,
    pub(crate) dir: Option<PathBuf>,
    pub(crate) state: Mutex<State>,
    /// Notified after every append and on delete, to wake long-poll readers.
    pub(crate) changes: Signal,
    /// Progress of each export, by identifier (kept by the export manager).
    pub(crate) exports: Mutex<BTreeMap<String, ExportProgress>>,
    /// The store's clock, sync thread, fault seam and activity signal.
    pub(crate) ctx: Arc<Context>,
    /// Group commit of flushOnWrite appends.
    pub(crate) commit: GroupCommit,
    /// Appends acknowledged since the store was opened (metrics).
    pub(crate) appends: AtomicU64,
    /// Payload bytes of those appends (metrics).
    pub(crate) appended_bytes: AtomicU64,
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
    results: Vec<Result<i64, StoreError>>,
    /// Each payload's length.
    lens: Vec<u64>,
    /// The newest record written when the stream flushes on write: acknowledgements wait
    /// until it is durable.
    sync_upto: Option<u64>,
}

/// What a read attempt found.
#[derive(Debug)]
pub enum ReadOutcome {
    /// Enough messages.
    Messages(Vec<OwnedMessage>),
    /// Fewer than the minimum are there.
    NotEnough,
}

impl Stream {
    pub(crate) fn new(
        name: String,
        dir: Option<PathBuf>,
        state: State,
        exports: BTreeMap<String, ExportProgress>,
        ctx: Arc<Context>,
    ) -> Self {
        let durable = state.log.next_seq();
        Self {
            name,
            dir,
            state: Mutex::new(state),
            changes: Signal::new(),
            exports: Mutex::new(exports),
            ctx,
            commit: GroupCommit::new(durable),
            appends: AtomicU64::new(0),
            appended_bytes: AtomicU64::new(0),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the log half-applied (plans are applied
        // after their IO succeeds), so a poisoned lock is still consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The stream name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Notified after every append and when the stream is deleted: a long-poll reader reads
    /// its version before it looks ([`Self::try_read`]) and waits for a change.
    pub fn changes(&self) -> &Signal {
        &self.changes
    }

    /// Appends one validated payload; returns its sequence number once it is stored (and
    /// durable, with flushOnWrite: blocks until then).
    pub fn append(&self, payload: &[u8]) -> Result<i64, StoreError> {
        let written = self.write_batch(&[payload]);
        self.settle(written).pop().expect("one result per payload")
    }

    /// Writes validated payloads in order, each run of records that fits the active segment
    /// with one vectored write (the others one by one, with their segment roll or eviction),
    /// under one hold of the stream's lock. Nothing is acknowledged yet: pass the result to
    /// [`Self::settle`] or [`Self::settle_or_defer`].
    pub fn write_batch<P: AsRef<[u8]>>(&self, payloads: &[P]) -> WrittenBatch {
        let mut results = Vec::with_capacity(payloads.len());
        let lens: Vec<u64> = payloads.iter().map(|p| p.as_ref().len() as u64).collect();
        let (sync, newest) = {
            let mut st = self.lock();
            if st.deleted {
                results.resize(payloads.len(), Err(StoreError::NotFound(self.name.clone())));
                return WrittenBatch {
                    results,
                    lens: Vec::new(),
                    sync_upto: None,
                };
            }
            let now = self.ctx.clock.now_ms();
            let newest = self.write_locked(&mut st, payloads, &lens, now, &mut results);
            let flush = StorageSettings::of(&st.def).flush_on_write;
            (flush && matches!(st.segments, Segments::File(_)), newest)
        };
        if newest.is_some() {
            self.changes.notify();
            self.ctx.activity.notify();
        }
        WrittenBatch {
            results,
            lens,
            sync_upto: newest.filter(|_| sync),
        }
    }

    /// The writes of [`Self::write_batch`] under the lock; returns the newest record written.
    fn write_locked<P: AsRef<[u8]>>(
        &self,
        st: &mut State,
        payloads: &[P],
        lens: &[u64],
        now: i64,
        results: &mut Vec<Result<i64, StoreError>>,
    ) -> Option<u64> {
        let mut newest = None;
        let mut i = 0;
        while i < payloads.len() {
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
                        let e = StoreError::io("append", &self.name, e);
                        results.resize(results.len() + n, Err(e));
                    }
                }
                i += n;
                continue;
            }
            let one = st
                .log
                .plan_append(lens[i], now)
                .map_err(|reason| StoreError::Refused {
                    stream: self.name.clone(),
                    reason,
                })
                .and_then(|plan| {
                    st.segments
                        .execute_append(&plan, payloads[i].as_ref())
                        .map_err(|e| StoreError::io("append", &self.name, e))?;
                    st.log.apply_append(&plan);
                    Ok(plan.seq)
                });
            if let Ok(seq) = one {
                newest = Some(seq);
            }
            results.push(one.map(|seq| seq as i64));
            i += 1;
        }
        newest
    }

    /// Acknowledges a written batch: blocks until its records are durable when the stream
    /// flushes on write (a failed fsync fails every record it covered), counts the appends
    /// and returns each payload's sequence number or error, in order.
    pub fn settle(&self, written: WrittenBatch) -> Vec<Result<i64, StoreError>> {
        let durable = written.sync_upto.map(|seq| {
            let records = written.results.iter().filter(|r| r.is_ok()).count() as u64;
            self.commit.wait_durable(
                seq,
                records,
                || self.sync_snapshot(),
                self.ctx.clock.as_ref(),
            )
        });
        self.acknowledge(written, durable)
    }

    /// [`Self::settle`] for a thread that must not block (an async executor's worker).
    ///
    /// Settles here when nothing needs an fsync, or when the appender is alone and the fsync
    /// may run on the calling thread: `quiet` (the caller knows its thread has nothing else to
    /// serve now) or the disk's last fsync was short ([`crate::commit::INLINE_SYNC`]); then no
    /// other thread is involved at all, and this returns the results with `state`. Otherwise
    /// the group commit runs on the store's sync thread, which calls `done(state, results)`
    /// once the records are durable (or their fsync failed), and this returns `None` at once:
    /// the acknowledgement leaves from the sync thread.
    pub fn settle_or_defer<T, F>(
        self: &Arc<Self>,
        written: WrittenBatch,
        quiet: bool,
        state: T,
        done: F,
    ) -> Option<(Vec<Result<i64, StoreError>>, T)>
    where
        T: Send + 'static,
        F: FnOnce(T, Vec<Result<i64, StoreError>>) + Send + 'static,
    {
        let Some(seq) = written.sync_upto else {
            return Some((self.acknowledge(written, None), state));
        };
        let records = written.results.iter().filter(|r| r.is_ok()).count() as u64;
        let clock = self.ctx.clock.as_ref();
        let snapshot = || self.sync_snapshot();
        if let Some(durable) = self
            .commit
            .try_alone(seq + 1, records, snapshot, clock, quiet)
        {
            return Some((self.acknowledge(written, Some(durable)), state));
        }
        self.commit.count_in(records);
        let stream = self.clone();
        self.ctx.syncer.submit(Box::new(move || {
            let r = stream.commit.wait_arrived(
                seq + 1,
                || stream.sync_snapshot(),
                stream.ctx.clock.as_ref(),
                Gather::Never,
            );
            stream.commit.count_out(records);
            done(state, stream.acknowledge(written, Some(r)));
        }));
        None
    }

    fn acknowledge(
        &self,
        written: WrittenBatch,
        durable: Option<io::Result<()>>,
    ) -> Vec<Result<i64, StoreError>> {
        let WrittenBatch {
            mut results, lens, ..
        } = written;
        if let Some(Err(e)) = durable {
            let e = StoreError::io("fsync", &self.name, e);
            for r in results.iter_mut().filter(|r| r.is_ok()) {
                *r = Err(e.clone());
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

    /// One attempt at a read: at least `min` and at most `max` messages from `start` (clamped
    /// to the oldest), at most about `soft_bytes` unless `min` needs more, never above `hard_bytes`.
    pub fn try_read(
        &self,
        start: u64,
        min: u64,
        max: u64,
        soft_bytes: u64,
        hard_bytes: u64,
    ) -> Result<ReadOutcome, StoreError> {
        let mut st = self.lock();
        if st.deleted {
            return Err(StoreError::NotFound(self.name.clone()));
        }
        let mut plan = self.plan_read_indexed(&mut st, start, max, soft_bytes)?;
        if plan.count < min && plan.limited_by_bytes {
            plan = self.plan_read_indexed(&mut st, start, min, hard_bytes)?;
            if plan.count < min && plan.limited_by_bytes {
                return Err(StoreError::TooLarge {
                    min,
                    start,
                    limit: hard_bytes,
                });
            }
        }
        if plan.count < min {
            return Ok(ReadOutcome::NotEnough);
        }
        let mut out = Vec::with_capacity(plan.count as usize);
        for chunk in &plan.chunks {
            let bytes = st.segments.read(chunk).map_err(|e| {
                StoreError::Read(format!("reading stream {:?} failed: {e}", self.name))
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
                    return Err(StoreError::Read(format!("stream {:?}: {e}", self.name)));
                }
            }
        }
        Ok(ReadOutcome::Messages(out))
    }

    /// A read that waits: at least `min` and at most `max` messages from `start`, waiting
    /// up to `wait` for the minimum to arrive (blocking the calling thread), else
    /// [`StoreError::NotEnough`]. Answers hold about [`SOFT_READ_BYTES`] at most, unless the
    /// minimum needs more.
    pub fn read(
        &self,
        start: u64,
        min: u64,
        max: u64,
        wait: Duration,
    ) -> Result<Vec<OwnedMessage>, StoreError> {
        let clock = self.ctx.clock.as_ref();
        let deadline = clock.instant() + wait;
        loop {
            // Read before looking, so no append in between is missed.
            let seen = self.changes.version();
            if let ReadOutcome::Messages(m) =
                self.try_read(start, min, max, SOFT_READ_BYTES, u64::MAX)?
            {
                return Ok(m);
            }
            let now = clock.instant();
            if now >= deadline {
                return Err(StoreError::NotEnough {
                    stream: self.name.clone(),
                    min,
                    start,
                    waited_ms: wait.as_millis(),
                });
            }
            self.changes.wait_timeout(seen, deadline - now);
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

    pub(crate) fn update(&self, new: MessageStreamDefinition) -> Result<(), StoreError> {
        let mut st = self.lock();
        if st.deleted {
            return Err(StoreError::NotFound(self.name.clone()));
        }
        let now = CurrentState {
            total_bytes: st.log.total_bytes(),
            newest_sequence_number: st.log.newest_seq(),
        };
        check_update(&st.def, &new, now).map_err(StoreError::UpdateNotAllowed)?;
        if let Some(dir) = &self.dir {
            definition::save(dir, &new)
                .map_err(|e| StoreError::io("saving the definition", &self.name, e))?;
        }
        st.log.set_settings(definition::log_settings(&new));
        if let Some(files) = st.segments.file() {
            files.configure(&StorageSettings::of(&new));
        }
        st.def = new;
        let plan = st.log.plan_shrink();
        if !plan.is_empty() {
            st.segments
                .execute_retention(&plan)
                .map_err(|e| StoreError::io("shrinking", &self.name, e))?;
            st.log.apply_retention(&plan);
        }
        Ok(())
    }

    /// Removes segments past their TTL.
    pub(crate) fn expire(&self, now_ms: i64) {
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

    pub(crate) fn sync_all(&self) -> io::Result<()> {
        let mut st = self.lock();
        st.segments.sync_all()?;
        Self::write_checkpoint(&mut st)
    }
}
