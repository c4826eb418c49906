//! Every destination's failures, classified in one place: what went wrong ([`ExportError`],
//! whose text is what describe's `errorMessage` says) and what to do about it ([`Class`]).
//!
//! | class | examples | the engine |
//! |---|---|---|
//! | [`Class::Transient`] | 5xx, `InternalFailure`, resets, timeouts, a malformed answer | retries the call within the send (short full-jitter pauses), then backs off |
//! | [`Class::Throttled`] | 429, `ThrottlingException`, `ProvisionedThroughputExceeded`, `SlowDown` | the same, with longer pauses within the send |
//! | [`Class::Unavailable`] | no credentials (the token exchange service is down), no answer within the request timeout, an answer too large to read | no retry within the send; the export's backoff |
//! | [`Class::Blocked`] | 401/403/404 from an HTTP sink, `AccessDenied`, `ResourceNotFound`, a proxy refusing its credentials, no region | no retry within the send; the export retries slowly (at least [`crate::RetryPolicy::slow_ms`] apart), never gives up, never skips |
//! | [`Class::Refused`] | 400 from an HTTP sink, an invalid SiteWise entry, a record too large for Kinesis | the record is skipped and counted |
//!
//! A whole call is never refused for good except where the answer names the records at fault
//! (an HTTP sink's 4xx for the one message or batch it got; SiteWise's `InvalidRequest`, which
//! the sender narrows down entry by entry; an S3 task the bucket refuses, which fails the task).

use sm_aws::AwsError;

/// What to do about a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    /// May pass on the next attempt.
    Transient,
    /// The destination asked to slow down.
    Throttled,
    /// Nothing can be signed or sent right now (credentials unavailable): wait and retry.
    Unavailable,
    /// Needs a change outside (configuration, permissions, a proxy's credentials): retry slowly.
    Blocked,
    /// This record can never be accepted: skip it.
    Refused,
}

impl Class {
    /// Whether the call is worth repeating within the same send.
    pub fn retry_within_send(self) -> bool {
        matches!(self, Self::Transient | Self::Throttled)
    }
}

/// How a call failed before any answer arrived (filled in by the runtime).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportKind {
    /// The connection could not be made (refused, unreachable, DNS, TLS handshake).
    Connect,
    /// No complete answer within the request timeout.
    Timeout,
    /// The connection broke while sending or receiving.
    Io,
    /// The answer's body was larger than the runtime reads.
    TooLarge,
    /// No credentials could be obtained to sign the call right now (the token exchange
    /// service is down or answered garbage).
    Credentials,
    /// No credentials are configured, or their source refuses the daemon.
    NoCredentials,
    /// The proxy refused the connection's credentials (407).
    ProxyAuth,
    /// The request could not be signed.
    Signing,
}

/// A call that got no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TransportError {
    /// What kind of failure.
    pub kind: TransportKind,
    /// What the runtime's client said.
    pub message: String,
}

/// A local IO failure the runtime reports (reading a batch, a task's file, saved state).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct IoFailure {
    /// What failed, and why.
    pub message: String,
}

impl IoFailure {
    /// The failure an error describes.
    pub fn of(e: impl std::fmt::Display) -> Self {
        Self {
            message: e.to_string(),
        }
    }
}

/// Why a record is refused for good before or without a call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// Larger than Kinesis accepts.
    #[error("message of {size} bytes exceeds Kinesis's per-record limit of {limit} bytes (data + partition key)")]
    KinesisTooLarge {
        /// Payload bytes.
        size: u64,
        /// The limit (data + partition key).
        limit: u64,
    },
    /// Not a valid `PutAssetPropertyValueEntry`.
    #[error("invalid SiteWise entry: {0}")]
    SiteWiseInvalid(String),
    /// Every value lies outside SiteWise's time window.
    #[error("{0}")]
    SiteWiseWindow(String),
    /// The request for this record cannot be built.
    #[error("cannot build the request: {0}")]
    Build(String),
}

/// Why an export attempt failed; its text is what describe's `errorMessage` shows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportError {
    /// An HTTP destination answered with a status that is not 2xx.
    #[error("HTTP {status} from {uri}")]
    HttpStatus {
        /// The status.
        status: u16,
        /// The destination.
        uri: String,
    },
    /// An AWS service answered with an error (for the call, or for one record).
    #[error("{service}: {error}")]
    Aws {
        /// Which service.
        service: &'static str,
        /// The error it answered.
        error: AwsError,
    },
    /// No answer came.
    #[error("{target}: {error}")]
    Transport {
        /// The URI or service called.
        target: String,
        /// What happened.
        error: TransportError,
    },
    /// The record is invalid for its destination.
    #[error("{0}")]
    Record(RecordError),
    /// The batch could not be read from the stream.
    #[error("cannot read the next batch: {0}")]
    Read(IoFailure),
    /// No region is configured for an AWS destination.
    #[error("no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION, or --aws-region)")]
    NoRegion,
    /// IoT Analytics at its default endpoint failed: the service is retired.
    #[error("{0} — note: AWS IoT Analytics was retired on 2025-12-15; remove this export, or point AWS_ENDPOINT_URL_IOTANALYTICS at a compatible endpoint")]
    Retired(Box<Self>),
    /// An S3 task failed or could not proceed.
    #[error("S3: {0}")]
    S3Task(String),
    /// The runtime answered an operation with the wrong kind of result (a bug).
    #[error("internal error: {0}")]
    Internal(String),
}

/// A classified failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What to do about it.
    pub class: Class,
    /// What went wrong.
    pub error: ExportError,
}

impl Failure {
    /// A failure of this class.
    pub fn new(class: Class, error: ExportError) -> Self {
        Self { class, error }
    }

    /// Whether the destination could not be reached at all (no connection, no answer, a
    /// reset), as when the uplink is down.
    pub fn unreachable(&self) -> bool {
        matches!(&self.error, ExportError::Transport { error, .. }
            if matches!(error.kind, TransportKind::Connect | TransportKind::Timeout | TransportKind::Io))
    }
}

/// Error codes that mean "slow down", whatever the service.
const THROTTLING: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "LimitExceededException",
    "RequestLimitExceeded",
    "SlowDown",
    "KMSThrottlingException",
];

/// Error codes a retry can cure (besides throttling and any 5xx).
const TRANSIENT: &[&str] = &[
    "InternalFailure",
    "InternalFailureException",
    "InternalError",
    "InternalServerError",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "RequestTimeout",
    "RequestTimeoutException",
    "ExpiredToken",
    "ExpiredTokenException",
    "RequestExpired",
    "IDPCommunicationError",
    "ConflictingOperationException",
    "PriorRequestNotComplete",
    "BadDigest",
    "MalformedResponse",
];

/// Whether an AWS error (of a call or of a record) may pass on a later attempt, and how.
fn aws_retry_class(e: &AwsError) -> Option<Class> {
    let code = e.code.as_str();
    if e.status == 429 || THROTTLING.contains(&code) {
        Some(Class::Throttled)
    } else if e.status >= 500 || TRANSIENT.contains(&code) {
        Some(Class::Transient)
    } else {
        None
    }
}

/// An AWS service's error for a whole call: retryable, or blocked until something changes
/// (never refused: the call's records are not at fault). A 407 is the proxy's.
pub fn aws_call(e: &AwsError) -> Class {
    aws_retry_class(e).unwrap_or(Class::Blocked)
}

/// An S3 error answered to a task's call: retryable, or the task fails.
pub fn s3_call(e: &AwsError) -> Class {
    if e.status == 407 {
        return Class::Blocked;
    }
    aws_retry_class(e).unwrap_or(Class::Refused)
}

/// A Kinesis `PutRecords` per-record error: throughput, internal or KMS failures, none of
/// which says the record itself is invalid: always retried.
pub fn kinesis_record(e: &AwsError) -> Class {
    aws_retry_class(e).unwrap_or(Class::Transient)
}

/// An IoT Analytics per-message error: `InvalidRequestException` refuses the message.
pub fn iot_analytics_record(e: &AwsError) -> Class {
    if e.code == "InvalidRequestException" {
        Class::Refused
    } else {
        aws_retry_class(e).unwrap_or(Class::Transient)
    }
}

/// A SiteWise entry's errors: retried only when every one of them may pass later; one
/// permanent error (invalid request, timestamp out of range, no such resource, access denied)
/// means sending it again cannot succeed.
pub fn sitewise_entry(errors: &[AwsError]) -> Class {
    let classes: Vec<Option<Class>> = errors.iter().map(aws_retry_class).collect();
    if classes.is_empty() || classes.iter().any(Option::is_none) {
        Class::Refused
    } else if classes.contains(&Some(Class::Throttled)) {
        Class::Throttled
    } else {
        Class::Transient
    }
}

/// An HTTP destination's status (`None` for 2xx). 408 and 5xx are transient, 429 throttling;
/// 3xx (not followed), 401, 403, 404, 405, 407 and 410 say the export is misconfigured (the
/// URL, its credentials, the proxy's): retried slowly, nothing skipped; any other 4xx refuses
/// what was sent (sending the same bytes again cannot succeed): skipped and counted.
pub fn http_status(status: u16) -> Option<Class> {
    Some(match status {
        200..=299 => return None,
        408 => Class::Transient,
        429 => Class::Throttled,
        500..=599 => Class::Transient,
        300..=399 | 401 | 403 | 404 | 405 | 407 | 410 => Class::Blocked,
        400..=499 => Class::Refused,
        _ => Class::Transient,
    })
}

/// A call that got no answer.
pub fn transport(e: &TransportError) -> Class {
    match e.kind {
        TransportKind::Connect | TransportKind::Io => Class::Transient,
        // A destination that does not answer in time, or answers too much, already cost a
        // whole request timeout (or a bounded read): the export waits for its backoff instead
        // of holding a sender for more of the same.
        TransportKind::Timeout | TransportKind::TooLarge => Class::Unavailable,
        TransportKind::Credentials => Class::Unavailable,
        TransportKind::NoCredentials | TransportKind::ProxyAuth | TransportKind::Signing => {
            Class::Blocked
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aws(status: u16, code: &str) -> AwsError {
        AwsError {
            status,
            code: code.into(),
            message: String::new(),
        }
    }

    #[test]
    fn whole_calls_are_never_refused() {
        assert_eq!(aws_call(&aws(400, "ThrottlingException")), Class::Throttled);
        assert_eq!(aws_call(&aws(429, "x")), Class::Throttled);
        assert_eq!(aws_call(&aws(500, "HTTP500")), Class::Transient);
        assert_eq!(
            aws_call(&aws(400, "ExpiredTokenException")),
            Class::Transient
        );
        assert_eq!(aws_call(&aws(200, "MalformedResponse")), Class::Transient);
        for code in [
            "ResourceNotFoundException",
            "AccessDeniedException",
            "ValidationException",
        ] {
            assert_eq!(aws_call(&aws(400, code)), Class::Blocked, "{code}");
        }
        assert_eq!(aws_call(&aws(407, "HTTP407")), Class::Blocked);
    }

    #[test]
    fn records() {
        let throttled = aws(200, "ProvisionedThroughputExceededException");
        assert_eq!(kinesis_record(&throttled), Class::Throttled);
        assert_eq!(
            kinesis_record(&aws(200, "KMSAccessDeniedException")),
            Class::Transient
        );
        assert_eq!(
            iot_analytics_record(&aws(200, "InvalidRequestException")),
            Class::Refused
        );
        assert_eq!(
            iot_analytics_record(&aws(200, "ThrottlingException")),
            Class::Throttled
        );
        assert_eq!(
            sitewise_entry(&[aws(200, "ThrottlingException")]),
            Class::Throttled
        );
        assert_eq!(
            sitewise_entry(&[
                aws(200, "InternalFailureException"),
                aws(200, "ConflictingOperationException")
            ]),
            Class::Transient
        );
        assert_eq!(
            sitewise_entry(&[
                aws(200, "TimestampOutOfRangeException"),
                aws(200, "ThrottlingException")
            ]),
            Class::Refused
        );
        assert_eq!(sitewise_entry(&[]), Class::Refused);
        assert_eq!(s3_call(&aws(404, "NoSuchBucket")), Class::Refused);
        assert_eq!(s3_call(&aws(503, "SlowDown")), Class::Throttled);
        assert_eq!(s3_call(&aws(500, "InternalError")), Class::Transient);
        assert_eq!(s3_call(&aws(407, "HTTP407")), Class::Blocked);
    }

    #[test]
    fn http_statuses() {
        assert_eq!(http_status(204), None);
        assert_eq!(http_status(503), Some(Class::Transient));
        assert_eq!(http_status(408), Some(Class::Transient));
        assert_eq!(http_status(429), Some(Class::Throttled));
        assert_eq!(http_status(400), Some(Class::Refused));
        assert_eq!(http_status(413), Some(Class::Refused));
        for s in [301, 401, 403, 404, 407] {
            assert_eq!(http_status(s), Some(Class::Blocked), "{s}");
        }
        assert_eq!(http_status(600), Some(Class::Transient));
    }

    #[test]
    fn transport_failures() {
        let t = |kind| {
            transport(&TransportError {
                kind,
                message: String::new(),
            })
        };
        assert_eq!(t(TransportKind::Timeout), Class::Unavailable);
        assert_eq!(t(TransportKind::Connect), Class::Transient);
        assert_eq!(t(TransportKind::Credentials), Class::Unavailable);
        assert_eq!(t(TransportKind::ProxyAuth), Class::Blocked);
        assert!(Class::Throttled.retry_within_send());
        assert!(!Class::Unavailable.retry_within_send());
    }
}
