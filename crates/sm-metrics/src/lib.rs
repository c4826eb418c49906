//! What the observability endpoints say, sans-IO: the [`Snapshot`] of every counter and gauge,
//! its Prometheus text ([`prometheus::render`]), the health verdict ([`health::health`]), and
//! the HTTP routing and response bytes of the endpoint ([`http`]), and the status page
//! ([`status`]: the bounded history of rates, the JSON the page reads, the page itself).
//!
//! # Drive
//!
//! The runtime owns the counters (where the work happens), the socket and the clock. For each
//! request it reads the head and asks [`http::route`] what it wants; for `/metrics` or
//! `/health` it takes a [`Snapshot`] (the time it was taken included), renders it with
//! [`prometheus::render`] or [`health::health`], and writes [`http::response`]'s bytes; for
//! `/` it writes [`status::PAGE`], for `/status.json` [`status::status_json`] of the snapshot
//! and of the [`status::History`] it samples every [`status::SAMPLE_EVERY_MS`]. Nothing
//! here reads a clock, a file or a socket: the same snapshot always says the same thing.

pub mod health;
pub mod http;
pub mod prometheus;
mod snapshot;
pub mod status;

pub use health::{health, Health, Status};
pub use prometheus::{render, CONTENT_TYPE};
pub use snapshot::{DaemonMetrics, ExportMetrics, Snapshot, StoreProbe, StreamMetrics};
