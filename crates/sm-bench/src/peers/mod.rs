//! P7: this daemon beside the peers a user could pick instead, NATS JetStream (file store)
//! and Redis Streams (AOF), each driven by its maintained Rust client (see [`conn`]) so the
//! clients cost about the same. One run of `sm-bench peer` measures one server at one
//! setting on one workload (xtask alternates the servers over rounds and keeps medians):
//!
//! * `--workload load`: `--conns` connections, each with `--window` appends of `--size`
//!   bytes in flight (1: a synchronous appender), for `--seconds`; msgs/s, the server's
//!   CPU-µs per message (user + system from `/proc/PID/stat`, all its threads), its largest
//!   RSS, and with `--settle S` its idle RSS S seconds after the stream was created (W1–W4,
//!   W6). With `--strace PATH` the server's system calls are counted instead (`strace -c -f`
//!   on all its threads), per message.
//! * `--workload restart`: `--mib` MiB of 1 KiB messages appended, then kill -9 and restart
//!   `--rounds` times, each timed from the start of the process until the newest message is
//!   read (W5).
//! * `--workload loss`: synchronous appenders as in `load`, kill -9 after `--kill-after`
//!   seconds, restart, and count the acknowledged messages that are not stored (W7).
//!
//! Rows are keyed `<--key>.<sm|nats|redis>.<figure>`.

mod conn;
mod server;
mod strace;
mod workload;

use std::path::PathBuf;

use anyhow::{bail, Result};

use crate::{arg, arg_or, arg_req};
use server::{Kind, Programs};

/// What one `sm-bench peer` run does.
pub struct Options {
    pub kind: Kind,
    pub durable: bool,
    pub programs: Programs,
    pub dir: PathBuf,
    pub key: String,
    pub conns: usize,
    pub window: usize,
    pub size: usize,
    pub secs: f64,
    pub settle: f64,
    pub mib: u64,
    pub rounds: usize,
    pub kill_after: f64,
    /// Count the server's system calls over the load with this `strace`.
    pub strace: Option<PathBuf>,
}

impl Options {
    fn parse(args: &[String]) -> Result<Self> {
        let path = |name: &str| arg(args, name).map(PathBuf::from);
        let o = Self {
            kind: Kind::parse(&arg_req(args, "--server")?)?,
            durable: arg_or(args, "--durable", false)?,
            programs: Programs {
                daemon: path("--binary"),
                nats: path("--nats-server"),
                redis: path("--redis-server"),
            },
            dir: PathBuf::from(arg_req(args, "--dir")?),
            key: arg_req(args, "--key")?,
            conns: arg_or(args, "--conns", 1)?,
            window: arg_or(args, "--window", 1)?,
            size: arg_or(args, "--size", 512)?,
            secs: arg_or(args, "--seconds", 3.0)?,
            settle: arg_or(args, "--settle", 0.0)?,
            mib: arg_or(args, "--mib", 1024)?,
            rounds: arg_or(args, "--rounds", 3)?,
            kill_after: arg_or(args, "--kill-after", 1.0)?,
            strace: path("--strace"),
        };
        if o.conns == 0 || o.window == 0 || o.size < 8 || o.rounds == 0 {
            bail!("--conns, --window and --rounds must be positive and --size at least 8");
        }
        Ok(o)
    }

    /// The store folder of this run (removed afterwards).
    fn store(&self) -> PathBuf {
        self.dir.join(format!("peer-{}", self.kind.key()))
    }

    /// `<key>.<server>.<figure>`.
    fn row_key(&self, figure: &str) -> String {
        format!("{}.{}.{figure}", self.key, self.kind.key())
    }
}

pub async fn run(args: &[String]) -> Result<()> {
    let o = Options::parse(args)?;
    let store = o.store();
    let _ = std::fs::remove_dir_all(&store);
    let result = match arg(args, "--workload").as_deref() {
        Some("restart" | "loss") if o.kind == Kind::Floor => Err(anyhow::anyhow!(
            "the least server keeps nothing across a restart: it runs --workload load only"
        )),
        Some("load") => workload::load(&o).await,
        Some("restart") => workload::restart(&o).await,
        Some("loss") => workload::loss(&o).await,
        w => Err(anyhow::anyhow!(
            "--workload must be load, restart or loss, not {w:?}"
        )),
    };
    let _ = std::fs::remove_dir_all(&store);
    result
}
