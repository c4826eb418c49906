//! The four operations this client speaks, with the Greengrass IPC model's shape and member
//! names (`aws.greengrass#…`, JSON bodies as the IPC SDKs write them), and the modeled errors.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Lifecycle states a component may report with UpdateState.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LifecycleState {
    /// The component is running (ends STARTING for a `startup` lifecycle step).
    Running,
    /// The component failed.
    Errored,
}

impl LifecycleState {
    /// The model's enum value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "RUNNING",
            Self::Errored => "ERRORED",
        }
    }
}

/// Units of PutComponentMetric (`MetricUnitType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricUnit {
    /// Bytes.
    Bytes,
    /// Bytes per second.
    BytesPerSecond,
    /// A count.
    Count,
    /// A count per second.
    CountPerSecond,
    /// Megabytes.
    Megabytes,
    /// Seconds.
    Seconds,
}

impl MetricUnit {
    /// The model's enum value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bytes => "BYTES",
            Self::BytesPerSecond => "BYTES_PER_SECOND",
            Self::Count => "COUNT",
            Self::CountPerSecond => "COUNT_PER_SECOND",
            Self::Megabytes => "MEGABYTES",
            Self::Seconds => "SECONDS",
        }
    }
}

/// One metric of PutComponentMetric. The nucleus refuses names above 32 bytes and negative
/// values ([`Request::validate`] checks both), and aggregates each name with Sum.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    /// Metric name, e.g. `BytesAppended`.
    pub name: String,
    /// Unit.
    pub unit: MetricUnit,
    /// Value (≥ 0).
    pub value: f64,
}

/// A request to the nucleus.
#[derive(Clone, PartialEq)]
pub enum Request {
    /// `aws.greengrass#UpdateState`: report this component's state.
    UpdateState(LifecycleState),
    /// `aws.greengrass#UpdateConfiguration`: merge `value_to_merge` into this component's
    /// configuration at `key_path` (empty = the root), if the key was not changed after
    /// `timestamp_ms`.
    UpdateConfiguration {
        /// Container node to merge into; empty = the configuration's root.
        key_path: Vec<String>,
        /// Time of the update, ms since the epoch (sent as epoch seconds, as the SDKs do).
        timestamp_ms: i64,
        /// Object merged at `key_path`.
        value_to_merge: Map<String, Value>,
    },
    /// `aws.greengrass#PutComponentMetric`: emit metrics (namespace = the component's name).
    PutComponentMetric(Vec<Metric>),
    /// `aws.greengrass#ValidateAuthorizationToken`: is this a token the nucleus issued?
    /// (only the component `aws.greengrass.StreamManager` may ask).
    ValidateAuthorizationToken(String),
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::UpdateState(s) => f.debug_tuple("UpdateState").field(s).finish(),
            Self::UpdateConfiguration {
                key_path,
                timestamp_ms,
                value_to_merge,
            } => f
                .debug_struct("UpdateConfiguration")
                .field("key_path", key_path)
                .field("timestamp_ms", timestamp_ms)
                .field("value_to_merge", value_to_merge)
                .finish(),
            Self::PutComponentMetric(m) => f.debug_tuple("PutComponentMetric").field(m).finish(),
            // Tokens are secrets: never in a log line.
            Self::ValidateAuthorizationToken(_) => f
                .debug_tuple("ValidateAuthorizationToken")
                .field(&"<redacted>")
                .finish(),
        }
    }
}

/// Which operation a stream carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// UpdateState.
    UpdateState,
    /// UpdateConfiguration.
    UpdateConfiguration,
    /// PutComponentMetric.
    PutComponentMetric,
    /// ValidateAuthorizationToken.
    ValidateAuthorizationToken,
}

impl Operation {
    /// The `operation` header.
    pub fn name(self) -> &'static str {
        match self {
            Self::UpdateState => "aws.greengrass#UpdateState",
            Self::UpdateConfiguration => "aws.greengrass#UpdateConfiguration",
            Self::PutComponentMetric => "aws.greengrass#PutComponentMetric",
            Self::ValidateAuthorizationToken => "aws.greengrass#ValidateAuthorizationToken",
        }
    }

    /// The request's `service-model-type`.
    pub fn request_type(self) -> &'static str {
        match self {
            Self::UpdateState => "aws.greengrass#UpdateStateRequest",
            Self::UpdateConfiguration => "aws.greengrass#UpdateConfigurationRequest",
            Self::PutComponentMetric => "aws.greengrass#PutComponentMetricRequest",
            Self::ValidateAuthorizationToken => "aws.greengrass#ValidateAuthorizationTokenRequest",
        }
    }

    /// The response's `service-model-type`.
    pub fn response_type(self) -> &'static str {
        match self {
            Self::UpdateState => "aws.greengrass#UpdateStateResponse",
            Self::UpdateConfiguration => "aws.greengrass#UpdateConfigurationResponse",
            Self::PutComponentMetric => "aws.greengrass#PutComponentMetricResponse",
            Self::ValidateAuthorizationToken => "aws.greengrass#ValidateAuthorizationTokenResponse",
        }
    }
}

#[derive(Serialize)]
struct UpdateStateBody<'a> {
    state: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UpdateConfigurationBody<'a> {
    key_path: &'a [String],
    timestamp: f64,
    value_to_merge: &'a Map<String, Value>,
}

#[derive(Serialize)]
struct MetricBody<'a> {
    name: &'a str,
    unit: &'a str,
    value: f64,
}

#[derive(Serialize)]
struct PutComponentMetricBody<'a> {
    metrics: Vec<MetricBody<'a>>,
}

#[derive(Serialize)]
struct ValidateBody<'a> {
    token: &'a str,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ValidateResponseBody {
    is_valid: Option<bool>,
}

/// Why a request cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidRequest(pub String);

impl std::fmt::Display for InvalidRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InvalidRequest {}

/// Longest metric name the nucleus accepts, in bytes.
pub const MAX_METRIC_NAME_BYTES: usize = 32;

impl Request {
    /// The operation.
    pub fn operation(&self) -> Operation {
        match self {
            Self::UpdateState(_) => Operation::UpdateState,
            Self::UpdateConfiguration { .. } => Operation::UpdateConfiguration,
            Self::PutComponentMetric(_) => Operation::PutComponentMetric,
            Self::ValidateAuthorizationToken(_) => Operation::ValidateAuthorizationToken,
        }
    }

    /// Checks what the nucleus would refuse: an empty or oversized metric name, a negative or
    /// non-finite value, no metrics, an empty token.
    pub fn validate(&self) -> Result<(), InvalidRequest> {
        match self {
            Self::PutComponentMetric(metrics) => {
                if metrics.is_empty() {
                    return Err(InvalidRequest("PutComponentMetric needs a metric".into()));
                }
                for m in metrics {
                    if m.name.is_empty() || m.name.len() > MAX_METRIC_NAME_BYTES {
                        return Err(InvalidRequest(format!(
                            "metric name {:?} must be 1 to {MAX_METRIC_NAME_BYTES} bytes",
                            m.name
                        )));
                    }
                    if !(m.value.is_finite() && m.value >= 0.0) {
                        return Err(InvalidRequest(format!(
                            "metric {} has the value {}, which is not a finite value >= 0",
                            m.name, m.value
                        )));
                    }
                }
                Ok(())
            }
            Self::ValidateAuthorizationToken(t) if t.is_empty() => {
                Err(InvalidRequest("the token to validate is empty".into()))
            }
            _ => Ok(()),
        }
    }

    /// The JSON body.
    pub fn payload(&self) -> Vec<u8> {
        let r = match self {
            Self::UpdateState(s) => serde_json::to_vec(&UpdateStateBody { state: s.as_str() }),
            Self::UpdateConfiguration {
                key_path,
                timestamp_ms,
                value_to_merge,
            } => serde_json::to_vec(&UpdateConfigurationBody {
                key_path,
                // The IPC model's timestamps are epoch seconds as a JSON number.
                timestamp: *timestamp_ms as f64 / 1000.0,
                value_to_merge,
            }),
            Self::PutComponentMetric(metrics) => serde_json::to_vec(&PutComponentMetricBody {
                metrics: metrics
                    .iter()
                    .map(|m| MetricBody {
                        name: &m.name,
                        unit: m.unit.as_str(),
                        value: m.value,
                    })
                    .collect(),
            }),
            Self::ValidateAuthorizationToken(token) => serde_json::to_vec(&ValidateBody { token }),
        };
        // Serializing these plain structs cannot fail (no maps with non-string keys).
        r.unwrap_or_default()
    }
}

/// A successful response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// UpdateState done.
    UpdateState,
    /// UpdateConfiguration done.
    UpdateConfiguration,
    /// PutComponentMetric done.
    PutComponentMetric,
    /// The nucleus answered `isValid` (it answers an invalid token with
    /// [`ErrorKind::InvalidToken`] rather than `false`).
    ValidateAuthorizationToken {
        /// Whether the token is valid.
        is_valid: bool,
    },
}

/// The modeled error shapes of these operations, by `service-model-type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// `aws.greengrass#InvalidTokenError`: the token is not one the nucleus issued.
    InvalidToken,
    /// `aws.greengrass#UnauthorizedError`: this component may not call the operation.
    Unauthorized,
    /// `aws.greengrass#ServiceError`.
    Service,
    /// `aws.greengrass#InvalidArgumentsError`.
    InvalidArguments,
    /// `aws.greengrass#ResourceNotFoundError`.
    ResourceNotFound,
    /// `aws.greengrass#FailedUpdateConditionCheckError` (UpdateConfiguration's timestamp
    /// is older than the key's).
    FailedUpdateConditionCheck,
    /// `aws.greengrass#ConflictError`.
    Conflict,
    /// Another modeled error (its shape name).
    Other(String),
    /// An APPLICATION_ERROR without a shape (the nucleus's `InternalServerError` text, an
    /// unsupported operation).
    Unmodeled,
    /// An answer that is not this operation's response shape, or not valid JSON for it.
    BadResponse,
}

impl ErrorKind {
    fn from_shape(shape: &str) -> Self {
        match shape {
            "aws.greengrass#InvalidTokenError" => Self::InvalidToken,
            "aws.greengrass#UnauthorizedError" => Self::Unauthorized,
            "aws.greengrass#ServiceError" => Self::Service,
            "aws.greengrass#InvalidArgumentsError" => Self::InvalidArguments,
            "aws.greengrass#ResourceNotFoundError" => Self::ResourceNotFound,
            "aws.greengrass#FailedUpdateConditionCheckError" => Self::FailedUpdateConditionCheck,
            "aws.greengrass#ConflictError" => Self::Conflict,
            other => Self::Other(other.to_owned()),
        }
    }
}

/// An operation that failed at the nucleus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationError {
    /// Which error.
    pub kind: ErrorKind,
    /// The error's `message` (or the unmodeled payload as text), at most 1024 bytes.
    pub message: String,
}

impl std::fmt::Display for OperationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            ErrorKind::Other(shape) => write!(f, "{shape}: {}", self.message),
            kind => write!(f, "{kind:?}: {}", self.message),
        }
    }
}

impl std::error::Error for OperationError {}

/// Longest error message kept from a payload.
const MAX_MESSAGE: usize = 1024;

fn bounded_text(payload: &[u8]) -> String {
    let cut = &payload[..payload.len().min(MAX_MESSAGE)];
    String::from_utf8_lossy(cut).into_owned()
}

/// The `message` member of an error payload, else the payload as text.
fn error_message(payload: &[u8]) -> String {
    #[derive(Deserialize)]
    struct Body {
        message: Option<String>,
    }
    match serde_json::from_slice::<Body>(payload) {
        Ok(Body { message: Some(m) }) => {
            let mut end = m.len().min(MAX_MESSAGE);
            while !m.is_char_boundary(end) {
                end -= 1;
            }
            m[..end].to_owned()
        }
        _ => bounded_text(payload),
    }
}

/// Parses an APPLICATION_MESSAGE answering `op`.
pub(crate) fn parse_response(
    op: Operation,
    model_type: Option<&str>,
    payload: &[u8],
) -> Result<Response, OperationError> {
    let bad = |message: String| OperationError {
        kind: ErrorKind::BadResponse,
        message,
    };
    let Some(model_type) = model_type else {
        return Err(bad(format!(
            "the {} stream ended without a response",
            op.name()
        )));
    };
    if model_type != op.response_type() {
        return Err(bad(format!(
            "expected {}, got {model_type}",
            op.response_type()
        )));
    }
    Ok(match op {
        Operation::UpdateState => Response::UpdateState,
        Operation::UpdateConfiguration => Response::UpdateConfiguration,
        Operation::PutComponentMetric => Response::PutComponentMetric,
        Operation::ValidateAuthorizationToken => {
            let body: ValidateResponseBody = serde_json::from_slice(payload)
                .map_err(|e| bad(format!("{model_type} is not valid JSON: {e}")))?;
            Response::ValidateAuthorizationToken {
                is_valid: body.is_valid.unwrap_or(false),
            }
        }
    })
}

/// Parses an APPLICATION_ERROR.
pub(crate) fn parse_error(model_type: Option<&str>, payload: &[u8]) -> OperationError {
    match model_type {
        Some(shape) => OperationError {
            kind: ErrorKind::from_shape(shape),
            message: error_message(payload),
        },
        None => OperationError {
            kind: ErrorKind::Unmodeled,
            message: bounded_text(payload),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(r: &Request) -> Value {
        serde_json::from_slice(&r.payload()).unwrap()
    }

    #[test]
    fn request_bodies_use_the_model_member_names() {
        assert_eq!(
            json(&Request::UpdateState(LifecycleState::Running)),
            serde_json::json!({"state": "RUNNING"})
        );
        let mut v = Map::new();
        v.insert("port".into(), Value::String("8088".into()));
        assert_eq!(
            json(&Request::UpdateConfiguration {
                key_path: vec![],
                timestamp_ms: 1_700_000_000_250,
                value_to_merge: v,
            }),
            serde_json::json!({"keyPath": [], "timestamp": 1_700_000_000.25, "valueToMerge": {"port": "8088"}})
        );
        assert_eq!(
            json(&Request::PutComponentMetric(vec![Metric {
                name: "BytesAppended".into(),
                unit: MetricUnit::Bytes,
                value: 42.0,
            }])),
            serde_json::json!({"metrics": [{"name": "BytesAppended", "unit": "BYTES", "value": 42.0}]})
        );
        assert_eq!(
            json(&Request::ValidateAuthorizationToken("a\"b".into())),
            serde_json::json!({"token": "a\"b"})
        );
    }

    #[test]
    fn tokens_are_not_in_debug_output() {
        let r = Request::ValidateAuthorizationToken("secret-svcuid".into());
        assert!(!format!("{r:?}").contains("secret"));
    }

    #[test]
    fn validation_matches_the_nucleus_limits() {
        let m = |name: &str, value: f64| {
            Request::PutComponentMetric(vec![Metric {
                name: name.into(),
                unit: MetricUnit::Bytes,
                value,
            }])
        };
        assert!(m("BytesUploadedToIoTAnalytics", 0.0).validate().is_ok());
        assert!(m(&"x".repeat(32), 1.0).validate().is_ok());
        assert!(m(&"x".repeat(33), 1.0).validate().is_err());
        assert!(m("", 1.0).validate().is_err());
        assert!(m("a", -1.0).validate().is_err());
        assert!(m("a", f64::NAN).validate().is_err());
        assert!(Request::PutComponentMetric(vec![]).validate().is_err());
        assert!(Request::ValidateAuthorizationToken(String::new())
            .validate()
            .is_err());
    }

    #[test]
    fn responses_and_errors() {
        let op = Operation::ValidateAuthorizationToken;
        assert_eq!(
            parse_response(op, Some(op.response_type()), br#"{"isValid":true}"#),
            Ok(Response::ValidateAuthorizationToken { is_valid: true })
        );
        assert_eq!(
            parse_response(op, Some(op.response_type()), b"{}"),
            Ok(Response::ValidateAuthorizationToken { is_valid: false })
        );
        assert_eq!(
            parse_response(op, Some(op.response_type()), b"nope")
                .unwrap_err()
                .kind,
            ErrorKind::BadResponse
        );
        assert_eq!(
            parse_response(op, Some("aws.greengrass#UpdateStateResponse"), b"{}")
                .unwrap_err()
                .kind,
            ErrorKind::BadResponse
        );
        assert_eq!(
            parse_response(op, None, b"").unwrap_err().kind,
            ErrorKind::BadResponse
        );
        let e = parse_error(
            Some("aws.greengrass#InvalidTokenError"),
            br#"{"message":"Invalid token used by stream manager"}"#,
        );
        assert_eq!(e.kind, ErrorKind::InvalidToken);
        assert_eq!(e.message, "Invalid token used by stream manager");
        let e = parse_error(Some("aws.greengrass#UnauthorizedError"), b"not json");
        assert_eq!(
            (e.kind, e.message.as_str()),
            (ErrorKind::Unauthorized, "not json")
        );
        let e = parse_error(None, b"InternalServerError");
        assert_eq!(
            (e.kind, e.message.as_str()),
            (ErrorKind::Unmodeled, "InternalServerError")
        );
        let e = parse_error(Some("aws.greengrass#Whatever"), &[b'x'; 5000]);
        assert_eq!(e.kind, ErrorKind::Other("aws.greengrass#Whatever".into()));
        assert_eq!(e.message.len(), 1024);
        let long = format!(r#"{{"message":"{}"}}"#, "é".repeat(1000));
        assert!(
            parse_error(Some("aws.greengrass#ServiceError"), long.as_bytes())
                .message
                .len()
                <= 1024
        );
    }
}
