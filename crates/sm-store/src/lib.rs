//! Durable local streams, embeddable in any Rust program: std only, no async runtime.
//!
//! This crate owns the files of a stream store: it executes `sm-log`'s plans (append, read,
//! retention, recovery) on segment files ([`Persistence::File`](sm_model::Persistence)) or in
//! memory, keeps the registry of streams ([`Store`]), writes the definition, export checkpoint,
//! upload resume state and tail checkpoint files atomically, recovers every stream at start-up
//! (in parallel, repairing a torn tail), and makes flushOnWrite appends durable with group
//! commit (concurrent appenders share one `fdatasync`). The decisions are `sm-log`'s (what to
//! write where, what to evict, what a torn tail is) and `sm-model`'s (validation, defaults,
//! update rules); this crate carries them out and reports failures as [`StoreError`]s, each
//! with the response status it answers.
//!
//! # Drive
//!
//! Open a [`Store`] (recovery runs there), then call it from any number of threads: create,
//! update and delete streams; [`Stream::append`] (blocks until the record is stored, and
//! durable with flushOnWrite) or [`Stream::write_batch`] + [`Stream::settle`]; read with
//! [`Stream::try_read`] or the waiting [`Stream::read`]. Call [`Store::expire_all`] every few
//! seconds (TTL retention, retried removals, tail checkpoints) and [`Store::sync_all`] at a
//! clean shutdown. Time comes from the [`Clock`] in [`Options`] (the system clock by default).
//!
//! Async code (the daemon) uses the same store without blocking its threads:
//! [`Stream::settle_or_defer`] acknowledges at once what needs no fsync, syncs a lone
//! appender on the calling thread when the caller says that thread has nothing else to do,
//! and otherwise hands the group commit to the store's sync thread, which calls back with the
//! acknowledgements (one thread hop, none back). [`Store::activity`] and [`Stream::changes`]
//! are the [`Signal`]s an export manager and long-poll readers wait on (from threads or any
//! executor's tasks).
//!
//! # Example: a plain program that appends, reads, and recovers
//!
//! ```
//! use std::time::Duration;
//! use sm_model::{MessageStreamDefinition, Persistence, StrategyOnFull};
//! use sm_store::Store;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let tmp = tempfile::tempdir()?;
//! # let root = tmp.path();
//! let store = Store::open(root)?;
//! store.create(MessageStreamDefinition {
//!     name: "telemetry".into(),
//!     strategy_on_full: Some(StrategyOnFull::OverwriteOldestData),
//!     persistence: Some(Persistence::File),
//!     flush_on_write: Some(true),
//!     ..Default::default()
//! })?;
//! let stream = store.get("telemetry")?;
//!
//! // Four threads append 25 messages each; concurrent appends share their fsyncs.
//! std::thread::scope(|s| {
//!     for t in 0..4 {
//!         let stream = &stream;
//!         s.spawn(move || {
//!             for i in 0..25 {
//!                 stream.append(format!("{t}:{i}").as_bytes()).unwrap();
//!             }
//!         });
//!     }
//! });
//!
//! // A reader waits up to a second for at least 100 messages from sequence number 0.
//! let messages = stream.read(0, 100, 100, Duration::from_secs(1))?;
//! assert_eq!(messages.len(), 100);
//! assert_eq!(messages[99].seq, 99);
//!
//! // No clean shutdown (as after a crash): every acknowledged flushOnWrite append is on
//! // disk, and opening the store again recovers the stream.
//! drop(stream);
//! drop(store);
//! let store = Store::open(root)?;
//! let stream = store.get("telemetry")?;
//! assert_eq!(stream.bounds(), Some((100, 0)));
//! assert_eq!(stream.append(b"after the restart")?, 100);
//! store.sync_all();
//! # Ok(())
//! # }
//! ```

pub mod checkpoints;
pub mod clock;
pub mod commit;
mod definition;
mod durability;
mod error;
pub mod faults;
pub mod fsutil;
mod observe;
mod recovery;
mod segments;
pub mod signal;
mod store;
mod stream;
mod syncer;

pub use checkpoints::ExportProgress;
pub use clock::{Clock, SystemClock};
pub use error::StoreError;
pub use observe::{Observed, ObservedExport, Persist};
pub use segments::{CHECKPOINT_FILE, INDEXED_SEALED};
pub use signal::Signal;
pub use store::{Options, Store};
pub use stream::{OwnedMessage, ReadOutcome, Stream, WrittenBatch, SOFT_READ_BYTES};
