//! Sending the engine's calls: HTTP exports as they are, AWS calls signed first; answers read
//! up to a bound, failures reported as the engine's [`TransportError`]s.

use std::time::Duration;

use sm_export::{Answer, Call, Target, TransportError, TransportKind};

use crate::aws::Aws;

/// Most of an HTTP export's answer read (its body is not used; reading a little lets the
/// connection be reused, and a body of gigabytes costs nothing).
const HTTP_ANSWER_BYTES: usize = 64 * 1024;

/// The clients of the exports.
pub(super) struct Net {
    http: reqwest::Client,
    aws: Aws,
}

impl Net {
    pub(super) fn new(timeout: Duration, aws: Aws) -> anyhow::Result<Self> {
        // reqwest is built without a default crypto provider: use ring's (idempotent).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none())
            .tcp_nodelay(true)
            .build()?;
        Ok(Self { http, aws })
    }

    /// Sends a call and reads its answer.
    pub(super) async fn send(&self, call: Call) -> Result<Answer, TransportError> {
        match call.target {
            Target::Http => {
                let req = reqwest::Request::try_from(call.request).map_err(|e| TransportError {
                    kind: TransportKind::Io,
                    message: format!("invalid request: {e}"),
                })?;
                let resp = self.http.execute(req).await.map_err(transport)?;
                let status = resp.status().as_u16();
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
            Target::Aws { service, region } => self.aws.call(service, &region, call.request).await,
        }
    }
}

/// A reqwest failure as the engine sees it.
pub(crate) fn transport(e: reqwest::Error) -> TransportError {
    let message = chain(&e);
    let kind = if message.contains("407") || message.contains("Proxy Authentication Required") {
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

/// An error and its causes, on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cause = c.source();
    }
    s
}

/// Reads a body up to `cap` bytes; a longer one is an error (the rest is not read).
pub(crate) async fn read_body(
    mut resp: reqwest::Response,
    cap: usize,
) -> Result<Vec<u8>, TransportError> {
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(transport)? {
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
