//! Parsing, the unknown-key check, validation and their errors.

use super::*;
use sm_model::{ExportFormat, Persistence, StatusLevel, StrategyOnFull};

const YAML: &str = "\
# Streams of this device.
streams:
  - name: telemetry
    strategyOnFull: OverwriteOldestData
    persistence: File
    maxSize: 1048576
    streamSegmentSize: 65536
    timeToLiveMillis: 3600000
    flushOnWrite: true
    exportDefinition:
      http:
        - identifier: to-sink
          uri: http://127.0.0.1:8080/in
          exportFormat: JSON_BATCHED
          batchSize: 10
      s3TaskExecutor:
        - identifier: files
          statusConfig:
            statusLevel: INFO
            statusStreamName: status
  - name: status
    strategyOnFull: 0
    persistence: 1
";

#[test]
fn yaml_with_names_and_numbers() {
    let f = parse_streams_file("streams.yaml", YAML).unwrap();
    assert!(!f.prune);
    assert_eq!(f.streams.len(), 2);
    let t = &f.streams[0];
    assert_eq!(t.line, 3);
    let d = &t.definition;
    assert_eq!(d.name, "telemetry");
    assert_eq!(
        d.strategy_on_full,
        Some(StrategyOnFull::OverwriteOldestData)
    );
    assert_eq!(d.persistence, Some(Persistence::File));
    assert_eq!(d.max_size, Some(1_048_576));
    assert_eq!(d.flush_on_write, Some(true));
    let e = d.export_definition.as_ref().unwrap();
    assert_eq!(e.http[0].uri, "http://127.0.0.1:8080/in");
    assert_eq!(e.http[0].export_format, Some(ExportFormat::JsonBatched));
    assert_eq!(e.http[0].batch_size, Some(10));
    let sc = e.s3_task_executor[0].status_config.as_ref().unwrap();
    assert_eq!(sc.status_level, Some(StatusLevel::Info));
    let s = &f.streams[1];
    assert_eq!(s.line, 21);
    assert_eq!(
        s.definition.strategy_on_full,
        Some(StrategyOnFull::RejectNewData)
    );
    assert_eq!(s.definition.persistence, Some(Persistence::Memory));
}

#[test]
fn json_is_read_too_and_round_trips_describe_output() {
    // What `smctl describe --json` prints for a definition (enums as numbers).
    let def = parse_streams_file("streams.yaml", YAML).unwrap().streams[0]
        .definition
        .clone();
    let json = serde_json::json!({ "streams": [sm_model::defaults::filled(&def)] });
    let text = serde_json::to_string_pretty(&json).unwrap();
    let f = parse_streams_file("streams.json", &text).unwrap();
    assert_eq!(f.streams[0].definition, sm_model::defaults::filled(&def));
    assert_eq!(f.streams[0].line, 3, "{text}");
}

#[test]
fn an_unknown_key_is_an_error_at_its_line() {
    let text = YAML.replace("          uri: http", "          url: http");
    let e = parse_streams_file("streams.yaml", &text).unwrap_err();
    assert_eq!(e.line, Some(13), "{e}");
    assert_eq!(
        e.field.as_deref(),
        Some("streams[0].exportDefinition.http[0].url")
    );
    assert_eq!(
        e.to_string(),
        "streams.yaml:13: streams[0].exportDefinition.http[0].url: unknown key (keys are the camelCase wire names `smctl describe --json` prints)"
    );
    // A top-level one.
    let e = parse_streams_file("f.yaml", "prun: true\nstreams: []\n").unwrap_err();
    assert_eq!((e.line, e.field.as_deref()), (Some(1), Some("prun")), "{e}");
}

#[test]
fn a_bad_value_names_its_line_and_field() {
    let text = YAML.replace("OverwriteOldestData", "OverwriteOldest");
    let e = parse_streams_file("streams.yaml", &text).unwrap_err();
    assert_eq!(e.line, Some(4), "{e}");
    assert_eq!(e.field.as_deref(), Some("strategyOnFull"));
    assert!(
        e.message
            .starts_with("invalid strategyOnFull \"OverwriteOldest\""),
        "{e}"
    );

    let text = YAML.replace("maxSize: 1048576", "maxSize: lots");
    let e = parse_streams_file("streams.yaml", &text).unwrap_err();
    assert_eq!(
        (e.line, e.field.as_deref()),
        (Some(6), Some("maxSize")),
        "{e}"
    );
}

#[test]
fn sdk_limits_are_checked_with_the_line_of_the_field() {
    let text = YAML.replace("timeToLiveMillis: 3600000", "timeToLiveMillis: 5");
    let e = parse_streams_file("streams.yaml", &text).unwrap_err();
    assert_eq!(e.line, Some(8), "{e}");
    assert_eq!(e.field.as_deref(), Some("streams[0] (\"telemetry\")"));
    assert!(e.message.starts_with("timeToLiveMillis"), "{e}");
    // The required strategyOnFull missing: the stream's own line.
    let e = parse_streams_file("f.yaml", "streams:\n  - name: x\n").unwrap_err();
    assert_eq!(e.line, Some(2), "{e}");
    assert!(e.message.contains("strategyOnFull"), "{e}");
    let e = parse_streams_file(
        "f.yaml",
        "streams:\n  - name: 'a/b'\n    strategyOnFull: 0\n",
    )
    .unwrap_err();
    assert_eq!(e.line, Some(2), "{e}");
}

#[test]
fn duplicates_and_an_empty_prune_are_refused() {
    let text = "streams:\n  - name: a\n    strategyOnFull: 0\n  - name: a\n    strategyOnFull: 1\n";
    let e = parse_streams_file("f.yaml", text).unwrap_err();
    assert_eq!(e.line, Some(4));
    assert!(
        e.message.contains("declared twice (first at line 2)"),
        "{e}"
    );
    for text in [
        "prune: true\n",
        "prune: true\nstreams: []\n",
        "streams:\nprune: true\n",
    ] {
        let e = parse_streams_file("f.yaml", text).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("prune"), "{text}: {e}");
        assert!(e.message.contains("would delete every stream"), "{e}");
    }
    // An empty file declares nothing and prunes nothing.
    let f = parse_streams_file("f.yaml", "").unwrap();
    assert!(f.streams.is_empty() && !f.prune);
    let f = parse_streams_file("f.yaml", "# nothing yet\nstreams: []\n").unwrap();
    assert!(f.streams.is_empty());
    // prune must be a boolean.
    assert!(parse_streams_file("f.yaml", "prune: yes please\nstreams: []\n").is_err());
}

#[test]
fn syntax_errors_name_the_line() {
    let e = parse_streams_file(
        "f.json",
        "{\"streams\": [\n  {\"name\": \"a\",\n   \"strategyOnFull\": 0\n  ]\n}\n",
    )
    .unwrap_err();
    assert!(e.line.is_some(), "{e}");
    assert!(e.to_string().starts_with("f.json:"), "{e}");
    assert_eq!(e.to_string().lines().count(), 1, "{e}");
    let e =
        parse_streams_file("f.yaml", "streams:\n  - name: a\n   strategyOnFull: 0\n").unwrap_err();
    assert!(e.line.is_some(), "{e}");
}

#[test]
fn one_definition_or_a_describe_answer() {
    let d = parse_definition("d.yaml", "name: s\nstrategyOnFull: OverwriteOldestData\n").unwrap();
    assert_eq!(d.name, "s");
    let answer = serde_json::json!({
        "definition": {"name": "s", "strategyOnFull": 1, "maxSize": 268435456},
        "storageStatus": {"oldestSequenceNumber": 0, "newestSequenceNumber": -1, "totalBytes": 0},
        "exportStatuses": []
    });
    let d = parse_definition("d.json", &answer.to_string()).unwrap();
    assert_eq!(d.max_size, Some(268_435_456));
    assert_eq!(
        d.strategy_on_full,
        Some(StrategyOnFull::OverwriteOldestData)
    );
    let e = parse_definition("d.yaml", "name: s\nstrategyOnFull: 1\nmaxsize: 5\n").unwrap_err();
    assert_eq!(e.to_string(), "d.yaml:3: maxsize: unknown key (keys are the camelCase wire names `smctl describe --json` prints)");
    let e = parse_definition("d.yaml", "- a\n").unwrap_err();
    assert!(e.message.starts_with("expected a stream definition"), "{e}");
}
