//! An async Rust client of the stream manager protocol (`reference.md` §1): the counterpart
//! of the official `StreamManagerClient` SDKs, for benchmarks, the operator CLI and Rust edge
//! agents.
//!
//! This crate owns the client side of a connection: the Connect handshake (version byte,
//! protocol `1.1.0` with `1.0.0` as fallback, `sdkVersion`, the optional `authToken`), one
//! `requestId` per request, the per-request timeout, the mapping of response statuses to
//! [`Error`] variants, reconnection, and the SDK's client-side checks (names, non-empty
//! payloads, read options). Frames and data types come from `sm-wire` and `sm-model`; the
//! types a caller needs are re-exported here.
//!
//! # How it is driven
//!
//! A [`Client`] is a cheap, cloneable handle (`Send + Sync`) over one TCP connection. Each call
//! encodes its request, registers a waiter under its `requestId` and queues the frame for a
//! writer task; a reader task decodes response frames and completes the waiters by
//! `requestId`. So any number of tasks may call one client at once: their requests are
//! pipelined and a long-poll read never blocks an append. When the connection drops, the
//! calls waiting on it fail with [`Error::Connection`] and the next call reconnects.
//! [`Client::append_many`] pipelines a batch of appends from a single task: its requests are
//! encoded without serde, queued a chunk at a time, and their answers collected by the reader
//! into one batch rather than one channel each (about half a CPU-µs per 512-byte append).
//! [`Client::with_request_timeout`] gives a handle on the same connection with another
//! timeout (a read may only wait as long as its handle's timeout).
//!
//! The client needs a Tokio runtime with the `net`, `time` and `io-util` drivers.
//!
//! # Example
//!
//! ```no_run
//! use sm_client::{Client, ClientConfig, MessageStreamDefinition, ReadMessagesOptions, StrategyOnFull};
//!
//! # async fn demo() -> Result<(), sm_client::Error> {
//! let client = Client::connect(ClientConfig::new("127.0.0.1", 8088)).await?;
//! client
//!     .create_message_stream(&MessageStreamDefinition {
//!         name: "telemetry".into(),
//!         strategy_on_full: Some(StrategyOnFull::OverwriteOldestData),
//!         ..Default::default()
//!     })
//!     .await?;
//! let seq = client.append_message("telemetry", b"{\"t\": 21.5}").await?;
//! let messages = client
//!     .read_messages(
//!         "telemetry",
//!         ReadMessagesOptions {
//!             desired_start_sequence_number: Some(seq),
//!             min_message_count: Some(1),
//!             read_timeout_millis: Some(5_000),
//!             ..Default::default()
//!         },
//!     )
//!     .await?;
//! assert_eq!(messages[0].payload, b"{\"t\": 21.5}");
//! # Ok(())
//! # }
//! ```
//!
//! Concurrent callers share the connection; spawn clones:
//!
//! ```no_run
//! # async fn demo(client: sm_client::Client) -> Result<(), sm_client::Error> {
//! let mut tasks = tokio::task::JoinSet::new();
//! for i in 0..8u8 {
//!     let client = client.clone();
//!     tasks.spawn(async move { client.append_message("telemetry", [i]).await });
//! }
//! while let Some(seq) = tasks.join_next().await {
//!     seq.expect("task panicked")?;
//! }
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

mod client;
mod config;
mod conn;
mod error;

pub use client::Client;
pub use config::ClientConfig;
pub use conn::Session;
pub use error::{Error, StatusError};
pub use sm_model::{
    ExportDefinition, ExportFormat, ExportStatus, HttpConfig, IoTAnalyticsConfig,
    IoTSiteWiseConfig, KinesisConfig, Message, MessageStreamDefinition, MessageStreamInfo,
    Persistence, ReadMessagesOptions, ResponseStatusCode, S3ExportTaskExecutorConfig, StatusConfig,
    StatusLevel, StorageStatus, StrategyOnFull, ValidationError,
};
