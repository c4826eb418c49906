//! The export engine in a deterministic simulation (in the manner of quinn's `Pair`): seeded
//! destinations with random 5xx, throttling, partial failures, timeouts, answers lost after
//! the call was applied, and slow answers;
//! outages from seconds to hours; crashes of the daemon (restarted from the saved progress);
//! definition updates during sends; retention removing unsent records; several exports of
//! mixed priorities; a bandwidth cap. Time is simulated: hours of a device's life cost
//! milliseconds of CPU.
//!
//! * `random_scenarios` runs `SIM_SCENARIOS` (default 100,000) seeded scenarios from
//!   `SIM_FIRST_SEED` (default 0) and checks, for every export: every record is delivered,
//!   or skipped (refused) or evicted, and counted; records arrive in order (strictly for
//!   destinations that take a call as a whole; otherwise a record retried within its batch
//!   may land after later ones of the same batch, never after a later batch); duplicates come
//!   only from crashes and from calls applied whose answer was lost, at most one batch per
//!   export for each.
//! * `strict_priority`, `bandwidth_within_five_percent` and the flaky-link throughput tests
//!   check one property each.
//!
//! A failing seed prints its reproduction: `SIM_SEED=<seed> cargo test -p sm-export --test
//! sim -- one_seed --nocapture`.

mod dest;
mod rng;
mod world;

use std::collections::BTreeSet;

use dest::{Faults, Kind};
use sm_export::{Config, RetryPolicy};

/// The simulator reads the wall clock only to report its own duration.
#[allow(clippy::disallowed_methods)]
fn wall() -> std::time::Instant {
    std::time::Instant::now()
}
use rng::Rng;
use world::{Change, ExportSpec, Scenario, StreamSpec, World};

const KINDS: [Kind; 4] = [
    Kind::HttpJson,
    Kind::HttpRaw,
    Kind::Kinesis,
    Kind::IotAnalytics,
];

fn faults(r: &mut Rng) -> Faults {
    let rtt = match r.below(4) {
        0 => (1, 5),
        1 => (20, 80),
        2 => (200, 1_000),
        _ => (1_000, 8_000),
    };
    let p = |r: &mut Rng, hi: u64| r.below(hi + 1) as f64 / 100.0;
    Faults {
        p_5xx: p(r, 40),
        p_throttle: p(r, 20),
        p_partial: p(r, 30),
        p_timeout: p(r, 5),
        p_lost_answer: p(r, 3),
        p_refuse: if r.chance(0.3) { p(r, 10) } else { 0.0 },
        rtt_ms: rtt,
    }
}

fn max_batch(kind: Kind) -> i64 {
    match kind {
        Kind::SiteWise => 10,
        Kind::IotAnalytics => 100,
        _ => 500,
    }
}

/// A scenario drawn from `seed`.
fn scenario(seed: u64) -> Scenario {
    let mut r = Rng::new(seed);
    // Most scenarios are small (they run by the hundred thousand: about 100 actions each); one
    // in fifty is large (hundreds of records, thousands of actions).
    let large = r.chance(0.02);
    let horizon = [30_000, 600_000, 3_600_000][r.below(3) as usize];
    let mut streams = Vec::new();
    let mut sitewise = false;
    for s in 0..1 + r.below(2) as usize {
        let kinds: Vec<Kind> = if !sitewise && r.chance(0.2) {
            sitewise = true;
            vec![Kind::SiteWise]
        } else {
            let n = if large {
                1 + r.below(3)
            } else {
                1 + r.below(2)
            };
            (0..n).map(|_| KINDS[r.below(4) as usize]).collect()
        };
        let exports = kinds
            .into_iter()
            .enumerate()
            .map(|(e, kind)| ExportSpec {
                kind,
                id: format!("s{s}e{e}"),
                batch_size: 1 + r.below(20.min(max_batch(kind) as u64)) as i64,
                priority: if r.chance(0.5) {
                    Some(1 + r.below(10) as i64)
                } else {
                    None
                },
                interval_ms: if r.chance(0.2) { Some(60_000) } else { None },
                disabled: false,
                faults: if r.chance(0.3) {
                    Faults {
                        rtt_ms: (1, 20),
                        ..Faults::NONE
                    }
                } else {
                    faults(&mut r)
                },
            })
            .collect();
        let n = if large {
            10 + r.below(140)
        } else {
            2 + r.below(12)
        };
        let mut appends: Vec<i64> = (0..n).map(|_| r.range(0, horizon)).collect();
        appends.sort_unstable();
        streams.push(StreamSpec {
            name: format!("stream {s}"),
            exports,
            appends,
            pad: r.below(100) as usize,
        });
    }
    let mut changes = Vec::new();
    for _ in 0..r.below(3) {
        changes.push((r.range(0, horizon + 600_000), Change::Crash));
    }
    for _ in 0..r.below(3) {
        let stream = r.below(streams.len() as u64) as usize;
        changes.push((
            r.range(0, horizon),
            Change::Evict {
                stream,
                n: 1 + r.below(30),
            },
        ));
    }
    if r.chance(0.3) {
        let stream = r.below(streams.len() as u64) as usize;
        let export = r.below(streams[stream].exports.len() as u64) as usize;
        let at = r.range(0, horizon);
        changes.push((
            at,
            Change::Disable {
                stream,
                export,
                disabled: true,
            },
        ));
        changes.push((
            at + r.range(1_000, 1_800_000),
            Change::Disable {
                stream,
                export,
                disabled: false,
            },
        ));
    }
    for _ in 0..r.below(3) {
        let stream = r.below(streams.len() as u64) as usize;
        let export = r.below(streams[stream].exports.len() as u64) as usize;
        let kind = streams[stream].exports[export].kind;
        let batch_size = 1 + r.below(20.min(max_batch(kind) as u64)) as i64;
        let priority = if r.chance(0.5) {
            Some(1 + r.below(10) as i64)
        } else {
            None
        };
        changes.push((
            r.range(0, horizon),
            Change::Respec {
                stream,
                export,
                batch_size,
                priority,
            },
        ));
    }
    changes.sort_by_key(|(t, _)| *t);
    let outages = (0..r.below(3))
        .map(|_| {
            let start = r.range(0, horizon);
            let len = [2_000, 30_000, 600_000, 7_200_000][r.below(4) as usize];
            (start, start + len)
        })
        .collect();
    let bandwidth = if r.chance(0.2) {
        Some(2_000 + r.below(200_000))
    } else {
        None
    };
    Scenario {
        seed,
        config: Config {
            max_in_flight: 1 + r.below(5) as usize,
            bandwidth_bytes_per_sec: bandwidth,
            region: Some("us-east-1".into()),
            // A live IoT Analytics-compatible endpoint (the real one is retired).
            endpoints: sm_aws::Endpoints {
                all: None,
                per_service: vec![(sm_aws::Service::IotAnalytics, "http://iota.test".into())],
                fips: false,
            },
            ..Config::default()
        },
        streams,
        changes,
        outages,
        link_bytes_per_sec: if r.chance(0.2) { Some(125_000) } else { None },
        timeout_ms: 10_000,
    }
}

/// Runs a scenario and checks the properties; the error says what broke.
fn check(seed: u64) -> Result<(), String> {
    let sc = scenario(seed);
    let last = sc
        .changes
        .iter()
        .map(|(t, _)| *t)
        .chain(sc.outages.iter().map(|(_, b)| *b))
        .max()
        .unwrap_or(0);
    let horizon = sc
        .streams
        .iter()
        .flat_map(|s| s.appends.last().copied())
        .max()
        .unwrap_or(0);
    let mut w = World::new(sc);
    // Everything must be done within 2 hours of the last outage, crash or append (the
    // backoff is capped at 5 minutes; the slowest destination takes 8 s a call).
    if !w.run(last.max(horizon) + 2 * 3_600_000) {
        let p = w.progress();
        return Err(format!(
            "did not drain: {p:?}, next {:?}",
            (0..w.sc.streams.len())
                .map(|s| w.next(s))
                .collect::<Vec<_>>()
        ));
    }
    if std::env::var_os("SIM_COST").is_some() {
        eprintln!("seed {seed}: {} actions, {} steps", w.actions, w.steps);
    }
    let progress = w.progress();
    for (s, st) in w.sc.streams.iter().enumerate() {
        let next = w.next(s);
        for (e, spec) in st.exports.iter().enumerate() {
            let p = &progress[&(s, e)];
            let what = format!("stream {s} export {} ({:?})", spec.id, spec.kind);
            if p.cursor != next {
                return Err(format!("{what}: position {} of {next}", p.cursor));
            }
            if p.exported_messages + p.skipped_messages != next {
                return Err(format!(
                    "{what}: {} delivered + {} skipped != {next} records",
                    p.exported_messages, p.skipped_messages
                ));
            }
            let seen = w.seen.get(&(s, e)).cloned().unwrap_or_default();
            let mut firsts = Vec::new();
            let mut set = BTreeSet::new();
            for &x in &seen.applied {
                if set.insert(x) {
                    firsts.push(x);
                }
            }
            let refused: BTreeSet<u64> = seen.refused.iter().copied().collect();
            let evicted: BTreeSet<u64> = w.evicted[s].iter().copied().collect();
            for seq in 0..next {
                let invalid = spec.kind == Kind::SiteWise && seq % 17 == 16;
                if !set.contains(&seq)
                    && !refused.contains(&seq)
                    && !evicted.contains(&seq)
                    && !invalid
                {
                    return Err(format!(
                        "{what}: record {seq} was neither delivered, refused nor evicted"
                    ));
                }
            }
            let batch = w.max_batch[&(s, e)] as u64;
            let mut high = None;
            // (A record refused and skipped, then sent again after a crash, may be accepted out
            // of order: only records never refused are checked.)
            for &x in firsts.iter().filter(|x| !refused.contains(x)) {
                match high {
                    Some(h) if x < h && (spec.kind.atomic_calls() || h - x >= batch) => {
                        return Err(format!(
                            "{what}: record {x} arrived after {h} (batch size {batch}); applied: {:?}",
                            seen.applied
                        ));
                    }
                    Some(h) if x < h => {}
                    _ => high = Some(x),
                }
            }
            let dups = (seen.applied.len() - firsts.len()) as u64;
            if dups > (w.crashes + seen.lost_answers) * batch {
                return Err(format!(
                    "{what}: {dups} duplicates with {} crashes and {} lost answers of batch {batch}",
                    w.crashes, seen.lost_answers
                ));
            }
        }
    }
    Ok(())
}

fn repro(seed: u64) -> String {
    format!("reproduce: SIM_SEED={seed} cargo test -p sm-export --test sim -- one_seed --nocapture")
}

#[test]
fn random_scenarios() {
    let n: u64 = std::env::var("SIM_SCENARIOS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let first: u64 = std::env::var("SIM_FIRST_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let t = wall();
    // Seeds are dealt round-robin to the cores; the first failure (lowest seed of its thread)
    // is reported with its reproduction.
    let failures: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|k| {
                scope.spawn(move || {
                    (first + k..first + n)
                        .step_by(threads as usize)
                        .find_map(|seed| {
                            check(seed)
                                .err()
                                .map(|e| format!("seed {seed}: {e}\n{}", repro(seed)))
                        })
                })
            })
            .collect();
        workers
            .into_iter()
            .filter_map(|w| w.join().expect("a simulation thread panicked"))
            .collect()
    });
    if let Some(f) = failures.first() {
        panic!("{f}");
    }
    eprintln!(
        "{n} scenarios in {:.1} s on {threads} threads",
        t.elapsed().as_secs_f64()
    );
}

/// One seed, with its scenario printed: `SIM_SEED=<seed>`.
#[test]
fn one_seed() {
    let Some(seed) = std::env::var("SIM_SEED").ok().and_then(|v| v.parse().ok()) else {
        return;
    };
    eprintln!("{:#?}", scenario(seed));
    if let Err(e) = check(seed) {
        panic!("seed {seed}: {e}");
    }
}

fn export(
    kind: Kind,
    id: &str,
    batch_size: i64,
    priority: Option<i64>,
    faults: Faults,
) -> ExportSpec {
    ExportSpec {
        kind,
        id: id.into(),
        batch_size,
        priority,
        interval_ms: None,
        disabled: false,
        faults,
    }
}

fn aws_config(max_in_flight: usize, bandwidth: Option<u64>) -> Config {
    Config {
        max_in_flight,
        bandwidth_bytes_per_sec: bandwidth,
        retry: RetryPolicy::default(),
        region: Some("us-east-1".into()),
        endpoints: sm_aws::Endpoints {
            all: None,
            per_service: vec![(sm_aws::Service::IotAnalytics, "http://iota.test".into())],
            fips: false,
        },
        ..Config::default()
    }
}

/// With one sender, an export never reads a batch while one of higher priority has records
/// due; appends keep every export busy, and the destinations answer at once or slowly.
#[test]
fn strict_priority() {
    for seed in 0..20u64 {
        let mut r = Rng::new(seed);
        let fast = Faults {
            rtt_ms: (5, 300),
            ..Faults::NONE
        };
        let every = |r: &mut Rng, n: i64| -> Vec<i64> {
            (0..n).map(|i| i * 100 + r.range(0, 99)).collect()
        };
        let sc = Scenario {
            seed,
            config: aws_config(1, None),
            streams: vec![
                StreamSpec {
                    name: "a".into(),
                    exports: vec![
                        export(Kind::HttpJson, "a1", 5, Some(1), fast),
                        export(Kind::Kinesis, "a5", 20, Some(5), fast),
                        export(Kind::HttpRaw, "au", 3, None, fast),
                    ],
                    appends: every(&mut r, 600),
                    pad: 50,
                },
                StreamSpec {
                    name: "b".into(),
                    exports: vec![export(Kind::IotAnalytics, "b3", 10, Some(3), fast)],
                    appends: every(&mut r, 600),
                    pad: 50,
                },
            ],
            changes: vec![],
            outages: vec![],
            link_bytes_per_sec: None,
            timeout_ms: 10_000,
        };
        let mut w = World::new(sc);
        w.record_reads = true;
        assert!(w.run(3_600_000), "seed {seed}: did not drain");
        assert!(
            w.priority_violations.is_empty(),
            "seed {seed}: {:?}",
            &w.priority_violations[..w.priority_violations.len().min(5)]
        );
        // Every export did get its turn (lower priorities are not starved once higher ones
        // have nothing due).
        for e in ["a1", "a5", "au", "b3"] {
            assert!(
                w.reads
                    .iter()
                    .any(|(_, s, x)| w.sc.streams[*s].exports[*x].id == e),
                "seed {seed}: {e} never read"
            );
        }
    }
}

/// The average bandwidth cap holds within ±5% over a simulated minute: four exports of mixed
/// kinds with a large backlog, a fast network, a cap of 100 kB/s (800 kbit/s).
#[test]
fn bandwidth_within_five_percent() {
    for (seed, cap) in [(1u64, 100_000u64), (2, 12_500), (3, 400_000)] {
        let none = Faults {
            rtt_ms: (2, 10),
            ..Faults::NONE
        };
        // About two minutes' worth of records at the cap (a record is ~1 kB on the wire).
        let backlog: Vec<i64> = vec![0; (cap / 1_000 * 120 / 4) as usize + 100];
        let sc = Scenario {
            seed,
            config: aws_config(5, Some(cap)),
            streams: vec![
                StreamSpec {
                    name: "a".into(),
                    exports: vec![
                        export(Kind::HttpJson, "a1", 50, Some(1), none),
                        export(Kind::Kinesis, "a2", 100, None, none),
                    ],
                    appends: backlog.clone(),
                    pad: 900,
                },
                StreamSpec {
                    name: "b".into(),
                    exports: vec![
                        export(Kind::HttpRaw, "b1", 10, Some(2), none),
                        export(Kind::IotAnalytics, "b2", 100, Some(2), none),
                    ],
                    appends: backlog,
                    pad: 400,
                },
            ],
            changes: vec![],
            outages: vec![],
            link_bytes_per_sec: None,
            timeout_ms: 10_000,
        };
        let mut w = World::new(sc);
        w.run(90_000);
        let bytes: u64 = w
            .seen
            .values()
            .flat_map(|s| s.bytes_at.iter())
            .filter(|(t, _)| (10_000..70_000).contains(t))
            .map(|(_, b)| b)
            .sum();
        let rate = bytes as f64 / 60.0;
        let err = (rate - cap as f64) / cap as f64;
        assert!(
            err.abs() <= 0.05,
            "cap {cap} B/s: {rate:.0} B/s over the minute ({:+.1}%)",
            err * 100.0
        );
    }
}

/// Seconds to export `n` records appended at once to one export, over a link with `rtt_ms`
/// and `p_5xx` of its calls failing at random, at the default retry settings.
fn drain_time(seed: u64, kind: Kind, batch: i64, n: usize, p_5xx: f64) -> f64 {
    let faults = Faults {
        p_5xx,
        rtt_ms: (50, 50),
        ..Faults::NONE
    };
    let sc = Scenario {
        seed,
        config: aws_config(5, None),
        streams: vec![StreamSpec {
            name: "f".into(),
            exports: vec![export(kind, "f1", batch, None, faults)],
            appends: vec![0; n],
            pad: 100,
        }],
        changes: vec![],
        outages: vec![],
        link_bytes_per_sec: None,
        timeout_ms: 10_000,
    };
    let mut w = World::new(sc);
    assert!(w.run(24 * 3_600_000), "did not drain");
    (w.now - world::T0) as f64 / 1000.0
}

/// With a 50 ms round trip and 30% of calls failing at random, an export keeps at least half
/// of its fault-free throughput at the default retry settings.
#[test]
fn flaky_link_keeps_half_its_throughput() {
    for (kind, batch, n) in [
        (Kind::HttpRaw, 1, 2_000),
        (Kind::HttpJson, 100, 50_000),
        (Kind::Kinesis, 500, 100_000),
    ] {
        let clean = drain_time(0, kind, batch, n, 0.0);
        for seed in 1..=10 {
            let flaky = drain_time(seed, kind, batch, n, 0.3);
            let ratio = clean / flaky;
            eprintln!("{kind:?} batch {batch}: {clean:.1} s fault-free, {flaky:.1} s with 30% 5xx: {:.0}%", ratio * 100.0);
            assert!(
                ratio >= 0.5,
                "{kind:?} batch {batch} seed {seed}: {:.0}% of the fault-free throughput",
                ratio * 100.0
            );
        }
    }
}
