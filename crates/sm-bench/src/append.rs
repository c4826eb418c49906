//! flushOnWrite appends per second (P3): N connections with one append in flight each, as N
//! SDK clients would do; the daemon's group commit should let N appenders share fsyncs.
//! Besides the rate it reports the daemon's CPU time per append and, with flushOnWrite, the
//! stream's group-commit fsyncs (from the daemon's metrics endpoint): fsyncs per second and
//! appends per fsync.

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use sm_client::{Client, ClientConfig, MessageStreamDefinition, StrategyOnFull};

use crate::daemon::{cpu_seconds, Daemon};
use crate::{arg_or, arg_req, now, row};

pub async fn run(args: &[String]) -> Result<()> {
    let binary = PathBuf::from(arg_req(args, "--binary")?);
    let dir = PathBuf::from(arg_req(args, "--dir")?);
    let concurrency: usize = arg_or(args, "--concurrency", 1)?;
    // Appenders share connections round-robin when there are fewer connections (sm-client
    // pipelines the requests of concurrent callers on one connection).
    let connections: usize = arg_or(args, "--connections", concurrency)?.clamp(1, concurrency);
    let secs: f64 = arg_or(args, "--seconds", 5.0)?;
    let payload_len: usize = arg_or(args, "--payload", 128)?;
    let flush: bool = arg_or(args, "--flush", true)?;
    let root = dir.join(format!("append-{concurrency}"));
    let _ = fs::remove_dir_all(&root);
    fs::create_dir_all(&root)?;
    // A free port for the metrics endpoint (released just before the daemon binds it).
    let metrics = TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let (daemon, _) = Daemon::start_with(
        &binary,
        &root,
        &["--metrics-address".into(), metrics.to_string()],
    )?;
    let setup = daemon.client().await?;
    setup
        .create_message_stream(&MessageStreamDefinition {
            name: "bench".into(),
            flush_on_write: Some(flush),
            strategy_on_full: Some(StrategyOnFull::OverwriteOldestData),
            max_size: Some(1 << 30),
            ..Default::default()
        })
        .await?;
    let port = daemon.port;
    let pid = daemon.pid();
    let start_counters =
        move || -> Result<(u64, f64)> { Ok((stream_fsyncs(metrics)?, cpu_seconds(pid)?)) };
    let (total, start, (fsyncs0, cpu0)) = drive(
        port,
        concurrency,
        connections,
        payload_len,
        secs,
        start_counters,
    )
    .await?;
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds(daemon.pid())? - cpu0;
    let fsyncs = stream_fsyncs(metrics)? - fsyncs0;
    let rate = total as f64 / elapsed;
    daemon.kill();
    let _ = fs::remove_dir_all(&root);
    let (key, what) = if flush {
        ("flush", "flushOnWrite")
    } else {
        ("buffered", "buffered (no flushOnWrite)")
    };
    let (key, what) = if connections == concurrency {
        (
            key.to_string(),
            format!("{what} appends, {concurrency} concurrent appender(s)"),
        )
    } else {
        (
            format!("{key}.conn{connections}"),
            format!(
                "{what} appends, {concurrency} concurrent appenders on {connections} connection(s)"
            ),
        )
    };
    row(
        &format!("append.{key}.c{concurrency}"),
        &what,
        rate.round(),
        "appends/s",
        &format!("{payload_len} B payloads, {total} appends in {secs} s"),
    );
    row(
        &format!("append.{key}.c{concurrency}.cpu"),
        &what,
        (cpu * 1e6 / total.max(1) as f64 * 100.0).round() / 100.0,
        "daemon CPU-µs per append",
        &format!("{cpu:.2} CPU-s (user + system) over the run"),
    );
    if flush {
        row(
            &format!("append.{key}.c{concurrency}.fsyncs"),
            &what,
            (fsyncs as f64 / elapsed).round(),
            "group-commit fsyncs/s",
            &format!(
                "{fsyncs} fsyncs, {:.1} appends per fsync",
                total as f64 / fsyncs.max(1) as f64
            ),
        );
    }
    Ok(())
}

/// Connects `connections` clients, calls `on_start` (returning counters sampled at the
/// start), then runs `concurrency` appenders over them (round-robin), one append in flight
/// each, for `secs`. Returns the appends, the start time and `on_start`'s result.
async fn drive<T>(
    port: u16,
    concurrency: usize,
    connections: usize,
    payload_len: usize,
    secs: f64,
    on_start: impl FnOnce() -> Result<T>,
) -> Result<(u64, Instant, T)> {
    let mut clients = Vec::new();
    for _ in 0..connections {
        let mut config = ClientConfig::new("127.0.0.1", port);
        config.request_timeout = Duration::from_secs(120);
        clients.push(Client::connect(config).await?);
    }
    let counters = on_start()?;
    let start = now();
    let deadline = start + Duration::from_secs_f64(secs);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..concurrency {
        let c = clients[i % connections].clone();
        tasks.spawn(async move {
            let payload = vec![0x42u8; payload_len];
            let mut n = 0u64;
            while now() < deadline {
                c.append_message("bench", &payload).await?;
                n += 1;
            }
            anyhow::Ok(n)
        });
    }
    let mut total = 0;
    while let Some(n) = tasks.join_next().await {
        total += n??;
    }
    Ok((total, start, counters))
}

/// The stream's group-commit fsyncs so far, from the daemon's metrics endpoint.
fn stream_fsyncs(addr: std::net::SocketAddr) -> Result<u64> {
    let mut conn = TcpStream::connect(addr).context("connecting to the metrics endpoint")?;
    conn.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")?;
    let mut text = String::new();
    conn.read_to_string(&mut text)?;
    text.lines()
        .find_map(|l| l.strip_prefix("stream_manager_stream_fsyncs_total{stream=\"bench\"} "))
        .and_then(|v| v.trim().parse().ok())
        .context("no stream_manager_stream_fsyncs_total for the bench stream in /metrics")
}
