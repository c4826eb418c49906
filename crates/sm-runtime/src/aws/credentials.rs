//! AWS credentials, in the order Greengrass wants: the container credentials endpoint
//! (Greengrass's token exchange service), then environment variables, then the shared
//! credentials and config files. This module only performs the IO; when to refresh, what to
//! keep while the endpoint is down and what its answers mean are `sm-credentials`'
//! decisions ([`Refresher`]). Secrets never reach a log line.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use sm_credentials::profile::{self, FileKind};
use sm_credentials::{container, CredentialsError, Keys, Next, Policy, Refresher, Secret};
use tokio::sync::Mutex;
use tracing::{info, warn};

use crate::clock;
use crate::net::{self, NetSettings};

/// Time allowed for the container credentials endpoint to answer.
const CONTAINER_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest container credentials answer read (a real one is about 1.5 KiB).
const MAX_ANSWER_BYTES: usize = 64 * 1024;

struct State {
    refresher: Refresher,
    source: Option<&'static str>,
}

/// Where credentials come from, and the cached set.
pub struct CredentialsProvider {
    http: net::LazyClient,
    state: Mutex<State>,
}

fn env(k: &str) -> Option<String> {
    std::env::var(k).ok().filter(|v| !v.is_empty())
}

fn home() -> Option<PathBuf> {
    env("HOME").map(PathBuf::from)
}

fn profile_name() -> String {
    env("AWS_PROFILE").unwrap_or_else(|| "default".into())
}

fn config_path() -> Option<PathBuf> {
    env("AWS_CONFIG_FILE")
        .map(PathBuf::from)
        .or_else(|| home().map(|h| h.join(".aws/config")))
}

/// A setting of the config file's profile (`region`, `use_fips_endpoint`), if set.
pub fn config_value(key: &str) -> Option<String> {
    let text = std::fs::read_to_string(config_path()?).ok()?;
    profile::value(&text, FileKind::Config, &profile_name(), key).filter(|v| !v.is_empty())
}

/// The `region` of the config file's profile, if set.
pub fn region_from_config() -> Option<String> {
    config_value("region")
}

fn from_files() -> Option<Keys> {
    let p = profile_name();
    let creds_path = env("AWS_SHARED_CREDENTIALS_FILE")
        .map(PathBuf::from)
        .or_else(|| home().map(|h| h.join(".aws/credentials")));
    [
        (creds_path, FileKind::Credentials),
        (config_path(), FileKind::Config),
    ]
    .into_iter()
    .find_map(|(path, kind)| {
        let text = std::fs::read_to_string(path?).ok()?;
        profile::keys(&text, kind, &p)
    })
}

/// A random draw in `[0, 1)` for the refresh jitter and backoff.
fn draw() -> f64 {
    (uuid::Uuid::new_v4().as_u128() >> 75) as f64 / (1u64 << 53) as f64
}

fn to_sdk(k: &Keys, source: &'static str) -> Credentials {
    let expiry = k
        .expires_ms
        .map(|ms| SystemTime::UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64));
    Credentials::new(
        k.access_key_id.clone(),
        k.secret_access_key.expose(),
        k.session_token.as_ref().map(|t| t.expose().to_owned()),
        expiry,
        source,
    )
}

impl CredentialsProvider {
    /// A provider that asks the container credentials endpoint directly (never through a
    /// proxy), with the CA bundle of `net`.
    pub fn new(net: &NetSettings) -> Self {
        Self {
            http: net::direct_client(net, CONTAINER_TIMEOUT),
            state: Mutex::new(State {
                refresher: Refresher::new(Policy::default()),
                source: None,
            }),
        }
    }

    /// Forgets the cached credentials (after an expired-token answer).
    pub async fn invalidate(&self) {
        self.state.lock().await.refresher.invalidate();
    }

    /// Current credentials, resolving or refreshing them when needed. Concurrent callers
    /// share one fetch (the lock is held across it).
    pub async fn get(&self) -> Result<Credentials, CredentialsError> {
        let mut st = self.state.lock().await;
        let source = st.source.unwrap_or("none");
        match st.refresher.next(clock::now_ms()) {
            Next::Use(k) => return Ok(to_sdk(k, source)),
            Next::Fail(e) => return Err(e.clone()),
            Next::Fetch => {}
        }
        let was_failing = st.refresher.last_error().is_some();
        let before = st.refresher.access_key_id().map(str::to_owned);
        let fetched = self.fetch().await;
        let now = clock::now_ms();
        match fetched {
            Ok((keys, source)) => {
                if st.source != Some(source) || was_failing {
                    info!(source, "using AWS credentials from {source}");
                } else if before.as_deref() != Some(keys.access_key_id.as_str()) {
                    tracing::debug!(source, key = %keys.access_key_id, "AWS credentials refreshed");
                }
                st.source = Some(source);
                st.refresher.fetched(now, keys, draw());
            }
            Err(e) => {
                let kept = matches!(st.refresher.next(now), Next::Use(_));
                warn!(
                    "{e}{}",
                    if kept {
                        " (the current credentials are used until they are about to expire)"
                    } else {
                        ""
                    }
                );
                st.refresher.failed(now, e, draw());
            }
        }
        let source = st.source.unwrap_or("none");
        match st.refresher.next(now) {
            Next::Use(k) => Ok(to_sdk(k, source)),
            Next::Fail(e) => Err(e.clone()),
            Next::Fetch => Err(st
                .refresher
                .last_error()
                .cloned()
                .unwrap_or(CredentialsError::NotConfigured)),
        }
    }

    /// Asks the first configured source.
    async fn fetch(&self) -> Result<(Keys, &'static str), CredentialsError> {
        let full = env("AWS_CONTAINER_CREDENTIALS_FULL_URI");
        let relative = env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
            .map(|r| format!("http://169.254.170.2{r}"));
        if let Some(uri) = full.or(relative) {
            let keys = self.container(&uri).await?;
            return Ok((keys, "the container credentials endpoint"));
        }
        if let (Some(id), Some(secret)) = (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
            let keys = Keys {
                access_key_id: id,
                secret_access_key: Secret::new(secret),
                session_token: env("AWS_SESSION_TOKEN").map(Secret::new),
                expires_ms: None,
            };
            return Ok((keys, "environment variables"));
        }
        if let Some(keys) = from_files() {
            return Ok((keys, "the shared credentials/config files"));
        }
        Err(CredentialsError::NotConfigured)
    }

    async fn container(&self, uri: &str) -> Result<Keys, CredentialsError> {
        let http = self.http.get().map_err(|e| CredentialsError::Unreachable {
            uri: uri.to_owned(),
            reason: e.to_string(),
        })?;
        let mut req = http.get(uri);
        let token = match (
            env("AWS_CONTAINER_AUTHORIZATION_TOKEN"),
            env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"),
        ) {
            (Some(t), _) => Some(t),
            (None, Some(f)) => Some(
                std::fs::read_to_string(&f)
                    .map_err(|e| CredentialsError::TokenFile {
                        path: f,
                        reason: e.to_string(),
                    })?
                    .trim()
                    .to_owned(),
            ),
            (None, None) => None,
        };
        if let Some(t) = token {
            req = req.header("authorization", t);
        }
        let unreachable = |e: reqwest::Error| CredentialsError::Unreachable {
            uri: uri.to_owned(),
            reason: net::error_chain(&e),
        };
        let mut resp = req.send().await.map_err(unreachable)?;
        let status = resp.status().as_u16();
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(unreachable)? {
            if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(CredentialsError::BadAnswer {
                    uri: uri.to_owned(),
                    reason: format!("an answer larger than {MAX_ANSWER_BYTES} bytes"),
                });
            }
            body.extend_from_slice(&chunk);
        }
        container::parse_answer(uri, status, &body)
    }
}
