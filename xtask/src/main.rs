//! Developer tasks of the workspace, the single entry point for CI.
//!
//! * `cargo xtask ci`: everything CI checks, in order: fmt, clippy `-D warnings`, the release
//!   build (the tests of sm-client, sm-cli and the packaging run against it), all Rust tests,
//!   cargo-deny (bans, licenses, sources), the end-to-end suite (the official Python SDK against
//!   the real binary), 50 kill -9 crash cycles, and `bench --quick` as a smoke test.
//! * `cargo xtask e2e [PYTEST ARGS]`: only the release build and the end-to-end suite.
//! * `cargo xtask crash [--cycles N] [--seed S]`: the kill -9 / power-loss fault injection
//!   (`tests/e2e/crash_cycles.py`) against the release binary; 1,000 cycles by default.
//! * `cargo xtask bench [--quick] [--only PART]`: runs every benchmark (P1–P7, latency) with
//!   the references they are compared with, and rewrites `BENCHMARKS.md` and its plots in
//!   `docs/bench/`; `--quick` runs them all at tiny sizes (under 3 minutes) into
//!   `target/bench-quick.md`; `--only P7` runs one part into `target/bench-only.md`.
//! * `cargo xtask deny`: only cargo-deny.
//! * `cargo xtask dist [--target TRIPLE] [--profile P] [--out DIR]`: the release artifacts
//!   ([`dist`]): a tarball (daemon, smctl, systemd unit) and a Greengrass component folder.
//! * `cargo xtask tidy`: the architecture's invariants (`tidy/`; also `#[test]`s, so part of
//!   `cargo test --workspace` and of `ci`).
//!
//! This crate owns the developer workflow: it is driven from the command line (`cargo xtask
//! <task>`), each task running cargo, pytest or the benchmark drivers as processes.

// Benchmarks measure wall time: the clock ban is for the daemon's core crates.
#[allow(clippy::disallowed_methods)]
mod bench;
mod dist;
mod tidy;

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
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    // `cargo run` gives xtask CARGO_MANIFEST_DIR, and ring's build script reruns when it
    // changes: without this, every switch between `cargo build` and `cargo xtask` rebuilt
    // ring, rustls, reqwest and the daemon.
    cmd.env_remove("CARGO_MANIFEST_DIR");
    cmd
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
    // binary, and xtask's dist test packages it with smctl: build them before `cargo test`.
    run(cargo().args(["build", "--release", "-p", "stream-manager", "-p", "sm-cli"]))?;
    run(cargo().args(["test", "--workspace"]))?;
    deny()?;
    e2e(&[])?;
    crash(&["--cycles".into(), "50".into()])?;
    // A smoke test of the benchmarks: they all run (no thresholds; timing is not checked).
    bench::bench(&["--quick".into()])
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("e2e") => e2e(&args[1..]),
        Some("deny") => deny(),
        Some("crash") => crash(&args[1..]),
        Some("bench") => bench::bench(&args[1..]),
        Some("dist") => dist::dist(&args[1..]),
        Some("tidy") => tidy::run(&root()),
        _ => bail!(
            "usage: cargo xtask <ci | e2e [pytest args] | crash [--cycles N] [--seed S] | bench [--quick] [--only PART] | deny | tidy | dist [--target T] [--profile P] [--out DIR]>"
        ),
    }
}
