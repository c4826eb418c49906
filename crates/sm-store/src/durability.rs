//! The durability side of a stream: group commit snapshots, lazy indexing of segments (and
//! the corruption it finds), tail checkpoints and retried removals.

use std::fs;
use std::path::PathBuf;
use std::sync::PoisonError;

use sm_log::{IndexDamage, ReadPlan};
use tracing::{debug, warn};

use crate::commit::SyncSnapshot;
use crate::segments::Segments;
use crate::store::Store;
use crate::stream::{State, Stream};
use crate::StoreError;

impl Stream {
    /// What a group commit leader syncs: the active segment and the next sequence number.
    pub(crate) fn sync_snapshot(&self) -> SyncSnapshot {
        let st = self.lock();
        if st.deleted {
            return None;
        }
        let active = st.log.active_segment()?;
        let file = st.segments.sync_handle(active)?;
        Some((file, st.log.next_seq()))
    }

    /// Plans a read, indexing the segments it reaches first (once each).
    pub(crate) fn plan_read_indexed(
        &self,
        st: &mut State,
        start: u64,
        max: u64,
        max_bytes: u64,
    ) -> Result<ReadPlan, StoreError> {
        // Indexes to drop wait until the plan is made: dropping one the plan still needs would
        // make it ask for that one again, forever.
        let mut evicted = Vec::new();
        let plan = loop {
            let plan = st.log.plan_read(start, max, max_bytes);
            let Some(base) = plan.need_index else {
                break plan;
            };
            if let Err(e) = self.index_keeping(st, base, &mut evicted) {
                for b in evicted {
                    st.log.drop_index(b);
                }
                return Err(e);
            }
        };
        // The plan holds byte ranges; it no longer needs the indexes.
        for b in evicted {
            st.log.drop_index(b);
        }
        Ok(plan)
    }

    /// Indexes (or re-indexes) one segment; returns whether it found new damage.
    fn index(&self, st: &mut State, base: u64) -> Result<bool, StoreError> {
        let mut evicted = Vec::new();
        let r = self.index_keeping(st, base, &mut evicted);
        for b in evicted {
            st.log.drop_index(b);
        }
        r
    }

    /// [`Self::index`], leaving the indexes to drop in `evicted`.
    fn index_keeping(
        &self,
        st: &mut State,
        base: u64,
        evicted: &mut Vec<u64>,
    ) -> Result<bool, StoreError> {
        let Some(req) = st.log.index_request(base) else {
            return Ok(false);
        };
        let Segments::File(files) = &st.segments else {
            return Ok(false);
        };
        let index = files.index(&req).map_err(|e| {
            StoreError::Read(format!(
                "reading segment {base} of stream {:?} failed: {e}",
                self.name
            ))
        })?;
        debug!(stream = %self.name, segment = base, records = req.count, "segment indexed");
        let damage = st.log.apply_index(index);
        // Bound the memory of indexes: keep the most recently used sealed segments only.
        if st.log.active_segment() != Some(base) {
            evicted.extend(st.segments.file().and_then(|f| f.note_indexed(base)));
        }
        match damage {
            Some(damage) => {
                self.report(&damage, st.log.corrupt_records());
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Re-indexes a segment after a read found a record failing its checks.
    pub(crate) fn reindex(&self, st: &mut State, base: u64) -> Result<bool, StoreError> {
        self.index(st, base)
    }

    fn report(&self, d: &IndexDamage, total: u64) {
        warn!(
            stream = %self.name,
            segment = d.segment,
            first_seq = d.first_bad_seq,
            records = d.bad_records,
            corrupt_records = total,
            "damaged records found ({}): reads skip them; the stream's other messages are served",
            d.reason
        );
    }

    /// Periodic upkeep under the stream's lock (the TTL tick): index what TTL needs to
    /// decide, and retry failed segment removals.
    pub(crate) fn maintain(&self, st: &mut State, now_ms: i64) {
        for _ in 0..st.log.segment_bases().count() {
            let Some(base) = st.log.expire_needs_index(now_ms) else {
                break;
            };
            if let Err(e) = self.index(st, base) {
                warn!(stream = %self.name, segment = base, "indexing for TTL failed: {e}");
                break;
            }
        }
        if let Some(f) = st.segments.file() {
            f.retry_removals();
        }
    }

    /// Writes the active segment's checkpoint if it moved: fsync the segment (outside the
    /// lock), then replace the checkpoint file.
    pub(crate) fn checkpoint_tick(&self) {
        let (file, ckpt) = {
            let st = self.lock();
            let Segments::File(files) = &st.segments else {
                return;
            };
            let Some(ckpt) = st.log.tail_checkpoint() else {
                return;
            };
            if st.deleted || files.checkpoint() == Some(ckpt) {
                return;
            }
            let Some(file) = st.segments.sync_handle(ckpt.segment) else {
                return;
            };
            (file, ckpt)
        };
        if let Err(e) = crate::fsutil::fdatasync(&file) {
            warn!(stream = %self.name, "fsync for the tail checkpoint failed: {e}");
            return;
        }
        let mut st = self.lock();
        if st.deleted {
            return;
        }
        if let Some(f) = st.segments.file() {
            if let Err(e) = f.write_checkpoint(ckpt) {
                warn!(stream = %self.name, "writing the tail checkpoint failed: {e}");
            }
        }
    }

    /// Writes the checkpoint after the caller synced the active segment (shutdown).
    pub(crate) fn write_checkpoint(st: &mut State) -> std::io::Result<()> {
        let ckpt = st.log.tail_checkpoint();
        match (st.segments.file(), ckpt) {
            (Some(f), Some(c)) if f.checkpoint() != Some(c) => f.write_checkpoint(c),
            _ => Ok(()),
        }
    }
}

impl Store {
    /// Removes a deleted stream's folder; a failure is retried on the next TTL tick.
    pub(crate) fn remove_trash(&self, trash: PathBuf) {
        let removed = self
            .ctx
            .faults
            .check_removal()
            .and_then(|()| fs::remove_dir_all(&trash));
        if let Err(e) = removed {
            warn!(folder = %trash.display(), "removing a deleted stream's files failed: {e}; will retry");
            self.pending_trash
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(trash);
        }
    }

    /// Retries failed folder removals and writes the streams' tail checkpoints.
    pub(crate) fn upkeep(&self) {
        let pending = std::mem::take(
            &mut *self
                .pending_trash
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for t in pending {
            self.remove_trash(t);
        }
        let streams = self.streams();
        for s in streams {
            s.checkpoint_tick();
        }
    }

    /// Folders whose removal is still pending.
    pub fn pending_removals(&self) -> usize {
        let trash = self
            .pending_trash
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        let streams = self.streams();
        trash
            + streams
                .iter()
                .map(|s| s.lock().segments.file().map_or(0, |f| f.pending()))
                .sum::<usize>()
    }
}
