//! Enums of the protocol. All are sent as CBOR/JSON integers except `Quality` (a string).

use serde_repr::{Deserialize_repr, Serialize_repr};

/// What an append does when the stream is at `maxSize`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize_repr, Deserialize_repr)]
#[repr(u8)]
pub enum StrategyOnFull {
    /// Refuse the append; nothing is written.
    RejectNewData = 0,
    /// Delete the oldest segments until the new message fits.
    OverwriteOldestData = 1,
}

/// Where a stream keeps its messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize_repr, Deserialize_repr)]
#[repr(u8)]
pub enum Persistence {
    /// Segment files under the store root; survives restarts.
    File = 0,
    /// Memory only; never touches the disk.
    Memory = 1,
}

/// Body format of the HTTP exporter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize_repr, Deserialize_repr)]
#[repr(u8)]
pub enum ExportFormat {
    /// One POST per message, raw payload as the body.
    RawNotBatched = 0,
    /// One POST per batch, a JSON list of messages as the body.
    JsonBatched = 1,
}

/// Verbosity of the S3 status stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize_repr, Deserialize_repr)]
#[repr(u8)]
pub enum StatusLevel {
    /// Errors only.
    Error = 0,
    /// Warnings and errors.
    Warn = 1,
    /// The default.
    Info = 2,
    /// Debug.
    Debug = 3,
    /// Trace.
    Trace = 4,
}

/// Status codes of every response (`reference.md` §1.6). Never send a value outside 0..=18:
/// the Python client's read loop dies on one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize_repr, Deserialize_repr)]
#[repr(u8)]
pub enum ResponseStatusCode {
    /// Success.
    Success = 0,
    /// Unknown server failure.
    UnknownFailure = 1,
    /// Client not authorized.
    Unauthorized = 2,
    /// Invalid request (validation, duplicate stream, full stream).
    InvalidRequest = 3,
    /// Request payload too large.
    RequestPayloadTooLarge = 4,
    /// The stream does not exist.
    ResourceNotFound = 5,
    /// Server timeout.
    ServerTimeout = 6,
    /// The response would exceed the protocol maximum.
    ResponsePayloadTooLarge = 7,
    /// Unsupported connect version.
    UnsupportedConnectVersion = 8,
    /// An operation that is not expected at this point (e.g. a second Connect).
    UnexpectedOperation = 9,
    /// No common protocol version.
    UnsupportedProtocolVersion = 10,
    /// Malformed protocol version.
    InvalidProtocolVersion = 11,
    /// Failed to connect.
    FailedToConnect = 12,
    /// Fewer messages than `minMessageCount` are available.
    NotEnoughMessages = 13,
    /// The message store could not be read.
    MessageStoreReadError = 14,
    /// The server is out of memory.
    OutOfMemoryError = 15,
    /// The update failed.
    UpdateFailed = 16,
    /// The update changes something that cannot be changed.
    UpdateNotAllowed = 17,
    /// The operation is not known to the server.
    UnknownOperation = 18,
}
