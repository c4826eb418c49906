//! Group commit: concurrent flushOnWrite appends to one stream share fsync calls.
//!
//! An appender writes its record under the stream's lock, then waits here until the stream's
//! *durable* watermark (every sequence number below it is on disk) covers its record. One
//! waiter at a time is the *leader*: it takes a snapshot of what has been written so far (the
//! active segment and the next sequence number, under the stream's lock), runs one
//! `fdatasync`, raises the watermark to the snapshot and lets the next waiter in, which
//! usually finds itself covered and returns without a syscall. So 32 concurrent appenders
//! need about one fsync per *batch*, not one each, and every acknowledgement still follows
//! the fsync that covered its own record.
//!
//! Batches are made as large as the concurrency allows: when the last fsync ended with
//! several records waiting (its batch plus those written while it ran), the next leader
//! waits (at most about a millisecond, a timer tick) until as many records have arrived since
//! the last snapshot, so the appenders just acknowledged can send their next record and join.
//! Without this, N appenders split into two alternating halves, each fsync covering N/2
//! (measured with 32 appenders: 12–16 appends per fsync, 32 with the wait, and less CPU
//! per append). Records are counted, not callers: one caller may wait for a batch of
//! records (the appends one connection sent together), and the next round of a pipelining
//! client arrives in batches of other sizes. A lone record (1 waiting at the last fsync)
//! never waits.
//!
//! Records in sealed segments are durable before the roll that sealed them completes (a
//! flushOnWrite stream's roll fsyncs the old segment under the stream's lock, and turning
//! flushOnWrite on waits for a background seal still running), so syncing the active segment
//! covers everything below the snapshot.
//!
//! A failed fsync is sticky for what it covered: waiters at or below it get the error even if
//! a later fsync succeeds (Linux reports a writeback error once, so a later success proves
//! nothing about earlier pages).

use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

/// The durability state of one stream.
#[derive(Debug, Default)]
pub struct GroupCommit {
    /// Every sequence number below this is durable.
    durable: AtomicU64,
    /// Sequence numbers `lo..hi` that a failed fsync covered and no successful one had
    /// covered before: they are never acknowledged.
    failed: std::sync::Mutex<Option<(u64, u64)>>,
    /// Set once `failed` is: the common path reads this instead of locking `failed`.
    any_failed: AtomicBool,
    /// Set while a leader fsyncs.
    leading: AtomicBool,
    /// Woken when a leader stops (the watermark moved, or its fsync failed): every waiter
    /// it covered returns at once, instead of waking one another in turn through a lock.
    progress: tokio::sync::Notify,
    /// Number of fsyncs run (for tests and benchmarks).
    fsyncs: AtomicU64,
    /// Records that reached `wait_durable` so far (each after it was written).
    arrived: AtomicU64,
    /// Calls of `wait_durable` under way.
    waiting: AtomicUsize,
    /// Records of the calls of `wait_durable` under way.
    waiting_records: AtomicU64,
    /// Records the last successful fsync covered that were not durable before it.
    last_batch: AtomicU64,
    /// `arrived` when the last leader took its snapshot.
    arrived_at_snapshot: AtomicU64,
    /// Records waiting when the last successful fsync ended: the appends active then.
    company: AtomicU64,
    /// Set while a leader waits for company ([`GroupCommit::gather`]).
    gathering: AtomicBool,
    /// Woken by each arrival while a leader gathers.
    arrival: tokio::sync::Notify,
    /// How long the last fsync took, in nanoseconds (0 before the first one).
    last_sync_ns: AtomicU64,
}

/// The longest fsync a lone leader may run on its tokio worker without handing the worker's
/// other tasks to another thread first: tokio's rule of thumb for the time between two
/// awaits. Slower disks (an SD card takes milliseconds) get `block_in_place`.
const INLINE_SYNC: std::time::Duration = std::time::Duration::from_micros(100);

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

    /// Waits until sequence number `seq`, the newest of `records` records written together,
    /// is durable. `snapshot` returns, under the stream's lock, the active segment file and
    /// the next sequence number (everything written so far), or `None` when there is nothing
    /// left to sync (the data was removed).
    pub async fn wait_durable<F>(&self, seq: u64, records: u64, snapshot: F) -> io::Result<()>
    where
        F: Fn() -> Option<(Arc<File>, u64)>,
    {
        let target = seq + 1;
        self.arrived.fetch_add(records, Ordering::SeqCst);
        if self.gathering.load(Ordering::SeqCst) {
            self.arrival.notify_one();
        }
        self.waiting.fetch_add(1, Ordering::Relaxed);
        self.waiting_records.fetch_add(records, Ordering::Relaxed);
        let _waiting = Waiting(self, records);
        loop {
            // Covered already (woken by the leader whose fsync covered us): no registration.
            if let Some(r) = self.covered(target) {
                return r;
            }
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
            self.gather().await;
            self.arrived_at_snapshot
                .store(self.arrived.load(Ordering::SeqCst), Ordering::Relaxed);
            let Some((file, upto)) = snapshot() else {
                return Ok(());
            };
            self.fsyncs.fetch_add(1, Ordering::Relaxed);
            // A leader alone (the last fsync covered just its own record, nobody else waits)
            // syncs on its own thread (see `sync_data`); with company it leaves the worker to
            // the others (the waiters it wakes then run where they are, instead of being sent
            // over from a thread that gave its worker away; with 32 appenders the two
            // measured alike within this VM's noise).
            let alone = self.last_batch.load(Ordering::Relaxed) <= 1
                && self.waiting.load(Ordering::Relaxed) == 1;
            let how = SyncOn::choose(alone, self.last_sync_ns.load(Ordering::Relaxed));
            let started = crate::clock::instant();
            let synced = sync_data(file, how).await;
            let took = started.elapsed().as_nanos().min(u128::from(u64::MAX)) as u64;
            self.last_sync_ns.store(took.max(1), Ordering::Relaxed);
            match synced {
                Ok(()) => {
                    let before = self.durable.fetch_max(upto, Ordering::AcqRel);
                    self.last_batch
                        .store(upto.saturating_sub(before), Ordering::Relaxed);
                    self.company.store(
                        self.waiting_records.load(Ordering::Relaxed),
                        Ordering::Relaxed,
                    );
                }
                Err(e) => {
                    let lo = self.durable.load(Ordering::Acquire);
                    let mut failed = self.failed.lock().unwrap_or_else(|p| p.into_inner());
                    *failed = Some(match *failed {
                        Some((a, b)) => (a.min(lo), b.max(upto)),
                        None => (lo, upto),
                    });
                    self.any_failed.store(true, Ordering::Release);
                    return Err(e);
                }
            }
        }
    }

    /// The leader's wait for company: when the last fsync ended with `company` records
    /// waiting, until `company` records have arrived since the last snapshot, or a timer tick
    /// (about 1 ms) has passed, whichever comes first. A lone record does not wait; when
    /// appenders leave, the tick bounds the wait once and the next fsync's count is lower.
    async fn gather(&self) {
        let company = self.company.load(Ordering::Relaxed);
        if company <= 1 {
            return;
        }
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(1);
        self.gathering.store(true, Ordering::SeqCst);
        let _gathering = Gathering(self);
        loop {
            // Registered before the count is read: an arrival after it wakes us.
            let arrival = self.arrival.notified();
            tokio::pin!(arrival);
            arrival.as_mut().enable();
            let since = self
                .arrived
                .load(Ordering::SeqCst)
                .saturating_sub(self.arrived_at_snapshot.load(Ordering::Relaxed));
            if since >= company {
                return;
            }
            tokio::select! {
                () = arrival => {}
                () = tokio::time::sleep_until(deadline) => return,
            }
        }
    }

    fn covered(&self, target: u64) -> Option<io::Result<()>> {
        // The watermark first: a leader records its failure before it lets the next one in,
        // so a watermark raised by a later success comes with the failure recorded before
        // it, and a message that failure covered is never acknowledged by that success.
        let durable = self.durable.load(Ordering::Acquire);
        if self.any_failed.load(Ordering::Acquire) {
            let failed = *self.failed.lock().unwrap_or_else(|p| p.into_inner());
            if failed.is_some_and(|(lo, hi)| lo < target && target <= hi) {
                return Some(Err(io::Error::other(
                    "an fsync covering this message failed",
                )));
            }
        }
        (target <= durable).then_some(Ok(()))
    }
}

/// Where a leader runs its `fdatasync`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SyncOn {
    /// On the blocking pool: the leader has company, which runs on while it waits.
    Pool,
    /// On the calling thread, after [`tokio::task::block_in_place`] handed this worker's
    /// other tasks to another thread.
    InPlace,
    /// On the calling thread, as it is: the disk's last fsync took at most [`INLINE_SYNC`].
    OnWorker,
}

impl SyncOn {
    /// Where the leader syncs: alone or not, and how long the last fsync took (0: unknown).
    fn choose(alone: bool, last_sync_ns: u64) -> Self {
        match last_sync_ns {
            _ if !alone => Self::Pool,
            ns if ns > 0 && u128::from(ns) <= INLINE_SYNC.as_nanos() => Self::OnWorker,
            _ => Self::InPlace,
        }
    }
}

/// `fdatasync` of `file` from async code. A lone appender (`InPlace`, `OnWorker`) syncs on
/// the calling thread and continues the moment the call returns, with no hand-off to the
/// blocking pool and back (two thread wake-ups on its path; measured: one appender 4,700 →
/// 6,000 appends/s, daemon CPU per append 110 → 65 µs). `OnWorker` also skips the hand-over
/// of the worker's other tasks to a thread `block_in_place` wakes (measured: one appender
/// +6–10%, ~16 CPU-µs less per append); it is chosen only while fsyncs are as short as the
/// time tokio expects between two awaits, so that a slow disk never stalls the worker's
/// other tasks for a whole fsync. The current-thread runtime (tests, tools) always uses the
/// pool.
async fn sync_data(file: Arc<File>, how: SyncOn) -> io::Result<()> {
    use tokio::runtime::{Handle, RuntimeFlavor};
    let multi =
        Handle::try_current().is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread);
    if multi && how == SyncOn::OnWorker {
        super::fsutil::fdatasync(&file)
    } else if multi && how == SyncOn::InPlace {
        tokio::task::block_in_place(|| super::fsutil::fdatasync(&file))
    } else {
        tokio::task::spawn_blocking(move || super::fsutil::fdatasync(&file))
            .await
            .map_err(|e| io::Error::other(e.to_string()))
            .and_then(|r| r)
    }
}

/// Counts a waiter (and its records) out however it stops.
struct Waiting<'a>(&'a GroupCommit, u64);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::Relaxed);
        self.0.waiting_records.fetch_sub(self.1, Ordering::Relaxed);
    }
}

/// Ends a leader's wait for company however it stops.
struct Gathering<'a>(&'a GroupCommit);

impl Drop for Gathering<'_> {
    fn drop(&mut self) {
        self.0.gathering.store(false, Ordering::SeqCst);
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

    /// What the appenders wrote and what each leader's fsync covered, in the order the
    /// fsyncs started. One lock for both, so a write and the fsyncs started before it are
    /// seen in one consistent order.
    #[derive(Default)]
    struct Log {
        /// (records written, `upto` of every snapshot taken so far)
        inner: Mutex<(u64, Vec<u64>)>,
    }

    /// `appenders` tasks each write and wait for `per` records; every acknowledgement is
    /// checked against the snapshots: one taken *after* the record was written (so its fsync
    /// started after the write) must cover it. `bad` snapshots (by index) sync a file that
    /// cannot be synced. Returns the log and each task's results.
    async fn hammer(
        gc: &Arc<GroupCommit>,
        appenders: usize,
        per: usize,
        bad: &'static [usize],
    ) -> (Arc<Log>, Vec<Vec<(u64, io::Result<()>)>>) {
        let dir = tempfile::tempdir().unwrap();
        let good = Arc::new(File::create(dir.path().join("f")).unwrap());
        // fdatasync of a character device fails (EINVAL).
        let broken = Arc::new(File::open("/dev/null").unwrap());
        let log = Arc::new(Log::default());
        let mut tasks = Vec::new();
        for _ in 0..appenders {
            let (gc, log, good, broken) = (gc.clone(), log.clone(), good.clone(), broken.clone());
            tasks.push(tokio::spawn(async move {
                let mut results = Vec::new();
                for _ in 0..per {
                    let (seq, fsyncs_before) = {
                        let mut l = log.inner.lock().unwrap();
                        l.0 += 1;
                        (l.0 - 1, l.1.len())
                    };
                    let snapshot = || {
                        let mut l = log.inner.lock().unwrap();
                        let upto = l.0;
                        l.1.push(upto);
                        let file = if bad.contains(&(l.1.len() - 1)) {
                            broken.clone()
                        } else {
                            good.clone()
                        };
                        Some((file, upto))
                    };
                    let r = gc.wait_durable(seq, 1, snapshot).await;
                    if r.is_ok() {
                        let l = log.inner.lock().unwrap();
                        assert!(
                            l.1[fsyncs_before..].iter().any(|&upto| upto > seq),
                            "{seq} acknowledged without an fsync that started after its write"
                        );
                        assert!(gc.durable.load(Ordering::Acquire) > seq);
                    }
                    results.push((seq, r));
                }
                results
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.push(t.await.unwrap());
        }
        drop(dir);
        (log, all)
    }

    async fn many_appenders_share_fsyncs_and_each_ack_follows_its_own() {
        let gc = Arc::new(GroupCommit::new(0));
        let (log, results) = hammer(&gc, 32, 20, &[]).await;
        assert!(results.iter().flatten().all(|(_, r)| r.is_ok()));
        let l = log.inner.lock().unwrap();
        assert_eq!(l.0, 640);
        assert_eq!(gc.fsyncs(), l.1.len() as u64, "one fsync per snapshot");
        assert!(
            gc.fsyncs() < 640,
            "640 appends took {} fsyncs: none were shared",
            gc.fsyncs()
        );
    }

    /// The leader syncs on its own thread (block_in_place).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_waiters_share_fsyncs_multi_thread() {
        many_appenders_share_fsyncs_and_each_ack_follows_its_own().await;
    }

    /// The leader syncs on the blocking pool.
    #[tokio::test]
    async fn concurrent_waiters_share_fsyncs_current_thread() {
        many_appenders_share_fsyncs_and_each_ack_follows_its_own().await;
    }

    /// The third fsync fails while appenders keep going: exactly the records it covered (and
    /// no earlier fsync had) fail, even though later fsyncs succeed; all others succeed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_fsync_fails_exactly_what_it_covered_under_load() {
        let gc = Arc::new(GroupCommit::new(0));
        let (log, results) = hammer(&gc, 8, 30, &[2]).await;
        let l = log.inner.lock().unwrap();
        assert!(l.1.len() > 3, "later fsyncs ran");
        // What the failed fsync covered: above the best earlier snapshot, up to its own.
        let (lo, hi) = (l.1[..2].iter().copied().max().unwrap(), l.1[2]);
        for (seq, r) in results.iter().flatten() {
            let doomed = lo <= *seq && *seq < hi;
            assert_eq!(
                r.is_err(),
                doomed,
                "seq {seq}, failed fsync covered {lo}..{hi}"
            );
        }
        assert!(
            gc.covered(hi).unwrap().is_err(),
            "still failed after later successes"
        );
    }

    /// A leader that expects company which never comes (the other appenders left) still
    /// syncs, once, and covers its record; the next fsync sees it alone.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_leader_waiting_for_company_that_left_still_syncs() {
        let gc = Arc::new(GroupCommit::new(0));
        gc.company.store(32, Ordering::Relaxed);
        let (log, results) = hammer(&gc, 1, 3, &[]).await;
        assert!(results.iter().flatten().all(|(_, r)| r.is_ok()));
        assert_eq!(log.inner.lock().unwrap().1, vec![1, 2, 3]);
        assert_eq!(gc.company.load(Ordering::Relaxed), 1);
        assert!(!gc.gathering.load(Ordering::Relaxed));
    }

    /// Company is counted in records: a caller waiting for a batch of 5 (one connection's
    /// appends) leaves the next leader expecting 5 records, not 1 caller.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn company_is_counted_in_records() {
        let dir = tempfile::tempdir().unwrap();
        let file = Arc::new(File::create(dir.path().join("f")).unwrap());
        let gc = GroupCommit::new(0);
        gc.wait_durable(4, 5, || Some((file.clone(), 5)))
            .await
            .unwrap();
        assert_eq!(gc.company.load(Ordering::Relaxed), 5);
        assert_eq!(gc.waiting_records.load(Ordering::Relaxed), 0);
        assert_eq!(gc.arrived.load(Ordering::Relaxed), 5);
    }

    #[test]
    fn only_a_lone_leader_after_a_short_fsync_syncs_on_its_worker() {
        assert_eq!(SyncOn::choose(false, 50_000), SyncOn::Pool);
        assert_eq!(SyncOn::choose(true, 0), SyncOn::InPlace, "first fsync");
        assert_eq!(SyncOn::choose(true, 60_000), SyncOn::OnWorker);
        assert_eq!(SyncOn::choose(true, 100_000), SyncOn::OnWorker);
        assert_eq!(
            SyncOn::choose(true, 100_001),
            SyncOn::InPlace,
            "a slow disk"
        );
        assert_eq!(SyncOn::choose(true, 20_000_000), SyncOn::InPlace);
    }

    #[tokio::test]
    async fn a_failed_fsync_is_sticky_for_what_it_covered() {
        let gc = GroupCommit::new(2);
        *gc.failed.lock().unwrap() = Some((2, 5));
        gc.any_failed.store(true, Ordering::SeqCst);
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
        assert!(gc.wait_durable(10, 1, || None).await.is_ok());
    }
}
