//! Every error status the real daemon produces, as the client's error variants.

use std::time::Duration;

use tokio::time::Instant;

use sm_client::{Error, Persistence, ResponseStatusCode};

use crate::daemon::Daemon;
use crate::ops::{read, stream};

/// The status, message and request id of a status error, checked to be complete.
fn status_of(e: &Error) -> ResponseStatusCode {
    let s = e
        .status_error()
        .unwrap_or_else(|| panic!("not a status error: {e:?}"));
    assert!(s.message().is_some_and(|m| !m.is_empty()), "{e:?}");
    assert!(s.request_id().is_some_and(|m| !m.is_empty()), "{e:?}");
    s.status()
}

#[tokio::test]
async fn statuses_of_stream_operations() {
    let d = Daemon::start();
    let c = d.client().await;
    c.create_message_stream(&stream("s")).await.unwrap();

    // 3 InvalidRequest: an existing name.
    let e = c.create_message_stream(&stream("s")).await.unwrap_err();
    assert!(matches!(e, Error::InvalidRequest(_)), "{e:?}");
    assert_eq!(status_of(&e), ResponseStatusCode::InvalidRequest);
    assert!(e.server_message().unwrap().contains("exists"), "{e}");

    // 3 InvalidRequest: a RejectNewData stream that is full.
    let mut small = stream("small");
    small.max_size = Some(1024);
    small.stream_segment_size = Some(1024);
    c.create_message_stream(&small).await.unwrap();
    let e = c
        .append_message("small", vec![1u8; 2000])
        .await
        .unwrap_err();
    assert!(matches!(e, Error::InvalidRequest(_)), "{e:?}");

    // 5 ResourceNotFound, for every operation on a missing stream.
    let missing = [
        c.append_message("nope", b"x").await.map(drop),
        c.read_messages("nope", read(0, 1, 1, 0)).await.map(drop),
        c.read_messages("nope", read(0, 1, 1, 5_000))
            .await
            .map(drop),
        c.describe_message_stream("nope").await.map(drop),
        c.update_message_stream(&stream("nope")).await,
        c.delete_message_stream("nope").await,
    ];
    for r in missing {
        let e = r.unwrap_err();
        assert!(matches!(e, Error::ResourceNotFound(_)), "{e:?}");
        assert_eq!(status_of(&e), ResponseStatusCode::ResourceNotFound);
    }

    // 13 NotEnoughMessages: at once with no wait, after the wait with one.
    c.append_message("s", b"a").await.unwrap();
    let e = c.read_messages("s", read(0, 2, 2, 0)).await.unwrap_err();
    assert!(matches!(e, Error::NotEnoughMessages(_)), "{e:?}");
    assert_eq!(status_of(&e), ResponseStatusCode::NotEnoughMessages);
    #[allow(clippy::disallowed_methods)] // a test measures the daemon's wait
    let t0 = Instant::now();
    let e = c.read_messages("s", read(1, 1, 1, 300)).await.unwrap_err();
    assert!(matches!(e, Error::NotEnoughMessages(_)), "{e:?}");
    assert!(
        t0.elapsed() >= Duration::from_millis(250),
        "{:?}",
        t0.elapsed()
    );

    // 17 UpdateNotAllowed: persistence cannot change.
    let mut def = stream("s");
    def.persistence = Some(Persistence::Memory);
    let e = c.update_message_stream(&def).await.unwrap_err();
    assert!(matches!(e, Error::UpdateNotAllowed(_)), "{e:?}");
    assert_eq!(status_of(&e), ResponseStatusCode::UpdateNotAllowed);

    // The connection survived every error.
    assert_eq!(c.append_message("s", b"b").await.unwrap(), 1);
}

#[tokio::test]
async fn payload_too_large_both_ways() {
    let d = Daemon::start_with(&["--max-frame-bytes", "65536"]);
    let c = d.client().await;
    c.create_message_stream(&stream("s")).await.unwrap();

    // 4 RequestPayloadTooLarge: the frame is above the server's limit.
    let e = c.append_message("s", vec![7u8; 100_000]).await.unwrap_err();
    assert!(matches!(e, Error::RequestPayloadTooLarge(_)), "{e:?}");
    assert_eq!(status_of(&e), ResponseStatusCode::RequestPayloadTooLarge);

    // 7 ResponsePayloadTooLarge: three messages that fit alone but not together.
    for _ in 0..3 {
        c.append_message("s", vec![1u8; 30_000]).await.unwrap();
    }
    let e = c.read_messages("s", read(0, 3, 3, 0)).await.unwrap_err();
    assert!(matches!(e, Error::ResponsePayloadTooLarge(_)), "{e:?}");
    assert_eq!(status_of(&e), ResponseStatusCode::ResponsePayloadTooLarge);
    assert_eq!(
        c.read_messages("s", read(0, 1, 3, 0)).await.unwrap().len(),
        2
    );
}

#[tokio::test]
async fn corrupt_record_is_skipped_and_counted() {
    let d = Daemon::start();
    let c = d.client().await;
    let mut def = stream("disk");
    def.persistence = Some(Persistence::File);
    c.create_message_stream(&def).await.unwrap();
    c.append_message("disk", b"a payload that will rot")
        .await
        .unwrap();

    // Flip the last byte of the payload in the segment file.
    let mut segments = vec![];
    for dir in std::fs::read_dir(d.store()).unwrap() {
        let dir = dir.unwrap().path();
        if dir.is_dir() {
            for f in std::fs::read_dir(&dir).unwrap() {
                let f = f.unwrap().path();
                if f.extension().is_some_and(|e| e == "log") {
                    segments.push(f);
                }
            }
        }
    }
    assert_eq!(segments.len(), 1, "{segments:?}");
    let mut bytes = std::fs::read(&segments[0]).unwrap();
    *bytes.last_mut().unwrap() ^= 0xff;
    std::fs::write(&segments[0], bytes).unwrap();

    // The daemon skips damaged records (logged, counted in describe), so the only message is
    // gone for readers: not enough messages, and the corruption is visible in describe.
    // (MessageStoreReadError itself is mapped in the fake-server tests.)
    let e = c.read_messages("disk", read(0, 1, 1, 0)).await.unwrap_err();
    assert!(matches!(e, Error::NotEnoughMessages(_)), "{e:?}");
    assert_eq!(status_of(&e), ResponseStatusCode::NotEnoughMessages);
    let info = c.describe_message_stream("disk").await.unwrap();
    assert_eq!(info.storage_status.corrupt_records, Some(1));
    // Later appends are served as usual.
    let seq = c.append_message("disk", b"fresh").await.unwrap();
    let got = c.read_messages("disk", read(seq, 1, 1, 0)).await.unwrap();
    assert_eq!(got[0].payload, b"fresh");
}
