//! The opt-in metrics and health endpoint (`--metrics-address`): a minimal HTTP/1.1 server,
//! GET only, one request per connection, answering `GET /metrics` (Prometheus text),
//! `GET /health` (JSON; 503 when the store is not writable), and the status page (`GET /`
//! and the `GET /status.json` it reads: `sm-status`, glued in [`status`]).
//!
//! The counters live where the work happens: appends in [`crate::telemetry::Counters`] and in
//! each [`Stream`](crate::store::Stream), fsyncs in [`crate::store::fsutil`], export progress
//! and its error and retry counts in the export manager's [`ExportProgress`] (the same record
//! describe shows). A scrape takes a [`Snapshot`] of them ([`collect`], on the blocking pool:
//! it reads the ingest time of each export's oldest pending message) and renders it with the
//! pure [`render::render`] and [`render::health`]. A background task writes and removes a probe
//! file in the store root every [`PROBE_EVERY`] (no fsync) for the health's "store writable".

pub mod render;
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
use crate::store::checkpoints::ExportProgress;
use render::{DaemonMetrics, ExportMetrics, StreamMetrics};
pub use render::{Snapshot, StoreProbe};

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
/// Largest request head read.
const MAX_REQUEST_BYTES: usize = 8 * 1024;
/// How long a client may take to send its request, and to read the answer.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// How long, and how many bytes, the rest of a request is read and dropped after the answer.
const LINGER: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 64 * 1024;
/// Requests served at once; further connections are closed at once.
const MAX_CONNECTIONS: usize = 16;

/// Parses `--metrics-address`: `IP:PORT`, `[IPv6]:PORT` or `localhost:PORT`. A non-loopback
/// address is refused unless `allow_non_loopback`.
pub fn parse_address(text: &str, allow_non_loopback: bool) -> anyhow::Result<SocketAddr> {
    let text = text.trim();
    let addr = match text.strip_prefix("localhost:") {
        Some(port) => port
            .parse::<u16>()
            .map(|p| SocketAddr::from(([127, 0, 0, 1], p)))
            .ok(),
        None => text.parse::<SocketAddr>().ok(),
    }
    .ok_or_else(|| {
        anyhow::anyhow!(
            "--metrics-address must be HOST:PORT with an IP address or localhost (e.g. 127.0.0.1:9464), got {text:?}"
        )
    })?;
    if !addr.ip().is_loopback() && !allow_non_loopback {
        anyhow::bail!(
            "--metrics-address {addr} is not a loopback address: the endpoint has no authentication; \
             pass --metrics-allow-non-loopback (STREAM_MANAGER_METRICS_ALLOW_NON_LOOPBACK=true) to serve it there"
        );
    }
    Ok(addr)
}

/// What the endpoint reads.
pub struct Endpoint {
    shared: Arc<Shared>,
    stall_after: Duration,
    probe: Mutex<StoreProbe>,
    history: Mutex<sm_status::History>,
}

impl Endpoint {
    /// An endpoint over the daemon's shared state.
    pub fn new(shared: Arc<Shared>, stall_after: Duration) -> Self {
        Self {
            shared,
            stall_after,
            probe: Mutex::new(StoreProbe::default()),
            history: Mutex::new(sm_status::History::default()),
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
            let ExportProgress {
                exported_bytes,
                exported_messages,
                skipped_messages,
                errors,
                retries,
                moved_at,
                ..
            } = e.progress;
            // Pending: after the last exported and still held (older ones are skipped).
            let first_pending = (status.last_exported_sequence_number + 1).max(oldest);
            let lag_messages = (newest + 1 - first_pending).max(0) as u64;
            let oldest_pending_ingest_ms = if lag_messages > 0 {
                stream.ingest_time_at(first_pending as u64)
            } else {
                None
            };
            exports.push(ExportMetrics {
                stream: stream.name().to_owned(),
                identifier: status.export_config_identifier.clone(),
                kind: e.kind.wire_key(),
                disabled: e.disabled,
                last_exported: status.last_exported_sequence_number,
                messages: exported_messages,
                bytes: exported_bytes,
                skipped: skipped_messages,
                errors,
                retries,
                lag_messages,
                oldest_pending_ingest_ms,
                moved_at_ms: moved_at,
                last_error: status.error_message.clone(),
            });
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

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `GET /metrics`.
    Metrics,
    /// `GET /health`.
    Health,
    /// `GET /`: the status page.
    Page,
    /// `GET /status.json`: what the page shows.
    Status,
    /// Anything else: the status and a one-line reason.
    Refused(u16, &'static str),
}

/// Routes a request head (the bytes before the blank line). Only the request line is read;
/// headers are ignored.
pub fn route(head: &[u8]) -> Route {
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let Ok(line) = std::str::from_utf8(line) else {
        return Route::Refused(400, "the request line is not UTF-8");
    };
    let mut parts = line.trim_end_matches('\r').split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Route::Refused(400, "malformed request line");
    };
    if !version.starts_with("HTTP/1.") {
        return Route::Refused(400, "only HTTP/1.x is served");
    }
    if method != "GET" {
        return Route::Refused(405, "only GET is served");
    }
    match target.split('?').next().unwrap_or_default() {
        "/metrics" => Route::Metrics,
        "/health" => Route::Health,
        "/" | "/index.html" => Route::Page,
        "/status.json" => Route::Status,
        _ => Route::Refused(404, "not found: GET /, /status.json, /metrics or /health"),
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

/// A whole HTTP/1.1 response that closes the connection.
fn response(status: u16, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n{}\r\n",
        reason(status),
        body.len(),
        if status == 405 { "Allow: GET\r\n" } else { "" },
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
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

fn find_head_end(buf: &[u8]) -> Option<usize> {
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n");
    let lf = buf.windows(2).position(|w| w == b"\n\n");
    crlf.into_iter().chain(lf).min()
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
        Ok(Route::Page) => response(200, "text/html; charset=utf-8", sm_status::PAGE.as_bytes()),
        Ok(r @ (Route::Metrics | Route::Health | Route::Status)) => {
            let e = endpoint.clone();
            match tokio::task::spawn_blocking(move || e.snapshot()).await {
                Err(err) => {
                    warn!("metrics endpoint: taking the snapshot failed: {err}");
                    response(500, "text/plain; charset=utf-8", b"internal error\n")
                }
                Ok(snapshot) if r == Route::Metrics => response(
                    200,
                    render::CONTENT_TYPE,
                    render::render(&snapshot).as_bytes(),
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
                    let h = render::health(&snapshot);
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
    fn routes() {
        assert_eq!(route(b"GET /metrics HTTP/1.1\r\nHost: x"), Route::Metrics);
        assert_eq!(route(b"GET /metrics?name[]=x HTTP/1.0"), Route::Metrics);
        assert_eq!(route(b"GET /health HTTP/1.1\nAccept: */*"), Route::Health);
        assert_eq!(route(b"GET / HTTP/1.1"), Route::Page);
        assert_eq!(route(b"GET /status.json?x=1 HTTP/1.1"), Route::Status);
        assert!(matches!(
            route(b"GET /other HTTP/1.1"),
            Route::Refused(404, _)
        ));
        assert!(matches!(
            route(b"GET /metrics/x HTTP/1.1"),
            Route::Refused(404, _)
        ));
        assert!(matches!(
            route(b"POST /metrics HTTP/1.1"),
            Route::Refused(405, _)
        ));
        assert!(matches!(
            route(b"HEAD /health HTTP/1.1"),
            Route::Refused(405, _)
        ));
        assert!(matches!(route(b"GET /metrics"), Route::Refused(400, _)));
        assert!(matches!(
            route(b"GET /metrics HTTP/2.0"),
            Route::Refused(400, _)
        ));
        assert!(matches!(
            route(b"GET  /metrics HTTP/1.1"),
            Route::Refused(400, _)
        ));
        assert!(matches!(route(b"\xff\xfe"), Route::Refused(400, _)));
        assert!(matches!(route(b""), Route::Refused(400, _)));
    }

    #[test]
    fn head_end_and_responses() {
        assert_eq!(
            find_head_end(b"GET / HTTP/1.1\r\nA: b\r\n\r\nbody"),
            Some(20)
        );
        assert_eq!(find_head_end(b"GET / HTTP/1.1\n\n"), Some(14));
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\n"), None);
        let r = String::from_utf8(response(405, "text/plain", b"no\n")).unwrap();
        assert!(r.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"), "{r}");
        assert!(r.contains("\r\nAllow: GET\r\n"));
        assert!(r.contains("\r\nContent-Length: 3\r\n"));
        assert!(r.ends_with("\r\n\r\nno\n"));
    }

    #[test]
    fn addresses() {
        assert_eq!(
            parse_address("127.0.0.1:9464", false).unwrap(),
            "127.0.0.1:9464".parse().unwrap()
        );
        assert_eq!(
            parse_address("localhost:0", false).unwrap(),
            "127.0.0.1:0".parse().unwrap()
        );
        assert_eq!(
            parse_address("[::1]:9", false).unwrap(),
            "[::1]:9".parse().unwrap()
        );
        let e = parse_address("0.0.0.0:9464", false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--metrics-allow-non-loopback"), "{e}");
        assert!(parse_address("192.168.1.2:9464", false).is_err());
        assert_eq!(
            parse_address("0.0.0.0:9464", true).unwrap(),
            "0.0.0.0:9464".parse().unwrap()
        );
        for bad in ["9464", "127.0.0.1", "example.com:80", "127.0.0.1:99999", ""] {
            assert!(parse_address(bad, true).is_err(), "{bad}");
        }
    }

    #[test]
    fn probe_writes_and_removes_its_file() {
        let dir = tempfile::tempdir().unwrap();
        probe(dir.path()).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        assert!(probe(&dir.path().join("missing")).is_err());
    }
}
