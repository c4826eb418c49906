//! `Stream::settle_or_defer`, the way the daemon settles flushOnWrite appends without
//! blocking its workers: what settles on the calling thread, what goes to the store's sync
//! thread, and that every acknowledgement comes back once, after its fsync.

use std::sync::mpsc;
use std::sync::Arc;

use sm_model::{MessageStreamDefinition, Persistence, StrategyOnFull};
use sm_store::{Store, StoreError, Stream};

fn store(flush: bool) -> (tempfile::TempDir, Store, Arc<Stream>) {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    store
        .create(MessageStreamDefinition {
            name: "s".into(),
            strategy_on_full: Some(StrategyOnFull::OverwriteOldestData),
            persistence: Some(Persistence::File),
            flush_on_write: Some(flush),
            ..Default::default()
        })
        .unwrap();
    let s = store.get("s").unwrap();
    (tmp, store, s)
}

type Acks = mpsc::Sender<(Vec<Result<i64, StoreError>>, Option<String>)>;

/// Settles one written payload: `Some(results)` when it settled here.
fn settle(s: &Arc<Stream>, payload: &[u8], quiet: bool, acks: &Acks) -> Option<Vec<i64>> {
    let written = s.write_batch(&[payload]);
    let done = |tx: Acks, results| {
        let thread = std::thread::current().name().map(String::from);
        tx.send((results, thread)).unwrap();
    };
    s.settle_or_defer(written, quiet, acks.clone(), done)
        .map(|(r, _)| r.into_iter().map(Result::unwrap).collect())
}

#[test]
fn without_flush_on_write_everything_settles_here() {
    let (_tmp, _store, s) = store(false);
    let (tx, rx) = mpsc::channel();
    for i in 0..10 {
        assert_eq!(settle(&s, b"x", false, &tx), Some(vec![i]));
    }
    assert!(rx.try_recv().is_err(), "nothing deferred");
    assert_eq!(s.fsync_count(), 0);
}

#[test]
fn a_lone_appender_syncs_here_when_quiet_else_on_the_sync_thread() {
    let (_tmp, _store, s) = store(true);
    let (tx, rx) = mpsc::channel();
    // Quiet: each append is synced on this thread, one fsync each.
    for i in 0..5 {
        assert_eq!(settle(&s, b"x", true, &tx), Some(vec![i]));
        assert_eq!(s.fsync_count(), i as u64 + 1);
    }
    // Busy, and this disk's fsyncs may be slower than the inline limit: either here (a short
    // last fsync) or on the sync thread, never lost, always in order.
    let mut seqs = Vec::new();
    for _ in 0..20 {
        match settle(&s, b"y", false, &tx) {
            Some(r) => seqs.extend(r),
            None => {
                let (r, thread) = rx.recv().unwrap();
                assert_eq!(thread.as_deref(), Some("sm-sync"), "acknowledged there");
                seqs.extend(r.into_iter().map(Result::unwrap));
            }
        }
    }
    assert_eq!(seqs, (5..25).collect::<Vec<i64>>());
    assert_eq!(s.fsync_count(), 25, "a lone appender: one fsync per append");
}

/// 16 threads append at once, never quiet: every append is acknowledged exactly once, in
/// order per thread, and the sync thread shares fsyncs (that each acknowledgement follows
/// its own fsync is `commit.rs`'s test).
#[test]
fn concurrent_appenders_share_the_sync_threads_fsyncs() {
    let (_tmp, _store, s) = store(true);
    let threads: Vec<_> = (0..16)
        .map(|_| {
            let s = s.clone();
            std::thread::spawn(move || {
                let (tx, rx) = mpsc::channel();
                let mut seqs = Vec::new();
                for _ in 0..50 {
                    let r = match settle(&s, b"z", false, &tx) {
                        Some(r) => r,
                        None => rx
                            .recv()
                            .unwrap()
                            .0
                            .into_iter()
                            .map(Result::unwrap)
                            .collect(),
                    };
                    seqs.extend(r);
                }
                seqs
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in threads {
        let seqs = t.join().unwrap();
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "in order per appender"
        );
        all.extend(seqs);
    }
    all.sort_unstable();
    assert_eq!(all, (0..800).collect::<Vec<i64>>());
    assert!(
        s.fsync_count() < 800,
        "{} fsyncs: none shared",
        s.fsync_count()
    );
}
