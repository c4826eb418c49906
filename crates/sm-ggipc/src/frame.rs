//! Eventstream frames with the RPC headers pulled out.
//!
//! The frame itself (prelude, typed headers, payload, the two CRC-32s) is encoded and decoded
//! by `aws-smithy-eventstream`. This module adds what that crate leaves to its caller: a bound
//! on the frame length checked on the 12-byte prelude (with its CRC) *before* the rest of the
//! frame is buffered, and the eventstream-RPC headers (`:message-type`, `:message-flags`,
//! `:stream-id`) as typed fields.

use aws_smithy_eventstream::frame::{read_message_from, write_message_to};
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use bytes::{Buf, Bytes, BytesMut};

/// Bytes of the prelude: total length, headers length, prelude CRC (all u32 big-endian).
pub const PRELUDE_LEN: usize = 12;
/// The smallest frame: a prelude and the message CRC.
pub const MIN_FRAME_LEN: usize = PRELUDE_LEN + 4;
/// The largest frame accepted, as in the AWS CRT's eventstream implementation (16 MiB).
pub const MAX_FRAME_LEN: usize = 16 * 1024 * 1024;

/// `:message-type` values (eventstream RPC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum MessageType {
    /// A request, response or stream event on a stream.
    ApplicationMessage = 0,
    /// A modeled (or unmodeled) error on a stream.
    ApplicationError = 1,
    /// Keep-alive request (stream 0).
    Ping = 2,
    /// Keep-alive answer (stream 0).
    PingResponse = 3,
    /// The client's handshake (stream 0).
    Connect = 4,
    /// The server's handshake answer (stream 0).
    ConnectAck = 5,
    /// The peer broke the protocol; the connection is closed.
    ProtocolError = 6,
    /// The peer failed internally; the connection is closed.
    InternalError = 7,
}

impl MessageType {
    /// The type for a `:message-type` value.
    pub fn from_i32(v: i32) -> Option<Self> {
        Some(match v {
            0 => Self::ApplicationMessage,
            1 => Self::ApplicationError,
            2 => Self::Ping,
            3 => Self::PingResponse,
            4 => Self::Connect,
            5 => Self::ConnectAck,
            6 => Self::ProtocolError,
            7 => Self::InternalError,
            _ => return None,
        })
    }
}

/// `:message-flags` bit of a CONNECT_ACK that accepts the connection.
pub const FLAG_CONNECTION_ACCEPTED: i32 = 1;
/// `:message-flags` bit that ends a stream.
pub const FLAG_TERMINATE_STREAM: i32 = 2;

/// Header names.
pub mod header {
    /// Message type (int32).
    pub const MESSAGE_TYPE: &str = ":message-type";
    /// Message flags (int32).
    pub const MESSAGE_FLAGS: &str = ":message-flags";
    /// Stream id (int32); 0 for connection-level messages.
    pub const STREAM_ID: &str = ":stream-id";
    /// Protocol version of CONNECT (string).
    pub const VERSION: &str = ":version";
    /// Payload content type (string).
    pub const CONTENT_TYPE: &str = ":content-type";
    /// Operation of the first message of a stream (string).
    pub const OPERATION: &str = "operation";
    /// Smithy shape of the payload (string).
    pub const SERVICE_MODEL_TYPE: &str = "service-model-type";
}

/// Why bytes are not a valid eventstream-RPC frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// The prelude's CRC does not match its 8 bytes.
    PreludeCrc {
        /// CRC computed over the prelude.
        computed: u32,
        /// CRC the frame carries.
        carried: u32,
    },
    /// A total length below 16 bytes, or a headers length that does not fit in it.
    BadLength {
        /// Total length in the prelude.
        total: u32,
        /// Headers length in the prelude.
        headers: u32,
    },
    /// A frame longer than [`MAX_FRAME_LEN`].
    TooLarge(u32),
    /// The frame did not decode (message CRC, header encoding).
    Malformed(String),
    /// A required RPC header is missing or not an int32.
    MissingHeader(&'static str),
    /// A message could not be encoded (a header value too long).
    Encode(String),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::PreludeCrc { computed, carried } => write!(
                f,
                "prelude CRC mismatch (computed {computed:#010x}, frame carries {carried:#010x})"
            ),
            Self::BadLength { total, headers } => write!(
                f,
                "invalid frame lengths (total {total}, headers {headers})"
            ),
            Self::TooLarge(n) => write!(
                f,
                "frame of {n} bytes exceeds the limit of {MAX_FRAME_LEN} bytes"
            ),
            Self::Malformed(m) => write!(f, "malformed frame: {m}"),
            Self::MissingHeader(h) => write!(f, "missing or mistyped header {h}"),
            Self::Encode(m) => write!(f, "cannot encode message: {m}"),
        }
    }
}

impl std::error::Error for FrameError {}

/// One decoded message: the RPC headers as fields, the other headers, the payload.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcMessage {
    /// `:message-type` (kept raw: unknown values are the caller's protocol error).
    pub message_type: i32,
    /// `:message-flags` (0 when absent).
    pub flags: i32,
    /// `:stream-id` (0 when absent: connection-level).
    pub stream_id: i32,
    /// Every header but the three above.
    pub headers: Vec<Header>,
    /// The payload.
    pub payload: Bytes,
}

impl RpcMessage {
    /// The value of a string header, if present and a string.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| h.name().as_str() == name)
            .and_then(|h| h.value().as_string().ok())
            .map(|s| s.as_str())
    }
}

/// Appends one frame to `out`.
pub fn encode(
    message_type: MessageType,
    flags: i32,
    stream_id: i32,
    headers: &[(&str, &str)],
    payload: &[u8],
    out: &mut BytesMut,
) -> Result<(), FrameError> {
    let mut msg = Message::new(Bytes::copy_from_slice(payload));
    for (name, value) in headers {
        msg = msg.add_header(Header::new(
            (*name).to_owned(),
            HeaderValue::String((*value).to_owned().into()),
        ));
    }
    msg = msg
        .add_header(Header::new(
            header::MESSAGE_TYPE,
            HeaderValue::Int32(message_type as i32),
        ))
        .add_header(Header::new(
            header::MESSAGE_FLAGS,
            HeaderValue::Int32(flags),
        ))
        .add_header(Header::new(
            header::STREAM_ID,
            HeaderValue::Int32(stream_id),
        ));
    let mut buf = Vec::with_capacity(64 + payload.len());
    write_message_to(&msg, &mut buf).map_err(|e| FrameError::Encode(e.to_string()))?;
    out.extend_from_slice(&buf);
    Ok(())
}

/// Splits one whole frame off the front of `buf`: `Ok(None)` until it is all there. The
/// prelude (lengths and CRC) is checked as soon as its 12 bytes are, so a frame above
/// `max` (at most [`MAX_FRAME_LEN`]) or with a corrupt prelude is refused before its body is
/// waited for.
pub fn split_frame(buf: &mut BytesMut, max: usize) -> Result<Option<Bytes>, FrameError> {
    if buf.len() < PRELUDE_LEN {
        return Ok(None);
    }
    let mut p = &buf[..PRELUDE_LEN];
    let total = p.get_u32();
    let headers = p.get_u32();
    let carried = p.get_u32();
    let computed = crc32fast::hash(&buf[..8]);
    if computed != carried {
        return Err(FrameError::PreludeCrc { computed, carried });
    }
    let total_usize = total as usize;
    if total_usize > max.min(MAX_FRAME_LEN) {
        return Err(FrameError::TooLarge(total));
    }
    if total_usize < MIN_FRAME_LEN || headers as usize > total_usize - MIN_FRAME_LEN {
        return Err(FrameError::BadLength { total, headers });
    }
    if buf.len() < total_usize {
        return Ok(None);
    }
    Ok(Some(buf.split_to(total_usize).freeze()))
}

/// Decodes one whole frame (as [`split_frame`] returns it).
pub fn decode(frame: Bytes) -> Result<RpcMessage, FrameError> {
    let msg = read_message_from(frame).map_err(|e| FrameError::Malformed(e.to_string()))?;
    let mut out = RpcMessage {
        message_type: -1,
        flags: 0,
        stream_id: 0,
        headers: Vec::new(),
        payload: msg.payload().clone(),
    };
    let mut have_type = false;
    for h in msg.headers() {
        let int = |name: &'static str| {
            h.value()
                .as_int32()
                .map_err(|_| FrameError::MissingHeader(name))
        };
        match h.name().as_str() {
            header::MESSAGE_TYPE => {
                out.message_type = int(header::MESSAGE_TYPE)?;
                have_type = true;
            }
            header::MESSAGE_FLAGS => out.flags = int(header::MESSAGE_FLAGS)?,
            header::STREAM_ID => out.stream_id = int(header::STREAM_ID)?,
            _ => out.headers.push(h.clone()),
        }
    }
    if !have_type {
        return Err(FrameError::MissingHeader(header::MESSAGE_TYPE));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame written byte by byte from the eventstream specification, independently of the
    /// encoder: prelude, headers (name length, name, type 4 = int32 / 7 = string, value),
    /// payload, message CRC.
    fn hand_frame(headers: &[(&str, Result<i32, &str>)], payload: &[u8]) -> Vec<u8> {
        let mut h = Vec::new();
        for (name, value) in headers {
            h.push(name.len() as u8);
            h.extend_from_slice(name.as_bytes());
            match value {
                Ok(i) => {
                    h.push(4);
                    h.extend_from_slice(&i.to_be_bytes());
                }
                Err(s) => {
                    h.push(7);
                    h.extend_from_slice(&(s.len() as u16).to_be_bytes());
                    h.extend_from_slice(s.as_bytes());
                }
            }
        }
        let total = (PRELUDE_LEN + h.len() + payload.len() + 4) as u32;
        let mut f = Vec::new();
        f.extend_from_slice(&total.to_be_bytes());
        f.extend_from_slice(&(h.len() as u32).to_be_bytes());
        let crc = crc32fast::hash(&f);
        f.extend_from_slice(&crc.to_be_bytes());
        f.extend_from_slice(&h);
        f.extend_from_slice(payload);
        let crc = crc32fast::hash(&f);
        f.extend_from_slice(&crc.to_be_bytes());
        f
    }

    #[test]
    fn decodes_a_hand_built_frame() {
        let f = hand_frame(
            &[
                (":message-type", Ok(0)),
                (":message-flags", Ok(2)),
                (":stream-id", Ok(7)),
                (
                    "service-model-type",
                    Err("aws.greengrass#UpdateStateResponse"),
                ),
            ],
            b"{}",
        );
        let mut buf = BytesMut::from(&f[..]);
        let frame = split_frame(&mut buf, MAX_FRAME_LEN).unwrap().unwrap();
        assert!(buf.is_empty());
        let m = decode(frame).unwrap();
        assert_eq!((m.message_type, m.flags, m.stream_id), (0, 2, 7));
        assert_eq!(
            m.header_str("service-model-type"),
            Some("aws.greengrass#UpdateStateResponse")
        );
        assert_eq!(&m.payload[..], b"{}");
    }

    #[test]
    fn encoder_matches_the_hand_built_bytes() {
        let mut out = BytesMut::new();
        encode(
            MessageType::Connect,
            0,
            0,
            &[(":version", "0.1.0")],
            br#"{"authToken":"t"}"#,
            &mut out,
        )
        .unwrap();
        let expected = hand_frame(
            &[
                (":version", Err("0.1.0")),
                (":message-type", Ok(4)),
                (":message-flags", Ok(0)),
                (":stream-id", Ok(0)),
            ],
            br#"{"authToken":"t"}"#,
        );
        assert_eq!(&out[..], &expected[..]);
    }

    #[test]
    fn waits_for_the_whole_frame_and_keeps_the_rest() {
        let f = hand_frame(&[(":message-type", Ok(2))], b"ping");
        let mut two = f.clone();
        two.extend_from_slice(&f);
        let mut buf = BytesMut::new();
        for (i, b) in two.iter().enumerate() {
            buf.extend_from_slice(&[*b]);
            let got = split_frame(&mut buf, MAX_FRAME_LEN).unwrap();
            if i + 1 == f.len() || i + 1 == two.len() {
                assert_eq!(&got.unwrap()[..], &f[..], "at byte {i}");
            } else {
                assert!(got.is_none(), "at byte {i}");
            }
        }
        assert!(buf.is_empty());
    }

    #[test]
    fn refuses_bad_preludes_before_buffering() {
        // Corrupt prelude CRC.
        let mut f = hand_frame(&[(":message-type", Ok(2))], b"");
        f[9] ^= 1;
        let err = split_frame(&mut BytesMut::from(&f[..12]), MAX_FRAME_LEN).unwrap_err();
        assert!(matches!(err, FrameError::PreludeCrc { .. }), "{err}");

        // A 4 GiB frame announced by a valid prelude: refused on its 12 bytes.
        let mut p = Vec::new();
        p.extend_from_slice(&u32::MAX.to_be_bytes());
        p.extend_from_slice(&0u32.to_be_bytes());
        let crc = crc32fast::hash(&p);
        p.extend_from_slice(&crc.to_be_bytes());
        let err = split_frame(&mut BytesMut::from(&p[..]), MAX_FRAME_LEN).unwrap_err();
        assert_eq!(err, FrameError::TooLarge(u32::MAX));

        // Headers longer than the frame.
        let mut p = Vec::new();
        p.extend_from_slice(&20u32.to_be_bytes());
        p.extend_from_slice(&5u32.to_be_bytes());
        let crc = crc32fast::hash(&p);
        p.extend_from_slice(&crc.to_be_bytes());
        let err = split_frame(&mut BytesMut::from(&p[..]), MAX_FRAME_LEN).unwrap_err();
        assert_eq!(
            err,
            FrameError::BadLength {
                total: 20,
                headers: 5
            }
        );
    }

    #[test]
    fn message_crc_and_headers_are_checked() {
        let mut f = hand_frame(&[(":message-type", Ok(0))], b"abc");
        let n = f.len();
        f[n - 5] ^= 0x40; // payload byte
        let frame = split_frame(&mut BytesMut::from(&f[..]), MAX_FRAME_LEN)
            .unwrap()
            .unwrap();
        assert!(matches!(decode(frame), Err(FrameError::Malformed(_))));

        let f = hand_frame(&[(":stream-id", Ok(1))], b"");
        let frame = split_frame(&mut BytesMut::from(&f[..]), MAX_FRAME_LEN)
            .unwrap()
            .unwrap();
        assert_eq!(
            decode(frame),
            Err(FrameError::MissingHeader(header::MESSAGE_TYPE))
        );

        let f = hand_frame(&[(":message-type", Err("0"))], b"");
        let frame = split_frame(&mut BytesMut::from(&f[..]), MAX_FRAME_LEN)
            .unwrap()
            .unwrap();
        assert_eq!(
            decode(frame),
            Err(FrameError::MissingHeader(header::MESSAGE_TYPE))
        );
    }
}
