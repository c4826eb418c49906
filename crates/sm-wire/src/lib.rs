//! The stream manager wire protocol, sans-IO (`reference.md` §1).
//!
//! This crate owns the bytes on the socket: the one-byte connect version sent both ways, the
//! frames `int32 BE (payload length + 1) | op byte | CBOR map`, the Connect handshake and
//! protocol-version negotiation, the operation codes, and the CBOR encoding of every request
//! and response. It never touches a socket.
//!
//! # Drive loop
//!
//! The runtime owns a [`ServerCodec`] per connection and a `BytesMut` receive buffer:
//!
//! 1. append bytes read from the socket to the buffer;
//! 2. call [`ServerCodec::decode`] until it returns `Ok(None)` (needs more bytes);
//!    each `Ok(Some(event))` is one [`Event`]: the Connect request, a typed [`Request`], or a
//!    [`Rejection`] that must be answered with [`encode_status`] (bad CBOR, unknown op,
//!    oversize frame);
//! 3. `Err(WireError)` means the peer does not speak the protocol: answer what
//!    [`WireError::reply`] says (if anything) and close the connection.
//!
//! Responses are encoded with [`encode_frame`] into one buffer so that each frame goes out in a
//! single write (the Python client reads the header without looping).
//!
//! Every request gets exactly one response carrying its `requestId` verbatim; the codec
//! recovers the `requestId` even from a request it cannot fully decode ([`request_id_of`]).
//!
//! # Client side
//!
//! A client encodes requests with [`encode_frame`] and reads response frames with a
//! [`FrameDecoder`]; for its hot path, [`encode_append_request`] writes an `AppendMessage`
//! frame and [`decode_append_ack`] reads a successful `AppendMessageResponse` without serde
//! (same bytes, same values; unusual responses are left to serde).

mod append;
mod cbor_scan;
mod codec;
mod frame;
#[doc(hidden)]
pub mod fuzzing;

pub use append::{
    append_request_len, decode_append_ack, decode_append_request, encode_append_request,
    encode_append_success, AppendAck,
};
pub use cbor_scan::request_id_of;
pub use codec::{
    encode_connect_response, encode_frame, encode_status, negotiate, EncodeError, Event, Rejection,
    Request, ServerCodec, WireError, CONNECT_VERSION, SUPPORTED_PROTOCOL_VERSIONS,
};
pub use frame::{FrameDecoder, FrameError, Inbound, OVERSIZE_HEAD_BYTES, PROTOCOL_MAX_FRAME};

/// Operation codes (`reference.md` §1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Op {
    /// Not a known operation.
    Unknown = 0,
    /// Client → server handshake.
    Connect = 1,
    /// Create a stream.
    CreateMessageStream = 2,
    /// Delete a stream.
    DeleteMessageStream = 3,
    /// Append a message.
    AppendMessage = 4,
    /// Read messages.
    ReadMessages = 5,
    /// Answer to Connect.
    ConnectResponse = 6,
    /// Answer to CreateMessageStream.
    CreateMessageStreamResponse = 7,
    /// Answer to DeleteMessageStream.
    DeleteMessageStreamResponse = 8,
    /// Answer to AppendMessage.
    AppendMessageResponse = 9,
    /// Answer to ReadMessages.
    ReadMessagesResponse = 10,
    /// List streams.
    ListStreams = 11,
    /// Answer to ListStreams.
    ListStreamsResponse = 12,
    /// Describe a stream.
    DescribeMessageStream = 13,
    /// Answer to DescribeMessageStream.
    DescribeMessageStreamResponse = 14,
    /// Update a stream.
    UpdateMessageStream = 15,
    /// Answer to UpdateMessageStream.
    UpdateMessageStreamResponse = 16,
    /// The server's answer to an operation it does not know.
    UnknownOperationError = 17,
}

impl Op {
    /// The operation with this code, or `None`.
    pub fn from_u8(v: u8) -> Option<Self> {
        use Op::*;
        Some(match v {
            0 => Unknown,
            1 => Connect,
            2 => CreateMessageStream,
            3 => DeleteMessageStream,
            4 => AppendMessage,
            5 => ReadMessages,
            6 => ConnectResponse,
            7 => CreateMessageStreamResponse,
            8 => DeleteMessageStreamResponse,
            9 => AppendMessageResponse,
            10 => ReadMessagesResponse,
            11 => ListStreams,
            12 => ListStreamsResponse,
            13 => DescribeMessageStream,
            14 => DescribeMessageStreamResponse,
            15 => UpdateMessageStream,
            16 => UpdateMessageStreamResponse,
            17 => UnknownOperationError,
            _ => return None,
        })
    }

    /// The response operation for a request operation; `UnknownOperationError` for anything
    /// that is not a client request.
    pub fn response(self) -> Self {
        use Op::*;
        match self {
            Connect => ConnectResponse,
            CreateMessageStream => CreateMessageStreamResponse,
            DeleteMessageStream => DeleteMessageStreamResponse,
            AppendMessage => AppendMessageResponse,
            ReadMessages => ReadMessagesResponse,
            ListStreams => ListStreamsResponse,
            DescribeMessageStream => DescribeMessageStreamResponse,
            UpdateMessageStream => UpdateMessageStreamResponse,
            _ => UnknownOperationError,
        }
    }
}
