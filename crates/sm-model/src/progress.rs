//! The progress of one export: what describe shows of it and what its checkpoint file carries
//! across restarts. The export engine (`sm-export`) keeps it; the store persists it.

use serde::{Deserialize, Serialize};

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
    /// Messages skipped: refused for good by the destination (or invalid for it), or removed
    /// by retention before they were exported (those are also counted in `evicted_messages`).
    pub skipped_messages: u64,
    /// Of the skipped messages, those removed by retention before they were exported.
    #[serde(default)]
    pub evicted_messages: u64,
    /// Failed attempts since the daemon started: calls that failed in whole or in part (and
    /// are retried), and batches that could not be read. Not saved.
    #[serde(skip)]
    pub errors: u64,
    /// Attempts since the daemon started that repeated (part of) a call or a batch already
    /// attempted. Not saved.
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
            evicted_messages: 0,
            errors: 0,
            retries: 0,
            moved_at: 0,
        }
    }
}

/// How an export's progress is saved: the export engine decides, the store carries it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persist {
    /// Only in memory, for describe (Memory streams, or only the error changed).
    No,
    /// Atomic replace without fsync: survives a crash of the daemon.
    Fast,
    /// Atomic replace with fsync: survives a power loss too.
    Durable,
}
