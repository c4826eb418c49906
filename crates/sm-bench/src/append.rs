//! flushOnWrite appends per second (P3): N connections with one append in flight each, as N
//! SDK clients would do; the daemon's group commit should let N appenders share fsyncs.

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use sm_client::{MessageStreamDefinition, StrategyOnFull};

use crate::daemon::Daemon;
use crate::{arg_or, arg_req, now, row};

pub async fn run(args: &[String]) -> Result<()> {
    let binary = PathBuf::from(arg_req(args, "--binary")?);
    let dir = PathBuf::from(arg_req(args, "--dir")?);
    let concurrency: usize = arg_or(args, "--concurrency", 1)?;
    let secs: f64 = arg_or(args, "--seconds", 5.0)?;
    let payload_len: usize = arg_or(args, "--payload", 128)?;
    let flush: bool = arg_or(args, "--flush", true)?;
    let root = dir.join(format!("append-{concurrency}"));
    let _ = fs::remove_dir_all(&root);
    fs::create_dir_all(&root)?;
    let (daemon, _) = Daemon::start(&binary, &root)?;
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
    let mut clients = Vec::new();
    for _ in 0..concurrency {
        clients.push(daemon.client().await?);
    }
    let start = now();
    let deadline = start + Duration::from_secs_f64(secs);
    let mut tasks = tokio::task::JoinSet::new();
    for c in clients {
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
    let rate = total as f64 / start.elapsed().as_secs_f64();
    daemon.kill();
    let _ = fs::remove_dir_all(&root);
    let (key, what) = if flush {
        ("flush", "flushOnWrite")
    } else {
        ("buffered", "buffered (no flushOnWrite)")
    };
    row(
        &format!("append.{key}.c{concurrency}"),
        &format!("{what} appends, {concurrency} concurrent appender(s)"),
        rate.round(),
        "appends/s",
        &format!("{payload_len} B payloads, {total} appends in {secs} s"),
    );
    Ok(())
}
