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

    /// 32 synchronous appenders on tokio tasks, served as a connection serves them
    /// (`handlers::append_batch`, never quiet): every flushOnWrite append is acknowledged once
    /// (from the store's sync thread, or here after a short fsync of a lone appender; the
    /// first append, before any fsync was timed, always from the sync thread), in order per
    /// appender, stored once, and the fsyncs are shared.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_appends_are_acknowledged_from_the_sync_thread() {
        use crate::handlers::{append_batch, Deferred};
        use sm_model::AppendMessageRequest;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let tmp = tempfile::tempdir().unwrap();
        let store = Arc::new(open(tmp.path()).unwrap());
        store.create(flushing("s")).unwrap();
        let telemetry = Arc::new(crate::telemetry::Counters::default());
        let synced_there = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..32)
            .map(|t| {
                let (store, telemetry) = (store.clone(), telemetry.clone());
                let synced_there = synced_there.clone();
                tokio::spawn(async move {
                    let mut seqs = Vec::new();
                    for i in 0..25 {
                        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
                        let deferred: Deferred = Arc::new(move |out| {
                            let thread = std::thread::current().name().map(String::from);
                            tx.send((out, thread)).unwrap();
                        });
                        let req = AppendMessageRequest {
                            request_id: Some(format!("{t}-{i}")),
                            name: Some("s".into()),
                            payload: Some(format!("{t}-{i}").into()),
                        };
                        let here = append_batch(&store, &telemetry, vec![req], false, &deferred);
                        drop(deferred);
                        let frame = if here.is_empty() {
                            let (frame, thread) = rx.recv().await.unwrap();
                            assert_eq!(thread.as_deref(), Some("sm-sync"));
                            synced_there.fetch_add(1, Ordering::Relaxed);
                            frame
                        } else {
                            here
                        };
                        let ack = sm_wire::decode_append_ack(&frame[5..]).unwrap();
                        assert_eq!(ack.request_id, format!("{t}-{i}"));
                        seqs.push(ack.sequence_number);
                        assert!(rx.recv().await.is_none(), "one answer per append");
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
        assert_eq!(telemetry.appends().0, 800);
        assert!(synced_there.load(Ordering::Relaxed) >= 1);
        let s = store.get("s").unwrap();
        assert!(
            s.fsync_count() < 800,
            "800 acknowledged appends took {} fsyncs",
            s.fsync_count()
        );
    }
}
