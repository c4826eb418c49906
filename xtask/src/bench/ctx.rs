//! What every part of a run shares: the plan, the binaries, the work folder and the results;
//! and how a part runs an `sm-bench` measurement (once, or in alternating rounds keeping the
//! median).

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result};

use super::process::capture;
use super::results::{median_index, Results};
use super::Plan;

pub(super) struct Ctx {
    pub plan: Plan,
    /// A fresh folder for the stores, removed after the run.
    pub work: PathBuf,
    /// The daemon: the `release` binary (P7 swaps in the release artifact).
    pub daemon: PathBuf,
    /// The release `sm-bench`.
    pub sm_bench: PathBuf,
    /// The Python of the end-to-end suite's venv (with the official SDK).
    pub python: PathBuf,
    /// Where the latency run writes its distribution (for the plot).
    pub cdf: PathBuf,
    pub results: Results,
}

impl Ctx {
    /// Runs one `sm-bench` measurement and keeps its rows.
    pub fn sm_bench(&mut self, args: &[&str]) -> Result<()> {
        let out = self.sm_bench_output(args)?;
        self.results.parse(&out);
        Ok(())
    }

    pub fn sm_bench_output(&self, args: &[&str]) -> Result<String> {
        let mut cmd = Command::new(&self.sm_bench);
        cmd.args(args);
        if args.first() != Some(&"fsync") {
            cmd.arg("--binary").arg(&self.daemon);
        }
        cmd.arg("--dir").arg(&self.work);
        capture(&mut cmd, self.plan.timeout)
    }

    /// Runs each `(arguments, key)` sm-bench command `rounds` times, alternating, and keeps
    /// the rows of each command's run with the median `key`, noting every run's value. For
    /// a figure and its reference on this VM's shared disk, whose rate changes from one
    /// minute to the next: both get the same number of tries at the same times.
    pub fn sm_bench_median_of(&mut self, rounds: usize, cmds: &[(&[&str], &str)]) -> Result<()> {
        let mut runs: Vec<Vec<Results>> = cmds.iter().map(|_| Vec::new()).collect();
        for _ in 0..rounds {
            for ((args, _), runs) in cmds.iter().zip(&mut runs) {
                let mut r = Results::default();
                r.parse(&self.sm_bench_output(args)?);
                runs.push(r);
            }
        }
        for ((_, key), runs) in cmds.iter().zip(runs) {
            let values: Vec<f64> = runs.iter().map(|r| r.get(key).unwrap_or(0.0)).collect();
            let median = median_index(&values).with_context(|| format!("no run for {key}"))?;
            let all: Vec<String> = values.iter().map(|v| format!("{v:.0}")).collect();
            for row in &runs[median].rows {
                let mut note = row.note.clone();
                if row.key == *key && values.len() > 1 {
                    note = format!(
                        "{note}; median of {} alternating runs ({})",
                        values.len(),
                        all.join(", ")
                    );
                }
                self.results
                    .push(&row.key, &row.label, row.value, &row.unit, &note);
            }
        }
        Ok(())
    }
}
