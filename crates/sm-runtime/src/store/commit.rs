//! Group commit: concurrent flushOnWrite appends to one stream share fsync calls.
//!
//! An appender writes its record under the stream's lock, then waits here until the stream's
//! *durable* watermark (every sequence number below it is on disk) covers its record. One
//! waiter at a time is the *leader*: it takes a snapshot of what has been written so far (the
//! active segment and the next sequence number, under the stream's lock), runs one
//! `fdatasync` on the blocking pool, raises the watermark to the snapshot and lets the next
//! waiter in, which usually finds itself covered and returns without a syscall. So 32
//! concurrent appenders need about one fsync per *batch*, not one each, and every
//! acknowledgement still follows the fsync that covered its own record.
//!
//! Records in sealed segments are durable before the roll that sealed them completes (the
//! roll fsyncs the old segment under the stream's lock), so syncing the active segment covers
//! everything below the snapshot.
//!
//! A failed fsync is sticky for what it covered: waiters at or below it get the error even if
//! a later fsync succeeds (Linux reports a writeback error once, so a later success proves
//! nothing about earlier pages).

use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// The durability state of one stream.
#[derive(Debug, Default)]
pub struct GroupCommit {
    /// Every sequence number below this is durable.
    durable: AtomicU64,
    /// Sequence numbers `lo..hi` that a failed fsync covered and no successful one had
    /// covered before: they are never acknowledged.
    failed: std::sync::Mutex<Option<(u64, u64)>>,
    /// Set while a leader fsyncs.
    leading: AtomicBool,
    /// Woken when a leader stops (the watermark moved, or its fsync failed): every waiter
    /// it covered returns at once, instead of waking one another in turn through a lock.
    progress: tokio::sync::Notify,
    /// Number of fsyncs run (for tests and benchmarks).
    fsyncs: AtomicU64,
}

impl GroupCommit {
    /// A state whose first `durable` sequence numbers are already durable (recovered data).
    pub fn new(durable: u64) -> Self {
        Self {
            durable: AtomicU64::new(durable),
            ..Self::default()
        }
    }

    /// Number of fsyncs run so far.
    pub fn fsyncs(&self) -> u64 {
        self.fsyncs.load(Ordering::Relaxed)
    }

    /// Waits until sequence number `seq` is durable. `snapshot` returns, under the stream's
    /// lock, the active segment file and the next sequence number (everything written so
    /// far), or `None` when there is nothing left to sync (the data was removed).
    pub async fn wait_durable<F>(&self, seq: u64, snapshot: F) -> io::Result<()>
    where
        F: Fn() -> Option<(Arc<File>, u64)>,
    {
        let target = seq + 1;
        loop {
            // Registered before the checks, so a leader that stops after them wakes us.
            let stopped = self.progress.notified();
            tokio::pin!(stopped);
            stopped.as_mut().enable();
            if let Some(r) = self.covered(target) {
                return r;
            }
            if self
                .leading
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
            {
                stopped.await;
                continue;
            }
            let _lead = Lead(self);
            if let Some(r) = self.covered(target) {
                return r;
            }
            let Some((file, upto)) = snapshot() else {
                return Ok(());
            };
            self.fsyncs.fetch_add(1, Ordering::Relaxed);
            let synced = tokio::task::spawn_blocking(move || super::fsutil::fdatasync(&file))
                .await
                .map_err(|e| io::Error::other(e.to_string()))
                .and_then(|r| r);
            match synced {
                Ok(()) => {
                    self.durable.fetch_max(upto, Ordering::AcqRel);
                }
                Err(e) => {
                    let lo = self.durable.load(Ordering::Acquire);
                    let mut failed = self.failed.lock().unwrap_or_else(|p| p.into_inner());
                    *failed = Some(match *failed {
                        Some((a, b)) => (a.min(lo), b.max(upto)),
                        None => (lo, upto),
                    });
                    return Err(e);
                }
            }
        }
    }

    fn covered(&self, target: u64) -> Option<io::Result<()>> {
        let failed = *self.failed.lock().unwrap_or_else(|p| p.into_inner());
        if failed.is_some_and(|(lo, hi)| lo < target && target <= hi) {
            return Some(Err(io::Error::other(
                "an fsync covering this message failed",
            )));
        }
        (target <= self.durable.load(Ordering::Acquire)).then_some(Ok(()))
    }
}

/// The leader's turn: ends (and wakes the waiters) however the leader stops, cancellation
/// included.
struct Lead<'a>(&'a GroupCommit);

impl Drop for Lead<'_> {
    fn drop(&mut self) {
        self.0.leading.store(false, Ordering::Release);
        self.0.progress.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// 32 concurrent waiters on written data are covered by far fewer fsyncs, and none
    /// returns before an fsync that started after its write.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_waiters_share_fsyncs() {
        let dir = tempfile::tempdir().unwrap();
        let file = Arc::new(File::create(dir.path().join("f")).unwrap());
        let gc = Arc::new(GroupCommit::new(0));
        let written = Arc::new(Mutex::new(0u64));
        let mut tasks = Vec::new();
        for _ in 0..32 {
            let (gc, file, written) = (gc.clone(), file.clone(), written.clone());
            tasks.push(tokio::spawn(async move {
                for _ in 0..20 {
                    let seq = {
                        let mut w = written.lock().unwrap();
                        *w += 1;
                        *w - 1
                    };
                    let snap = || Some((file.clone(), *written.lock().unwrap()));
                    gc.wait_durable(seq, snap).await.unwrap();
                    assert!(gc.durable.load(Ordering::Acquire) > seq);
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*written.lock().unwrap(), 640);
        assert!(
            gc.fsyncs() < 640,
            "640 appends took {} fsyncs: none were shared",
            gc.fsyncs()
        );
    }

    #[tokio::test]
    async fn a_failed_fsync_is_sticky_for_what_it_covered() {
        let gc = GroupCommit::new(2);
        *gc.failed.lock().unwrap() = Some((2, 5));
        assert!(
            gc.covered(2).unwrap().is_ok(),
            "acknowledged before the failure"
        );
        assert!(gc.covered(3).unwrap().is_err());
        assert!(gc.covered(6).is_none());
        gc.durable.store(6, Ordering::SeqCst);
        assert!(
            gc.covered(3).unwrap().is_err(),
            "a later success proves nothing"
        );
        assert!(gc.covered(6).unwrap().is_ok());
        // Nothing left to sync (the data was removed): nothing to wait for.
        assert!(gc.wait_durable(10, || None).await.is_ok());
    }
}
