//! What a stream tells about itself (describe's answer, the metrics' view) and the export
//! state kept with it: each export's progress (checkpoint files) and S3 upload resume state.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::PoisonError;

use sm_model::defaults;
use sm_model::{ExportStatus, MessageStreamInfo, StorageStatus};

use crate::checkpoints::{self, ExportProgress};
use crate::stream::{State, Stream};
use crate::StoreError;

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
    /// Appends acknowledged since the store was opened.
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

impl Stream {
    /// The describe answer.
    pub fn info(&self) -> Result<MessageStreamInfo, StoreError> {
        let st = self.lock();
        if st.deleted {
            return Err(StoreError::NotFound(self.name.clone()));
        }
        let progress = self.exports.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(Self::info_of(&st, &progress))
    }

    /// Describe's answer and each export's kind and full progress, under the stream's lock
    /// (so the two agree), with the stream's counters; `None` once deleted.
    pub fn observe(&self) -> Option<Observed> {
        let st = self.lock();
        if st.deleted {
            return None;
        }
        let progress = self.exports.lock().unwrap_or_else(PoisonError::into_inner);
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

    /// Number of fsyncs group commit has run for this stream's appends.
    pub fn fsync_count(&self) -> u64 {
        self.commit.fsyncs()
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

    /// The export's progress, if the export manager has recorded any.
    pub fn export_progress(&self, identifier: &str) -> Option<ExportProgress> {
        self.exports
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(identifier)
            .cloned()
    }

    /// Records an export's progress, and persists it as a checkpoint for File streams
    /// (`Persist::Fast` survives a process crash, `Persist::Durable` also a power loss).
    pub fn set_export_progress(
        &self,
        p: ExportProgress,
        persist: Persist,
    ) -> Result<(), StoreError> {
        let dir = self.dir.clone();
        self.exports
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(p.identifier.clone(), p.clone());
        match (&dir, persist) {
            (Some(dir), Persist::Fast | Persist::Durable) if !self.lock().deleted => {
                checkpoints::save(dir, &p, persist == Persist::Durable)
                    .map_err(|e| StoreError::io("saving an export checkpoint", &self.name, e))
            }
            _ => Ok(()),
        }
    }

    /// Forgets an export's progress and deletes its checkpoint.
    pub fn remove_export_progress(&self, identifier: &str) -> Result<(), StoreError> {
        self.exports
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(identifier);
        match &self.dir {
            Some(dir) if !self.lock().deleted => checkpoints::remove(dir, identifier)
                .map_err(|e| StoreError::io("removing an export checkpoint", &self.name, e)),
            _ => Ok(()),
        }
    }

    /// The resume state an export saved for the upload it has under way (opaque bytes: the
    /// S3 exporter's multipart upload), if any. File streams only: a Memory stream keeps
    /// none (nothing of it survives a restart anyway).
    pub fn upload_state(&self, export_id: &str) -> Option<Vec<u8>> {
        let dir = self.dir.as_ref()?;
        std::fs::read(checkpoints::upload_state_path(dir, export_id)).ok()
    }

    /// Saves an export's upload resume state, durably (atomic replace with fsync).
    pub fn set_upload_state(&self, export_id: &str, bytes: &[u8]) -> Result<(), StoreError> {
        match &self.dir {
            Some(dir) if !self.lock().deleted => {
                crate::fsutil::write_atomic(&checkpoints::upload_state_path(dir, export_id), bytes)
                    .map_err(|e| StoreError::io("saving an upload's resume state", &self.name, e))
            }
            _ => Ok(()),
        }
    }

    /// Deletes an export's upload resume state (the upload finished or was given up).
    pub fn clear_upload_state(&self, export_id: &str) -> Result<(), StoreError> {
        let Some(dir) = &self.dir else {
            return Ok(());
        };
        match std::fs::remove_file(checkpoints::upload_state_path(dir, export_id)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(StoreError::io(
                "removing an upload's resume state",
                &self.name,
                e,
            )),
            _ => Ok(()),
        }
    }
}
