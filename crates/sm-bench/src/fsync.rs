//! The machine's fsync rate: the reference of flushOnWrite appends (P3).

use std::fs::{self, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use anyhow::Result;

use crate::{arg_or, arg_req, now, row};

pub fn run(args: &[String]) -> Result<()> {
    let dir = PathBuf::from(arg_req(args, "--dir")?);
    let secs: f64 = arg_or(args, "--seconds", 3.0)?;
    fs::create_dir_all(&dir)?;
    let path = dir.join("fsync-probe");
    let measure = |size: usize, overwrite: bool| -> Result<(f64, f64)> {
        let f = OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(&path)?;
        let buf = vec![0x5au8; size];
        if overwrite {
            for i in 0..4096u64 {
                f.write_all_at(&buf, i * size as u64)?;
            }
            f.sync_all()?;
        }
        let start = now();
        let mut n = 0u64;
        while start.elapsed().as_secs_f64() < secs {
            let at = if overwrite {
                (n % 4096) * size as u64
            } else {
                n * size as u64
            };
            f.write_all_at(&buf, at)?;
            f.sync_data()?;
            n += 1;
        }
        let t = start.elapsed().as_secs_f64();
        Ok((n as f64 / t, t * 1e6 / n as f64))
    };
    let (a, a_lat) = measure(4096, false)?;
    row(
        "fsync.append4k",
        "4 KiB write + fdatasync, appending",
        a.round(),
        "ops/s",
        &format!("avg {a_lat:.0} µs"),
    );
    let (o, o_lat) = measure(4096, true)?;
    row(
        "fsync.overwrite4k",
        "4 KiB write + fdatasync, overwriting",
        o.round(),
        "ops/s",
        &format!("avg {o_lat:.0} µs"),
    );
    let (s, s_lat) = measure(152, false)?;
    row(
        "fsync.append152",
        "152 B append + fdatasync (one small record)",
        s.round(),
        "ops/s",
        &format!("avg {s_lat:.0} µs"),
    );
    fs::remove_file(&path)?;
    Ok(())
}
