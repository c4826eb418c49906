//! Model-based property test of the log: random appends, reads, TTL expiry and crashes (a
//! torn tail of random length) against a plain list of acknowledged messages. Half the crashes
//! recover lazily (sealed segments by length, indexed on the first read), like the runtime.

use proptest::prelude::*;
use sm_log::{
    decode_records, index_segment, scan_segment, AppendError, Full, LogSettings, MemorySegments,
    RecoveryAction, ScanStop, SealedFile, StreamLog, RECORD_HEADER_LEN, SEGMENT_HEADER_LEN,
};

#[derive(Debug, Clone)]
enum Op {
    Append(usize),
    Read {
        start: u64,
        max: u64,
        max_bytes: u64,
    },
    Advance(i64),
    Crash {
        cut: usize,
        lazy: bool,
    },
    /// Drop the index of the n-th segment (memory bound); the next read rebuilds it.
    Forget(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1usize..600).prop_map(Op::Append),
        2 => (0u64..200, 1u64..50, 1u64..5000).prop_map(|(start, max, max_bytes)| Op::Read { start, max, max_bytes }),
        1 => (0i64..120_000).prop_map(Op::Advance),
        1 => (0usize..700, any::<bool>()).prop_map(|(cut, lazy)| Op::Crash { cut, lazy }),
        1 => (0usize..8).prop_map(Op::Forget),
    ]
}

fn settings() -> impl Strategy<Value = LogSettings> {
    (
        1024u64..4096,
        2048u64..16384,
        any::<bool>(),
        prop::option::of(60_000u64..200_000),
    )
        .prop_map(
            |(segment_size, max_size, overwrite, ttl_millis)| LogSettings {
                max_size,
                segment_size,
                full: if overwrite {
                    Full::Overwrite
                } else {
                    Full::Reject
                },
                ttl_millis,
            },
        )
}

/// Everything readable, checked against the model.
fn check_readable(log: &mut StreamLog, mem: &MemorySegments, model: &[(u64, Vec<u8>, i64)]) {
    let mut plan = log.plan_read(0, u64::MAX, u64::MAX);
    while let Some(base) = plan.need_index {
        let req = log.index_request(base).unwrap();
        let bytes = &mem.segment(base).unwrap()[..req.len as usize];
        assert_eq!(log.apply_index(index_segment(base, bytes, req.count)), None);
        plan = log.plan_read(0, u64::MAX, u64::MAX);
    }
    assert_eq!(plan.skipped, 0);
    let mut seen = Vec::new();
    for c in &plan.chunks {
        let bytes = mem.read(c).expect("planned chunk exists");
        for r in
            decode_records(bytes, c.first_seq, c.count).expect("no corruption without crash damage")
        {
            seen.push((r.seq, r.payload.to_vec(), r.ingest_time));
        }
    }
    assert_eq!(plan.count as usize, seen.len());
    // Readable = a contiguous suffix of the acknowledged messages ending at next_seq - 1.
    let oldest = log.oldest_seq();
    assert_eq!(seen.first().map(|s| s.0).unwrap_or(log.next_seq()), oldest);
    for w in seen.windows(2) {
        assert_eq!(w[0].0 + 1, w[1].0, "sequence numbers are contiguous");
    }
    assert_eq!(
        seen.last().map(|s| s.0 + 1).unwrap_or(oldest),
        log.next_seq()
    );
    for s in &seen {
        let m = &model[s.0 as usize];
        assert_eq!(
            s, m,
            "payload and time of {} match what was acknowledged",
            s.0
        );
    }
    assert_eq!(log.total_bytes(), mem.total_bytes());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn log_matches_model(settings in settings(), ops in prop::collection::vec(op(), 1..120)) {
        let mut log = StreamLog::new(settings, 0);
        let mut mem = MemorySegments::default();
        let mut model: Vec<(u64, Vec<u8>, i64)> = Vec::new();
        let mut now = 1_000_000i64;
        for op in ops {
            match op {
                Op::Append(len) => {
                    let payload: Vec<u8> = (0..len).map(|i| (i as u8) ^ (model.len() as u8)).collect();
                    now += 1;
                    match log.plan_append(len as u64, now) {
                        Ok(plan) => {
                            prop_assert_eq!(plan.seq, model.len() as u64);
                            mem.execute_append(&plan, &payload);
                            log.apply_append(&plan);
                            model.push((plan.seq, payload, now));
                        }
                        Err(AppendError::Full { total, needed, max_size }) => {
                            prop_assert_eq!(settings.full, Full::Reject);
                            prop_assert_eq!(total, log.total_bytes());
                            prop_assert!(total + needed > max_size);
                        }
                        Err(AppendError::TooLarge { needed, max_size }) => {
                            prop_assert!(needed > max_size);
                            prop_assert_eq!(needed, SEGMENT_HEADER_LEN + RECORD_HEADER_LEN + len as u64);
                        }
                    }
                    prop_assert!(log.total_bytes() <= settings.max_size);
                }
                Op::Read { start, max, max_bytes } => {
                    let plan = log.plan_read(start, max, max_bytes);
                    prop_assert!(plan.count <= max);
                    if let Some(c) = plan.chunks.first() {
                        prop_assert_eq!(c.first_seq, start.max(log.oldest_seq()));
                    } else {
                        prop_assert!(start.max(log.oldest_seq()) >= log.next_seq());
                    }
                    let bytes: u64 = plan.chunks.iter().map(|c| c.len).sum();
                    prop_assert!(plan.count <= 1 || bytes <= max_bytes);
                }
                Op::Advance(ms) => {
                    now += ms;
                    let plan = log.plan_expire(now);
                    mem.execute_retention(&plan);
                    log.apply_retention(&plan);
                }
                Op::Forget(n) => {
                    let bases: Vec<u64> = log.segment_bases().collect();
                    if let Some(&b) = bases.get(n) {
                        let dropped = log.drop_index(b);
                        prop_assert!(!dropped || log.active_segment() != Some(b));
                    }
                }
                Op::Crash { cut, lazy } => {
                    // Tear the tail of the last segment, then recover from the bytes alone.
                    if let Some(last) = log.active_segment() {
                        let len = mem.segment(last).unwrap().len();
                        mem.truncate(last, len.saturating_sub(cut));
                    }
                    let (back, actions) = if lazy {
                        let files: Vec<(u64, &[u8])> = mem.segments().collect();
                        let sealed = files.iter().rev().skip(1).rev()
                            .map(|(b, v)| SealedFile { base: *b, len: v.len() as u64 }).collect();
                        let last = files.last().map(|(b, v)| scan_segment(*b, v));
                        StreamLog::recover_lazy(settings, sealed, last)
                    } else {
                        let scans = mem.segments().map(|(b, bytes)| scan_segment(b, bytes)).collect();
                        StreamLog::recover(settings, scans)
                    };
                    for a in &actions {
                        match a {
                            RecoveryAction::Truncate { segment, len } => mem.truncate(*segment, *len as usize),
                            RecoveryAction::RewriteHeader { segment } => {
                                mem.truncate(*segment, 0);
                                mem.execute_retention(&sm_log::RetentionPlan { new_segment: Some(*segment), evict: vec![] });
                            }
                            other => prop_assert!(false, "unexpected action {:?}", other),
                        }
                    }
                    // A torn record whose surviving bytes are all zeros looks like space
                    // allocated ahead of the appends: recovery keeps it, and the store writes
                    // the next record where the records end, over it. This in-memory executor
                    // appends at the file's end, so it lets the next append overwrite it by
                    // dropping it here.
                    if let Some(last) = back.active_segment() {
                        let scan = scan_segment(last, mem.segment(last).unwrap());
                        if scan.stop == ScanStop::Clean && scan.file_len > scan.valid_len {
                            mem.truncate(last, scan.valid_len as usize);
                        }
                    }
                    prop_assert!(back.next_seq() <= log.next_seq());
                    model.truncate(back.next_seq() as usize);
                    log = back;
                    // Recovery is idempotent: scanning the repaired bytes changes nothing.
                    let scans = mem.segments().map(|(b, bytes)| scan_segment(b, bytes)).collect();
                    let (again, actions) = StreamLog::recover(settings, scans);
                    prop_assert!(actions.is_empty());
                    if !lazy {
                        prop_assert_eq!(&again, &log);
                    }
                    prop_assert_eq!(again.next_seq(), log.next_seq());
                }
            }
            check_readable(&mut log, &mem, &model);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// `plan_run` returns exactly the plans `plan_append` gives one at a time (each applied
    /// before the next), and stops at the first message that needs a retention action or is
    /// refused.
    #[test]
    fn run_plans_are_the_sequential_plans(
        settings in settings(),
        before in prop::collection::vec(1u64..700, 0..40),
        lens in prop::collection::vec(prop_oneof![8 => 1u64..700, 1 => 700u64..20_000], 0..40),
    ) {
        let mut log = StreamLog::new(settings, 0);
        for len in before {
            if let Ok(plan) = log.plan_append(len, 5) {
                log.apply_append(&plan);
            }
        }
        let run = log.plan_run(&lens, 9);
        prop_assert!(run.len() <= lens.len());
        for (plan, &len) in run.iter().zip(&lens) {
            let one = log.plan_append(len, 9);
            prop_assert_eq!(Ok(plan), one.as_ref());
            prop_assert!(plan.retention.is_empty());
            log.apply_append(plan);
        }
        if let Some(&next) = lens.get(run.len()) {
            if let Ok(plan) = log.plan_append(next, 9) {
                prop_assert!(!plan.retention.is_empty(), "{:?} could have joined the run", plan);
            }
        }
    }
}
