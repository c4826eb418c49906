//! One TCP connection: the handshake, a writer task, a reader task completing waiters by
//! `requestId`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::{Bytes, BytesMut};
use serde::Serialize;
use sm_model::{ConnectResponse, ResponseStatusCode};
use sm_wire::{encode_frame, request_id_of, FrameDecoder, Inbound, Op, PROTOCOL_MAX_FRAME};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::AbortHandle;

use crate::error::{Error, StatusError};
use crate::ClientConfig;

/// Protocol version this client prefers (`reference.md` §1.8).
pub(crate) const PROTOCOL_VERSION: &str = "1.1.0";
/// Older protocol versions this client also speaks.
pub(crate) const OTHER_PROTOCOL_VERSIONS: [&str; 1] = ["1.0.0"];
/// Sent as `sdkVersion`.
pub(crate) const SDK_VERSION: &str = concat!("rust-", env!("CARGO_PKG_VERSION"));

/// Frames queued for the writer task before callers wait.
const WRITE_QUEUE: usize = 1024;
/// The writer coalesces queued frames into writes of about this size.
const WRITE_BATCH: usize = 256 * 1024;

/// A response frame: op byte and CBOR payload.
pub(crate) type Frame = (u8, Bytes);

/// What the server said about the session in its ConnectResponse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The negotiated protocol version (`"1.1.0"` with this repository's server).
    pub protocol_version: String,
    /// The server's version, if it said.
    pub server_version: Option<String>,
    /// The identifier the server gave this connection, if any.
    pub client_identifier: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ConnectBody<'a> {
    request_id: &'a str,
    protocol_version: &'a str,
    other_supported_protocol_versions: &'a [&'a str],
    sdk_version: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth_token: Option<&'a str>,
}

#[derive(Default)]
struct State {
    waiters: HashMap<String, oneshot::Sender<Frame>>,
    /// Why the connection is unusable; set once, never cleared.
    dead: Option<Error>,
}

/// The state shared by a connection's tasks and its callers.
#[derive(Default)]
pub(crate) struct Shared {
    state: Mutex<State>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock leaves consistent data (a map insert or remove).
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Marks the connection dead (keeping the first reason) and fails every waiter.
    fn kill(&self, why: Error) {
        let mut st = self.lock();
        st.dead.get_or_insert(why);
        st.waiters.clear();
    }

    fn dead(&self) -> Option<Error> {
        self.lock().dead.clone()
    }

    fn complete(&self, frame: Frame) {
        let Some(id) = request_id_of(&frame.1) else {
            // Nothing to route it to: a server bug, ignored like the SDKs do.
            return;
        };
        let waiter = self.lock().waiters.remove(&id);
        if let Some(w) = waiter {
            // The caller may have given up (timeout, cancelled): then nobody listens.
            let _ = w.send(frame);
        }
    }

    /// The error to report for a request on this connection that got no response.
    pub(crate) fn lost(&self) -> Error {
        self.dead()
            .unwrap_or_else(|| Error::connection("the connection closed", None))
    }
}

/// A registered request: the response arrives on `rx`; dropping it forgets the request.
pub(crate) struct Waiter {
    pub(crate) rx: oneshot::Receiver<Frame>,
    shared: Arc<Shared>,
    id: String,
}

impl Drop for Waiter {
    fn drop(&mut self) {
        self.shared.lock().waiters.remove(&self.id);
    }
}

impl Waiter {
    /// The response, or the reason the connection lost it.
    pub(crate) async fn response(mut self) -> Result<Frame, Error> {
        match (&mut self.rx).await {
            Ok(frame) => Ok(frame),
            Err(_) => Err(self.shared.lost()),
        }
    }
}

/// An open, handshaken connection. Dropping it stops its tasks.
pub(crate) struct Conn {
    writer: mpsc::Sender<Bytes>,
    shared: Arc<Shared>,
    session: Session,
    tasks: [AbortHandle; 2],
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.shared
            .kill(Error::connection("the client was dropped", None));
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Conn {
    /// Opens a TCP connection and performs the Connect handshake.
    pub(crate) async fn open(config: &ClientConfig) -> Result<Self, Error> {
        let addr = format!("{}:{}", config.host, config.port);
        let sock = match tokio::time::timeout(
            config.connect_timeout,
            TcpStream::connect((config.host.as_str(), config.port)),
        )
        .await
        {
            Err(_) => {
                return Err(Error::Timeout {
                    operation: "TCP connect",
                    after: config.connect_timeout,
                })
            }
            Ok(Err(e)) => {
                return Err(Error::connection(
                    format!("could not connect to {addr}: {e}"),
                    Some(e),
                ))
            }
            Ok(Ok(s)) => s,
        };
        let _ = sock.set_nodelay(true);
        let (mut rd, mut wr) = sock.into_split();
        let mut buf = BytesMut::with_capacity(64 * 1024);
        let mut frames = FrameDecoder::new(PROTOCOL_MAX_FRAME);
        let session = match tokio::time::timeout(
            config.request_timeout,
            handshake(config, &mut rd, &mut wr, &mut buf, &mut frames),
        )
        .await
        {
            Err(_) => {
                return Err(Error::Timeout {
                    operation: "Connect",
                    after: config.request_timeout,
                })
            }
            Ok(r) => r?,
        };
        let shared = Arc::new(Shared::default());
        let (tx, rx) = mpsc::channel(WRITE_QUEUE);
        let reader = tokio::spawn(read_loop(rd, buf, frames, shared.clone())).abort_handle();
        let writer = tokio::spawn(write_loop(wr, rx, shared.clone())).abort_handle();
        Ok(Self {
            writer: tx,
            shared,
            session,
            tasks: [reader, writer],
        })
    }

    /// What the server said at Connect.
    pub(crate) fn session(&self) -> &Session {
        &self.session
    }

    /// Whether the connection was lost.
    pub(crate) fn is_dead(&self) -> bool {
        self.shared.lock().dead.is_some()
    }

    /// Registers request `id` and queues its frame.
    pub(crate) async fn send(&self, id: String, frame: Bytes) -> Result<Waiter, Error> {
        let (tx, rx) = oneshot::channel();
        {
            let mut st = self.shared.lock();
            if let Some(e) = &st.dead {
                return Err(e.clone());
            }
            st.waiters.insert(id.clone(), tx);
        }
        // Registered before it is written, so the response cannot arrive first.
        let waiter = Waiter {
            rx,
            shared: self.shared.clone(),
            id,
        };
        if self.writer.send(frame).await.is_err() {
            return Err(self.shared.lost());
        }
        Ok(waiter)
    }
}

async fn handshake(
    config: &ClientConfig,
    rd: &mut OwnedReadHalf,
    wr: &mut OwnedWriteHalf,
    buf: &mut BytesMut,
    frames: &mut FrameDecoder,
) -> Result<Session, Error> {
    let body = ConnectBody {
        request_id: "connect",
        protocol_version: PROTOCOL_VERSION,
        other_supported_protocol_versions: &OTHER_PROTOCOL_VERSIONS,
        sdk_version: SDK_VERSION,
        auth_token: config.auth_token.as_deref(),
    };
    let mut out = BytesMut::new();
    out.extend_from_slice(&[sm_wire::CONNECT_VERSION]);
    encode_frame(Op::Connect, &body, &mut out)
        .map_err(|e| Error::Protocol(format!("could not encode Connect: {e}")))?;
    wr.write_all(&out)
        .await
        .map_err(|e| Error::connection(format!("sending Connect failed: {e}"), Some(e)))?;
    while buf.is_empty() {
        fill(rd, buf, "waiting for the ConnectResponse").await?;
    }
    let version = buf[0];
    let _ = buf.split_to(1);
    if version != sm_wire::CONNECT_VERSION {
        return Err(Error::Protocol(format!(
            "the server answered Connect with version byte {version:#04x}, expected {:#04x}",
            sm_wire::CONNECT_VERSION
        )));
    }
    let (op, payload) = loop {
        match frames.decode(buf) {
            Ok(Some(Inbound::Frame { op, payload })) => break (op, payload),
            Ok(Some(Inbound::Oversize { declared, .. })) => return Err(oversize(declared)),
            Ok(None) => fill(rd, buf, "waiting for the ConnectResponse").await?,
            Err(e) => return Err(Error::Protocol(e.to_string())),
        }
    };
    if op != Op::ConnectResponse as u8 {
        return Err(Error::Protocol(format!(
            "the server answered Connect with op {op}, expected {}",
            Op::ConnectResponse as u8
        )));
    }
    let resp: ConnectResponse = ciborium::from_reader(&payload[..])
        .map_err(|e| Error::Protocol(format!("could not decode the ConnectResponse: {e}")))?;
    if resp.status != ResponseStatusCode::Success {
        return Err(Error::from_status(StatusError::new(
            resp.status,
            resp.error_message,
            resp.request_id,
        )));
    }
    let Some(protocol_version) = resp.protocol_version else {
        return Err(Error::Protocol(
            "the ConnectResponse has no protocolVersion".into(),
        ));
    };
    Ok(Session {
        protocol_version,
        server_version: resp.server_version,
        client_identifier: resp.client_identifier,
    })
}

/// The decoder accepts every legal frame, so this cannot happen; reported, not panicked on.
fn oversize(declared: u32) -> Error {
    Error::Protocol(format!(
        "frame of {declared} bytes is above the protocol maximum"
    ))
}

/// Reads more bytes into `buf`; end of stream is a connection error.
async fn fill(rd: &mut OwnedReadHalf, buf: &mut BytesMut, doing: &str) -> Result<(), Error> {
    buf.reserve(64 * 1024);
    match rd.read_buf(buf).await {
        Ok(0) => Err(Error::connection(
            format!("the server closed the connection while {doing}"),
            None,
        )),
        Ok(_) => Ok(()),
        Err(e) => Err(Error::connection(format!("read failed: {e}"), Some(e))),
    }
}

async fn read_loop(
    mut rd: OwnedReadHalf,
    mut buf: BytesMut,
    mut frames: FrameDecoder,
    shared: Arc<Shared>,
) {
    let why = loop {
        match frames.decode(&mut buf) {
            Ok(Some(Inbound::Frame { op, payload })) => shared.complete((op, payload)),
            Ok(Some(Inbound::Oversize { declared, .. })) => break oversize(declared),
            Ok(None) => {
                if let Err(e) = fill(&mut rd, &mut buf, "requests were pending").await {
                    break e;
                }
            }
            Err(e) => break Error::Protocol(e.to_string()),
        }
    };
    shared.kill(why);
}

async fn write_loop(mut wr: OwnedWriteHalf, mut rx: mpsc::Receiver<Bytes>, shared: Arc<Shared>) {
    let mut batch = BytesMut::new();
    while let Some(first) = rx.recv().await {
        let result = if rx.is_empty() {
            wr.write_all(&first).await
        } else {
            // Pipelined requests: one write for all the frames already queued.
            batch.clear();
            batch.extend_from_slice(&first);
            while batch.len() < WRITE_BATCH {
                match rx.try_recv() {
                    Ok(f) => batch.extend_from_slice(&f),
                    Err(_) => break,
                }
            }
            wr.write_all(&batch).await
        };
        if let Err(e) = result {
            shared.kill(Error::connection(format!("write failed: {e}"), Some(e)));
            return;
        }
    }
    let _ = wr.shutdown().await;
}
