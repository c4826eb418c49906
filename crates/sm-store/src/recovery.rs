//! Start-up: every stream folder is loaded (on a few threads) and its log recovered with
//! `sm-log`'s lazy recovery; the repairs it plans are carried out by the segment files.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use sm_log::{RecoveryAction, ScanStop, StreamLog};
use sm_model::defaults::StorageSettings;
use tracing::{info, warn};

use crate::checkpoints;
use crate::definition::{self, LoadError};
use crate::segments::{FileSegments, Segments};
use crate::store::Context;
use crate::stream::{State, Stream};

/// Loads the stream of folder `dir`; `None` when it holds no definition (not a stream).
pub(crate) fn load_stream(dir: &Path, ctx: &Arc<Context>) -> Result<Option<Stream>, LoadError> {
    let Some(def) = definition::load(dir)? else {
        return Ok(None);
    };
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
    let (log, actions) =
        StreamLog::recover_lazy(definition::log_settings(&def), scan.sealed, scan.last);
    for a in &actions {
        report(&def.name, a);
    }
    let mut segments = FileSegments::open_recovered(
        dir,
        &actions,
        log.segment_bases(),
        log.active_segment()
            .and_then(|b| log.index_request(b))
            .map_or(0, |r| r.len),
        scan.checkpoint,
        ctx.faults.clone(),
    )?;
    segments.configure(&StorageSettings::of(&def));
    let ids: Vec<&str> = def.exports().iter().map(|e| e.identifier).collect();
    let exports = checkpoints::load(dir, &ids);
    info!(
        stream = %def.name,
        oldest = log.oldest_seq(),
        next = log.next_seq(),
        bytes = log.total_bytes(),
        "stream recovered"
    );
    let state = State {
        def,
        log,
        segments: Segments::File(segments),
        deleted: false,
    };
    let name = state.def.name.clone();
    Ok(Some(Stream::new(
        name,
        Some(dir.to_owned()),
        state,
        exports,
        ctx.clone(),
    )))
}

/// Logs one repair of a recovery.
fn report(stream: &str, a: &RecoveryAction) {
    match a {
        RecoveryAction::Truncate { segment, len } => {
            warn!(
                stream,
                segment, len, "truncating a torn tail left by a crash"
            )
        }
        RecoveryAction::RewriteHeader { segment } => {
            warn!(
                stream,
                segment, "segment header damaged; starting the segment afresh"
            )
        }
        RecoveryAction::Delete { segment } => {
            warn!(
                stream,
                segment, "deleting a segment file too short to hold a record"
            )
        }
        RecoveryAction::Ignore { segment, reason } => {
            warn!(stream, segment, "ignoring segment: {reason}")
        }
        RecoveryAction::SealedDamage {
            segment,
            at_seq,
            reason,
        } => {
            warn!(stream, segment, at_seq, "damaged record in an older segment ({reason}); the rest of that segment is skipped")
        }
    }
}

/// A folder's stream, or why it could not be loaded.
type LoadResult = Result<Option<Stream>, LoadError>;
type Loaded = (PathBuf, LoadResult);

/// Loads the stream folders on a few threads (start-up is mostly waiting on the disk).
pub(crate) fn load_all(folders: Vec<PathBuf>, ctx: &Arc<Context>) -> Vec<Loaded> {
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(1, 8)
        .min(folders.len().max(1));
    let next = AtomicUsize::new(0);
    let out: Mutex<Vec<Option<LoadResult>>> =
        Mutex::new((0..folders.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(dir) = folders.get(i) else { break };
                let r = load_stream(dir, ctx);
                out.lock().unwrap_or_else(PoisonError::into_inner)[i] = Some(r);
            });
        }
    });
    let results = out.into_inner().unwrap_or_else(PoisonError::into_inner);
    folders
        .into_iter()
        .zip(results)
        .map(|(dir, r)| {
            let r = r.unwrap_or_else(|| {
                Err(LoadError::Io(io::Error::other(
                    "stream folder was not loaded",
                )))
            });
            (dir, r)
        })
        .collect()
}
