//! The latency run: appends at half of P2's one-connection rate, timed from their scheduled
//! send times.

use anyhow::{Context, Result};

use super::ctx::Ctx;

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
    ])
}
