//! P2: pipelined appends with sm-client (File and Memory streams, 1 and 8 connections, four
//! message sizes, the client's ceiling against the no-op server, and the sustained runs),
//! after its reference, the disk's sequential write bandwidth (`dd`).

use std::process::Command;

use anyhow::{Context, Result};

use super::ctx::Ctx;
use super::goals::{figure, Check, Goal};
use super::results::Results;
use super::Plan;

/// `dd` right before P2, so both meet the disk in the same state.
pub(super) fn run(ctx: &mut Ctx) -> Result<()> {
    dd(ctx)?;
    pipelined(ctx)
}

/// `dd if=/dev/zero of=FILE bs=1M count=N conv=fdatasync` in the store's file system.
fn dd(ctx: &mut Ctx) -> Result<()> {
    let file = ctx.work.join("dd-probe");
    let out = Command::new("dd")
        .arg("if=/dev/zero")
        .arg(format!("of={}", file.display()))
        .args([
            "bs=1M",
            &format!("count={}", ctx.plan.dd_mib),
            "conv=fdatasync",
        ])
        .env("LC_ALL", "C")
        .output()
        .context("running dd")?;
    let _ = std::fs::remove_file(&file);
    let text = String::from_utf8_lossy(&out.stderr);
    // "2147483648 bytes (2.1 GB, 2.0 GiB) copied, 10.1 s, 213 MB/s"
    let line = text
        .lines()
        .find(|l| l.contains(" copied, "))
        .with_context(|| format!("unexpected dd output: {text}"))?;
    let bytes: f64 = line
        .split_whitespace()
        .next()
        .and_then(|b| b.parse().ok())
        .context("dd byte count")?;
    let secs: f64 = line
        .split(" copied, ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .context("dd seconds")?;
    ctx.results.push(
        "dd.mbps",
        "sequential write, dd bs=1M conv=fdatasync",
        bytes / secs / 1e6,
        "MB/s",
        &format!("{} MiB in {secs:.2} s", ctx.plan.dd_mib),
    );
    Ok(())
}

fn pipelined(ctx: &mut Ctx) -> Result<()> {
    let secs = ctx.plan.p2_secs.to_string();
    for kind in ["file", "memory"] {
        for conns in ["1", "8"] {
            for size in ctx.plan.p2_sizes {
                let size = size.to_string();
                ctx.sm_bench(&[
                    "pipeline",
                    "--persistence",
                    kind,
                    "--conns",
                    conns,
                    "--size",
                    &size,
                    "--seconds",
                    &secs,
                ])?;
            }
        }
    }
    // sm-client's own ceiling: the same 512 B run against the no-op server.
    ctx.sm_bench(&[
        "pipeline",
        "--noop",
        "--key",
        "p2.noop.512.c1",
        "--size",
        "512",
        "--seconds",
        &secs,
    ])?;
    if ctx.plan.sustained_mib > 0 {
        let total = ctx.plan.sustained_mib.to_string();
        let max = (ctx.plan.sustained_mib + 1024).to_string();
        // Bandwidth with large messages (the goal's figure), and what 512 B messages get.
        for (key, size) in [("p2.sustained64k", "65536"), ("p2.sustained", "512")] {
            ctx.sm_bench(&[
                "pipeline",
                "--key",
                key,
                "--size",
                size,
                "--conns",
                "1",
                "--total-mib",
                &total,
                "--max-mib",
                &max,
            ])?;
        }
    }
    Ok(())
}

pub(super) fn goals(r: &Results, plan: &Plan) -> Vec<Goal> {
    let dd = figure(r, "dd.mbps", "MB/s (dd)");
    let sustained = |full: String, quick: &str| {
        if plan.sustained_mib > 0 {
            full
        } else {
            quick.to_owned()
        }
    };
    vec![
        Goal::new(
            "P2",
            "sm-client, 1 pipelined connection, 512 B, File, in page cache",
            figure(r, "p2.file.512.c1.msgs", "msg/s"),
            figure(r, "p2.noop.512.c1.msgs", "msg/s (sm-client → no-op server)"),
            "≥ 400,000 msg/s",
            Check::AtLeast(400_000.0),
        ),
        Goal::new(
            "P2",
            "same, payload bandwidth",
            figure(r, "p2.file.512.c1.mbps", "MB/s"),
            dd.clone(),
            "(informative)",
            Check::Informative,
        ),
        Goal::new(
            "P2",
            sustained(
                format!(
                    "sustained over {} GiB, 64 KiB messages, 1 connection, until synced",
                    plan.sustained_mib / 1024
                ),
                "sustained over 8 GiB (full run only)",
            ),
            figure(r, "p2.sustained64k.mbps_synced", "MB/s"),
            dd.clone(),
            "≥ 80% of dd",
            Check::RatioAtLeast(0.8),
        ),
        Goal::new(
            "P2",
            sustained(
                format!(
                    "same with 512 B messages ({} GiB)",
                    plan.sustained_mib / 1024
                ),
                "same with 512 B messages (full run only)",
            ),
            figure(r, "p2.sustained.mbps_synced", "MB/s"),
            dd,
            "(informative)",
            Check::Informative,
        ),
    ]
}
