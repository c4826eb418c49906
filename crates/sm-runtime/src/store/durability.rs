//! The durability side of a stream: group commit snapshots, lazy indexing of segments (and
//! the corruption it finds), tail checkpoints, retried removals, and the parallel start-up
//! of the store.

use std::fs::{self, File};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use sm_log::{IndexDamage, ReadPlan};
use sm_model::ResponseStatusCode;
use tracing::{debug, warn};

use super::faults::Faults;
use super::segments::Segments;
use super::{load_stream, OpError, State, Store, Stream};

impl Stream {
    /// Number of fsyncs group commit has run for this stream's appends.
    pub fn fsync_count(&self) -> u64 {
        self.commit.fsyncs()
    }

    /// What a group commit leader syncs: the active segment and the next sequence number.
    pub(super) fn sync_snapshot(&self) -> Option<(Arc<File>, u64)> {
        let st = self.lock();
        if st.deleted {
            return None;
        }
        let active = st.log.active_segment()?;
        let file = st.segments.sync_handle(active)?;
        Some((file, st.log.next_seq()))
    }

    /// Plans a read, indexing the segments it reaches first (once each).
    pub(super) fn plan_read_indexed(
        &self,
        st: &mut State,
        start: u64,
        max: u64,
        max_bytes: u64,
    ) -> Result<ReadPlan, OpError> {
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
    fn index(&self, st: &mut State, base: u64) -> Result<bool, OpError> {
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
    ) -> Result<bool, OpError> {
        let Some(req) = st.log.index_request(base) else {
            return Ok(false);
        };
        let Segments::File(files) = &st.segments else {
            return Ok(false);
        };
        let index = files.index(&req).map_err(|e| {
            OpError::new(
                ResponseStatusCode::MessageStoreReadError,
                format!(
                    "reading segment {base} of stream {:?} failed: {e}",
                    self.name
                ),
            )
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
    pub(super) fn reindex(&self, st: &mut State, base: u64) -> Result<bool, OpError> {
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
    pub(super) fn maintain(&self, st: &mut State, now_ms: i64) {
        for _ in 0..st.log.segment_bases().count() {
            let Some(base) = st.log.expire_needs_index(now_ms) else {
                break;
            };
            if let Err(e) = self.index(st, base) {
                warn!(stream = %self.name, segment = base, "indexing for TTL failed: {}", e.message);
                break;
            }
        }
        if let Some(f) = st.segments.file() {
            f.retry_removals();
        }
    }

    /// Writes the active segment's checkpoint if it moved: fsync the segment (outside the
    /// lock), then replace the checkpoint file.
    pub(super) fn checkpoint_tick(&self) {
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
        if let Err(e) = super::fsutil::fdatasync(&file) {
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
    pub(super) fn write_checkpoint(st: &mut State) -> std::io::Result<()> {
        let ckpt = st.log.tail_checkpoint();
        match (st.segments.file(), ckpt) {
            (Some(f), Some(c)) if f.checkpoint() != Some(c) => f.write_checkpoint(c),
            _ => Ok(()),
        }
    }
}

impl Store {
    /// Removes a deleted stream's folder; a failure is retried on the next TTL tick.
    pub(super) fn remove_trash(&self, trash: PathBuf) {
        let removed = self
            .faults
            .check_removal()
            .and_then(|()| fs::remove_dir_all(&trash));
        if let Err(e) = removed {
            warn!(folder = %trash.display(), "removing a deleted stream's files failed: {e}; will retry");
            self.pending_trash
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(trash);
        }
    }

    /// Retries failed folder removals and writes the streams' tail checkpoints.
    pub(super) fn upkeep(&self) {
        let pending = std::mem::take(
            &mut *self
                .pending_trash
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
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
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len();
        let streams = self.streams();
        trash
            + streams
                .iter()
                .map(|s| s.lock().segments.file().map_or(0, |f| f.pending()))
                .sum::<usize>()
    }
}

type Loaded = (PathBuf, anyhow::Result<Option<Stream>>);

/// Loads the stream folders on a few threads (start-up is mostly waiting on the disk).
pub(super) fn load_all(
    folders: Vec<PathBuf>,
    faults: &Arc<Faults>,
    activity: &Arc<tokio::sync::Notify>,
) -> Vec<Loaded> {
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(1, 8)
        .min(folders.len().max(1));
    let next = AtomicUsize::new(0);
    let out: Mutex<Vec<Option<anyhow::Result<Option<Stream>>>>> =
        Mutex::new((0..folders.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(dir) = folders.get(i) else { break };
                let r = load_stream(dir, faults, activity);
                out.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(r);
            });
        }
    });
    let results = out.into_inner().unwrap_or_else(|p| p.into_inner());
    folders
        .into_iter()
        .zip(results)
        .map(|(dir, r)| {
            let r = r.unwrap_or_else(|| Err(anyhow::anyhow!("stream folder was not loaded")));
            (dir, r)
        })
        .collect()
}
