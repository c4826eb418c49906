//! Counting a server's system calls over a load: `strace -c -f -p PID` attached to every
//! thread of the process, stopped with SIGINT after the load, its summary table parsed.
//! Tracing slows the server down, so a traced run reports only the calls per message.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};

/// A running `strace -c`.
pub struct Strace {
    child: Child,
    out: PathBuf,
}

impl Drop for Strace {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Strace {
    /// Attaches `strace` (the program at `program`) to every thread of `pid`, writing its
    /// summary to `out`; waits a moment for the attach.
    pub async fn attach(program: &Path, pid: u32, out: &Path) -> Result<Self> {
        let child = Command::new(program)
            .args(["-c", "-f", "-qq", "-o"])
            .arg(out)
            .args(["-p", &pid.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {}", program.display()))?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        Ok(Self {
            child,
            out: out.to_owned(),
        })
    }

    /// Detaches (SIGINT) and returns `(syscall, calls, errors)` of the summary.
    pub fn finish(mut self) -> Result<Vec<(String, u64, u64)>> {
        Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()?;
        self.child.wait()?;
        let text = std::fs::read_to_string(&self.out)?;
        Ok(parse(&text))
    }
}

/// The rows of `strace -c`'s table: `% time  seconds  usecs/call  calls  [errors]  syscall`.
fn parse(text: &str) -> Vec<(String, u64, u64)> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (calls, errors) = match f.len() {
                5 => (f[3], "0"),
                6 => (f[3], f[4]),
                _ => return None,
            };
            let name = *f.last()?;
            f[0].parse::<f64>().ok()?;
            (name != "total")
                .then(|| Some((name.to_owned(), calls.parse().ok()?, errors.parse().ok()?)))?
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_table_is_parsed() {
        let text = "% time     seconds  usecs/call     calls    errors syscall\n\
------ ----------- ----------- --------- --------- ----------------\n\
 61.20    0.120000          60      2000           fdatasync\n\
 20.00    0.040000          10      4000      1000 recvfrom\n\
------ ----------- ----------- --------- --------- ----------------\n\
100.00    0.160000          26      6000      1000 total\n";
        assert_eq!(
            parse(text),
            vec![
                ("fdatasync".to_owned(), 2000, 0),
                ("recvfrom".to_owned(), 4000, 1000)
            ]
        );
    }
}
