//! Outbound HTTP: the one place that builds the daemon's HTTP clients (the AWS exporters' and
//! the HTTP export's through [`http_client`], the credentials endpoint's through
//! [`direct_client`]), each at its first request ([`LazyClient`]), and words their failures
//! ([`error_text`]).
//!
//! The proxy decision is `sm-proxy`'s ([`sm_proxy::ProxyConfig::select`]); a client asks it
//! for every request (reqwest's `Proxy::custom`), once per proxy in use so that each carries
//! its own Basic credentials. reqwest then opens a CONNECT tunnel for `https://` targets and
//! forwards `http://` ones, with `Proxy-Authorization`. reqwest's own reading of the proxy
//! variables is off: the daemon's precedence and `NO_PROXY` rules are the only ones.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rustls::pki_types::{pem::PemObject, CertificateDer};
use sm_proxy::ProxyConfig;

/// Network settings shared by every outbound client.
#[derive(Debug, Clone, Default)]
pub struct NetSettings {
    /// Which proxy each request goes through.
    pub proxy: Arc<ProxyConfig>,
    /// Extra trusted CA certificates (PEM), `--ca-bundle` / `GG_ROOT_CA_PATH`: trusted for
    /// the destinations and for an `https://` proxy.
    pub ca_bundle: Option<PathBuf>,
}

/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// reqwest refused the configuration (e.g. no TLS backend).
    #[error("cannot build the HTTP client: {0}")]
    Build(#[from] reqwest::Error),
    /// A certificate of the CA bundle (this file) cannot be trusted, and why.
    #[error("the CA bundle {path} cannot be used: {1}", path = .0.display())]
    CaBundle(PathBuf, String),
}

fn builder(settings: &NetSettings, timeout: Duration) -> reqwest::ClientBuilder {
    // reqwest is built without a default crypto provider: use ring's (idempotent).
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Header names in title case (`Proxy-Authorization`, as curl and the JVM send them):
    // names are case-insensitive, but some proxies look the credentials up case-sensitively
    // (pproxy 2.7 answers 407 to `proxy-authorization` and passes it on to the destination).
    let mut b = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .http1_title_case_headers()
        .no_proxy();
    // The certificates `check_ca_bundle` accepted at start-up, read by the same function.
    let certs = settings.ca_bundle.as_deref().map(ca_certs);
    for der in certs.and_then(|r| r.ok()?.ok()).unwrap_or_default() {
        if let Ok(c) = reqwest::Certificate::from_der(&der) {
            b = b.add_root_certificate(c);
        }
    }
    b
}

/// The CA bundle's certificates, each checked as the TLS library will trust it; the outer
/// error if the file cannot be read.
fn ca_certs(path: &Path) -> std::io::Result<Result<Vec<CertificateDer<'static>>, NetError>> {
    let pem = std::fs::read(path)?;
    let bad = |i: usize, why: String| {
        NetError::CaBundle(path.into(), format!("certificate {}: {why}", i + 1))
    };
    let mut roots = rustls::RootCertStore::empty();
    let each = CertificateDer::pem_slice_iter(&pem)
        .enumerate()
        .map(|(i, der)| {
            let der = der.map_err(|e| bad(i, format!("{e:?}")))?;
            roots.add(der.clone()).map_err(|e| bad(i, e.to_string()))?;
            Ok(der)
        });
    Ok(each.collect())
}

/// Checks the CA bundle at start-up (the clients read it at the first export): warns if it is
/// unreadable or holds no PEM certificate (ignored), fails if a certificate cannot be trusted.
pub fn check_ca_bundle(settings: &NetSettings) -> Result<(), NetError> {
    let Some(path) = &settings.ca_bundle else {
        return Ok(());
    };
    match ca_certs(path) {
        Err(e) => tracing::warn!(path = %path.display(), "CA bundle unreadable, ignored: {e}"),
        Ok(certs) if certs.as_ref().is_ok_and(Vec::is_empty) => {
            tracing::warn!(path = %path.display(), "CA bundle holds no PEM certificate, ignored")
        }
        Ok(certs) => _ = certs?,
    }
    Ok(())
}

/// A client built at its first request: an idle daemon never runs the TLS, HTTP and trust-root
/// set-up code, which would stay resident (BENCHMARKS.md, W4).
pub struct LazyClient {
    client: OnceLock<reqwest::Client>,
    build: Box<dyn Fn() -> Result<reqwest::Client, NetError> + Send + Sync>,
}

impl LazyClient {
    fn new(build: impl Fn() -> Result<reqwest::Client, NetError> + Send + Sync + 'static) -> Self {
        let (client, build) = (OnceLock::new(), Box::new(build));
        Self { client, build }
    }

    /// The client, built now if this is the first request (two racing first requests may
    /// both build one; one is kept).
    pub fn get(&self) -> Result<&reqwest::Client, NetError> {
        if let Some(c) = self.client.get() {
            return Ok(c);
        }
        let built = (self.build)()?;
        Ok(self.client.get_or_init(|| built))
    }
}

/// The client of the exports (AWS and HTTP): the proxy configuration, the CA bundle, `timeout`
/// per request (and at most 10 s to connect).
pub fn http_client(settings: &NetSettings, timeout: Duration) -> LazyClient {
    let s = settings.clone();
    LazyClient::new(move || build_http_client(&s, timeout))
}

fn build_http_client(
    settings: &NetSettings,
    timeout: Duration,
) -> Result<reqwest::Client, NetError> {
    let mut b = builder(settings, timeout);
    for chosen in settings.proxy.proxies() {
        let config = settings.proxy.clone();
        let target = chosen.url.clone();
        let mut proxy = reqwest::Proxy::custom(move |url| {
            let c = config.select(url.scheme(), url.host_str()?, url.port())?;
            (c.url == target).then(|| target.without_credentials())
        });
        if let Some((user, password)) = chosen.url.credentials() {
            proxy = proxy.basic_auth(user, password);
        }
        b = b.proxy(proxy);
    }
    Ok(b.build()?)
}

/// A client that never uses a proxy and keeps no idle connection: for the container
/// credentials endpoint, which is local (Greengrass's token exchange service on
/// `localhost`), whose authorization token must not travel through a proxy, and which is
/// asked rarely (a connection kept from the last refresh would be stale after the nucleus
/// restarted).
pub fn direct_client(settings: &NetSettings, timeout: Duration) -> LazyClient {
    let s = settings.clone();
    LazyClient::new(move || Ok(builder(&s, timeout).pool_max_idle_per_host(0).build()?))
}

/// The error and its causes (reqwest's own `Display` stops at "error sending request").
pub fn error_chain(e: &reqwest::Error) -> String {
    let mut parts: Vec<String> = vec![e.to_string()];
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let t = s.to_string();
        if !parts.iter().any(|p| p.contains(&t)) {
            parts.push(t);
        }
        source = s.source();
    }
    parts.join(": ")
}

/// [`error_chain`], worded by `sm-proxy` (the proxy in the way named, its credentials never).
pub fn error_text(settings: &NetSettings, e: &reqwest::Error) -> String {
    let url = e.url();
    let target = url.and_then(|u| Some((u.scheme(), u.host_str()?, u.port())));
    settings.proxy.failure_text(&error_chain(e), target)
}

/// The text of an answer with status 407 to a forwarded (`http://`) request, if it is one.
pub fn proxy_status_text(settings: &NetSettings, url: &str, status: u16) -> Option<String> {
    if status != 407 {
        return None;
    }
    let u = reqwest::Url::parse(url).ok()?;
    Some(
        settings
            .proxy
            .status_407_text(url, u.scheme(), u.host_str()?, u.port()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(https_proxy: &str) -> NetSettings {
        let proxy = ProxyConfig::from_sources(None, None, |k| {
            (k == "HTTPS_PROXY" || k == "HTTP_PROXY").then(|| https_proxy.to_owned())
        })
        .unwrap();
        NetSettings {
            proxy: Arc::new(proxy),
            ca_bundle: None,
        }
    }

    /// What the client sends to a proxy: the head of its first request.
    async fn head_seen_by_proxy(proxy_url_of: impl Fn(u16) -> String, target: &str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let s = settings(&proxy_url_of(port));
        let client = http_client(&s, Duration::from_secs(5))
            .get()
            .unwrap()
            .clone();
        let target = target.to_owned();
        let send = tokio::spawn(async move { client.get(target).send().await.map(|r| r.status()) });
        let (mut conn, _) = listener.accept().await.unwrap();
        let mut head = Vec::new();
        let mut buf = [0u8; 4096];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = conn.read(&mut buf).await.unwrap();
            assert!(n > 0, "connection closed");
            head.extend_from_slice(&buf[..n]);
        }
        conn.write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\ncontent-length: 0\r\n\r\n")
            .await
            .unwrap();
        let _ = send.await;
        String::from_utf8_lossy(&head).into_owned()
    }

    #[tokio::test]
    async fn forwarded_and_tunnelled_requests_carry_the_basic_credentials() {
        // "u:p@ss" percent-encoded, as the nucleus writes it; Basic dTpwQHNz = "u:p@ss".
        let url = |port: u16| format!("http://u:p%40ss@127.0.0.1:{port}");
        let forwarded = head_seen_by_proxy(url, "http://sink.example:8080/p").await;
        assert!(
            forwarded.starts_with("GET http://sink.example:8080/p HTTP/1.1\r\n"),
            "{forwarded}"
        );
        assert!(
            forwarded.contains("\r\nProxy-Authorization: Basic dTpwQHNz\r\n"),
            "{forwarded}"
        );
        let tunnel = head_seen_by_proxy(url, "https://kinesis.us-east-1.amazonaws.com/").await;
        assert!(
            tunnel.starts_with("CONNECT kinesis.us-east-1.amazonaws.com:443 HTTP/1.1\r\n"),
            "{tunnel}"
        );
        assert!(
            tunnel
                .to_ascii_lowercase()
                .contains("proxy-authorization: basic dtpwqhnz\r\n"),
            "{tunnel}"
        );
    }

    impl LazyClient {
        fn is_built(&self) -> bool {
            self.client.get().is_some()
        }
    }

    #[tokio::test]
    async fn a_lazy_client_is_built_at_its_first_request_and_then_kept() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        drop(listener);
        let lazy = http_client(&NetSettings::default(), Duration::from_secs(1));
        assert!(!lazy.is_built());
        let first = lazy.get().unwrap() as *const reqwest::Client;
        assert!(lazy.is_built());
        // The kept client is the one every later request gets (its pool is reused).
        assert_eq!(lazy.get().unwrap() as *const reqwest::Client, first);
        let refused = lazy.get().unwrap().get(&url).send().await.unwrap_err();
        assert!(refused.is_connect(), "{refused}");
        let direct = direct_client(&settings("http://127.0.0.1:9"), Duration::from_secs(1));
        assert!(!direct.is_built());
        assert!(direct.get().is_ok() && direct.is_built());
    }

    #[test]
    fn clients_build_with_and_without_proxies() {
        let s = settings("https://u:p@proxy.example:8443");
        assert!(http_client(&s, Duration::from_secs(1)).get().is_ok());
        assert!(direct_client(&s, Duration::from_secs(1)).get().is_ok());
        assert!(http_client(&NetSettings::default(), Duration::from_secs(1))
            .get()
            .is_ok());
    }
}
