//! `create`, `update`, `delete` and the `--json` outputs against the real daemon.

use crate::daemon::{ok, Daemon};

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

fn describe(d: &Daemon, name: &str) -> serde_json::Value {
    serde_json::from_str(&ok(&d.run(&["describe", name, "--json"], b""))).unwrap()
}

#[test]
fn create_by_flags_update_and_delete() {
    let d = Daemon::start(&[]);
    let out = d.run(
        &[
            "create",
            "telemetry",
            "--max-size",
            "1048576",
            "--segment-size",
            "65536",
            "--ttl",
            "3600000",
            "--strategy",
            "RejectNewData",
            "--flush-on-write",
            "--http-export",
            "sink=http://127.0.0.1:9/in",
            "--http-format",
            "json_batched",
            "--batch-size",
            "5",
            "--kinesis-export",
            "k=my-stream",
        ],
        b"",
    );
    assert_eq!(ok(&out), "created stream \"telemetry\"\n");
    let j = describe(&d, "telemetry");
    let def = &j["definition"];
    assert_eq!(def["maxSize"], 1_048_576);
    assert_eq!(def["streamSegmentSize"], 65_536);
    assert_eq!(def["timeToLiveMillis"], 3_600_000);
    assert_eq!(def["strategyOnFull"], 0);
    assert_eq!(def["flushOnWrite"], true);
    assert_eq!(def["persistence"], 0);
    let http = &def["exportDefinition"]["http"][0];
    assert_eq!(http["identifier"], "sink");
    assert_eq!(http["uri"], "http://127.0.0.1:9/in");
    assert_eq!(http["exportFormat"], 1);
    assert_eq!(http["batchSize"], 5);
    assert_eq!(
        def["exportDefinition"]["kinesis"][0]["kinesisStreamName"],
        "my-stream"
    );

    // Create's default strategy, and Memory persistence.
    ok(&d.run(&["create", "mem", "--persistence", "memory"], b""));
    let j = describe(&d, "mem");
    assert_eq!(j["definition"]["strategyOnFull"], 1);
    assert_eq!(j["definition"]["persistence"], 1);

    // Update changes the fields given and keeps the rest; exports by identifier.
    let out = d.run(
        &[
            "update",
            "telemetry",
            "--max-size",
            "2097152",
            "--flush-on-write",
            "false",
            "--disable-export",
            "sink",
            "--remove-export",
            "k",
        ],
        b"",
    );
    assert_eq!(ok(&out), "updated stream \"telemetry\"\n");
    let def = describe(&d, "telemetry")["definition"].clone();
    assert_eq!(def["maxSize"], 2_097_152);
    assert_eq!(def["timeToLiveMillis"], 3_600_000, "kept");
    assert_eq!(def["flushOnWrite"], false);
    assert_eq!(def["exportDefinition"]["http"][0]["disabled"], true);
    assert_eq!(def["exportDefinition"]["kinesis"], serde_json::json!([]));

    // UpdateMessageStream's rules: persistence cannot change.
    let out = d.run(&["update", "mem", "--persistence", "File"], b"");
    assert_eq!(out.status.code(), Some(1));
    let e = stderr(&out);
    assert!(
        e.starts_with("smctl: persistence cannot be updated")
            && e.ends_with("(UpdateNotAllowed)\n"),
        "{e}"
    );
    // An SDK limit, checked before sending.
    let out = d.run(&["create", "small", "--max-size", "10"], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("maxSize"), "{}", stderr(&out));
    // Creating an existing stream.
    let out = d.run(&["create", "mem"], b"");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "smctl: stream \"mem\" already exists (InvalidRequest)\n"
    );

    assert_eq!(
        ok(&d.run(&["delete", "mem"], b"")),
        "deleted stream \"mem\"\n"
    );
    assert_eq!(ok(&d.run(&["streams", "list"], b"")), "telemetry\n");
    let out = d.run(&["delete", "mem"], b"");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "smctl: stream \"mem\" does not exist (ResourceNotFound)\n"
    );
}

#[test]
fn definition_files_in_yaml_json_and_describe_output() {
    let d = Daemon::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let yaml = dir.path().join("s.yaml");
    std::fs::write(
        &yaml,
        "name: fromyaml\nstrategyOnFull: OverwriteOldestData\nmaxSize: 65536\n\
         streamSegmentSize: 4096\nexportDefinition:\n  http:\n    - identifier: out\n      \
         uri: http://127.0.0.1:9/\n      exportFormat: RAW_NOT_BATCHED\n",
    )
    .unwrap();
    ok(&d.run(&["create", "--definition", yaml.to_str().unwrap()], b""));
    let j = describe(&d, "fromyaml");
    assert_eq!(j["definition"]["maxSize"], 65_536);
    assert_eq!(
        j["definition"]["exportDefinition"]["http"][0]["exportFormat"],
        0
    );

    // describe --json's output, renamed, creates a copy; flags apply on top.
    let copy = dir.path().join("copy.json");
    let text = serde_json::to_string(&j)
        .unwrap()
        .replace("fromyaml", "copy");
    std::fs::write(&copy, text).unwrap();
    ok(&d.run(
        &[
            "create",
            "--definition",
            copy.to_str().unwrap(),
            "--max-size",
            "131072",
        ],
        b"",
    ));
    let c = describe(&d, "copy");
    assert_eq!(c["definition"]["maxSize"], 131_072);
    assert_eq!(
        c["definition"]["exportDefinition"],
        j["definition"]["exportDefinition"]
    );

    // From stdin, replacing the whole definition (the export is gone).
    ok(&d.run(
        &["update", "copy", "--definition", "-"],
        b"{\"name\": \"copy\", \"strategyOnFull\": 1, \"maxSize\": 131072, \"streamSegmentSize\": 4096}",
    ));
    let c = describe(&d, "copy");
    assert_eq!(
        c["definition"]["exportDefinition"]["http"],
        serde_json::json!([])
    );

    // A bad file: one line naming the file, the line and the key.
    std::fs::write(&yaml, "name: x\nstrategyOnFull: 1\nmaxsize: 5\n").unwrap();
    let out = d.run(&["create", "--definition", yaml.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        format!(
            "smctl: {}:3: maxsize: unknown key (keys are the camelCase wire names `smctl describe --json` prints)\n",
            yaml.display()
        )
    );
    let out = d.run(
        &["create", "other", "--definition", "-"],
        b"name: x\nstrategyOnFull: 1\n",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("differs from the definition's \"x\""),
        "{}",
        stderr(&out)
    );
}

#[test]
fn json_on_every_read_command() {
    let d = Daemon::start(&[]);
    ok(&d.run(
        &["create", "b", "--http-export", "h=http://127.0.0.1:9/"],
        b"",
    ));
    ok(&d.run(&["update", "b", "--disable-export", "h"], b""));
    ok(&d.run(&["create", "a"], b""));
    assert_eq!(
        ok(&d.run(&["streams", "list", "--json"], b"")),
        "[\"a\",\"b\"]\n"
    );
    assert_eq!(
        ok(&d.run(&["append", "b", "--lines", "--json"], b"x\ny\n")),
        "[0,1]\n"
    );
    let line = ok(&d.run(&["read", "b", "--json", "--count", "1"], b""));
    let m: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(m["payloadText"], "x");
    let out = ok(&d.run(&["tail", "b", "--from", "1", "--max", "1", "--json"], b""));
    let m: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(m["sequenceNumber"], 1);
    let s: serde_json::Value =
        serde_json::from_str(&ok(&d.run(&["status", "--json"], b""))).unwrap();
    assert_eq!(s[0]["stream"], "a");
    assert_eq!(s[0]["exports"], serde_json::json!([]));
    assert_eq!(s[1]["newestSequenceNumber"], 1);
    let e = &s[1]["exports"][0];
    assert_eq!(
        (e["kind"].as_str(), e["identifier"].as_str()),
        (Some("http"), Some("h"))
    );
    assert_eq!(e["disabled"], true);
    assert_eq!(e["lag"], 2);
}
