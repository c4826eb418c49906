//! Errors of the client: one variant per status-code family, plus the client's own failures.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use sm_model::{ResponseStatusCode, ValidationError};

/// An error status from the server: the response's `status`, `errorMessage` and `requestId`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusError {
    status: ResponseStatusCode,
    message: Option<String>,
    request_id: Option<String>,
}

impl StatusError {
    /// An error status (exposed for tests and fakes of this client's callers).
    pub fn new(
        status: ResponseStatusCode,
        message: Option<String>,
        request_id: Option<String>,
    ) -> Self {
        Self {
            status,
            message,
            request_id,
        }
    }

    /// The status code.
    pub fn status(&self) -> ResponseStatusCode {
        self.status
    }

    /// The server's `errorMessage`, if it sent one.
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// The `requestId` of the failed request, as echoed by the server.
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }
}

impl fmt::Display for StatusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} (status {})", self.status, self.status as u8)?;
        if let Some(m) = &self.message {
            write!(f, ": {m}")?;
        }
        Ok(())
    }
}

impl std::error::Error for StatusError {}

/// Everything a [`Client`](crate::Client) call can fail with.
///
/// The status variants mirror the SDKs' exceptions (`reference.md` §1.6); codes without an
/// exception of their own in the SDKs (8–12) are [`Error::OtherStatus`]. A status variant
/// answered to Connect (e.g. [`Error::Unauthorized`]) means the connection was refused.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A client-side check failed (the SDKs' `ValidationException`); nothing was sent.
    #[error("invalid argument: {0}")]
    Validation(#[from] ValidationError),
    /// Status 1: unknown server failure (e.g. a failed disk write).
    #[error("{0}")]
    UnknownFailure(StatusError),
    /// Status 2: the auth token is missing or not accepted (answered to Connect).
    #[error("{0}")]
    Unauthorized(StatusError),
    /// Status 3: the server refused the request (duplicate stream, full stream, bad field).
    #[error("{0}")]
    InvalidRequest(StatusError),
    /// Status 4: the request frame is above the server's limit. Also raised by the client,
    /// without sending, for frames above the protocol's 1 GiB.
    #[error("{0}")]
    RequestPayloadTooLarge(StatusError),
    /// Status 5: the stream does not exist.
    #[error("{0}")]
    ResourceNotFound(StatusError),
    /// Status 6: the server timed out.
    #[error("{0}")]
    ServerTimeout(StatusError),
    /// Status 7: the response would exceed the frame limit (ask for fewer messages).
    #[error("{0}")]
    ResponsePayloadTooLarge(StatusError),
    /// Status 13: fewer than `minMessageCount` messages within `readTimeoutMillis`.
    #[error("{0}")]
    NotEnoughMessages(StatusError),
    /// Status 14: the stream's data could not be read (IO error or corrupt record).
    #[error("{0}")]
    MessageStoreReadError(StatusError),
    /// Status 15: the server is out of memory.
    #[error("{0}")]
    OutOfMemory(StatusError),
    /// Status 16: the update failed.
    #[error("{0}")]
    UpdateFailed(StatusError),
    /// Status 17: the update changes something that cannot change (a kind of invalid
    /// request: the Python SDK's `UpdateNotAllowedException` subclasses `InvalidRequestException`).
    #[error("{0}")]
    UpdateNotAllowed(StatusError),
    /// Status 18: the server does not know the operation.
    #[error("{0}")]
    UnknownOperation(StatusError),
    /// Statuses 8–12 (connect version, unexpected operation, protocol version, failed to
    /// connect), which the SDKs report as an unrecognized status.
    #[error("{0}")]
    OtherStatus(StatusError),
    /// No response within the request timeout (or no TCP connection within the connect
    /// timeout). The request may still take effect on the server.
    #[error("{operation} timed out after {after:?}")]
    Timeout {
        /// The operation, e.g. `"AppendMessage"`, or `"TCP connect"`.
        operation: &'static str,
        /// The timeout that expired.
        after: Duration,
    },
    /// The connection could not be opened, or closed before the response arrived. The next
    /// call opens a new connection.
    #[error("connection to stream manager: {message}")]
    Connection {
        /// What happened.
        message: String,
        /// The IO error, if any.
        #[source]
        source: Option<Arc<std::io::Error>>,
    },
    /// The server sent something this client cannot understand (wrong version byte, bad
    /// CBOR, unknown status code, a response of the wrong operation).
    #[error("protocol error: {0}")]
    Protocol(String),
}

impl Error {
    /// The error for a non-success `status` (a `Success` status, which is no error, becomes
    /// [`Error::UnknownFailure`]).
    pub fn from_status(e: StatusError) -> Self {
        use ResponseStatusCode as S;
        match e.status {
            S::UnknownFailure | S::Success => Self::UnknownFailure(e),
            S::Unauthorized => Self::Unauthorized(e),
            S::InvalidRequest => Self::InvalidRequest(e),
            S::RequestPayloadTooLarge => Self::RequestPayloadTooLarge(e),
            S::ResourceNotFound => Self::ResourceNotFound(e),
            S::ServerTimeout => Self::ServerTimeout(e),
            S::ResponsePayloadTooLarge => Self::ResponsePayloadTooLarge(e),
            S::NotEnoughMessages => Self::NotEnoughMessages(e),
            S::MessageStoreReadError => Self::MessageStoreReadError(e),
            S::OutOfMemoryError => Self::OutOfMemory(e),
            S::UpdateFailed => Self::UpdateFailed(e),
            S::UpdateNotAllowed => Self::UpdateNotAllowed(e),
            S::UnknownOperation => Self::UnknownOperation(e),
            S::UnsupportedConnectVersion
            | S::UnexpectedOperation
            | S::UnsupportedProtocolVersion
            | S::InvalidProtocolVersion
            | S::FailedToConnect => Self::OtherStatus(e),
        }
    }

    pub(crate) fn connection(message: impl Into<String>, source: Option<std::io::Error>) -> Self {
        Self::Connection {
            message: message.into(),
            source: source.map(Arc::new),
        }
    }

    /// The status error, for the variants that carry one.
    pub fn status_error(&self) -> Option<&StatusError> {
        match self {
            Self::UnknownFailure(e)
            | Self::Unauthorized(e)
            | Self::InvalidRequest(e)
            | Self::RequestPayloadTooLarge(e)
            | Self::ResourceNotFound(e)
            | Self::ServerTimeout(e)
            | Self::ResponsePayloadTooLarge(e)
            | Self::NotEnoughMessages(e)
            | Self::MessageStoreReadError(e)
            | Self::OutOfMemory(e)
            | Self::UpdateFailed(e)
            | Self::UpdateNotAllowed(e)
            | Self::UnknownOperation(e)
            | Self::OtherStatus(e) => Some(e),
            Self::Validation(_)
            | Self::Timeout { .. }
            | Self::Connection { .. }
            | Self::Protocol(_) => None,
        }
    }

    /// The response status, for errors the server answered.
    pub fn status(&self) -> Option<ResponseStatusCode> {
        self.status_error().map(StatusError::status)
    }

    /// The server's `errorMessage`, for errors the server answered with one.
    pub fn server_message(&self) -> Option<&str> {
        self.status_error().and_then(StatusError::message)
    }

    /// Whether the same call may succeed if simply repeated: timeouts, connection losses and
    /// the server's own timeout. Repeating an append after one of these may store it twice.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Timeout { .. } | Self::Connection { .. } | Self::ServerTimeout(_)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accessors_and_display() {
        let e = Error::from_status(StatusError::new(
            ResponseStatusCode::ResourceNotFound,
            Some("stream \"x\" not found".into()),
            Some("7".into()),
        ));
        assert!(matches!(e, Error::ResourceNotFound(_)));
        assert_eq!(e.status(), Some(ResponseStatusCode::ResourceNotFound));
        assert_eq!(e.server_message(), Some("stream \"x\" not found"));
        assert_eq!(e.status_error().unwrap().request_id(), Some("7"));
        assert_eq!(
            e.to_string(),
            "ResourceNotFound (status 5): stream \"x\" not found"
        );
        assert!(!e.is_transient());
        let t = Error::Timeout {
            operation: "ReadMessages",
            after: Duration::from_secs(1),
        };
        assert!(t.is_transient());
        assert_eq!(t.status(), None);
    }
}
