//! Export state kept in a stream's folder, and the one owner of its file names: the export
//! checkpoints (`export-<hash>.json`: the progress describe shows, carried across restarts)
//! and the upload resume states (`s3task-<hash>.json`: opaque bytes an exporter saves for an
//! upload under way), both replaced atomically beside the segments.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tracing::warn;

use crate::fsutil::{fnv1a, replace};

/// Prefix of checkpoint file names.
pub const CHECKPOINT_PREFIX: &str = "export-";
/// Prefix of upload resume state file names.
pub const UPLOAD_STATE_PREFIX: &str = "s3task-";

/// The progress of one export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportProgress {
    /// The export's identifier.
    pub identifier: String,
    /// The next sequence number to export.
    pub cursor: u64,
    /// The `startSequenceNumber` the cursor was started from (a change moves the cursor).
    #[serde(default)]
    pub start_sequence_number: u64,
    /// Time of the last export attempt, ms since the epoch (0 before the first).
    pub last_export_time: i64,
    /// The last attempt's error, if it failed.
    pub error_message: Option<String>,
    /// Bytes delivered.
    pub exported_bytes: u64,
    /// Messages delivered.
    pub exported_messages: u64,
    /// Messages skipped: non-retryable errors, or removed by retention before export.
    pub skipped_messages: u64,
    /// Failed attempts since the daemon started (a send that failed in whole or in part and is
    /// retried, or a batch that could not be read). Not saved.
    #[serde(skip)]
    pub errors: u64,
    /// Sends since the daemon started that repeated (part of) a batch already attempted. Not
    /// saved.
    #[serde(skip)]
    pub retries: u64,
    /// When the cursor last moved forward (ms since the epoch; when the daemon took the export
    /// up, before it moved). Not saved: health's stall detection.
    #[serde(skip)]
    pub moved_at: i64,
}

impl ExportProgress {
    /// Progress of an export that has not sent anything yet.
    pub fn new(identifier: &str, start: u64) -> Self {
        Self {
            identifier: identifier.to_owned(),
            cursor: start,
            start_sequence_number: start,
            last_export_time: 0,
            error_message: None,
            exported_bytes: 0,
            exported_messages: 0,
            skipped_messages: 0,
            errors: 0,
            retries: 0,
            moved_at: 0,
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CheckpointFile {
    format_version: u32,
    progress: ExportProgress,
}

/// The checkpoint file of `identifier` in a stream folder.
pub fn path(dir: &Path, identifier: &str) -> PathBuf {
    dir.join(format!(
        "{CHECKPOINT_PREFIX}{:016x}.json",
        fnv1a(identifier.as_bytes())
    ))
}

/// The upload resume state file of export `identifier` in a stream folder.
pub fn upload_state_path(dir: &Path, identifier: &str) -> PathBuf {
    dir.join(format!(
        "{UPLOAD_STATE_PREFIX}{:016x}.json",
        fnv1a(identifier.as_bytes())
    ))
}

/// Whether a file name is an upload resume state file.
pub fn is_upload_state_file(name: &str) -> bool {
    name.starts_with(UPLOAD_STATE_PREFIX) && name.ends_with(".json")
}

/// Whether a file name is a checkpoint file (or its temporary).
pub fn is_checkpoint_file(name: &str) -> bool {
    name.starts_with(CHECKPOINT_PREFIX) && (name.ends_with(".json") || name.ends_with(".tmp"))
}

/// Writes the checkpoint atomically; `durable` adds the fsyncs (see [`replace`]).
pub fn save(dir: &Path, p: &ExportProgress, durable: bool) -> io::Result<()> {
    let file = CheckpointFile {
        format_version: 1,
        progress: p.clone(),
    };
    let json = serde_json::to_vec(&file).map_err(io::Error::other)?;
    replace(&path(dir, &p.identifier), &json, durable)
}

/// Removes a checkpoint (the export was removed).
pub fn remove(dir: &Path, identifier: &str) -> io::Result<()> {
    match fs::remove_file(path(dir, identifier)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Loads the checkpoints of a stream folder for the identifiers still configured; deletes
/// the others (exports removed while the daemon was down) and warns about unreadable ones.
pub fn load(dir: &Path, configured: &[&str]) -> BTreeMap<String, ExportProgress> {
    let mut out = BTreeMap::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with(CHECKPOINT_PREFIX) {
            continue;
        }
        let p = entry.path();
        if name.ends_with(".tmp") {
            // A replace that never finished: the old file (if any) is still whole.
            let _ = fs::remove_file(&p);
            continue;
        }
        let parsed = fs::read(&p)
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice::<CheckpointFile>(&b).map_err(|e| e.to_string()));
        match parsed {
            Ok(c) if configured.contains(&c.progress.identifier.as_str()) => {
                out.insert(c.progress.identifier.clone(), c.progress);
            }
            Ok(c) => {
                warn!(file = %p.display(), export = %c.progress.identifier, "removing the checkpoint of an export that is no longer configured");
                let _ = fs::remove_file(&p);
            }
            Err(e) => {
                warn!(file = %p.display(), "unreadable export checkpoint ({e}); the export restarts from its startSequenceNumber")
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_cleanup() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = ExportProgress::new("a b", 3);
        p.cursor = 42;
        p.error_message = Some("boom".into());
        save(dir.path(), &p, true).unwrap();
        save(dir.path(), &ExportProgress::new("gone", 0), false).unwrap();
        fs::write(dir.path().join("export-0000000000000000.json.tmp"), b"{").unwrap();
        let loaded = load(dir.path(), &["a b"]);
        assert_eq!(loaded.get("a b"), Some(&p));
        assert_eq!(loaded.len(), 1);
        // The unconfigured export's file and the temporary are gone.
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        remove(dir.path(), "a b").unwrap();
        remove(dir.path(), "a b").unwrap();
        assert!(load(dir.path(), &["a b"]).is_empty());
    }

    #[test]
    fn upload_states_have_their_own_names() {
        let dir = tempfile::tempdir().unwrap();
        let p = upload_state_path(dir.path(), "e");
        let name = p.file_name().unwrap().to_str().unwrap();
        assert!(is_upload_state_file(name), "{name}");
        assert!(!is_checkpoint_file(name));
        assert_ne!(p, path(dir.path(), "e"));
        assert_ne!(p, upload_state_path(dir.path(), "f"));
    }
}
