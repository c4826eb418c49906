//! AWS credentials, sans-IO: what the sources say and when to ask them again.
//!
//! This crate owns the decisions around the daemon's AWS credentials, the runtime only
//! performs the IO they call for:
//!
//! * [`container::parse_answer`]: the answer of a container credentials endpoint (Greengrass's
//!   token exchange service, `AWS_CONTAINER_CREDENTIALS_FULL_URI`) as [`Keys`], or a typed
//!   [`CredentialsError`] saying what was wrong (an error status, garbage, a missing field);
//! * [`profile`]: the shared credentials and config files (`[default]`, `[profile x]`): keys,
//!   `region`, `use_fips_endpoint`;
//! * [`Refresher`]: when cached keys are used, refreshed (before they expire: five minutes
//!   before, or halfway through a shorter lifetime, minus a random part), kept while the
//!   endpoint is down (until they are about to expire), and when a failed endpoint is asked
//!   again (a backoff, so that many exports waiting for credentials do not hammer it).
//!
//! Secrets are [`Secret`]s, whose `Debug` shows nothing.
//!
//! # Drive loop
//!
//! For every AWS call the runtime asks [`Refresher::next`] with the current time. On
//! [`Next::Use`] it signs with those keys; on [`Next::Fail`] it reports that error (the export
//! retries with its normal backoff when [`CredentialsError::is_transient`]); on
//! [`Next::Fetch`] it asks the source (HTTP for the container endpoint, files and variables
//! otherwise) and hands the outcome to [`Refresher::fetched`] or [`Refresher::failed`] with the
//! time and a random draw in `[0, 1)`, then asks `next` again. After an expired-token answer
//! from AWS it calls [`Refresher::invalidate`]. Time and randomness come in as arguments;
//! nothing here reads a clock, a file or the environment.

pub mod container;
pub mod profile;
mod refresh;

pub use refresh::{Next, Policy, Refresher};

use std::fmt;

/// A secret string (a secret access key, a session token, the SVCUID, a proxy URL with
/// credentials): `Debug` redacts it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The secret itself (to sign with).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Any text is a secret (for command-line and environment settings: the SVCUID, a proxy URL
/// with credentials).
impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self::new(s))
    }
}

/// A set of AWS keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    /// The access key id (not a secret; shown in logs to tell keys apart).
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: Secret,
    /// The session token of temporary keys.
    pub session_token: Option<Secret>,
    /// When they expire, in ms since the epoch (temporary keys only).
    pub expires_ms: Option<i64>,
}

/// Why there are no usable credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialsError {
    /// No source is configured at all.
    #[error(
        "no AWS credentials: set AWS_CONTAINER_CREDENTIALS_FULL_URI (Greengrass token exchange \
         service), AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile in ~/.aws/credentials"
    )]
    NotConfigured,
    /// The container credentials endpoint could not be reached, or its answer did not arrive
    /// (connection refused, reset, timeout).
    #[error(
        "AWS credentials unavailable: the container credentials endpoint {uri} could not be \
         reached: {reason}"
    )]
    Unreachable {
        /// The endpoint.
        uri: String,
        /// What the connection attempt ended with.
        reason: String,
    },
    /// The endpoint answered with an error status.
    #[error(
        "AWS credentials unavailable: the container credentials endpoint {uri} answered HTTP \
         {status}: {body}"
    )]
    Refused {
        /// The endpoint.
        uri: String,
        /// The HTTP status.
        status: u16,
        /// The start of its answer (at most 200 characters).
        body: String,
    },
    /// The endpoint answered 200 with something that is not a credentials document.
    #[error(
        "AWS credentials unavailable: the container credentials endpoint {uri} sent an invalid \
         answer: {reason}"
    )]
    BadAnswer {
        /// The endpoint.
        uri: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The source sent keys that are already expired (or about to), e.g. a wrong clock.
    #[error(
        "AWS credentials unavailable: the credentials source sent keys that expired at \
         {expires_ms} ms since the epoch (is the device's clock right?)"
    )]
    ExpiredOnArrival {
        /// Their expiry, in ms since the epoch.
        expires_ms: i64,
    },
    /// `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` could not be read.
    #[error("cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE {path}: {reason}")]
    TokenFile {
        /// The file.
        path: String,
        /// The OS error.
        reason: String,
    },
}

impl CredentialsError {
    /// Whether the failure may pass by itself (the endpoint is down or restarting): the
    /// export retries with its normal backoff. Otherwise something must be changed outside
    /// (a source, a token), and the export retries slowly.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unreachable { .. } | Self::BadAnswer { .. } | Self::ExpiredOnArrival { .. } => {
                true
            }
            Self::Refused { status, .. } => *status >= 500 || matches!(status, 408 | 429),
            Self::NotConfigured | Self::TokenFile { .. } => false,
        }
    }
}
