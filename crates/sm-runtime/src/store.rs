//! The store as the daemon drives it: `sm-store` (re-exported here whole) opened with the
//! daemon's clock and the [`Tokio`] host, so that async appends wait for group commit without
//! blocking a worker.

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub use sm_store::*;

use sm_store::faults::Faults;
use sm_store::host::{BlockingWork, BoxFuture};

/// Where a group commit leader's `fdatasync` runs on tokio, and its timer.
///
/// A lone leader ([`SyncOn::OnWorker`], [`SyncOn::InPlace`]) syncs on the calling thread and
/// continues the moment the call returns, with no hand-off to the blocking pool and back;
/// `InPlace` first hands the worker's other tasks to another thread (`block_in_place`), so a
/// slow disk never stalls them. A leader with company ([`SyncOn::Pool`]) uses the blocking
/// pool, and so does every leader on a current-thread runtime (tests, tools).
#[derive(Debug, Clone, Copy, Default)]
pub struct Tokio;

impl AsyncHost for Tokio {
    fn run_blocking(&self, work: BlockingWork, on: SyncOn) -> BoxFuture<io::Result<()>> {
        use tokio::runtime::{Handle, RuntimeFlavor};
        let multi =
            Handle::try_current().is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread);
        match on {
            SyncOn::OnWorker if multi => Box::pin(std::future::ready(work())),
            SyncOn::InPlace if multi => {
                Box::pin(std::future::ready(tokio::task::block_in_place(work)))
            }
            _ => Box::pin(async move {
                tokio::task::spawn_blocking(work)
                    .await
                    .map_err(|e| io::Error::other(e.to_string()))
                    .and_then(|r| r)
            }),
        }
    }

    fn sleep(&self, d: Duration) -> BoxFuture<()> {
        Box::pin(tokio::time::sleep(d))
    }
}

/// The daemon's clock ([`crate::clock`]) as the store reads it.
#[derive(Debug, Clone, Copy, Default)]
pub struct DaemonClock;

impl Clock for DaemonClock {
    fn now_ms(&self) -> i64 {
        crate::clock::now_ms()
    }

    fn instant(&self) -> std::time::Instant {
        crate::clock::instant().into_std()
    }
}

/// The daemon's store options: its clock, tokio, and `faults` (tests inject failures).
pub fn options(faults: Arc<Faults>) -> Options {
    Options {
        clock: Arc::new(DaemonClock),
        host: Arc::new(Tokio),
        faults,
    }
}

/// Opens the store at `root` as the daemon runs it (recovering every File stream).
pub fn open(root: &Path) -> io::Result<Store> {
    Store::open_with(root, options(Faults::none()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sm_model::{MessageStreamDefinition, Persistence, StrategyOnFull};

    fn flushing(name: &str) -> MessageStreamDefinition {
        MessageStreamDefinition {
            name: name.into(),
            strategy_on_full: Some(StrategyOnFull::RejectNewData),
            persistence: Some(Persistence::File),
            flush_on_write: Some(true),
            ..Default::default()
        }
    }

    /// 32 tasks append with flushOnWrite through the daemon's store: every append is
    /// acknowledged, stored once, in order per task, and the fsyncs are shared.
    async fn concurrent_appends_share_fsyncs() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Arc::new(open(tmp.path()).unwrap());
        store.create(flushing("s")).unwrap();
        let s = store.get("s").unwrap();
        let tasks: Vec<_> = (0..32)
            .map(|t| {
                let s = s.clone();
                tokio::spawn(async move {
                    let mut seqs = Vec::new();
                    for i in 0..25 {
                        seqs.push(s.append_async(format!("{t}-{i}").as_bytes()).await.unwrap());
                    }
                    seqs
                })
            })
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            let seqs = t.await.unwrap();
            assert!(seqs.windows(2).all(|w| w[0] < w[1]), "in order per task");
            all.extend(seqs);
        }
        all.sort_unstable();
        assert_eq!(all, (0..800).collect::<Vec<i64>>());
        assert!(
            s.fsync_count() < 800,
            "800 acknowledged appends took {} fsyncs",
            s.fsync_count()
        );
    }

    /// Leaders sync on their own thread (on the worker or after `block_in_place`) or on the
    /// blocking pool.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_appends_share_fsyncs_multi_thread() {
        concurrent_appends_share_fsyncs().await;
    }

    /// Every leader syncs on the blocking pool.
    #[tokio::test]
    async fn concurrent_appends_share_fsyncs_current_thread() {
        concurrent_appends_share_fsyncs().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_host_runs_work_where_asked_and_sleeps() {
        for on in [SyncOn::OnWorker, SyncOn::InPlace, SyncOn::Pool] {
            let r = Tokio
                .run_blocking(Box::new(|| Err(io::Error::other("x"))), on)
                .await;
            assert_eq!(r.unwrap_err().to_string(), "x", "{on:?}");
        }
        let before = crate::clock::instant();
        Tokio.sleep(Duration::from_millis(5)).await;
        assert!(crate::clock::instant() - before >= Duration::from_millis(5));
    }
}
