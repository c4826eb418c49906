//! The export engine, sans-IO: every export decision of the daemon.
//!
//! This crate owns what happens between a message appended to a stream and its delivery to a
//! destination: which exports exist (matched to the stream definitions by identifier), when
//! each sends a batch (batch size or interval, priority, the concurrency bound and the
//! bandwidth cap: [`schedule`]), which records a batch holds (and which retention removed
//! before they were sent), how records become calls (HTTP posts, Kinesis `PutRecords` chunks
//! with random partition keys, IoT Analytics batches, conflict-free SiteWise requests, S3
//! uploads step by step with their status messages), what every answer means ([`classify`]:
//! one place for every destination), when to try again ([`retry`]: quick retries within a
//! send, then the export's capped exponential backoff, reset on progress, never giving up),
//! which records are skipped and counted, and when an export's position is saved and how
//! durably. It does no IO, reads no clock and draws no entropy: time comes in as `now` (ms
//! since the epoch), randomness from a seed ([`Config::seed`]), and IO goes out as
//! [`Action`]s whose results come back as events.
//!
//! `sm-s3plan` (how a file becomes S3 calls) and `sm-aws` (the shape of every AWS request and
//! answer) are driven by it; the scheduler and the retry policy are its modules.
//!
//! # Drive loop
//!
//! The runtime owns one [`Engine`] and feeds it events, in the shape of quinn-proto and str0m:
//!
//! * [`Engine::handle_streams`] when streams or their definitions change (with the saved
//!   progress of their exports);
//! * [`Engine::handle_bounds`] when a stream grows or retention removes records;
//! * [`Engine::handle_result`] with the result of an operation it asked for (a read, a call's
//!   answer, a file's bytes, ...).
//!
//! After every event it calls [`Engine::poll_action`] until `None`, performing each
//! [`Action`] (reading a range of a stream, sending a request, saving progress, appending a
//! status message, ...), then waits until [`Engine::poll_timeout`] or the next event. Actions
//! without a result ([`Action::SaveProgress`], [`Action::SaveUploadState`],
//! [`Action::AppendStatus`], [`Action::RemoveProgress`]) are carried out in the order given,
//! before the next action; the others may complete in any order.
//!
//! ```
//! use sm_export::{Action, Bounds, Config, Engine, OpResult, Record, StreamDef, StreamId};
//! # fn def() -> sm_model::MessageStreamDefinition {
//! #     serde_json::from_str(r#"{"name":"s","exportDefinition":{"http":[{"identifier":"h","uri":"http://127.0.0.1:1/x","batchSize":1}]}}"#).unwrap()
//! # }
//! let mut engine = Engine::new(Config::default(), 0);
//! engine.handle_streams(0, vec![StreamDef { id: StreamId(1), definition: def(), saved: Default::default() }]);
//! engine.handle_bounds(0, StreamId(1), Bounds { oldest: 0, next: 1 }, |_| None);
//! let mut read = None;
//! while let Some(action) = engine.poll_action(0) {
//!     if let Action::Read { op, from, .. } = action {
//!         read = Some((op, from));
//!     }
//! }
//! let (op, from) = read.expect("the export reads its first batch");
//! let record = Record { seq: from, ingest_time: 0, payload: "hi".into() };
//! engine.handle_result(0, op, OpResult::Read(Ok(vec![record])));
//! assert!(matches!(engine.poll_action(0), Some(Action::Call { .. })));
//! ```

mod api;
pub mod batch;
pub mod classify;
mod engine;
#[doc(hidden)]
pub mod fuzzing;
pub mod retry;
mod rng;
pub mod schedule;
mod send;
mod status;

pub use api::{
    Action, Answer, Bounds, Call, Config, FileInfo, OpId, OpResult, Persist, Record, StreamDef,
    StreamId, Target,
};
pub use batch::{BatchState, RecordOutcome, Settlement};
pub use classify::{Class, ExportError, Failure, IoFailure, TransportError, TransportKind};
pub use engine::{Engine, ExportView, DURABLE_EVERY_MS};
pub use retry::{Backoff, RetryPolicy, MAX_BACKOFF_MS};
pub use send::s3::{file_path, MAX_SINGLE_PUT};
