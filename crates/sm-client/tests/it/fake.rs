//! A scripted fake server, for what the real daemon never answers: every status code,
//! unknown statuses and ops, silence, dropped connections, refused handshakes.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use sm_client::{Client, ClientConfig, Error, ResponseStatusCode};
use sm_model::{ConnectRequest, ConnectResponse};
use sm_wire::{encode_connect_response, Event, Op, Request, ServerCodec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// What the fake does with one request.
enum Answer {
    /// Send these bytes now.
    Now(Bytes),
    /// Send these bytes after a delay.
    Later(Duration, Bytes),
    /// Send these parts after a delay, 2 ms apart (so they arrive in separate reads).
    Trickle(Duration, Vec<Bytes>),
    /// Never answer.
    Silence,
    /// Close the connection.
    Close,
}

type Script = dyn Fn(usize, &Request) -> Answer + Send + Sync;

struct Fake {
    port: u16,
    /// Requests received so far (the script's first argument for the next one).
    requests: Arc<AtomicUsize>,
    /// Connect requests received, in order.
    connects: Arc<Mutex<Vec<ConnectRequest>>>,
}

/// A status-only response to `req`, with any status byte (also ones outside the protocol).
fn status(req: &Request, op: Op, s: u8, message: &str) -> Bytes {
    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct RawStatus<'a> {
        request_id: Option<&'a str>,
        status: u8,
        error_message: &'a str,
    }
    let body = RawStatus {
        request_id: req.request_id(),
        status: s,
        error_message: message,
    };
    let mut out = BytesMut::new();
    sm_wire::encode_frame(op, &body, &mut out).unwrap();
    out.freeze()
}

fn answer_ok(req: &Request) -> Bytes {
    let mut out = BytesMut::new();
    let resp = sm_model::ListStreamsResponse {
        request_id: req.request_id().map(str::to_owned),
        status: ResponseStatusCode::Success,
        error_message: None,
        streams: vec!["fake".into()],
    };
    sm_wire::encode_frame(req.op().response(), &resp, &mut out).unwrap();
    out.freeze()
}

async fn fake(
    connect_status: ResponseStatusCode,
    version_byte: u8,
    script: impl Fn(usize, &Request) -> Answer + Send + Sync + 'static,
) -> Fake {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let connects = Arc::new(Mutex::new(vec![]));
    let script: Arc<Script> = Arc::new(script);
    let counter = Arc::new(AtomicUsize::new(0));
    let requests = counter.clone();
    let seen = connects.clone();
    tokio::spawn(async move {
        loop {
            let (sock, _) = listener.accept().await.unwrap();
            let (script, counter, seen) = (script.clone(), counter.clone(), seen.clone());
            tokio::spawn(async move {
                let (mut rd, mut wr) = sock.into_split();
                let (tx, mut rx) = mpsc::unbounded_channel::<Bytes>();
                tokio::spawn(async move {
                    while let Some(b) = rx.recv().await {
                        if wr.write_all(&b).await.is_err() {
                            return;
                        }
                    }
                });
                let mut codec = ServerCodec::new(1 << 30);
                let mut buf = BytesMut::new();
                loop {
                    while let Ok(Some(ev)) = codec.decode(&mut buf) {
                        match ev {
                            Event::Connect(req) => {
                                let resp = ConnectResponse {
                                    request_id: req.request_id.clone(),
                                    status: connect_status,
                                    error_message: Some("fake says so".into()),
                                    protocol_version: Some("1.1.0".into()),
                                    supported_protocol_versions: vec!["1.1.0".into()],
                                    server_version: Some("fake".into()),
                                    client_identifier: Some("c".into()),
                                };
                                seen.lock().unwrap().push(req);
                                let mut out = BytesMut::new();
                                encode_connect_response(&resp, &mut out);
                                out[0] = version_byte;
                                let _ = tx.send(out.freeze());
                            }
                            Event::Request(req) => {
                                match script(counter.fetch_add(1, Ordering::SeqCst), &req) {
                                    Answer::Now(b) => {
                                        let _ = tx.send(b);
                                    }
                                    Answer::Later(after, b) => {
                                        let tx = tx.clone();
                                        tokio::spawn(async move {
                                            tokio::time::sleep(after).await;
                                            let _ = tx.send(b);
                                        });
                                    }
                                    Answer::Trickle(after, parts) => {
                                        let tx = tx.clone();
                                        tokio::spawn(async move {
                                            tokio::time::sleep(after).await;
                                            for p in parts {
                                                let _ = tx.send(p);
                                                tokio::time::sleep(Duration::from_millis(2)).await;
                                            }
                                        });
                                    }
                                    Answer::Silence => {}
                                    Answer::Close => return,
                                }
                            }
                            Event::Reject(_) => {}
                        }
                    }
                    if rd.read_buf(&mut buf).await.unwrap_or(0) == 0 {
                        return;
                    }
                }
            });
        }
    });
    Fake {
        port,
        requests,
        connects,
    }
}

fn config(port: u16) -> ClientConfig {
    ClientConfig {
        request_timeout: Duration::from_millis(500),
        ..ClientConfig::new("127.0.0.1", port)
    }
}

#[tokio::test]
async fn every_status_code_has_its_variant() {
    let current = Arc::new(AtomicUsize::new(0));
    let code = current.clone();
    let f = fake(ResponseStatusCode::Success, 1, move |_, req| {
        let s = code.load(Ordering::SeqCst) as u8;
        Answer::Now(status(req, req.op().response(), s, "scripted"))
    })
    .await;
    let c = Client::connect(config(f.port)).await.unwrap();
    for s in 1..=18u8 {
        current.store(usize::from(s), Ordering::SeqCst);
        let e = c.list_streams().await.unwrap_err();
        let expected = match s {
            1 => matches!(e, Error::UnknownFailure(_)),
            2 => matches!(e, Error::Unauthorized(_)),
            3 => matches!(e, Error::InvalidRequest(_)),
            4 => matches!(e, Error::RequestPayloadTooLarge(_)),
            5 => matches!(e, Error::ResourceNotFound(_)),
            6 => matches!(e, Error::ServerTimeout(_)),
            7 => matches!(e, Error::ResponsePayloadTooLarge(_)),
            8..=12 => matches!(e, Error::OtherStatus(_)),
            13 => matches!(e, Error::NotEnoughMessages(_)),
            14 => matches!(e, Error::MessageStoreReadError(_)),
            15 => matches!(e, Error::OutOfMemory(_)),
            16 => matches!(e, Error::UpdateFailed(_)),
            17 => matches!(e, Error::UpdateNotAllowed(_)),
            _ => matches!(e, Error::UnknownOperation(_)),
        };
        assert!(expected, "status {s} gave {e:?}");
        assert_eq!(e.status().map(|x| x as u8), Some(s));
        assert_eq!(e.server_message(), Some("scripted"));
        assert!(e.status_error().unwrap().request_id().is_some());
    }
    // Not a status of the protocol: the client cannot interpret the response.
    current.store(42, Ordering::SeqCst);
    let e = c.list_streams().await.unwrap_err();
    assert!(matches!(e, Error::Protocol(_)), "{e:?}");
    // Success after all that: the connection is intact.
    current.store(0, Ordering::SeqCst);
    assert_eq!(c.list_streams().await.unwrap(), Vec::<String>::new());
}

#[tokio::test]
async fn unknown_operation_answer_and_wrong_ops() {
    let f = fake(ResponseStatusCode::Success, 1, |i, req| match i {
        0 => Answer::Now(status(req, Op::UnknownOperationError, 18, "what is that")),
        1 => Answer::Now(status(req, Op::DescribeMessageStreamResponse, 0, "")),
        _ => Answer::Now(status(req, Op::Unknown, 0, "")),
    })
    .await;
    let c = Client::connect(config(f.port)).await.unwrap();
    let e = c.list_streams().await.unwrap_err();
    assert!(matches!(e, Error::UnknownOperation(_)), "{e:?}");
    assert_eq!(e.server_message(), Some("what is that"));
    for _ in 0..2 {
        let e = c.list_streams().await.unwrap_err();
        assert!(matches!(e, Error::Protocol(_)), "{e:?}");
    }
}

#[tokio::test]
async fn timeout_then_late_answer_is_ignored() {
    let f = fake(ResponseStatusCode::Success, 1, |i, req| match i {
        0 => Answer::Silence,
        1 => Answer::Later(Duration::from_millis(800), answer_ok(req)),
        _ => Answer::Now(answer_ok(req)),
    })
    .await;
    let c = Client::connect(config(f.port)).await.unwrap();
    let e = c.list_streams().await.unwrap_err();
    assert!(
        matches!(e, Error::Timeout { operation: "ListStreams", after } if after == Duration::from_millis(500)),
        "{e:?}"
    );
    assert!(e.is_transient());
    let short = c.with_request_timeout(Duration::from_millis(100));
    assert_eq!(short.request_timeout(), Duration::from_millis(100));
    let e = short.list_streams().await.unwrap_err();
    assert!(
        matches!(e, Error::Timeout { after, .. } if after == Duration::from_millis(100)),
        "{e:?}"
    );
    // The late answer to the second request arrives after it timed out: it matches no
    // waiter and is dropped; the requests around it get their own answers.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(c.list_streams().await.unwrap(), ["fake"]);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(c.list_streams().await.unwrap(), ["fake"]);
}

#[tokio::test]
async fn dropped_connection_fails_pending_calls_and_the_next_call_reconnects() {
    let f = fake(ResponseStatusCode::Success, 1, |i, req| match i {
        0 | 1 => Answer::Silence,
        2 => Answer::Close,
        _ => Answer::Now(answer_ok(req)),
    })
    .await;
    let c = Client::connect(ClientConfig {
        request_timeout: Duration::from_secs(10),
        ..config(f.port)
    })
    .await
    .unwrap();
    let pending: Vec<_> = (0..2)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { c.list_streams().await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let e = c.list_streams().await.unwrap_err();
    assert!(matches!(e, Error::Connection { .. }), "{e:?}");
    for p in pending {
        let e = p.await.unwrap().unwrap_err();
        assert!(matches!(e, Error::Connection { .. }), "{e:?}");
    }
    assert_eq!(c.list_streams().await.unwrap(), ["fake"]);
    assert_eq!(f.connects.lock().unwrap().len(), 2, "one reconnect");
}

#[tokio::test]
async fn handshake_contents_and_refusals() {
    let f = fake(ResponseStatusCode::Success, 1, |_, req| {
        Answer::Now(answer_ok(req))
    })
    .await;
    let c = Client::connect(ClientConfig {
        auth_token: Some("tok".into()),
        ..config(f.port)
    })
    .await
    .unwrap();
    let s = c.session().unwrap();
    assert_eq!(s.server_version.as_deref(), Some("fake"));
    assert_eq!(s.client_identifier.as_deref(), Some("c"));
    Client::connect(config(f.port)).await.unwrap();
    {
        let seen = f.connects.lock().unwrap();
        assert_eq!(seen[0].protocol_version.as_deref(), Some("1.1.0"));
        assert_eq!(seen[0].other_supported_protocol_versions, ["1.0.0"]);
        assert!(seen[0].sdk_version.as_deref().unwrap().contains("rust"));
        assert!(!seen[0].request_id.as_deref().unwrap().is_empty());
        assert_eq!(seen[0].auth_token.as_deref(), Some("tok"));
        assert_eq!(seen[1].auth_token, None, "no token: the key is omitted");
    }

    // Concurrent first calls on a lazy client share one handshake.
    let lazy_server = fake(ResponseStatusCode::Success, 1, |_, req| {
        Answer::Now(answer_ok(req))
    })
    .await;
    let lazy = Client::new(config(lazy_server.port));
    assert!(lazy.session().is_none());
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let c = lazy.clone();
            tokio::spawn(async move { c.list_streams().await })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap(), ["fake"]);
    }
    assert_eq!(lazy_server.connects.lock().unwrap().len(), 1);

    let refused = fake(ResponseStatusCode::UnsupportedProtocolVersion, 1, |_, _| {
        Answer::Silence
    })
    .await;
    let e = Client::connect(config(refused.port)).await.unwrap_err();
    assert!(matches!(e, Error::OtherStatus(_)), "{e:?}");
    assert_eq!(
        e.status(),
        Some(ResponseStatusCode::UnsupportedProtocolVersion)
    );

    let wrong = fake(ResponseStatusCode::Success, 2, |_, _| Answer::Silence).await;
    let e = Client::connect(config(wrong.port)).await.unwrap_err();
    assert!(matches!(e, Error::Protocol(_)), "{e:?}");
}

/// An AppendMessageResponse with sequence number `seq` and the given request id.
fn ack(request_id: Option<&str>, seq: i64) -> BytesMut {
    let mut out = BytesMut::new();
    let resp = sm_model::AppendMessageResponse {
        request_id: request_id.map(str::to_owned),
        status: ResponseStatusCode::Success,
        error_message: None,
        sequence_number: Some(seq),
    };
    sm_wire::encode_frame(Op::AppendMessageResponse, &resp, &mut out).unwrap();
    out
}

/// The scripted sequence number of request `i`.
fn seq_of(i: usize) -> i64 {
    i as i64 * 10
}

fn append_ok(i: usize, req: &Request) -> Bytes {
    ack(req.request_id(), seq_of(i)).freeze()
}

#[tokio::test]
async fn append_many_matches_answers_by_request_id_in_any_order() {
    // Within each group of 8 requests the answers come back in reverse order; each is preceded
    // by an answer to an id the client never sent and followed by a duplicate. In the first
    // call (window 1, nothing else in flight) they arrive in two parts split mid-frame.
    let f = fake(ResponseStatusCode::Success, 1, |i, req| {
        let mut out = ack(Some("someone-else"), -1);
        out.extend_from_slice(&append_ok(i, req));
        out.extend_from_slice(&ack(req.request_id(), -2));
        let delay = Duration::from_millis(3 * (8 - (i % 8) as u64));
        if i < 50 {
            let tail = out.split_off(out.len() / 2).freeze();
            Answer::Trickle(delay, vec![out.freeze(), tail])
        } else {
            Answer::Later(delay, out.freeze())
        }
    })
    .await;
    let c = Client::connect(config(f.port)).await.unwrap();
    let payloads: Vec<Vec<u8>> = (0..50u8).map(|i| vec![i; 1 + usize::from(i)]).collect();
    for window in [1, 3, 8, 64] {
        let base = f.requests.load(Ordering::SeqCst);
        let seqs = c.append_many("s", &payloads, window).await.unwrap();
        let expected: Vec<i64> = (0..payloads.len()).map(|k| seq_of(base + k)).collect();
        assert_eq!(seqs, expected, "window {window}");
    }
    // Large messages: the window is queued in several chunks.
    let large = vec![vec![7u8; 20_000]; 40];
    let base = f.requests.load(Ordering::SeqCst);
    let seqs = c.append_many("s", &large, 64).await.unwrap();
    assert_eq!(seqs, (base..base + 40).map(seq_of).collect::<Vec<_>>());
    let next = f.requests.load(Ordering::SeqCst);
    assert_eq!(c.append_message("s", b"one").await.unwrap(), seq_of(next));
    assert!(c
        .append_many("s", Vec::<Vec<u8>>::new(), 4)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn append_many_stops_at_the_first_error() {
    let f = fake(ResponseStatusCode::Success, 1, |i, req| match i {
        // Request 5 of the first call fails; the second call's requests 20.. are fine.
        5 => Answer::Now(status(req, Op::AppendMessageResponse, 3, "stream is full")),
        _ => Answer::Now(append_ok(i, req)),
    })
    .await;
    let c = Client::connect(config(f.port)).await.unwrap();
    let e = c
        .append_many("s", std::iter::repeat_n(b"x", 10), 4)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::InvalidRequest(_)), "{e:?}");
    assert_eq!(e.server_message(), Some("stream is full"));
    assert!(e
        .status_error()
        .unwrap()
        .request_id()
        .unwrap()
        .starts_with("rs-"));
    // The connection is intact; the call sent no more than a window past the failure.
    let next = c.append_many("s", [b"y"], 4).await.unwrap();
    assert!((6..=10).map(seq_of).any(|s| next == [s]), "{next:?}");
}

#[tokio::test]
async fn append_many_times_out_on_a_missing_answer_and_fails_on_a_lost_connection() {
    let f = fake(ResponseStatusCode::Success, 1, |i, req| match i {
        3 => Answer::Silence,
        // Request 8 is answered late (after 100 ms of a 500 ms timeout) but in time.
        8 => Answer::Later(Duration::from_millis(100), append_ok(i, req)),
        20 => Answer::Close,
        _ => Answer::Now(append_ok(i, req)),
    })
    .await;
    let c = Client::connect(config(f.port)).await.unwrap();
    let e = c
        .append_many("s", std::iter::repeat_n(b"x", 6), 2)
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::Timeout { operation: "AppendMessage", after } if after == Duration::from_millis(500)),
        "{e:?}"
    );
    // The window went on past the silent request until its deadline (requests 4 and 5).
    let base = f.requests.load(Ordering::SeqCst);
    assert!((5..=6).contains(&base), "{base} requests");
    // The slow answer keeps the window waiting, within the timeout.
    let seqs = c
        .append_many("s", std::iter::repeat_n(b"x", 6), 2)
        .await
        .unwrap();
    assert_eq!(seqs, (base..base + 6).map(seq_of).collect::<Vec<_>>());
    // Requests 10..: the server closes the connection at request 20.
    let e = c
        .append_many("s", std::iter::repeat_n(b"x", 20), 4)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Connection { .. }), "{e:?}");
    // The next call reconnects.
    let next = c.append_many("s", [b"z"], 4).await.unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(f.connects.lock().unwrap().len(), 2, "one reconnect");
}
