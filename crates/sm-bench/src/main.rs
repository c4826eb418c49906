//! Benchmark drivers of the stream manager, one subcommand per measurement; `cargo xtask bench`
//! builds the release binaries, runs them, computes the ratios and writes BENCHMARKS.md and its
//! plots. Every driver prints its results on stdout as
//! `ROW <key> | <label> | <value> | <unit> | <note>` lines (progress goes to stderr); `<key>`
//! is what xtask looks the figure up by.
//! It owns the measurement loops; each run is driven by `cargo xtask bench`, one process per
//! driver.
//!
//! * `fsync --dir D`: the machine's fsync rate (P3's reference), measured like fio's
//!   `--fdatasync=1` jobs: a 4 KiB write then `fdatasync`, appending to a growing file and
//!   overwriting a written one, and a 152-byte append + `fdatasync` (one small record).
//! * `noop-server --port-file F`: P1's reference, a server that speaks the real protocol and
//!   answers every request at once without storing anything (runs until killed).
//! * `pipeline --binary B --dir D --size S --conns N --persistence file|memory`: P2 and P4,
//!   pipelined appends with `sm-client` (N connections, `--window` requests in flight each,
//!   over `--streams` streams) for `--seconds` or until `--total-mib` are appended; the
//!   daemon's RSS is sampled meanwhile.
//! * `rss-idle --binary B --dir D`: P4, the resident set of a freshly started, idle daemon.
//! * `append --binary B --dir D --concurrency N`: P3, flushOnWrite appends per second, N
//!   connections with one append in flight each (the SDK's behaviour).
//! * `latency --binary B --dir D --rate R`: append latency at a fixed open-loop rate,
//!   measured from each request's scheduled send time, to a File stream (or a Memory one with
//!   `--persistence memory`); writes the distribution to `--cdf`.
//!   The generator sends every request due so far each `--tick-us` (default 100 µs).
//! * `feed --port P --stream S --rate R --seconds T --size B`: the same generator against an
//!   existing stream of a running daemon (P9 feeds a Kinesis export with it); prints one JSON
//!   line (sent, acknowledged, failed, missing).
//! * `restart --binary B --dir D --streams S --mib M`: P5, writes S File streams holding M MiB
//!   (valid segment files, as the daemon writes them), then times starts of the daemon until
//!   it accepts connections and until a read of the newest message is answered.
//! * `peer --server sm|nats|redis --durable B --workload load|restart|loss --key K`: P7, this
//!   daemon beside NATS JetStream and Redis Streams with their Rust clients (see [`peers`]);
//!   `--nats-server` and `--redis-server` name those servers' programs.

mod append;
mod daemon;
mod floor;
mod fsync;
mod latency;
mod noop;
mod peers;
mod pipeline;
mod restart;

use std::time::Instant;

use anyhow::{bail, Context, Result};

#[allow(clippy::disallowed_methods)]
fn now() -> Instant {
    Instant::now()
}

/// Prints one result line for xtask.
fn row(key: &str, label: &str, value: f64, unit: &str, note: &str) {
    println!("ROW {key} | {label} | {value} | {unit} | {note}");
}

/// The value after `--name`.
fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn arg_req(args: &[String], name: &str) -> Result<String> {
    arg(args, name).with_context(|| format!("{name} is required"))
}

/// The value after `--name` parsed, or `default` when absent; a value that does not parse is
/// an error.
fn arg_or<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> Result<T> {
    match arg(args, name) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| anyhow::anyhow!("{name}: cannot parse {v:?}")),
    }
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("floor-server") {
        // One thread: its own runtime.
        return floor::run(&args);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match args.first().map(String::as_str) {
        Some("fsync") => fsync::run(&args),
        Some("noop-server") => rt.block_on(noop::run(&args)),
        Some("pipeline") => rt.block_on(pipeline::run(&args)),
        Some("rss-idle") => rt.block_on(pipeline::rss_idle(&args)),
        Some("append") => rt.block_on(append::run(&args)),
        Some("latency") => rt.block_on(latency::run(&args)),
        Some("feed") => rt.block_on(latency::feed(&args)),
        Some("restart") => rt.block_on(restart::run(&args)),
        Some("peer") => rt.block_on(peers::run(&args)),
        _ => bail!(
            "usage: sm-bench <fsync | noop-server | pipeline | rss-idle | append | latency | feed | restart | peer | floor-server> [options]"
        ),
    }
}
