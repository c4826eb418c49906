//! Power loss and media damage, simulated on the bytes of a log, against the crash-consistency
//! contract (ARCHITECTURE.md):
//!
//! * the last segment cut at **every byte offset** of its last records, or with garbage after
//!   them: recovery keeps exactly the records before the cut, byte for byte, with no gap, and
//!   the next append continues after the last good one;
//! * a cut never goes below a verified tail checkpoint (durable data is never truncated);
//! * **every bit** of a sealed segment flipped in turn: the damaged record is found by its
//!   CRC when the segment is indexed, skipped and counted, and every other record is served.

use proptest::prelude::*;
use sm_log::{
    decode_records, index_segment, scan_segment, scan_segment_tail, Full, LogSettings,
    MemorySegments, RecoveryAction, SealedFile, StreamLog, TailCheckpoint,
};

type Appended = Vec<(u64, Vec<u8>, i64)>;

fn settings(segment_size: u64) -> LogSettings {
    LogSettings {
        max_size: 1 << 30,
        segment_size,
        full: Full::Reject,
        ttl_millis: None,
    }
}

fn build(lens: &[usize], segment_size: u64) -> (StreamLog, MemorySegments, Appended) {
    let mut log = StreamLog::new(settings(segment_size), 0);
    let mut mem = MemorySegments::default();
    let mut appended = Vec::new();
    for (i, &len) in lens.iter().enumerate() {
        let payload: Vec<u8> = (0..len).map(|k| (k * 31 + i) as u8).collect();
        let plan = log.plan_append(len as u64, 1_000 + i as i64).unwrap();
        mem.execute_append(&plan, &payload);
        log.apply_append(&plan);
        appended.push((plan.seq, payload, 1_000 + i as i64));
    }
    (log, mem, appended)
}

/// Lazy recovery as the runtime does it: sealed files by length, the last one scanned (from
/// the checkpoint when it matches).
fn recover_lazy(
    mem: &MemorySegments,
    ckpt: Option<&TailCheckpoint>,
    segment_size: u64,
) -> (StreamLog, Vec<RecoveryAction>) {
    let files: Vec<(u64, Vec<u8>)> = mem.segments().map(|(b, v)| (b, v.to_vec())).collect();
    let Some((base, bytes)) = files.last() else {
        return StreamLog::recover_lazy(settings(segment_size), vec![], None);
    };
    let sealed = files[..files.len() - 1]
        .iter()
        .map(|(b, v)| SealedFile {
            base: *b,
            len: v.len() as u64,
        })
        .collect();
    let tail = ckpt.filter(|c| c.segment == *base).and_then(|c| {
        scan_segment_tail(
            c,
            bytes.get(..16).unwrap_or_default(),
            bytes.get(c.last_offset as usize..).unwrap_or_default(),
        )
    });
    let last = tail.unwrap_or_else(|| scan_segment(*base, bytes));
    StreamLog::recover_lazy(settings(segment_size), sealed, Some(last))
}

/// Everything readable, indexing lazily like the runtime; returns the records and the number
/// of damaged ones skipped.
fn read_all(log: &mut StreamLog, mem: &MemorySegments) -> (Appended, u64) {
    loop {
        let plan = log.plan_read(0, u64::MAX, u64::MAX);
        if let Some(base) = plan.need_index {
            let req = log.index_request(base).unwrap();
            let bytes = mem.segment(base).unwrap_or_default();
            let bytes = &bytes[..(req.len as usize).min(bytes.len())];
            let _ = log.apply_index(index_segment(base, bytes, req.count));
            continue;
        }
        let mut out = Vec::new();
        for c in &plan.chunks {
            for r in decode_records(mem.read(c).unwrap(), c.first_seq, c.count).unwrap() {
                out.push((r.seq, r.payload.to_vec(), r.ingest_time));
            }
        }
        return (out, plan.skipped);
    }
}

/// The contract after a torn tail: a prefix, no gap, numbering continues.
fn assert_prefix(log: &mut StreamLog, mem: &MemorySegments, appended: &Appended) -> usize {
    let (seen, skipped) = read_all(log, mem);
    assert_eq!(skipped, 0);
    assert_eq!(seen.as_slice(), &appended[..seen.len()]);
    assert_eq!(log.next_seq(), seen.len() as u64);
    seen.len()
}

#[test]
fn every_cut_of_the_last_records_recovers_a_prefix() {
    let lens = [5, 17, 40, 3, 90, 1, 64, 33, 12, 8, 70, 2];
    let (log, mem, appended) = build(&lens, 256);
    let last = log.active_segment().unwrap();
    let full_len = mem.segment(last).unwrap().len();
    assert!(mem.segments().count() >= 3, "several segments");
    for cut in 0..=full_len {
        let mut m = mem.clone();
        m.truncate(last, cut);
        for lazy in [false, true] {
            let (mut back, actions) = if lazy {
                recover_lazy(&m, None, 256)
            } else {
                let scans = m.segments().map(|(b, v)| scan_segment(b, v)).collect();
                StreamLog::recover(settings(256), scans)
            };
            let mut r = m.clone();
            r.repair(&actions);
            let kept = assert_prefix(&mut back, &r, &appended);
            // Every record wholly before the cut survives.
            let whole = appended
                .iter()
                .take_while(|(seq, p, _)| {
                    let _ = p;
                    *seq < last
                })
                .count();
            assert!(kept >= whole, "cut {cut}: lost sealed records");
            // Appending continues after the last good record, and survives another recovery.
            let plan = back.plan_append(4, 9).unwrap();
            assert_eq!(plan.seq, kept as u64);
            r.execute_append(&plan, b"next");
            back.apply_append(&plan);
            let (mut again, actions) = recover_lazy(&r, None, 256);
            assert!(actions.is_empty(), "cut {cut}: {actions:?}");
            let mut expect = appended[..kept].to_vec();
            expect.push((kept as u64, b"next".to_vec(), 9));
            assert_eq!(read_all(&mut again, &r).0, expect);
        }
    }
}

#[test]
fn garbage_after_the_last_record_is_truncated_and_zeros_are_kept() {
    let (log, mem, appended) = build(&[10, 20, 30, 40, 50, 60], 200);
    let last = log.active_segment().unwrap();
    for garbage in [
        vec![0u8; 1],
        vec![0u8; 100],
        vec![0xff; 24],
        vec![7u8; 500],
        (0..=255).collect(),
        [vec![0u8; 300], vec![1]].concat(),
    ] {
        let mut m = mem.clone();
        let mut bytes = m.segment(last).unwrap().to_vec();
        bytes.extend_from_slice(&garbage);
        m.insert(last, bytes);
        let (mut back, actions) = recover_lazy(&m, None, 200);
        if garbage.iter().all(|&b| b == 0) {
            // Zeros are space allocated ahead of the appends: kept, and not damage.
            assert!(actions.is_empty(), "{actions:?}");
        } else {
            assert!(matches!(
                actions.as_slice(),
                [RecoveryAction::Truncate { .. }]
            ));
        }
        m.repair(&actions);
        assert_eq!(assert_prefix(&mut back, &m, &appended), appended.len());
    }
}

#[test]
fn a_cut_never_goes_below_the_checkpoint() {
    let (log, mem, appended) = build(&[30; 12], 10_000);
    let ckpt = log.tail_checkpoint().unwrap();
    assert_eq!(TailCheckpoint::decode(&ckpt.encode()), Some(ckpt));
    // More appends after the checkpoint, then tear them at every offset.
    let (log2, mem2, appended2) = build(&[30; 20], 10_000);
    assert_eq!(&appended2[..12], appended.as_slice());
    let last = log2.active_segment().unwrap();
    let len = mem2.segment(last).unwrap().len();
    let _ = (log, mem);
    for cut in ckpt.len as usize..=len {
        let mut m = mem2.clone();
        m.truncate(last, cut);
        let (mut back, actions) = recover_lazy(&m, Some(&ckpt), 10_000);
        m.repair(&actions);
        assert!(!back.is_indexed(last), "only the tail was scanned");
        let kept = assert_prefix(&mut back, &m, &appended2);
        assert!(kept >= 12, "cut {cut}: checkpointed records kept");
    }
    // A checkpoint that does not match the file (a stale one) is not used.
    let mut stale = ckpt;
    stale.newest_ingest += 1;
    let bytes = mem2.segment(last).unwrap();
    assert!(
        scan_segment_tail(&stale, &bytes[..16], &bytes[stale.last_offset as usize..]).is_none()
    );
    let mut bad = ckpt.encode();
    bad[20] ^= 1;
    assert_eq!(TailCheckpoint::decode(&bad), None);
}

#[test]
fn every_bit_flip_in_a_sealed_segment_costs_at_most_its_record() {
    let lens = [9, 25, 13, 40, 7, 31, 22, 5, 18, 11];
    let (log, mem, appended) = build(&lens, 128);
    let bases: Vec<u64> = log.segment_bases().collect();
    assert!(bases.len() >= 3);
    let sealed = bases[1];
    let seg_len = mem.segment(sealed).unwrap().len();
    for bit in 0..seg_len * 8 {
        let mut m = mem.clone();
        m.flip(sealed, bit / 8, (bit % 8) as u8);
        let (mut back, actions) = recover_lazy(&m, None, 128);
        assert!(
            actions.is_empty(),
            "sealed segments are not read at start-up"
        );
        let (seen, skipped) = read_all(&mut back, &m);
        assert_eq!(back.corrupt_records(), skipped);
        assert!(skipped >= 1, "bit {bit}: the flip was noticed");
        let sealed_count = bases[2] - sealed;
        assert!(
            skipped <= sealed_count,
            "bit {bit}: damage stays in its segment"
        );
        // Everything served is what was appended, and only the flipped segment lost records.
        for s in &seen {
            assert_eq!(s, &appended[s.0 as usize]);
        }
        assert_eq!(seen.len() as u64 + skipped, appended.len() as u64);
        if bit / 8 >= 16 {
            // A flip in a record (not the header) costs only that record.
            assert_eq!(skipped, 1, "bit {bit}");
        }
        assert_eq!(back.next_seq(), appended.len() as u64);
    }
}

#[test]
fn missing_and_short_sealed_files_are_handled() {
    let (log, mem, appended) = build(&[40; 12], 128);
    let bases: Vec<u64> = log.segment_bases().collect();
    // A middle segment deleted by hand: its sequence numbers are counted damaged.
    let mut m = mem.clone();
    m.remove(bases[2]);
    let (mut back, actions) = recover_lazy(&m, None, 128);
    assert!(actions.is_empty());
    let (seen, skipped) = read_all(&mut back, &m);
    assert_eq!(skipped, bases[3] - bases[2]);
    assert_eq!(seen.len() as u64 + skipped, appended.len() as u64);
    // A zero-length sealed file is deleted at start-up.
    let mut m = mem.clone();
    m.truncate(bases[0], 0);
    let (mut back, actions) = recover_lazy(&m, None, 128);
    assert_eq!(actions, vec![RecoveryAction::Delete { segment: bases[0] }]);
    m.repair(&actions);
    assert_eq!(back.oldest_seq(), bases[1]);
    assert_eq!(read_all(&mut back, &m).0.len() as u64, 12 - bases[1]);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Random logs torn at a random point of the last segment, with random garbage after:
    /// full and lazy recovery agree and keep a prefix.
    #[test]
    fn torn_random_logs_recover_a_prefix(
        lens in prop::collection::vec(1usize..200, 1..40),
        segment_size in 100u64..1000,
        cut in 0usize..400,
        garbage in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let (log, mut mem, appended) = build(&lens, segment_size);
        let last = log.active_segment().unwrap();
        let len = mem.segment(last).unwrap().len();
        mem.truncate(last, len.saturating_sub(cut));
        let mut bytes = mem.segment(last).unwrap().to_vec();
        bytes.extend_from_slice(&garbage);
        mem.insert(last, bytes);
        let scans = mem.segments().map(|(b, v)| scan_segment(b, v)).collect();
        let (full, full_actions) = StreamLog::recover(settings(segment_size), scans);
        let (mut lazy, actions) = recover_lazy(&mem, None, segment_size);
        prop_assert_eq!(&actions, &full_actions);
        prop_assert_eq!(full.next_seq(), lazy.next_seq());
        mem.repair(&actions);
        assert_prefix(&mut lazy, &mem, &appended);
    }
}

#[test]
fn ttl_indexes_lazily_recovered_segments_only_as_far_as_it_needs() {
    let mut s = settings(128);
    s.ttl_millis = Some(5);
    // Ingest times 1000.. (one per record); segments hold a few records each.
    let (log, mem, _) = build(&[40; 12], 128);
    let bases: Vec<u64> = log.segment_bases().collect();
    let (mut lazy, _) = recover_lazy(&mem, None, 128);
    lazy.set_settings(s);
    // Before any index, TTL cannot decide and removes nothing.
    let now = 1_000 + bases[2] as i64 + 5; // records below bases[2] are past the TTL
    assert!(lazy.plan_expire(now).is_empty());
    let mut indexed = Vec::new();
    while let Some(base) = lazy.expire_needs_index(now) {
        let req = lazy.index_request(base).unwrap();
        let bytes = &mem.segment(base).unwrap()[..req.len as usize];
        assert_eq!(
            lazy.apply_index(index_segment(base, bytes, req.count)),
            None
        );
        indexed.push(base);
    }
    assert_eq!(
        indexed,
        bases[..3].to_vec(),
        "up to the first segment still alive"
    );
    let plan = lazy.plan_expire(now);
    assert_eq!(plan.evict, bases[..2].to_vec());
}
