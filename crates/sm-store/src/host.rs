//! What async waits need from the executor that runs them: where a blocking `fdatasync` runs
//! and a timer. The daemon implements [`AsyncHost`] with tokio (`sm-runtime`'s store adapter);
//! a program that only uses the blocking calls never needs one.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// A boxed future, as [`AsyncHost`] returns them.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Blocking work handed to [`AsyncHost::run_blocking`] (an `fdatasync`).
pub type BlockingWork = Box<dyn FnOnce() -> io::Result<()> + Send>;

/// Where a group commit leader's `fdatasync` runs, decided by the store
/// ([`crate::commit::GroupCommit`]); the host carries it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncOn {
    /// Off the calling task's thread (a blocking pool): the leader has company, which runs on
    /// while it waits.
    Pool,
    /// On the calling thread, after the executor moved the thread's other tasks elsewhere
    /// (tokio's `block_in_place`): the leader is alone and the disk's fsyncs are slow.
    InPlace,
    /// On the calling thread, as it is: the leader is alone and the disk's last fsync took at
    /// most [`crate::commit::INLINE_SYNC`] (the time an executor expects between two awaits).
    OnWorker,
}

/// What async waits ask of their executor.
pub trait AsyncHost: Send + Sync {
    /// Runs `work` (blocking) where `on` says, completing with its result.
    fn run_blocking(&self, work: BlockingWork, on: SyncOn) -> BoxFuture<io::Result<()>>;
    /// Completes after `d`.
    fn sleep(&self, d: Duration) -> BoxFuture<()>;
}

/// The host used when none was given: work runs on the calling thread and sleeps end at once
/// (so a group commit leader does not wait for company). For executors the store knows
/// nothing about; the daemon gives its tokio host.
#[derive(Debug, Clone, Copy, Default)]
pub struct InlineHost;

impl AsyncHost for InlineHost {
    fn run_blocking(&self, work: BlockingWork, _on: SyncOn) -> BoxFuture<io::Result<()>> {
        Box::pin(std::future::ready(work()))
    }

    fn sleep(&self, _d: Duration) -> BoxFuture<()> {
        Box::pin(std::future::ready(()))
    }
}

/// Polls `a` and `b` until one completes; `true` if `a` did.
pub(crate) async fn first<A, B>(a: A, b: B) -> bool
where
    A: Future<Output = ()> + Unpin,
    B: Future<Output = ()> + Unpin,
{
    struct Race<A, B>(A, B);
    impl<A, B> Future for Race<A, B>
    where
        A: Future<Output = ()> + Unpin,
        B: Future<Output = ()> + Unpin,
    {
        type Output = bool;
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<bool> {
            if Pin::new(&mut self.0).poll(cx).is_ready() {
                return Poll::Ready(true);
            }
            if Pin::new(&mut self.1).poll(cx).is_ready() {
                return Poll::Ready(false);
            }
            Poll::Pending
        }
    }
    Race(a, b).await
}
