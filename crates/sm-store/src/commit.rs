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
//! Appenders blocked on their own threads make batches as large as the concurrency allows
//! ([`Gather::ForCompany`]; the store's sync thread does not wait, [`Gather::Never`]): when
//! the last fsync ended with several records waiting (its batch plus those written while it
//! ran), the next leader waits (at most about a millisecond, a timer tick) until as many
//! records have arrived since the last snapshot, so the appenders just acknowledged can send
//! their next record and join.
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
//!
//! Who waits: [`GroupCommit::wait_durable`] blocks the calling thread (the leader fsyncs on
//! it, and waits for company with a timed wait); a program's own threads call it through
//! `Stream::settle`, and so does the store's sync thread (`crate::syncer`) for the appends
//! handed to it by `Stream::settle_or_defer`, which counts them in when they are queued
//! ([`GroupCommit::count_in`]). A lone appender on a thread with nothing else to do syncs
//! there and then ([`GroupCommit::try_alone`]): no hand-off at all.

use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::clock::Clock;
use crate::fsutil::fdatasync;
use crate::signal::Signal;

/// The durability state of one stream.
#[derive(Debug, Default)]
pub struct GroupCommit {
    /// Every sequence number below this is durable.
    durable: AtomicU64,
    /// Sequence numbers `lo..hi` that a failed fsync covered and no successful one had
    /// covered before: they are never acknowledged.
    failed: Mutex<Option<(u64, u64)>>,
    /// Set once `failed` is: the common path reads this instead of locking `failed`.
    any_failed: AtomicBool,
    /// Set while a leader fsyncs.
    leading: AtomicBool,
    /// Notified when a leader stops (the watermark moved, or its fsync failed): every waiter
    /// it covered returns at once, instead of waking one another in turn through a lock.
    progress: Signal,
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
    /// Set while a leader waits for company (`gather`).
    gathering: AtomicBool,
    /// Notified by each arrival while a leader gathers.
    arrival: Signal,
    /// How long the last fsync took, in nanoseconds (0 before the first one).
    last_sync_ns: AtomicU64,
}

/// The longest fsync a lone appender runs on its own thread even when that thread has other
/// work waiting ([`GroupCommit::try_alone`]): an async executor's rule of thumb for the time
/// between two awaits. Slower disks (an SD card takes milliseconds) hand such appends to the
/// sync thread.
pub const INLINE_SYNC: Duration = Duration::from_micros(100);

/// The longest a leader waits for company: about a timer tick.
pub const GATHER_AT_MOST: Duration = Duration::from_millis(1);

/// Whether a leader waits for company before its snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gather {
    /// Appenders blocked on their own threads: without the wait they split into two halves
    /// that alternate, each fsync covering half of them (measured with 32 threads: 12–16
    /// appends per fsync, 32 with the wait, and less CPU per append).
    ForCompany,
    /// The store's sync thread: the appenders' threads write the next records while it
    /// fsyncs, and waiting would only idle both. Measured with 32 daemon connections on 2
    /// vCPUs, in alternating rounds: 41–52k appends/s at about 14 per fsync without the
    /// wait, 38–42k at 32 per fsync with it.
    Never,
}

/// What a leader syncs: the active segment's file and the next sequence number (everything
/// written so far), taken under the stream's lock; `None` when there is nothing left to sync
/// (the data was removed).
pub type SyncSnapshot = Option<(Arc<File>, u64)>;

/// A leader's fsync about to run.
struct Turn {
    file: Arc<File>,
    upto: u64,
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

    /// Every sequence number below this is durable.
    pub fn durable(&self) -> u64 {
        self.durable.load(Ordering::Acquire)
    }

    /// Blocks until sequence number `seq`, the newest of `records` records written together,
    /// is durable. `snapshot` returns, under the stream's lock, what a leader syncs
    /// ([`SyncSnapshot`]). The leader runs the `fdatasync` on the calling thread.
    pub fn wait_durable<F>(
        &self,
        seq: u64,
        records: u64,
        snapshot: F,
        clock: &dyn Clock,
    ) -> io::Result<()>
    where
        F: Fn() -> SyncSnapshot,
    {
        let _waiting = self.arrive(records);
        self.wait_arrived(seq + 1, snapshot, clock, Gather::ForCompany)
    }

    /// Counts in `records` records handed to another thread, which waits for them with
    /// [`Self::wait_arrived`] and counts them out with [`Self::count_out`]: a leader gathering
    /// company sees them arrive when they are queued, not when the thread gets to them.
    pub(crate) fn count_in(&self, records: u64) {
        std::mem::forget(self.arrive(records));
    }

    /// Ends [`Self::count_in`].
    pub(crate) fn count_out(&self, records: u64) {
        drop(Waiting(self, records));
    }

    /// The waiting side of [`Self::wait_durable`], for records already counted in: blocks
    /// until every sequence number below `target` is durable, leading an fsync when no one
    /// else does (after waiting for company if `gather` says so).
    pub(crate) fn wait_arrived<F>(
        &self,
        target: u64,
        snapshot: F,
        clock: &dyn Clock,
        gather: Gather,
    ) -> io::Result<()>
    where
        F: Fn() -> SyncSnapshot,
    {
        loop {
            // Read before the checks, so a leader that stops after them is noticed.
            let seen = self.progress.version();
            if let Some(r) = self.covered(target) {
                return r;
            }
            let Some(_lead) = self.lead() else {
                self.progress.wait(seen);
                continue;
            };
            if let Some(r) = self.covered(target) {
                return r;
            }
            if let (Gather::ForCompany, Some(company)) = (gather, self.company_wanted()) {
                self.gather(company, clock);
            }
            let Some(turn) = self.turn(&snapshot) else {
                return Ok(());
            };
            self.sync(turn, clock)?;
        }
    }

    /// Syncs on the calling thread at once when the appender is alone: the last fsync covered
    /// one record, no one else waits or leads, and either the thread has nothing else to
    /// serve (`quiet`, as the caller knows) or the last fsync took at most [`INLINE_SYNC`].
    /// `None` when it is not alone (nothing was done: wait some other way).
    pub(crate) fn try_alone<F>(
        &self,
        target: u64,
        records: u64,
        snapshot: F,
        clock: &dyn Clock,
        quiet: bool,
    ) -> Option<io::Result<()>>
    where
        F: Fn() -> SyncSnapshot,
    {
        let last_ns = self.last_sync_ns.load(Ordering::Relaxed);
        let fast = last_ns > 0 && u128::from(last_ns) <= INLINE_SYNC.as_nanos();
        let alone = self.last_batch.load(Ordering::Relaxed) <= 1
            && self.company.load(Ordering::Relaxed) <= 1
            && self.waiting.load(Ordering::Relaxed) == 0;
        if !alone || !(quiet || fast) {
            return None;
        }
        let _lead = self.lead()?;
        let _waiting = self.arrive(records);
        if let Some(r) = self.covered(target) {
            return Some(r);
        }
        Some(match self.turn(&snapshot) {
            Some(turn) => self.sync(turn, clock),
            None => Ok(()),
        })
    }

    /// The leader's fsync.
    fn sync(&self, turn: Turn, clock: &dyn Clock) -> io::Result<()> {
        let started = clock.instant();
        let synced = fdatasync(&turn.file);
        self.finish(turn.upto, synced, clock.instant() - started)
    }

    /// Counts a caller in (and wakes a leader gathering company).
    fn arrive(&self, records: u64) -> Waiting<'_> {
        self.arrived.fetch_add(records, Ordering::SeqCst);
        if self.gathering.load(Ordering::SeqCst) {
            self.arrival.notify();
        }
        self.waiting.fetch_add(1, Ordering::Relaxed);
        self.waiting_records.fetch_add(records, Ordering::Relaxed);
        Waiting(self, records)
    }

    /// Takes the leader's turn, if no one has it.
    fn lead(&self) -> Option<Lead<'_>> {
        self.leading
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
            // Built only on success: dropping a `Lead` ends the turn.
            .then(|| Lead(self))
    }

    /// How many records a new leader waits for: when the last fsync ended with `company`
    /// records waiting, until `company` records have arrived since the last snapshot, or
    /// [`GATHER_AT_MOST`] passed, whichever comes first. A lone record does not wait; when
    /// appenders leave, the time bounds the wait once and the next fsync's count is lower.
    fn company_wanted(&self) -> Option<u64> {
        Some(self.company.load(Ordering::Relaxed)).filter(|&c| c > 1)
    }

    fn arrived_since_snapshot(&self) -> u64 {
        self.arrived
            .load(Ordering::SeqCst)
            .saturating_sub(self.arrived_at_snapshot.load(Ordering::Relaxed))
    }

    /// The blocking leader's wait for company.
    fn gather(&self, company: u64, clock: &dyn Clock) {
        let deadline = clock.instant() + GATHER_AT_MOST;
        self.gathering.store(true, Ordering::SeqCst);
        let _gathering = Gathering(self);
        loop {
            // Read before the count: an arrival after it wakes us.
            let seen = self.arrival.version();
            if self.arrived_since_snapshot() >= company {
                return;
            }
            let now = clock.instant();
            if now >= deadline {
                return;
            }
            self.arrival.wait_timeout(seen, deadline - now);
        }
    }

    /// The leader's snapshot.
    fn turn(&self, snapshot: &dyn Fn() -> SyncSnapshot) -> Option<Turn> {
        self.arrived_at_snapshot
            .store(self.arrived.load(Ordering::SeqCst), Ordering::Relaxed);
        let (file, upto) = snapshot()?;
        self.fsyncs.fetch_add(1, Ordering::Relaxed);
        Some(Turn { file, upto })
    }

    /// Records a leader's fsync of everything below `upto`, which took `took`.
    fn finish(&self, upto: u64, synced: io::Result<()>, took: Duration) -> io::Result<()> {
        let took = took.as_nanos().min(u128::from(u64::MAX)) as u64;
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
                Ok(())
            }
            Err(e) => {
                let lo = self.durable.load(Ordering::Acquire);
                let mut failed = self.failed.lock().unwrap_or_else(PoisonError::into_inner);
                *failed = Some(match *failed {
                    Some((a, b)) => (a.min(lo), b.max(upto)),
                    None => (lo, upto),
                });
                self.any_failed.store(true, Ordering::Release);
                Err(e)
            }
        }
    }

    fn covered(&self, target: u64) -> Option<io::Result<()>> {
        // The watermark first: a leader records its failure before it lets the next one in,
        // so a watermark raised by a later success comes with the failure recorded before
        // it, and a message that failure covered is never acknowledged by that success.
        let durable = self.durable.load(Ordering::Acquire);
        if self.any_failed.load(Ordering::Acquire) {
            let failed = *self.failed.lock().unwrap_or_else(PoisonError::into_inner);
            if failed.is_some_and(|(lo, hi)| lo < target && target <= hi) {
                return Some(Err(io::Error::other(
                    "an fsync covering this message failed",
                )));
            }
        }
        (target <= durable).then_some(Ok(()))
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
        self.0.progress.notify();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;

    /// What the appenders wrote and what each leader's fsync covered, in the order the
    /// fsyncs started. One lock for both, so a write and the fsyncs started before it are
    /// seen in one consistent order.
    #[derive(Default)]
    pub(crate) struct Log {
        /// (records written, `upto` of every snapshot taken so far)
        pub(crate) inner: Mutex<(u64, Vec<u64>)>,
    }

    /// Each appender's acknowledgements: sequence number and result, in order.
    type Results = Vec<Vec<(u64, io::Result<()>)>>;

    /// Files to sync: a good one, and one whose fdatasync fails (a character device: EINVAL).
    pub(crate) struct Files {
        _dir: tempfile::TempDir,
        good: Arc<File>,
        broken: Arc<File>,
    }

    impl Files {
        pub(crate) fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let good = Arc::new(File::create(dir.path().join("f")).unwrap());
            let broken = Arc::new(File::open("/dev/null").unwrap());
            Self {
                _dir: dir,
                good,
                broken,
            }
        }
    }

    /// One appender's record: writes it (in the log), returns its sequence number, how many
    /// fsyncs had started before, and the snapshot function a leader calls (`bad` snapshots,
    /// by index, sync the broken file).
    pub(crate) fn write<'a>(
        log: &'a Log,
        files: &'a Files,
        bad: &'static [usize],
    ) -> (u64, usize, impl Fn() -> SyncSnapshot + 'a) {
        let (seq, before) = {
            let mut l = log.inner.lock().unwrap();
            l.0 += 1;
            (l.0 - 1, l.1.len())
        };
        (seq, before, snapshot_of(log, files, bad))
    }

    /// The snapshot function a leader calls (`bad` snapshots, by index, sync the broken file).
    pub(crate) fn snapshot_of<'a>(
        log: &'a Log,
        files: &'a Files,
        bad: &'static [usize],
    ) -> impl Fn() -> SyncSnapshot + 'a {
        move || {
            let mut l = log.inner.lock().unwrap();
            let upto = l.0;
            l.1.push(upto);
            let file = if bad.contains(&(l.1.len() - 1)) {
                files.broken.clone()
            } else {
                files.good.clone()
            };
            Some((file, upto))
        }
    }

    /// Checks an acknowledgement: a snapshot taken *after* the record was written (so its
    /// fsync started after the write) covers it.
    pub(crate) fn check_ack(gc: &GroupCommit, log: &Log, seq: u64, before: usize) {
        let l = log.inner.lock().unwrap();
        assert!(
            l.1[before..].iter().any(|&upto| upto > seq),
            "{seq} acknowledged without an fsync that started after its write"
        );
        assert!(gc.durable() > seq);
    }

    /// `appenders` threads each write and wait for `per` records, blocking.
    fn hammer(
        gc: &Arc<GroupCommit>,
        appenders: usize,
        per: usize,
        bad: &'static [usize],
    ) -> (Arc<Log>, Results) {
        let files = Arc::new(Files::new());
        let log = Arc::new(Log::default());
        let threads: Vec<_> = (0..appenders)
            .map(|_| {
                let (gc, log, files) = (gc.clone(), log.clone(), files.clone());
                std::thread::spawn(move || {
                    let mut results = Vec::new();
                    for _ in 0..per {
                        let (seq, before, snapshot) = write(&log, &files, bad);
                        let r = gc.wait_durable(seq, 1, snapshot, &SystemClock);
                        if r.is_ok() {
                            check_ack(&gc, &log, seq, before);
                        }
                        results.push((seq, r));
                    }
                    results
                })
            })
            .collect();
        let all = threads.into_iter().map(|t| t.join().unwrap()).collect();
        (log, all)
    }

    /// [`hammer`] the daemon's way: each appender counts its record in and hands the wait
    /// to the store's sync thread (`Syncer`), then waits for the acknowledgement it sends.
    fn hammer_queued(
        gc: &Arc<GroupCommit>,
        appenders: usize,
        per: usize,
        bad: &'static [usize],
    ) -> (Arc<Log>, Results) {
        let files = Arc::new(Files::new());
        let log = Arc::new(Log::default());
        let syncer = Arc::new(crate::syncer::Syncer::default());
        let threads: Vec<_> = (0..appenders)
            .map(|_| {
                let (gc, log, files, syncer) =
                    (gc.clone(), log.clone(), files.clone(), syncer.clone());
                std::thread::spawn(move || {
                    let mut results = Vec::new();
                    for _ in 0..per {
                        let (seq, before, _) = write(&log, &files, bad);
                        gc.count_in(1);
                        let (tx, rx) = std::sync::mpsc::channel();
                        let (g, l, f) = (gc.clone(), log.clone(), files.clone());
                        syncer.submit(Box::new(move || {
                            let snapshot = snapshot_of(&l, &f, bad);
                            let r = g.wait_arrived(seq + 1, snapshot, &SystemClock, Gather::Never);
                            g.count_out(1);
                            tx.send(r).unwrap();
                        }));
                        let r = rx.recv().unwrap();
                        if r.is_ok() {
                            check_ack(&gc, &log, seq, before);
                        }
                        results.push((seq, r));
                    }
                    results
                })
            })
            .collect();
        let all = threads.into_iter().map(|t| t.join().unwrap()).collect();
        (log, all)
    }

    #[test]
    fn queued_waiters_share_fsyncs_and_each_ack_follows_its_own() {
        let gc = Arc::new(GroupCommit::new(0));
        let (log, results) = hammer_queued(&gc, 32, 20, &[]);
        assert!(results.iter().flatten().all(|(_, r)| r.is_ok()));
        let l = log.inner.lock().unwrap();
        assert_eq!(gc.fsyncs(), l.1.len() as u64, "one fsync per snapshot");
        assert!(
            gc.fsyncs() < 640,
            "{} fsyncs: none were shared",
            gc.fsyncs()
        );
        assert_eq!(gc.waiting.load(Ordering::Relaxed), 0, "all counted out");
        assert_eq!(gc.waiting_records.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn queued_a_failed_fsync_fails_exactly_what_it_covered_under_load() {
        let gc = Arc::new(GroupCommit::new(0));
        let (log, results) = hammer_queued(&gc, 8, 30, &[2]);
        check_failed_third(&gc, &log, &results);
    }

    #[test]
    fn concurrent_threads_share_fsyncs_and_each_ack_follows_its_own() {
        let gc = Arc::new(GroupCommit::new(0));
        let (log, results) = hammer(&gc, 32, 20, &[]);
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

    /// The third fsync fails while appenders keep going: exactly the records it covered (and
    /// no earlier fsync had) fail, even though later fsyncs succeed; all others succeed.
    #[test]
    fn a_failed_fsync_fails_exactly_what_it_covered_under_load() {
        let gc = Arc::new(GroupCommit::new(0));
        let (log, results) = hammer(&gc, 8, 30, &[2]);
        check_failed_third(&gc, &log, &results);
    }

    /// The assertions of the failed-fsync tests (blocking here, async in the runtime's).
    pub(crate) fn check_failed_third(gc: &GroupCommit, log: &Log, results: &Results) {
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
    #[test]
    fn a_leader_waiting_for_company_that_left_still_syncs() {
        let gc = Arc::new(GroupCommit::new(0));
        gc.company.store(32, Ordering::Relaxed);
        let (log, results) = hammer(&gc, 1, 3, &[]);
        assert!(results.iter().flatten().all(|(_, r)| r.is_ok()));
        assert_eq!(log.inner.lock().unwrap().1, vec![1, 2, 3]);
        assert_eq!(gc.company.load(Ordering::Relaxed), 1);
        assert!(!gc.gathering.load(Ordering::Relaxed));
    }

    /// Company is counted in records: a caller waiting for a batch of 5 (one connection's
    /// appends) leaves the next leader expecting 5 records, not 1 caller.
    #[test]
    fn company_is_counted_in_records() {
        let files = Files::new();
        let gc = GroupCommit::new(0);
        gc.wait_durable(4, 5, || Some((files.good.clone(), 5)), &SystemClock)
            .unwrap();
        assert_eq!(gc.company.load(Ordering::Relaxed), 5);
        assert_eq!(gc.waiting_records.load(Ordering::Relaxed), 0);
        assert_eq!(gc.arrived.load(Ordering::Relaxed), 5);
    }

    /// A lone appender syncs on its own thread when that thread is quiet, or, busy, after a
    /// short fsync; with company (or a slow disk and a busy thread) it does nothing.
    #[test]
    fn only_a_lone_appender_syncs_on_its_own_thread() {
        let files = Files::new();
        let log = Log::default();
        let gc = GroupCommit::new(0);
        let (seq, before, snap) = write(&log, &files, &[]);
        assert!(
            gc.try_alone(seq + 1, 1, &snap, &SystemClock, false)
                .is_none(),
            "first fsync (time unknown), busy thread"
        );
        let r = gc.try_alone(seq + 1, 1, &snap, &SystemClock, true);
        assert!(r.unwrap().is_ok(), "quiet thread");
        check_ack(&gc, &log, seq, before);
        assert_eq!(gc.waiting.load(Ordering::Relaxed), 0);

        let (seq, _, snap) = write(&log, &files, &[]);
        gc.last_sync_ns.store(100_000, Ordering::Relaxed);
        assert!(
            gc.try_alone(seq + 1, 1, &snap, &SystemClock, false)
                .is_some(),
            "short fsync"
        );
        let (seq, _, snap) = write(&log, &files, &[]);
        gc.last_sync_ns.store(100_001, Ordering::Relaxed);
        assert!(
            gc.try_alone(seq + 1, 1, &snap, &SystemClock, false)
                .is_none(),
            "slow disk"
        );

        // Company: another waiter, a batch, or a leader already at work.
        gc.count_in(1);
        assert!(gc
            .try_alone(seq + 1, 1, &snap, &SystemClock, true)
            .is_none());
        gc.count_out(1);
        gc.company.store(2, Ordering::Relaxed);
        assert!(gc
            .try_alone(seq + 1, 1, &snap, &SystemClock, true)
            .is_none());
        gc.company.store(1, Ordering::Relaxed);
        let lead = gc.lead().unwrap();
        assert!(gc
            .try_alone(seq + 1, 1, &snap, &SystemClock, true)
            .is_none());
        drop(lead);
        assert!(gc
            .try_alone(seq + 1, 1, &snap, &SystemClock, true)
            .unwrap()
            .is_ok());
        assert_eq!(gc.durable(), seq + 1);
    }

    #[test]
    fn a_failed_fsync_is_sticky_for_what_it_covered() {
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
        assert!(gc.wait_durable(10, 1, || None, &SystemClock).is_ok());
    }
}
