//! The goals table: one line per goal of a part, its figure beside the reference it is
//! compared with (both from the same run), the ratio, and whether it is met. Each part lists
//! its own goals (its `goals` function in the registry, [`super::PARTS`]).

use std::fmt::Write as _;

use super::results::{num, Results};

/// What a goal checks.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Check {
    /// Measured / reference ≥ this.
    RatioAtLeast(f64),
    /// Measured / reference ≤ this.
    RatioAtMost(f64),
    /// Measured ≥ this.
    AtLeast(f64),
    /// Measured ≤ this.
    AtMost(f64),
    /// Nothing: an informative line (or a retired goal), shown without a status.
    Informative,
}

/// One line of the goals table.
pub(super) struct Goal {
    pub part: &'static str,
    pub figure: String,
    pub measured: Option<(f64, String)>,
    pub reference: Option<(f64, String)>,
    /// The goal as written in the table.
    pub goal: String,
    pub check: Check,
}

impl Goal {
    pub fn new(
        part: &'static str,
        figure: impl Into<String>,
        measured: Option<(f64, String)>,
        reference: Option<(f64, String)>,
        goal: impl Into<String>,
        check: Check,
    ) -> Self {
        Self {
            part,
            figure: figure.into(),
            measured,
            reference,
            goal: goal.into(),
            check,
        }
    }

    pub fn ratio(&self) -> Option<f64> {
        match (&self.measured, &self.reference) {
            (Some((m, _)), Some((r, _))) if *r > 0.0 => Some(m / r),
            _ => None,
        }
    }

    /// `None` when not measured (or informative).
    pub fn met(&self) -> Option<bool> {
        let value = || self.measured.as_ref().map(|m| m.0);
        Some(match self.check {
            Check::RatioAtLeast(t) => self.ratio()? >= t,
            Check::RatioAtMost(t) => self.ratio()? <= t,
            Check::AtLeast(t) => value()? >= t,
            Check::AtMost(t) => value()? <= t,
            Check::Informative => return None,
        })
    }
}

/// `(value, unit)` of the row `key`, if measured.
pub(super) fn figure(r: &Results, key: &str, unit: &str) -> Option<(f64, String)> {
    r.get(key).map(|v| (v, unit.to_owned()))
}

/// Writes the goals table.
pub(super) fn table(s: &mut String, goals: &[Goal]) {
    s.push_str("## Goals\n\n| part | figure | measured | reference (same run) | ratio | goal | status |\n|---|---|---|---|---|---|---|\n");
    for g in goals {
        let measured = g
            .measured
            .as_ref()
            .map_or("not measured".into(), |(v, u)| format!("{} {u}", num(*v)));
        let reference = g
            .reference
            .as_ref()
            .map_or("—".into(), |(v, u)| format!("{} {u}", num(*v)));
        let ratio = g.ratio().map_or("—".into(), |x| {
            if x < 2.0 {
                format!("{:.0}%", x * 100.0)
            } else {
                format!("{x:.1}×")
            }
        });
        let status = if g.check == Check::Informative {
            ""
        } else {
            match g.met() {
                Some(true) => "met",
                Some(false) => "**missed**",
                None => "not measured",
            }
        };
        let _ = writeln!(
            s,
            "| {} | {} | {measured} | {reference} | {ratio} | {} | {status} |",
            g.part, g.figure, g.goal
        );
    }
    s.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goals_compare_ratios_or_values() {
        let m = |v: f64| Some((v, "x".to_owned()));
        let ratio = Goal::new("P", "f", m(960.0), m(1000.0), "", Check::RatioAtLeast(0.95));
        assert_eq!(ratio.met(), Some(true));
        assert_eq!(ratio.ratio(), Some(0.96));
        assert_eq!(
            Goal::new("P", "f", m(9.0), None, "", Check::AtMost(8.0)).met(),
            Some(false)
        );
        assert_eq!(
            Goal::new("P", "f", None, None, "", Check::AtLeast(1.0)).met(),
            None
        );
        assert_eq!(
            Goal::new("P", "f", m(1.0), m(1.0), "", Check::Informative).met(),
            None
        );
        let mut s = String::new();
        table(&mut s, &[ratio]);
        assert!(
            s.contains("| P | f | 960 x | 1,000 x | 96% |  | met |"),
            "{s}"
        );
    }
}
