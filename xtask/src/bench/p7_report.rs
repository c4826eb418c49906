//! P7's part of the report: the side-by-side table (one line per workload, one column per
//! server) and the goals, each against the best peer of the same run.

use std::fmt::Write as _;

use super::goals::{figure, Check, Goal};
use super::results::{num, Results};
use super::Plan;

/// The peers, by their `sm-bench peer --server` names.
const PEERS: [(&str, &str); 2] = [("nats", "NATS"), ("redis", "Redis")];

/// The best peer's `<key>.<peer>.<fig>`: the lowest if `lower`, else the highest; its value
/// and the unit naming the peer.
fn best_peer(r: &Results, key: &str, fig: &str, lower: bool, unit: &str) -> Option<(f64, String)> {
    PEERS
        .iter()
        .filter_map(|(p, name)| Some((r.get(&format!("{key}.{p}.{fig}"))?, *name)))
        .reduce(|a, b| if (b.0 < a.0) == lower { b } else { a })
        .map(|(v, name)| (v, format!("{unit} ({name})")))
}

pub(super) fn goals(r: &Results, plan: &Plan) -> Vec<Goal> {
    let sm = |key: &str, unit: &str| figure(r, &format!("{key}.sm.{}", key_fig(unit)), unit);
    vec![
        Goal::new(
            "P7",
            "W1 server CPU per durable append, 1 synchronous appender, Rust clients",
            sm("p7.w1", "CPU-µs"),
            best_peer(r, "p7.w1", "cpu", true, "CPU-µs"),
            "≤ 0.8× the best peer",
            Check::RatioAtMost(0.8),
        ),
        Goal::new(
            "P7",
            "W1 durable appends/s, 1 synchronous appender, Rust clients",
            sm("p7.w1", "msg/s"),
            best_peer(r, "p7.w1", "msgs", false, "msg/s"),
            "≥ 1.5× the best peer",
            Check::RatioAtLeast(1.5),
        ),
        floor_line(r, "p7.w1", "W1"),
        Goal::new(
            "P7",
            "W6 durable appends/s, 32 concurrent synchronous appenders",
            sm("p7.w6", "msg/s"),
            best_peer(r, "p7.w6", "msgs", false, "msg/s"),
            "≥ 1.5× the best peer",
            Check::RatioAtLeast(1.5),
        ),
        floor_line(r, "p7.w6", "W6"),
        kept_line(r, "sm", "this daemon"),
        kept_line(r, "floor", "the least server"),
        Goal::new(
            "P7",
            "W3 pipelined 512 B appends/s, 1 connection",
            sm("p7.w3", "msg/s"),
            best_peer(r, "p7.w3", "msgs", false, "msg/s"),
            "≥ 2× the best peer",
            Check::RatioAtLeast(2.0),
        ),
        Goal::new(
            "P7",
            "W4 RSS idle, one empty stream",
            figure(r, "p7.w3.sm.idle_rss", "MiB"),
            best_peer(r, "p7.w3", "idle_rss", true, "MiB"),
            "≤ 5 MiB",
            Check::AtMost(5.0),
        ),
        Goal::new(
            "P7",
            format!(
                "W5 restart with {} MiB stored, kill -9, until the newest message is read",
                plan.p7_w5_mib
            ),
            figure(r, "p7.w5.sm.read", "ms"),
            best_peer(r, "p7.w5", "read", true, "ms"),
            "≤ 50 ms",
            Check::AtMost(50.0),
        ),
        Goal::new(
            "P7",
            "W7 acknowledged messages lost to kill -9 during W6, flushOnWrite (acked after fsync)",
            figure(r, "p7.w7.w6.sm.lost", "lost"),
            worst_peer(r, "p7.w7.w6"),
            "0",
            Check::AtMost(0.0),
        ),
        Goal::new(
            "P7",
            "W7 the same during W2, without flushOnWrite (acked before fsync)",
            figure(r, "p7.w7.w2.sm.lost", "lost"),
            worst_peer(r, "p7.w7.w2"),
            "(informative: reported)",
            Check::Informative,
        ),
    ]
}

/// An informative line under a durable rate's goal: this daemon against the least server
/// (`sm-bench floor-server`), and what 1.5× the best peer would be.
fn floor_line(r: &Results, key: &str, name: &str) -> Goal {
    let asked =
        best_peer(r, key, "msgs", false, "").map_or("—".into(), |(best, _)| num(1.5 * best));
    Goal::new(
        "P7",
        format!("{name} durable appends/s against the least server: the same client, a server that only writes each append and fsyncs"),
        figure(r, &format!("{key}.sm.msgs"), "msg/s"),
        figure(r, &format!("{key}.floor.msgs"), "msg/s (the least server)"),
        format!("(informative: 1.5× the best peer is {asked}/s)"),
        Check::Informative,
    )
}

/// An informative line: what `server` keeps of its W6 rate without an fsync per ack when it
/// fsyncs before each ack (P3b's question at 512 B).
fn kept_line(r: &Results, server: &str, name: &str) -> Goal {
    Goal::new(
        "P7",
        format!("W6 durable appends/s of {name} against its own without an fsync per ack"),
        figure(r, &format!("p7.w6.{server}.msgs"), "msg/s"),
        figure(r, &format!("p7.w6n.{server}.msgs"), "msg/s (no fsync)"),
        "(informative: P3b asks ≥ 90% of this daemon)",
        Check::Informative,
    )
}

/// The most acknowledged messages a peer lost.
fn worst_peer(r: &Results, key: &str) -> Option<(f64, String)> {
    best_peer(r, key, "lost", false, "lost")
}

/// The figure of a row key for a unit of [`goals`].
fn key_fig(unit: &str) -> &'static str {
    match unit {
        "CPU-µs" => "cpu",
        _ => "msgs",
    }
}

/// `msgs/s · CPU-µs · MiB` of a load row, or what is known of it.
fn load_cell(r: &Results, key: &str, server: &str) -> String {
    let get = |fig: &str| r.get(&format!("{key}.{server}.{fig}"));
    match (get("msgs"), get("cpu"), get("rss")) {
        (Some(m), Some(c), Some(rss)) => format!("{}/s · {} µs · {} MiB", num(m), num(c), num(rss)),
        (Some(m), Some(c), None) => format!("{}/s · {} µs", num(m), num(c)),
        _ => "—".into(),
    }
}

/// `measured ÷ best peer` for msgs/s and CPU of a load row.
fn load_ratio(r: &Results, key: &str) -> String {
    let ratio = |fig: &str, lower: bool| -> Option<String> {
        let sm = r.get(&format!("{key}.sm.{fig}"))?;
        let (best, _) = best_peer(r, key, fig, lower, "")?;
        (best > 0.0).then(|| format!("{:.2}×", sm / best))
    };
    match (ratio("msgs", false), ratio("cpu", true)) {
        (Some(m), Some(c)) => format!("{m} msg/s · {c} CPU"),
        _ => "—".into(),
    }
}

/// The side-by-side table: one line per workload, one column per server.
pub(super) fn summary(s: &mut String, r: &Results, plan: &Plan) {
    let servers = ["sm", "nats", "redis"];
    for (peer, _) in PEERS {
        if r.get(&format!("p7.install.{peer}")) == Some(0.0) {
            let note = r
                .rows
                .iter()
                .find(|x| x.key == format!("p7.install.{peer}"))
                .map_or("", |x| x.note.as_str());
            let _ = writeln!(s, "**{peer} was not run:** {note}\n");
        }
    }
    s.push_str("| workload | this daemon | NATS JetStream 2 (file store) | Redis 7 Streams (AOF) | the least server (reference) | this daemon ÷ best peer |\n|---|---|---|---|---|---|\n");
    let loads = [
        ("p7.w1", "W1 fsync before each ack, 1 synchronous appender (flushOnWrite · sync_interval always · appendfsync always)"),
        ("p7.w2", "W2 the same without an fsync per ack (no flushOnWrite · default sync · everysec)"),
        ("p7.w3", "W3 pipelined 512 B, 1 connection, 256 in flight (settings of W2)"),
    ];
    let w6 = (
        "p7.w6",
        "W6 32 concurrent synchronous appenders, settings of W1",
    );
    let load_row = |s: &mut String, key: &str, what: &str| {
        let cells: Vec<String> = servers.iter().map(|sv| load_cell(r, key, sv)).collect();
        let _ = writeln!(
            s,
            "| {what} | {} | {} | {} | {} | {} |",
            cells[0],
            cells[1],
            cells[2],
            load_cell(r, key, "floor"),
            load_ratio(r, key)
        );
        if key == "p7.w1" || key == "p7.w2" {
            let _ = writeln!(
                s,
                "| {} with the official Python SDK | {} | — | — | — | |",
                &key[3..].to_uppercase(),
                load_cell(r, key, "sdk")
            );
        }
    };
    for (key, what) in loads {
        load_row(s, key, what);
    }
    let idle: Vec<String> = servers
        .iter()
        .map(|sv| {
            let get = |fig: &str| r.get(&format!("p7.w3.{sv}.{fig}"));
            match (get("idle_rss"), get("rss")) {
                (Some(i), Some(l)) => format!("{} MiB · {} MiB", num(i), num(l)),
                _ => "—".into(),
            }
        })
        .collect();
    let _ = writeln!(
        s,
        "| W4 RSS idle with one empty stream · largest under W3 | {} | {} | {} | — | |",
        idle[0], idle[1], idle[2]
    );
    let restart: Vec<String> = servers
        .iter()
        .map(|sv| {
            let get = |fig: &str| r.get(&format!("p7.w5.{sv}.{fig}"));
            match (get("read"), get("rss_after")) {
                (Some(t), Some(rss)) => format!("{} ms ({} MiB RSS after)", num(t), num(rss)),
                _ => "—".into(),
            }
        })
        .collect();
    let _ = writeln!(
        s,
        "| W5 {} MiB stored, kill -9, restart until the newest message is read | {} | {} | {} | — | |",
        plan.p7_w5_mib, restart[0], restart[1], restart[2]
    );
    load_row(s, w6.0, w6.1);
    load_row(
        s,
        "p7.w6n",
        "W6 without an fsync per ack (settings of W2; this daemon and the least server only)",
    );
    for (load, what) in [
        (
            "w2",
            "W7 acked messages lost to kill -9 during W2's load (settings of W2)",
        ),
        ("w6", "W7 the same during W6's load (settings of W1)"),
    ] {
        let cells: Vec<String> = servers
            .iter()
            .map(|sv| {
                let get = |fig: &str| r.get(&format!("p7.w7.{load}.{sv}.{fig}"));
                match (get("lost"), get("acked")) {
                    (Some(lost), Some(acked)) => format!("{lost:.0} of {}", num(acked)),
                    (Some(lost), None) => format!("{lost:.0}"),
                    _ => "—".into(),
                }
            })
            .collect();
        let _ = writeln!(
            s,
            "| {what} | {} | {} | {} | — | |",
            cells[0], cells[1], cells[2]
        );
    }
    s.push('\n');
    syscall_table(s, r);
}

/// System calls per durable append of W1, by server: the calls that any server makes at
/// least 0.05 times per append, then the total.
fn syscall_table(s: &mut String, r: &Results) {
    let servers = ["sm", "nats", "redis"];
    let mut names: Vec<&str> = r
        .rows
        .iter()
        .filter(|x| x.value >= 0.05)
        .filter_map(|x| x.key.strip_prefix("p7.sys."))
        .filter_map(|k| k.split_once(".sys.").map(|(_, n)| n))
        .filter(|n| *n != "total")
        .collect();
    if names.is_empty() {
        return;
    }
    names.sort_unstable();
    names.dedup();
    names.push("total");
    s.push_str("System calls per durable append, W1 (one synchronous appender, Rust clients; `strace -c -f` on all the server's threads over one traced run; in brackets the calls that failed, e.g. EAGAIN):\n\n| system call | this daemon | NATS | Redis |\n|---|---|---|---|\n");
    for name in names {
        let cells: Vec<String> = servers
            .iter()
            .map(|sv| {
                let key = format!("p7.sys.{sv}.sys.{name}");
                match r.rows.iter().find(|x| x.key == key) {
                    Some(row) => {
                        let failed = row
                            .note
                            .split_once(" calls, ")
                            .and_then(|(n, rest)| {
                                let f: f64 = rest.split_whitespace().next()?.parse().ok()?;
                                let n: f64 = n.parse().ok()?;
                                (n > 0.0).then(|| format!(" ({} failed)", num(row.value * f / n)))
                            })
                            .unwrap_or_default();
                        format!("{}{failed}", num(row.value))
                    }
                    None if r.get(&format!("p7.sys.{sv}.sys.total")).is_some() => "0".into(),
                    None => "—".into(),
                }
            })
            .collect();
        let _ = writeln!(s, "| {name} | {} | {} | {} |", cells[0], cells[1], cells[2]);
    }
    s.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_best_peer_is_the_lowest_or_highest_measured() {
        let mut r = Results::default();
        r.push("k.nats.cpu", "", 170.0, "", "");
        r.push("k.redis.cpu", "", 80.0, "", "");
        r.push("k.nats.msgs", "", 3000.0, "", "");
        assert_eq!(
            best_peer(&r, "k", "cpu", true, "µs"),
            Some((80.0, "µs (Redis)".into()))
        );
        assert_eq!(
            best_peer(&r, "k", "cpu", false, "µs"),
            Some((170.0, "µs (NATS)".into()))
        );
        assert_eq!(
            best_peer(&r, "k", "msgs", false, "msg/s"),
            Some((3000.0, "msg/s (NATS)".into())),
            "a peer that was not run is left out"
        );
        assert_eq!(best_peer(&r, "none", "cpu", true, ""), None);
    }

    #[test]
    fn goals_compare_the_daemon_with_the_best_peer() {
        let mut r = Results::default();
        for (k, v) in [
            ("p7.w1.sm.cpu", 60.0),
            ("p7.w1.nats.cpu", 170.0),
            ("p7.w1.redis.cpu", 80.0),
            ("p7.w1.sm.msgs", 3000.0),
            ("p7.w1.nats.msgs", 2000.0),
            ("p7.w1.redis.msgs", 1000.0),
            ("p7.w7.w6.sm.lost", 0.0),
            ("p7.w7.w6.redis.lost", 3.0),
        ] {
            r.push(k, "", v, "", "");
        }
        let g = goals(&r, &Plan::quick());
        let cpu = &g[0];
        assert_eq!(cpu.ratio(), Some(0.75));
        assert_eq!(cpu.met(), Some(true), "60 ≤ 0.8 × 80");
        assert_eq!(g[1].met(), Some(true), "3000 ≥ 1.5 × 2000");
        let w6 = g
            .iter()
            .find(|g| g.figure.starts_with("W6 durable appends/s, 32"));
        assert_eq!(w6.unwrap().met(), None, "W6 not measured");
        let lost = g.iter().find(|g| g.figure.contains("during W6")).unwrap();
        assert_eq!(lost.met(), Some(true));
        assert_eq!(lost.reference, Some((3.0, "lost (Redis)".into())));
        r.push("p7.sys.sm.sys.total", "", 9.2, "", "");
        r.push(
            "p7.sys.sm.sys.recvfrom",
            "",
            1.44,
            "",
            "3626 calls, 1113 failed (EAGAIN and the like)",
        );
        r.push("p7.sys.redis.sys.total", "", 5.06, "", "");
        r.push("p7.sys.redis.sys.read", "", 1.02, "", "1850 calls");
        let mut s = String::new();
        summary(&mut s, &r, &Plan::quick());
        assert!(s.contains("| read | 0 | — | 1.02 |"), "{s}");
        assert!(
            s.contains("| recvfrom | 1.44 (0.44 failed) | — | 0 |"),
            "{s}"
        );
        assert!(s.contains("| total | 9.20 | — | 5.06 |"), "{s}");
        assert!(s.contains("| 1.50× msg/s · 0.75× CPU |"), "{s}");
        assert!(s.contains("| 0 | — | 3 |"), "W7 cells: {s}");
    }

    #[test]
    fn a_peer_that_was_not_installed_is_named_with_its_note() {
        let mut r = Results::default();
        r.push(
            "p7.install.nats",
            "NATS server",
            0.0,
            "installed",
            "skipped: no wheel",
        );
        r.push("p7.install.redis", "Redis server", 1.0, "installed", "7.0");
        r.push("p7.w1.sm.msgs", "", 1000.0, "", "");
        r.push("p7.w1.sm.cpu", "", 60.0, "", "");
        r.push("p7.w1.redis.msgs", "", 500.0, "", "");
        r.push("p7.w1.redis.cpu", "", 80.0, "", "");
        r.push("p7.w1.floor.msgs", "", 1100.0, "", "");
        r.push("p7.w1.floor.cpu", "", 50.0, "", "");
        let mut s = String::new();
        summary(&mut s, &r, &Plan::quick());
        assert!(s.contains("**nats was not run:** skipped: no wheel"), "{s}");
        assert!(!s.contains("redis was not run"), "{s}");
        assert!(
            s.contains("| 1,000/s · 60.0 µs | — | 500/s · 80.0 µs | 1,100/s · 50.0 µs | 2.00× msg/s · 0.75× CPU |"),
            "the least server is a column, not a peer: {s}"
        );
        let g = goals(&r, &Plan::quick());
        assert_eq!(
            g[1].reference,
            Some((500.0, "msg/s (Redis)".into())),
            "the best peer that ran"
        );
        assert_eq!(
            g[2].reference,
            Some((1100.0, "msg/s (the least server)".into()))
        );
        assert_eq!(g[2].goal, "(informative: 1.5× the best peer is 750/s)");
        assert_eq!(g[2].met(), None);
        r.push("p7.w6.sm.msgs", "", 400.0, "", "");
        r.push("p7.w6n.sm.msgs", "", 800.0, "", "");
        let g = goals(&r, &Plan::quick());
        let kept = g
            .iter()
            .find(|g| g.figure.starts_with("W6 durable appends/s of this daemon"))
            .unwrap();
        assert_eq!(kept.ratio(), Some(0.5), "durable against no fsync");
    }
}
