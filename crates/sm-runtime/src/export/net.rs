//! Sending the engine's calls: HTTP exports as they are, AWS calls signed first; answers read
//! up to a bound, failures reported as the engine's [`TransportError`]s.

use std::time::Duration;

use sm_export::{Answer, Call, Target, TransportError, TransportKind};

use crate::aws::Aws;
use crate::net::NetSettings;

/// Most of an HTTP export's answer read (its body is not used; reading a little lets the
/// connection be reused, and a body of gigabytes costs nothing).
const HTTP_ANSWER_BYTES: usize = 64 * 1024;

/// Sends a call and reads its answer. HTTP exports use the AWS calls' client (same proxy, CA
/// bundle and timeout).
pub(super) async fn send(aws: &Aws, call: Call) -> Result<Answer, TransportError> {
    let timeout = Duration::from_millis(call.timeout_ms);
    match call.target {
        Target::Http => {
            let mut req = reqwest::Request::try_from(call.request).map_err(|e| TransportError {
                kind: TransportKind::Io,
                message: format!("invalid request: {e}"),
            })?;
            *req.timeout_mut() = Some(timeout);
            let url = req.url().to_string();
            let net = &aws.settings.net;
            let http = aws.client()?;
            let resp = http.execute(req).await.map_err(|e| transport(&e, net))?;
            let status = resp.status().as_u16();
            if let Some(message) = crate::net::proxy_status_text(net, &url, status) {
                return Err(TransportError {
                    kind: TransportKind::ProxyAuth,
                    message,
                });
            }
            // The status is the answer. The body is drained on the side (up to the bound,
            // within the request timeout) so that the connection can be reused, without
            // holding up the export while it trickles in.
            tokio::spawn(async move {
                let _ = read_body(resp, HTTP_ANSWER_BYTES).await;
            });
            Ok(Answer {
                status,
                ..Answer::default()
            })
        }
        Target::Aws { service, region } => aws.call(service, &region, call.request, timeout).await,
    }
}

/// A reqwest failure as the engine sees it (the proxy named, its credentials never).
pub(crate) fn transport(e: &reqwest::Error, net: &NetSettings) -> TransportError {
    let message = crate::net::error_text(net, e);
    let kind = if message.contains("407 Proxy Authentication Required") {
        TransportKind::ProxyAuth
    } else if e.is_timeout() {
        TransportKind::Timeout
    } else if e.is_connect() {
        TransportKind::Connect
    } else {
        TransportKind::Io
    };
    TransportError { kind, message }
}

/// Reads a body up to `cap` bytes; a longer one is an error (the rest is not read).
pub(crate) async fn read_body(
    mut resp: reqwest::Response,
    cap: usize,
) -> Result<Vec<u8>, TransportError> {
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| TransportError {
        kind: if e.is_timeout() {
            TransportKind::Timeout
        } else {
            TransportKind::Io
        },
        message: crate::net::error_chain(&e),
    })? {
        if body.len() + chunk.len() > cap {
            return Err(TransportError {
                kind: TransportKind::TooLarge,
                message: format!("the answer's body is larger than {cap} bytes"),
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
