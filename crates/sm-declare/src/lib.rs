//! Declared streams: stream definitions written by hand, in the wire shape (the camelCase keys
//! `smctl describe --json` prints; enums by name or number), read from JSON or YAML.
//!
//! This crate owns three things, all pure (no IO, no clock, no environment):
//!
//! * [`parse_streams_file`]: the daemon's `--streams-file` (a list under `streams:` and an
//!   optional `prune: true`), each definition validated with `sm-model`'s SDK limits;
//! * [`parse_definition`]: one definition, for `smctl create/update --definition FILE` (a
//!   whole `smctl describe --json` answer is taken too: its `definition` is used);
//! * [`plan`]: what to do to bring a store in line with a streams file: streams to create,
//!   to update (checked with `sm-model`'s UpdateMessageStream rules against the stream's
//!   current size and newest sequence number), left unchanged, and (only with `prune: true`)
//!   to delete.
//!
//! Every error is one [`DeclareError`] that names the file, the line and the field
//! (`streams.yaml:7: streams[1].maxSize: …`). Unknown keys are errors, so a misspelt key is
//! never silently dropped.
//!
//! # How it is driven
//!
//! The caller reads the file and hands its text to [`parse_streams_file`], collects the
//! current definition and [`CurrentState`] of each stream, calls [`plan`], and executes the
//! [`Plan`] with the store's own create, update and delete (the runtime at start-up and on
//! SIGHUP). A file that fails to parse, validate or plan gives an error and no plan, so
//! nothing is applied, and nothing is deleted, because of a mistake in it.

mod parse;
mod plan;

pub use parse::{parse_definition, parse_streams_file, Declared, StreamsFile};
pub use plan::{plan, Current, Plan};
pub use sm_model::update::CurrentState;

/// A streams file or a definition that cannot be used, with where the problem is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}: {}{message}", line.map(|l| format!(":{l}")).unwrap_or_default(), field.as_ref().map(|f| format!("{f}: ")).unwrap_or_default())]
pub struct DeclareError {
    /// The file as the caller named it.
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<u64>,
    /// The field, as a path of wire keys (`streams[1].exportDefinition.http[0].uri`).
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}
