//! Line charts as hand-written SVG for BENCHMARKS.md: axes (linear or log10, with automatic
//! or given ticks), dashed or solid series with point markers, a legend; no dependencies.

use std::fmt::Write;

const W: f64 = 760.0;
const H: f64 = 440.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 230.0;
const TOP: f64 = 44.0;
const BOTTOM: f64 = 58.0;
const COLORS: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
];

/// One axis.
pub struct Axis {
    /// Label under (x) or beside (y) the axis.
    pub label: String,
    /// Log10 scale (values must be positive).
    pub log: bool,
    /// Tick positions and labels; automatic when `None`.
    pub ticks: Option<Vec<(f64, String)>>,
}

impl Axis {
    /// An axis with automatic ticks.
    pub fn new(label: &str, log: bool) -> Self {
        Self {
            label: label.into(),
            log,
            ticks: None,
        }
    }

    /// The same axis with the given ticks.
    pub fn with_ticks(mut self, ticks: Vec<(f64, String)>) -> Self {
        self.ticks = Some(ticks);
        self
    }
}

/// One line of a chart.
pub struct Series {
    /// Legend text.
    pub name: String,
    /// Points (x, y); drawn in this order.
    pub points: Vec<(f64, f64)>,
    /// A dashed line without markers (for references).
    pub dashed: bool,
}

/// A line chart.
pub struct Chart {
    /// Title above the plot.
    pub title: String,
    /// Horizontal axis.
    pub x: Axis,
    /// Vertical axis.
    pub y: Axis,
    /// The lines.
    pub series: Vec<Series>,
}

/// Compact number for tick labels: 1.5k, 20M, 0.25.
pub fn short(v: f64) -> String {
    let a = v.abs();
    let (n, suffix) = if a >= 1e9 {
        (v / 1e9, "G")
    } else if a >= 1e6 {
        (v / 1e6, "M")
    } else if a >= 1e3 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    let s = if n.fract().abs() < 1e-9 || n.abs() >= 10.0 {
        format!("{n:.0}")
    } else {
        let s = format!("{n:.2}");
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    };
    format!("{s}{suffix}")
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

struct Scale {
    lo: f64,
    hi: f64,
    log: bool,
    from: f64,
    to: f64,
}

impl Scale {
    fn map(&self, v: f64) -> f64 {
        let (v, lo, hi) = if self.log {
            (v.max(1e-300).log10(), self.lo.log10(), self.hi.log10())
        } else {
            (v, self.lo, self.hi)
        };
        let t = if hi > lo { (v - lo) / (hi - lo) } else { 0.5 };
        self.from + t * (self.to - self.from)
    }
}

/// The data range of an axis, widened to whole decades (log) or nice steps (linear), and
/// its ticks.
fn range(values: &[f64], axis: &Axis) -> (f64, f64, Vec<(f64, String)>) {
    let vals: Vec<f64> = values
        .iter()
        .copied()
        .filter(|v| v.is_finite() && (!axis.log || *v > 0.0))
        .collect();
    let (mut lo, mut hi) = vals
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(*v), b.max(*v))
        });
    if !lo.is_finite() {
        (lo, hi) = if axis.log { (1.0, 10.0) } else { (0.0, 1.0) };
    }
    if let Some(t) = &axis.ticks {
        for (v, _) in t {
            lo = lo.min(*v);
            hi = hi.max(*v);
        }
        return (lo, hi, t.clone());
    }
    if axis.log {
        let (a, b) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
        let b = b.max(a + 1);
        let ticks = (a..=b)
            .map(|e| (10f64.powi(e), short(10f64.powi(e))))
            .collect();
        (10f64.powi(a), 10f64.powi(b), ticks)
    } else {
        lo = lo.min(0.0);
        if hi <= lo {
            hi = lo + 1.0;
        }
        let raw = (hi - lo) / 6.0;
        let mag = 10f64.powf(raw.log10().floor());
        let step = [1.0, 2.0, 5.0, 10.0]
            .iter()
            .map(|m| m * mag)
            .find(|s| *s >= raw)
            .unwrap_or(10.0 * mag);
        let lo = (lo / step).floor() * step;
        let hi = (hi / step).ceil() * step;
        let n = ((hi - lo) / step).round() as i64;
        let ticks = (0..=n)
            .map(|i| {
                let v = lo + i as f64 * step;
                (v, short(v))
            })
            .collect();
        (lo, hi, ticks)
    }
}

impl Chart {
    /// The chart as an SVG document.
    pub fn to_svg(&self) -> String {
        let xs: Vec<f64> = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.0))
            .collect();
        let ys: Vec<f64> = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1))
            .collect();
        let (x0, x1, xt) = range(&xs, &self.x);
        let (y0, y1, yt) = range(&ys, &self.y);
        let sx = Scale {
            lo: x0,
            hi: x1,
            log: self.x.log,
            from: LEFT,
            to: W - RIGHT,
        };
        let sy = Scale {
            lo: y0,
            hi: y1,
            log: self.y.log,
            from: H - BOTTOM,
            to: TOP,
        };
        let mut s = String::new();
        let _ = writeln!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
        );
        let _ = writeln!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
        let _ = writeln!(
            s,
            r#"<text x="{}" y="24" font-size="15" text-anchor="middle" font-weight="bold">{}</text>"#,
            (LEFT + W - RIGHT) / 2.0,
            escape(&self.title)
        );
        for (v, label) in &xt {
            let x = sx.map(*v);
            let _ = writeln!(
                s,
                r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{:.1}" stroke="#e5e5e5"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
                H - BOTTOM,
                H - BOTTOM + 18.0,
                escape(label)
            );
        }
        for (v, label) in &yt {
            let y = sy.map(*v);
            let _ = writeln!(
                s,
                r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#e5e5e5"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
                W - RIGHT,
                LEFT - 6.0,
                y + 4.0,
                escape(label)
            );
        }
        let _ = writeln!(
            s,
            r#"<rect x="{LEFT}" y="{TOP}" width="{:.1}" height="{:.1}" fill="none" stroke="black"/>"#,
            W - RIGHT - LEFT,
            H - BOTTOM - TOP
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            (LEFT + W - RIGHT) / 2.0,
            H - 14.0,
            escape(&self.x.label)
        );
        let _ = writeln!(
            s,
            r#"<text transform="translate(18 {:.1}) rotate(-90)" text-anchor="middle">{}</text>"#,
            (TOP + H - BOTTOM) / 2.0,
            escape(&self.y.label)
        );
        for (i, series) in self.series.iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            let pts: Vec<String> = series
                .points
                .iter()
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .map(|&(x, y)| format!("{:.1},{:.1}", sx.map(x), sy.map(y)))
                .collect();
            let dash = if series.dashed {
                r#" stroke-dasharray="6 4""#
            } else {
                ""
            };
            let _ = writeln!(
                s,
                r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2"{dash}/>"#,
                pts.join(" ")
            );
            if !series.dashed && series.points.len() <= 32 {
                for p in &pts {
                    let (x, y) = p.split_once(',').unwrap_or(("0", "0"));
                    let _ = writeln!(s, r#"<circle cx="{x}" cy="{y}" r="3" fill="{color}"/>"#);
                }
            }
            let ly = TOP + 10.0 + 20.0 * i as f64;
            let lx = W - RIGHT + 14.0;
            let _ = writeln!(
                s,
                r#"<line x1="{lx}" y1="{ly}" x2="{:.1}" y2="{ly}" stroke="{color}" stroke-width="2"{dash}/><text x="{:.1}" y="{:.1}">{}</text>"#,
                lx + 24.0,
                lx + 30.0,
                ly + 4.0,
                escape(&series.name)
            );
        }
        s.push_str("</svg>\n");
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_numbers() {
        assert_eq!(short(0.0), "0");
        assert_eq!(short(1500.0), "1.5k");
        assert_eq!(short(400_000.0), "400k");
        assert_eq!(short(2e6), "2M");
        assert_eq!(short(0.25), "0.25");
    }

    #[test]
    fn log_axis_spans_whole_decades() {
        let (lo, hi, ticks) = range(&[3.0, 4500.0], &Axis::new("x", true));
        assert_eq!((lo, hi), (1.0, 10_000.0));
        assert_eq!(ticks.len(), 5);
        assert_eq!(ticks[3].1, "1k");
    }

    #[test]
    fn linear_axis_starts_at_zero_with_nice_steps() {
        let (lo, hi, ticks) = range(&[12.0, 87.0], &Axis::new("y", false));
        assert_eq!(lo, 0.0);
        assert!(hi >= 87.0);
        assert!(ticks.windows(2).all(|w| w[1].0 > w[0].0));
    }

    #[test]
    fn chart_has_every_series_and_escapes_text() {
        let chart = Chart {
            title: "a < b".into(),
            x: Axis::new("size", true),
            y: Axis::new("rate", false),
            series: vec![
                Series {
                    name: "one".into(),
                    points: vec![(64.0, 10.0), (512.0, 20.0)],
                    dashed: false,
                },
                Series {
                    name: "ref & co".into(),
                    points: vec![(64.0, 30.0), (512.0, 30.0)],
                    dashed: true,
                },
            ],
        };
        let svg = chart.to_svg();
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("a &lt; b"));
        assert!(svg.contains("ref &amp; co"));
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert_eq!(svg.matches("<circle").count(), 2);
    }
}
