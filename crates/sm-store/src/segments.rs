//! Executes `sm-log` plans against segment files (File streams) or memory (Memory streams).

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sm_log::{
    index_segment, parse_segment_file_name, record_header, scan_segment, scan_segment_tail,
    segment_file_name, segment_header, AppendPlan, IndexRequest, MemorySegments, ReadChunk,
    RecoveryAction, RetentionPlan, SealedFile, SegmentIndex, SegmentScan, TailCheckpoint,
    SEGMENT_HEADER_LEN,
};
use sm_model::defaults::StorageSettings;
use tracing::warn;

use crate::checkpoints::{is_checkpoint_file, is_upload_state_file};
use crate::faults::{no_space, Faults};
use crate::fsutil::{fdatasync, fsync, sync_dir, write_atomic, DEFINITION_FILE};

/// File holding the active segment's [`TailCheckpoint`], inside a stream's folder.
pub const CHECKPOINT_FILE: &str = "tail.ckpt";

/// What start-up found in a stream folder.
pub struct FolderScan {
    /// Sealed segments, known by name and length only.
    pub sealed: Vec<SealedFile>,
    /// The last segment, scanned (from the checkpoint when it matched).
    pub last: Option<SegmentScan>,
    /// The checkpoint that was used, if any.
    pub checkpoint: Option<TailCheckpoint>,
    /// Files that are neither segments nor known stream files.
    pub unknown: Vec<String>,
}

/// Segment files of one File stream. Only the active (last) segment is kept open, so a store
/// of many streams with many segments stays far below the file-descriptor limit; sealed
/// segments are opened for each read.
#[derive(Debug)]
pub struct FileSegments {
    dir: PathBuf,
    active: Option<Active>,
    faults: Arc<Faults>,
    /// Segment files whose removal failed, retried by [`Self::retry_removals`].
    pending_removals: Vec<PathBuf>,
    /// The checkpoint last written.
    checkpoint: Option<TailCheckpoint>,
    /// Sealed segments indexed, least recently first (their indexes are dropped beyond
    /// [`INDEXED_SEALED`]).
    indexed: std::collections::VecDeque<u64>,
    /// Whether a roll fsyncs the sealed segment before it returns (flushOnWrite streams:
    /// group commit syncs only the active segment). Otherwise the sealed segment is fsynced
    /// on a thread of its own while appends go on, and the next roll waits for it.
    durable_rolls: bool,
    /// That thread, for the segment sealed last.
    sealing: Option<std::thread::JoinHandle<()>>,
    /// Steps in which the active segment's file is extended ahead of its appends
    /// (flushOnWrite streams; see [`Active::len`]); 0 when it is not.
    preallocate: u64,
}

/// The segment that receives appends.
#[derive(Debug, Clone)]
struct Active {
    base: u64,
    file: Arc<File>,
    /// End of its last record: where the next one goes.
    end: u64,
    /// Length of the file, at least `end`. Beyond `end` the file holds zeros allocated ahead
    /// of the appends (`fallocate`), so that the fdatasync after an append finds no file size
    /// to commit to the journal: on ext4 that is ~60 µs instead of ~85 µs here. Recovery reads
    /// those zeros as the end of the log; a roll and a clean shutdown cut them off.
    len: u64,
}

/// How far ahead of its appends a flushOnWrite segment file is allocated at a time (or the
/// segment size, if smaller): one journalled size change per step, and at most this much
/// unused space per stream.
const PREALLOCATE_STEP: u64 = 1 << 20;

/// Slices per vectored write of a run (two per record: header, payload); Linux's `IOV_MAX` is
/// 1024.
const RUN_IOVECS: usize = 1024;

/// Sealed segments whose index a stream keeps in memory; older ones are re-read when needed.
pub const INDEXED_SEALED: usize = 8;

impl FileSegments {
    fn path(&self, base: u64) -> PathBuf {
        self.dir.join(segment_file_name(base))
    }

    fn open(path: &Path) -> io::Result<File> {
        OpenOptions::new().read(true).write(true).open(path)
    }

    /// Lists the segment files of `dir` (start-up): sealed ones by length only, the last one
    /// scanned, from its checkpoint when that matches. Files that are not segments are left
    /// alone; returns their names for the log.
    pub fn scan(dir: &Path) -> io::Result<FolderScan> {
        let mut files = Vec::new();
        let mut unknown = Vec::new();
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            match parse_segment_file_name(&name) {
                Some(base) if entry.file_type()?.is_file() => {
                    files.push(SealedFile {
                        base,
                        len: entry.metadata()?.len(),
                    });
                }
                _ if name == DEFINITION_FILE
                    || name == CHECKPOINT_FILE
                    || is_checkpoint_file(&name)
                    || is_upload_state_file(&name) => {}
                // A temporary file of an atomic replace that a crash interrupted: the file it
                // was replacing is intact, so the leftover is dropped.
                _ if name.ends_with(".tmp") && entry.file_type()?.is_file() => {
                    let _ = fs::remove_file(entry.path());
                }
                _ => unknown.push(name),
            }
        }
        files.sort_by_key(|f| f.base);
        let Some(last) = files.pop() else {
            return Ok(FolderScan {
                sealed: files,
                last: None,
                checkpoint: None,
                unknown,
            });
        };
        let path = dir.join(segment_file_name(last.base));
        let checkpoint = fs::read(dir.join(CHECKPOINT_FILE))
            .ok()
            .and_then(|b| TailCheckpoint::decode(&b))
            .filter(|c| c.segment == last.base && c.len <= last.len);
        let mut tail_scan = None;
        if let Some(c) = &checkpoint {
            let f = File::open(&path)?;
            let mut header = [0u8; 16];
            let mut tail = vec![0u8; usize::try_from(last.len - c.last_offset).unwrap_or(0)];
            if f.read_exact_at(&mut header, 0).is_ok()
                && f.read_exact_at(&mut tail, c.last_offset).is_ok()
            {
                tail_scan = scan_segment_tail(c, &header, &tail);
            }
        }
        let checkpoint = checkpoint.filter(|_| tail_scan.is_some());
        let last = match tail_scan {
            Some(t) => t,
            None => scan_segment(last.base, &fs::read(&path)?),
        };
        Ok(FolderScan {
            sealed: files,
            last: Some(last),
            checkpoint,
            unknown,
        })
    }

    /// Performs the repairs of a recovery and opens the segments the log kept; the last one
    /// (the active segment) holds records up to `active_end`.
    pub fn open_recovered(
        dir: &Path,
        actions: &[RecoveryAction],
        kept: impl Iterator<Item = u64>,
        active_end: u64,
        checkpoint: Option<TailCheckpoint>,
        faults: Arc<Faults>,
    ) -> io::Result<Self> {
        let mut me = Self::empty(dir, faults);
        me.checkpoint = checkpoint;
        for a in actions {
            match a {
                RecoveryAction::Truncate { segment, len } => {
                    let f = Self::open(&me.path(*segment))?;
                    f.set_len(*len)?;
                    fsync(&f)?;
                }
                RecoveryAction::RewriteHeader { segment } => {
                    let f = Self::open(&me.path(*segment))?;
                    f.set_len(0)?;
                    f.write_all_at(&segment_header(*segment), 0)?;
                    fsync(&f)?;
                    // Whatever the checkpoint said about this segment is gone.
                    me.checkpoint = None;
                    let _ = fs::remove_file(dir.join(CHECKPOINT_FILE));
                }
                RecoveryAction::Delete { segment } => fs::remove_file(me.path(*segment))?,
                RecoveryAction::Ignore { .. } | RecoveryAction::SealedDamage { .. } => {}
            }
        }
        if let Some(base) = kept.last() {
            let file = Self::open(&me.path(base))?;
            let len = file.metadata()?.len().max(active_end);
            me.active = Some(Active {
                base,
                file: Arc::new(file),
                end: active_end,
                len,
            });
        }
        Ok(me)
    }

    /// An empty set of segments in `dir`.
    pub fn empty(dir: &Path, faults: Arc<Faults>) -> Self {
        Self {
            dir: dir.to_owned(),
            active: None,
            faults,
            pending_removals: Vec::new(),
            checkpoint: None,
            indexed: std::collections::VecDeque::new(),
            durable_rolls: true,
            sealing: None,
            preallocate: 0,
        }
    }

    /// Follows the stream's settings: with flushOnWrite, rolls fsync the sealed segment
    /// before returning (see `durable_rolls`; turning it on waits for a background fsync
    /// still running, so every sealed segment is durable) and the active file is allocated
    /// ahead of the appends (see [`Active::len`]), in steps of at most the segment size.
    pub fn configure(&mut self, settings: &StorageSettings) {
        let flush = settings.flush_on_write;
        self.durable_rolls = flush;
        self.preallocate = if flush {
            settings.segment_size.clamp(1, PREALLOCATE_STEP)
        } else {
            0
        };
        if flush {
            self.finish_sealing();
        }
    }

    /// Allocates the active file ahead of a write that ends at `end` (flushOnWrite streams),
    /// best effort: a file system without `fallocate`, or a full one, gets plain appends.
    fn reserve(&mut self, end: u64) {
        let step = self.preallocate;
        let Some(a) = self.active.as_mut().filter(|a| step > 0 && end > a.len) else {
            return;
        };
        let target = end.div_ceil(step) * step;
        match rustix::fs::fallocate(
            &*a.file,
            rustix::fs::FallocateFlags::empty(),
            a.len,
            target - a.len,
        ) {
            Ok(()) => a.len = target,
            Err(rustix::io::Errno::OPNOTSUPP) => self.preallocate = 0,
            Err(_) => {}
        }
    }

    /// Records that the active segment's records now end at `end`, after a write.
    fn wrote_to(&mut self, end: u64) {
        if let Some(a) = &mut self.active {
            a.end = end;
            a.len = a.len.max(end);
        }
    }

    /// Cuts the active file back to `end` after a failed write, so that no partial record
    /// stays behind (best effort: recovery truncates a torn tail).
    fn cut_back(&mut self, end: u64) {
        if let Some(a) = &mut self.active {
            let _ = a.file.set_len(end);
            a.end = end;
            a.len = end;
        }
    }

    /// Waits for the background fsync of the segment sealed last, if one runs.
    fn finish_sealing(&mut self) {
        if let Some(h) = self.sealing.take() {
            let _ = h.join();
        }
    }

    /// Makes the segment being sealed durable: now, or on a thread of its own (see
    /// `durable_rolls`), falling back to now if no thread can be started. Space allocated
    /// beyond its records is cut off first: a sealed file ends with its last record.
    fn seal(&mut self, active: &Active) -> io::Result<()> {
        self.finish_sealing();
        let file = &active.file;
        if active.len > active.end {
            file.set_len(active.end)?;
        }
        if self.durable_rolls {
            return fdatasync(file);
        }
        let (f, dir) = (file.clone(), self.dir.clone());
        let spawned = std::thread::Builder::new()
            .name("sm-seal-sync".into())
            .spawn(move || {
                if let Err(e) = fdatasync(&f) {
                    warn!(folder = %dir.display(), "fsync of a sealed segment failed: {e}; its records may not survive a power loss");
                }
            });
        match spawned {
            Ok(h) => {
                self.sealing = Some(h);
                Ok(())
            }
            Err(_) => fdatasync(file),
        }
    }

    /// Writes `buf` at `offset` through the fault seam (a full disk cuts it short).
    fn write_at(&self, file: &File, buf: &[u8], offset: u64) -> io::Result<()> {
        let n = self.faults.allow_write(buf.len());
        file.write_all_at(&buf[..n], offset)?;
        if n < buf.len() {
            return Err(no_space());
        }
        Ok(())
    }

    /// Writes `parts` one after another from `offset` with vectored writes, through the
    /// fault seam (a full disk cuts it short).
    fn write_parts_at<'a>(
        &self,
        file: &File,
        parts: impl Iterator<Item = &'a [u8]> + Clone,
        mut offset: u64,
    ) -> io::Result<()> {
        let total: usize = parts.clone().map(<[u8]>::len).sum();
        let allowed = self.faults.allow_write(total);
        let mut left = allowed;
        let mut slices: Vec<io::IoSlice<'a>> = Vec::new();
        for p in parts {
            if left == 0 {
                break;
            }
            let n = p.len().min(left);
            slices.push(io::IoSlice::new(&p[..n]));
            left -= n;
        }
        let mut rest = &mut slices[..];
        while !rest.is_empty() {
            match rustix::io::pwritev(file, rest, offset) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
                Ok(n) => {
                    offset += n as u64;
                    io::IoSlice::advance_slices(&mut rest, n);
                }
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if allowed < total {
            return Err(no_space());
        }
        Ok(())
    }

    fn create(&mut self, base: u64) -> io::Result<()> {
        // The sealed segment is complete: make it durable once (before anything else, so that
        // a failure leaves the stream as it was), then close it.
        if let Some(old) = self.active.clone() {
            self.seal(&old)?;
        }
        let path = self.path(base);
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)?;
        // The new file's directory entry must survive a crash, or its sequence numbers would.
        let made = self
            .write_at(&f, &segment_header(base), 0)
            .and_then(|()| sync_dir(&self.dir));
        if let Err(e) = made {
            // Best effort: recovery would rewrite a half-made last segment anyway.
            let _ = fs::remove_file(&path);
            return Err(e);
        }
        self.active = Some(Active {
            base,
            file: Arc::new(f),
            end: SEGMENT_HEADER_LEN,
            len: SEGMENT_HEADER_LEN,
        });
        Ok(())
    }

    /// Removes evicted segments. A removal that fails is remembered and retried later
    /// ([`Self::retry_removals`]); the segment is gone from the log either way.
    fn evict(&mut self, bases: &[u64]) {
        for base in bases {
            if self.active.as_ref().is_some_and(|a| a.base == *base) {
                self.active = None;
            }
            let path = self.path(*base);
            if let Err(e) = self.remove(&path) {
                warn!(file = %path.display(), "removing a segment failed: {e}; will retry");
                self.pending_removals.push(path);
            }
        }
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        self.faults.check_removal()?;
        match fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Retries the removals that failed; returns how many are still pending.
    pub fn retry_removals(&mut self) -> usize {
        let pending = std::mem::take(&mut self.pending_removals);
        for path in pending {
            if let Err(e) = self.remove(&path) {
                warn!(file = %path.display(), "removing a segment failed again: {e}");
                self.pending_removals.push(path);
            }
        }
        self.pending_removals.len()
    }

    /// Removals still pending.
    pub fn pending(&self) -> usize {
        self.pending_removals.len()
    }

    /// Reads the bytes an index request needs and indexes the segment.
    pub fn index(&self, req: &IndexRequest) -> io::Result<SegmentIndex> {
        let owned;
        let file = match &self.active {
            Some(a) if a.base == req.segment => a.file.as_ref(),
            _ => {
                owned = File::open(self.path(req.segment))?;
                &owned
            }
        };
        let on_disk = file.metadata()?.len();
        let len = usize::try_from(req.len.min(on_disk))
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "segment too large"))?;
        let mut buf = vec![0u8; len];
        file.read_exact_at(&mut buf, 0)?;
        Ok(index_segment(req.segment, &buf, req.count))
    }

    /// Notes that `base` was just indexed; returns a segment whose index should be dropped.
    pub fn note_indexed(&mut self, base: u64) -> Option<u64> {
        self.indexed.retain(|&b| b != base);
        self.indexed.push_back(base);
        if self.indexed.len() > INDEXED_SEALED {
            self.indexed.pop_front()
        } else {
            None
        }
    }

    /// The checkpoint last written.
    pub fn checkpoint(&self) -> Option<TailCheckpoint> {
        self.checkpoint
    }

    /// Writes `ckpt` (atomically); the caller has made the segment durable up to `ckpt.len`.
    pub fn write_checkpoint(&mut self, ckpt: TailCheckpoint) -> io::Result<()> {
        write_atomic(&self.dir.join(CHECKPOINT_FILE), &ckpt.encode())?;
        self.checkpoint = Some(ckpt);
        Ok(())
    }

    /// The active segment's file, which every append plan targets.
    fn active_file(&self, base: u64) -> io::Result<&Arc<File>> {
        match &self.active {
            Some(a) if a.base == base => Ok(&a.file),
            _ => Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("segment {base} is not the active segment"),
            )),
        }
    }

    fn read_at(&self, base: u64, buf: &mut [u8], offset: u64) -> io::Result<()> {
        match &self.active {
            Some(a) if a.base == base => a.file.read_exact_at(buf, offset),
            _ => File::open(self.path(base))?.read_exact_at(buf, offset),
        }
    }
}

/// Where a stream's segments live.
#[derive(Debug)]
pub enum Segments {
    /// Files on disk.
    File(FileSegments),
    /// Memory only.
    Memory(MemorySegments),
}

impl Segments {
    /// Executes an append plan. On error nothing must be applied to the log; a half-created
    /// segment is recreated by the next append's plan.
    pub fn execute_append(&mut self, plan: &AppendPlan, payload: &[u8]) -> io::Result<()> {
        match self {
            Self::Memory(m) => m.execute_append(plan, payload),
            Self::File(f) => {
                // The segment this append rolls away from, to go back to if the record cannot
                // be written: the log will not know of the new segment.
                let rolled_from = match plan.retention.new_segment {
                    Some(base) => {
                        let previous = f.active.clone();
                        f.create(base)?;
                        Some((base, previous))
                    }
                    None => None,
                };
                let file = f.active_file(plan.segment)?.clone();
                let header = record_header(plan.seq, plan.ingest_time, payload);
                let end = plan.offset + plan.record_len();
                f.reserve(end);
                let written =
                    f.write_parts_at(&file, [&header[..], payload].into_iter(), plan.offset);
                if let Err(e) = written {
                    // The log stays as it was, and the file ends where the log says.
                    f.cut_back(plan.offset);
                    if let Some((base, previous)) = rolled_from {
                        // Undo the roll (best effort: a header-only last segment left by a
                        // crash is recovered as an empty segment at the same next number).
                        // The roll sealed the previous file: it ends with its records now.
                        let _ = fs::remove_file(f.path(base));
                        f.active = previous.map(|a| Active { len: a.end, ..a });
                    }
                    return Err(e);
                }
                f.wrote_to(end);
                f.evict(&plan.retention.evict);
            }
        }
        Ok(())
    }

    /// Executes the plans of one run ([`sm_log::StreamLog::plan_run`]: consecutive records
    /// in the active segment, no retention action) with one vectored write per
    /// [`RUN_IOVECS`] records. On error nothing must be applied to the log: the file is cut
    /// back to where the run began, so no part of it stays behind.
    pub fn execute_run<P: AsRef<[u8]>>(
        &mut self,
        plans: &[AppendPlan],
        payloads: &[P],
    ) -> io::Result<()> {
        debug_assert_eq!(plans.len(), payloads.len());
        match self {
            Self::Memory(m) => {
                for (plan, payload) in plans.iter().zip(payloads) {
                    m.execute_append(plan, payload.as_ref());
                }
            }
            Self::File(f) => {
                let (Some(first), Some(last)) = (plans.first(), plans.last()) else {
                    return Ok(());
                };
                let file = f.active_file(first.segment)?.clone();
                let headers: Vec<[u8; 24]> = plans
                    .iter()
                    .zip(payloads)
                    .map(|(p, payload)| record_header(p.seq, p.ingest_time, payload.as_ref()))
                    .collect();
                let mut offset = first.offset;
                let end = last.offset + last.record_len();
                f.reserve(end);
                let mut written = Ok(());
                for (hs, ps) in headers
                    .chunks(RUN_IOVECS / 2)
                    .zip(payloads.chunks(RUN_IOVECS / 2))
                {
                    let parts = hs.iter().zip(ps).flat_map(|(h, p)| [&h[..], p.as_ref()]);
                    written = f.write_parts_at(&file, parts.clone(), offset);
                    if written.is_err() {
                        break;
                    }
                    offset += parts.map(|p| p.len() as u64).sum::<u64>();
                }
                if let Err(e) = written {
                    f.cut_back(first.offset);
                    return Err(e);
                }
                debug_assert_eq!(offset, end, "a run's records are consecutive");
                f.wrote_to(end);
            }
        }
        Ok(())
    }

    /// Executes a retention plan.
    pub fn execute_retention(&mut self, plan: &RetentionPlan) -> io::Result<()> {
        match self {
            Self::Memory(m) => m.execute_retention(plan),
            Self::File(f) => {
                if let Some(base) = plan.new_segment {
                    f.create(base)?;
                }
                f.evict(&plan.evict);
            }
        }
        Ok(())
    }

    /// Reads one planned chunk.
    pub fn read(&self, chunk: &ReadChunk) -> io::Result<Vec<u8>> {
        match self {
            Self::Memory(m) => m.read(chunk).map(<[u8]>::to_vec).ok_or_else(|| {
                io::Error::new(io::ErrorKind::UnexpectedEof, "segment range is missing")
            }),
            Self::File(f) => {
                let len = usize::try_from(chunk.len)
                    .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "chunk too large"))?;
                let mut buf = vec![0u8; len];
                f.read_at(chunk.segment, &mut buf, chunk.offset)?;
                Ok(buf)
            }
        }
    }

    /// The file to fsync after writing to `segment` (File streams only).
    pub fn sync_handle(&self, segment: u64) -> Option<Arc<File>> {
        match self {
            Self::File(f) => f
                .active
                .as_ref()
                .filter(|a| a.base == segment)
                .map(|a| a.file.clone()),
            Self::Memory(_) => None,
        }
    }

    /// Fsyncs every open segment (shutdown), cutting off the space allocated ahead of the
    /// appends: after a clean stop every segment file ends with its last record.
    pub fn sync_all(&mut self) -> io::Result<()> {
        if let Self::File(f) = self {
            f.finish_sealing();
            if let Some(a) = &mut f.active {
                if a.len > a.end {
                    a.file.set_len(a.end)?;
                    a.len = a.end;
                }
                fdatasync(&a.file)?;
            }
        }
        Ok(())
    }

    /// The file segments, for File streams.
    pub fn file(&mut self) -> Option<&mut FileSegments> {
        match self {
            Self::File(f) => Some(f),
            Self::Memory(_) => None,
        }
    }

    /// Closes every file (before the folder is deleted).
    pub fn close(&mut self) {
        match self {
            Self::File(f) => f.active = None,
            Self::Memory(m) => *m = MemorySegments::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(flush: bool) -> StorageSettings {
        StorageSettings::of(&sm_model::MessageStreamDefinition {
            flush_on_write: Some(flush),
            ..Default::default()
        })
    }

    #[test]
    fn rolls_without_durable_rolls_seal_in_the_background_and_wait_when_asked() {
        let tmp = tempfile::tempdir().unwrap();
        let mut f = FileSegments::empty(tmp.path(), Faults::none());
        f.configure(&settings(false));
        f.create(0).unwrap();
        assert!(f.sealing.is_none(), "nothing to seal at the first segment");
        f.create(5).unwrap();
        assert!(
            f.sealing.is_some(),
            "segment 0 is fsynced on its own thread"
        );
        f.create(9).unwrap();
        assert!(
            f.sealing.is_some(),
            "one at a time: the previous one was waited for"
        );
        f.configure(&settings(true));
        assert!(f.sealing.is_none(), "turning durable rolls on waits for it");
        f.create(12).unwrap();
        assert!(f.sealing.is_none(), "durable rolls fsync before returning");
        let mut segs = Segments::File(f);
        segs.sync_all().unwrap();
        let names: Vec<u64> = fs::read_dir(tmp.path())
            .unwrap()
            .filter_map(|e| parse_segment_file_name(e.unwrap().file_name().to_str()?))
            .collect();
        assert_eq!(names.len(), 4);
    }
}
