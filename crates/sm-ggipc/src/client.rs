//! The client side of one eventstream-RPC connection to the nucleus.

use std::collections::{HashMap, VecDeque};

use bytes::{Bytes, BytesMut};

use crate::frame::{
    self, header, FrameError, MessageType, RpcMessage, FLAG_CONNECTION_ACCEPTED,
    FLAG_TERMINATE_STREAM, MAX_FRAME_LEN,
};
use crate::model::{
    parse_error, parse_response, InvalidRequest, Operation, OperationError, Request, Response,
};

/// The eventstream-RPC protocol version sent in CONNECT's `:version` header.
pub const PROTOCOL_VERSION: &str = "0.1.0";

/// `:content-type` of requests.
pub const CONTENT_TYPE_JSON: &str = "application/json";

/// The id of a request's stream.
pub type StreamId = i32;

/// Something the nucleus said.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// CONNECT_ACK accepted the connection; requests may be sent.
    Connected,
    /// The answer to the request on `stream_id`.
    Response {
        /// The request's stream.
        stream_id: StreamId,
        /// Its operation.
        operation: Operation,
        /// The response, or the error the nucleus answered.
        result: Result<Response, OperationError>,
    },
    /// The nucleus sent PING; a PING_RESPONSE is queued.
    Ping,
}

/// The connection cannot go on (the caller closes it and may connect again).
#[derive(Debug, Clone, PartialEq)]
pub enum ProtocolError {
    /// Bytes that are not a valid frame.
    Frame(FrameError),
    /// CONNECT_ACK without the accepted flag: the nucleus refused the auth token.
    ConnectionRejected,
    /// The nucleus sent PROTOCOL_ERROR or INTERNAL_ERROR (its payload as text).
    ServerError {
        /// `PROTOCOL_ERROR` or `INTERNAL_ERROR`.
        kind: &'static str,
        /// The payload, at most 1024 bytes of it.
        message: String,
    },
    /// A message the protocol does not allow here.
    Unexpected(String),
    /// A request before the connection was accepted, or after it failed.
    NotConnected,
    /// Every stream id was used (2^31 - 1 requests): reconnect.
    StreamIdsExhausted,
    /// A request the nucleus would refuse.
    Invalid(InvalidRequest),
}

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Frame(e) => write!(f, "{e}"),
            Self::ConnectionRejected => f.write_str(
                "the nucleus refused the connection (CONNECT_ACK without CONNECTION_ACCEPTED): is SVCUID this component's token?",
            ),
            Self::ServerError { kind, message } => write!(f, "the nucleus sent {kind}: {message}"),
            Self::Unexpected(m) => write!(f, "unexpected message: {m}"),
            Self::NotConnected => f.write_str("the connection is not established"),
            Self::StreamIdsExhausted => f.write_str("every stream id of this connection was used"),
            Self::Invalid(e) => write!(f, "invalid request: {e}"),
        }
    }
}

impl std::error::Error for ProtocolError {}

impl From<FrameError> for ProtocolError {
    fn from(e: FrameError) -> Self {
        Self::Frame(e)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// [`Client::connect`] not called yet.
    Idle,
    /// CONNECT queued, waiting for CONNECT_ACK.
    AwaitingAck,
    /// Accepted.
    Connected,
    /// A protocol error happened; nothing more is decoded or sent.
    Failed,
}

/// One connection's protocol state. Sans-IO: bytes from the socket go in with
/// [`Client::handle_input`], events come out of [`Client::poll_event`], bytes for the socket
/// come out of [`Client::poll_transmit`]. No clock: the caller times requests out with
/// [`Client::abandon`].
#[derive(Debug)]
pub struct Client {
    state: State,
    inbox: BytesMut,
    outbox: VecDeque<Bytes>,
    latest_stream_id: StreamId,
    pending: HashMap<StreamId, Operation>,
    max_frame: usize,
}

impl Default for Client {
    fn default() -> Self {
        Self::new()
    }
}

impl Client {
    /// A client for a new connection (frames up to 16 MiB).
    pub fn new() -> Self {
        Self::with_max_frame(MAX_FRAME_LEN)
    }

    /// A client refusing frames above `max_frame` bytes (at most 16 MiB).
    pub fn with_max_frame(max_frame: usize) -> Self {
        Self {
            state: State::Idle,
            inbox: BytesMut::new(),
            outbox: VecDeque::new(),
            latest_stream_id: 0,
            pending: HashMap::new(),
            max_frame: max_frame.min(MAX_FRAME_LEN),
        }
    }

    /// Queues CONNECT with `:version` 0.1.0 and the JSON payload `{"authToken": …}` (the
    /// component's `SVCUID`). Called once, first.
    pub fn connect(&mut self, auth_token: &str) -> Result<(), ProtocolError> {
        if self.state != State::Idle {
            return Err(ProtocolError::Unexpected("connect called twice".into()));
        }
        #[derive(serde::Serialize)]
        struct ConnectBody<'a> {
            #[serde(rename = "authToken")]
            auth_token: &'a str,
        }
        let payload = serde_json::to_vec(&ConnectBody { auth_token }).unwrap_or_default();
        let mut out = BytesMut::new();
        frame::encode(
            MessageType::Connect,
            0,
            0,
            &[(header::VERSION, PROTOCOL_VERSION)],
            &payload,
            &mut out,
        )?;
        self.outbox.push_back(out.freeze());
        self.state = State::AwaitingAck;
        Ok(())
    }

    /// Whether CONNECT_ACK accepted the connection (and no error happened since).
    pub fn is_connected(&self) -> bool {
        self.state == State::Connected
    }

    /// Requests sent and not answered (nor abandoned).
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Queues `req` on a new stream (ids increase by one from 1, as the protocol requires)
    /// and returns its id.
    pub fn send(&mut self, req: &Request) -> Result<StreamId, ProtocolError> {
        if self.state != State::Connected {
            return Err(ProtocolError::NotConnected);
        }
        req.validate().map_err(ProtocolError::Invalid)?;
        let id = self
            .latest_stream_id
            .checked_add(1)
            .ok_or(ProtocolError::StreamIdsExhausted)?;
        let op = req.operation();
        let mut out = BytesMut::new();
        frame::encode(
            MessageType::ApplicationMessage,
            0,
            id,
            &[
                (header::CONTENT_TYPE, CONTENT_TYPE_JSON),
                (header::SERVICE_MODEL_TYPE, op.request_type()),
                (header::OPERATION, op.name()),
            ],
            &req.payload(),
            &mut out,
        )?;
        self.latest_stream_id = id;
        self.pending.insert(id, op);
        self.outbox.push_back(out.freeze());
        Ok(id)
    }

    /// Forgets a request (timed out): its answer, if it comes, is ignored.
    pub fn abandon(&mut self, id: StreamId) -> bool {
        self.pending.remove(&id).is_some()
    }

    /// Bytes read from the socket.
    pub fn handle_input(&mut self, data: &[u8]) {
        if self.state != State::Failed {
            self.inbox.extend_from_slice(data);
        }
    }

    /// The next frame to write, if any.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        self.outbox.pop_front()
    }

    /// The next event from the bytes received so far: `Ok(None)` when more bytes are needed.
    /// After an `Err` the connection is unusable: close it.
    pub fn poll_event(&mut self) -> Result<Option<Event>, ProtocolError> {
        if self.state == State::Failed {
            return Err(ProtocolError::NotConnected);
        }
        loop {
            let frame = match frame::split_frame(&mut self.inbox, self.max_frame) {
                Ok(Some(f)) => f,
                Ok(None) => return Ok(None),
                Err(e) => return self.fail(e.into()),
            };
            let msg = match frame::decode(frame) {
                Ok(m) => m,
                Err(e) => return self.fail(e.into()),
            };
            match self.on_message(msg) {
                Ok(Some(ev)) => return Ok(Some(ev)),
                Ok(None) => continue,
                Err(e) => return self.fail(e),
            }
        }
    }

    fn fail(&mut self, e: ProtocolError) -> Result<Option<Event>, ProtocolError> {
        self.state = State::Failed;
        self.inbox = BytesMut::new();
        self.pending.clear();
        Err(e)
    }

    fn on_message(&mut self, msg: RpcMessage) -> Result<Option<Event>, ProtocolError> {
        let Some(ty) = MessageType::from_i32(msg.message_type) else {
            return Err(ProtocolError::Unexpected(format!(
                "unknown :message-type {}",
                msg.message_type
            )));
        };
        if matches!(ty, MessageType::ProtocolError | MessageType::InternalError) {
            let n = msg.payload.len().min(1024);
            return Err(ProtocolError::ServerError {
                kind: if ty == MessageType::ProtocolError {
                    "PROTOCOL_ERROR"
                } else {
                    "INTERNAL_ERROR"
                },
                message: String::from_utf8_lossy(&msg.payload[..n]).into_owned(),
            });
        }
        match self.state {
            State::Idle => Err(ProtocolError::Unexpected(format!(
                "{ty:?} before CONNECT was sent"
            ))),
            State::AwaitingAck => {
                if ty != MessageType::ConnectAck || msg.stream_id != 0 {
                    return Err(ProtocolError::Unexpected(format!(
                        "{ty:?} on stream {} before CONNECT_ACK",
                        msg.stream_id
                    )));
                }
                if msg.flags & FLAG_CONNECTION_ACCEPTED == 0 {
                    return Err(ProtocolError::ConnectionRejected);
                }
                self.state = State::Connected;
                Ok(Some(Event::Connected))
            }
            State::Connected if msg.stream_id == 0 => match ty {
                MessageType::Ping => {
                    // Answer with the payload and the application headers, as servers do.
                    let headers: Vec<(String, String)> = msg
                        .headers
                        .iter()
                        .filter(|h| !h.name().as_str().starts_with(':'))
                        .filter_map(|h| {
                            let v = h.value().as_string().ok()?;
                            Some((h.name().as_str().to_owned(), v.as_str().to_owned()))
                        })
                        .collect();
                    let refs: Vec<(&str, &str)> = headers
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_str()))
                        .collect();
                    let mut out = BytesMut::new();
                    frame::encode(
                        MessageType::PingResponse,
                        0,
                        0,
                        &refs,
                        &msg.payload,
                        &mut out,
                    )?;
                    self.outbox.push_back(out.freeze());
                    Ok(Some(Event::Ping))
                }
                MessageType::PingResponse => Ok(None),
                other => Err(ProtocolError::Unexpected(format!(
                    "{other:?} on stream 0 after the handshake"
                ))),
            },
            State::Connected => {
                if !matches!(
                    ty,
                    MessageType::ApplicationMessage | MessageType::ApplicationError
                ) {
                    return Err(ProtocolError::Unexpected(format!(
                        "{ty:?} on stream {}",
                        msg.stream_id
                    )));
                }
                if msg.stream_id < 0 || msg.stream_id > self.latest_stream_id {
                    return Err(ProtocolError::Unexpected(format!(
                        "message on stream {}, which this client did not open",
                        msg.stream_id
                    )));
                }
                // An answer to an abandoned (timed-out) request, or a late stream end.
                let Some(operation) = self.pending.remove(&msg.stream_id) else {
                    return Ok(None);
                };
                let model_type = msg.header_str(header::SERVICE_MODEL_TYPE);
                let result = if ty == MessageType::ApplicationMessage {
                    // A TERMINATE_STREAM message without a shape ends the stream unanswered.
                    let model_type = model_type.filter(|_| {
                        !(msg.flags & FLAG_TERMINATE_STREAM != 0 && msg.payload.is_empty())
                    });
                    parse_response(operation, model_type, &msg.payload)
                } else {
                    Err(parse_error(model_type, &msg.payload))
                };
                Ok(Some(Event::Response {
                    stream_id: msg.stream_id,
                    operation,
                    result,
                }))
            }
            State::Failed => Err(ProtocolError::NotConnected),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ErrorKind, LifecycleState};

    /// What the nucleus would send.
    fn server(
        ty: MessageType,
        flags: i32,
        stream: i32,
        headers: &[(&str, &str)],
        payload: &[u8],
    ) -> Vec<u8> {
        let mut out = BytesMut::new();
        frame::encode(ty, flags, stream, headers, payload, &mut out).unwrap();
        out.to_vec()
    }

    fn sent(c: &mut Client) -> RpcMessage {
        let f = c.poll_transmit().expect("a frame to send");
        frame::decode(f).unwrap()
    }

    fn connected() -> Client {
        let mut c = Client::new();
        c.connect("tok").unwrap();
        let _ = sent(&mut c);
        c.handle_input(&server(
            MessageType::ConnectAck,
            FLAG_CONNECTION_ACCEPTED,
            0,
            &[],
            b"",
        ));
        assert_eq!(c.poll_event(), Ok(Some(Event::Connected)));
        c
    }

    #[test]
    fn connect_message_shape() {
        let mut c = Client::new();
        assert_eq!(
            c.send(&Request::UpdateState(LifecycleState::Running)),
            Err(ProtocolError::NotConnected)
        );
        c.connect("svc\"uid").unwrap();
        let m = sent(&mut c);
        assert_eq!((m.message_type, m.flags, m.stream_id), (4, 0, 0));
        assert_eq!(m.header_str(":version"), Some("0.1.0"));
        let body: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
        assert_eq!(body, serde_json::json!({"authToken": "svc\"uid"}));
        assert!(c.poll_transmit().is_none());
        assert!(!c.is_connected());
        assert!(c.connect("again").is_err());
    }

    #[test]
    fn requests_get_increasing_stream_ids_and_their_responses() {
        let mut c = connected();
        let a = c
            .send(&Request::UpdateState(LifecycleState::Running))
            .unwrap();
        let b = c
            .send(&Request::ValidateAuthorizationToken("t".into()))
            .unwrap();
        assert_eq!((a, b), (1, 2));
        let m = sent(&mut c);
        assert_eq!((m.message_type, m.flags, m.stream_id), (0, 0, 1));
        assert_eq!(
            m.header_str("operation"),
            Some("aws.greengrass#UpdateState")
        );
        assert_eq!(
            m.header_str("service-model-type"),
            Some("aws.greengrass#UpdateStateRequest")
        );
        assert_eq!(m.header_str(":content-type"), Some("application/json"));
        assert_eq!(&m.payload[..], br#"{"state":"RUNNING"}"#);
        let m = sent(&mut c);
        assert_eq!(m.stream_id, 2);
        assert_eq!(c.pending(), 2);

        // Answers in the other order, delivered a byte at a time.
        let mut bytes = server(
            MessageType::ApplicationError,
            FLAG_TERMINATE_STREAM,
            2,
            &[
                (":content-type", "application/json"),
                ("service-model-type", "aws.greengrass#InvalidTokenError"),
            ],
            br#"{"message":"Invalid token"}"#,
        );
        bytes.extend(server(
            MessageType::ApplicationMessage,
            FLAG_TERMINATE_STREAM,
            1,
            &[
                (":content-type", "application/json"),
                ("service-model-type", "aws.greengrass#UpdateStateResponse"),
            ],
            b"{}",
        ));
        let mut events = Vec::new();
        for b in &bytes {
            c.handle_input(&[*b]);
            while let Some(ev) = c.poll_event().unwrap() {
                events.push(ev);
            }
        }
        assert_eq!(
            events,
            vec![
                Event::Response {
                    stream_id: 2,
                    operation: Operation::ValidateAuthorizationToken,
                    result: Err(OperationError {
                        kind: ErrorKind::InvalidToken,
                        message: "Invalid token".into()
                    }),
                },
                Event::Response {
                    stream_id: 1,
                    operation: Operation::UpdateState,
                    result: Ok(Response::UpdateState),
                },
            ]
        );
        assert_eq!(c.pending(), 0);
    }

    #[test]
    fn rejected_connection() {
        let mut c = Client::new();
        c.connect("bad").unwrap();
        c.handle_input(&server(MessageType::ConnectAck, 0, 0, &[], b""));
        assert_eq!(c.poll_event(), Err(ProtocolError::ConnectionRejected));
        assert_eq!(c.poll_event(), Err(ProtocolError::NotConnected));
        assert!(!c.is_connected());
    }

    #[test]
    fn messages_before_the_ack_are_protocol_errors() {
        let mut c = Client::new();
        c.connect("t").unwrap();
        c.handle_input(&server(MessageType::ApplicationMessage, 0, 1, &[], b"{}"));
        assert!(matches!(c.poll_event(), Err(ProtocolError::Unexpected(_))));
    }

    #[test]
    fn ping_is_answered() {
        let mut c = connected();
        c.handle_input(&server(
            MessageType::Ping,
            0,
            0,
            &[("x-app", "1")],
            b"hello",
        ));
        assert_eq!(c.poll_event(), Ok(Some(Event::Ping)));
        let m = sent(&mut c);
        assert_eq!((m.message_type, m.stream_id), (3, 0));
        assert_eq!(m.header_str("x-app"), Some("1"));
        assert_eq!(&m.payload[..], b"hello");
        c.handle_input(&server(MessageType::PingResponse, 0, 0, &[], b""));
        assert_eq!(c.poll_event(), Ok(None));
        assert!(c.is_connected());
    }

    #[test]
    fn abandoned_and_unknown_streams() {
        let mut c = connected();
        let id = c
            .send(&Request::UpdateState(LifecycleState::Running))
            .unwrap();
        assert!(c.abandon(id));
        assert!(!c.abandon(id));
        // A late answer to the abandoned request is dropped.
        c.handle_input(&server(
            MessageType::ApplicationMessage,
            FLAG_TERMINATE_STREAM,
            id,
            &[("service-model-type", "aws.greengrass#UpdateStateResponse")],
            b"{}",
        ));
        assert_eq!(c.poll_event(), Ok(None));
        // A stream the client never opened.
        c.handle_input(&server(
            MessageType::ApplicationMessage,
            0,
            id + 1,
            &[],
            b"{}",
        ));
        assert!(matches!(c.poll_event(), Err(ProtocolError::Unexpected(_))));
    }

    #[test]
    fn stream_end_without_response() {
        let mut c = connected();
        let id = c
            .send(&Request::PutComponentMetric(vec![crate::Metric {
                name: "BytesAppended".into(),
                unit: crate::MetricUnit::Bytes,
                value: 1.0,
            }]))
            .unwrap();
        c.handle_input(&server(
            MessageType::ApplicationMessage,
            FLAG_TERMINATE_STREAM,
            id,
            &[],
            b"",
        ));
        let Ok(Some(Event::Response { result: Err(e), .. })) = c.poll_event() else {
            panic!("expected an error response");
        };
        assert_eq!(e.kind, ErrorKind::BadResponse);
    }

    #[test]
    fn server_errors_and_invalid_requests() {
        let mut c = connected();
        assert!(matches!(
            c.send(&Request::PutComponentMetric(vec![])),
            Err(ProtocolError::Invalid(_))
        ));
        assert_eq!(c.pending(), 0);
        c.handle_input(&server(
            MessageType::ProtocolError,
            0,
            0,
            &[],
            b"bad stream id",
        ));
        assert_eq!(
            c.poll_event(),
            Err(ProtocolError::ServerError {
                kind: "PROTOCOL_ERROR",
                message: "bad stream id".into()
            })
        );
        let mut c = connected();
        c.handle_input(&[0u8; 12]);
        assert!(matches!(c.poll_event(), Err(ProtocolError::Frame(_))));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_input_never_panics(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            crate::fuzzing::client_input(&data);
        }

        #[test]
        fn any_error_payload_on_a_pending_stream_is_one_response(payload in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256), stream in 1i32..4) {
            // Any payload on a pending stream yields exactly one response event.
            let mut c = connected();
            for _ in 0..stream {
                c.send(&Request::UpdateState(LifecycleState::Running)).unwrap();
            }
            c.handle_input(&server(MessageType::ApplicationError, FLAG_TERMINATE_STREAM, stream, &[], &payload));
            let ev = c.poll_event().unwrap();
            let is_response = matches!(ev, Some(Event::Response { stream_id, .. }) if stream_id == stream);
            proptest::prop_assert!(is_response);
            proptest::prop_assert_eq!(c.poll_event().unwrap(), None);
        }
    }
}
