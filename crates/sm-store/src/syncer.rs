//! The store's sync thread: where the group commits of appends that cannot sync on their own
//! thread run ([`crate::Stream::settle_or_defer`]), so that the thread that wrote them goes
//! back to its other work at once and the acknowledgement leaves from here, one thread hop
//! after the write, with no hop back.
//!
//! One thread per store, started with the first job and stopped when the store is dropped
//! (it finishes the jobs queued before). Jobs run in the order they were queued; the first job
//! of a stream leads the group commit (`GroupCommit::wait_arrived`) and its fsync covers the
//! jobs written before its snapshot, which then find themselves durable without a syscall.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use tracing::{error, warn};

/// A queued job: waits for its records' fsync and delivers the acknowledgements.
pub(crate) type Job = Box<dyn FnOnce() + Send>;

/// The store's sync thread and its queue.
#[derive(Default)]
pub(crate) struct Syncer {
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    /// Signalled when a job is queued while the thread sleeps, and at the end.
    ready: Condvar,
}

#[derive(Default)]
struct State {
    jobs: VecDeque<Job>,
    /// The thread was started.
    running: bool,
    /// The thread waits for a job: only then does queueing one signal it (a `futex` call).
    sleeping: bool,
    /// The store was dropped: the thread ends once the queue is empty.
    stopping: bool,
    /// A failed start was logged (each job retries it; the log says it once).
    warned: bool,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Syncer {
    /// Queues `job` for the sync thread (starting it the first time). If the thread cannot
    /// be started, the job runs on the calling thread instead.
    pub(crate) fn submit(&self, job: Job) {
        let mut st = self.shared.state();
        if !st.running {
            let shared = self.shared.clone();
            let spawned = std::thread::Builder::new()
                .name("sm-sync".into())
                .spawn(move || run(&shared));
            if let Err(e) = spawned {
                if !std::mem::replace(&mut st.warned, true) {
                    warn!("could not start the store's sync thread: {e}; syncing on the appender's thread until it starts");
                }
                drop(st);
                return run_one(job);
            }
            st.running = true;
        }
        st.jobs.push_back(job);
        if st.sleeping {
            st.sleeping = false;
            self.shared.ready.notify_one();
        }
    }
}

impl Drop for Syncer {
    fn drop(&mut self) {
        // Not joined: the last stream (and with it the store's context) may be dropped by
        // the sync thread itself, after its last job.
        self.shared.state().stopping = true;
        self.shared.ready.notify_one();
    }
}

fn run(shared: &Shared) {
    loop {
        let jobs = {
            let mut st = shared.state();
            while st.jobs.is_empty() {
                if st.stopping {
                    return;
                }
                st.sleeping = true;
                st = shared
                    .ready
                    .wait(st)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            std::mem::take(&mut st.jobs)
        };
        for job in jobs {
            run_one(job);
        }
    }
}

/// Runs a job; a panic in it is logged, and the thread goes on with the next.
fn run_one(job: Job) {
    if catch_unwind(AssertUnwindSafe(job)).is_err() {
        error!("a sync job panicked; its appends were not acknowledged");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn jobs_run_in_order_on_one_thread_which_ends_with_the_syncer() {
        let syncer = Syncer::default();
        let (tx, rx) = mpsc::channel();
        for i in 0..100 {
            let tx = tx.clone();
            syncer.submit(Box::new(move || {
                tx.send((i, std::thread::current().name().map(String::from)))
                    .unwrap();
            }));
        }
        let got: Vec<_> = (0..100).map(|_| rx.recv().unwrap()).collect();
        assert_eq!(
            got.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
            (0..100).collect::<Vec<_>>()
        );
        assert!(got.iter().all(|(_, n)| n.as_deref() == Some("sm-sync")));
        let shared = syncer.shared.clone();
        drop(syncer);
        for _ in 0..500 {
            if Arc::strong_count(&shared) == 1 {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        panic!("the sync thread did not end after the syncer was dropped");
    }

    #[test]
    fn a_panicking_job_does_not_stop_the_thread() {
        let syncer = Syncer::default();
        let (tx, rx) = mpsc::channel();
        syncer.submit(Box::new(|| panic!("planted")));
        syncer.submit(Box::new(move || tx.send(7).unwrap()));
        assert_eq!(rx.recv().unwrap(), 7);
    }
}
