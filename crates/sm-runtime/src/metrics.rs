//! The opt-in metrics and health endpoint (`--metrics-address`): a minimal HTTP/1.1 server,
//! GET only, one request per connection, answering `GET /metrics` (Prometheus text),
//! `GET /health` (JSON; 503 when the store is not writable), and the status page (`GET /` and
//! the `GET /status.json` it reads; `sm_metrics::status`, glued in [`status`]).
//!
//! The counters live where the work happens: appends in [`crate::telemetry::Counters`] and in
//! each [`Stream`](crate::store::Stream), fsyncs in [`crate::store::fsutil`], export progress
//! and its error and retry counts in the export manager's [`ExportProgress`] (the same record
//! describe shows). A scrape takes a [`Snapshot`] of them ([`collect`], on the blocking pool:
//! it reads the ingest time of each export's oldest pending message) and renders it with the
//! pure `sm_metrics::render` and `sm_metrics::health`. A background task writes and removes a probe
//! file in the store root every [`PROBE_EVERY`] (no fsync) for the health's "store writable".

mod status;

use std::io::{self, Write as _};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tracing::{debug, info, warn};

use crate::clock;
use crate::server::Shared;
use sm_metrics::http::{find_head_end, response, route, Route, MAX_REQUEST_BYTES};
use sm_metrics::{DaemonMetrics, ExportMetrics, StreamMetrics};
pub use sm_metrics::{Snapshot, StoreProbe};

/// Endpoint settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsConfig {
    /// Where to listen.
    pub address: SocketAddr,
    /// An export with a backlog whose cursor has not moved for longer than this is stalled.
    pub stall_after: Duration,
}

/// How often the store root is probed.
pub const PROBE_EVERY: Duration = Duration::from_secs(5);
/// Name of the probe file in the store root (never a folder, so never taken for a stream).
pub const PROBE_FILE: &str = ".health-probe";
/// How long a client may take to send its request, and to read the answer.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// How long, and how many bytes, the rest of a request is read and dropped after the answer.
const LINGER: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 64 * 1024;
/// Requests served at once; further connections are closed at once.
const MAX_CONNECTIONS: usize = 16;

/// What the endpoint reads.
pub struct Endpoint {
    shared: Arc<Shared>,
    stall_after: Duration,
    probe: Mutex<StoreProbe>,
    history: Mutex<sm_metrics::status::History>,
}

impl Endpoint {
    /// An endpoint over the daemon's shared state.
    pub fn new(shared: Arc<Shared>, stall_after: Duration) -> Self {
        Self {
            shared,
            stall_after,
            probe: Mutex::new(StoreProbe::default()),
            history: Mutex::new(sm_metrics::status::History::default()),
        }
    }

    /// Probes the store root now (blocking) and records the result; logs changes.
    pub fn probe_now(&self) {
        let result = probe(self.shared.store.root());
        let new = StoreProbe {
            writable: result.is_ok(),
            checked_at_ms: clock::now_ms(),
            error: result.err().map(|e| e.to_string()),
        };
        let mut p = self.probe.lock().unwrap_or_else(|p| p.into_inner());
        // Before the first probe the store counts as writable: only a failure is news then.
        let was_writable = p.checked_at_ms == 0 || p.writable;
        if was_writable != new.writable {
            match &new.error {
                Some(e) => {
                    warn!(root = %self.shared.store.root().display(), "the store root is not writable: {e}")
                }
                None => {
                    info!(root = %self.shared.store.root().display(), "the store root is writable again")
                }
            }
        }
        *p = new;
    }

    /// A snapshot of every counter (blocking: it may read from the streams).
    pub fn snapshot(&self) -> Snapshot {
        let probe = self.probe.lock().unwrap_or_else(|p| p.into_inner()).clone();
        collect(
            &self.shared,
            probe,
            clock::now_ms(),
            self.stall_after.as_millis() as i64,
        )
    }
}

/// Writes and removes the probe file in `root` (no fsync).
fn probe(root: &Path) -> io::Result<()> {
    let path = root.join(PROBE_FILE);
    let mut f = std::fs::File::create(&path)?;
    let written = f.write_all(b"ok\n");
    drop(f);
    let removed = std::fs::remove_file(&path);
    written.and(removed)
}

/// Takes a snapshot of the daemon's counters. Lag comes from each stream's describe answer
/// (the same source of truth), the lag in seconds from the ingest time of the oldest message
/// not exported yet (one small read per export that is behind).
pub fn collect(
    shared: &Shared,
    store_probe: StoreProbe,
    now_ms: i64,
    stall_after_ms: i64,
) -> Snapshot {
    let telemetry = &shared.telemetry;
    let (appends, appended_bytes) = telemetry.appends();
    let mut streams = Vec::new();
    let mut exports = Vec::new();
    for stream in shared.store.streams() {
        let Some(o) = stream.observe() else {
            continue;
        };
        let st = &o.info.storage_status;
        let (oldest, newest) = (st.oldest_sequence_number, st.newest_sequence_number);
        streams.push(StreamMetrics {
            name: stream.name().to_owned(),
            appends: o.appends,
            appended_bytes: o.appended_bytes,
            stored_bytes: st.total_bytes,
            oldest,
            newest,
            corrupt_records: st.corrupt_records.unwrap_or(0),
            fsyncs: o.fsyncs,
        });
        for (status, e) in o.info.export_statuses.iter().zip(&o.exports) {
            exports.push(ExportMetrics::of(
                stream.name(),
                e.kind.wire_key(),
                e.disabled,
                status,
                &e.progress,
                (oldest, newest),
                |seq| stream.ingest_time_at(seq),
            ));
        }
    }
    Snapshot {
        now_ms,
        stall_after_ms,
        daemon: DaemonMetrics {
            appends,
            appended_bytes,
            append_io_errors: telemetry.append_io_errors(),
            uploaded_bytes: telemetry
                .uploaded_by_kind()
                .iter()
                .map(|(k, v)| (k.wire_key(), *v))
                .collect(),
            fsyncs: crate::store::fsutil::fsyncs(),
            connections_open: shared.open_connections() as u64,
            store: store_probe,
        },
        streams,
        exports,
    }
}

/// Reads a request head: up to the blank line, at most [`MAX_REQUEST_BYTES`].
async fn read_head(sock: &mut TcpStream) -> Result<Vec<u8>, u16> {
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = find_head_end(&buf) {
            buf.truncate(end);
            return Ok(buf);
        }
        if buf.len() >= MAX_REQUEST_BYTES {
            return Err(431);
        }
        let want = chunk.len().min(MAX_REQUEST_BYTES - buf.len());
        match sock.read(&mut chunk[..want]).await {
            Ok(0) | Err(_) => return Err(400),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

async fn answer(mut sock: TcpStream, peer: SocketAddr, endpoint: Arc<Endpoint>) {
    let head = match tokio::time::timeout(IO_TIMEOUT, read_head(&mut sock)).await {
        Ok(Ok(h)) => Ok(h),
        Ok(Err(status)) => Err(status),
        Err(_) => Err(408),
    };
    let out = match head.map(|h| route(&h)) {
        Err(status) => {
            debug!(%peer, status, "metrics endpoint: bad request");
            response(status, "text/plain; charset=utf-8", b"bad request\n")
        }
        Ok(Route::Refused(status, why)) => {
            debug!(%peer, status, "metrics endpoint: {why}");
            response(
                status,
                "text/plain; charset=utf-8",
                format!("{why}\n").as_bytes(),
            )
        }
        Ok(Route::Page) => response(
            200,
            "text/html; charset=utf-8",
            sm_metrics::status::PAGE.as_bytes(),
        ),
        Ok(r @ (Route::Metrics | Route::Health | Route::Status)) => {
            let e = endpoint.clone();
            match tokio::task::spawn_blocking(move || e.snapshot()).await {
                Err(err) => {
                    warn!("metrics endpoint: taking the snapshot failed: {err}");
                    response(500, "text/plain; charset=utf-8", b"internal error\n")
                }
                Ok(snapshot) if r == Route::Metrics => response(
                    200,
                    sm_metrics::CONTENT_TYPE,
                    sm_metrics::render(&snapshot).as_bytes(),
                ),
                Ok(snapshot) if r == Route::Status => {
                    let history = endpoint
                        .history
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .clone();
                    let body = status::json(&snapshot, &history);
                    response(200, "application/json", body.as_bytes())
                }
                Ok(snapshot) => {
                    let h = sm_metrics::health(&snapshot);
                    let mut body = h.body.to_string();
                    body.push('\n');
                    response(h.http_status, "application/json", body.as_bytes())
                }
            }
        }
    };
    let _ = tokio::time::timeout(IO_TIMEOUT, async {
        sock.write_all(&out).await?;
        sock.shutdown().await
    })
    .await;
    // Read what the client may still be sending (the rest of a refused request) until it
    // closes, briefly and boundedly: closing with unread input would reset the connection
    // and could destroy the answer before the client reads it.
    let _ = tokio::time::timeout(LINGER, async {
        let mut sink = [0u8; 4096];
        let mut left = LINGER_BYTES;
        while left > 0 {
            match sock.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    })
    .await;
}

/// Serves the endpoint on `listener` until the task is aborted, and probes the store root
/// every [`PROBE_EVERY`].
pub async fn serve(listener: TcpListener, endpoint: Arc<Endpoint>) {
    let prober = {
        let endpoint = endpoint.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(PROBE_EVERY);
            loop {
                tick.tick().await;
                let e = endpoint.clone();
                let _ = tokio::task::spawn_blocking(move || e.probe_now()).await;
            }
        })
    };
    let _stop_prober = AbortOnDrop(prober);
    let _stop_sampler = AbortOnDrop(tokio::spawn(status::sampler(endpoint.clone())));
    let busy = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        match listener.accept().await {
            Ok((sock, peer)) => {
                let Ok(slot) = busy.clone().try_acquire_owned() else {
                    debug!(%peer, "metrics endpoint busy: connection closed");
                    continue;
                };
                let endpoint = endpoint.clone();
                tokio::spawn(async move {
                    answer(sock, peer, endpoint).await;
                    drop(slot);
                });
            }
            Err(e) => {
                warn!("metrics endpoint: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_writes_and_removes_its_file() {
        let dir = tempfile::tempdir().unwrap();
        probe(dir.path()).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        assert!(probe(&dir.path().join("missing")).is_err());
    }
}
