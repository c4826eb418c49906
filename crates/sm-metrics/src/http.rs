//! The HTTP side of the endpoints, without the socket: which route a request head asks for and
//! the bytes of a whole response. The runtime reads the head (at most [`MAX_REQUEST_BYTES`],
//! up to [`find_head_end`]), calls [`route`], and writes [`response`]'s bytes.

use core::net::SocketAddr;

/// Why `--metrics-address` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// Not `HOST:PORT` with an IP address or `localhost`.
    #[error("--metrics-address must be HOST:PORT with an IP address or localhost (e.g. 127.0.0.1:9464), got {0:?}")]
    Invalid(String),
    /// Not a loopback address, and that was not allowed.
    #[error("--metrics-address {0} is not a loopback address: the endpoint has no authentication; pass --metrics-allow-non-loopback (STREAM_MANAGER_METRICS_ALLOW_NON_LOOPBACK=true) to serve it there")]
    NotLoopback(SocketAddr),
}

/// Parses `--metrics-address`: `IP:PORT`, `[IPv6]:PORT` or `localhost:PORT`. A non-loopback
/// address is refused unless `allow_non_loopback` (the endpoint has no authentication).
pub fn parse_address(text: &str, allow_non_loopback: bool) -> Result<SocketAddr, AddressError> {
    let text = text.trim();
    let addr = match text.strip_prefix("localhost:") {
        Some(port) => port
            .parse::<u16>()
            .ok()
            .map(|p| SocketAddr::from(([127, 0, 0, 1], p))),
        None => text.parse::<SocketAddr>().ok(),
    }
    .ok_or_else(|| AddressError::Invalid(text.to_owned()))?;
    if !addr.ip().is_loopback() && !allow_non_loopback {
        return Err(AddressError::NotLoopback(addr));
    }
    Ok(addr)
}

/// Largest request head read.
pub const MAX_REQUEST_BYTES: usize = 8 * 1024;

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `GET /metrics`.
    Metrics,
    /// `GET /health`.
    Health,
    /// `GET /` (or `/index.html`): the status page.
    Page,
    /// `GET /status.json`: what the page shows.
    Status,
    /// Anything else: the status and a one-line reason.
    Refused(u16, &'static str),
}

/// Routes a request head (the bytes before the blank line). Only the request line is read;
/// headers are ignored.
pub fn route(head: &[u8]) -> Route {
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let Ok(line) = std::str::from_utf8(line) else {
        return Route::Refused(400, "the request line is not UTF-8");
    };
    let mut parts = line.trim_end_matches('\r').split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Route::Refused(400, "malformed request line");
    };
    if !version.starts_with("HTTP/1.") {
        return Route::Refused(400, "only HTTP/1.x is served");
    }
    if method != "GET" {
        return Route::Refused(405, "only GET is served");
    }
    match target.split('?').next().unwrap_or_default() {
        "/metrics" => Route::Metrics,
        "/health" => Route::Health,
        "/" | "/index.html" => Route::Page,
        "/status.json" => Route::Status,
        _ => Route::Refused(404, "not found: GET /, /status.json, /metrics or /health"),
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

/// A whole HTTP/1.1 response that closes the connection.
pub fn response(status: u16, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n{}\r\n",
        reason(status),
        body.len(),
        if status == 405 { "Allow: GET\r\n" } else { "" },
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// Where a request head ends (before its blank line, CRLF or bare LF), if it has arrived.
pub fn find_head_end(buf: &[u8]) -> Option<usize> {
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n");
    let lf = buf.windows(2).position(|w| w == b"\n\n");
    crlf.into_iter().chain(lf).min()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(
            parse_address("127.0.0.1:9464", false).unwrap(),
            "127.0.0.1:9464".parse().unwrap()
        );
        assert_eq!(
            parse_address("localhost:0", false).unwrap(),
            "127.0.0.1:0".parse().unwrap()
        );
        assert_eq!(
            parse_address("[::1]:9", false).unwrap(),
            "[::1]:9".parse().unwrap()
        );
        let e = parse_address("0.0.0.0:9464", false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--metrics-allow-non-loopback"), "{e}");
        assert!(matches!(
            parse_address("0.0.0.0:9", false),
            Err(AddressError::NotLoopback(_))
        ));
        assert!(parse_address("192.168.1.2:9464", false).is_err());
        assert_eq!(
            parse_address("0.0.0.0:9464", true).unwrap(),
            "0.0.0.0:9464".parse().unwrap()
        );
        for bad in ["9464", "127.0.0.1", "example.com:80", "127.0.0.1:99999", ""] {
            assert!(parse_address(bad, true).is_err(), "{bad}");
        }
    }

    #[test]
    fn routes() {
        assert_eq!(route(b"GET /metrics HTTP/1.1\r\nHost: x"), Route::Metrics);
        assert_eq!(route(b"GET /metrics?name[]=x HTTP/1.0"), Route::Metrics);
        assert_eq!(route(b"GET /health HTTP/1.1\nAccept: */*"), Route::Health);
        assert_eq!(route(b"GET / HTTP/1.1"), Route::Page);
        assert_eq!(route(b"GET /index.html HTTP/1.1"), Route::Page);
        assert_eq!(route(b"GET /status.json?t=1 HTTP/1.1"), Route::Status);
        assert!(matches!(
            route(b"GET /other HTTP/1.1"),
            Route::Refused(404, _)
        ));
        assert!(matches!(
            route(b"GET /metrics/x HTTP/1.1"),
            Route::Refused(404, _)
        ));
        assert!(matches!(
            route(b"POST /metrics HTTP/1.1"),
            Route::Refused(405, _)
        ));
        assert!(matches!(
            route(b"HEAD /health HTTP/1.1"),
            Route::Refused(405, _)
        ));
        assert!(matches!(route(b"GET /metrics"), Route::Refused(400, _)));
        assert!(matches!(
            route(b"GET /metrics HTTP/2.0"),
            Route::Refused(400, _)
        ));
        assert!(matches!(
            route(b"GET  /metrics HTTP/1.1"),
            Route::Refused(400, _)
        ));
        assert!(matches!(route(b"\xff\xfe"), Route::Refused(400, _)));
        assert!(matches!(route(b""), Route::Refused(400, _)));
    }

    #[test]
    fn head_end_and_responses() {
        assert_eq!(
            find_head_end(b"GET / HTTP/1.1\r\nA: b\r\n\r\nbody"),
            Some(20)
        );
        assert_eq!(find_head_end(b"GET / HTTP/1.1\n\n"), Some(14));
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\n"), None);
        let r = String::from_utf8(response(405, "text/plain", b"no\n")).unwrap();
        assert!(r.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"), "{r}");
        assert!(r.contains("\r\nAllow: GET\r\n"));
        assert!(r.contains("\r\nContent-Length: 3\r\n"));
        assert!(r.ends_with("\r\n\r\nno\n"));
    }
}
