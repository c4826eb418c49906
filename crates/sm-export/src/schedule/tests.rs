//! Scheduler tests with injected time.

use super::*;
use proptest::prelude::*;

const T0: i64 = 1_700_000_000_000;

fn spec(batch_size: u64, interval_ms: Option<u64>, priority: u8) -> ExportSpec {
    ExportSpec {
        batch_size,
        interval_ms,
        priority,
        disabled: false,
    }
}

fn unlimited(n: usize) -> Limits {
    Limits {
        max_in_flight: n,
        bandwidth_bytes_per_sec: None,
    }
}

#[test]
fn unset_interval_sends_at_once() {
    let mut s = Scheduler::new(unlimited(5), T0);
    s.upsert(1, spec(500, None, UNSET_PRIORITY), 0);
    assert_eq!(s.poll_send(T0), None);
    s.handle_stream(1, 1, |_| None, T0);
    let o = s.poll_send(T0).unwrap();
    assert_eq!(
        (o.key, o.from_seq, o.max_messages, o.retry),
        (1, 0, 500, false)
    );
    // In flight: not ordered twice.
    s.handle_stream(1, 2, |_| None, T0);
    assert_eq!(s.poll_send(T0), None);
    s.handle_done(
        1,
        Done::Progress {
            cursor: 1,
            bytes: 10,
        },
        T0,
    );
    assert_eq!(s.poll_send(T0).unwrap().from_seq, 1);
}

#[test]
fn interval_waits_for_size_or_age() {
    let mut s = Scheduler::new(unlimited(5), T0);
    s.upsert(1, spec(10, Some(60_000), 1), 0);
    s.handle_stream(1, 3, |_| Some(T0 - 1_000), T0);
    assert_eq!(s.poll_send(T0), None);
    assert_eq!(s.poll_timeout(T0), Some(T0 - 1_000 + 60_000));
    assert_eq!(s.poll_send(T0 + 58_999), None);
    assert!(s.poll_send(T0 + 59_000).is_some());
    s.handle_done(
        1,
        Done::Progress {
            cursor: 3,
            bytes: 3,
        },
        T0 + 59_000,
    );
    // A full batch goes at once, interval or not.
    s.handle_stream(1, 13, |_| None, T0 + 59_001);
    assert!(s.poll_send(T0 + 59_001).is_some());
    s.handle_done(
        1,
        Done::Progress {
            cursor: 13,
            bytes: 3,
        },
        T0 + 59_001,
    );
    // After progress with messages left, the scheduler asks for the age of the one at the
    // cursor, and only then.
    let mut asked = vec![];
    s.handle_stream(
        1,
        15,
        |c| {
            asked.push(c);
            Some(T0)
        },
        T0 + 60_000,
    );
    assert_eq!(asked, vec![13]);
    assert!(s.poll_send(T0 + 60_000).is_some(), "13 is 60 s old");
    s.handle_stream(
        1,
        16,
        |c| {
            asked.push(c);
            None
        },
        T0 + 60_000,
    );
    assert_eq!(asked, vec![13], "not asked while the age is known");
}

#[test]
fn priority_first_then_round_robin() {
    let mut s = Scheduler::new(unlimited(1), T0);
    s.upsert(1, spec(1, None, UNSET_PRIORITY), 0);
    s.upsert(2, spec(1, None, 5), 0);
    s.upsert(3, spec(1, None, 1), 0);
    s.upsert(4, spec(1, None, 5), 0);
    for k in 1..=4 {
        s.handle_stream(k, 100, |_| None, T0);
    }
    let mut order = vec![];
    for _ in 0..3 {
        let o = s.poll_send(T0).unwrap();
        order.push(o.key);
        s.handle_done(
            o.key,
            Done::Progress {
                cursor: o.from_seq + 1,
                bytes: 1,
            },
            T0,
        );
    }
    // Priority 1 always wins while it has work.
    assert_eq!(order, vec![3, 3, 3]);
    s.upsert(3, spec(1, None, 1), 0);
    s.handle_stream(3, 3, |_| None, T0); // caught up
    let mut order = vec![];
    for _ in 0..4 {
        let o = s.poll_send(T0).unwrap();
        order.push(o.key);
        s.handle_done(
            o.key,
            Done::Progress {
                cursor: o.from_seq + 1,
                bytes: 1,
            },
            T0,
        );
    }
    // Equal priorities alternate; unset priority comes last.
    assert_eq!(order, vec![2, 4, 2, 4]);
}

#[test]
fn lower_priority_gets_free_slots() {
    let mut s = Scheduler::new(unlimited(2), T0);
    s.upsert(1, spec(1, None, 1), 0);
    s.upsert(2, spec(1, None, 9), 0);
    s.handle_stream(1, 100, |_| None, T0);
    s.handle_stream(2, 100, |_| None, T0);
    let a = s.poll_send(T0).unwrap();
    let b = s.poll_send(T0).unwrap();
    assert_eq!((a.key, b.key), (1, 2));
    assert_eq!(s.poll_send(T0), None, "concurrency bound");
}

#[test]
fn disabled_pauses_and_retry_waits() {
    let mut s = Scheduler::new(unlimited(5), T0);
    s.upsert(
        1,
        ExportSpec {
            disabled: true,
            ..spec(1, None, 1)
        },
        0,
    );
    s.handle_stream(1, 5, |_| None, T0);
    assert_eq!(s.poll_send(T0), None);
    s.upsert(1, spec(1, None, 1), 0);
    let o = s.poll_send(T0).unwrap();
    s.handle_done(
        1,
        Done::Retry {
            cursor: 0,
            bytes: 0,
            delay_ms: 2_000,
        },
        T0,
    );
    assert_eq!(s.poll_send(T0 + 1_999), None);
    assert_eq!(s.poll_timeout(T0), Some(T0 + 2_000));
    let r = s.poll_send(T0 + 2_000).unwrap();
    assert!(r.retry);
    assert_eq!(r.from_seq, o.from_seq);
}

#[test]
fn removed_export_releases_its_slot() {
    let mut s = Scheduler::new(unlimited(1), T0);
    s.upsert(1, spec(1, None, 1), 0);
    s.upsert(2, spec(1, None, 1), 0);
    s.handle_stream(1, 1, |_| None, T0);
    s.handle_stream(2, 1, |_| None, T0);
    assert_eq!(s.poll_send(T0).unwrap().key, 1);
    s.remove(1);
    s.handle_done(
        1,
        Done::Progress {
            cursor: 1,
            bytes: 1,
        },
        T0,
    );
    assert_eq!(s.poll_send(T0).unwrap().key, 2);
}

/// Runs a backlogged export for a simulated minute at the cap and returns bytes/s achieved.
fn simulated_rate(rate: u64, batch_bytes: u64, send_ms: i64) -> f64 {
    let mut s = Scheduler::new(
        Limits {
            max_in_flight: 5,
            bandwidth_bytes_per_sec: Some(rate),
        },
        T0,
    );
    for k in 0..3 {
        s.upsert(k, spec(10, None, 1 + k as u8), 0);
        s.handle_stream(k, u64::MAX / 2, |_| None, T0);
    }
    let end = T0 + 60_000;
    let mut now = T0;
    let mut sent = 0u64;
    let mut in_flight: Vec<(i64, SendOrder)> = vec![];
    while now < end {
        while let Some(o) = s.poll_send(now) {
            in_flight.push((now + send_ms, o));
        }
        in_flight.sort_by_key(|(t, _)| *t);
        let next_done = in_flight.first().map(|(t, _)| *t);
        let next = [next_done, s.poll_timeout(now)]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(end);
        now = next.max(now + 1);
        while in_flight.first().is_some_and(|(t, _)| *t <= now) {
            let (_, o) = in_flight.remove(0);
            if now <= end {
                sent += batch_bytes;
            }
            s.handle_done(
                o.key,
                Done::Progress {
                    cursor: o.from_seq + 10,
                    bytes: batch_bytes,
                },
                now,
            );
        }
    }
    sent as f64 / 60.0
}

#[test]
fn bandwidth_average_within_five_percent_over_a_minute() {
    for (rate, batch, send_ms) in [
        (125_000u64, 5_000u64, 5i64),
        (12_500, 50_000, 20),
        (1_000_000, 64_000, 1),
    ] {
        let got = simulated_rate(rate, batch, send_ms);
        let err = (got - rate as f64).abs() / rate as f64;
        assert!(
            err <= 0.05,
            "rate {rate} batch {batch}: got {got:.0} B/s ({:.1}% off)",
            err * 100.0
        );
    }
}

proptest! {
    /// Whatever the events, the in-flight bound holds, each export has at most one batch in
    /// flight, orders start at the cursor, and nothing disabled or caught up is ordered.
    #[test]
    fn invariants_hold(ops in prop::collection::vec((0u64..4, 0u8..6, 0u64..50, 0i64..100_000), 1..300)) {
        let mut s = Scheduler::new(unlimited(2), T0);
        let mut now = T0;
        let mut flying: BTreeMap<ExportKey, SendOrder> = BTreeMap::new();
        let mut next = [0u64; 4];
        for (k, op, n, dt) in ops {
            now += dt % 1000;
            match op {
                0 => s.upsert(k, spec(1 + n % 5, (n % 2 == 0).then_some(60_000), 1 + (n % 11) as u8), next[k as usize].min(n)),
                1 => { next[k as usize] += n; s.handle_stream(k, next[k as usize], |_| None, now); }
                2 => if let Some(o) = flying.remove(&k) {
                    let c = (o.from_seq + n % (o.max_messages + 1)).min(next[k as usize]);
                    s.handle_done(k, Done::Progress { cursor: c, bytes: n }, now);
                },
                3 => if let Some(o) = flying.remove(&k) {
                    s.handle_done(k, Done::Retry { cursor: o.from_seq, bytes: n, delay_ms: dt as u64 }, now);
                },
                4 => { s.remove(k); flying.remove(&k); }
                _ => {}
            }
            while let Some(o) = s.poll_send(now) {
                prop_assert!(!flying.contains_key(&o.key), "one batch in flight per export");
                prop_assert_eq!(Some(o.from_seq), s.cursor(o.key));
                prop_assert!(o.from_seq < next[o.key as usize]);
                flying.insert(o.key, o);
                prop_assert!(flying.len() <= 2);
            }
            if s.poll_timeout(now) == Some(now) && flying.len() < 2 {
                // An export waits for the age of its pending messages: told, it waits on.
                for k in 0..4 {
                    s.handle_stream(k, next[k as usize], |_| None, now);
                }
            }
            if let Some(t) = s.poll_timeout(now) {
                prop_assert!(t > now || flying.len() == 2);
            }
        }
    }
}
