//! P4 (resident memory, idle and under load), P5 (restart time) and P6 (HTTP export to a
//! local sink): the parts without a reference measured beside them.

use anyhow::Result;

use super::ctx::Ctx;
use super::export;
use super::goals::{figure, Check, Goal};
use super::results::Results;
use super::Plan;

pub(super) fn p4(ctx: &mut Ctx) -> Result<()> {
    ctx.sm_bench(&["rss-idle", "--settle", &ctx.plan.idle_settle.to_string()])?;
    ctx.sm_bench(&[
        "pipeline",
        "--key",
        "p4.load",
        "--size",
        "512",
        "--conns",
        "8",
        "--streams",
        "100",
        "--seconds",
        &ctx.plan.load_secs.to_string(),
    ])
}

pub(super) fn p6(ctx: &mut Ctx) -> Result<()> {
    let timeout = ctx.plan.timeout;
    for (messages, payload, batch) in ctx.plan.export.clone() {
        let r = export::http_export(&ctx.daemon, &ctx.work, messages, payload, batch, timeout)?;
        let label = format!("{messages} × {payload} B backlog, JSON_BATCHED, batch {batch}");
        let note = format!(
            "{:.2} s, {:.1} payload MB/s",
            r.seconds,
            r.messages as f64 * r.payload_bytes as f64 / r.seconds / 1e6
        );
        let key = format!("p6.{payload}.b{batch}");
        ctx.results.push(
            &format!("{key}.msgs"),
            &label,
            (r.messages as f64 / r.seconds).round(),
            "msg/s",
            &note,
        );
        ctx.results.push(
            &format!("{key}.cpu"),
            &label,
            r.cpu_seconds / r.messages as f64 * 1e6,
            "daemon CPU-s per million messages",
            &note,
        );
    }
    Ok(())
}

pub(super) fn p5(ctx: &mut Ctx) -> Result<()> {
    let mib = ctx.plan.restart_mib.to_string();
    ctx.sm_bench(&["restart", "--streams", "100", "--mib", &mib])
}

pub(super) fn p4_goals(r: &Results, _: &Plan) -> Vec<Goal> {
    vec![
        Goal::new(
            "P4",
            "RSS, idle",
            figure(r, "p4.idle", "MiB"),
            None,
            "≤ 8 MiB",
            Check::AtMost(8.0),
        ),
        Goal::new(
            "P4",
            "RSS, during P2 load over 100 streams (largest sample)",
            figure(r, "p4.load.rss", "MiB"),
            None,
            "≤ 64 MiB",
            Check::AtMost(64.0),
        ),
    ]
}

pub(super) fn p5_goals(r: &Results, plan: &Plan) -> Vec<Goal> {
    let worst = r
        .rows
        .iter()
        .filter(|x| x.key.starts_with("restart.") && x.key.ends_with(".read"))
        .map(|x| x.value)
        .fold(None, |a: Option<f64>, v| Some(a.map_or(v, |a| a.max(v))));
    vec![Goal::new(
        "P5",
        format!(
            "restart with {} MiB in 100 streams, worst case until the newest message is read",
            plan.restart_mib
        ),
        worst.map(|v| (v, "ms".to_owned())),
        None,
        "≤ 1 s",
        Check::AtMost(1000.0),
    )]
}

pub(super) fn p6_goals(r: &Results, _: &Plan) -> Vec<Goal> {
    vec![Goal::new(
        "P6",
        "HTTP export to a local sink, 512 B, batch 500",
        figure(r, "p6.512.b500.msgs", "msg/s"),
        None,
        "≥ 200,000 msg/s",
        Check::AtLeast(200_000.0),
    )]
}
