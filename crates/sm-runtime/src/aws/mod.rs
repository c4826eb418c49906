//! What every AWS destination shares: region, endpoints, credentials, the HTTPS client (built
//! by [`crate::net`]), and one place that signs and sends a request built by `sm-aws`.

pub mod credentials;

use std::time::Duration;

use sm_aws::{Endpoints, Service};
use sm_export::{Answer, TransportError, TransportKind};

use crate::clock;
use crate::net::{self, NetSettings};
use credentials::CredentialsProvider;

/// AWS settings from flags and the environment.
#[derive(Debug, Clone, Default)]
pub struct AwsSettings {
    /// `AWS_REGION` / `AWS_DEFAULT_REGION` (else the config file's profile).
    pub region: Option<String>,
    /// Endpoint overrides and FIPS.
    pub endpoints: Endpoints,
    /// Proxy and CA bundle of every outbound client (the HTTP export's too).
    pub net: NetSettings,
    /// Kinesis size limits.
    pub kinesis_limits: Option<sm_aws::kinesis::Limits>,
    /// Timeout of one AWS request.
    pub timeout: Duration,
}

/// The shared AWS context of the exporters.
pub struct Aws {
    /// HTTPS client (through the proxy of `settings.net`), built at the first [`Self::client`].
    http: net::LazyClient,
    /// Credentials.
    pub credentials: CredentialsProvider,
    /// Settings.
    pub settings: AwsSettings,
}

/// Most of an AWS answer read: the largest answers the exports get (ListParts of 1,000 parts,
/// PutRecords of 500 records) are a few hundred KiB.
pub const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;

impl Aws {
    /// The context for these settings.
    pub fn new(settings: AwsSettings) -> Self {
        Self {
            credentials: CredentialsProvider::new(&settings.net),
            http: net::http_client(&settings.net, settings.timeout),
            settings,
        }
    }

    /// The exports' HTTP client (built at the first call); one that cannot be built: `Connect`.
    pub fn client(&self) -> Result<&reqwest::Client, TransportError> {
        self.http.get().map_err(|e| TransportError {
            kind: TransportKind::Connect,
            message: e.to_string(),
        })
    }

    /// The region, or why there is none.
    pub fn region(&self) -> Result<String, String> {
        self.settings
            .region
            .clone()
            .or_else(credentials::region_from_config)
            .ok_or_else(|| {
                "no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION, or --aws-region)".into()
            })
    }

    /// Signs `req` for `service` with the current credentials and sends it; reads at most
    /// [`MAX_ANSWER_BYTES`] of the answer. A proxy's 407 is not AWS's answer: it is a
    /// [`TransportKind::ProxyAuth`] failure.
    pub async fn call(
        &self,
        service: Service,
        region: &str,
        mut req: http::Request<Vec<u8>>,
        timeout: Duration,
    ) -> Result<Answer, TransportError> {
        let creds = self.credentials.get().await.map_err(credentials_error)?;
        let now = std::time::UNIX_EPOCH + Duration::from_millis(clock::now_ms().max(0) as u64);
        sm_aws::sign(
            &mut req,
            &creds,
            region,
            service.signing_name(),
            now,
            service == Service::S3,
        )
        .map_err(|e| TransportError {
            kind: TransportKind::Signing,
            message: format!("cannot sign the request: {e}"),
        })?;
        let (parts, body) = req.into_parts();
        let url = parts.uri.to_string();
        let mut rb = self.client()?.request(parts.method, &url);
        for (k, v) in &parts.headers {
            if k != http::header::HOST {
                rb = rb.header(k, v);
            }
        }
        let resp = rb
            .timeout(timeout)
            .body(body)
            .send()
            .await
            .map_err(|e| self.send_error(&e, &url))?;
        let status = resp.status().as_u16();
        if let Some(message) = net::proxy_status_text(&self.settings.net, &url, status) {
            // A proxy's answer, not AWS's: only new proxy credentials help.
            return Err(TransportError {
                kind: TransportKind::ProxyAuth,
                message,
            });
        }
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let (error_type, etag) = (header("x-amzn-errortype"), header("etag"));
        let body = crate::export::read_body(resp, MAX_ANSWER_BYTES).await?;
        if error_type
            .as_deref()
            .is_some_and(|t| t.starts_with("ExpiredToken"))
            || body.windows(12).any(|w| w == b"ExpiredToken")
        {
            self.credentials.invalidate().await;
        }
        Ok(Answer {
            status,
            error_type,
            body,
            etag,
        })
    }

    /// A request that got no answer, with the proxy named and, for a FIPS host that cannot be
    /// reached, a note that not every region has one.
    fn send_error(&self, e: &reqwest::Error, url: &str) -> TransportError {
        let mut t = crate::export::transport(e, &self.settings.net);
        if e.is_connect() && self.settings.endpoints.fips && url.contains("-fips.") {
            t.message.push_str(
                " (a FIPS endpoint: not every region has one for every service; see README, \
                 \"FIPS endpoints\")",
            );
        }
        t
    }
}

/// No credentials: the token exchange service down (or answering garbage) is retried with the
/// normal backoff; no credentials configured at all, slowly.
fn credentials_error(e: sm_credentials::CredentialsError) -> TransportError {
    TransportError {
        kind: if e.is_transient() {
            TransportKind::Credentials
        } else {
            TransportKind::NoCredentials
        },
        message: format!("no AWS credentials: {e}"),
    }
}
