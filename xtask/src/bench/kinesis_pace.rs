//! P9 of `cargo xtask bench`: a Kinesis export fed at 3× its stream's capacity.
//!
//! `xtask/bench/kinesis_pace.py` (with the end-to-end venv's Python, which has the official SDK
//! and the suite's `FakeAws`) starts a fake Kinesis whose 2-shard stream enforces the
//! per-shard write limits, feeds the daemon's export with `sm-bench feed` at 6,000 records a
//! second, once with `ListShards` allowed and once refused, and prints one JSON object; this
//! module turns it into rows and goals.

use std::path::Path;

use anyhow::Result;
use serde_json::Value;

use super::ctx::Ctx;
use super::goals::{figure, Check, Goal};
use super::impaired::run_script;
use super::results::Results;
use super::Plan;

pub(super) fn run(ctx: &mut Ctx) -> Result<()> {
    let sm_bench = ctx.sm_bench.clone();
    let v = run_script(
        ctx,
        "kinesis_pace.py",
        &[Path::new("--sm-bench"), &sm_bench],
        "P9",
    )?;
    rows(&mut ctx.results, &v);
    Ok(())
}

fn f(v: &Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or(f64::NAN)
}

/// The rows of P9's result (`p9.*`).
fn rows(r: &mut Results, v: &Value) {
    let capacity = f(v, "capacity");
    r.push(
        "p9.capacity",
        "the stream's capacity: 2 shards × 1,000 records/s",
        capacity,
        "records/s",
        &format!(
            "{} B records (with a 36-character partition key the record limit binds, not the byte limit)",
            v["size"]
        ),
    );
    for (case, what) in [
        ("listshards", "ListShards allowed (shard budgets)"),
        ("adaptive", "ListShards refused (paced from the throttling)"),
    ] {
        let c = &v["cases"][case];
        let note = format!(
            "fed {:.0} records/s for {:.0} s; {} calls; accepted per shard {}; ListShards {}; second half {:.0} records/s, {:.1}% throttled",
            f(c, "fed"),
            f(c, "seconds"),
            c["calls"],
            c["per_shard"],
            c["list_shards"],
            f(c, "rate_second_half"),
            f(c, "throttled_share_second_half") * 100.0
        );
        r.push(
            &format!("p9.{case}.rate"),
            &format!("records accepted, {what}"),
            f(c, "rate").round(),
            "records/s",
            &note,
        );
        r.push(
            &format!("p9.{case}.throttled"),
            &format!("records throttled, {what}"),
            f(c, "throttled_share") * 100.0,
            "% of sent",
            &format!("{} of {} records sent", c["throttled"], c["sent"]),
        );
    }
}

pub(super) fn goals(r: &Results, _: &Plan) -> Vec<Goal> {
    let capacity = || figure(r, "p9.capacity", "records/s (capacity)");
    let mut g = Vec::new();
    for (case, what, share, throttled) in [
        ("listshards", "with ListShards", 0.9, 5.0),
        ("adaptive", "without ListShards", 0.8, 20.0),
    ] {
        g.push(Goal::new(
            "P9",
            format!("Kinesis fed at 3× capacity, {what}: records accepted"),
            figure(r, &format!("p9.{case}.rate"), "records/s"),
            capacity(),
            format!("≥ {:.0}% of capacity", share * 100.0),
            Check::RatioAtLeast(share),
        ));
        g.push(Goal::new(
            "P9",
            format!("Kinesis fed at 3× capacity, {what}: records throttled"),
            figure(r, &format!("p9.{case}.throttled"), "% of sent"),
            None,
            format!("< {throttled:.0}%"),
            Check::AtMost(throttled),
        ));
    }
    g
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_and_goals_from_the_script() {
        let v: Value = serde_json::from_str(
            r#"{"capacity": 2000, "feed_rate": 6000, "size": 100, "seconds": 20, "cases": {
                "listshards": {"fed": 6000, "seconds": 20, "rate": 1880, "rate_second_half": 1900,
                    "sent": 37700, "accepted": 37600, "throttled": 100, "throttled_share": 0.00265,
                    "throttled_share_second_half": 0.001, "calls": 90, "per_shard": [18800, 18800],
                    "list_shards": {"ok": 1}},
                "adaptive": {"fed": 6000, "seconds": 20, "rate": 1500, "rate_second_half": 1900,
                    "sent": 40000, "accepted": 30000, "throttled": 10000, "throttled_share": 0.25,
                    "throttled_share_second_half": 0.05, "calls": 120, "per_shard": [15000, 15000],
                    "list_shards": {"denied": 1}}}}"#,
        )
        .unwrap();
        let mut r = Results::default();
        rows(&mut r, &v);
        assert_eq!(r.get("p9.listshards.rate"), Some(1880.0));
        assert_eq!(r.get("p9.adaptive.throttled"), Some(25.0));
        let g = goals(&r, &Plan::quick());
        let met: Vec<Option<bool>> = g.iter().map(Goal::met).collect();
        assert_eq!(met, [Some(true), Some(true), Some(false), Some(false)]);
    }
}
