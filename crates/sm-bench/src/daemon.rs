//! A daemon started for one measurement: killed when dropped, so a benchmark that fails half-way
//! leaves nothing running.

use std::fs;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use sm_client::{Client, ClientConfig};

use crate::now;

/// A running daemon on a store root.
pub struct Daemon {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Daemon {
    /// Starts `binary` on store `root` and waits (up to 120 s) for its port file; returns the
    /// daemon and how long it took to accept connections.
    pub fn start(binary: &Path, root: &Path) -> Result<(Self, Duration)> {
        Self::start_with(binary, root, &[])
    }

    /// Like [`Daemon::start`], with `extra` arguments for the daemon.
    pub fn start_with(binary: &Path, root: &Path, extra: &[String]) -> Result<(Self, Duration)> {
        let port_file = root.with_extension("port");
        let mut cmd = Command::new(binary);
        cmd.arg("--store-root")
            .arg(root)
            .args(["--port", "0", "--log-level", "WARN", "--port-file"])
            .arg(&port_file)
            .args(extra);
        Self::spawn(cmd, &port_file)
    }

    /// Starts this program's `noop-server` instead (a server that stores nothing), as a
    /// separate process like the daemon.
    pub fn noop(root: &Path) -> Result<Self> {
        let port_file = root.with_extension("port");
        let mut cmd = Command::new(std::env::current_exe()?);
        cmd.arg("noop-server").arg("--port-file").arg(&port_file);
        Ok(Self::spawn(cmd, &port_file)?.0)
    }

    fn spawn(mut cmd: Command, port_file: &Path) -> Result<(Self, Duration)> {
        let _ = fs::remove_file(port_file);
        let t = now();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {cmd:?}"))?;
        let mut child = Some(child);
        loop {
            if let Ok(s) = fs::read_to_string(port_file) {
                if s.ends_with('\n') {
                    let port = s.trim().parse()?;
                    let _ = fs::remove_file(port_file);
                    let child = child.take().expect("child is set until returned");
                    return Ok((Self { child, port }, t.elapsed()));
                }
            }
            if let Some(c) = child.as_mut() {
                if let Some(status) = c.try_wait()? {
                    bail!("the daemon exited at start: {status}");
                }
            }
            if t.elapsed() > Duration::from_secs(120) {
                if let Some(mut c) = child.take() {
                    let _ = c.kill();
                    let _ = c.wait();
                }
                bail!("the daemon did not start within 120 s");
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// A client of this daemon.
    pub async fn client(&self) -> Result<Client> {
        let mut config = ClientConfig::new("127.0.0.1", self.port);
        config.request_timeout = Duration::from_secs(120);
        Ok(Client::connect(config).await?)
    }

    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills it (SIGKILL).
    pub fn kill(self) {
        drop(self);
    }

    /// Stops it with SIGTERM and waits for it to exit.
    pub fn terminate(mut self) -> Result<()> {
        Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()?;
        self.child.wait()?;
        Ok(())
    }
}

/// A field of `/proc/PID/status` in KiB (`VmRSS`, `VmHWM`).
pub fn status_kib(pid: u32, field: &str) -> Result<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .with_context(|| format!("no {field} in /proc/{pid}/status"))
}

/// CPU time (user + system) of a process so far, in seconds (from `/proc/PID/stat`, in
/// clock ticks of 1/100 s).
pub fn cpu_seconds(pid: u32) -> Result<f64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| -> Result<f64> {
        f.get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .with_context(|| format!("field {i} of /proc/{pid}/stat"))
    };
    Ok((ticks(11)? + ticks(12)?) / 100.0)
}
