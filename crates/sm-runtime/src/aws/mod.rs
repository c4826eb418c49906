//! What every AWS destination shares: region, endpoints, credentials, the HTTPS client (built
//! by [`crate::net`]), and one place that signs and sends a request built by `sm-aws`.

pub mod credentials;

use std::time::Duration;

use sm_aws::{AwsError, CallOutcome, Endpoints, Service};

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
    /// HTTPS client (through the proxy of `settings.net`).
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
    pub fn new(settings: AwsSettings) -> Result<Self, net::NetError> {
        Ok(Self {
            credentials: CredentialsProvider::new(&settings.net)?,
            http: net::http_client(&settings.net, settings.timeout)?,
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
        let creds = self.credentials.get().await.map_err(credentials_outcome)?;
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
        let url = parts.uri.to_string();
        let mut rb = self.http.request(parts.method, &url);
        for (k, v) in &parts.headers {
            if k != http::header::HOST {
                rb = rb.header(k, v);
            }
        }
        let resp = rb
            .body(body)
            .send()
            .await
            .map_err(|e| self.send_outcome(&e, &url))?;
        let status = resp.status().as_u16();
        if let Some(message) = net::proxy_status_text(&self.settings.net, &url, status) {
            // A proxy's answer, not AWS's: only new proxy credentials help.
            return Err(CallOutcome::Fail(AwsError {
                status,
                code: "ProxyAuthenticationRequired".into(),
                message,
            }));
        }
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
                message: net::error_text(&self.settings.net, &e),
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

    /// A request that got no answer: retried, with the proxy named and, for a FIPS host that
    /// cannot be reached, a note that not every region has one.
    fn send_outcome(&self, e: &reqwest::Error, url: &str) -> CallOutcome {
        let code = if e.is_timeout() {
            "RequestTimeout"
        } else if e.is_connect() {
            "ConnectionFailed"
        } else {
            "NetworkError"
        };
        let mut message = net::error_text(&self.settings.net, e);
        if e.is_connect() && self.settings.endpoints.fips && url.contains("-fips.") {
            message.push_str(
                " (a FIPS endpoint: not every region has one for every service; see README, \
                 \"FIPS endpoints\")",
            );
        }
        CallOutcome::Retry(AwsError {
            status: 0,
            code: code.into(),
            message,
        })
    }
}

/// No credentials: a transient failure (the token exchange service down) is retried with the
/// normal backoff, a configuration problem slowly.
fn credentials_outcome(e: sm_credentials::CredentialsError) -> CallOutcome {
    let transient = e.is_transient();
    let err = AwsError {
        status: 0,
        code: if transient {
            "CredentialsUnavailable"
        } else {
            "NoCredentials"
        }
        .into(),
        message: e.to_string(),
    };
    if transient {
        CallOutcome::Retry(err)
    } else {
        CallOutcome::Fail(err)
    }
}
