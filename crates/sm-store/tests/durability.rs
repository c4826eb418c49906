//! The store against the crash-consistency contract (ARCHITECTURE.md), through the same
//! `Store` the daemon runs (blocking calls here; the daemon's async path has its own tests in
//! `sm-runtime`): power loss simulated on a copy of the store (every cut of the
//! last records, garbage, bit flips in sealed segments), disk full and failing removals
//! through the storage seam, group commit, and lazy start-up.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sm_model::{MessageStreamDefinition, Persistence, ResponseStatusCode, StrategyOnFull};
use sm_store::faults::Faults;
use sm_store::{Options, OwnedMessage, ReadOutcome, Store};

fn opts(faults: &Arc<Faults>) -> Options {
    Options {
        faults: faults.clone(),
        ..Options::default()
    }
}

fn def(name: &str, segment: i64, flush: bool) -> MessageStreamDefinition {
    MessageStreamDefinition {
        name: name.into(),
        max_size: Some(1 << 30),
        stream_segment_size: Some(segment),
        strategy_on_full: Some(StrategyOnFull::RejectNewData),
        persistence: Some(Persistence::File),
        flush_on_write: Some(flush),
        ..Default::default()
    }
}

fn payload(i: usize) -> Vec<u8> {
    format!("message-{i}-")
        .bytes()
        .chain((0..(i * 37) % 200).map(|k| k as u8))
        .collect()
}

fn read_all(store: &Store, name: &str) -> Vec<OwnedMessage> {
    let s = store.get(name).unwrap();
    match s.try_read(0, 0, u64::MAX, u64::MAX, u64::MAX).unwrap() {
        ReadOutcome::Messages(m) => m,
        ReadOutcome::NotEnough => unreachable!("min is 0"),
    }
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// The segment files of the stream folder of `name` under `root`, oldest first.
fn segments_of(root: &Path, name: &str) -> Vec<PathBuf> {
    let dir = fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            fs::read_to_string(p.join("stream.json"))
                .is_ok_and(|j| j.contains(&format!("\"name\": \"{name}\"")))
        })
        .unwrap();
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    v.sort();
    v
}

fn segments(root: &Path) -> Vec<PathBuf> {
    segments_of(root, "s")
}

fn base_of(p: &Path) -> usize {
    p.file_stem().unwrap().to_str().unwrap().parse().unwrap()
}

fn filled(root: &Path, n: usize, segment: i64) -> Vec<Vec<u8>> {
    let store = Store::open(root).unwrap();
    store.create(def("s", segment, false)).unwrap();
    let s = store.get("s").unwrap();
    let mut ps = Vec::new();
    for i in 0..n {
        let p = payload(i);
        assert_eq!(s.append(&p).unwrap(), i as i64);
        ps.push(p);
    }
    // No shutdown: the store is dropped as a kill -9 would leave it (page cache only).
    ps
}

#[test]
fn power_loss_at_every_byte_of_the_last_records_recovers_a_prefix() {
    let tmp = tempfile::tempdir().unwrap();
    let orig = tmp.path().join("orig");
    let ps = filled(&orig, 40, 2048);
    let segs = segments(&orig);
    assert!(segs.len() >= 3, "several segments");
    let last_name = segs.last().unwrap().file_name().unwrap().to_owned();
    let last_len = fs::metadata(segs.last().unwrap()).unwrap().len();
    for cut in (0..=last_len).rev() {
        let copy = tmp.path().join(format!("cut-{cut}"));
        copy_dir(&orig, &copy);
        let seg = segments(&copy)
            .into_iter()
            .find(|p| p.file_name().unwrap() == last_name)
            .unwrap();
        fs::OpenOptions::new()
            .write(true)
            .open(&seg)
            .unwrap()
            .set_len(cut)
            .unwrap();
        if cut % 3 == 0 {
            // Garbage after the cut too (a page written without its predecessors).
            let mut b = fs::read(&seg).unwrap();
            b.extend_from_slice(&[0xA5; 37]);
            fs::write(&seg, b).unwrap();
        }
        let store = Store::open(&copy).unwrap();
        let got = read_all(&store, "s");
        assert!(got.len() >= base_of(&seg), "cut {cut}: sealed records kept");
        for (k, m) in got.iter().enumerate() {
            assert_eq!(m.seq, k as i64, "cut {cut}: no gap");
            assert_eq!(m.payload, ps[k], "cut {cut}: record {k} intact");
        }
        let next = store.get("s").unwrap().append(b"after").unwrap();
        assert_eq!(next, got.len() as i64, "cut {cut}: numbering continues");
        let info = store.get("s").unwrap().info().unwrap();
        assert_eq!(info.storage_status.corrupt_records, None);
        drop(store);
        // Recovering the repaired store again changes nothing.
        let again = Store::open(&copy).unwrap();
        assert_eq!(read_all(&again, "s").len(), got.len() + 1);
        drop(again);
        fs::remove_dir_all(&copy).unwrap();
    }
}

#[test]
fn a_bit_flip_in_a_sealed_segment_is_skipped_reported_and_isolated() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    let ps = filled(&root, 40, 2048);
    {
        let store = Store::open(&root).unwrap();
        store.create(def("other", 4096, true)).unwrap();
        store.get("other").unwrap().append(b"fine").unwrap();
        store.sync_all();
    }
    let segs = segments(&root);
    let sealed = &segs[1];
    let mut b = fs::read(sealed).unwrap();
    b[16 + 30] ^= 0x10; // inside the first record's payload
    fs::write(sealed, b).unwrap();

    let store = Store::open(&root).unwrap();
    let s = store.get("s").unwrap();
    assert_eq!(
        s.info().unwrap().storage_status.corrupt_records,
        None,
        "sealed segments are not read at start-up"
    );
    let got = read_all(&store, "s");
    assert_eq!(
        got.len(),
        ps.len() - 1,
        "only the damaged record is skipped"
    );
    let base = base_of(sealed) as i64;
    assert!(got.iter().all(|m| m.seq != base));
    for m in &got {
        assert_eq!(m.payload, ps[m.seq as usize]);
    }
    assert_eq!(s.info().unwrap().storage_status.corrupt_records, Some(1));
    // Reading again finds nothing new, and the count stays.
    assert_eq!(read_all(&store, "s").len(), ps.len() - 1);
    assert_eq!(s.info().unwrap().storage_status.corrupt_records, Some(1));
    // A read starting at the damaged record starts after it.
    let from = match s.try_read(base as u64, 1, 1, u64::MAX, u64::MAX).unwrap() {
        ReadOutcome::Messages(m) => m,
        ReadOutcome::NotEnough => panic!("messages follow"),
    };
    assert_eq!(from[0].seq, base + 1);
    // Every other stream is served, and appends go on.
    let other = read_all(&store, "other");
    assert_eq!(other[0].payload, &b"fine"[..]);
    assert_eq!(s.append(b"more").unwrap(), ps.len() as i64);
}

#[test]
fn odd_files_never_stop_the_start() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    let ps = filled(&root, 30, 1024);
    let segs = segments(&root);
    let dir = segs[0].parent().unwrap().to_owned();
    // A zero-length sealed segment, an unknown file, a garbage checkpoint, a stray folder
    // and a definition with no segments.
    fs::write(&segs[1], b"").unwrap();
    fs::write(dir.join("notes.txt"), b"hello").unwrap();
    fs::write(dir.join("tail.ckpt"), b"garbage").unwrap();
    fs::write(dir.join("stream.tmp"), b"{half a defini").unwrap();
    fs::create_dir(root.join("not-a-stream")).unwrap();
    {
        let store = Store::open(&root).unwrap();
        store.create(def("empty", 1024, false)).unwrap();
    }
    let store = Store::open(&root).unwrap();
    let got = read_all(&store, "s");
    let lost = base_of(&segs[2]) - base_of(&segs[1]);
    assert_eq!(got.len(), ps.len() - lost);
    assert!(!segs[1].exists(), "the empty segment file was removed");
    assert_eq!(
        store
            .get("s")
            .unwrap()
            .info()
            .unwrap()
            .storage_status
            .corrupt_records,
        Some(lost as i64),
        "the missing records are reported"
    );
    assert_eq!(store.get("empty").unwrap().append(b"x").unwrap(), 0);
    assert!(
        dir.join("notes.txt").exists(),
        "unknown files are left alone"
    );
    assert!(
        !dir.join("stream.tmp").exists(),
        "a leftover of an interrupted atomic replace is dropped"
    );
}

#[test]
fn disk_full_fails_the_append_cleanly_and_recovers_when_space_returns() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    let faults = Faults::none();
    let store = Store::open_with(&root, opts(&faults)).unwrap();
    store.create(def("s", 1024, true)).unwrap();
    let s = store.get("s").unwrap();
    for i in 0..10 {
        s.append(&payload(i)).unwrap();
    }
    // Room for part of a record, then nothing: short write + ENOSPC, on writes and on rolls.
    for budget in [0u64, 5, 60, 300] {
        faults.set_write_budget(Some(budget));
        let mut failures = 0;
        for i in 0..6 {
            if let Err(e) = s.append(&payload(100 + i)) {
                assert_eq!(e.status(), ResponseStatusCode::UnknownFailure);
                assert!(e.to_string().contains("No space left"), "{e}");
                failures += 1;
            }
        }
        assert!(failures > 0, "budget {budget}: the disk filled up");
        faults.set_write_budget(None);
        // The log is consistent: what was acknowledged is readable, numbering contiguous.
        let got = read_all(&store, "s");
        for (k, m) in got.iter().enumerate() {
            assert_eq!(m.seq, k as i64);
        }
        let next = s.append(b"space is back").unwrap();
        assert_eq!(next, got.len() as i64);
    }
    let before = read_all(&store, "s");
    drop(s);
    drop(store);
    let store = Store::open(&root).unwrap();
    assert_eq!(
        read_all(&store, "s"),
        before,
        "the files match the log after a restart"
    );
}

/// A roll whose new segment was created but whose record then hit a full disk is undone: the
/// next append that fits the previous segment goes there (it used to fail with "segment N is
/// not the active segment" until a later roll).
#[test]
fn a_roll_that_fails_on_its_record_is_undone() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    let faults = Faults::none();
    let store = Store::open_with(&root, opts(&faults)).unwrap();
    store.create(def("s", 1024, false)).unwrap();
    let s = store.get("s").unwrap();
    // 16-byte segment header + 3 records of 24 + 200 bytes: 688 of 1024 bytes used.
    for _ in 0..3 {
        s.append(&[7u8; 200]).unwrap();
    }
    // The next 400-byte record needs a new segment: its 16-byte header fits, the record not.
    faults.set_write_budget(Some(16));
    let e = s.append(&[8u8; 400]).unwrap_err();
    assert!(e.to_string().contains("No space left"), "{e}");
    faults.set_write_budget(None);
    assert_eq!(segments_of(&root, "s").len(), 1, "the new segment is gone");
    // A record that fits the first segment goes there.
    assert_eq!(s.append(&[9u8; 100]).unwrap(), 3);
    assert_eq!(s.append(&[10u8; 400]).unwrap(), 4);
    let before = read_all(&store, "s");
    assert_eq!(before.len(), 5);
    drop(s);
    drop(store);
    let store = Store::open(&root).unwrap();
    assert_eq!(read_all(&store, "s"), before);
}

/// A batch is written in runs (one vectored write each) split at segment rolls: the same
/// records as one append each, readable at once and after a restart; a disk that fills in the
/// middle of a run fails that run whole (no part of it stays in the file) and the batch goes on.
#[test]
fn batches_write_runs_across_rolls_and_fail_whole_runs_on_a_full_disk() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    let faults = Faults::none();
    let store = Store::open_with(&root, opts(&faults)).unwrap();
    store.create(def("s", 4096, false)).unwrap();
    let s = store.get("s").unwrap();
    let payloads: Vec<Vec<u8>> = (0..300).map(payload).collect();
    let results = s.settle(s.write_batch(&payloads));
    let seqs: Vec<i64> = results.into_iter().map(Result::unwrap).collect();
    assert_eq!(seqs, (0..300).collect::<Vec<i64>>());
    assert!(
        segments_of(&root, "s").len() > 5,
        "the batch rolled segments"
    );
    let got = read_all(&store, "s");
    assert_eq!(got.len(), 300);
    for (m, p) in got.iter().zip(&payloads) {
        assert_eq!(&m.payload, p);
    }

    // Room for 2.5 records of the next run: the run fails whole; space back, the rest of the
    // batch is written after the records already there.
    let len_of = |root: &Path| {
        let last = segments_of(root, "s").pop().unwrap();
        fs::metadata(last).unwrap().len()
    };
    let len_before = len_of(&root);
    let size = |i: usize| 24 + payload(i).len() as u64;
    faults.set_write_budget(Some(size(1000) + size(1001) + size(1002) / 2));
    let batch: Vec<Vec<u8>> = (1000..1005).map(payload).collect();
    let results = s.settle(s.write_batch(&batch));
    assert!(results.iter().all(|r| r
        .as_ref()
        .is_err_and(|e| e.to_string().contains("No space left"))));
    faults.set_write_budget(None);
    assert_eq!(len_of(&root), len_before, "no part of the failed run stays");
    let results = s.settle(s.write_batch(&batch));
    assert_eq!(
        results.into_iter().map(Result::unwrap).collect::<Vec<_>>(),
        (300..305).collect::<Vec<i64>>()
    );
    assert!(len_of(&root) > len_before);
    let before = read_all(&store, "s");
    assert_eq!(before.len(), 305);
    assert_eq!(before[300].payload, batch[0]);
    drop(s);
    drop(store);
    let store = Store::open(&root).unwrap();
    assert_eq!(read_all(&store, "s"), before, "the files match the log");
}

#[test]
fn failed_segment_removals_are_retried() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    let faults = Faults::none();
    let store = Store::open_with(&root, opts(&faults)).unwrap();
    let mut d = def("s", 1024, false);
    d.max_size = Some(4096);
    d.strategy_on_full = Some(StrategyOnFull::OverwriteOldestData);
    store.create(d).unwrap();
    let s = store.get("s").unwrap();
    faults.fail_next_removals(2);
    for i in 0..60 {
        s.append(&payload(i)).unwrap();
    }
    assert_eq!(
        store.pending_removals(),
        2,
        "two evictions failed and are remembered"
    );
    let on_disk = segments(&root).len();
    store.expire_all(0);
    assert_eq!(store.pending_removals(), 0);
    assert_eq!(segments(&root).len(), on_disk - 2, "the retry removed them");
    // Deleting a stream whose folder cannot be removed: retried too.
    faults.fail_next_removals(1);
    store.delete("s").unwrap();
    assert_eq!(store.pending_removals(), 1);
    store.expire_all(0);
    assert_eq!(store.pending_removals(), 0);
    assert_eq!(fs::read_dir(&root).unwrap().count(), 0);
}

#[test]
fn concurrent_flush_on_write_appends_share_fsyncs() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(tmp.path()).unwrap());
    store.create(def("s", 1 << 20, true)).unwrap();
    let s = store.get("s").unwrap();
    std::thread::scope(|scope| {
        for t in 0..32 {
            let s = &s;
            scope.spawn(move || {
                for i in 0..25 {
                    s.append(format!("{t}-{i}").as_bytes()).unwrap();
                }
            });
        }
    });
    assert_eq!(read_all(&store, "s").len(), 800);
    assert!(
        s.fsync_count() < 800,
        "800 acknowledged appends took {} fsyncs",
        s.fsync_count()
    );
}

#[test]
fn shutdown_writes_a_tail_checkpoint_that_start_up_uses() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    let ps = filled(&root, 30, 1 << 20);
    {
        let store = Store::open(&root).unwrap();
        store.sync_all();
    }
    let seg = segments(&root).pop().unwrap();
    let ckpt = seg.parent().unwrap().join("tail.ckpt");
    assert!(ckpt.exists());
    // Damage a record before the checkpoint: start-up does not scan it (so does not cut the
    // segment there); the read finds it by its CRC and skips only it.
    let mut b = fs::read(&seg).unwrap();
    b[16 + 30] ^= 1;
    fs::write(&seg, b).unwrap();
    let store = Store::open(&root).unwrap();
    let got = read_all(&store, "s");
    assert_eq!(
        got.len(),
        ps.len() - 1,
        "durable records after the damage are kept"
    );
    assert_eq!(
        store.get("s").unwrap().append(b"x").unwrap(),
        ps.len() as i64
    );
}

#[test]
fn dropped_indexes_are_rebuilt_on_the_next_read() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    let ps = filled(&root, 300, 1024);
    assert!(
        segments(&root).len() > 20,
        "more sealed segments than indexes kept"
    );
    let store = Store::open(&root).unwrap();
    for _ in 0..2 {
        let got = read_all(&store, "s");
        assert_eq!(got.len(), ps.len());
        for m in &got {
            assert_eq!(m.payload, ps[m.seq as usize]);
        }
    }
    let s = store.get("s").unwrap();
    for start in [0u64, 7, 150, 299] {
        match s.try_read(start, 1, 1, u64::MAX, u64::MAX).unwrap() {
            ReadOutcome::Messages(m) => assert_eq!(m[0].payload, ps[start as usize]),
            ReadOutcome::NotEnough => panic!("message {start} is there"),
        }
    }
}

#[test]
fn flush_on_write_files_are_allocated_ahead_and_end_with_their_records_when_sealed_or_stopped() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    let segment = 64 * 1024;
    let len = |p: &Path| fs::metadata(p).unwrap().len();
    // Length of a segment file holding the records of `ps`.
    let bytes = |ps: &[Vec<u8>]| 16 + ps.iter().map(|p| 24 + p.len() as u64).sum::<u64>();
    let mut ps = Vec::new();
    {
        let store = Store::open(&root).unwrap();
        store.create(def("s", segment, true)).unwrap();
        let s = store.get("s").unwrap();
        for i in 0..10 {
            ps.push(payload(i));
            s.append(&ps[i]).unwrap();
        }
        let seg = segments(&root).pop().unwrap();
        assert_eq!(len(&seg), segment as u64, "allocated one step ahead");
        // Dropped without a shutdown, as a kill -9 leaves it.
    }
    let store = Store::open(&root).unwrap();
    let got = read_all(&store, "s");
    assert_eq!(got.len(), 10, "the zeros after the records are not damage");
    for (m, p) in got.iter().zip(&ps) {
        assert_eq!(&m.payload[..], &p[..]);
    }
    assert_eq!(len(&segments(&root)[0]), segment as u64, "nothing was cut");
    let s = store.get("s").unwrap();
    while segments(&root).len() < 3 {
        let i = ps.len();
        ps.push(payload(i));
        assert_eq!(s.append(&ps[i]).unwrap(), i as i64);
    }
    let segs = segments(&root);
    let second = base_of(&segs[1]);
    let third = base_of(&segs[2]);
    assert_eq!(
        len(&segs[0]),
        bytes(&ps[..second]),
        "sealed: ends with its records"
    );
    assert_eq!(len(&segs[1]), bytes(&ps[second..third]));
    assert_eq!(len(&segs[2]), segment as u64, "active: allocated ahead");
    store.sync_all();
    drop(store);
    assert_eq!(
        len(&segs[2]),
        bytes(&ps[third..]),
        "a clean stop cuts the allocated space"
    );
    let store = Store::open(&root).unwrap();
    let got = read_all(&store, "s");
    assert_eq!(got.len(), ps.len());
    assert_eq!(
        store.get("s").unwrap().append(b"x").unwrap(),
        ps.len() as i64
    );
    assert_eq!(len(&segs[2]), segment as u64, "allocated ahead again");
}
