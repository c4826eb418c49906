//! Append latency at a fixed, open-loop rate. A pacing thread releases each append at its
//! scheduled time (i / rate after the start), whether or not earlier ones were answered, and
//! each append's latency counts from that scheduled time, so a stall delays the requests
//! behind it in the figures too (no coordinated omission).

use std::fs;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use sm_client::{MessageStreamDefinition, Persistence, StrategyOnFull};

use crate::daemon::Daemon;
use crate::{arg_or, arg_req, now, row};

/// The latency at quantile `q` of sorted `v`.
fn quantile(v: &[u64], q: f64) -> u64 {
    let i = ((v.len() as f64 - 1.0) * q).round() as usize;
    v[i.min(v.len() - 1)]
}

pub async fn run(args: &[String]) -> Result<()> {
    let binary = PathBuf::from(arg_req(args, "--binary")?);
    let dir = PathBuf::from(arg_req(args, "--dir")?);
    let rate: f64 = arg_or(args, "--rate", 10_000.0)?;
    let secs: f64 = arg_or(args, "--seconds", 5.0)?;
    let warmup: f64 = arg_or(args, "--warmup", 0.5)?;
    let size: usize = arg_or(args, "--size", 512)?;
    let cdf = PathBuf::from(arg_req(args, "--cdf")?);
    ensure!(
        rate >= 1.0 && secs > 0.0,
        "--rate and --seconds must be positive"
    );
    let root = dir.join("latency");
    let _ = fs::remove_dir_all(&root);
    fs::create_dir_all(&root)?;
    let (daemon, _) = Daemon::start(&binary, &root)?;
    let client = daemon.client().await?;
    client
        .create_message_stream(&MessageStreamDefinition {
            name: "lat".into(),
            max_size: Some(1 << 30),
            stream_segment_size: Some(16 << 20),
            strategy_on_full: Some(StrategyOnFull::OverwriteOldestData),
            persistence: Some(Persistence::File),
            flush_on_write: Some(false),
            ..Default::default()
        })
        .await?;
    let total = ((warmup + secs) * rate) as u64;
    let skip = (warmup * rate) as u64;
    let samples: Arc<Mutex<Vec<u64>>> =
        Arc::new(Mutex::new(Vec::with_capacity((total - skip) as usize)));
    let failures = Arc::new(Mutex::new(0u64));
    let handle = tokio::runtime::Handle::current();
    let payload: Arc<[u8]> = vec![0x42u8; size].into();
    let pacer = {
        let (samples, failures, client) = (samples.clone(), failures.clone(), client.clone());
        std::thread::spawn(move || {
            let start = now();
            let mut tasks = Vec::with_capacity(total as usize);
            let mut i = 0u64;
            while i < total {
                let t = now();
                while i < total {
                    let scheduled = start + Duration::from_secs_f64(i as f64 / rate);
                    if scheduled > t {
                        std::thread::sleep(scheduled - t);
                        break;
                    }
                    let (samples, failures, client, payload) = (
                        samples.clone(),
                        failures.clone(),
                        client.clone(),
                        payload.clone(),
                    );
                    let record = i >= skip;
                    tasks.push(handle.spawn(async move {
                        let ok = client.append_message("lat", &payload[..]).await.is_ok();
                        let lat = Instant::elapsed(&scheduled).as_nanos() as u64;
                        if !ok {
                            *failures.lock().unwrap_or_else(|p| p.into_inner()) += 1;
                        } else if record {
                            samples.lock().unwrap_or_else(|p| p.into_inner()).push(lat);
                        }
                    }));
                    i += 1;
                }
            }
            (tasks, start.elapsed())
        })
    };
    let (tasks, sending) = tokio::task::spawn_blocking(move || pacer.join())
        .await?
        .map_err(|_| anyhow::anyhow!("the pacing thread panicked"))?;
    for t in tasks {
        t.await?;
    }
    daemon.kill();
    let _ = fs::remove_dir_all(&root);
    let failed = *failures.lock().unwrap_or_else(|p| p.into_inner());
    let mut v = std::mem::take(&mut *samples.lock().unwrap_or_else(|p| p.into_inner()));
    ensure!(!v.is_empty(), "no latency samples");
    v.sort_unstable();
    let note = format!(
        "{} appends of {size} B at {rate:.0}/s on one connection (sent in {:.2} s for {:.2} s scheduled), {failed} failed, first {warmup} s not counted",
        v.len(),
        sending.as_secs_f64(),
        total as f64 / rate
    );
    for (key, label, q) in [
        ("p50", "p50", 0.5),
        ("p90", "p90", 0.9),
        ("p99", "p99", 0.99),
        ("p999", "p99.9", 0.999),
        ("max", "max", 1.0),
    ] {
        row(
            &format!("lat.{key}"),
            label,
            quantile(&v, q) as f64 / 1000.0,
            "µs",
            &note,
        );
    }
    row("lat.rate", "offered rate", rate.round(), "msg/s", &note);
    // The distribution for the plot: evenly spaced quantiles plus the tail.
    let mut out = std::io::BufWriter::new(fs::File::create(&cdf)?);
    let mut qs: Vec<f64> = (0..=200).map(|k| f64::from(k) / 200.0).collect();
    qs.extend([0.991, 0.993, 0.995, 0.997, 0.998, 0.999, 0.9995, 0.9999]);
    qs.sort_by(f64::total_cmp);
    for q in qs {
        writeln!(out, "{q} {}", quantile(&v, q) as f64 / 1000.0)?;
    }
    out.flush()?;
    Ok(())
}
