//! The server side of a connection: version byte, Connect, then typed requests.

use bytes::{BufMut, Bytes, BytesMut};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sm_model::{
    AppendMessageRequest, ConnectRequest, ConnectResponse, ListStreamsRequest, NamedRequest,
    ReadMessagesRequest, ResponseStatusCode, StatusResponse, StreamDefinitionRequest,
};

use crate::append::decode_append_request;
use crate::cbor_scan::request_id_of;
use crate::frame::{FrameDecoder, FrameError, Inbound};
use crate::Op;

/// The connect version byte, sent first by both sides.
pub const CONNECT_VERSION: u8 = 1;

/// Protocol versions this server speaks, preferred first.
pub const SUPPORTED_PROTOCOL_VERSIONS: [&str; 2] = ["1.1.0", "1.0.0"];

/// A decoded client request.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// Op 2.
    CreateMessageStream(StreamDefinitionRequest),
    /// Op 3.
    DeleteMessageStream(NamedRequest),
    /// Op 4.
    AppendMessage(AppendMessageRequest),
    /// Op 5.
    ReadMessages(ReadMessagesRequest),
    /// Op 11.
    ListStreams(ListStreamsRequest),
    /// Op 13.
    DescribeMessageStream(NamedRequest),
    /// Op 15.
    UpdateMessageStream(StreamDefinitionRequest),
}

impl Request {
    /// The operation of this request.
    pub fn op(&self) -> Op {
        match self {
            Self::CreateMessageStream(_) => Op::CreateMessageStream,
            Self::DeleteMessageStream(_) => Op::DeleteMessageStream,
            Self::AppendMessage(_) => Op::AppendMessage,
            Self::ReadMessages(_) => Op::ReadMessages,
            Self::ListStreams(_) => Op::ListStreams,
            Self::DescribeMessageStream(_) => Op::DescribeMessageStream,
            Self::UpdateMessageStream(_) => Op::UpdateMessageStream,
        }
    }

    /// The request id as sent (not validated).
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Self::CreateMessageStream(r) | Self::UpdateMessageStream(r) => r.request_id.as_deref(),
            Self::DeleteMessageStream(r) | Self::DescribeMessageStream(r) => {
                r.request_id.as_deref()
            }
            Self::AppendMessage(r) => r.request_id.as_deref(),
            Self::ReadMessages(r) => r.request_id.as_deref(),
            Self::ListStreams(r) => r.request_id.as_deref(),
        }
    }
}

/// A request the codec answers by itself with an error status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The op to answer with.
    pub op: Op,
    /// The request id, when it could be recovered.
    pub request_id: Option<String>,
    /// The status.
    pub status: ResponseStatusCode,
    /// Why.
    pub message: String,
}

/// One event of a connection.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The Connect request (exactly once, first).
    Connect(ConnectRequest),
    /// A request to serve.
    Request(Request),
    /// A request to answer with an error, as described.
    Reject(Rejection),
}

/// The peer does not speak this protocol; the connection must be closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireError {
    /// The first byte was not the connect version.
    BadConnectVersion(u8),
    /// The first frame was not a decodable Connect.
    BadConnect(String),
    /// An impossible length prefix.
    Frame(FrameError),
}

impl WireError {
    /// Bytes to send before closing, if any: a peer that sent a wrong version byte gets our
    /// version byte and a ConnectResponse with `UnsupportedConnectVersion`.
    pub fn reply(&self) -> Option<BytesMut> {
        let status = match self {
            Self::BadConnectVersion(_) => ResponseStatusCode::UnsupportedConnectVersion,
            Self::BadConnect(_) => ResponseStatusCode::InvalidRequest,
            Self::Frame(_) => return None,
        };
        let mut out = BytesMut::new();
        if matches!(self, Self::BadConnectVersion(_)) {
            out.put_u8(CONNECT_VERSION);
        }
        let resp = ConnectResponse {
            request_id: None,
            status,
            error_message: Some(self.to_string()),
            protocol_version: None,
            supported_protocol_versions: SUPPORTED_PROTOCOL_VERSIONS.map(String::from).to_vec(),
            server_version: None,
            client_identifier: None,
        };
        encode_frame(Op::ConnectResponse, &resp, &mut out).ok()?;
        Some(out)
    }
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::BadConnectVersion(b) => write!(
                f,
                "unsupported connect version byte {b:#04x}, expected {CONNECT_VERSION:#04x}"
            ),
            Self::BadConnect(m) => write!(f, "bad Connect request: {m}"),
            Self::Frame(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for WireError {}

impl From<FrameError> for WireError {
    fn from(e: FrameError) -> Self {
        Self::Frame(e)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Version,
    Connect,
    Ready,
}

/// The decoding half of one server connection.
#[derive(Debug)]
pub struct ServerCodec {
    phase: Phase,
    frames: FrameDecoder,
}

impl ServerCodec {
    /// A codec for a new connection, refusing frames above `max_frame` bytes.
    pub fn new(max_frame: u32) -> Self {
        Self {
            phase: Phase::Version,
            frames: FrameDecoder::new(max_frame),
        }
    }

    /// Whether the Connect has been received.
    pub fn is_connected(&self) -> bool {
        self.phase == Phase::Ready
    }

    /// Whether a Connect or a frame is partly received (`buffered` = bytes not yet decoded):
    /// a peer that stops here is stalled, not idle.
    pub fn mid_frame(&self, buffered: usize) -> bool {
        self.phase != Phase::Ready || self.frames.mid_frame(buffered)
    }

    /// Decodes the next event from `src` (see the crate docs for the drive loop).
    pub fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Event>, WireError> {
        if self.phase == Phase::Version {
            let Some(&b) = src.first() else {
                return Ok(None);
            };
            if b != CONNECT_VERSION {
                return Err(WireError::BadConnectVersion(b));
            }
            let _ = src.split_to(1);
            self.phase = Phase::Connect;
        }
        let Some(inbound) = self.frames.decode(src)? else {
            return Ok(None);
        };
        if self.phase == Phase::Connect {
            return match inbound {
                Inbound::Frame { op: 1, payload } => {
                    let req: ConnectRequest = ciborium::from_reader(&payload[..])
                        .map_err(|e| WireError::BadConnect(e.to_string()))?;
                    self.phase = Phase::Ready;
                    Ok(Some(Event::Connect(req)))
                }
                Inbound::Frame { op, .. } | Inbound::Oversize { op, .. } => Err(
                    WireError::BadConnect(format!("expected op 1 (Connect) first, got op {op}")),
                ),
            };
        }
        Ok(Some(match inbound {
            Inbound::Frame { op, payload } => decode_request(op, &payload),
            Inbound::Oversize { op, declared, head } => {
                let op_kind = Op::from_u8(op).unwrap_or(Op::Unknown);
                Event::Reject(Rejection {
                    op: op_kind.response(),
                    request_id: request_id_of(&head),
                    status: ResponseStatusCode::RequestPayloadTooLarge,
                    message: format!(
                        "frame of {declared} bytes exceeds this server's maximum of {} bytes",
                        self.max_frame()
                    ),
                })
            }
        }))
    }

    fn max_frame(&self) -> u32 {
        self.frames.max_frame()
    }
}

fn typed<T: DeserializeOwned>(op: Op, payload: &[u8], wrap: fn(T) -> Request) -> Event {
    match ciborium::from_reader::<T, _>(payload) {
        Ok(v) => Event::Request(wrap(v)),
        Err(e) => Event::Reject(Rejection {
            op: op.response(),
            request_id: request_id_of(payload),
            status: ResponseStatusCode::InvalidRequest,
            message: format!("could not decode {op:?} request: {e}"),
        }),
    }
}

fn decode_request(op: u8, payload: &Bytes) -> Event {
    match Op::from_u8(op) {
        Some(Op::CreateMessageStream) => typed(
            Op::CreateMessageStream,
            payload,
            Request::CreateMessageStream,
        ),
        Some(Op::UpdateMessageStream) => typed(
            Op::UpdateMessageStream,
            payload,
            Request::UpdateMessageStream,
        ),
        Some(Op::DeleteMessageStream) => typed(
            Op::DeleteMessageStream,
            payload,
            Request::DeleteMessageStream,
        ),
        Some(Op::DescribeMessageStream) => typed(
            Op::DescribeMessageStream,
            payload,
            Request::DescribeMessageStream,
        ),
        Some(Op::AppendMessage) => match decode_append_request(payload) {
            Some(r) => Event::Request(Request::AppendMessage(r)),
            None => typed(Op::AppendMessage, payload, Request::AppendMessage),
        },
        Some(Op::ReadMessages) => typed(Op::ReadMessages, payload, Request::ReadMessages),
        Some(Op::ListStreams) => typed(Op::ListStreams, payload, Request::ListStreams),
        Some(Op::Connect) => Event::Reject(Rejection {
            op: Op::UnknownOperationError,
            request_id: request_id_of(payload),
            status: ResponseStatusCode::UnexpectedOperation,
            message: "Connect was already received on this connection".into(),
        }),
        _ => Event::Reject(Rejection {
            op: Op::UnknownOperationError,
            request_id: request_id_of(payload),
            status: ResponseStatusCode::UnknownOperation,
            message: format!("unknown operation {op}"),
        }),
    }
}

/// Picks the protocol version for a Connect: the client's preferred one if this server
/// speaks it, else the first of its other versions that this server speaks.
pub fn negotiate(req: &ConnectRequest) -> Result<&'static str, (ResponseStatusCode, String)> {
    let Some(preferred) = req.protocol_version.as_deref() else {
        return Err((
            ResponseStatusCode::InvalidProtocolVersion,
            "protocolVersion is required".into(),
        ));
    };
    std::iter::once(preferred)
        .chain(req.other_supported_protocol_versions.iter().map(String::as_str))
        .find_map(|v| SUPPORTED_PROTOCOL_VERSIONS.iter().find(|s| **s == v).copied())
        .ok_or_else(|| {
            (
                ResponseStatusCode::UnsupportedProtocolVersion,
                format!(
                    "none of the client's protocol versions ({preferred}, {:?}) is supported; this server speaks {:?}",
                    req.other_supported_protocol_versions, SUPPORTED_PROTOCOL_VERSIONS
                ),
            )
        })
}

/// An error while encoding a response (only possible for values CBOR cannot hold).
#[derive(Debug)]
pub struct EncodeError(String);

impl std::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for EncodeError {}

/// Appends one frame `length | op | CBOR(msg)` to `out`. Returns the frame's length prefix
/// value (payload + 1), so the caller can compare it with the protocol maximum.
pub fn encode_frame<T: Serialize>(
    op: Op,
    msg: &T,
    out: &mut BytesMut,
) -> Result<usize, EncodeError> {
    let start = out.len();
    out.put_i32(0);
    out.put_u8(op as u8);
    let mut w = out.writer();
    ciborium::into_writer(msg, &mut w).map_err(|e| EncodeError(e.to_string()))?;
    let out = w.into_inner();
    let len = out.len() - start - 4;
    let Ok(prefix) = i32::try_from(len) else {
        out.truncate(start);
        return Err(EncodeError(format!("frame of {len} bytes is too large")));
    };
    out[start..start + 4].copy_from_slice(&prefix.to_be_bytes());
    Ok(len)
}

/// Appends a status-only response frame (`requestId`, `status`, `errorMessage`) for `op`.
/// Works for every response op: the SDKs decode the extra-less shape for each of them.
pub fn encode_status(
    op: Op,
    request_id: Option<&str>,
    status: ResponseStatusCode,
    message: Option<&str>,
    out: &mut BytesMut,
) {
    let resp = StatusResponse {
        request_id: request_id.map(str::to_owned),
        status,
        error_message: message.map(str::to_owned),
    };
    // A status response only holds strings and a small integer: encoding cannot fail.
    let _ = encode_frame(op, &resp, out);
}

/// Appends the version byte and a ConnectResponse.
pub fn encode_connect_response(resp: &ConnectResponse, out: &mut BytesMut) {
    out.put_u8(CONNECT_VERSION);
    let _ = encode_frame(Op::ConnectResponse, resp, out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use ciborium::Value;

    fn cbor(v: &Value) -> Vec<u8> {
        let mut out = vec![];
        ciborium::into_writer(v, &mut out).unwrap();
        out
    }

    fn map(entries: &[(&str, Value)]) -> Value {
        Value::Map(
            entries
                .iter()
                .map(|(k, v)| (Value::Text((*k).into()), v.clone()))
                .collect(),
        )
    }

    fn frame(op: u8, payload: &[u8]) -> Vec<u8> {
        let mut v = ((payload.len() + 1) as i32).to_be_bytes().to_vec();
        v.push(op);
        v.extend_from_slice(payload);
        v
    }

    fn connected() -> (ServerCodec, BytesMut) {
        let mut c = ServerCodec::new(1 << 20);
        let connect = map(&[
            ("requestId", Value::Text("c1".into())),
            ("protocolVersion", Value::Text("1.1.0".into())),
            (
                "otherSupportedProtocolVersions",
                Value::Array(vec![Value::Text("1.0.0".into())]),
            ),
            ("sdkVersion", Value::Text("1.1.2".into())),
        ]);
        let mut buf = BytesMut::from(&[&[1u8][..], &frame(1, &cbor(&connect))].concat()[..]);
        match c.decode(&mut buf).unwrap() {
            Some(Event::Connect(r)) => {
                assert_eq!(r.request_id.as_deref(), Some("c1"));
                assert_eq!(negotiate(&r).unwrap(), "1.1.0");
            }
            other => panic!("{other:?}"),
        }
        (c, buf)
    }

    #[test]
    fn append_round_trip() {
        let (mut c, mut buf) = connected();
        let req = map(&[
            ("requestId", Value::Text(" ".into())),
            ("name", Value::Text("s".into())),
            ("payload", Value::Bytes(vec![1, 2, 3])),
            ("someFutureKey", Value::Integer(5.into())),
        ]);
        buf.extend_from_slice(&frame(4, &cbor(&req)));
        match c.decode(&mut buf).unwrap() {
            Some(Event::Request(Request::AppendMessage(r))) => {
                assert_eq!(r.request_id.as_deref(), Some(" "));
                assert_eq!(r.payload.as_deref(), Some(&[1u8, 2, 3][..]));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn indefinite_maps_and_wide_integers() {
        let (mut c, mut buf) = connected();
        // {_ "requestId": "r", "streamName": "s", "readMessagesOptions": {_ "minMessageCount": 2 as u64 } }
        let mut p = vec![0xbf, 0x69];
        p.extend(b"requestId");
        p.extend([0x61, b'r', 0x6a]);
        p.extend(b"streamName");
        p.extend([0x61, b's', 0x73]);
        p.extend(b"readMessagesOptions");
        p.extend([0xbf, 0x6f]);
        p.extend(b"minMessageCount");
        p.extend([0x1b, 0, 0, 0, 0, 0, 0, 0, 2, 0xff, 0xff]);
        buf.extend_from_slice(&frame(5, &p));
        match c.decode(&mut buf).unwrap() {
            Some(Event::Request(Request::ReadMessages(r))) => {
                assert_eq!(r.stream_name.as_deref(), Some("s"));
                assert_eq!(r.read_messages_options.unwrap().min_message_count, Some(2));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unknown_op_and_bad_cbor_are_rejected_with_request_id() {
        let (mut c, mut buf) = connected();
        let req = map(&[("requestId", Value::Text("u1".into()))]);
        buf.extend_from_slice(&frame(99, &cbor(&req)));
        let Some(Event::Reject(r)) = c.decode(&mut buf).unwrap() else {
            panic!()
        };
        assert_eq!(r.op, Op::UnknownOperationError);
        assert_eq!(r.status, ResponseStatusCode::UnknownOperation);
        assert_eq!(r.request_id.as_deref(), Some("u1"));

        // maxSize as a string: decodable CBOR, wrong type.
        let req = map(&[
            ("requestId", Value::Text("b1".into())),
            ("definition", map(&[("maxSize", Value::Text("big".into()))])),
        ]);
        buf.extend_from_slice(&frame(2, &cbor(&req)));
        let Some(Event::Reject(r)) = c.decode(&mut buf).unwrap() else {
            panic!()
        };
        assert_eq!(r.op, Op::CreateMessageStreamResponse);
        assert_eq!(r.status, ResponseStatusCode::InvalidRequest);
        assert_eq!(r.request_id.as_deref(), Some("b1"));

        buf.extend_from_slice(&frame(4, &[0xff, 0x00, 0x13]));
        let Some(Event::Reject(r)) = c.decode(&mut buf).unwrap() else {
            panic!()
        };
        assert_eq!(r.request_id, None);
        assert_eq!(r.op, Op::AppendMessageResponse);
    }

    #[test]
    fn bad_version_byte_and_connect() {
        let mut c = ServerCodec::new(1 << 20);
        let mut buf = BytesMut::from(&b"GET / HTTP/1.1\r\n"[..]);
        let err = c.decode(&mut buf).unwrap_err();
        assert_eq!(err, WireError::BadConnectVersion(b'G'));
        let reply = err.reply().unwrap();
        assert_eq!(reply[0], CONNECT_VERSION);
        assert_eq!(reply[5], Op::ConnectResponse as u8);

        let mut c = ServerCodec::new(1 << 20);
        let mut buf = BytesMut::from(&[&[1u8][..], &frame(4, &[0xa0])].concat()[..]);
        assert!(matches!(c.decode(&mut buf), Err(WireError::BadConnect(_))));
    }

    #[test]
    fn negotiation() {
        let mut r = ConnectRequest {
            protocol_version: Some("1.0.0".into()),
            ..Default::default()
        };
        assert_eq!(negotiate(&r).unwrap(), "1.0.0");
        r.protocol_version = Some("9.9.9".into());
        assert_eq!(
            negotiate(&r).unwrap_err().0,
            ResponseStatusCode::UnsupportedProtocolVersion
        );
        r.other_supported_protocol_versions = vec!["1.1.0".into()];
        assert_eq!(negotiate(&r).unwrap(), "1.1.0");
    }

    #[test]
    fn status_frame_shape() {
        let mut out = BytesMut::new();
        encode_status(
            Op::UnknownOperationError,
            Some("x"),
            ResponseStatusCode::UnknownOperation,
            Some("nope"),
            &mut out,
        );
        let len = i32::from_be_bytes(out[..4].try_into().unwrap()) as usize;
        assert_eq!(len, out.len() - 4);
        assert_eq!(out[4], 17);
        let v: Value = ciborium::from_reader(&out[5..]).unwrap();
        let m = v.as_map().unwrap();
        assert!(m.contains(&(Value::Text("status".into()), Value::Integer(18.into()))));
        assert!(m.contains(&(Value::Text("requestId".into()), Value::Text("x".into()))));
    }
}
