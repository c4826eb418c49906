//! Each subcommand against the real daemon, output checked.

use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;
use std::time::Duration;

use base64::Engine;
use sm_client::{ExportDefinition, HttpConfig, MessageStreamDefinition, StrategyOnFull};

use crate::daemon::{ok, Daemon};

fn stream(name: &str) -> MessageStreamDefinition {
    MessageStreamDefinition {
        name: name.into(),
        strategy_on_full: Some(StrategyOnFull::OverwriteOldestData),
        ..Default::default()
    }
}

#[tokio::test]
async fn append_lines_then_read_in_every_format() {
    let d = Daemon::start(&[]);
    d.client()
        .await
        .create_message_stream(&stream("s"))
        .await
        .unwrap();

    let out = d.run(
        &["append", "s", "--lines"],
        b"first\nsecond line\r\n\nthird\xff\n",
    );
    assert_eq!(ok(&out), "0\n1\n2\n");

    let out = ok(&d.run(
        &[
            "read", "s", "--from", "0", "--count", "10", "--format", "json",
        ],
        b"",
    ));
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let b64 = base64::engine::general_purpose::STANDARD;
    let expected: [&[u8]; 3] = [b"first", b"second line", b"third\xff"];
    assert_eq!(lines.len(), 3, "{out}");
    for (i, (v, want)) in lines.iter().zip(expected).enumerate() {
        assert_eq!(v["sequenceNumber"], i);
        assert_eq!(v["streamName"], "s");
        assert!(v["ingestTime"].as_i64().unwrap() > 1_600_000_000_000, "{v}");
        assert_eq!(b64.decode(v["payload"].as_str().unwrap()).unwrap(), want);
    }
    assert_eq!(lines[1]["payloadText"], "second line");
    assert!(
        lines[2].get("payloadText").is_none(),
        "not UTF-8: {}",
        lines[2]
    );

    // --from and --count select a window; text and hex print one line per message.
    let out = d.run(&["read", "s", "--from", "1", "--count", "1"], b"");
    assert_eq!(ok(&out), "1\tsecond line\n");
    let out = d.run(&["read", "s", "--from", "1", "--format", "hex"], b"");
    assert_eq!(ok(&out), "1\t7365636f6e64206c696e65\n2\t7468697264ff\n");
    // Past the newest message: nothing, successfully.
    assert_eq!(ok(&d.run(&["read", "s", "--from", "3"], b"")), "");

    // Without --lines, stdin is one message, newlines included.
    let out = d.run(&["append", "s"], b"a\nb\n");
    assert_eq!(ok(&out), "3\n");
    let out = d.run(&["read", "s", "--from", "3", "--format", "text"], b"");
    assert_eq!(ok(&out), "3\ta\\nb\\n\n");
}

#[tokio::test]
async fn list_and_describe() {
    let d = Daemon::start(&[]);
    let c = d.client().await;
    for name in ["beta", "alpha"] {
        c.create_message_stream(&stream(name)).await.unwrap();
    }
    c.append_message("beta", b"12345").await.unwrap();

    assert_eq!(ok(&d.run(&["streams", "list"], b"")), "alpha\nbeta\n");

    let summary = ok(&d.run(&["describe", "beta"], b""));
    assert!(summary.starts_with("stream       beta\n"), "{summary}");
    assert!(
        summary.contains(" bytes, 1 message, oldest 0, newest 0\n"),
        "{summary}"
    );
    assert!(summary.contains("exports      none\n"), "{summary}");

    let json: serde_json::Value =
        serde_json::from_str(&ok(&d.run(&["describe", "beta", "--json"], b""))).unwrap();
    assert_eq!(json["definition"]["name"], "beta");
    assert_eq!(json["storageStatus"]["oldestSequenceNumber"], 0);
    assert_eq!(json["storageStatus"]["newestSequenceNumber"], 0);
    assert!(
        json["storageStatus"]["totalBytes"].as_i64().unwrap() > 5,
        "{json}"
    );
    assert_eq!(json["exportStatuses"], serde_json::json!([]));
    // The daemon fills the defaults it applied.
    assert_eq!(json["definition"]["maxSize"], 268_435_456);
}

#[tokio::test]
async fn status_shows_the_lag_of_a_disabled_export() {
    let d = Daemon::start(&[]);
    let c = d.client().await;
    c.create_message_stream(&MessageStreamDefinition {
        export_definition: Some(ExportDefinition {
            http: vec![HttpConfig {
                identifier: "to-sink".into(),
                uri: "http://127.0.0.1:9/".into(),
                disabled: Some(true),
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..stream("exported")
    })
    .await
    .unwrap();
    c.create_message_stream(&stream("plain")).await.unwrap();
    c.append_many("exported", [b"a", b"b", b"c"], 1)
        .await
        .unwrap();

    let out = ok(&d.run(&["status"], b""));
    let rows: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows[0],
        [
            "STREAM", "BYTES", "OLDEST", "NEWEST", "EXPORT", "LAG", "FAILED", "SKIPPED", "LAST",
            "ERROR"
        ],
        "{out}"
    );
    assert_eq!(rows.len(), 3, "{out}");
    assert_eq!(rows[1][0], "exported", "{out}");
    assert!(rows[1][1].parse::<u64>().unwrap() > 3, "{out}");
    assert_eq!(
        rows[1][2..],
        ["0", "2", "http:to-sink", "(disabled)", "3", "0", "0", "-"],
        "{out}"
    );
    assert_eq!(
        rows[2][..],
        ["plain", "0", "-", "-", "-", "-", "-", "-", "-"],
        "{out}"
    );
    // Columns are aligned: every row puts EXPORT at the same character offset.
    let at = out.lines().next().unwrap().find("EXPORT").unwrap();
    assert_eq!(
        out.lines().nth(1).unwrap()[at..].split_whitespace().next(),
        Some("http:to-sink")
    );
    assert_eq!(
        out.lines().nth(2).unwrap()[at..].split_whitespace().next(),
        Some("-")
    );
}

/// Starts `smctl tail ARGS` and waits for its "following" line on stderr.
fn start_tail(d: &Daemon, args: &[&str]) -> (std::process::Child, String) {
    let mut child = d
        .smctl(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stderr.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    (child, line)
}

fn wait_exit(child: &mut std::process::Child) -> std::process::ExitStatus {
    // Up to 20 s, in steps of 20 ms.
    for _ in 0..1000 {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("smctl tail did not stop within 20 s");
}

#[tokio::test]
async fn tail_prints_messages_appended_after_it_started() {
    let d = Daemon::start(&[]);
    let c = d.client().await;
    c.create_message_stream(&stream("s")).await.unwrap();
    c.append_message("s", b"before").await.unwrap();

    let (mut child, line) = start_tail(&d, &["tail", "s", "--max", "2"]);
    assert_eq!(
        line,
        "smctl: following stream \"s\" from sequence number 1 (Ctrl-C to stop)\n"
    );
    c.append_message("s", b"x").await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    c.append_many("s", [b"y", b"z"], 1).await.unwrap();
    let status = wait_exit(&mut child);
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(status.success(), "{status}");
    assert_eq!(out, "1\tx\n2\ty\n");

    // --from replays from a given sequence number, JSON per line.
    let (mut child, line) = start_tail(
        &d,
        &["tail", "s", "--from", "0", "--max", "4", "--format", "json"],
    );
    assert!(line.contains("from sequence number 0"), "{line}");
    assert!(wait_exit(&mut child).success());
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let texts: Vec<String> = out
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["payloadText"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(texts, ["before", "x", "y", "z"]);
}

#[tokio::test]
async fn tail_stops_on_ctrl_c() {
    let d = Daemon::start(&[]);
    let c = d.client().await;
    c.create_message_stream(&stream("s")).await.unwrap();
    let (mut child, _) = start_tail(&d, &["tail", "s"]);
    c.append_message("s", b"one").await.unwrap();
    // Wait until the message is printed, then interrupt.
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert_eq!(line, "0\tone\n");
    let killed = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = wait_exit(&mut child);
    assert!(status.success(), "Ctrl-C ends tail cleanly: {status}");
}
