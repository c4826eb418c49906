//! AWS error responses: the code and message from the JSON or XML body (or the
//! `x-amzn-ErrorType` header), and whether a retry can help.

/// An AWS error, as answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsError {
    /// HTTP status (0 when the call never got an answer).
    pub status: u16,
    /// The error code, e.g. `ResourceNotFoundException`.
    pub code: String,
    /// The message.
    pub message: String,
}

impl std::fmt::Display for AwsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.status == 0 {
            write!(f, "{}: {}", self.code, self.message)
        } else {
            write!(f, "{} (HTTP {}): {}", self.code, self.status, self.message)
        }
    }
}

/// Error codes a retry can cure, whatever the status.
const RETRYABLE: &[&str] = &[
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
    "KMSThrottlingException",
    "ConflictingOperationException",
];

/// Whether an error is worth retrying: 429, 5xx, or a retryable code.
pub fn classify(e: &AwsError) -> bool {
    e.status == 429 || e.status >= 500 || RETRYABLE.contains(&e.code.as_str())
}

fn xml_tag<'a>(body: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = body.find(&open)? + open.len();
    let end = body[start..].find(&close)? + start;
    Some(&body[start..end])
}

/// Parses an error answer (any status ≥ 300).
pub fn parse_error(status: u16, error_type_header: Option<&str>, body: &[u8]) -> AwsError {
    let text = String::from_utf8_lossy(body);
    let mut code = error_type_header
        .map(|h| h.split(':').next().unwrap_or(h).to_owned())
        .unwrap_or_default();
    let mut message = String::new();
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
        if code.is_empty() {
            if let Some(t) = v
                .get("__type")
                .or_else(|| v.get("code"))
                .and_then(|t| t.as_str())
            {
                code = t.rsplit('#').next().unwrap_or(t).to_owned();
            }
        }
        if let Some(m) = v
            .get("message")
            .or_else(|| v.get("Message"))
            .and_then(|m| m.as_str())
        {
            message = m.to_owned();
        }
    } else if text.trim_start().starts_with('<') {
        if code.is_empty() {
            code = xml_tag(&text, "Code").unwrap_or_default().to_owned();
        }
        message = xml_tag(&text, "Message").unwrap_or_default().to_owned();
    }
    if code.is_empty() {
        code = format!("HTTP{status}");
    }
    if message.is_empty() {
        message = text.chars().take(300).collect();
    }
    AwsError {
        status,
        code,
        message,
    }
}

/// The outcome of a whole-call error answer.
pub(crate) fn whole_call(
    status: u16,
    error_type_header: Option<&str>,
    body: &[u8],
) -> crate::CallOutcome {
    let e = parse_error(status, error_type_header, body);
    if classify(&e) {
        crate::CallOutcome::Retry(e)
    } else {
        crate::CallOutcome::Fail(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_xml_and_header_errors() {
        let e = parse_error(400, None, br#"{"__type":"com.amazonaws.kinesis#ResourceNotFoundException","message":"Stream s not found"}"#);
        assert_eq!(e.code, "ResourceNotFoundException");
        assert_eq!(e.message, "Stream s not found");
        assert!(!classify(&e));
        let e = parse_error(403, None, b"<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code><Message>bad sig</Message></Error></ErrorResponse>");
        assert_eq!(
            (e.code.as_str(), e.message.as_str()),
            ("SignatureDoesNotMatch", "bad sig")
        );
        assert!(!classify(&e));
        let e = parse_error(
            400,
            Some("ThrottlingException:http://internal.amazon.com/"),
            b"{}",
        );
        assert_eq!(e.code, "ThrottlingException");
        assert!(classify(&e));
        let e = parse_error(503, None, b"oops");
        assert_eq!(e.code, "HTTP503");
        assert_eq!(e.message, "oops");
        assert!(classify(&e));
        let e = parse_error(
            400,
            None,
            br#"{"__type":"ExpiredTokenException","message":"expired"}"#,
        );
        assert!(classify(&e));
    }
}
