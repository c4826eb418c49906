//! The P7 workloads: a timed load (W1–W4, W6), restart with a large store (W5), and
//! acknowledged messages lost to kill -9 (W7).

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{ensure, Context, Result};

use super::conn::{connect_when_up, payload, Conn};
use super::server::Server;
use super::strace::Strace;
use super::Options;
use crate::daemon::{cpu_seconds, status_kib};
use crate::pipeline::rss_sampler;
use crate::{now, row};

/// Appends per `append_pipelined` call: the window drains between calls, so keep it long.
const BATCH: usize = 4096;

/// Starts the server, waits until it serves, creates the stream; returns both.
async fn up(o: &Options, max_mib: i64) -> Result<(Server, Conn)> {
    let mut server = Server::start(o.kind, o.durable, &o.programs, &o.store())?;
    let conn = serving(&mut server).await?;
    conn.create(o.durable, max_mib).await?;
    Ok((server, conn))
}

/// A connection once `server` accepts one.
async fn serving(server: &mut Server) -> Result<Conn> {
    let (kind, port) = (server.kind, server.port);
    connect_when_up(kind, port, &mut || server.check_alive()).await
}

async fn connections(o: &Options, server: &Server) -> Result<Vec<Conn>> {
    let mut conns = Vec::new();
    for _ in 0..o.conns {
        conns.push(Conn::connect(o.kind, server.port).await?);
    }
    Ok(conns)
}

fn label(o: &Options, what: &str) -> String {
    format!("{what}: {}", o.kind.label(o.durable))
}

/// W1–W4, W6: `conns` appenders with `window` appends in flight each, for `secs`.
pub async fn load(o: &Options) -> Result<()> {
    let (server, setup) = up(o, 1024).await?;
    let what = if o.window == 1 {
        format!("{} synchronous appender(s) of {} B", o.conns, o.size)
    } else {
        format!(
            "{} connection(s) × {} in flight, {} B",
            o.conns, o.window, o.size
        )
    };
    let pid = server.pid();
    if o.settle > 0.0 {
        tokio::time::sleep(Duration::from_secs_f64(o.settle)).await;
        let idle = status_kib(pid, "VmRSS")?;
        row(
            &o.row_key("idle_rss"),
            &label(o, "idle, one empty stream"),
            idle as f64 / 1024.0,
            "MiB",
            &format!("VmRSS {} s after the stream was created", o.settle),
        );
    }
    drop(setup);
    let conns = connections(o, &server).await?;
    let strace = match &o.strace {
        Some(program) => Some(Strace::attach(program, pid, &o.dir.join("strace.txt")).await?),
        None => None,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = rss_sampler(pid, stop.clone());
    let cpu0 = cpu_seconds(pid)?;
    let own0 = cpu_seconds(std::process::id())?;
    let start = now();
    let deadline = start + Duration::from_secs_f64(o.secs);
    let mut tasks = tokio::task::JoinSet::new();
    for (i, mut c) in conns.into_iter().enumerate() {
        let (size, window) = (o.size, o.window);
        tasks.spawn(async move {
            let mut n = 0u64;
            let bulk = payload(i as u64, size);
            while now() < deadline {
                if window == 1 {
                    c.append(payload(((i as u64) << 40) | n, size)).await?;
                    n += 1;
                } else {
                    c.append_pipelined(&bulk, BATCH, window).await?;
                    n += BATCH as u64;
                }
            }
            anyhow::Ok(n)
        });
    }
    let mut total = 0u64;
    while let Some(n) = tasks.join_next().await {
        total += n??;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds(pid)? - cpu0;
    let own = cpu_seconds(std::process::id())? - own0;
    stop.store(true, Ordering::Relaxed);
    let rss = sampler.await?;
    if let Some(strace) = strace {
        let calls = strace.finish()?;
        drop(server);
        syscall_rows(o, &calls, total);
        return Ok(());
    }
    drop(server);
    let note = format!("{total} appends in {elapsed:.2} s");
    let what = label(o, &what);
    row(
        &o.row_key("msgs"),
        &what,
        (total as f64 / elapsed).round(),
        "msg/s",
        &note,
    );
    let per = |s: f64| s / total.max(1) as f64 * 1e6;
    row(
        &o.row_key("cpu"),
        &what,
        per(cpu),
        "server CPU-µs per message",
        &format!("{cpu:.2} CPU-s (user + system, all threads) over the run"),
    );
    row(
        &o.row_key("client_cpu"),
        &what,
        per(own),
        "client CPU-µs per message",
        &format!("{own:.2} CPU-s of the benchmark process (the Rust client) over the run"),
    );
    row(
        &o.row_key("rss"),
        &what,
        rss as f64 / 1024.0,
        "MiB",
        "largest VmRSS sampled every 50 ms during the load",
    );
    Ok(())
}

/// The system calls per message of a traced load: `<key>.<server>.sys.<call>` rows.
fn syscall_rows(o: &Options, calls: &[(String, u64, u64)], total: u64) {
    let what = label(o, "system calls per message");
    let per = |n: u64| n as f64 / total.max(1) as f64;
    let sum: u64 = calls.iter().map(|c| c.1).sum();
    row(
        &o.row_key("sys.total"),
        &format!("{what}, all calls"),
        per(sum),
        "calls per message",
        &format!("strace -c -f over {total} messages"),
    );
    for (name, n, errors) in calls {
        let note = if *errors > 0 {
            format!("{n} calls, {errors} failed (EAGAIN and the like)")
        } else {
            format!("{n} calls")
        };
        row(
            &o.row_key(&format!("sys.{name}")),
            &format!("{what}: {name}"),
            per(*n),
            "calls per message",
            &note,
        );
    }
}

/// W5: `mib` MiB of 1 KiB messages, a last message with id 1, then kill -9 and restart
/// `rounds` times, each timed until that message is read.
pub async fn restart(o: &Options) -> Result<()> {
    let (mut server, mut conn) = up(o, (o.mib as i64 + 64) * 2).await?;
    let size = 1024;
    let bulk = payload(0, size);
    let count = ((o.mib << 20) / size as u64) as usize;
    let t = now();
    let mut left = count;
    while left > 0 {
        let n = left.min(BATCH);
        conn.append_pipelined(&bulk, n, 256).await?;
        left -= n;
    }
    conn.append(payload(1, size)).await?;
    eprintln!(
        "sm-bench: {:?} stored {} MiB in {:.1} s",
        o.kind,
        o.mib,
        t.elapsed().as_secs_f64()
    );
    drop(conn);
    // Settings that write or fsync in the background (Redis everysec) get time to do it:
    // this measures restart, not loss.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut times = Vec::new();
    let mut rss = 0;
    for _ in 0..o.rounds {
        server = server.restart()?;
        let t = now();
        let mut conn = serving(&mut server).await?;
        loop {
            if let Ok(Some(p)) = conn.newest().await {
                ensure!(
                    super::conn::payload_id(&p) == Some(1),
                    "the newest message after the restart is not the last one appended"
                );
                break;
            }
            ensure!(
                t.elapsed() < Duration::from_secs(120),
                "the newest message was not served within 120 s"
            );
            server.check_alive()?;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        rss = status_kib(server.pid(), "VmRSS").unwrap_or(0);
    }
    let mut sorted = times.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    let all: Vec<String> = times.iter().map(|t| format!("{t:.0}")).collect();
    let what = label(
        o,
        &format!("restart with {} MiB stored, after kill -9", o.mib),
    );
    let note = format!(
        "{count} messages of 1 KiB; page cache warm; median of {} restarts ({} ms)",
        times.len(),
        all.join(", ")
    );
    row(
        &o.row_key("read"),
        &what,
        median.round(),
        "ms until the newest message is read",
        &note,
    );
    row(
        &o.row_key("rss_after"),
        &what,
        rss as f64 / 1024.0,
        "MiB",
        "VmRSS once the newest message was read",
    );
    Ok(())
}

/// W7: synchronous appenders with unique ids, kill -9 after `kill_after` seconds, restart,
/// and the acknowledged ids that are not stored.
pub async fn loss(o: &Options) -> Result<()> {
    let (mut server, setup) = up(o, 1024).await?;
    drop(setup);
    let conns = connections(o, &server).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let acked: Vec<Arc<Mutex<Vec<u64>>>> = (0..o.conns).map(|_| Arc::default()).collect();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, mut c) in conns.into_iter().enumerate() {
        let (stop, acked, size) = (stop.clone(), acked[i].clone(), o.size);
        tasks.spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let id = ((i as u64) << 40) | n;
                if c.append(payload(id, size)).await.is_err() {
                    break;
                }
                acked.lock().expect("not poisoned").push(id);
                n += 1;
            }
        });
    }
    tokio::time::sleep(Duration::from_secs_f64(o.kill_after)).await;
    server.kill9();
    stop.store(true, Ordering::Relaxed);
    // Appends in flight at the kill fail (or hang in a reconnecting client): stop them.
    tokio::time::sleep(Duration::from_millis(200)).await;
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    let acked: Vec<u64> = acked
        .iter()
        .flat_map(|a| a.lock().expect("not poisoned").clone())
        .collect();
    let mut server = server.restart()?;
    let mut conn = serving(&mut server).await?;
    // A Redis loading its AOF answers LOADING until it is done.
    let t = now();
    while conn.newest().await.is_err() {
        ensure!(
            t.elapsed() < Duration::from_secs(120),
            "the store was not readable within 120 s of the restart"
        );
        server.check_alive()?;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let stored: HashSet<u64> = conn.all_ids().await.context("reading after the restart")?;
    let lost = acked.iter().filter(|id| !stored.contains(id)).count();
    let what = label(
        o,
        &format!("kill -9 during {} synchronous appender(s)", o.conns),
    );
    row(
        &o.row_key("lost"),
        &what,
        lost as f64,
        "acknowledged messages lost",
        &format!(
            "of {} acknowledged; {} stored after the restart; kill -9 after {} s",
            acked.len(),
            stored.len(),
            o.kill_after
        ),
    );
    row(
        &o.row_key("acked"),
        &what,
        acked.len() as f64,
        "messages acknowledged before the kill",
        "",
    );
    Ok(())
}
