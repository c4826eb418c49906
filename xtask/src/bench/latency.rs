//! The latency run: appends at half of P2's one-connection rate, timed from their scheduled
//! send times.

use anyhow::{Context, Result};

use super::ctx::Ctx;
use super::goals::{figure, Check, Goal};
use super::results::Results;
use super::Plan;

pub(super) fn run(ctx: &mut Ctx) -> Result<()> {
    let max = ctx
        .results
        .get("p2.file.512.c1.msgs")
        .context("the latency run needs P2's 512 B one-connection rate")?;
    let rate = (max / 2.0).round().max(1.0).to_string();
    let secs = ctx.plan.latency_secs.to_string();
    let cdf = ctx.cdf.to_string_lossy().into_owned();
    ctx.sm_bench(&[
        "latency",
        "--rate",
        &rate,
        "--seconds",
        &secs,
        "--cdf",
        &cdf,
    ])?;
    // Another connection's latency while a lone synchronous flushOnWrite appender runs (it
    // syncs on its own worker), against the same run without it, at a rate well below the
    // maximum.
    let side = ctx.plan.latency_side_rate.to_string();
    let secs = ctx.plan.latency_side_secs.to_string();
    let cdf = ctx
        .work
        .join("latency-side.cdf")
        .to_string_lossy()
        .into_owned();
    for (key, label, extra) in [
        ("lat.quiet", format!("{side}/s, alone"), None),
        (
            "lat.fw",
            format!("{side}/s, beside a lone flushOnWrite appender on another connection"),
            Some("--flush-appender"),
        ),
    ] {
        let mut args = vec![
            "latency",
            "--rate",
            &side,
            "--seconds",
            &secs,
            "--cdf",
            &cdf,
            "--key",
            key,
            "--label",
            &label,
        ];
        args.extend(extra);
        ctx.sm_bench(&args)?;
    }
    Ok(())
}

pub(super) fn goals(r: &Results, _: &Plan) -> Vec<Goal> {
    vec![Goal::new(
        "Latency",
        "p99 of a connection beside a lone synchronous flushOnWrite appender",
        figure(r, "lat.fw.p99", "µs"),
        figure(r, "lat.quiet.p99", "µs (without the appender)"),
        "(informative: what a lone durable appender costs another connection)",
        Check::Informative,
    )]
}
