//! AWS calls of the exporters, sans-IO.
//!
//! This crate owns the shape of every AWS request the daemon makes and the meaning of every
//! answer: it builds each call as a plain `http::Request<Vec<u8>>` (method, URI, headers, body),
//! signs it with SigV4 ([`sign`]) from credentials and a time passed in, and parses the status
//! and body of the response into a [`CallOutcome`]: one [`RecordOutcome`] per record, or a
//! whole-call failure that is retryable (throttling, 5xx, expired credentials) or not (missing
//! stream, access denied, validation), with the AWS error code and message.
//!
//! It also resolves endpoints ([`endpoint`]): the regional defaults, or the overrides the AWS
//! SDKs honour (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_<SERVICE>`), passed in as values.
//!
//! # Drive loop
//!
//! The runtime picks the records of a batch, asks a builder (e.g. [`kinesis::put_records`])
//! for the request, signs it with the current credentials and the current time, sends it, and
//! hands the status and body to the matching parser (e.g. [`kinesis::parse_put_records`]).
//! Nothing here performs IO, reads the clock or the environment, or draws random numbers
//! (Kinesis partition keys come in with the records).

pub mod endpoint;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod iotanalytics;
pub mod kinesis;
pub mod s3;
mod sign;
pub mod sitewise;

pub use endpoint::{Endpoints, Service};
pub use error::{classify, AwsError};
pub use sign::{sign, SignError};
pub use sm_retry::RecordOutcome;

/// What one AWS call achieved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallOutcome {
    /// The call was processed; one outcome per record sent, in order.
    Records(Vec<RecordOutcome>),
    /// The whole call failed in a way that may pass later (throttling, 5xx, expired
    /// credentials, network): send the same records again after a backoff.
    Retry(AwsError),
    /// The whole call failed in a way that repeating it cannot fix until something changes
    /// outside (missing stream, access denied, bad credentials, validation).
    Fail(AwsError),
}
