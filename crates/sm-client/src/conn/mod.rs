//! One TCP connection: the handshake, a writer task, a reader task completing waiters by
//! `requestId`.
//!
//! Requests are numbered (`rs-<n>`) and their waiters kept in one map under the connection's
//! lock, with the frames queued for the writer: a single call waits on its own channel, an
//! `append_many` call on a batch whose results the reader fills in (and wakes it only when
//! enough arrived). The reader reads successful append responses in place (`sm-wire`'s
//! `decode_append_ack`) and everything else with serde.

use std::collections::HashMap;
use std::future::Future;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Poll, Waker};

use bytes::{Buf, Bytes, BytesMut};
use sm_wire::{decode_append_ack, request_id_of, FrameDecoder, Inbound, Op, PROTOCOL_MAX_FRAME};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{oneshot, Notify};
use tokio::task::AbortHandle;

use crate::error::Error;
use crate::ClientConfig;

mod handshake;

use handshake::handshake;
pub use handshake::Session;

/// Queued request bytes above which callers wait for the writer before adding more.
const WRITE_QUEUE_BYTES: usize = 4 << 20;
/// A write buffer larger than this is not kept once written.
const KEEP_BUFFER: usize = 1 << 20;

/// A response frame: op byte and CBOR payload.
pub(crate) type Frame = (u8, Bytes);

/// The text of request id `n` (`rs-<n>`), written into `buf`.
pub(crate) fn format_id(n: u64, buf: &mut [u8; 24]) -> &str {
    buf[..3].copy_from_slice(b"rs-");
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut v = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    let len = 3 + digits.len() - i;
    buf[3..len].copy_from_slice(&digits[i..]);
    std::str::from_utf8(&buf[..len]).expect("ASCII digits")
}

/// The number of a request id this client formats (`rs-<n>`, canonical decimal); `None` for
/// any other text, which matches no request of this client.
pub(crate) fn parse_id(id: &str) -> Option<u64> {
    let digits = id.strip_prefix("rs-")?.as_bytes();
    if digits.is_empty() || digits.len() > 20 || (digits[0] == b'0' && digits.len() > 1) {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| {
        if d.is_ascii_digit() {
            n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        } else {
            None
        }
    })
}

/// Hashes the request numbers: they are unique and sequential, so one multiply spreads them.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// Who waits for a request's response.
enum Entry {
    /// A single call, on its own channel.
    One(oneshot::Sender<Frame>),
    /// Position `pos` of the `append_many` batch in slot `slot`.
    Batch { slot: usize, pos: usize },
}

/// The results of one `append_many` call, filled in by the reader.
struct BatchState {
    /// The sequence number of each message sent so far, once acknowledged.
    seqs: Vec<Option<i64>>,
    /// How many of `seqs` are set.
    done: usize,
    /// The caller wants waking when `done` reaches this.
    want: usize,
    waker: Option<Waker>,
    /// The first failure (an error status, a lost connection); the call ends with it.
    error: Option<Error>,
}

impl BatchState {
    fn settle(&mut self, pos: usize, result: Result<i64, Error>, wake: &mut Vec<Waker>) {
        match result {
            Ok(seq) => {
                if let Some(slot @ None) = self.seqs.get_mut(pos) {
                    *slot = Some(seq);
                    self.done += 1;
                }
                if self.done < self.want {
                    return;
                }
            }
            Err(e) => {
                self.error.get_or_insert(e);
            }
        }
        if let Some(w) = self.waker.take() {
            wake.push(w);
        }
    }

    fn outstanding(&self) -> bool {
        self.done < self.seqs.len()
    }
}

#[derive(Default)]
struct State {
    waiters: HashMap<u64, Entry, BuildHasherDefault<IdHasher>>,
    /// The `append_many` calls on this connection, by slot (`None` = free).
    batches: Vec<Option<BatchState>>,
    /// Frames queued for the writer.
    out: BytesMut,
    /// Why the connection is unusable; set once, never cleared.
    dead: Option<Error>,
}

impl State {
    /// Hands the response to request `id` to whoever waits for it; `ack` is its sequence
    /// number when it is a successful AppendMessageResponse already decoded.
    fn deliver(
        &mut self,
        id: u64,
        frame: impl FnOnce() -> Frame,
        ack: Option<i64>,
        wake: &mut Vec<Waker>,
    ) {
        match self.waiters.remove(&id) {
            // The caller may have given up (timeout, cancelled): then nobody listens.
            Some(Entry::One(tx)) => {
                let _ = tx.send(frame());
            }
            Some(Entry::Batch { slot, pos }) => {
                if let Some(Some(b)) = self.batches.get_mut(slot) {
                    let result = match ack {
                        Some(seq) => Ok(seq),
                        None => crate::client::append_outcome(frame()),
                    };
                    b.settle(pos, result, wake);
                }
            }
            // Not (or no longer) expected: a late answer or a server bug, ignored like the
            // SDKs do.
            None => {}
        }
    }
}

/// The state shared by a connection's tasks and its callers.
#[derive(Default)]
pub(crate) struct Shared {
    state: Mutex<State>,
    /// Wakes the writer when `out` stops being empty.
    writable: Notify,
    /// Wakes callers waiting for room in `out`.
    room: Notify,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock leaves consistent data (map and buffer updates).
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Marks the connection dead (keeping the first reason) and fails every waiter.
    fn kill(&self, why: Error) {
        let mut wake = Vec::new();
        {
            let mut st = self.lock();
            let why = st.dead.get_or_insert(why).clone();
            st.waiters.clear();
            for b in st.batches.iter_mut().flatten() {
                if b.outstanding() {
                    b.settle(usize::MAX, Err(why.clone()), &mut wake);
                }
            }
        }
        wake.into_iter().for_each(Waker::wake);
        self.room.notify_waiters();
    }

    fn dead(&self) -> Option<Error> {
        self.lock().dead.clone()
    }

    /// The error to report for a request on this connection that got no response.
    pub(crate) fn lost(&self) -> Error {
        self.dead()
            .unwrap_or_else(|| Error::connection("the connection closed", None))
    }

    /// Queues `frames` (leaving it empty) after `register` ran, waiting while the writer is
    /// far behind.
    async fn push(
        &self,
        mut register: impl FnMut(&mut State),
        frames: &mut BytesMut,
    ) -> Result<(), Error> {
        loop {
            let room = self.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            {
                let mut st = self.lock();
                if let Some(e) = &st.dead {
                    return Err(e.clone());
                }
                if st.out.len() < WRITE_QUEUE_BYTES {
                    // Registered before it is written, so the response cannot arrive first.
                    register(&mut st);
                    let idle = st.out.is_empty();
                    if idle {
                        std::mem::swap(&mut st.out, frames);
                    } else {
                        st.out.extend_from_slice(frames);
                    }
                    drop(st);
                    frames.clear();
                    if idle {
                        self.writable.notify_one();
                    }
                    return Ok(());
                }
            }
            room.await;
        }
    }
}

/// A registered request: the response arrives on `rx`; dropping it forgets the request.
pub(crate) struct Waiter {
    pub(crate) rx: oneshot::Receiver<Frame>,
    shared: Arc<Shared>,
    id: u64,
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

/// The requests of one `append_many` call on one connection; dropping it forgets those still
/// unanswered.
pub(crate) struct Batch {
    conn: Arc<Conn>,
    slot: usize,
}

impl Drop for Batch {
    fn drop(&mut self) {
        let mut st = self.conn.shared.lock();
        let Some(b) = st.batches.get_mut(self.slot).and_then(Option::take) else {
            return;
        };
        if b.outstanding() {
            let me = self.slot;
            st.waiters
                .retain(|_, e| !matches!(e, Entry::Batch { slot, .. } if *slot == me));
        }
    }
}

impl Batch {
    /// Registers `n` appends with ids `first_id..` at the next positions and queues their
    /// frames (`frames`, left empty).
    pub(crate) async fn push(
        &self,
        first_id: u64,
        n: usize,
        frames: &mut BytesMut,
    ) -> Result<(), Error> {
        let slot = self.slot;
        self.conn
            .shared
            .push(
                |st| {
                    let State {
                        waiters, batches, ..
                    } = st;
                    let Some(Some(b)) = batches.get_mut(slot) else {
                        return;
                    };
                    let pos = b.seqs.len();
                    b.seqs.resize(pos + n, None);
                    for k in 0..n {
                        waiters.insert(first_id + k as u64, Entry::Batch { slot, pos: pos + k });
                    }
                },
                frames,
            )
            .await
    }

    /// Waits until `need` of the messages are acknowledged, or for the first failure;
    /// returns how many are, and moves `oldest` to the first unacknowledged one.
    pub(crate) fn wait<'a>(
        &'a self,
        need: usize,
        oldest: &'a mut usize,
    ) -> impl Future<Output = Result<usize, Error>> + 'a {
        std::future::poll_fn(move |cx| {
            let mut st = self.conn.shared.lock();
            let Some(Some(b)) = st.batches.get_mut(self.slot) else {
                return Poll::Ready(Err(self.conn.shared.lost()));
            };
            if let Some(e) = &b.error {
                return Poll::Ready(Err(e.clone()));
            }
            if b.done >= need {
                let from = (*oldest).min(b.seqs.len());
                *oldest = b.seqs[from..]
                    .iter()
                    .position(Option::is_none)
                    .map_or(b.seqs.len(), |i| from + i);
                return Poll::Ready(Ok(b.done));
            }
            b.want = need;
            if !b.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                b.waker = Some(cx.waker().clone());
            }
            Poll::Pending
        })
    }

    /// The first position at or after `from` still unacknowledged (the number sent if none).
    pub(crate) fn oldest_pending(&self, from: usize) -> usize {
        let st = self.conn.shared.lock();
        match st.batches.get(self.slot) {
            Some(Some(b)) => b.seqs[from.min(b.seqs.len())..]
                .iter()
                .position(Option::is_none)
                .map_or(b.seqs.len(), |i| from + i),
            _ => from,
        }
    }

    /// Whether some sent message is unacknowledged.
    pub(crate) fn outstanding(&self) -> bool {
        let st = self.conn.shared.lock();
        matches!(st.batches.get(self.slot), Some(Some(b)) if b.outstanding())
    }

    /// Whether the connection was lost.
    pub(crate) fn is_dead(&self) -> bool {
        self.conn.is_dead()
    }

    /// The sequence numbers so far, ending the batch.
    pub(crate) fn into_seqs(self) -> Vec<Option<i64>> {
        let mut st = self.conn.shared.lock();
        st.batches
            .get_mut(self.slot)
            .and_then(Option::take)
            .map(|b| b.seqs)
            .unwrap_or_default()
    }
}

/// An open, handshaken connection. Dropping it stops its tasks.
pub(crate) struct Conn {
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
        let reader = tokio::spawn(read_loop(rd, buf, frames, shared.clone())).abort_handle();
        let writer = tokio::spawn(write_loop(wr, shared.clone())).abort_handle();
        Ok(Self {
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
    pub(crate) async fn send(&self, id: u64, mut frame: BytesMut) -> Result<Waiter, Error> {
        let (tx, rx) = oneshot::channel();
        let mut tx = Some(tx);
        self.shared
            .push(
                |st| {
                    if let Some(tx) = tx.take() {
                        st.waiters.insert(id, Entry::One(tx));
                    }
                },
                &mut frame,
            )
            .await?;
        Ok(Waiter {
            rx,
            shared: self.shared.clone(),
            id,
        })
    }

    /// A batch for one `append_many` call, carrying on from `seqs` (all acknowledged).
    pub(crate) fn batch(self: &Arc<Self>, seqs: Vec<Option<i64>>) -> Result<Batch, Error> {
        let mut st = self.shared.lock();
        if let Some(e) = &st.dead {
            return Err(e.clone());
        }
        let state = BatchState {
            done: seqs.iter().filter(|s| s.is_some()).count(),
            seqs,
            want: 0,
            waker: None,
            error: None,
        };
        let slot = match st.batches.iter().position(Option::is_none) {
            Some(i) => {
                st.batches[i] = Some(state);
                i
            }
            None => {
                st.batches.push(Some(state));
                st.batches.len() - 1
            }
        };
        Ok(Batch {
            conn: self.clone(),
            slot,
        })
    }
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

/// A whole successful AppendMessageResponse at the front of `buf`, read in place: its frame
/// length, request number and sequence number.
fn ack_at_front(buf: &[u8]) -> Option<(usize, u64, i64)> {
    let head = buf.get(..5)?;
    if head[4] != Op::AppendMessageResponse as u8 {
        return None;
    }
    let len = usize::try_from(i32::from_be_bytes([head[0], head[1], head[2], head[3]])).ok()?;
    let end = 4usize.checked_add(len)?;
    let ack = decode_append_ack(buf.get(5..end)?)?;
    Some((end, parse_id(ack.request_id)?, ack.sequence_number))
}

/// How many more bytes a small frame begun at the front of `buf` needs, if it is incomplete.
fn small_frame_incomplete(buf: &[u8]) -> Option<usize> {
    let head = buf.get(..4)?;
    let len = i32::from_be_bytes([head[0], head[1], head[2], head[3]]);
    let whole = 4 + usize::try_from(len)
        .ok()
        .filter(|n| (1..=64 * 1024).contains(n))?;
    whole.checked_sub(buf.len()).filter(|&n| n > 0)
}

/// Delivers every whole frame in `buf`; `Err` when the connection must end.
fn deliver_all(
    buf: &mut BytesMut,
    frames: &mut FrameDecoder,
    st: &mut State,
    wake: &mut Vec<Waker>,
) -> Result<(), Error> {
    loop {
        // The common case, without copying the frame or decoding it with serde.
        if !frames.mid_frame(0) {
            if let Some(want) = small_frame_incomplete(buf) {
                // Left for the fast path once whole.
                buf.reserve(want);
                return Ok(());
            }
            if let Some((end, id, seq)) = ack_at_front(buf) {
                let payload = &buf[5..end];
                st.deliver(
                    id,
                    || {
                        (
                            Op::AppendMessageResponse as u8,
                            Bytes::copy_from_slice(payload),
                        )
                    },
                    Some(seq),
                    wake,
                );
                buf.advance(end);
                continue;
            }
        }
        match frames.decode(buf) {
            Ok(Some(Inbound::Frame { op, payload })) => {
                let Some(id) = request_id_of(&payload).as_deref().and_then(parse_id) else {
                    // Nothing to route it to: a server bug, ignored like the SDKs do.
                    continue;
                };
                st.deliver(id, || (op, payload), None, wake);
            }
            Ok(Some(Inbound::Oversize { declared, .. })) => return Err(oversize(declared)),
            Ok(None) => return Ok(()),
            Err(e) => return Err(Error::Protocol(e.to_string())),
        }
    }
}

async fn read_loop(
    mut rd: OwnedReadHalf,
    mut buf: BytesMut,
    mut frames: FrameDecoder,
    shared: Arc<Shared>,
) {
    let mut wake = Vec::new();
    let why = loop {
        if !buf.is_empty() {
            let delivered = deliver_all(&mut buf, &mut frames, &mut shared.lock(), &mut wake);
            wake.drain(..).for_each(Waker::wake);
            if let Err(e) = delivered {
                break e;
            }
        }
        if let Err(e) = fill(&mut rd, &mut buf, "requests were pending").await {
            break e;
        }
    };
    shared.kill(why);
}

async fn write_loop(mut wr: OwnedWriteHalf, shared: Arc<Shared>) {
    let mut buf = BytesMut::new();
    loop {
        let ready = {
            let mut st = shared.lock();
            if st.dead.is_some() {
                break;
            }
            // Everything queued goes out in one write.
            std::mem::swap(&mut st.out, &mut buf);
            !buf.is_empty()
        };
        if !ready {
            shared.writable.notified().await;
            continue;
        }
        shared.room.notify_waiters();
        if let Err(e) = wr.write_all(&buf).await {
            shared.kill(Error::connection(format!("write failed: {e}"), Some(e)));
            return;
        }
        buf.clear();
        if buf.capacity() > KEEP_BUFFER {
            buf = BytesMut::new();
        }
    }
    let _ = wr.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_round_trip_and_foreign_ids_match_nothing() {
        for n in [0, 1, 9, 10, 12_345, u64::MAX] {
            let mut buf = [0; 24];
            let id = format_id(n, &mut buf);
            assert_eq!(id, format!("rs-{n}"));
            assert_eq!(parse_id(id), Some(n));
        }
        for foreign in [
            "",
            "rs-",
            "rs-01",
            "rs-+1",
            "rs-1a",
            "connect",
            "rs-18446744073709551616",
            " rs-1",
        ] {
            assert_eq!(parse_id(foreign), None, "{foreign:?}");
        }
    }

    #[test]
    fn only_whole_append_acks_are_read_in_place() {
        use sm_model::ResponseStatusCode;
        use sm_wire::encode_frame;
        let mut out = BytesMut::new();
        let ack = sm_model::AppendMessageResponse {
            request_id: Some("rs-7".into()),
            status: ResponseStatusCode::Success,
            error_message: None,
            sequence_number: Some(3),
        };
        encode_frame(Op::AppendMessageResponse, &ack, &mut out).unwrap();
        assert_eq!(ack_at_front(&out), Some((out.len(), 7, 3)));
        assert_eq!(ack_at_front(&out[..out.len() - 1]), None);
        assert_eq!(small_frame_incomplete(&out[..out.len() - 1]), Some(1));
        assert_eq!(small_frame_incomplete(&out), None);
        // Another op, or an id this client did not send: left to the general path.
        let mut other = out.clone();
        other[4] = Op::ListStreamsResponse as u8;
        assert_eq!(ack_at_front(&other), None);
        let mut foreign = BytesMut::new();
        let ack = sm_model::AppendMessageResponse {
            request_id: Some("x-7".into()),
            ..ack
        };
        encode_frame(Op::AppendMessageResponse, &ack, &mut foreign).unwrap();
        assert_eq!(ack_at_front(&foreign), None);
    }
}
