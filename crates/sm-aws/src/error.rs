//! AWS error responses: the code and message from the JSON or XML body (or the
//! `x-amzn-ErrorType` header). Whether a retry can help is the export engine's decision
//! (`sm-export`'s `classify`), not this crate's.

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

/// Why a request could not be built (a value that cannot go into a URI or a header, or a body
/// that cannot be encoded). The records are never sent as an empty request instead.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The JSON body could not be encoded.
    #[error("cannot encode the request body: {0}")]
    Body(#[from] serde_json::Error),
    /// The URI or a header is invalid.
    #[error("invalid request: {0}")]
    Http(#[from] http::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_xml_and_header_errors() {
        let e = parse_error(400, None, br#"{"__type":"com.amazonaws.kinesis#ResourceNotFoundException","message":"Stream s not found"}"#);
        assert_eq!(e.code, "ResourceNotFoundException");
        assert_eq!(e.message, "Stream s not found");
        let e = parse_error(403, None, b"<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code><Message>bad sig</Message></Error></ErrorResponse>");
        assert_eq!(
            (e.code.as_str(), e.message.as_str()),
            ("SignatureDoesNotMatch", "bad sig")
        );
        let e = parse_error(
            400,
            Some("ThrottlingException:http://internal.amazon.com/"),
            b"{}",
        );
        assert_eq!(e.code, "ThrottlingException");
        let e = parse_error(503, None, b"oops");
        assert_eq!(e.code, "HTTP503");
        assert_eq!(e.message, "oops");
        let e = parse_error(
            400,
            None,
            br#"{"__type":"ExpiredTokenException","message":"expired"}"#,
        );
        assert_eq!(
            (e.code.as_str(), e.message.as_str()),
            ("ExpiredTokenException", "expired")
        );
    }
}
