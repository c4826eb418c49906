//! P3: flushOnWrite appends (group commit), one appender in alternating rounds with its
//! reference (the disk's fsync rate), then 32 appenders with and without flushOnWrite and
//! 32 sharing one connection.

use anyhow::Result;

use super::ctx::Ctx;
use super::goals::{figure, Check, Goal};
use super::results::Results;
use super::Plan;

pub(super) fn run(ctx: &mut Ctx) -> Result<()> {
    let secs = ctx.plan.append_secs.to_string();
    let fsync_secs = ctx.plan.fsync_secs.to_string();
    ctx.sm_bench_median_of(
        ctx.plan.p3_rounds,
        &[
            (&["fsync", "--seconds", &fsync_secs], "fsync.append152"),
            (
                &["append", "--concurrency", "1", "--seconds", &secs],
                "append.flush.c1",
            ),
        ],
    )?;
    ctx.sm_bench(&["append", "--concurrency", "32", "--seconds", &secs])?;
    // What 32 appenders reach without any fsync (the CPU's ceiling for P3's 20×), and
    // with 32 appenders sharing one pipelined sm-client connection.
    for c in ["1", "32"] {
        ctx.sm_bench(&[
            "append",
            "--concurrency",
            c,
            "--flush",
            "false",
            "--seconds",
            &secs,
        ])?;
    }
    ctx.sm_bench(&[
        "append",
        "--concurrency",
        "32",
        "--connections",
        "1",
        "--seconds",
        &secs,
    ])
}

pub(super) fn goals(r: &Results, _: &Plan) -> Vec<Goal> {
    let one = || figure(r, "append.flush.c1", "appends/s (1 appender)");
    vec![
        Goal::new(
            "P3",
            "flushOnWrite, 1 appender",
            figure(r, "append.flush.c1", "appends/s"),
            figure(r, "fsync.append152", "fsyncs/s (152 B append + fdatasync)"),
            "≥ 80% of the fsync rate",
            Check::RatioAtLeast(0.8),
        ),
        Goal::new(
            "P3",
            "flushOnWrite, 32 appenders",
            figure(r, "append.flush.c32", "appends/s"),
            one(),
            "≥ 20× one appender",
            Check::RatioAtLeast(20.0),
        ),
        Goal::new(
            "P3",
            "32 appenders without flushOnWrite (no fsync at all)",
            figure(r, "append.buffered.c32", "appends/s"),
            figure(r, "append.flush.c1", "appends/s (1 flushOnWrite appender)"),
            "(informative: the ceiling of the line above)",
            Check::Informative,
        ),
        Goal::new(
            "P3",
            "32 flushOnWrite appenders sharing 1 sm-client connection",
            figure(r, "append.flush.conn1.c32", "appends/s"),
            one(),
            "(informative)",
            Check::Informative,
        ),
    ]
}
