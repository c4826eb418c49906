//! The TCP server: one task per connection reading and decoding its requests (the appends of
//! one read served together, inline unless they wait for an fsync on the store's sync thread,
//! which sends their answers), one task per other request, one writer per connection.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use sm_model::{AppendMessageRequest, ConnectResponse, ResponseStatusCode};
use sm_wire::{
    encode_connect_response, encode_status, negotiate, Event, Request, ServerCodec,
    SUPPORTED_PROTOCOL_VERSIONS,
};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Notify, OwnedSemaphorePermit, Semaphore};
use tracing::{debug, info, warn};

use crate::auth::Authenticator;
use crate::handlers::{append_batch, handle, Deferred, Limits};
use crate::store::Store;
use crate::telemetry::Counters;

mod writer;

use writer::{flush, write_loop, WriteQueue, COALESCE_BYTES};

/// How long a new connection may take to send its Connect.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a peer may stall in the middle of a frame before the connection is closed. SDK
/// clients write each frame at once, so a stall this long is a stuck or hostile peer
/// (a length prefix and no body, a slowloris). Idle time between frames is not limited.
const FRAME_STALL_TIMEOUT: Duration = Duration::from_secs(3);
/// Appends held for one batch at most (and payload bytes): a read's worth of small messages.
const BATCH_APPENDS: usize = 512;
const BATCH_BYTES: usize = 1024 * 1024;
/// How often, at most, a refused connection is logged (with the number refused since).
const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(10);

/// Bounds on what clients can make the daemon hold (see README, "Configuration").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Connections open at once; above it a new connection is accepted and closed at once.
    pub max_connections: usize,
    /// Requests in progress per connection; reading that connection pauses while this many
    /// are pending.
    pub max_in_flight: usize,
    /// Response bytes queued for one connection's socket; above it reading that connection's
    /// requests pauses until the queue drains below it.
    pub max_write_queue_bytes: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: 4096,
            max_in_flight: 1024,
            max_write_queue_bytes: 64 * 1024 * 1024,
        }
    }
}

/// What every connection shares.
pub struct Shared {
    /// The streams.
    pub store: Arc<Store>,
    /// How Connect's token is checked.
    pub auth: Authenticator,
    /// Frame limit.
    pub max_frame: u32,
    /// Byte counters.
    pub telemetry: Arc<Counters>,
    /// Connection, in-flight and write-queue bounds.
    pub limits: ConnectionLimits,
    next_client: AtomicU64,
    /// Connections open now (metrics).
    open: AtomicUsize,
    /// Connections serving what they read (between a read and the next wait for one).
    serving: AtomicUsize,
    /// The runtime has two workers or more.
    workers: bool,
}

impl Shared {
    /// Shared state over a store.
    pub fn new(
        store: Arc<Store>,
        telemetry: Arc<Counters>,
        auth: Authenticator,
        max_frame: u32,
    ) -> Self {
        Self {
            store,
            auth,
            max_frame,
            telemetry,
            limits: ConnectionLimits::default(),
            next_client: AtomicU64::new(1),
            open: AtomicUsize::new(0),
            serving: AtomicUsize::new(0),
            workers: tokio::runtime::Handle::try_current().is_ok_and(|h| {
                h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread
                    && h.metrics().num_workers() >= 2
            }),
        }
    }

    /// A connection serving requests is the only one doing so, and another worker is idle to
    /// pick up whatever turns up: a lone flushOnWrite append may fsync right on this worker.
    fn quiet(&self) -> bool {
        self.workers && self.serving.load(Ordering::Relaxed) <= 1
    }

    /// Client connections open now.
    pub fn open_connections(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// The same with other connection limits.
    pub fn with_limits(mut self, limits: ConnectionLimits) -> Self {
        self.limits = limits;
        self
    }
}

/// Logs refused connections at most once per [`REFUSAL_LOG_EVERY`], with how many were
/// refused since the last line.
struct RefusalLog {
    last: Option<tokio::time::Instant>,
    suppressed: u64,
}

impl RefusalLog {
    fn refused(&mut self, peer: SocketAddr, max: usize) {
        let now = crate::clock::instant();
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < REFUSAL_LOG_EVERY)
        {
            self.suppressed += 1;
            return;
        }
        warn!(
            %peer,
            max_connections = max,
            refused_since_last_line = self.suppressed,
            "refused connection: {max} connections are open (--max-connections)"
        );
        self.last = Some(now);
        self.suppressed = 0;
    }
}

/// Descriptors kept for the store, the exports and the log beside the connections.
const RESERVED_FDS: u64 = 1024;

/// Raises the soft open-file limit towards the hard one so that `max_connections` clients can
/// be open at once (a default soft limit of 1024 would refuse the 1,000th). Returns the soft
/// limit in force afterwards, and warns when it is still too low for `max_connections`.
pub fn raise_open_file_limit(max_connections: usize) -> Option<u64> {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let want = max_connections as u64 + RESERVED_FDS;
    let lim = getrlimit(Resource::Nofile);
    let soft = lim.current?; // None: unlimited
    if soft >= want {
        return Some(soft);
    }
    let target = lim.maximum.map_or(want, |hard| want.min(hard));
    let now = match setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(target),
            maximum: lim.maximum,
        },
    ) {
        Ok(()) => {
            info!(
                from = soft,
                to = target,
                "raised the open-file limit (RLIMIT_NOFILE)"
            );
            target
        }
        Err(e) => {
            warn!("cannot raise the open-file limit from {soft}: {e}");
            soft
        }
    };
    if now < want {
        warn!(
            limit = now,
            max_connections,
            "the open-file limit allows about {} connections, fewer than --max-connections; \
             raise the hard limit (LimitNOFILE= in systemd, ulimit -Hn) or lower --max-connections",
            now.saturating_sub(RESERVED_FDS)
        );
    }
    Some(now)
}

/// Accepts connections until `shutdown` resolves. Above `max_connections` open connections a
/// new one is accepted and closed at once (so it does not wait in the kernel's backlog).
pub async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let open = Arc::new(Semaphore::new(shared.limits.max_connections));
    let mut refusals = RefusalLog {
        last: None,
        suppressed: 0,
    };
    loop {
        tokio::select! {
            () = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok((sock, peer)) => {
                    let Ok(slot) = open.clone().try_acquire_owned() else {
                        refusals.refused(peer, shared.limits.max_connections);
                        // Reset rather than FIN: the peer learns at once, and no TIME_WAIT here.
                        let _ = sock.set_zero_linger();
                        drop(sock);
                        continue;
                    };
                    let shared = shared.clone();
                    let counted = Counted::new(shared.clone(), |s| &s.open);
                    tokio::spawn(async move {
                        connection(sock, peer, shared).await;
                        drop((slot, counted));
                    });
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

/// Counts one in a counter of [`Shared`] while it lives (also when its task panics): an open
/// connection ([`Shared::open_connections`]), a connection serving what it read.
struct Counted(Arc<Shared>, fn(&Shared) -> &AtomicUsize);

impl Counted {
    fn new(shared: Arc<Shared>, counter: fn(&Shared) -> &AtomicUsize) -> Self {
        counter(&shared).fetch_add(1, Ordering::Relaxed);
        Self(shared, counter)
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        (self.1)(&self.0).fetch_sub(1, Ordering::Relaxed);
    }
}

async fn connection(sock: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    let _ = sock.set_nodelay(true);
    let (mut rd, wr) = sock.into_split();
    let (tx, rx) = mpsc::unbounded_channel::<Bytes>();
    let queue = Arc::new(WriteQueue {
        wr,
        inline: std::sync::Mutex::new(()),
        bytes: AtomicUsize::new(0),
        closed: AtomicBool::new(false),
        drained: Notify::new(),
    });
    let writer = tokio::spawn(write_loop(queue.clone(), rx, peer));
    let mut codec = ServerCodec::new(shared.max_frame);
    let mut buf = BytesMut::new();
    let mut c = Serving {
        peer,
        client_id: shared.next_client.fetch_add(1, Ordering::Relaxed),
        in_flight: Arc::new(Semaphore::new(shared.limits.max_in_flight)),
        shared,
        queue,
        tx,
        appends: Appends::default(),
        answers: BytesMut::new(),
        warned_in_flight: false,
        warned_queue: false,
    };
    'read: loop {
        let busy = Counted::new(c.shared.clone(), |s| &s.serving);
        loop {
            if !c.wait_for_writer().await {
                break 'read;
            }
            let event = match codec.decode(&mut buf) {
                Ok(Some(ev)) => ev,
                Ok(None) => break,
                Err(e) => {
                    warn!(%peer, "closing connection: {e}");
                    c.run_appends();
                    c.flush();
                    if let Some(reply) = e.reply() {
                        c.queue.push(&c.tx, reply.freeze());
                    }
                    break 'read;
                }
            };
            if !c.event(event).await {
                break 'read;
            }
        }
        if !c.run_appends() || !c.flush() {
            break;
        }
        // An idle connection holds no read buffer (10,000 idle clients would otherwise pin
        // 64 KiB each): the buffer is released once every frame in it is decoded, and
        // `read_some` allocates only when the socket has bytes.
        if buf.is_empty() && buf.capacity() > 0 {
            buf = BytesMut::new();
        }
        drop(busy);
        if !read_more(&mut rd, &mut buf, &codec, peer).await {
            break;
        }
    }
    c.run_appends();
    c.flush();
    let client_id = c.client_id;
    drop(c);
    let _ = writer.await;
    debug!(%peer, client = client_id, "connection closed");
}

/// Reads what the socket has into `buf`, within the handshake's or an incomplete frame's
/// time limit; false when the connection ends.
async fn read_more(
    rd: &mut OwnedReadHalf,
    buf: &mut BytesMut,
    codec: &ServerCodec,
    peer: SocketAddr,
) -> bool {
    let limit = if !codec.is_connected() {
        Some(HANDSHAKE_TIMEOUT)
    } else if codec.mid_frame(buf.len()) {
        Some(FRAME_STALL_TIMEOUT)
    } else {
        None
    };
    let read = match limit {
        None => read_some(rd, buf).await,
        Some(limit) => match tokio::time::timeout(limit, read_some(rd, buf)).await {
            Ok(r) => r,
            Err(_) => {
                warn!(%peer, "closing connection: no progress for {limit:?} (handshake or frame incomplete)");
                return false;
            }
        },
    };
    match read {
        Ok(0) => false,
        Ok(_) => true,
        Err(e) => {
            debug!(%peer, "read failed: {e}");
            false
        }
    }
}

/// The serving side of one connection: what its read loop hands each decoded event to.
/// Every method returns false when the connection must end.
struct Serving {
    peer: SocketAddr,
    client_id: u64,
    shared: Arc<Shared>,
    queue: Arc<WriteQueue>,
    tx: mpsc::UnboundedSender<Bytes>,
    /// Appends decoded from this read, served together when the read's frames are decoded
    /// (or before anything else); the responses of those that complete at once are sent
    /// together too (`answers`).
    appends: Appends,
    answers: BytesMut,
    in_flight: Arc<Semaphore>,
    /// Each pause is logged once per connection: a client that keeps hitting a limit would
    /// otherwise flood the log.
    warned_in_flight: bool,
    warned_queue: bool,
}

impl Serving {
    fn run_appends(&mut self) -> bool {
        self.appends
            .run(&self.shared, &self.queue, &self.tx, &mut self.answers)
    }

    fn flush(&mut self) -> bool {
        flush(&self.queue, &self.tx, &mut self.answers)
    }

    /// Above `--max-write-queue-bytes`, waits until the writer drains below it.
    async fn wait_for_writer(&mut self) -> bool {
        let max = self.shared.limits.max_write_queue_bytes;
        if self.queue.bytes.load(Ordering::Acquire) <= max {
            return true;
        }
        if !self.warned_queue {
            self.warned_queue = true;
            warn!(peer = %self.peer, client = self.client_id, queued_bytes = self.queue.bytes.load(Ordering::Relaxed), max,
                "pausing requests: the client does not read its responses (--max-write-queue-bytes); logged once per connection");
        }
        self.flush() && self.queue.wait_below(max).await
    }

    async fn event(&mut self, event: Event) -> bool {
        let peer = self.peer;
        match event {
            Event::Request(req) => self.request(req).await,
            Event::Connect(req) => {
                if !self.run_appends() {
                    return false;
                }
                let mut out = BytesMut::new();
                let (resp, ok) = connect_response(&self.shared, &req, self.client_id).await;
                encode_connect_response(&resp, &mut out);
                self.queue.push(&self.tx, out.freeze());
                if !ok {
                    warn!(%peer, status = ?resp.status, "connection refused: {}", resp.error_message.unwrap_or_default());
                    return false;
                }
                debug!(%peer, client = self.client_id, "client connected");
                true
            }
            Event::Reject(r) => {
                if !self.run_appends() {
                    return false;
                }
                warn!(%peer, op = ?r.op, status = ?r.status, "rejected request: {}", r.message);
                let mut out = BytesMut::new();
                encode_status(
                    r.op,
                    r.request_id.as_deref(),
                    r.status,
                    Some(&r.message),
                    &mut out,
                );
                self.queue.push(&self.tx, out.freeze())
            }
        }
    }

    /// A request: appends are held for the batch, anything else runs in its own task.
    async fn request(&mut self, req: Request) -> bool {
        let permit = match self.in_flight.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                if !self.warned_in_flight {
                    self.warned_in_flight = true;
                    let max = self.shared.limits.max_in_flight;
                    warn!(peer = %self.peer, client = self.client_id, max,
                        "pausing requests: {max} in flight on one connection (--max-in-flight); logged once per connection");
                }
                // The appends held here may be what is in flight.
                if !self.run_appends() || !self.flush() {
                    return false;
                }
                let Ok(p) = self.in_flight.clone().acquire_owned().await else {
                    return false;
                };
                p
            }
        };
        let req = match req {
            Request::AppendMessage(r) => {
                return !self.appends.add(r, permit) || self.run_appends();
            }
            other => other,
        };
        // Anything else is served after the appends before it, in its own task.
        if !self.run_appends() {
            return false;
        }
        let (tx, queue, shared) = (self.tx.clone(), self.queue.clone(), self.shared.clone());
        let limits = Limits {
            max_frame: shared.max_frame,
        };
        tokio::spawn(async move {
            let out = handle(&shared.store, &shared.telemetry, limits, req).await;
            queue.push(&tx, out.freeze());
            drop(permit);
        });
        true
    }
}

/// Appends received together, held (with their in-flight permits) until they are served as
/// one batch: consecutive records of a stream are written with one vectored write.
#[derive(Default)]
struct Appends {
    reqs: Vec<AppendMessageRequest>,
    permits: Vec<OwnedSemaphorePermit>,
    bytes: usize,
}

impl Appends {
    /// Holds one append; true when the batch is full and should be served now.
    fn add(&mut self, r: AppendMessageRequest, permit: OwnedSemaphorePermit) -> bool {
        self.bytes += r.payload.as_ref().map_or(0, |p| p.len());
        self.reqs.push(r);
        self.permits.push(permit);
        self.reqs.len() >= BATCH_APPENDS || self.bytes >= BATCH_BYTES
    }

    /// Serves the held appends: answers join `answers`, or leave from the store's sync thread
    /// (the permits go with the last). False if the connection's writer stopped.
    fn run(
        &mut self,
        shared: &Arc<Shared>,
        queue: &Arc<WriteQueue>,
        tx: &mpsc::UnboundedSender<Bytes>,
        answers: &mut BytesMut,
    ) -> bool {
        if self.reqs.is_empty() {
            return true;
        }
        let reqs = std::mem::take(&mut self.reqs);
        let permits = std::mem::take(&mut self.permits);
        self.bytes = 0;
        let deferred: Deferred = {
            let (queue, tx) = (queue.clone(), tx.clone());
            Arc::new(move |out: BytesMut| {
                queue.push(&tx, out.freeze());
                // Held until the last deferred answer is sent.
                let _held = &permits;
            })
        };
        let quiet = shared.quiet();
        let out = append_batch(&shared.store, &shared.telemetry, reqs, quiet, &deferred);
        drop(deferred);
        if answers.is_empty() {
            *answers = out;
        } else {
            answers.extend_from_slice(&out);
        }
        answers.len() < COALESCE_BYTES || flush(queue, tx, answers)
    }
}

/// Bytes asked of the socket per read.
const READ_CHUNK: usize = 64 * 1024;

/// Waits until the socket is readable, then reads into `buf`, growing it only then.
/// A read shorter than its room drained the socket: its readiness is cleared then, saving the
/// read that would find nothing (tokio clears only the readiness it saw: new bytes re-arm it).
async fn read_some(rd: &mut OwnedReadHalf, buf: &mut BytesMut) -> std::io::Result<usize> {
    use std::io::ErrorKind::WouldBlock;
    loop {
        rd.readable().await?;
        buf.reserve(READ_CHUNK);
        let (room, mut got) = (buf.capacity() - buf.len(), None);
        let r = rd.as_ref().try_io(tokio::io::Interest::READABLE, || {
            let n = rd.try_read_buf(buf)?;
            got = Some(n);
            if n > 0 && n < room {
                Err(WouldBlock.into())
            } else {
                Ok(n)
            }
        });
        match (r, got) {
            (_, Some(n)) => return Ok(n),
            (Err(e), None) if e.kind() == WouldBlock => continue,
            (r, None) => return r,
        }
    }
}

async fn connect_response(
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
    if let Err(e) = shared.auth.check(req.auth_token.as_deref()).await {
        resp.status = e.status();
        resp.error_message = Some(e.to_string());
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
    fn open_file_limit_covers_the_connections() {
        use rustix::process::{getrlimit, Resource};
        let hard = getrlimit(Resource::Nofile).maximum;
        let max = hard.map_or(5000, |h| {
            (h.saturating_sub(RESERVED_FDS) as usize).min(5000)
        });
        let now = raise_open_file_limit(max);
        if let Some(now) = now {
            assert!(
                now >= max as u64 + RESERVED_FDS,
                "soft limit {now} for {max} connections"
            );
            assert_eq!(getrlimit(Resource::Nofile).current, Some(now));
        }
    }

    #[test]
    fn defaults_are_documented_ones() {
        let l = ConnectionLimits::default();
        assert_eq!(l.max_connections, 4096);
        assert_eq!(l.max_in_flight, 1024);
        assert_eq!(l.max_write_queue_bytes, 64 << 20);
    }
}
