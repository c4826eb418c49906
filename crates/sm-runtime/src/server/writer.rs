//! A connection's way out: the [`WriteQueue`] its responses go through (inline when nothing is
//! queued, else to the writer task) and the writer task ([`write_loop`]), which coalesces
//! small frames into one write.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::{mpsc, Notify};
use tracing::debug;

/// Responses smaller than this are gathered into one write when several are queued.
pub(super) const COALESCE_BYTES: usize = 64 * 1024;

/// A connection's way out: a response is written inline when nothing is queued (no hand-off
/// to the writer task, whose wake-up a synchronous client would wait for on every request);
/// otherwise, or for what the socket does not take at once, it is queued for the writer task,
/// in order.
pub(super) struct WriteQueue {
    /// The socket's write half, shared by inline writes and the writer task.
    pub(super) wr: OwnedWriteHalf,
    /// Held while deciding between an inline write and the queue, so that frames never
    /// interleave: an inline write happens only when nothing is queued or being written.
    pub(super) inline: std::sync::Mutex<()>,
    /// Bytes handed to the writer task and not yet written.
    pub(super) bytes: AtomicUsize,
    /// Set when the writer stopped (socket error or end).
    pub(super) closed: AtomicBool,
    /// Signalled when bytes drain or the writer stops.
    pub(super) drained: Notify,
}

impl WriteQueue {
    pub(super) fn push(&self, tx: &mpsc::UnboundedSender<Bytes>, mut frame: Bytes) -> bool {
        let _turn = self.inline.lock().unwrap_or_else(|p| p.into_inner());
        if self.closed.load(Ordering::Acquire) {
            return false;
        }
        if self.bytes.load(Ordering::Acquire) == 0 {
            match self.wr.try_write(&frame) {
                Ok(n) if n == frame.len() => return true,
                Ok(n) => {
                    let _ = frame.split_to(n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => {
                    self.closed.store(true, Ordering::Release);
                    self.drained.notify_one();
                    return false;
                }
            }
        }
        self.bytes.fetch_add(frame.len(), Ordering::AcqRel);
        tx.send(frame).is_ok()
    }

    /// Writes all of `buf` (the writer task; `push` writes only while nothing is queued).
    pub(super) async fn write_all(&self, mut buf: &[u8]) -> std::io::Result<()> {
        while !buf.is_empty() {
            self.wr.writable().await?;
            match self.wr.try_write(buf) {
                Ok(n) => buf = &buf[n..],
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Waits until at most `max` bytes are queued; false if the writer stopped.
    pub(super) async fn wait_below(&self, max: usize) -> bool {
        loop {
            let drained = self.drained.notified();
            if self.closed.load(Ordering::Acquire) {
                return false;
            }
            if self.bytes.load(Ordering::Acquire) <= max {
                return true;
            }
            drained.await;
        }
    }
}

/// The connection's writer task: writes what `push` queued, coalescing small frames.
pub(super) async fn write_loop(
    queue: Arc<WriteQueue>,
    mut rx: mpsc::UnboundedReceiver<Bytes>,
    peer: SocketAddr,
) {
    let mut batch = BytesMut::new();
    while let Some(frame) = rx.recv().await {
        // Pipelined requests complete in bursts: one write for the small responses
        // already queued rather than one syscall each (large ones go alone, uncopied).
        let mut pending = None;
        let res = if frame.len() >= COALESCE_BYTES || rx.is_empty() {
            queue.write_all(&frame).await.map(|()| frame.len())
        } else {
            batch.clear();
            batch.extend_from_slice(&frame);
            while batch.len() < COALESCE_BYTES {
                match rx.try_recv() {
                    Ok(f) if f.len() < COALESCE_BYTES => batch.extend_from_slice(&f),
                    Ok(f) => {
                        pending = Some(f);
                        break;
                    }
                    Err(_) => break,
                }
            }
            queue.write_all(&batch).await.map(|()| batch.len())
        };
        let res = match (res, pending) {
            (Ok(n), Some(f)) => queue.write_all(&f).await.map(|()| n + f.len()),
            (res, _) => res,
        };
        match res {
            Ok(written) => {
                queue.bytes.fetch_sub(written, Ordering::AcqRel);
                queue.drained.notify_one();
            }
            Err(e) => {
                debug!(%peer, "write failed: {e}");
                queue.closed.store(true, Ordering::Release);
                queue.drained.notify_one();
                return;
            }
        }
    }
    queue.closed.store(true, Ordering::Release);
    queue.drained.notify_one();
    // The write half sends FIN when the last holder of `queue` drops it.
}

/// Sends the collected inline responses (false if the connection's writer stopped).
pub(super) fn flush(
    queue: &WriteQueue,
    tx: &mpsc::UnboundedSender<Bytes>,
    answers: &mut BytesMut,
) -> bool {
    answers.is_empty() || queue.push(tx, answers.split().freeze())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::{TcpListener, TcpStream};

    /// A write queue on one end of a loopback connection, and the other end.
    async fn queue(bytes: usize) -> (Arc<WriteQueue>, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let ours = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (peer, _) = l.accept().await.unwrap();
        let (_, wr) = ours.into_split();
        let q = Arc::new(WriteQueue {
            wr,
            inline: std::sync::Mutex::new(()),
            bytes: AtomicUsize::new(bytes),
            closed: AtomicBool::new(false),
            drained: Notify::new(),
        });
        (q, peer)
    }

    #[tokio::test]
    async fn responses_go_inline_only_when_nothing_is_queued() {
        use tokio::io::AsyncReadExt;
        let (tx, mut rx) = mpsc::unbounded_channel();
        let (q, mut peer) = queue(0).await;
        assert!(q.push(&tx, Bytes::from_static(b"first")));
        assert!(rx.try_recv().is_err(), "nothing queued: written inline");
        assert_eq!(q.bytes.load(Ordering::Relaxed), 0);
        let mut got = [0u8; 5];
        peer.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"first");
        // The writer holds 3 unwritten bytes: the next frame queues behind them.
        q.bytes.store(3, Ordering::Release);
        assert!(q.push(&tx, Bytes::from_static(b"second")));
        assert_eq!(&rx.try_recv().unwrap()[..], b"second");
        assert_eq!(q.bytes.load(Ordering::Relaxed), 9);
    }

    #[tokio::test]
    async fn write_queue_pauses_until_drained_or_closed() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let (q, _peer) = queue(1).await; // something queued: pushes go to the writer
        assert!(q.push(&tx, Bytes::from_static(b"012345678")));
        assert_eq!(q.bytes.load(Ordering::Relaxed), 10);
        assert!(q.wait_below(10).await, "at the limit is not above it");

        let waiter = tokio::spawn({
            let q = q.clone();
            async move { q.wait_below(4).await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "10 bytes queued, limit 4");
        // The writer wrote 5 bytes: still above.
        q.bytes.fetch_sub(5, Ordering::AcqRel);
        q.drained.notify_one();
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "5 bytes queued, limit 4");
        q.bytes.fetch_sub(5, Ordering::AcqRel);
        q.drained.notify_one();
        assert!(waiter.await.unwrap());
        assert_eq!(rx.recv().await.unwrap().len(), 9);

        // A writer that stopped releases a paused reader with `false`.
        let (q, _peer) = queue(100).await;
        let waiter = tokio::spawn({
            let q = q.clone();
            async move { q.wait_below(4).await }
        });
        q.closed.store(true, Ordering::Release);
        q.drained.notify_one();
        assert!(!waiter.await.unwrap());
        assert!(
            !q.push(&tx, Bytes::from_static(b"late")),
            "a stopped writer takes nothing"
        );
    }
}
