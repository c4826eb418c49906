//! Developer tasks of the workspace, the single entry point for CI.
//!
//! * `cargo xtask ci`: everything CI checks, in order: fmt, clippy `-D warnings`, the release
//!   build (the tests of sm-client, sm-cli and the packaging run against it), all Rust tests,
//!   cargo-deny (bans, licenses, sources), the end-to-end suite (the official Python SDK against
//!   the real binary), and 50 kill -9 crash cycles.
//! * `cargo xtask e2e [PYTEST ARGS]`: only the release build and the end-to-end suite.
//! * `cargo xtask crash [--cycles N] [--seed S]`: the kill -9 / power-loss fault injection
//!   (`tests/e2e/crash_cycles.py`) against the release binary; 1,000 cycles by default.
//! * `cargo xtask bench`: runs every benchmark section and rewrites `BENCHMARKS.md`.
//! * `cargo xtask deny`: only cargo-deny.

// Benchmarks measure wall time: the clock ban is for the daemon's core crates.
#[allow(clippy::disallowed_methods)]
mod bench_export;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace root")
        .to_owned()
}

fn run(cmd: &mut Command) -> Result<()> {
    eprintln!("xtask: running {cmd:?}");
    let status = cmd
        .current_dir(root())
        .status()
        .with_context(|| format!("starting {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn deny() -> Result<()> {
    let found = Command::new("cargo-deny")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        bail!("cargo-deny is not installed: `cargo install cargo-deny --locked` (CI's .ci/run does this)");
    }
    run(cargo().args(["deny", "check", "bans", "licenses", "sources"]))
}

/// The Python virtual environment of the end-to-end suite, created on first use.
fn venv() -> Result<PathBuf> {
    let dir = root().join("target/xtask-venv");
    let python = dir.join("bin/python");
    if !python.exists() {
        run(Command::new("python3").args(["-m", "venv"]).arg(&dir))?;
    }
    run(Command::new(&python).args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "-r",
        "tests/e2e/requirements.txt",
    ]))?;
    Ok(python)
}

fn e2e(pytest_args: &[String]) -> Result<()> {
    run(cargo().args(["build", "--release", "-p", "stream-manager"]))?;
    let python = venv()?;
    let binary = root().join("target/release/stream-manager");
    run(Command::new(python)
        .args(["-m", "pytest", "tests/e2e", "-q", "-p", "no:cacheprovider"])
        .args(pytest_args)
        .env("SM_BINARY", binary))
}

fn crash(args: &[String]) -> Result<()> {
    run(cargo().args(["build", "--release", "-p", "stream-manager"]))?;
    let python = venv()?;
    let binary = root().join("target/release/stream-manager");
    let mut cmd = Command::new(python);
    cmd.arg("tests/e2e/crash_cycles.py")
        .arg("--binary")
        .arg(binary);
    if !args.iter().any(|a| a == "--cycles") {
        cmd.args(["--cycles", "1000"]);
    }
    run(cmd.args(args))
}

/// One section of BENCHMARKS.md: a title and the `sm-bench` runs whose `ROW` lines fill it.
struct Section {
    title: &'static str,
    runs: Vec<Vec<String>>,
}

fn sections(binary: &str, dir: &str) -> Vec<Section> {
    let run = |line: &str| -> Vec<String> {
        line.replace("BIN", binary)
            .replace("DIR", dir)
            .split(' ')
            .map(str::to_owned)
            .collect()
    };
    vec![
        Section {
            title: "Machine: fsync rate (same run)",
            runs: vec![run("fsync --dir DIR --seconds 3")],
        },
        Section {
            title: "flushOnWrite appends (group commit)",
            runs: vec![
                run("append --binary BIN --dir DIR --concurrency 1"),
                run("append --binary BIN --dir DIR --concurrency 32"),
                run("append --binary BIN --dir DIR --concurrency 1 --flush false"),
                // The machine's fsync rate again, right after: the VM's disk is shared.
                run("fsync --dir DIR --seconds 2"),
            ],
        },
        Section {
            title: "Restart time",
            runs: vec![run(
                "restart --binary BIN --dir DIR --streams 100 --mib 4096",
            )],
        },
    ]
}

fn bench() -> Result<()> {
    run(cargo().args([
        "build",
        "--release",
        "-p",
        "stream-manager",
        "-p",
        "sm-bench",
    ]))?;
    let binary = root().join("target/release/stream-manager");
    let dir = root().join("target/bench");
    std::fs::create_dir_all(&dir)?;
    let date = Command::new("date").arg("-u").output()?;
    let date = String::from_utf8_lossy(&date.stdout).trim().to_owned();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mut md = format!(
        "# Benchmarks\n\nGenerated by `cargo xtask bench` on {date}.\n\n\
         Machine: {cpus} vCPU VM, ext4 on virtio (the team's shared development VM; other work \
         may run beside it, so compare rows of the same run rather than runs). Release build.\n"
    );
    for section in sections(&binary.to_string_lossy(), &dir.to_string_lossy()) {
        md.push_str(&format!(
            "\n## {}\n\n| measurement | value | unit | notes |\n|---|---|---|---|\n",
            section.title
        ));
        for args in section.runs {
            eprintln!("xtask: sm-bench {}", args.join(" "));
            let out = Command::new(root().join("target/release/sm-bench"))
                .args(&args)
                .current_dir(root())
                .stderr(std::process::Stdio::inherit())
                .output()
                .context("running sm-bench")?;
            if !out.status.success() {
                bail!("sm-bench {} failed", args.join(" "));
            }
            for line in String::from_utf8_lossy(&out.stdout).lines() {
                if let Some(row) = line.strip_prefix("ROW ") {
                    eprintln!("xtask: {row}");
                    md.push_str(&format!("| {row} |\n"));
                }
            }
        }
    }
    std::fs::write(root().join("BENCHMARKS.md"), md)?;
    bench_http_export()?;
    eprintln!("xtask: wrote BENCHMARKS.md");
    Ok(())
}

fn ci() -> Result<()> {
    run(cargo().args(["fmt", "--all", "--", "--check"]))?;
    run(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    // The tests of sm-client and sm-cli and sm-runtime's packaging tests drive the release
    // binary: build it before `cargo test`.
    run(cargo().args(["build", "--release", "-p", "stream-manager"]))?;
    run(cargo().args(["test", "--workspace"]))?;
    deny()?;
    e2e(&[])?;
    crash(&["--cycles".into(), "50".into()])
}

/// Facts about this machine for benchmark tables.
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0 / 1024.0);
    let date = Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    format!("{cores} vCPU ({cpu}), {mem_gib:.0} GiB RAM, measured {date}")
}

/// Replaces the text between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->` in
/// BENCHMARKS.md (appending the section if it is not there yet).
fn write_section(name: &str, body: &str) -> Result<()> {
    let path = root().join("BENCHMARKS.md");
    let mut doc = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| "# Benchmarks\n\nGenerated by `cargo xtask bench`; figures are single runs on the machine named in each section.\n".into());
    let (open, close) = (
        format!("<!-- bench:{name} -->"),
        format!("<!-- /bench:{name} -->"),
    );
    let section = format!("{open}\n{body}\n{close}");
    match (doc.find(&open), doc.find(&close)) {
        (Some(a), Some(b)) if b > a => doc.replace_range(a..b + close.len(), &section),
        _ => {
            doc.push('\n');
            doc.push_str(&section);
            doc.push('\n');
        }
    }
    std::fs::write(&path, doc)?;
    Ok(())
}

/// The HTTP export section (appended to BENCHMARKS.md between its markers).
fn bench_http_export() -> Result<()> {
    run(cargo().args(["build", "--release", "-p", "stream-manager"]))?;
    let binary = root().join("target/release/stream-manager");
    let work = root().join("target/bench");
    std::fs::create_dir_all(&work)?;
    let mut rows = Vec::new();
    for (messages, payload, batch) in [
        (200_000u64, 512usize, 500i64),
        (50_000, 512, 10),
        (20_000, 16_384, 500),
    ] {
        let r = bench_export::http_export(&binary, &work, messages, payload, batch)?;
        let row = format!(
            "| {} × {} B | JSON_BATCHED, batch {} | {:.2} s | {:.0} | {:.1} | {:.1} |",
            r.messages,
            r.payload_bytes,
            r.batch_size,
            r.seconds,
            r.messages as f64 / r.seconds,
            r.messages as f64 * r.payload_bytes as f64 / r.seconds / 1e6,
            r.cpu_seconds / r.messages as f64 * 1e6,
        );
        eprintln!("{row}");
        rows.push(row);
    }
    let body = format!(
        "## HTTP export throughput\n\n{}.\nThe daemon delivers a backlog of messages to a minimal keep-alive HTTP/1.1 sink on loopback \
         (in the xtask process); time from enabling the export to the last message at the sink, and the daemon's CPU time (user + system) meanwhile.\n\n\
         | backlog | export | time | messages/s | payload MB/s | daemon CPU-s per million messages |\n|---|---|---|---|---|---|\n{}",
        machine(),
        rows.join("\n")
    );
    println!("{body}");
    write_section("http-export", &body)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("e2e") => e2e(&args[1..]),
        Some("deny") => deny(),
        Some("crash") => crash(&args[1..]),
        Some("bench") => bench(),
        _ => bail!(
            "usage: cargo xtask <ci | e2e [pytest args] | crash [--cycles N] [--seed S] | bench | deny>"
        ),
    }
}
