//! The servers of P7, started on a store folder of their own, on a free loopback port,
//! killed (SIGKILL) when dropped: this daemon, NATS JetStream (file store), Redis (AOF), and
//! the reference of [`crate::floor`] (this benchmark's own executable).
//! Each runs at one of two settings: durable (an fsync before each acknowledgement) or its
//! default (acknowledged before the fsync).

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{bail, Context, Result};

/// Which server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Daemon,
    Nats,
    Redis,
    /// The reference of [`crate::floor`]: the least a server over this protocol can do.
    Floor,
}

impl Kind {
    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "sm" | "daemon" => Self::Daemon,
            "nats" => Self::Nats,
            "redis" => Self::Redis,
            "floor" => Self::Floor,
            _ => bail!("--server must be sm, nats, redis or floor, not {s}"),
        })
    }

    /// The server's part of a row key.
    pub fn key(self) -> &'static str {
        match self {
            Self::Daemon => "sm",
            Self::Nats => "nats",
            Self::Redis => "redis",
            Self::Floor => "floor",
        }
    }

    /// The server and its setting, for the report.
    pub fn label(self, durable: bool) -> &'static str {
        match (self, durable) {
            (Self::Daemon, true) => "this daemon, flushOnWrite",
            (Self::Daemon, false) => "this daemon, no flushOnWrite",
            (Self::Nats, true) => "NATS JetStream, file store, sync_interval always",
            (Self::Nats, false) => "NATS JetStream, file store, default sync (every 2 min)",
            (Self::Redis, true) => "Redis Streams, AOF appendfsync always",
            (Self::Redis, false) => "Redis Streams, AOF appendfsync everysec",
            (Self::Floor, true) => "the least server, fdatasync before each ack",
            (Self::Floor, false) => "the least server, no fsync",
        }
    }
}

/// The programs to start.
#[derive(Clone, Debug, Default)]
pub struct Programs {
    pub daemon: Option<PathBuf>,
    pub nats: Option<PathBuf>,
    pub redis: Option<PathBuf>,
}

/// A running server. Stopped with SIGKILL when dropped.
pub struct Server {
    pub kind: Kind,
    pub durable: bool,
    pub port: u16,
    child: Child,
    dir: PathBuf,
    programs: Programs,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port that was free a moment ago.
fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Server {
    /// Starts `kind` on the store folder `dir` (created if missing; a store already there is
    /// recovered). Returns at once: see [`super::conn::Conn::connect`] to wait until it serves.
    pub fn start(kind: Kind, durable: bool, programs: &Programs, dir: &Path) -> Result<Self> {
        fs::create_dir_all(dir)?;
        let port = free_port()?;
        let program = |p: &Option<PathBuf>, what: &str| -> Result<PathBuf> {
            p.clone()
                .with_context(|| format!("no {what} program given to sm-bench"))
        };
        let mut cmd = match kind {
            Kind::Daemon => {
                let mut c = Command::new(program(&programs.daemon, "--binary")?);
                c.arg("--store-root").arg(dir.join("store")).args([
                    "--port",
                    &port.to_string(),
                    "--log-level",
                    "WARN",
                ]);
                c
            }
            Kind::Nats => {
                let conf = dir.join("nats.conf");
                let store = dir.join("jetstream");
                let sync = if durable {
                    "\n  sync_interval: always"
                } else {
                    ""
                };
                fs::write(
                    &conf,
                    format!(
                        "listen: \"127.0.0.1:{port}\"\nlog_file: {:?}\njetstream {{\n  store_dir: {:?}{sync}\n}}\n",
                        dir.join("nats.log").display().to_string(),
                        store.display().to_string()
                    ),
                )?;
                let mut c = Command::new(program(&programs.nats, "--nats-server")?);
                c.arg("-c").arg(conf);
                c
            }
            Kind::Redis => {
                let mut c = Command::new(program(&programs.redis, "--redis-server")?);
                c.args(["--bind", "127.0.0.1", "--port", &port.to_string()])
                    .arg("--dir")
                    .arg(dir)
                    .args(["--appendonly", "yes", "--appendfsync"])
                    .arg(if durable { "always" } else { "everysec" })
                    .args(["--save", "", "--daemonize", "no", "--logfile", ""])
                    .args(["--loglevel", "warning"]);
                c
            }
            Kind::Floor => {
                let mut c = Command::new(std::env::current_exe()?);
                c.args(["floor-server", "--port", &port.to_string(), "--durable"])
                    .arg(durable.to_string())
                    .arg("--dir")
                    .arg(dir);
                c
            }
        };
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {cmd:?}"))?;
        Ok(Self {
            kind,
            durable,
            port,
            child,
            dir: dir.to_owned(),
            programs: programs.clone(),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails if the server has exited.
    pub fn check_alive(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("{:?} exited: {status}", self.kind);
        }
        Ok(())
    }

    /// kill -9.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// kill -9 (if still running), then a new server of the same kind and setting on the
    /// same store.
    pub fn restart(mut self) -> Result<Self> {
        self.kill9();
        Self::start(self.kind, self.durable, &self.programs, &self.dir)
    }
}
