//! Restart time (P5): a store of S File streams holding M MiB, written directly as valid
//! segment files, then starts of the daemon timed until it accepts connections and until a
//! read of the newest message is answered.

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{ensure, Result};
use sm_client::ReadMessagesOptions;

use crate::daemon::Daemon;
use crate::{arg_or, arg_req, now, row};

/// Writes `streams` File streams of `total` bytes of 1 KiB messages, in 16 MiB segments.
fn write_store(root: &Path, streams: usize, total: u64) -> Result<(u64, i64)> {
    let per_stream = total / streams as u64;
    let payload = vec![0x61u8; 1024];
    let seg_size = 16u64 << 20;
    let mut count = 0;
    for s in 0..streams {
        let dir = root.join(format!("bench-{s:03}"));
        fs::create_dir_all(&dir)?;
        let def = format!(
            "{{\"formatVersion\":1,\"definition\":{{\"name\":\"bench-{s:03}\",\"maxSize\":{total},\"streamSegmentSize\":{seg_size},\"strategyOnFull\":1,\"persistence\":0,\"flushOnWrite\":false}}}}"
        );
        fs::write(dir.join("stream.json"), def)?;
        let mut written = 0u64;
        let mut seq = 0u64;
        let mut out: Option<BufWriter<File>> = None;
        let mut seg_len = 0u64;
        let rec = sm_log::RECORD_HEADER_LEN + payload.len() as u64;
        while written + rec <= per_stream {
            if out.is_none() || seg_len + rec > seg_size {
                if let Some(mut w) = out.take() {
                    w.flush()?;
                }
                let mut w = BufWriter::with_capacity(
                    1 << 20,
                    File::create(dir.join(sm_log::segment_file_name(seq)))?,
                );
                w.write_all(&sm_log::segment_header(seq))?;
                seg_len = sm_log::SEGMENT_HEADER_LEN;
                written += seg_len;
                out = Some(w);
            }
            let w = out.as_mut().expect("segment open");
            w.write_all(&sm_log::record_header(
                seq,
                1_700_000_000_000 + seq as i64,
                &payload,
            ))?;
            w.write_all(&payload)?;
            seg_len += rec;
            written += rec;
            seq += 1;
        }
        if let Some(mut w) = out.take() {
            w.flush()?;
        }
        count = seq as i64;
    }
    // Make the data durable and out of the way, as after a long-running daemon.
    Command::new("sync").status()?;
    Ok((per_stream, count))
}

fn drop_caches() -> bool {
    OpenOptions::new()
        .write(true)
        .open("/proc/sys/vm/drop_caches")
        .and_then(|mut f| f.write_all(b"3\n"))
        .is_ok()
}

pub async fn run(args: &[String]) -> Result<()> {
    let binary = PathBuf::from(arg_req(args, "--binary")?);
    let dir = PathBuf::from(arg_req(args, "--dir")?);
    let streams: usize = arg_or(args, "--streams", 100)?;
    let mib: u64 = arg_or(args, "--mib", 4096)?;
    ensure!(streams > 0, "--streams must be positive");
    let root = dir.join("restart");
    let _ = fs::remove_dir_all(&root);
    fs::create_dir_all(&root)?;
    let t = now();
    eprintln!("sm-bench: writing {mib} MiB in {streams} streams");
    let (per_stream, count) = write_store(&root, streams, mib << 20)?;
    eprintln!("sm-bench: written in {:.1} s", t.elapsed().as_secs_f64());
    let note = format!(
        "{streams} File streams × {:.1} MiB of 1 KiB messages, 16 MiB segments",
        per_stream as f64 / f64::from(1 << 20)
    );
    let last = format!("bench-{:03}", streams - 1);
    let cases: [(&str, &str, bool); 4] = [
        (
            "first",
            "first start, no checkpoints (last segments scanned whole)",
            false,
        ),
        ("clean", "after a clean stop", false),
        ("kill", "after kill -9", false),
        ("kill-cold", "after kill -9", true),
    ];
    for (i, (key, label, cold)) in cases.into_iter().enumerate() {
        let dropped = cold && drop_caches();
        let (d, accepting) = Daemon::start(&binary, &root)?;
        let t = now();
        let c = d.client().await?;
        let read = c
            .read_messages(
                &last,
                ReadMessagesOptions {
                    desired_start_sequence_number: Some(count - 1),
                    min_message_count: Some(1),
                    max_message_count: Some(1),
                    read_timeout_millis: Some(0),
                },
            )
            .await?;
        ensure!(read.len() == 1, "the newest message was not served");
        let first_read = t.elapsed() + accepting;
        let cache = if !cold {
            "page cache warm"
        } else if dropped {
            "page cache dropped"
        } else {
            "page cache warm (could not drop it)"
        };
        row(
            &format!("restart.{key}"),
            &format!("restart with {mib} MiB stored: {label}"),
            (accepting.as_secs_f64() * 1000.0).round(),
            "ms until accepting",
            &format!("{cache}; {note}"),
        );
        row(
            &format!("restart.{key}.read"),
            &format!("restart with {mib} MiB stored: {label}"),
            (first_read.as_secs_f64() * 1000.0).round(),
            "ms until the newest message is read",
            &format!("{cache}; {note}"),
        );
        drop(c);
        // The first start ends with a clean stop (so the next one is "after a clean stop");
        // the others with kill -9.
        if i == 0 {
            d.terminate()?;
        } else {
            d.kill();
        }
    }
    fs::remove_dir_all(&root)?;
    Ok(())
}
