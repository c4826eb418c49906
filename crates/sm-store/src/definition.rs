//! A stream's definition file (`stream.json`, replaced atomically) and the log settings a
//! definition gives.

use std::fs;
use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sm_log::{Full, LogSettings};
use sm_model::defaults::StorageSettings;
use sm_model::validate::{self, ValidationError};
use sm_model::{MessageStreamDefinition, StrategyOnFull};

use crate::fsutil::{write_atomic, DEFINITION_FILE};

/// The persisted form of a definition.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DefinitionFile {
    format_version: u32,
    definition: MessageStreamDefinition,
}

/// Why a stream folder's definition could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read {DEFINITION_FILE}: {0}")]
    Io(#[from] io::Error),
    /// The file is not a definition file.
    #[error("{DEFINITION_FILE} is not a valid definition: {0}")]
    Format(#[from] serde_json::Error),
    /// The definition breaks the protocol's rules.
    #[error("{DEFINITION_FILE} holds an invalid definition: {0}")]
    Invalid(#[from] ValidationError),
}

/// Replaces the definition file of the stream folder `dir`.
pub fn save(dir: &Path, def: &MessageStreamDefinition) -> io::Result<()> {
    let file = DefinitionFile {
        format_version: 1,
        definition: def.clone(),
    };
    let json = serde_json::to_vec_pretty(&file).map_err(io::Error::other)?;
    write_atomic(&dir.join(DEFINITION_FILE), &json)
}

/// The validated definition in the stream folder `dir`; `None` without a definition file.
pub fn load(dir: &Path) -> Result<Option<MessageStreamDefinition>, LoadError> {
    let bytes = match fs::read(dir.join(DEFINITION_FILE)) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let file: DefinitionFile = serde_json::from_slice(&bytes)?;
    validate::definition(&file.definition)?;
    Ok(Some(file.definition))
}

/// The log settings of a definition (its storage settings with the defaults filled in).
pub fn log_settings(def: &MessageStreamDefinition) -> LogSettings {
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
