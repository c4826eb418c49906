//! Developer tasks of the workspace, the single entry point for CI.
//!
//! * `cargo xtask ci`: everything CI checks, in order: fmt, clippy `-D warnings`, all Rust
//!   tests, cargo-deny (bans, licenses, sources), the release build, and the end-to-end suite
//!   (the official Python SDK against the real binary).
//! * `cargo xtask e2e [PYTEST ARGS]`: only the release build and the end-to-end suite.
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
    e2e(&[])
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("e2e") => e2e(&args[1..]),
        Some("deny") => deny(),
        _ => bail!("usage: cargo xtask <ci | e2e [pytest args] | deny>"),
    }
}
