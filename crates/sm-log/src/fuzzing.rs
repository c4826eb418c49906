//! Entry points shared by the fuzz targets in `fuzz/` and the corpus replay test, so both
//! drive exactly the functions the runtime calls at start-up and on lazy reads.

use crate::{
    decode_records, index_segment, scan_segment, scan_segment_tail, Full, LogSettings,
    MemorySegments, RecoveryAction, SealedFile, StreamLog, TailCheckpoint,
};

fn settings() -> LogSettings {
    LogSettings {
        max_size: u64::MAX / 4,
        segment_size: 300,
        full: Full::Overwrite,
        ttl_millis: None,
    }
}

/// Arbitrary segment bytes in, a consistent log out.
///
/// The first byte picks a mode; the rest is either raw segment files (`0`: each file is a
/// one-byte length class, the base, then bytes) or a valid log built from the input and then
/// damaged by it (`1`: truncations, appended garbage and bit flips). Both modes recover the
/// files fully and lazily, index every segment, and check that:
/// * recovery never panics, and its repairs make a second recovery a no-op;
/// * every record a read plan serves decodes (CRC and sequence number) from the bytes;
/// * with damage only to the tail of the last segment (mode 1), what is served is a prefix of
///   what was appended, byte for byte, and the next sequence number follows it.
pub fn recovery(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mem = if mode & 1 == 0 {
        raw_files(rest)
    } else {
        let (mem, appended, tail_only) = damaged_log(rest);
        check(&mem, Some((&appended, tail_only)));
        return;
    };
    check(&mem, None);
}

fn raw_files(mut data: &[u8]) -> MemorySegments {
    let mut mem = MemorySegments::default();
    while data.len() >= 2 {
        let len = usize::from(data[0]) * 4;
        let base = u64::from(data[1]);
        data = &data[2..];
        let take = len.min(data.len());
        // Half the files get a valid header so the scans reach the records.
        let mut bytes = Vec::new();
        if base % 2 == 0 {
            bytes.extend_from_slice(&crate::segment_header(base));
        }
        bytes.extend_from_slice(&data[..take]);
        mem.insert(base, bytes);
        data = &data[take..];
    }
    mem
}

type Appended = Vec<(u64, Vec<u8>, i64)>;

/// A log of appends sized by the input, then damaged by it. Returns the files, what was
/// appended, and whether only the last segment's tail was damaged.
fn damaged_log(data: &[u8]) -> (MemorySegments, Appended, bool) {
    let mut log = StreamLog::new(settings(), 0);
    let mut mem = MemorySegments::default();
    let mut appended = Vec::new();
    let (appends, damage) = data.split_at(data.len().min(24));
    for (i, &b) in appends.iter().enumerate() {
        let len = usize::from(b % 97) + 1;
        let payload: Vec<u8> = (0..len).map(|k| (k as u8) ^ b).collect();
        let plan = log
            .plan_append(len as u64, i as i64)
            .expect("no limit reached");
        mem.execute_append(&plan, &payload);
        log.apply_append(&plan);
        appended.push((plan.seq, payload, i as i64));
    }
    let mut tail_only = true;
    let bases: Vec<u64> = mem.segments().map(|(b, _)| b).collect();
    for op in damage.chunks(3) {
        let [kind, a, b] = [op[0], *op.get(1).unwrap_or(&0), *op.get(2).unwrap_or(&0)];
        let Some(&last) = bases.last() else { break };
        match kind % 4 {
            0 => {
                // Tear the last segment.
                let len = mem.segment(last).map_or(0, <[u8]>::len);
                mem.truncate(last, len.saturating_sub(usize::from(a)));
            }
            1 => {
                // Garbage after the last record.
                let mut bytes = mem.segment(last).unwrap_or_default().to_vec();
                bytes.extend(std::iter::repeat_n(b, usize::from(a % 64)));
                mem.insert(last, bytes);
            }
            2 => {
                // A bit flip anywhere.
                let base = bases[usize::from(a) % bases.len()];
                let len = mem.segment(base).map_or(0, <[u8]>::len);
                if len > 0 {
                    mem.flip(base, (usize::from(b) * 7 + usize::from(a)) % len, b % 8);
                    tail_only = false;
                }
            }
            _ => {
                // A sealed file cut short.
                let base = bases[usize::from(a) % bases.len()];
                if base != last {
                    mem.truncate(base, usize::from(b));
                    tail_only = false;
                }
            }
        }
    }
    (mem, appended, tail_only)
}

/// Recovers `mem` fully and lazily and checks the invariants.
fn check(mem: &MemorySegments, appended: Option<(&Appended, bool)>) {
    let scans = mem
        .segments()
        .map(|(b, bytes)| scan_segment(b, bytes))
        .collect();
    let (full, actions) = StreamLog::recover(settings(), scans);
    let mut repaired = mem.clone();
    repaired.repair(&actions);
    served(&full, &repaired, appended, false);
    let scans = repaired
        .segments()
        .map(|(b, bytes)| scan_segment(b, bytes))
        .collect();
    let (again, actions) = StreamLog::recover(settings(), scans);
    assert!(
        actions.iter().all(|a| matches!(
            a,
            RecoveryAction::Ignore { .. } | RecoveryAction::SealedDamage { .. }
        )),
        "a repaired store needs no more repairs: {actions:?}"
    );
    assert_eq!(again.next_seq(), full.next_seq());

    // Lazy: only the last file is scanned (also from a checkpoint of the first recovery).
    let files: Vec<(u64, Vec<u8>)> = mem.segments().map(|(b, v)| (b, v.to_vec())).collect();
    let Some((last_base, last_bytes)) = files.last().cloned() else {
        return;
    };
    let sealed: Vec<SealedFile> = files[..files.len() - 1]
        .iter()
        .map(|(b, v)| SealedFile {
            base: *b,
            len: v.len() as u64,
        })
        .collect();
    let mut last = scan_segment(last_base, &last_bytes);
    if let Some(ck) = full.tail_checkpoint() {
        let enc = ck.encode();
        assert_eq!(TailCheckpoint::decode(&enc), Some(ck));
        if let Some(bytes) = repaired.segment(ck.segment) {
            let tail = bytes.get(ck.last_offset as usize..).unwrap_or_default();
            let head = bytes.get(..16).unwrap_or_default();
            let t = scan_segment_tail(&ck, head, tail).expect("a fresh checkpoint matches");
            assert_eq!(t.valid_len, ck.len);
            if ck.segment == last_base {
                last = t;
            }
        }
    }
    let (mut lazy, actions) = StreamLog::recover_lazy(settings(), sealed, Some(last));
    let mut repaired = mem.clone();
    repaired.repair(&actions);
    let bases: Vec<u64> = lazy.segment_bases().collect();
    for base in bases {
        let req = lazy.index_request(base).expect("segment exists");
        let bytes = repaired.segment(base).unwrap_or_default();
        let bytes = &bytes[..(req.len as usize).min(bytes.len())];
        let ix = index_segment(base, bytes, req.count);
        assert_eq!(ix.offsets.len() as u64, req.count);
        let _ = lazy.apply_index(ix);
        assert!(lazy.is_indexed(base));
    }
    served(&lazy, &repaired, appended, true);
    // Dropping indexes (memory bound) and rebuilding them changes nothing that is served.
    let before = lazy.plan_read(0, u64::MAX, u64::MAX);
    let bases: Vec<u64> = lazy.segment_bases().collect();
    for &base in bases.iter().step_by(2) {
        lazy.drop_index(base);
    }
    let mut plan = lazy.plan_read(0, u64::MAX, u64::MAX);
    while let Some(base) = plan.need_index {
        let req = lazy.index_request(base).expect("segment exists");
        let bytes = repaired.segment(base).unwrap_or_default();
        let bytes = &bytes[..(req.len as usize).min(bytes.len())];
        assert_eq!(
            lazy.apply_index(index_segment(base, bytes, req.count)),
            None
        );
        plan = lazy.plan_read(0, u64::MAX, u64::MAX);
    }
    assert_eq!(plan, before);
}

/// Everything a read serves decodes; with tail-only damage it is a prefix of `appended`.
fn served(log: &StreamLog, mem: &MemorySegments, appended: Option<(&Appended, bool)>, lazy: bool) {
    let plan = log.plan_read(0, u64::MAX, u64::MAX);
    let mut seen = Vec::new();
    for c in &plan.chunks {
        let bytes = mem.read(c).expect("planned bytes exist");
        let recs = decode_records(bytes, c.first_seq, c.count).expect("served records are good");
        seen.extend(
            recs.iter()
                .map(|r| (r.seq, r.payload.to_vec(), r.ingest_time)),
        );
    }
    if plan.need_index.is_some() {
        return;
    }
    if lazy {
        // Lazily indexed, every sequence number is either served or counted damaged.
        assert_eq!(plan.count + plan.skipped, log.next_seq() - log.oldest_seq());
        assert_eq!(plan.skipped, log.corrupt_records());
    }
    if let Some((appended, true)) = appended {
        assert_eq!(plan.skipped, 0, "tail damage never marks records damaged");
        assert_eq!(
            seen.as_slice(),
            &appended[..seen.len()],
            "a prefix of the appends"
        );
        assert_eq!(log.next_seq(), seen.len() as u64);
    } else if let Some((appended, false)) = appended {
        for s in &seen {
            if let Some(a) = appended.get(s.0 as usize) {
                assert_eq!(s, a, "a served record is the one appended");
            }
        }
    }
}
