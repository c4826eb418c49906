//! Outbound HTTP: the one place that builds the daemon's HTTP clients (the AWS exporters' and
//! the HTTP export's through [`http_client`], the credentials endpoint's through
//! [`direct_client`]) and words their failures ([`error_text`]).
//!
//! The proxy decision is `sm-proxy`'s ([`sm_proxy::ProxyConfig::select`]); a client asks it
//! for every request (reqwest's `Proxy::custom`), once per proxy in use so that each carries
//! its own Basic credentials. reqwest then opens a CONNECT tunnel for `https://` targets and
//! forwards `http://` ones, with `Proxy-Authorization`. reqwest's own reading of the proxy
//! variables is off: the daemon's precedence and `NO_PROXY` rules are the only ones.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sm_proxy::ProxyConfig;

/// What reqwest (hyper-util) says when a proxy answers CONNECT with 407.
const TUNNEL_407: &str = "proxy authorization required";

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
}

fn builder(settings: &NetSettings, timeout: Duration) -> reqwest::ClientBuilder {
    // reqwest is built without a default crypto provider: use ring's (idempotent).
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Header names in title case (`Proxy-Authorization`, as curl and the JVM send them):
    // names are case-insensitive, but some proxies look the credentials up case-sensitively
    // (pproxy 2.7 answers 407 to `proxy-authorization` and passes it on to the destination).
    let b = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .http1_title_case_headers()
        .no_proxy();
    match &settings.ca_bundle {
        Some(path) => add_roots(b, path),
        None => b,
    }
}

fn add_roots(mut b: reqwest::ClientBuilder, path: &Path) -> reqwest::ClientBuilder {
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
        Err(e) => tracing::warn!(path = %path.display(), "CA bundle unreadable, ignored: {e}"),
    }
    b
}

/// The client of the exports (AWS and HTTP): the proxy configuration, the CA bundle, `timeout`
/// per request (and at most 10 s to connect).
pub fn http_client(settings: &NetSettings, timeout: Duration) -> Result<reqwest::Client, NetError> {
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
pub fn direct_client(
    settings: &NetSettings,
    timeout: Duration,
) -> Result<reqwest::Client, NetError> {
    Ok(builder(settings, timeout)
        .pool_max_idle_per_host(0)
        .build()?)
}

/// The error and its causes (reqwest's own `Display` stops at "error sending request"), with
/// a CONNECT answered 407 said in plain words.
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
    let chain = parts.join(": ");
    if chain.contains(TUNNEL_407) {
        format!("407 Proxy Authentication Required: {chain}")
    } else {
        chain
    }
}

/// [`error_chain`], with the proxy named (without its credentials) when one was in the way.
pub fn error_text(settings: &NetSettings, e: &reqwest::Error) -> String {
    let chain = error_chain(e);
    let chosen = e.url().and_then(|u| {
        settings
            .proxy
            .select(u.scheme(), u.host_str()?, u.port())
            .cloned()
    });
    let text = match chosen {
        Some(c) if chain.contains(TUNNEL_407) => format!(
            "the proxy {} refused the request: {chain} (check the user and password in {})",
            c.url, c.source_name
        ),
        Some(c) => format!(
            "through the proxy {} (from {}): {chain}",
            c.url, c.source_name
        ),
        None => chain,
    };
    redact(settings, text)
}

/// The text of an answer with status 407 to a forwarded (`http://`) request, if it is one: the
/// proxy wants other credentials.
pub fn proxy_status_text(settings: &NetSettings, url: &str, status: u16) -> Option<String> {
    if status != 407 {
        return None;
    }
    let chosen = reqwest::Url::parse(url).ok().and_then(|u| {
        settings
            .proxy
            .select(u.scheme(), u.host_str()?, u.port())
            .cloned()
    });
    Some(match chosen {
        Some(c) => format!(
            "the proxy {} refused the request: 407 Proxy Authentication Required (check the user \
             and password in {})",
            c.url, c.source_name
        ),
        None => format!("407 Proxy Authentication Required from {url}"),
    })
}

/// Removes any proxy password from a text (reqwest never puts one in an error; this makes sure).
fn redact(settings: &NetSettings, mut text: String) -> String {
    for c in settings.proxy.proxies() {
        if let Some((user, password)) = c.url.credentials() {
            for secret in [password, user] {
                if secret.len() >= 4 {
                    text = text.replace(secret, "***");
                }
            }
        }
    }
    text
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

    #[test]
    fn answers_407_name_the_proxy_not_the_password() {
        let s = settings("http://alice:hunter22@127.0.0.1:3128");
        let t = proxy_status_text(&s, "http://sink.example:8080/p", 407).unwrap();
        assert!(t.contains("http://127.0.0.1:3128"), "{t}");
        assert!(t.contains("407 Proxy Authentication Required"), "{t}");
        assert!(t.contains("HTTP_PROXY"), "{t}");
        assert!(!t.contains("hunter22") && !t.contains("alice"), "{t}");
        assert_eq!(
            proxy_status_text(&s, "http://sink.example:8080/p", 403),
            None
        );
        let direct = NetSettings::default();
        assert_eq!(
            proxy_status_text(&direct, "http://x/", 407).as_deref(),
            Some("407 Proxy Authentication Required from http://x/")
        );
        assert_eq!(
            redact(&s, "a hunter22 b alice".into()),
            "a *** b ***",
            "secrets of 4 characters or more are masked"
        );
    }

    /// What the client sends to a proxy: the head of its first request.
    async fn head_seen_by_proxy(proxy_url_of: impl Fn(u16) -> String, target: &str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let s = settings(&proxy_url_of(port));
        let client = http_client(&s, Duration::from_secs(5)).unwrap();
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

    #[test]
    fn clients_build_with_and_without_proxies() {
        let s = settings("https://u:p@proxy.example:8443");
        assert!(http_client(&s, Duration::from_secs(1)).is_ok());
        assert!(direct_client(&s, Duration::from_secs(1)).is_ok());
        assert!(http_client(&NetSettings::default(), Duration::from_secs(1)).is_ok());
    }
}
