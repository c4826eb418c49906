//! What every AWS destination shares: region, endpoints, credentials, the HTTPS client, and
//! one place that signs and sends a request built by `sm-aws`.

pub mod credentials;

use std::path::PathBuf;
use std::time::Duration;

use sm_aws::{Endpoints, Service};
use sm_export::{Answer, TransportError, TransportKind};

use crate::clock;
use credentials::CredentialsProvider;

/// AWS settings from flags and the environment.
#[derive(Debug, Clone, Default)]
pub struct AwsSettings {
    /// `AWS_REGION` / `AWS_DEFAULT_REGION` (else the config file's profile).
    pub region: Option<String>,
    /// Endpoint overrides.
    pub endpoints: Endpoints,
    /// Extra trusted CA certificates (PEM), e.g. Greengrass's `GG_ROOT_CA_PATH`.
    pub ca_bundle: Option<PathBuf>,
    /// Kinesis size limits.
    pub kinesis_limits: Option<sm_aws::kinesis::Limits>,
    /// Timeout of one AWS request.
    pub timeout: Duration,
}

/// The shared AWS context of the exporters.
pub struct Aws {
    /// HTTPS client (honours HTTPS_PROXY / HTTP_PROXY / NO_PROXY).
    pub http: reqwest::Client,
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
    pub fn new(settings: AwsSettings) -> anyhow::Result<Self> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut b = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout.min(Duration::from_secs(10)));
        if let Some(path) = &settings.ca_bundle {
            match std::fs::read(path) {
                Ok(pem) => match reqwest::Certificate::from_pem_bundle(&pem) {
                    Ok(certs) => {
                        for c in certs {
                            b = b.add_root_certificate(c);
                        }
                    }
                    Err(e) => {
                        tracing::warn!(path = %path.display(), "CA bundle is not valid PEM, ignored: {e}")
                    }
                },
                Err(e) => {
                    tracing::warn!(path = %path.display(), "CA bundle unreadable, ignored: {e}")
                }
            }
        }
        let http = b.build()?;
        Ok(Self {
            credentials: CredentialsProvider::new(http.clone()),
            http,
            settings,
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
    /// [`MAX_ANSWER_BYTES`] of the answer.
    pub async fn call(
        &self,
        service: Service,
        region: &str,
        mut req: http::Request<Vec<u8>>,
    ) -> Result<Answer, TransportError> {
        let creds = self.credentials.get().await.map_err(|m| TransportError {
            kind: TransportKind::Credentials,
            message: format!("no AWS credentials: {m}"),
        })?;
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
        let mut rb = self.http.request(parts.method, parts.uri.to_string());
        for (k, v) in &parts.headers {
            if k != http::header::HOST {
                rb = rb.header(k, v);
            }
        }
        let resp = rb
            .body(body)
            .send()
            .await
            .map_err(crate::export::transport)?;
        let status = resp.status().as_u16();
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
}
