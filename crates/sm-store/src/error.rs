//! [`StoreError`]: why a store operation failed, and the response status it answers.

use std::io;
use std::sync::Arc;

use sm_model::validate::ValidationError;
use sm_model::ResponseStatusCode;

/// Why a store operation failed. Its `Display` is the response's `errorMessage` (it names the
/// stream and what was wrong); [`StoreError::status`] is the response status.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No stream has this name (or it was deleted meanwhile).
    #[error("stream {0:?} does not exist")]
    NotFound(String),
    /// Create of a name that is taken.
    #[error("stream {0:?} already exists")]
    AlreadyExists(String),
    /// The request breaks one of the protocol's rules.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The log refused the append (the message can never fit, or RejectNewData and full).
    #[error("cannot append to stream {stream:?}: {reason}")]
    Refused {
        /// The stream.
        stream: String,
        /// Why.
        reason: sm_log::AppendError,
    },
    /// The update breaks an update rule.
    #[error("{0}")]
    UpdateNotAllowed(ValidationError),
    /// A write, fsync or file operation failed (disk full, IO error): nothing was changed.
    #[error("{op} of stream {stream:?} failed: {source}")]
    Io {
        /// What was being done (`append`, `fsync`, `creation`, …).
        op: &'static str,
        /// The stream.
        stream: String,
        /// The OS error.
        source: Arc<io::Error>,
    },
    /// Stored data could not be read back.
    #[error("{0}")]
    Read(String),
    /// Even `min` messages would not fit in a response.
    #[error("{min} messages from sequence number {start} would exceed the response limit of {limit} bytes")]
    TooLarge {
        /// Messages asked for at least.
        min: u64,
        /// First sequence number asked for.
        start: u64,
        /// The response limit.
        limit: u64,
    },
    /// A read found fewer than `min` messages within its time.
    #[error("fewer than {min} messages from sequence number {start} in stream {stream:?} within {waited_ms} ms")]
    NotEnough {
        /// The stream.
        stream: String,
        /// Messages asked for at least.
        min: u64,
        /// First sequence number asked for.
        start: u64,
        /// How long the read waited.
        waited_ms: u128,
    },
}

impl StoreError {
    /// The response status this failure answers.
    pub fn status(&self) -> ResponseStatusCode {
        match self {
            Self::NotFound(_) => ResponseStatusCode::ResourceNotFound,
            Self::AlreadyExists(_) | Self::Invalid(_) | Self::Refused { .. } => {
                ResponseStatusCode::InvalidRequest
            }
            Self::UpdateNotAllowed(_) => ResponseStatusCode::UpdateNotAllowed,
            Self::Io { .. } => ResponseStatusCode::UnknownFailure,
            Self::Read(_) => ResponseStatusCode::MessageStoreReadError,
            Self::TooLarge { .. } => ResponseStatusCode::ResponsePayloadTooLarge,
            Self::NotEnough { .. } => ResponseStatusCode::NotEnoughMessages,
        }
    }

    /// A failed file operation `op` on stream `stream`.
    pub fn io(op: &'static str, stream: &str, source: io::Error) -> Self {
        Self::Io {
            op,
            stream: stream.to_owned(),
            source: Arc::new(source),
        }
    }

    /// Whether storage failed (a write or an fsync), as opposed to a refusal.
    pub fn is_io(&self) -> bool {
        matches!(self, Self::Io { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_failure_answers_its_status_and_names_the_stream() {
        let io = StoreError::io("append", "s", io::Error::from_raw_os_error(28));
        assert_eq!(io.status(), ResponseStatusCode::UnknownFailure);
        assert!(io.is_io());
        let text = io.to_string();
        assert!(
            text.starts_with("append of stream \"s\" failed: No space left on device"),
            "{text}"
        );
        assert_eq!(
            StoreError::NotFound("x".into()).to_string(),
            "stream \"x\" does not exist"
        );
        assert_eq!(
            StoreError::Invalid(ValidationError::new("bad")).status(),
            ResponseStatusCode::InvalidRequest
        );
        assert_eq!(
            StoreError::UpdateNotAllowed(ValidationError::new("no")).status(),
            ResponseStatusCode::UpdateNotAllowed
        );
        let e = StoreError::NotEnough {
            stream: "s".into(),
            min: 2,
            start: 5,
            waited_ms: 10,
        };
        assert_eq!(e.status(), ResponseStatusCode::NotEnoughMessages);
        assert_eq!(
            e.to_string(),
            "fewer than 2 messages from sequence number 5 in stream \"s\" within 10 ms"
        );
    }
}
