//! P1: the official Python SDK appending synchronously, against the daemon and against the
//! no-op server (the client's own ceiling), in alternating rounds.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use super::ctx::Ctx;
use super::goals::{figure, Check, Goal};
use super::process::{capture, wait_port, Group};
use super::results::{median_index, Results};
use super::Plan;

/// Starts the release daemon on a store in `dir`; returns it and its port.
pub(super) fn start_daemon(ctx: &Ctx, dir: &Path) -> Result<(Group, u16)> {
    let port_file = dir.join("daemon.port");
    let mut daemon = Group::spawn(
        Command::new(&ctx.daemon)
            .arg("--store-root")
            .arg(dir.join("store"))
            .args(["--port", "0", "--log-level", "WARN", "--port-file"])
            .arg(&port_file)
            .stdout(Stdio::null()),
    )?;
    let port = wait_port(&port_file, &mut daemon, Duration::from_secs(20))?;
    Ok((daemon, port))
}

/// Appends made during the SDK script's warm-up, before its clock starts.
pub(super) const SDK_WARMUP: u32 = 200;

/// One run of `xtask/bench/sdk_append.py` against `port` (to a flushOnWrite stream if
/// `flush`): the appends and the seconds they took (after the warm-up).
pub(super) fn sdk_append(ctx: &Ctx, port: u16, flush: bool) -> Result<(f64, f64)> {
    let out = capture(
        Command::new(&ctx.python)
            .arg("xtask/bench/sdk_append.py")
            .args(["--port", &port.to_string()])
            .args(["--seconds", &ctx.plan.sdk_secs.to_string()])
            .args(["--warmup", &SDK_WARMUP.to_string()])
            .args(["--flush", if flush { "1" } else { "0" }]),
        ctx.plan.timeout,
    )?;
    let line = out
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .context("no RESULT line from sdk_append.py")?;
    let mut f = line.split_whitespace().map(str::parse::<f64>);
    let (Some(Ok(n)), Some(Ok(t))) = (f.next(), f.next()) else {
        bail!("bad RESULT line {line:?}");
    };
    Ok((n, t))
}

/// P1: the Python SDK against the no-op server and the daemon, both running, measured in
/// turn `p1_rounds` times (a single pair swung by ±30% on the shared VM); each reports its
/// median run.
pub(super) fn run(ctx: &mut Ctx) -> Result<()> {
    let dir = ctx.work.join("p1");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let noop_port_file = dir.join("noop.port");
    let mut noop = Group::spawn(
        Command::new(&ctx.sm_bench)
            .arg("noop-server")
            .arg("--port-file")
            .arg(&noop_port_file)
            .stdout(Stdio::null()),
    )?;
    let noop_port = wait_port(&noop_port_file, &mut noop, Duration::from_secs(20))?;
    let (daemon, daemon_port) = start_daemon(ctx, &dir)?;
    let targets = [
        (
            noop_port,
            "p1.noop",
            "Python SDK → no-op server (client-bound ceiling)",
        ),
        (daemon_port, "p1.daemon", "Python SDK → stream manager"),
    ];
    let mut runs: [Vec<(f64, f64)>; 2] = Default::default();
    for _ in 0..ctx.plan.p1_rounds {
        for (i, (port, ..)) in targets.iter().enumerate() {
            let (n, t) = sdk_append(ctx, *port, false)?;
            runs[i].push((n, t));
        }
    }
    drop(noop);
    drop(daemon);
    // Each round's daemon run against the no-op run just before it (informative: the two
    // runs of a round are seconds apart, while the two medians may be minutes apart).
    let paired: Vec<f64> = runs[1]
        .iter()
        .zip(&runs[0])
        .map(|((n, t), (n0, t0))| (n / t) / (n0 / t0))
        .collect();
    let paired_note = match median_index(&paired) {
        Some(m) => format!(
            "; each round against the no-op run before it: {} (median {:.0}%)",
            paired
                .iter()
                .map(|r| format!("{:.0}%", r * 100.0))
                .collect::<Vec<_>>()
                .join(", "),
            paired[m] * 100.0
        ),
        None => String::new(),
    };
    for ((_, key, label), runs) in targets.iter().zip(&runs) {
        let rates: Vec<String> = runs.iter().map(|(n, t)| format!("{:.0}", n / t)).collect();
        let rate: Vec<f64> = runs.iter().map(|(n, t)| n / t).collect();
        let &(n, t) = median_index(&rate)
            .and_then(|i| runs.get(i))
            .context("no P1 run")?;
        ctx.results.push(
            key,
            label,
            (n / t).round(),
            "appends/s",
            &format!(
                "median of {} runs alternating with the other server ({}/s): {n} appends of 512 B in {t:.2} s, one client, synchronous{}",
                runs.len(),
                rates.join(", "),
                if *key == "p1.daemon" { paired_note.as_str() } else { "" }
            ),
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

pub(super) fn goals(r: &Results, _: &Plan) -> Vec<Goal> {
    vec![Goal::new(
        "P1",
        "Python SDK, one client, synchronous 512 B appends",
        figure(r, "p1.daemon", "appends/s"),
        figure(r, "p1.noop", "appends/s (no-op server)"),
        "≥ 95% of the ceiling",
        Check::RatioAtLeast(0.95),
    )]
}
