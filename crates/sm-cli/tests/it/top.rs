//! `smctl top` in a real terminal: tmux runs it (`new-session`), the test reads the screen
//! with `capture-pane -p` and types with `send-keys`. The daemon exports to a local HTTP sink
//! (answers 200) and to a closed port (an error to show).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

use crate::daemon::{ok, Daemon};

/// A loopback HTTP/1.1 sink that answers every request 200 (keep-alive).
fn sink() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut r = BufReader::new(c.try_clone().unwrap());
                let mut w = c;
                loop {
                    let mut len = 0usize;
                    loop {
                        let mut line = String::new();
                        if r.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                        let lower = line.to_ascii_lowercase();
                        if let Some(v) = lower.strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0; len];
                    if r.read_exact(&mut body).is_err()
                        || w.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                            .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    port
}

/// A tmux server of the test's own (`-L`), killed on drop.
struct Tmux(String);

impl Tmux {
    fn cmd(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .args(["-L", &self.0])
            .args(args)
            .output()
            .expect("tmux must be installed (.ci/run installs it with apt-get)")
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", "top"]).stdout).into_owned()
    }

    /// Waits up to about 20 s (200 looks, 100 ms apart) for the screen to satisfy `f`.
    fn wait_for(&self, what: &str, f: impl Fn(&str) -> bool) -> String {
        for _ in 0..200 {
            let s = self.screen();
            if f(&s) {
                return s;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("{what}; screen:\n{}", self.screen());
    }

    /// Waits up to about 10 s for the session (and so the program in it) to end.
    fn wait_ended(&self, what: &str) {
        for _ in 0..200 {
            if !self.cmd(&["has-session", "-t", "top"]).status.success() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("{what}; screen:\n{}", self.screen());
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

/// The words of the screen line that starts (inside the table border) with `first` and
/// holds `second`.
fn row(screen: &str, first: &str, second: &str) -> Option<Vec<String>> {
    screen.lines().find_map(|l| {
        let words: Vec<String> = l
            .trim_matches(|c: char| c == '│' || c.is_whitespace())
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        (words.first().map(String::as_str) == Some(first) && words.iter().any(|w| w == second))
            .then_some(words)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn top_shows_streams_exports_rates_and_errors_and_quits_on_q() {
    let d = Daemon::start(&[]);
    let port = sink();
    ok(&d.run(
        &[
            "create",
            "telemetry",
            "--http-export",
            &format!("sink=http://127.0.0.1:{port}/in"),
        ],
        b"",
    ));
    ok(&d.run(
        &[
            "create",
            "down",
            "--http-export",
            "nowhere=http://127.0.0.1:1/",
        ],
        b"",
    ));
    ok(&d.run(&["append", "down"], b"m"));

    let tmux = Tmux(format!("smctl-top-{}", std::process::id()));
    let smctl = env!("CARGO_BIN_EXE_smctl");
    let command = format!("{smctl} --port {} top --interval 250", d.port);
    let out = tmux.cmd(&[
        "new-session",
        "-d",
        "-s",
        "top",
        "-x",
        "160",
        "-y",
        "30",
        &command,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let s = tmux.wait_for("the title and both streams", |s| {
        s.contains("smctl top") && s.contains("2 streams") && s.contains("telemetry")
    });
    assert!(s.contains("APPEND/S") && s.contains("LAST ERROR"), "{s}");

    // Appending continuously shows an append rate, then the export catches up.
    let c = d.client().await;
    let appender = tokio::spawn(async move {
        for _ in 0..40 {
            c.append_message("telemetry", b"payload").await.unwrap();
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    });
    let s = tmux.wait_for("an append rate above zero", |s| {
        row(s, "telemetry", "B").is_some_and(|r| r[1].parse::<f64>().is_ok_and(|v| v > 0.0))
    });
    assert!(row(&s, "telemetry", "http:sink").is_some(), "{s}");
    appender.await.unwrap();
    let s = tmux.wait_for("all 40 exported, lag 0", |s| {
        row(s, "telemetry", "http:sink").is_some_and(|r| r[2] == "0" && r[4] == "40")
    });
    // The export to a closed port shows its lag and error.
    let down = row(&s, "down", "http:nowhere").expect("the failing export's row");
    assert_eq!(down[2], "1", "{s}");
    assert_ne!(down[5], "-", "an error is shown: {s}");

    // q quits and gives the terminal back: the session ends with the program.
    tmux.cmd(&["send-keys", "-t", "top", "q"]);
    tmux.wait_ended("top did not quit on q");
}

#[test]
fn top_shows_an_unreachable_daemon_and_keeps_trying() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let tmux = Tmux(format!("smctl-top-down-{}", std::process::id()));
    let command = format!(
        "{} --port {port} top --interval 200",
        env!("CARGO_BIN_EXE_smctl")
    );
    tmux.cmd(&[
        "new-session",
        "-d",
        "-s",
        "top",
        "-x",
        "120",
        "-y",
        "20",
        &command,
    ]);
    tmux.wait_for("the connection error in the title", |s| {
        s.contains("could not connect to 127.0.0.1:")
    });
    tmux.cmd(&["send-keys", "-t", "top", "C-c"]);
    tmux.wait_ended("top did not quit on Ctrl-C");
}
