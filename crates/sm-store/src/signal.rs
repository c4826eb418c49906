//! [`Signal`]: a versioned wake-up that threads wait on (blocking) and async tasks await (any
//! executor), with std primitives only.
//!
//! A waiter reads [`Signal::version`] *before* it looks at what it waits for, then, if it must
//! wait, waits until the version differs from the one it read ([`Signal::wait_timeout`] on a
//! thread, [`Signal::changed`] in async code). A notification between the look and the wait
//! is therefore never lost. [`Signal::notify`] costs two atomic operations when nobody waits.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// A versioned wake-up. See the module docs.
#[derive(Debug, Default)]
pub struct Signal {
    version: AtomicU64,
    /// Waiters registered (threads in [`Signal::wait_timeout`], live [`Changed`] futures that
    /// were polled): [`Signal::notify`] skips the lock when there are none.
    waiters: AtomicUsize,
    /// Of those, the threads: [`Signal::notify`] skips the condition variable (a `futex`
    /// system call even when nobody sleeps on it) when there are none, as in the daemon,
    /// whose waiters are all tasks.
    thread_waiters: AtomicUsize,
    wakers: Mutex<Wakers>,
    threads: Condvar,
}

#[derive(Debug, Default)]
struct Wakers {
    next_key: u64,
    /// The async waiters to wake, by key (a [`Changed`] replaces its own entry when polled
    /// again, and removes it when dropped, so the list never grows past the live waiters).
    list: Vec<(u64, Waker)>,
}

impl Signal {
    /// A signal at version 0.
    pub fn new() -> Self {
        Self::default()
    }

    fn wakers(&self) -> MutexGuard<'_, Wakers> {
        self.wakers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The current version: read it before looking at what you wait for.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::SeqCst)
    }

    /// Moves to the next version and wakes every waiter.
    pub fn notify(&self) {
        self.version.fetch_add(1, Ordering::SeqCst);
        // A waiter counts itself before it reads the version: either it sees the new version,
        // or this sees it (both sequentially consistent).
        if self.waiters.load(Ordering::SeqCst) == 0 {
            return;
        }
        let woken = std::mem::take(&mut self.wakers().list);
        if self.thread_waiters.load(Ordering::SeqCst) > 0 {
            self.threads.notify_all();
        }
        for (_, w) in woken {
            w.wake();
        }
    }

    /// Blocks the calling thread until the version differs from `seen` or `timeout` passed;
    /// returns whether it changed.
    pub fn wait_timeout(&self, seen: u64, timeout: Duration) -> bool {
        // Counted before the version is read (under the lock, by the condition): a notify
        // either sees the count or is seen by the check.
        self.thread_waiters.fetch_add(1, Ordering::SeqCst);
        self.waiters.fetch_add(1, Ordering::SeqCst);
        let guard = self.wakers();
        let (guard, _) = self
            .threads
            .wait_timeout_while(guard, timeout, |_| self.version() == seen)
            .unwrap_or_else(PoisonError::into_inner);
        drop(guard);
        self.waiters.fetch_sub(1, Ordering::SeqCst);
        self.thread_waiters.fetch_sub(1, Ordering::SeqCst);
        self.version() != seen
    }

    /// Blocks the calling thread until the version differs from `seen`.
    pub fn wait(&self, seen: u64) {
        while !self.wait_timeout(seen, Duration::from_secs(3600)) {}
    }

    /// Completes once the version differs from `seen` (on any executor: it wakes the task's
    /// waker).
    pub fn changed(&self, seen: u64) -> Changed<'_> {
        Changed {
            signal: self,
            seen,
            key: None,
        }
    }
}

/// The future of [`Signal::changed`].
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct Changed<'a> {
    signal: &'a Signal,
    seen: u64,
    /// Set once registered (and counted in `waiters`).
    key: Option<u64>,
}

impl Changed<'_> {
    fn deregister(&mut self) {
        if let Some(key) = self.key.take() {
            self.signal.wakers().list.retain(|(k, _)| *k != key);
            self.signal.waiters.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

impl Future for Changed<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let me = self.get_mut();
        let signal = me.signal;
        if signal.version() != me.seen {
            me.deregister();
            return Poll::Ready(());
        }
        if me.key.is_none() {
            signal.waiters.fetch_add(1, Ordering::SeqCst);
        }
        let mut wakers = signal.wakers();
        // Checked again under the lock: a notify after this takes the waker stored below.
        if signal.version() != me.seen {
            drop(wakers);
            if me.key.is_none() {
                signal.waiters.fetch_sub(1, Ordering::SeqCst);
            }
            me.deregister();
            return Poll::Ready(());
        }
        let key = match me.key {
            Some(k) => k,
            None => {
                wakers.next_key += 1;
                let k = wakers.next_key;
                me.key = Some(k);
                k
            }
        };
        match wakers.list.iter_mut().find(|(k, _)| *k == key) {
            Some((_, w)) if w.will_wake(cx.waker()) => {}
            Some((_, w)) => w.clone_from(cx.waker()),
            None => wakers.list.push((key, cx.waker().clone())),
        }
        Poll::Pending
    }
}

impl Drop for Changed<'_> {
    fn drop(&mut self) {
        self.deregister();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::task::Wake;

    struct Flag(std::sync::atomic::AtomicBool);

    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    fn flag() -> (Arc<Flag>, Waker) {
        let f = Arc::new(Flag(false.into()));
        (f.clone(), Waker::from(f))
    }

    #[test]
    fn a_future_registered_before_a_notify_is_woken_and_then_ready() {
        let s = Signal::new();
        let seen = s.version();
        let mut fut = Box::pin(s.changed(seen));
        let (woken, waker) = flag();
        let mut cx = Context::from_waker(&waker);
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        assert!(fut.as_mut().poll(&mut cx).is_pending(), "polled again");
        assert_eq!(s.wakers().list.len(), 1, "one entry per future");
        s.notify();
        assert!(woken.0.load(Ordering::SeqCst));
        assert!(fut.as_mut().poll(&mut cx).is_ready());
        drop(fut);
        assert_eq!(s.waiters.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_notify_between_look_and_wait_is_not_lost() {
        let s = Signal::new();
        let seen = s.version();
        s.notify();
        let (_, waker) = flag();
        assert!(Box::pin(s.changed(seen))
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_ready());
        assert!(s.wait_timeout(seen, Duration::ZERO));
    }

    #[test]
    fn dropped_futures_leave_nothing_behind() {
        let s = Signal::new();
        let (_, waker) = flag();
        for _ in 0..100 {
            let mut fut = Box::pin(s.changed(s.version()));
            assert!(fut
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending());
        }
        assert!(s.wakers().list.is_empty());
        assert_eq!(s.waiters.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn threads_wait_until_notified_or_timeout() {
        let s = Arc::new(Signal::new());
        assert!(!s.wait_timeout(s.version(), Duration::from_millis(1)));
        let seen = s.version();
        let t = {
            let s = s.clone();
            std::thread::spawn(move || s.wait(seen))
        };
        while s.waiters.load(Ordering::SeqCst) == 0 {
            std::thread::yield_now();
        }
        s.notify();
        t.join().unwrap();
    }
}
