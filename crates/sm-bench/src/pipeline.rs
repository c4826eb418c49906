//! Pipelined appends with `sm-client` (P2) and the daemon's resident set (P4).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, ensure, Result};
use sm_client::{Client, MessageStreamDefinition, Persistence, StrategyOnFull};

use crate::daemon::{cpu_seconds, status_kib, Daemon};
use crate::{arg, arg_or, arg_req, now, row};

/// Messages per `append_many` call: the window drains between calls, so keep it long.
const BATCH: usize = 4096;

/// A File or Memory stream of `max_mib` MiB as P1 shapes it: 16 MiB segments, oldest data
/// overwritten, no flushOnWrite.
pub(crate) fn definition(name: String, memory: bool, max_mib: i64) -> MessageStreamDefinition {
    MessageStreamDefinition {
        name,
        max_size: Some(max_mib << 20),
        stream_segment_size: Some(16 << 20),
        strategy_on_full: Some(StrategyOnFull::OverwriteOldestData),
        persistence: Some(if memory {
            Persistence::Memory
        } else {
            Persistence::File
        }),
        flush_on_write: Some(false),
        ..Default::default()
    }
}

/// Samples the daemon's VmRSS every 50 ms until `stop`; returns the largest, in KiB.
pub(crate) fn rss_sampler(pid: u32, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<u64> {
    tokio::spawn(async move {
        let mut max = 0;
        while !stop.load(Ordering::Relaxed) {
            if let Ok(kib) = status_kib(pid, "VmRSS") {
                max = max.max(kib);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        max
    })
}

fn fresh(dir: &Path, name: &str) -> Result<PathBuf> {
    let root = dir.join(name);
    let _ = fs::remove_dir_all(&root);
    fs::create_dir_all(&root)?;
    Ok(root)
}

/// What a `pipeline` run does.
struct Options {
    binary: PathBuf,
    dir: PathBuf,
    size: usize,
    conns: usize,
    memory: bool,
    streams: usize,
    window: usize,
    secs: f64,
    /// Append this many MiB in all (then sync), instead of for `secs`; 0 for the time limit.
    total_mib: u64,
    max_mib: i64,
    key: String,
    /// Against the no-op server instead of the daemon.
    noop: bool,
}

impl Options {
    fn parse(args: &[String]) -> Result<Self> {
        let size: usize = arg_or(args, "--size", 512)?;
        let conns: usize = arg_or(args, "--conns", 1)?;
        let memory = match arg(args, "--persistence").as_deref() {
            None | Some("file") => false,
            Some("memory") => true,
            Some(p) => bail!("--persistence must be file or memory, not {p}"),
        };
        let streams: usize = arg_or(args, "--streams", conns)?;
        ensure!(
            size > 0 && conns > 0 && streams > 0,
            "sizes and counts must be positive"
        );
        let kind = if memory { "memory" } else { "file" };
        Ok(Self {
            binary: PathBuf::from(arg(args, "--binary").unwrap_or_default()),
            dir: PathBuf::from(arg_req(args, "--dir")?),
            size,
            conns,
            memory,
            streams,
            window: arg_or(args, "--window", 256)?,
            secs: arg_or(args, "--seconds", 3.0)?,
            total_mib: arg_or(args, "--total-mib", 0)?,
            max_mib: arg_or(args, "--max-mib", if memory { 256 } else { 1024 })?,
            key: arg(args, "--key").unwrap_or_else(|| format!("p2.{kind}.{size}.c{conns}")),
            noop: args.iter().any(|a| a == "--noop"),
        })
    }

    fn kind(&self) -> &'static str {
        if self.memory {
            "memory"
        } else {
            "file"
        }
    }
}

/// What a run measured.
struct Measured {
    total: u64,
    elapsed: f64,
    /// CPU seconds of the server and of this process over the run.
    cpu: f64,
    own: f64,
    /// Seconds until the final sync of the store, in `--total-mib` mode.
    synced: Option<f64>,
    /// Largest VmRSS sampled, and VmHWM, in KiB.
    rss_max: u64,
    hwm: u64,
}

pub async fn run(args: &[String]) -> Result<()> {
    let o = Options::parse(args)?;
    let root = fresh(
        &o.dir,
        &format!("pipeline-{}-{}-{}", o.kind(), o.size, o.conns),
    )?;
    let daemon = if o.noop {
        Daemon::noop(&root)?
    } else {
        Daemon::start(&o.binary, &root)?.0
    };
    let m = measure(&o, &daemon, &root).await?;
    daemon.kill();
    let _ = fs::remove_dir_all(&root);
    report(&o, &m);
    Ok(())
}

/// Creates the streams, connects, appends until the deadline or the volume, and samples.
async fn measure(o: &Options, daemon: &Daemon, root: &Path) -> Result<Measured> {
    let setup = daemon.client().await?;
    let names: Vec<String> = (0..o.streams).map(|i| format!("s{i:03}")).collect();
    for n in &names {
        setup
            .create_message_stream(&definition(n.clone(), o.memory, o.max_mib))
            .await?;
    }
    let mut clients: Vec<Client> = Vec::new();
    for _ in 0..o.conns {
        clients.push(daemon.client().await?);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = rss_sampler(daemon.pid(), stop.clone());
    // In --total-mib mode each connection appends its share; else until the deadline.
    let per_conn = (o.total_mib << 20) / o.size as u64 / o.conns as u64;
    let cpu0 = cpu_seconds(daemon.pid())?;
    let own0 = cpu_seconds(std::process::id())?;
    let start = now();
    let deadline = start + Duration::from_secs_f64(o.secs);
    let mut tasks = tokio::task::JoinSet::new();
    for (i, c) in clients.into_iter().enumerate() {
        let mine: Vec<String> = names.iter().skip(i).step_by(o.conns).cloned().collect();
        let (size, window, total_mib) = (o.size, o.window, o.total_mib);
        tasks.spawn(async move {
            let payload = vec![0x42u8; size];
            let mut n = 0u64;
            let mut round = 0usize;
            loop {
                let todo = if total_mib > 0 {
                    if n >= per_conn {
                        break;
                    }
                    (per_conn - n).min(BATCH as u64) as usize
                } else {
                    if now() >= deadline {
                        break;
                    }
                    BATCH
                };
                let stream = &mine[round % mine.len()];
                round += 1;
                c.append_many(stream, std::iter::repeat_n(&payload, todo), window)
                    .await?;
                n += todo as u64;
            }
            anyhow::Ok(n)
        });
    }
    let mut total = 0u64;
    while let Some(n) = tasks.join_next().await {
        total += n??;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds(daemon.pid())? - cpu0;
    let own = cpu_seconds(std::process::id())? - own0;
    let synced = if o.total_mib > 0 && !o.memory {
        // Like dd's conv=fdatasync: the data is on disk before the clock stops.
        Command::new("sync").arg("-f").arg(root).status()?;
        Some(start.elapsed().as_secs_f64())
    } else {
        None
    };
    stop.store(true, Ordering::Relaxed);
    let rss_max = sampler.await?;
    let hwm = status_kib(daemon.pid(), "VmHWM").unwrap_or(0);
    Ok(Measured {
        total,
        elapsed,
        cpu,
        own,
        synced,
        rss_max,
        hwm,
    })
}

fn report(o: &Options, m: &Measured) {
    let (key, size, total, elapsed) = (&o.key, o.size, m.total, m.elapsed);
    let server = if o.noop { "no-op server" } else { "daemon" };
    let bytes = total as f64 * size as f64;
    let what = format!(
        "{size} B, {} connection(s) × {} in flight, {} {} stream(s)",
        o.conns,
        o.window,
        o.streams,
        o.kind()
    );
    let note = format!(
        "{total} appends ({:.0} MiB) in {elapsed:.2} s",
        bytes / f64::from(1 << 20)
    );
    row(
        &format!("{key}.msgs"),
        &what,
        (total as f64 / elapsed).round(),
        "msg/s",
        &note,
    );
    row(
        &format!("{key}.mbps"),
        &what,
        bytes / elapsed / 1e6,
        "MB/s",
        &note,
    );
    row(
        &format!("{key}.cpu"),
        &what,
        m.cpu / total.max(1) as f64 * 1e6,
        &format!("{server} CPU-µs per append"),
        &format!("{:.2} CPU-s (user + system) over the run", m.cpu),
    );
    row(
        &format!("{key}.client_cpu"),
        &what,
        m.own / total.max(1) as f64 * 1e6,
        "sm-client CPU-µs per append",
        &format!(
            "{:.2} CPU-s (user + system) of the benchmark process over the run",
            m.own
        ),
    );
    if let Some(t) = m.synced {
        row(
            &format!("{key}.mbps_synced"),
            &what,
            bytes / t / 1e6,
            "MB/s",
            &format!("{note}; {t:.2} s including the final sync of the file system"),
        );
    }
    row(
        &format!("{key}.rss"),
        &what,
        m.rss_max as f64 / 1024.0,
        "MiB",
        &format!(
            "largest VmRSS sampled every 50 ms; VmHWM {:.1} MiB",
            m.hwm as f64 / 1024.0
        ),
    );
}

/// The resident set of an idle daemon: fresh store, then with 100 idle File streams.
pub async fn rss_idle(args: &[String]) -> Result<()> {
    let binary = PathBuf::from(arg_req(args, "--binary")?);
    let dir = PathBuf::from(arg_req(args, "--dir")?);
    let settle: f64 = arg_or(args, "--settle", 2.0)?;
    let root = fresh(&dir, "rss-idle")?;
    let (daemon, _) = Daemon::start(&binary, &root)?;
    tokio::time::sleep(Duration::from_secs_f64(settle)).await;
    let idle = status_kib(daemon.pid(), "VmRSS")?;
    row(
        "p4.idle",
        "idle, empty store",
        idle as f64 / 1024.0,
        "MiB",
        &format!("VmRSS {settle} s after start"),
    );
    let c = daemon.client().await?;
    for i in 0..100 {
        c.create_message_stream(&definition(format!("s{i:03}"), false, 1024))
            .await?;
    }
    drop(c);
    tokio::time::sleep(Duration::from_secs_f64(settle)).await;
    let idle100 = status_kib(daemon.pid(), "VmRSS")?;
    row(
        "p4.idle100",
        "idle, 100 empty File streams",
        idle100 as f64 / 1024.0,
        "MiB",
        &format!("VmRSS {settle} s after creating them"),
    );
    daemon.kill();
    let _ = fs::remove_dir_all(&root);
    Ok(())
}
