//! The report's SVG plots: P2's rates and bandwidth by message size, and the latency
//! distribution.

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::results::Results;
use super::svg::{self, Axis, Chart, Series};

/// Writes the SVG plots; returns (title, path) of each.
pub(super) fn write_plots(
    r: &Results,
    cdf: &[(f64, f64)],
    dir: &Path,
) -> Result<Vec<(String, PathBuf)>> {
    let sizes = [64.0, 512.0, 4096.0, 65536.0];
    let size_ticks: Vec<(f64, String)> = vec![
        (64.0, "64 B".into()),
        (512.0, "512 B".into()),
        (4096.0, "4 KiB".into()),
        (65536.0, "64 KiB".into()),
    ];
    let lines = |metric: &str| -> Vec<Series> {
        let mut out = Vec::new();
        for kind in ["file", "memory"] {
            for conns in [1, 8] {
                let points: Vec<(f64, f64)> = sizes
                    .iter()
                    .filter_map(|s| {
                        r.get(&format!("p2.{kind}.{s}.c{conns}.{metric}"))
                            .map(|v| (*s, v))
                    })
                    .collect();
                if !points.is_empty() {
                    out.push(Series {
                        name: format!("{kind}, {conns} conn"),
                        points,
                        dashed: false,
                    });
                }
            }
        }
        out
    };
    let msgs = lines("msgs");
    let mut mbps = lines("mbps");
    if let Some(dd) = r.get("dd.mbps") {
        mbps.push(Series {
            name: "dd (disk bandwidth)".into(),
            points: vec![(64.0, dd), (65536.0, dd)],
            dashed: true,
        });
    }
    let mut written = Vec::new();
    let mut save = |name: &str, title: &str, chart: Chart| -> Result<()> {
        let path = dir.join(name);
        std::fs::write(&path, chart.to_svg())?;
        written.push((title.to_owned(), path));
        Ok(())
    };
    save(
        "p2-messages.svg",
        "P2: appends per second vs message size",
        Chart {
            title: "P2: pipelined appends per second vs message size".into(),
            x: Axis::new("message size", true).with_ticks(size_ticks.clone()),
            y: Axis::new("appends / s", true),
            series: msgs,
        },
    )?;
    save(
        "p2-bandwidth.svg",
        "P2: payload bandwidth vs message size",
        Chart {
            title: "P2: payload bandwidth vs message size".into(),
            x: Axis::new("message size", true).with_ticks(size_ticks),
            y: Axis::new("MB / s", true),
            series: mbps,
        },
    )?;
    // Latency by percentile, HdrHistogram-style: x = log10(1 / (1 - q)).
    let points: Vec<(f64, f64)> = cdf
        .iter()
        .filter(|(q, v)| *q < 1.0 && *v > 0.0)
        .map(|(q, v)| ((1.0 / (1.0 - q)).log10(), *v))
        .collect();
    if !points.is_empty() {
        let rate = r.get("lat.rate").unwrap_or(0.0);
        save(
            "latency.svg",
            "Append latency distribution at half the maximum rate",
            Chart {
                title: format!(
                    "Append latency at {} msg/s (half the max), 512 B, File",
                    svg::short(rate)
                ),
                x: Axis::new("percentile", false).with_ticks(vec![
                    (0.0, "0%".into()),
                    (1.0, "90%".into()),
                    (2.0, "99%".into()),
                    (3.0, "99.9%".into()),
                    (4.0, "99.99%".into()),
                ]),
                y: Axis::new("latency (µs)", true),
                series: vec![Series {
                    name: "from scheduled send".into(),
                    points,
                    dashed: false,
                }],
            },
        )?;
    }
    Ok(written)
}
