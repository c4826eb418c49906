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
//! The export engine picks the records of a batch and asks a builder (e.g.
//! [`kinesis::put_records`]) for the request; the runtime signs it with the current credentials
//! and the current time and sends it; the engine hands the status and body to the matching
//! parser (e.g. [`kinesis::parse_put_records`]).
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
pub use error::{AwsError, BuildError};
pub use sign::{sign, SignError};

/// A parsed answer: the per-record results of a call the service processed, or the error of
/// the whole call (including an answer that does not parse: code `MalformedResponse`).
pub type Parsed<T> = Result<T, AwsError>;
