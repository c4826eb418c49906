//! Every operation against the real daemon, and the client-side checks.

use std::time::Duration;

use sm_client::{
    Client, ClientConfig, Error, ExportDefinition, HttpConfig, MessageStreamDefinition,
    Persistence, ReadMessagesOptions, StrategyOnFull,
};

use crate::daemon::Daemon;

pub fn stream(name: &str) -> MessageStreamDefinition {
    MessageStreamDefinition {
        name: name.into(),
        strategy_on_full: Some(StrategyOnFull::RejectNewData),
        ..Default::default()
    }
}

pub fn read(start: i64, min: i64, max: i64, wait_ms: i64) -> ReadMessagesOptions {
    ReadMessagesOptions {
        desired_start_sequence_number: Some(start),
        min_message_count: Some(min),
        max_message_count: Some(max),
        read_timeout_millis: Some(wait_ms),
    }
}

#[tokio::test]
async fn every_operation() {
    let d = Daemon::start();
    let c = d.client().await;
    let session = c.session().expect("connected");
    assert_eq!(session.protocol_version, "1.1.0");
    assert!(session.server_version.is_some());

    assert_eq!(c.list_streams().await.unwrap(), Vec::<String>::new());
    let mut def = stream("orders");
    def.persistence = Some(Persistence::File);
    def.max_size = Some(1 << 20);
    def.stream_segment_size = Some(64 << 10);
    c.create_message_stream(&def).await.unwrap();
    c.create_message_stream(&stream("other")).await.unwrap();
    let mut names = c.list_streams().await.unwrap();
    names.sort();
    assert_eq!(names, ["orders", "other"]);

    let info = c.describe_message_stream("orders").await.unwrap();
    assert_eq!(info.definition.name, "orders");
    assert_eq!(info.definition.max_size, Some(1 << 20));
    assert_eq!(info.definition.stream_segment_size, Some(64 << 10));
    assert_eq!(
        info.definition.flush_on_write,
        Some(false),
        "defaults filled"
    );
    assert_eq!(info.storage_status.oldest_sequence_number, 0);
    assert_eq!(info.storage_status.newest_sequence_number, -1);

    for (i, p) in [&b"a"[..], b"bb", &[0, 255, 7]].into_iter().enumerate() {
        assert_eq!(c.append_message("orders", p).await.unwrap(), i as i64);
    }
    let info = c.describe_message_stream("orders").await.unwrap();
    assert_eq!(info.storage_status.newest_sequence_number, 2);
    assert!(info.storage_status.total_bytes > 0);

    // Defaults: one message from 0.
    let one = c
        .read_messages("orders", ReadMessagesOptions::default())
        .await
        .unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].payload, b"a");
    assert_eq!(one[0].stream_name, "orders");
    assert_eq!(one[0].sequence_number, 0);
    assert!(one[0].ingest_time > 1_600_000_000_000);
    let all = c.read_messages("orders", read(1, 1, 10, 0)).await.unwrap();
    let got: Vec<(i64, &[u8])> = all
        .iter()
        .map(|m| (m.sequence_number, &m.payload[..]))
        .collect();
    assert_eq!(got, [(1, &b"bb"[..]), (2, &[0, 255, 7][..])]);

    // Update: add an export and change the strategy; describe shows both.
    def.strategy_on_full = Some(StrategyOnFull::OverwriteOldestData);
    def.export_definition = Some(ExportDefinition {
        http: vec![HttpConfig {
            identifier: "h".into(),
            uri: "http://127.0.0.1:9/unused".into(),
            disabled: Some(true),
            ..Default::default()
        }],
        ..Default::default()
    });
    c.update_message_stream(&def).await.unwrap();
    let info = c.describe_message_stream("orders").await.unwrap();
    assert_eq!(
        info.definition.strategy_on_full,
        Some(StrategyOnFull::OverwriteOldestData)
    );
    assert_eq!(info.export_statuses.len(), 1);
    assert_eq!(info.export_statuses[0].export_config_identifier, "h");

    c.delete_message_stream("orders").await.unwrap();
    assert_eq!(c.list_streams().await.unwrap(), ["other"]);

    // A large payload round-trips.
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let seq = c.append_message("other", &big).await.unwrap();
    let back = c.read_messages("other", read(seq, 1, 1, 0)).await.unwrap();
    assert_eq!(back[0].payload, big);
}

#[tokio::test]
async fn client_side_checks_send_nothing() {
    // Nothing listens on this port: a check that sent a request would fail to connect.
    let c = Client::new(ClientConfig {
        request_timeout: Duration::from_secs(2),
        ..ClientConfig::new("127.0.0.1", crate::daemon::free_port())
    });
    let invalid = |r: Result<_, Error>| match r {
        Err(Error::Validation(e)) => e.message().to_owned(),
        other => panic!("expected a validation error, got {other:?}"),
    };
    let m = invalid(c.append_message("s", b"").await.map(drop));
    assert!(m.contains("payload"), "{m}");
    let m = invalid(c.append_message("a/b", b"x").await.map(drop));
    assert!(m.contains("name"), "{m}");
    invalid(c.append_message(&"n".repeat(256), b"x").await.map(drop));
    invalid(c.delete_message_stream("").await);
    invalid(c.describe_message_stream("bad\nname").await.map(drop));
    let m = invalid(c.read_messages("s", read(0, 5, 4, 0)).await.map(drop));
    assert!(m.contains("minMessageCount"), "{m}");
    let m = invalid(c.read_messages("s", read(0, 1, 1, 2_001)).await.map(drop));
    assert!(m.contains("request timeout"), "{m}");
    let mut def = stream("s");
    def.strategy_on_full = None;
    let m = invalid(c.create_message_stream(&def).await);
    assert!(m.contains("strategyOnFull"), "{m}");
    def = stream("s");
    def.max_size = Some(10);
    invalid(c.update_message_stream(&def).await);
    invalid(c.append_many("s", [&b""[..], b"x"], 4).await.map(drop));
    // readTimeoutMillis equal to the request timeout is allowed: it reaches the network.
    let e = c
        .read_messages("s", read(0, 1, 1, 2_000))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Connection { .. }), "{e:?}");
}

#[tokio::test]
async fn connect_failures() {
    let port = crate::daemon::free_port();
    let e = Client::connect(ClientConfig::new("127.0.0.1", port))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Connection { .. }), "{e:?}");
    assert!(e.is_transient());
    assert!(e.to_string().contains(&port.to_string()), "{e}");
}
