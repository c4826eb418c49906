//! P8 of `cargo xtask bench`: the daemon's exports over an impaired link.
//!
//! `xtask/bench/impaired.py` (run as root with the end-to-end venv's Python, which has the
//! official SDK) makes a network namespace and a veth pair, starts the destinations inside it,
//! shapes the link (`tc tbf`, nftables random drops, the link down for an outage; latency from a
//! delaying relay, since this kernel has no `netem`), runs the daemon's exports through it and
//! prints one JSON object; this module turns it into rows and goals. Where namespaces or the
//! tools are missing the script says why and the part is reported as skipped.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::Value;

use super::ctx::Ctx;
use super::goals::{figure, Check, Goal};
use super::process::capture;
use super::results::Results;
use super::Plan;
use crate::root;

pub(super) fn run(ctx: &mut Ctx) -> Result<()> {
    let v = run_script(ctx, "impaired.py", &[], "P8")?;
    rows(&mut ctx.results, &v);
    Ok(())
}

/// Runs `xtask/bench/<script>` with the end-to-end venv's Python, `--binary`, `extra` and
/// `--quick` when the plan is quick, and returns the JSON object of its last such line. The
/// scripts take longer than the quick plan's 60 s: at least 300 s each.
pub(super) fn run_script(ctx: &Ctx, script: &str, extra: &[&Path], part: &str) -> Result<Value> {
    let mut cmd = Command::new(&ctx.python);
    cmd.arg(root().join("xtask/bench").join(script))
        .arg("--binary")
        .arg(&ctx.daemon)
        .args(extra);
    if ctx.plan.quick {
        cmd.arg("--quick");
    }
    let out = capture(&mut cmd, ctx.plan.timeout.max(Duration::from_secs(300)))?;
    let line = out
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .with_context(|| format!("{part} printed no result"))?;
    serde_json::from_str(line).with_context(|| format!("{part}'s result is not JSON"))
}

fn f(v: &Value, path: &[&str]) -> f64 {
    path.iter()
        .fold(v, |v, k| &v[*k])
        .as_f64()
        .unwrap_or(f64::NAN)
}

/// The rows of P8's result (`p8.*`), or one row saying why it was skipped.
fn rows(r: &mut Results, v: &Value) {
    if let Some(why) = v["skipped"].as_str() {
        r.push(
            "p8.skipped",
            "P8 skipped",
            0.0,
            "ran",
            &format!("skipped: {why}"),
        );
        return;
    }
    let link = "1 Mbit/s, 200 ms added round trip, 2% loss";
    let ref_rate = f(v, &["ref_bytes_per_s"]);
    r.push(
        "p8.ref",
        &format!("plain TCP transfer, {link}"),
        ref_rate / 1000.0,
        "kB/s",
        "the link's goodput",
    );
    let a = &v["a"];
    let note = format!(
        "{} records of 1 kB, JSON_BATCHED, batch 500, in {:.1} s; payload {:.1} kB/s",
        a["records"],
        f(a, &["seconds"]),
        f(a, &["payload_bytes_per_s"]) / 1000.0
    );
    r.push(
        "p8.a",
        &format!("HTTP export of a backlog, {link}"),
        f(a, &["bytes_per_s"]) / 1000.0,
        "kB/s",
        &note,
    );
    let b = &v["b"];
    let note = format!(
        "{} records behind after a {} s outage, appends at 20/s going on; the link needs {:.1} s for them",
        b["backlog"],
        b["outage_s"],
        f(b, &["link_s"])
    );
    r.push(
        "p8.b.drain",
        &format!("drain after an outage, {link}"),
        f(b, &["drain_s"]),
        "s",
        &note,
    );
    r.push(
        "p8.b.link",
        "time the link needs for that backlog",
        f(b, &["link_s"]),
        "s",
        "from the plain TCP transfer",
    );
    for kind in ["http", "kinesis"] {
        let c = &v["c"][kind];
        let note = format!(
            "{} records of 200 B; fault-free {:.1} s, with 30% 500s {:.1} s",
            c["records"],
            f(c, &["clean_s"]),
            f(c, &["flaky_s"])
        );
        let label =
            format!("{kind} export, 50 ms added round trip, 30% of calls answered 500, defaults");
        r.push(
            &format!("p8.c.{kind}"),
            &label,
            f(c, &["ratio"]) * 100.0,
            "% of fault-free",
            &note,
        );
    }
    let (mut lost, mut dups) = (0.0, 0.0);
    for s in v["d"].as_object().into_iter().flatten().map(|(_, s)| s) {
        dups += s["duplicates"].as_f64().unwrap_or(0.0);
    }
    let expected = [("http:/a", &v["a"]), ("http:/b", &v["b"])];
    for (key, run) in expected {
        lost += (run["records"].as_f64().unwrap_or(0.0) - f(v, &["d", key, "unique"])).max(0.0);
    }
    for kind in ["http", "kinesis"] {
        let n = f(v, &["c", kind, "records"]);
        for fail in [0, 30] {
            let key = match kind {
                "http" => format!("http:/http-{fail}"),
                _ => format!("kinesis:kinesis-{fail}"),
            };
            lost += (n - f(v, &["d", &key, "unique"])).max(0.0);
        }
    }
    r.push(
        "p8.d.lost",
        "records lost (counted by the destinations)",
        lost,
        "records",
        "must be 0",
    );
    r.push(
        "p8.d.dups",
        "records received twice",
        dups,
        "records",
        "from timed-out calls and resends",
    );
}

pub(super) fn goals(r: &Results, _: &Plan) -> Vec<Goal> {
    if r.get("p8.skipped").is_some() {
        return vec![Goal::new(
            "P8",
            "exports over an impaired link",
            None,
            None,
            "skipped",
            Check::Informative,
        )];
    }
    vec![
        Goal::new(
            "P8",
            "(a) HTTP export goodput at 1 Mbit/s, 200 ms, 2% loss",
            figure(r, "p8.a", "kB/s"),
            figure(r, "p8.ref", "kB/s (plain TCP)"),
            "≥ 85% of plain TCP",
            Check::RatioAtLeast(0.85),
        ),
        Goal::new(
            "P8",
            "(b) drain after an outage",
            figure(r, "p8.b.drain", "s"),
            figure(r, "p8.b.link", "s (link time)"),
            "informative",
            Check::Informative,
        ),
        Goal::new(
            "P8",
            "(c) HTTP, 50 ms and 30% 500s, defaults",
            figure(r, "p8.c.http", "% of fault-free"),
            None,
            "≥ 50%",
            Check::AtLeast(50.0),
        ),
        Goal::new(
            "P8",
            "(c) Kinesis, 50 ms and 30% 500s, defaults",
            figure(r, "p8.c.kinesis", "% of fault-free"),
            None,
            "≥ 50%",
            Check::AtLeast(50.0),
        ),
        Goal::new(
            "P8",
            "(d) records lost",
            figure(r, "p8.d.lost", "records"),
            None,
            "0",
            Check::AtMost(0.0),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_and_goals_from_the_script() {
        let v: Value = serde_json::from_str(
            r#"{"ref_bytes_per_s": 120000, "a": {"seconds": 10, "records": 600, "bytes": 1100000,
                "bytes_per_s": 110000, "payload_bytes_per_s": 60000, "dups": 0},
                "b": {"outage_s": 10, "backlog": 200, "drain_s": 8, "link_s": 3, "records": 300, "dups": 0},
                "c": {"http": {"records": 3000, "clean_s": 2, "flaky_s": 3, "ratio": 0.66, "dups": 0},
                      "kinesis": {"records": 5000, "clean_s": 1, "flaky_s": 1.5, "ratio": 0.66, "dups": 0}},
                "d": {"http:/a": {"unique": 600, "duplicates": 0}, "http:/b": {"unique": 299, "duplicates": 2},
                      "http:/http-0": {"unique": 3000, "duplicates": 0}, "http:/http-30": {"unique": 3000, "duplicates": 0},
                      "kinesis:kinesis-0": {"unique": 5000, "duplicates": 0}, "kinesis:kinesis-30": {"unique": 5000, "duplicates": 0}}}"#,
        )
        .unwrap();
        let mut r = Results::default();
        rows(&mut r, &v);
        assert_eq!(r.get("p8.a"), Some(110.0));
        assert_eq!(r.get("p8.c.http"), Some(66.0));
        assert_eq!(
            r.get("p8.d.lost"),
            Some(1.0),
            "one of b's 300 never arrived"
        );
        assert_eq!(r.get("p8.d.dups"), Some(2.0));
        let g = goals(&r, &Plan::quick());
        assert_eq!(g.len(), 5);
        let mut skipped = Results::default();
        rows(&mut skipped, &serde_json::json!({"skipped": "not root"}));
        assert_eq!(goals(&skipped, &Plan::quick())[0].check, Check::Informative);
    }
}
