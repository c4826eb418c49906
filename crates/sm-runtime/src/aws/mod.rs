//! What every AWS destination shares: region, endpoints, credentials, the HTTPS client, and
//! one place that signs and sends a request built by `sm-aws`.

pub mod credentials;

use std::path::PathBuf;
use std::time::Duration;

use sm_aws::{AwsError, CallOutcome, Endpoints, Service};

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

/// A sent call's answer.
pub struct Answer {
    /// Status (0 when no answer came).
    pub status: u16,
    /// `x-amzn-ErrorType`, if any.
    pub error_type: Option<String>,
    /// Body.
    pub body: Vec<u8>,
    /// `ETag` header, if any (S3).
    pub etag: Option<String>,
}

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

    /// Signs `req` for `service` with the current credentials and sends it.
    pub async fn call(
        &self,
        service: Service,
        region: &str,
        mut req: http::Request<Vec<u8>>,
    ) -> Result<Answer, CallOutcome> {
        let creds = self.credentials.get().await.map_err(|m| {
            CallOutcome::Fail(AwsError {
                status: 0,
                code: "NoCredentials".into(),
                message: m,
            })
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
        .map_err(|e| {
            CallOutcome::Fail(AwsError {
                status: 0,
                code: "SigningFailed".into(),
                message: e.to_string(),
            })
        })?;
        let (parts, body) = req.into_parts();
        let mut rb = self.http.request(parts.method, parts.uri.to_string());
        for (k, v) in &parts.headers {
            if k != http::header::HOST {
                rb = rb.header(k, v);
            }
        }
        let resp = rb.body(body).send().await.map_err(|e| {
            let what = if e.is_timeout() {
                "RequestTimeout"
            } else if e.is_connect() {
                "ConnectionFailed"
            } else {
                "NetworkError"
            };
            CallOutcome::Retry(AwsError {
                status: 0,
                code: what.into(),
                message: e.to_string(),
            })
        })?;
        let status = resp.status().as_u16();
        let error_type = resp
            .headers()
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let etag = resp
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = resp.bytes().await.map(|b| b.to_vec()).map_err(|e| {
            CallOutcome::Retry(AwsError {
                status,
                code: "NetworkError".into(),
                message: e.to_string(),
            })
        })?;
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
