//! The TCP server: one task per connection, one task per request, one writer per connection.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use sm_model::{ConnectResponse, ResponseStatusCode};
use sm_wire::{
    encode_connect_response, encode_status, negotiate, Event, ServerCodec,
    SUPPORTED_PROTOCOL_VERSIONS,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tracing::{debug, info, warn};

use crate::handlers::{handle, Limits};
use crate::store::Store;
use crate::telemetry::Counters;

/// How long a new connection may take to send its Connect.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a peer may stall in the middle of a frame before the connection is closed. SDK
/// clients write each frame at once, so a stall this long is a stuck or hostile peer
/// (a length prefix and no body, a slowloris). Idle time between frames is not limited.
const FRAME_STALL_TIMEOUT: Duration = Duration::from_secs(3);
/// Requests in progress per connection; reading pauses while this many are pending.
const MAX_IN_FLIGHT: usize = 1024;
/// Response frames queued per connection before request tasks wait for the writer.
const WRITE_QUEUE: usize = 64;

/// What every connection shares.
pub struct Shared {
    /// The streams.
    pub store: Arc<Store>,
    /// Accepted tokens, when authentication is on.
    pub auth_tokens: Option<Vec<String>>,
    /// Frame limit.
    pub max_frame: u32,
    /// Byte counters.
    pub telemetry: Arc<Counters>,
    next_client: AtomicU64,
}

impl Shared {
    /// Shared state over a store.
    pub fn new(
        store: Arc<Store>,
        telemetry: Arc<Counters>,
        auth_tokens: Option<Vec<String>>,
        max_frame: u32,
    ) -> Self {
        Self {
            store,
            auth_tokens,
            max_frame,
            telemetry,
            next_client: AtomicU64::new(1),
        }
    }
}

/// Compares two byte strings in time that depends only on their lengths.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn authorized(tokens: &Option<Vec<String>>, given: Option<&str>) -> bool {
    match tokens {
        None => true,
        Some(tokens) => {
            let given = given.unwrap_or("").as_bytes();
            // Check every token, so the time does not reveal which one matched.
            tokens
                .iter()
                .fold(false, |ok, t| ct_eq(t.as_bytes(), given) | ok)
        }
    }
}

/// Accepts connections until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok((sock, peer)) => {
                    let shared = shared.clone();
                    tokio::spawn(async move { connection(sock, peer, shared).await });
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
}

async fn connection(sock: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    let _ = sock.set_nodelay(true);
    let (mut rd, mut wr) = sock.into_split();
    let (tx, mut rx) = mpsc::channel::<Bytes>(WRITE_QUEUE);
    let writer = tokio::spawn(async move {
        while let Some(frame) = rx.recv().await {
            if let Err(e) = wr.write_all(&frame).await {
                debug!(%peer, "write failed: {e}");
                return;
            }
        }
        let _ = wr.shutdown().await;
    });
    let mut codec = ServerCodec::new(shared.max_frame);
    let mut buf = BytesMut::with_capacity(8 * 1024);
    let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let client_id = shared.next_client.fetch_add(1, Ordering::Relaxed);
    let limits = Limits {
        max_frame: shared.max_frame,
    };
    'read: loop {
        loop {
            let event = match codec.decode(&mut buf) {
                Ok(Some(ev)) => ev,
                Ok(None) => break,
                Err(e) => {
                    warn!(%peer, "closing connection: {e}");
                    if let Some(reply) = e.reply() {
                        let _ = tx.send(reply.freeze()).await;
                    }
                    break 'read;
                }
            };
            match event {
                Event::Connect(req) => {
                    let mut out = BytesMut::new();
                    let (resp, ok) = connect_response(&shared, &req, client_id);
                    encode_connect_response(&resp, &mut out);
                    let _ = tx.send(out.freeze()).await;
                    if !ok {
                        warn!(%peer, status = ?resp.status, "connection refused: {}", resp.error_message.unwrap_or_default());
                        break 'read;
                    }
                    debug!(%peer, client = client_id, "client connected");
                }
                Event::Reject(r) => {
                    warn!(%peer, op = ?r.op, status = ?r.status, "rejected request: {}", r.message);
                    let mut out = BytesMut::new();
                    encode_status(
                        r.op,
                        r.request_id.as_deref(),
                        r.status,
                        Some(&r.message),
                        &mut out,
                    );
                    if tx.send(out.freeze()).await.is_err() {
                        break 'read;
                    }
                }
                Event::Request(req) => {
                    let Ok(permit) = in_flight.clone().acquire_owned().await else {
                        break 'read;
                    };
                    let shared = shared.clone();
                    let tx = tx.clone();
                    tokio::spawn(async move {
                        let out = handle(&shared.store, &shared.telemetry, limits, req).await;
                        let _ = tx.send(out.freeze()).await;
                        drop(permit);
                    });
                }
            }
        }
        buf.reserve(64 * 1024);
        let limit = if !codec.is_connected() {
            Some(HANDSHAKE_TIMEOUT)
        } else if codec.mid_frame(buf.len()) {
            Some(FRAME_STALL_TIMEOUT)
        } else {
            None
        };
        let read = match limit {
            None => rd.read_buf(&mut buf).await,
            Some(limit) => match tokio::time::timeout(limit, rd.read_buf(&mut buf)).await {
                Ok(r) => r,
                Err(_) => {
                    warn!(%peer, "closing connection: no progress for {limit:?} (handshake or frame incomplete)");
                    break;
                }
            },
        };
        match read {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                debug!(%peer, "read failed: {e}");
                break;
            }
        }
    }
    drop(tx);
    let _ = writer.await;
    debug!(%peer, client = client_id, "connection closed");
}

fn connect_response(
    shared: &Shared,
    req: &sm_model::ConnectRequest,
    client_id: u64,
) -> (ConnectResponse, bool) {
    let mut resp = ConnectResponse {
        request_id: req.request_id.clone(),
        status: ResponseStatusCode::Success,
        error_message: None,
        protocol_version: None,
        supported_protocol_versions: SUPPORTED_PROTOCOL_VERSIONS.map(String::from).to_vec(),
        server_version: Some(env!("CARGO_PKG_VERSION").to_owned()),
        client_identifier: None,
    };
    if !authorized(&shared.auth_tokens, req.auth_token.as_deref()) {
        resp.status = ResponseStatusCode::Unauthorized;
        resp.error_message = Some(if req.auth_token.is_some() {
            "the authToken is not valid".into()
        } else {
            "authentication is required and no authToken was sent".into()
        });
        return (resp, false);
    }
    match negotiate(req) {
        Ok(v) => {
            resp.protocol_version = Some(v.to_owned());
            resp.client_identifier = Some(format!("client-{client_id}"));
            if let Some(sdk) = &req.sdk_version {
                info!(client = client_id, sdk = %sdk, protocol = v, "client connected");
            }
            (resp, true)
        }
        Err((status, msg)) => {
            resp.status = status;
            resp.error_message = Some(msg);
            (resp, false)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_checks() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
        let tokens = Some(vec!["tok-a".to_owned(), "tok-b".to_owned()]);
        assert!(authorized(&tokens, Some("tok-b")));
        assert!(!authorized(&tokens, Some("tok-c")));
        assert!(!authorized(&tokens, None));
        assert!(authorized(&None, None));
    }
}
