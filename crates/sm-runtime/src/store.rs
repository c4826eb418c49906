//! The store as the daemon drives it: `sm-store` (re-exported here whole) opened with the
//! daemon's clock.

use std::io;
use std::path::Path;
use std::sync::Arc;

pub use sm_store::*;

use sm_store::faults::Faults;

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
                        let s = s.clone();
                        let payload = format!("{t}-{i}");
                        let seq = tokio::task::spawn_blocking(move || s.append(payload.as_bytes()));
                        seqs.push(seq.await.unwrap().unwrap());
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

    /// The appends are handed to the store's sync thread (never quiet).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_appends_share_fsyncs_multi_thread() {
        concurrent_appends_share_fsyncs().await;
    }

    #[tokio::test]
    async fn concurrent_appends_share_fsyncs_current_thread() {
        concurrent_appends_share_fsyncs().await;
    }
}
