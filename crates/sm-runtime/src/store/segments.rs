//! Executes `sm-log` plans against segment files (File streams) or memory (Memory streams).

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sm_log::{
    parse_segment_file_name, record_header, scan_segment, segment_file_name, segment_header,
    AppendPlan, MemorySegments, ReadChunk, RecoveryAction, RetentionPlan, SegmentScan,
};

use super::fsutil::sync_dir;

/// Segment files of one File stream. Only the active (last) segment is kept open, so a store
/// of many streams with many segments stays far below the file-descriptor limit; sealed
/// segments are opened for each read.
#[derive(Debug)]
pub struct FileSegments {
    dir: PathBuf,
    active: Option<(u64, Arc<File>)>,
}

impl FileSegments {
    fn path(&self, base: u64) -> PathBuf {
        self.dir.join(segment_file_name(base))
    }

    fn open(path: &Path) -> io::Result<File> {
        OpenOptions::new().read(true).write(true).open(path)
    }

    /// Reads and scans every segment file of `dir` (start-up). Files that are not segments
    /// are left alone; returns their names for the log.
    pub fn scan(dir: &Path) -> io::Result<(Vec<SegmentScan>, Vec<String>)> {
        let mut scans = Vec::new();
        let mut unknown = Vec::new();
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            match parse_segment_file_name(&name) {
                Some(base) if entry.file_type()?.is_file() => {
                    let bytes = fs::read(entry.path())?;
                    scans.push(scan_segment(base, &bytes));
                }
                _ if name == super::fsutil::DEFINITION_FILE
                    || super::checkpoints::is_checkpoint_file(&name) => {}
                _ => unknown.push(name),
            }
        }
        Ok((scans, unknown))
    }

    /// Performs the repairs of a recovery and opens the segments the log kept.
    pub fn open_recovered(
        dir: &Path,
        actions: &[RecoveryAction],
        kept: impl Iterator<Item = u64>,
    ) -> io::Result<Self> {
        let mut me = Self::empty(dir);
        for a in actions {
            match a {
                RecoveryAction::Truncate { segment, len } => {
                    let f = Self::open(&me.path(*segment))?;
                    f.set_len(*len)?;
                    f.sync_all()?;
                }
                RecoveryAction::RewriteHeader { segment } => {
                    let f = Self::open(&me.path(*segment))?;
                    f.set_len(0)?;
                    f.write_all_at(&segment_header(*segment), 0)?;
                    f.sync_all()?;
                }
                RecoveryAction::Delete { segment } => fs::remove_file(me.path(*segment))?,
                RecoveryAction::Ignore { .. } | RecoveryAction::SealedDamage { .. } => {}
            }
        }
        if let Some(base) = kept.last() {
            me.active = Some((base, Arc::new(Self::open(&me.path(base))?)));
        }
        Ok(me)
    }

    /// An empty set of segments in `dir`.
    pub fn empty(dir: &Path) -> Self {
        Self {
            dir: dir.to_owned(),
            active: None,
        }
    }

    fn create(&mut self, base: u64) -> io::Result<()> {
        let path = self.path(base);
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)?;
        f.write_all_at(&segment_header(base), 0)?;
        // The new file's directory entry must survive a crash, or its sequence numbers would.
        sync_dir(&self.dir)?;
        // The sealed segment is complete: make it durable once, then close it.
        if let Some((_, old)) = self.active.replace((base, Arc::new(f))) {
            old.sync_data()?;
        }
        Ok(())
    }

    fn evict(&mut self, bases: &[u64]) -> io::Result<()> {
        for base in bases {
            if self.active.as_ref().is_some_and(|(b, _)| b == base) {
                self.active = None;
            }
            match fs::remove_file(self.path(*base)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }

    /// The active segment's file, which every append plan targets.
    fn active_file(&self, base: u64) -> io::Result<&Arc<File>> {
        match &self.active {
            Some((b, f)) if *b == base => Ok(f),
            _ => Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("segment {base} is not the active segment"),
            )),
        }
    }

    fn read_at(&self, base: u64, buf: &mut [u8], offset: u64) -> io::Result<()> {
        match &self.active {
            Some((b, f)) if *b == base => f.read_exact_at(buf, offset),
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
                if let Some(base) = plan.retention.new_segment {
                    f.create(base)?;
                }
                let file = f.active_file(plan.segment)?;
                let header = record_header(plan.seq, plan.ingest_time, payload);
                if payload.len() <= 64 * 1024 {
                    let mut buf = Vec::with_capacity(header.len() + payload.len());
                    buf.extend_from_slice(&header);
                    buf.extend_from_slice(payload);
                    file.write_all_at(&buf, plan.offset)?;
                } else {
                    file.write_all_at(&header, plan.offset)?;
                    file.write_all_at(payload, plan.offset + header.len() as u64)?;
                }
                f.evict(&plan.retention.evict)?;
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
                f.evict(&plan.evict)?;
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
                .filter(|(b, _)| *b == segment)
                .map(|(_, f)| f.clone()),
            Self::Memory(_) => None,
        }
    }

    /// Fsyncs every open segment (shutdown).
    pub fn sync_all(&self) -> io::Result<()> {
        if let Self::File(FileSegments {
            active: Some((_, file)),
            ..
        }) = self
        {
            file.sync_data()?;
        }
        Ok(())
    }

    /// Closes every file (before the folder is deleted).
    pub fn close(&mut self) {
        match self {
            Self::File(f) => f.active = None,
            Self::Memory(m) => *m = MemorySegments::default(),
        }
    }
}
