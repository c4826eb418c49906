//! Developer tasks of the workspace, the single entry point for CI.
//!
//! * `cargo xtask ci`: everything CI checks, in order: fmt, clippy `-D warnings`, all Rust
//!   tests, cargo-deny (bans, licenses, sources), the release build, the end-to-end suite
//!   (the official Python SDK against the real binary), and 50 kill -9 crash cycles.
//! * `cargo xtask e2e [PYTEST ARGS]`: only the release build and the end-to-end suite.
//! * `cargo xtask crash [--cycles N] [--seed S]`: the kill -9 / power-loss fault injection
//!   (`tests/e2e/crash_cycles.py`) against the release binary; 1,000 cycles by default.
//! * `cargo xtask bench`: runs every benchmark section and rewrites `BENCHMARKS.md`.
//! * `cargo xtask deny`: only cargo-deny.

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
    let s = |v: &[&str]| -> Vec<String> { v.iter().map(|x| (*x).to_owned()).collect() };
    vec![
        Section {
            title: "Machine: fsync rate (same run)",
            runs: vec![s(&["fsync", "--dir", dir, "--seconds", "3"])],
        },
        Section {
            title: "flushOnWrite appends (group commit)",
            runs: vec![
                s(&[
                    "append",
                    "--binary",
                    binary,
                    "--dir",
                    dir,
                    "--concurrency",
                    "1",
                ]),
                s(&[
                    "append",
                    "--binary",
                    binary,
                    "--dir",
                    dir,
                    "--concurrency",
                    "32",
                ]),
            ],
        },
        Section {
            title: "Restart time",
            runs: vec![s(&[
                "restart",
                "--binary",
                binary,
                "--dir",
                dir,
                "--streams",
                "100",
                "--mib",
                "4096",
            ])],
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
    run(cargo().args(["test", "--workspace"]))?;
    deny()?;
    e2e(&[])?;
    crash(&["--cycles".into(), "50".into()])
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
