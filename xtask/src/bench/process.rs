//! Child processes of the benchmark: each in its own process group, killed with it when
//! dropped, so a failing or timed-out run leaves nothing behind.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::root;

/// A child in its own process group; the whole group is killed when this is dropped, so a
/// failing or timed-out run leaves no daemon behind.
pub(super) struct Group(pub Child);

impl Group {
    pub fn spawn(cmd: &mut Command) -> Result<Self> {
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
pub(super) fn now() -> Instant {
    Instant::now()
}

/// Runs `cmd` to completion (killing its process group after `timeout`) and returns stdout.
pub(super) fn capture(cmd: &mut Command, timeout: Duration) -> Result<String> {
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
pub(super) fn wait_port(port_file: &Path, child: &mut Group, timeout: Duration) -> Result<u16> {
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
