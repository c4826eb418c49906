//! `cargo xtask bench [--quick]`: runs every benchmark (P1–P6 and latency) and the
//! references they are compared with, in one run on one machine, and writes the report
//! (BENCHMARKS.md, or `target/bench-quick.md` with `--quick`) and its plots.
//!
//! The measurements themselves are `sm-bench` subcommands (and the Python SDK script
//! `xtask/bench/sdk_append.py`, and the HTTP export bench in [`export`]); this module runs
//! them in their own process groups under timeouts, collects their `ROW` lines, computes
//! the ratios to the references and the goals, and renders the tables and SVG plots.

mod export;
mod svg;

use std::fmt::Write as _;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::{cargo, root, run, venv};
use svg::{Axis, Chart, Series};

/// Sizes and durations of one run.
struct Plan {
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
            timeout: Duration::from_secs(60),
        }
    }
}

/// The index of the median of `values` (the upper one of an even count); `None` if empty.
/// Figures measured in turns with their reference report the median run: on this shared VM a
/// single run of either side can be far off (P1's no-op server once measured 5,313/s between
/// runs of 4,471–4,960/s), and the best of a few runs followed such outliers.
fn median_index(values: &[f64]) -> Option<usize> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    order.get(values.len() / 2).copied()
}

/// One result line of a measurement.
#[derive(Clone)]
struct Row {
    key: String,
    label: String,
    value: f64,
    unit: String,
    note: String,
}

#[derive(Default)]
struct Results {
    rows: Vec<Row>,
}

impl Results {
    fn get(&self, key: &str) -> Option<f64> {
        self.rows.iter().find(|r| r.key == key).map(|r| r.value)
    }

    fn with_prefix(&self, prefix: &str) -> Vec<&Row> {
        self.rows
            .iter()
            .filter(|r| r.key.starts_with(prefix))
            .collect()
    }

    fn push(&mut self, key: &str, label: &str, value: f64, unit: &str, note: &str) {
        eprintln!("xtask: {key} = {value} {unit} ({label}; {note})");
        self.rows.push(Row {
            key: key.into(),
            label: label.into(),
            value,
            unit: unit.into(),
            note: note.into(),
        });
    }

    fn parse(&mut self, stdout: &str) {
        for line in stdout.lines() {
            let Some(rest) = line.strip_prefix("ROW ") else {
                continue;
            };
            let f: Vec<&str> = rest.splitn(5, " | ").collect();
            if let [key, label, value, unit, note] = f[..] {
                if let Ok(v) = value.parse() {
                    self.push(key, label, v, unit, note);
                }
            }
        }
    }
}

/// A child in its own process group; the whole group is killed when this is dropped, so a
/// failing or timed-out run leaves no daemon behind.
struct Group(Child);

impl Group {
    fn spawn(cmd: &mut Command) -> Result<Self> {
        eprintln!("xtask: running {cmd:?}");
        let child = cmd
            .current_dir(root())
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting {cmd:?}"))?;
        Ok(Self(child))
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", self.0.id())])
                .status();
        }
        let _ = self.0.wait();
    }
}

#[allow(clippy::disallowed_methods)]
fn now() -> Instant {
    Instant::now()
}

/// Runs `cmd` to completion (killing its process group after `timeout`) and returns stdout.
fn capture(cmd: &mut Command, timeout: Duration) -> Result<String> {
    let mut g = Group::spawn(cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()))?;
    let mut stdout = g.0.stdout.take().context("stdout")?;
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let start = now();
    let status = loop {
        if let Some(status) = g.0.try_wait()? {
            break status;
        }
        if start.elapsed() > timeout {
            drop(g);
            bail!("{cmd:?} did not finish within {timeout:?}: killed");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // The group may hold a straggler that keeps stdout open: end it before reading.
    drop(g);
    let out = reader
        .join()
        .map_err(|_| anyhow::anyhow!("reader panicked"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(out)
}

/// Waits for a port file written by a child that announces its port.
fn wait_port(port_file: &Path, child: &mut Group, timeout: Duration) -> Result<u16> {
    let start = now();
    loop {
        if let Ok(s) = std::fs::read_to_string(port_file) {
            if s.ends_with('\n') {
                return Ok(s.trim().parse()?);
            }
        }
        if let Some(status) = child.0.try_wait()? {
            bail!("exited before announcing its port: {status}");
        }
        if start.elapsed() > timeout {
            bail!("no port file {} after {timeout:?}", port_file.display());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

struct Ctx {
    plan: Plan,
    work: PathBuf,
    daemon: PathBuf,
    sm_bench: PathBuf,
    python: PathBuf,
    results: Results,
}

impl Ctx {
    fn sm_bench(&mut self, args: &[&str]) -> Result<()> {
        let out = self.sm_bench_output(args)?;
        self.results.parse(&out);
        Ok(())
    }

    fn sm_bench_output(&self, args: &[&str]) -> Result<String> {
        let mut cmd = Command::new(&self.sm_bench);
        cmd.args(args);
        if args.first() != Some(&"fsync") {
            cmd.arg("--binary").arg(&self.daemon);
        }
        cmd.arg("--dir").arg(&self.work);
        capture(&mut cmd, self.plan.timeout)
    }

    /// Runs each `(arguments, key)` sm-bench command `rounds` times, alternating, and keeps
    /// the rows of each command's run with the median `key`, noting every run's value. For
    /// a figure and its reference on this VM's shared disk, whose rate changes from one
    /// minute to the next: both get the same number of tries at the same times.
    fn sm_bench_median_of(&mut self, rounds: usize, cmds: &[(&[&str], &str)]) -> Result<()> {
        let mut runs: Vec<Vec<Results>> = cmds.iter().map(|_| Vec::new()).collect();
        for _ in 0..rounds {
            for ((args, _), runs) in cmds.iter().zip(&mut runs) {
                let mut r = Results::default();
                r.parse(&self.sm_bench_output(args)?);
                runs.push(r);
            }
        }
        for ((_, key), runs) in cmds.iter().zip(runs) {
            let values: Vec<f64> = runs.iter().map(|r| r.get(key).unwrap_or(0.0)).collect();
            let median = median_index(&values).with_context(|| format!("no run for {key}"))?;
            let all: Vec<String> = values.iter().map(|v| format!("{v:.0}")).collect();
            for row in &runs[median].rows {
                let mut note = row.note.clone();
                if row.key == *key && values.len() > 1 {
                    note = format!(
                        "{note}; median of {} alternating runs ({})",
                        values.len(),
                        all.join(", ")
                    );
                }
                self.results
                    .push(&row.key, &row.label, row.value, &row.unit, &note);
            }
        }
        Ok(())
    }

    /// `dd if=/dev/zero of=FILE bs=1M count=N conv=fdatasync` in the store's file system.
    fn dd(&mut self) -> Result<()> {
        let file = self.work.join("dd-probe");
        let out = Command::new("dd")
            .arg("if=/dev/zero")
            .arg(format!("of={}", file.display()))
            .args([
                "bs=1M",
                &format!("count={}", self.plan.dd_mib),
                "conv=fdatasync",
            ])
            .env("LC_ALL", "C")
            .output()
            .context("running dd")?;
        let _ = std::fs::remove_file(&file);
        let text = String::from_utf8_lossy(&out.stderr);
        // "2147483648 bytes (2.1 GB, 2.0 GiB) copied, 10.1 s, 213 MB/s"
        let line = text
            .lines()
            .find(|l| l.contains(" copied, "))
            .with_context(|| format!("unexpected dd output: {text}"))?;
        let bytes: f64 = line
            .split_whitespace()
            .next()
            .and_then(|b| b.parse().ok())
            .context("dd byte count")?;
        let secs: f64 = line
            .split(" copied, ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|s| s.parse().ok())
            .context("dd seconds")?;
        self.results.push(
            "dd.mbps",
            "sequential write, dd bs=1M conv=fdatasync",
            bytes / secs / 1e6,
            "MB/s",
            &format!("{} MiB in {secs:.2} s", self.plan.dd_mib),
        );
        Ok(())
    }

    /// P1: the Python SDK against the daemon and against the no-op server.
    /// P1: the Python SDK against the no-op server and the daemon, both running, measured in
    /// turn `p1_rounds` times (a single pair swung by ±30% on the shared VM); each keeps its
    /// best run, the one least disturbed by other load.
    fn p1(&mut self) -> Result<()> {
        let dir = self.work.join("p1");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let secs = self.plan.sdk_secs.to_string();
        let noop_port_file = dir.join("noop.port");
        let mut noop = Group::spawn(
            Command::new(&self.sm_bench)
                .arg("noop-server")
                .arg("--port-file")
                .arg(&noop_port_file)
                .stdout(Stdio::null()),
        )?;
        let noop_port = wait_port(&noop_port_file, &mut noop, Duration::from_secs(20))?;
        let daemon_port_file = dir.join("daemon.port");
        let mut daemon = Group::spawn(
            Command::new(&self.daemon)
                .arg("--store-root")
                .arg(dir.join("store"))
                .args(["--port", "0", "--log-level", "WARN", "--port-file"])
                .arg(&daemon_port_file)
                .stdout(Stdio::null()),
        )?;
        let daemon_port = wait_port(&daemon_port_file, &mut daemon, Duration::from_secs(20))?;
        let targets = [
            (
                noop_port,
                "p1.noop",
                "Python SDK → no-op server (client-bound ceiling)",
            ),
            (daemon_port, "p1.daemon", "Python SDK → stream manager"),
        ];
        let mut runs: [Vec<(f64, f64)>; 2] = Default::default();
        for _ in 0..self.plan.p1_rounds {
            for (i, (port, ..)) in targets.iter().enumerate() {
                let out = capture(
                    Command::new(&self.python)
                        .arg("xtask/bench/sdk_append.py")
                        .args(["--port", &port.to_string(), "--seconds", &secs]),
                    self.plan.timeout,
                )?;
                let line = out
                    .lines()
                    .find_map(|l| l.strip_prefix("RESULT "))
                    .context("no RESULT line from sdk_append.py")?;
                let mut f = line.split_whitespace().map(str::parse::<f64>);
                let (Some(Ok(n)), Some(Ok(t))) = (f.next(), f.next()) else {
                    bail!("bad RESULT line {line:?}");
                };
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
            self.results.push(
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

    fn p2(&mut self) -> Result<()> {
        let secs = self.plan.p2_secs.to_string();
        for kind in ["file", "memory"] {
            for conns in ["1", "8"] {
                for size in self.plan.p2_sizes {
                    let size = size.to_string();
                    self.sm_bench(&[
                        "pipeline",
                        "--persistence",
                        kind,
                        "--conns",
                        conns,
                        "--size",
                        &size,
                        "--seconds",
                        &secs,
                    ])?;
                }
            }
        }
        // sm-client's own ceiling: the same 512 B run against the no-op server.
        self.sm_bench(&[
            "pipeline",
            "--noop",
            "--key",
            "p2.noop.512.c1",
            "--size",
            "512",
            "--seconds",
            &secs,
        ])?;
        if self.plan.sustained_mib > 0 {
            let total = self.plan.sustained_mib.to_string();
            let max = (self.plan.sustained_mib + 1024).to_string();
            // Bandwidth with large messages (the goal's figure), and what 512 B messages get.
            for (key, size) in [("p2.sustained64k", "65536"), ("p2.sustained", "512")] {
                self.sm_bench(&[
                    "pipeline",
                    "--key",
                    key,
                    "--size",
                    size,
                    "--conns",
                    "1",
                    "--total-mib",
                    &total,
                    "--max-mib",
                    &max,
                ])?;
            }
        }
        Ok(())
    }

    fn p3(&mut self) -> Result<()> {
        let secs = self.plan.append_secs.to_string();
        let fsync_secs = self.plan.fsync_secs.to_string();
        self.sm_bench_median_of(
            self.plan.p3_rounds,
            &[
                (&["fsync", "--seconds", &fsync_secs], "fsync.append152"),
                (
                    &["append", "--concurrency", "1", "--seconds", &secs],
                    "append.flush.c1",
                ),
            ],
        )?;
        self.sm_bench(&["append", "--concurrency", "32", "--seconds", &secs])?;
        // What 32 appenders reach without any fsync (the CPU's ceiling for P3's 20×), and
        // with 32 appenders sharing one pipelined sm-client connection.
        for c in ["1", "32"] {
            self.sm_bench(&[
                "append",
                "--concurrency",
                c,
                "--flush",
                "false",
                "--seconds",
                &secs,
            ])?;
        }
        self.sm_bench(&[
            "append",
            "--concurrency",
            "32",
            "--connections",
            "1",
            "--seconds",
            &secs,
        ])
    }

    fn p4(&mut self) -> Result<()> {
        self.sm_bench(&["rss-idle", "--settle", &self.plan.idle_settle.to_string()])?;
        self.sm_bench(&[
            "pipeline",
            "--key",
            "p4.load",
            "--size",
            "512",
            "--conns",
            "8",
            "--streams",
            "100",
            "--seconds",
            &self.plan.load_secs.to_string(),
        ])
    }

    fn p6(&mut self) -> Result<()> {
        let timeout = self.plan.timeout;
        for (messages, payload, batch) in self.plan.export.clone() {
            let r =
                export::http_export(&self.daemon, &self.work, messages, payload, batch, timeout)?;
            let label = format!("{messages} × {payload} B backlog, JSON_BATCHED, batch {batch}");
            let note = format!(
                "{:.2} s, {:.1} payload MB/s",
                r.seconds,
                r.messages as f64 * r.payload_bytes as f64 / r.seconds / 1e6
            );
            let key = format!("p6.{payload}.b{batch}");
            self.results.push(
                &format!("{key}.msgs"),
                &label,
                (r.messages as f64 / r.seconds).round(),
                "msg/s",
                &note,
            );
            self.results.push(
                &format!("{key}.cpu"),
                &label,
                r.cpu_seconds / r.messages as f64 * 1e6,
                "daemon CPU-s per million messages",
                &note,
            );
        }
        Ok(())
    }

    fn latency(&mut self, cdf: &Path) -> Result<()> {
        let max = self
            .results
            .get("p2.file.512.c1.msgs")
            .context("the latency run needs P2's 512 B one-connection rate")?;
        let rate = (max / 2.0).round().max(1.0).to_string();
        let secs = self.plan.latency_secs.to_string();
        let cdf = cdf.to_string_lossy().into_owned();
        self.sm_bench(&[
            "latency",
            "--rate",
            &rate,
            "--seconds",
            &secs,
            "--cdf",
            &cdf,
        ])
    }
}

/// `cargo xtask bench [--quick]`.
pub fn bench(args: &[String]) -> Result<()> {
    let quick = args.iter().any(|a| a == "--quick");
    if let Some(a) = args.iter().find(|a| *a != "--quick") {
        bail!("unknown bench argument {a:?} (only --quick)");
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
    let (report, plots, work) = if quick {
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
        results: Results::default(),
    };
    let cdf = work.join("latency.cdf");
    let measured = (|| -> Result<()> {
        // Each reference is measured right before the part compared with it (P3's in turns
        // with it): the disk is shared, and its rate changes over a run. P3 runs before P2's
        // gigabytes of writes:
        // measured after them, the VM's disk managed a fiftieth of its fsync rate for minutes.
        eprintln!("xtask: P1");
        ctx.p1()?;
        eprintln!("xtask: P3 and its reference, the fsync rate");
        ctx.p3()?;
        eprintln!("xtask: reference for P2: dd");
        ctx.dd()?;
        eprintln!("xtask: P2");
        ctx.p2()?;
        eprintln!("xtask: P4");
        ctx.p4()?;
        eprintln!("xtask: P5");
        ctx.sm_bench(&[
            "restart",
            "--streams",
            "100",
            "--mib",
            &ctx.plan.restart_mib.to_string(),
        ])?;
        eprintln!("xtask: P6");
        ctx.p6()?;
        eprintln!("xtask: latency");
        ctx.latency(&cdf)
    })();
    let cdf_points = read_cdf(&cdf);
    let _ = std::fs::remove_dir_all(&work);
    measured?;
    let load_after = loadavg();
    let plot_links = write_plots(&ctx.results, &cdf_points, &plots)?;
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
    let mut md = render(&ctx, &machine, &load_after, &links, started.elapsed());
    // Hand-written findings (profiles, what was changed) survive a rerun.
    if let Some(notes) = std::fs::read_to_string(&report)
        .ok()
        .and_then(|old| notes_block(&old).map(str::to_owned))
    {
        if let Some(at) = md.find("\n## Plots") {
            md.insert_str(at + 1, &format!("{notes}\n\n"));
        } else {
            md.push_str(&notes);
        }
    }
    std::fs::write(&report, md)?;
    eprintln!(
        "xtask: wrote {} in {:.0} s",
        report.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The hand-written block of a report, markers included.
fn notes_block(doc: &str) -> Option<&str> {
    const OPEN: &str = "<!-- bench:notes -->";
    const CLOSE: &str = "<!-- /bench:notes -->";
    let a = doc.find(OPEN)?;
    let b = doc[a..].find(CLOSE)? + a + CLOSE.len();
    Some(&doc[a..b])
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn read_cdf(path: &Path) -> Vec<(f64, f64)> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (q, v) = l.split_once(' ')?;
            Some((q.parse().ok()?, v.parse().ok()?))
        })
        .collect()
}

/// Facts about the machine and the build, for the report's header.
struct Machine {
    cpu: String,
    cores: usize,
    ram_gib: f64,
    kernel: String,
    fs: String,
    date: String,
    commit: String,
    load_before: String,
}

fn sh(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .current_dir(root())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "?".into())
}

impl Machine {
    fn probe(store: &Path) -> Self {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|c| {
                c.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown CPU".into());
        let ram_gib = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                m.lines()
                    .find(|l| l.starts_with("MemTotal:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
            })
            .map_or(0.0, |kib| kib / 1024.0 / 1024.0);
        let store = store.to_string_lossy();
        let fs = sh("df", &["--output=fstype,source", &store]);
        let fs = fs
            .lines()
            .nth(1)
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" on "))
            .unwrap_or(fs);
        let dirty = !sh("git", &["status", "--porcelain", "--untracked-files=no"]).is_empty();
        Self {
            cpu,
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            ram_gib,
            kernel: sh("uname", &["-r"]),
            fs,
            date: sh("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
            commit: format!(
                "{}{}",
                sh("git", &["rev-parse", "--short=12", "HEAD"]),
                if dirty {
                    " (with uncommitted changes)"
                } else {
                    ""
                }
            ),
            load_before: loadavg(),
        }
    }
}

/// Number formatting for tables: thousands separators for large values, a few significant
/// digits for small ones.
fn num(v: f64) -> String {
    if !v.is_finite() {
        return "—".into();
    }
    let a = v.abs();
    if a >= 1000.0 {
        let s = format!("{:.0}", v.abs());
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        if v < 0.0 {
            out.insert(0, '-');
        }
        out
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// One line of the goals table.
struct Goal {
    part: &'static str,
    figure: String,
    measured: Option<(f64, String)>,
    reference: Option<(f64, String)>,
    goal: String,
    /// Ratio of measured to reference; what the goal is checked against when `on_ratio`.
    on_ratio: bool,
    threshold: f64,
    at_least: bool,
}

impl Goal {
    fn ratio(&self) -> Option<f64> {
        match (&self.measured, &self.reference) {
            (Some((m, _)), Some((r, _))) if *r > 0.0 => Some(m / r),
            _ => None,
        }
    }

    fn met(&self) -> Option<bool> {
        let v = if self.on_ratio {
            self.ratio()?
        } else {
            self.measured.as_ref()?.0
        };
        Some(if self.at_least {
            v >= self.threshold
        } else {
            v <= self.threshold
        })
    }
}

fn goals(r: &Results, plan: &Plan) -> Vec<Goal> {
    let m = |key: &str, unit: &str| r.get(key).map(|v| (v, unit.to_owned()));
    let restart_worst = r
        .rows
        .iter()
        .filter(|x| x.key.starts_with("restart.") && x.key.ends_with(".read"))
        .map(|x| x.value)
        .fold(None, |a: Option<f64>, v| Some(a.map_or(v, |a| a.max(v))));
    let g =
        |part, figure: &str, measured, reference, goal: &str, on_ratio, threshold, at_least| Goal {
            part,
            figure: figure.into(),
            measured,
            reference,
            goal: goal.into(),
            on_ratio,
            threshold,
            at_least,
        };
    let dd = m("dd.mbps", "MB/s (dd)");
    vec![
        g(
            "P1",
            "Python SDK, one client, synchronous 512 B appends",
            m("p1.daemon", "appends/s"),
            m("p1.noop", "appends/s (no-op server)"),
            "≥ 95% of the ceiling",
            true,
            0.95,
            true,
        ),
        g(
            "P2",
            "sm-client, 1 pipelined connection, 512 B, File, in page cache",
            m("p2.file.512.c1.msgs", "msg/s"),
            m("p2.noop.512.c1.msgs", "msg/s (sm-client → no-op server)"),
            "≥ 400,000 msg/s",
            false,
            400_000.0,
            true,
        ),
        g(
            "P2",
            "same, payload bandwidth",
            m("p2.file.512.c1.mbps", "MB/s"),
            dd.clone(),
            "(informative)",
            true,
            0.0,
            true,
        ),
        g(
            "P2",
            &if plan.sustained_mib > 0 {
                format!(
                    "sustained over {} GiB, 64 KiB messages, 1 connection, until synced",
                    plan.sustained_mib / 1024
                )
            } else {
                "sustained over 8 GiB (full run only)".to_owned()
            },
            m("p2.sustained64k.mbps_synced", "MB/s"),
            dd.clone(),
            "≥ 80% of dd",
            true,
            0.8,
            true,
        ),
        g(
            "P2",
            &if plan.sustained_mib > 0 {
                format!(
                    "same with 512 B messages ({} GiB)",
                    plan.sustained_mib / 1024
                )
            } else {
                "same with 512 B messages (full run only)".to_owned()
            },
            m("p2.sustained.mbps_synced", "MB/s"),
            dd,
            "(informative)",
            true,
            0.0,
            true,
        ),
        g(
            "P3",
            "flushOnWrite, 1 appender",
            m("append.flush.c1", "appends/s"),
            m("fsync.append152", "fsyncs/s (152 B append + fdatasync)"),
            "≥ 80% of the fsync rate",
            true,
            0.8,
            true,
        ),
        g(
            "P3",
            "flushOnWrite, 32 appenders",
            m("append.flush.c32", "appends/s"),
            m("append.flush.c1", "appends/s (1 appender)"),
            "≥ 20× one appender",
            true,
            20.0,
            true,
        ),
        g(
            "P3",
            "32 appenders without flushOnWrite (no fsync at all)",
            m("append.buffered.c32", "appends/s"),
            m("append.flush.c1", "appends/s (1 flushOnWrite appender)"),
            "(informative: the ceiling of the line above)",
            true,
            0.0,
            true,
        ),
        g(
            "P3",
            "32 flushOnWrite appenders sharing 1 sm-client connection",
            m("append.flush.conn1.c32", "appends/s"),
            m("append.flush.c1", "appends/s (1 appender)"),
            "(informative)",
            true,
            0.0,
            true,
        ),
        g(
            "P4",
            "RSS, idle",
            m("p4.idle", "MiB"),
            None,
            "≤ 8 MiB",
            false,
            8.0,
            false,
        ),
        g(
            "P4",
            "RSS, during P2 load over 100 streams (largest sample)",
            m("p4.load.rss", "MiB"),
            None,
            "≤ 64 MiB",
            false,
            64.0,
            false,
        ),
        g(
            "P5",
            &format!(
                "restart with {} MiB in 100 streams, worst case until the newest message is read",
                plan.restart_mib
            ),
            restart_worst.map(|v| (v, "ms".to_owned())),
            None,
            "≤ 1 s",
            false,
            1000.0,
            false,
        ),
        g(
            "P6",
            "HTTP export to a local sink, 512 B, batch 500",
            m("p6.512.b500.msgs", "msg/s"),
            None,
            "≥ 200,000 msg/s",
            false,
            200_000.0,
            true,
        ),
    ]
}

fn table(out: &mut String, rows: &[&Row]) {
    out.push_str("| measurement | value | unit | notes |\n|---|---|---|---|\n");
    for r in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            r.label,
            num(r.value),
            r.unit,
            r.note
        );
    }
    out.push('\n');
}

fn render(
    ctx: &Ctx,
    m: &Machine,
    load_after: &str,
    plots: &[(String, String)],
    took: Duration,
) -> String {
    let r = &ctx.results;
    let plan = &ctx.plan;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Benchmarks\n\nGenerated by `cargo xtask bench{}` (measurements took {:.0} s); every ratio compares two figures measured in this same run on this machine.\n",
        if plan.quick { " --quick" } else { "" },
        took.as_secs_f64()
    );
    if plan.quick {
        s.push_str("**Quick run (smoke test):** tiny sizes and durations; the figures only show that every benchmark runs, not how fast anything is.\n\n");
    }
    let _ = writeln!(
        s,
        "| machine | |\n|---|---|\n| CPU | {} × {} |\n| RAM | {:.1} GiB |\n| kernel | {} |\n| store file system | {} |\n| date | {} |\n| commit | {} |\n| load average (1, 5, 15 min) before / after | {} / {} |\n",
        m.cores, m.cpu, m.ram_gib, m.kernel, m.fs, m.date, m.commit, m.load_before, load_after
    );
    s.push_str("## Goals\n\n| part | figure | measured | reference (same run) | ratio | goal | status |\n|---|---|---|---|---|---|---|\n");
    for g in goals(r, plan) {
        let measured = g
            .measured
            .as_ref()
            .map_or("not measured".into(), |(v, u)| format!("{} {u}", num(*v)));
        let reference = g
            .reference
            .as_ref()
            .map_or("—".into(), |(v, u)| format!("{} {u}", num(*v)));
        let ratio = g.ratio().map_or("—".into(), |x| {
            if x < 2.0 {
                format!("{:.0}%", x * 100.0)
            } else {
                format!("{x:.1}×")
            }
        });
        let status = if g.goal.starts_with('(') {
            ""
        } else {
            match g.met() {
                Some(true) => "met",
                Some(false) => "**missed**",
                None => "not measured",
            }
        };
        let _ = writeln!(
            s,
            "| {} | {} | {measured} | {reference} | {ratio} | {} | {status} |",
            g.part, g.figure, g.goal
        );
    }
    s.push('\n');
    if !plots.is_empty() {
        s.push_str("## Plots\n\n");
        for (title, path) in plots {
            let _ = writeln!(s, "![{title}]({path})\n");
        }
    }
    let sections: [(&str, &str, &[&str]); 8] = [
        (
            "References: the machine",
            "The disk's fsync rate (a write then `fdatasync`, like fio's `--fdatasync=1`; measured in turns with P3's one appender, the median of as many runs) and its sequential write bandwidth (`dd bs=1M conv=fdatasync`; right before P2), in the store's file system.",
            &["fsync.", "dd."],
        ),
        (
            "P1: the official Python SDK",
            "One `StreamManagerClient`, synchronous `append_message` of 512 B to a File stream (flushOnWrite false, 1 GiB max, 16 MiB segments, OverwriteOldestData), as AWS's own benchmark does (`xtask/bench/sdk_append.py`). The reference is the same client against `sm-bench noop-server`, a separate process that answers every request at once: the client's own ceiling.",
            &["p1."],
        ),
        (
            "P2: pipelined appends with sm-client",
            "`sm-bench pipeline`: each connection keeps 256 appends in flight (`Client::append_many`), File and Memory streams (OverwriteOldestData, 1 GiB / 256 MiB max, 16 MiB segments, flushOnWrite false), one stream per connection. MB/s counts payload bytes; CPU-µs per append is the daemon's CPU time (user + system, from `/proc`) over the run divided by the appends, the figure least disturbed by other load; sm-client CPU-µs per append is the same for the benchmark process (the client). The `--noop` line is the same client against the no-op server: sm-client's own ceiling on this machine. The sustained run appends until the given volume is written and stops the clock after `sync -f` of the store, like dd's `conv=fdatasync`.",
            &["p2."],
        ),
        (
            "P3: flushOnWrite (group commit)",
            "`sm-bench append`: N connections, one 128 B append in flight each (the SDK's behaviour), to one flushOnWrite stream; the buffered line is the same without flushOnWrite.",
            &["append."],
        ),
        (
            "P4: resident memory",
            "VmRSS of the daemon from `/proc/PID/status`: idle after start, then the largest sample (every 50 ms) during a P2-like load of 8 connections spread over 100 File streams.",
            &["p4."],
        ),
        (
            "P5: restart time",
            "`sm-bench restart`: a store of 100 File streams written directly as segment files, then daemon starts timed until the port file appears (accepting) and until a read of the newest message is answered.",
            &["restart."],
        ),
        (
            "P6: HTTP export",
            "The daemon delivers a backlog to a minimal keep-alive HTTP/1.1 sink on loopback (in the xtask process); time from enabling the export to the last message at the sink, and the daemon's CPU time (user + system) meanwhile.",
            &["p6."],
        ),
        (
            "Latency at half the maximum rate",
            "`sm-bench latency`: one connection, 512 B appends to a File stream at a fixed rate (half of P2's one-connection 512 B rate in this run), written by a pacing thread every 100 µs (all requests due by then, encoded on the wire directly), each timed from its scheduled send time to its response, so stalls count against every request they delay (no coordinated omission).",
            &["lat."],
        ),
    ];
    for (title, text, prefixes) in sections {
        let rows: Vec<&Row> = prefixes.iter().flat_map(|p| r.with_prefix(p)).collect();
        let _ = writeln!(s, "## {title}\n\n{text}\n");
        table(&mut s, &rows);
    }
    s
}

/// Writes the SVG plots; returns (title, path) of each.
fn write_plots(r: &Results, cdf: &[(f64, f64)], dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let sizes = [64.0, 512.0, 4096.0, 65536.0];
    let size_ticks: Vec<(f64, String)> = vec![
        (64.0, "64 B".into()),
        (512.0, "512 B".into()),
        (4096.0, "4 KiB".into()),
        (65536.0, "64 KiB".into()),
    ];
    let lines = |metric: &str| -> Vec<Series> {
        let mut out = Vec::new();
        for kind in ["file", "memory"] {
            for conns in [1, 8] {
                let points: Vec<(f64, f64)> = sizes
                    .iter()
                    .filter_map(|s| {
                        r.get(&format!("p2.{kind}.{s}.c{conns}.{metric}"))
                            .map(|v| (*s, v))
                    })
                    .collect();
                if !points.is_empty() {
                    out.push(Series {
                        name: format!("{kind}, {conns} conn"),
                        points,
                        dashed: false,
                    });
                }
            }
        }
        out
    };
    let msgs = lines("msgs");
    let mut mbps = lines("mbps");
    if let Some(dd) = r.get("dd.mbps") {
        mbps.push(Series {
            name: "dd (disk bandwidth)".into(),
            points: vec![(64.0, dd), (65536.0, dd)],
            dashed: true,
        });
    }
    let mut written = Vec::new();
    let mut save = |name: &str, title: &str, chart: Chart| -> Result<()> {
        let path = dir.join(name);
        std::fs::write(&path, chart.to_svg())?;
        written.push((title.to_owned(), path));
        Ok(())
    };
    save(
        "p2-messages.svg",
        "P2: appends per second vs message size",
        Chart {
            title: "P2: pipelined appends per second vs message size".into(),
            x: Axis::new("message size", true).with_ticks(size_ticks.clone()),
            y: Axis::new("appends / s", true),
            series: msgs,
        },
    )?;
    save(
        "p2-bandwidth.svg",
        "P2: payload bandwidth vs message size",
        Chart {
            title: "P2: payload bandwidth vs message size".into(),
            x: Axis::new("message size", true).with_ticks(size_ticks),
            y: Axis::new("MB / s", true),
            series: mbps,
        },
    )?;
    // Latency by percentile, HdrHistogram-style: x = log10(1 / (1 - q)).
    let points: Vec<(f64, f64)> = cdf
        .iter()
        .filter(|(q, v)| *q < 1.0 && *v > 0.0)
        .map(|(q, v)| ((1.0 / (1.0 - q)).log10(), *v))
        .collect();
    if !points.is_empty() {
        let rate = r.get("lat.rate").unwrap_or(0.0);
        save(
            "latency.svg",
            "Append latency distribution at half the maximum rate",
            Chart {
                title: format!(
                    "Append latency at {} msg/s (half the max), 512 B, File",
                    svg::short(rate)
                ),
                x: Axis::new("percentile", false).with_ticks(vec![
                    (0.0, "0%".into()),
                    (1.0, "90%".into()),
                    (2.0, "99%".into()),
                    (3.0, "99.9%".into()),
                    (4.0, "99.99%".into()),
                ]),
                y: Axis::new("latency (µs)", true),
                series: vec![Series {
                    name: "from scheduled send".into(),
                    points,
                    dashed: false,
                }],
            },
        )?;
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_index_picks_the_middle_run() {
        assert_eq!(
            median_index(&[5313.0, 4471.0, 4960.0, 4565.0, 4567.0]),
            Some(4)
        );
        assert_eq!(median_index(&[2.0, 1.0]), Some(0), "the upper of two");
        assert_eq!(median_index(&[]), None);
    }

    #[test]
    fn rows_are_parsed_and_looked_up() {
        let mut r = Results::default();
        r.parse("progress\nROW a.b | label | 12.5 | MB/s | a | note with | bars\nROW bad | x | nan? | u | n\n");
        assert_eq!(r.get("a.b"), Some(12.5));
        assert_eq!(r.rows[0].note, "a | note with | bars");
        assert_eq!(r.get("bad"), None);
    }

    #[test]
    fn notes_are_found_between_their_markers() {
        let doc = "x\n<!-- bench:notes -->\n## Findings\ntext\n<!-- /bench:notes -->\ny";
        assert_eq!(
            notes_block(doc),
            Some("<!-- bench:notes -->\n## Findings\ntext\n<!-- /bench:notes -->")
        );
        assert_eq!(notes_block("<!-- bench:notes --> unterminated"), None);
        assert_eq!(notes_block("none"), None);
    }

    #[test]
    fn numbers_are_formatted_for_tables() {
        assert_eq!(num(412_345.4), "412,345");
        assert_eq!(num(1000.0), "1,000");
        assert_eq!(num(123.4), "123");
        assert_eq!(num(12.34), "12.3");
        assert_eq!(num(1.234), "1.23");
    }

    #[test]
    fn goals_compare_ratios_or_values() {
        let mut r = Results::default();
        r.push("p1.daemon", "", 960.0, "", "");
        r.push("p1.noop", "", 1000.0, "", "");
        r.push("p4.idle", "", 9.0, "", "");
        let g = goals(&r, &Plan::quick());
        assert_eq!(g[0].met(), Some(true));
        assert_eq!(g[0].ratio(), Some(0.96));
        let idle = g.iter().find(|g| g.figure == "RSS, idle").unwrap();
        assert_eq!(idle.met(), Some(false));
        let p6 = g.iter().find(|g| g.part == "P6").unwrap();
        assert_eq!(p6.met(), None);
    }
}
