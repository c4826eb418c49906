//! How a failure through a proxy is worded: the proxy named without its credentials, where its
//! configuration came from, and any credential masked from a text that might quote it.

use crate::ProxyConfig;

/// What reqwest (hyper-util) says when a proxy answers CONNECT with 407.
pub const TUNNEL_407: &str = "proxy authorization required";

impl ProxyConfig {
    /// The text of a 407 answer to a forwarded request for `url` (its `scheme`, `host` and
    /// `port`): the proxy wants other credentials.
    pub fn status_407_text(
        &self,
        url: &str,
        scheme: &str,
        host: &str,
        port: Option<u16>,
    ) -> String {
        match self.select(scheme, host, port) {
            Some(c) => format!(
                "the proxy {} refused the request: 407 Proxy Authentication Required (check the \
                 user and password in {})",
                c.url, c.source_name
            ),
            None => format!("407 Proxy Authentication Required from {url}"),
        }
    }

    /// A transport failure of a request to `scheme://host:port` (`chain`: the error and its
    /// causes), with the proxy that was in the way named; credentials masked.
    pub fn failure_text(&self, chain: &str, target: Option<(&str, &str, Option<u16>)>) -> String {
        let chain = if chain.contains(TUNNEL_407) {
            format!("407 Proxy Authentication Required: {chain}")
        } else {
            chain.to_owned()
        };
        let chosen = target.and_then(|(scheme, host, port)| self.select(scheme, host, port));
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
        self.redact(text)
    }

    /// Removes any proxy user or password (of 4 characters or more) from a text.
    pub fn redact(&self, mut text: String) -> String {
        for c in self.proxies() {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(proxy: &str) -> ProxyConfig {
        ProxyConfig::from_sources(None, None, |k| {
            (k == "HTTPS_PROXY" || k == "HTTP_PROXY").then(|| proxy.to_owned())
        })
        .unwrap()
    }

    #[test]
    fn answers_407_name_the_proxy_not_the_password() {
        let c = config("http://alice:hunter22@127.0.0.1:3128");
        let url = "http://sink.example:8080/p";
        let t = c.status_407_text(url, "http", "sink.example", Some(8080));
        assert!(t.contains("http://127.0.0.1:3128"), "{t}");
        assert!(t.contains("407 Proxy Authentication Required"), "{t}");
        assert!(t.contains("HTTP_PROXY"), "{t}");
        assert!(!t.contains("hunter22") && !t.contains("alice"), "{t}");
        assert_eq!(
            ProxyConfig::direct().status_407_text("http://x/", "http", "x", None),
            "407 Proxy Authentication Required from http://x/"
        );
        assert_eq!(
            c.redact("a hunter22 b alice".into()),
            "a *** b ***",
            "secrets of 4 characters or more are masked"
        );
    }

    #[test]
    fn failures_name_the_proxy_in_the_way() {
        let c = config("http://alice:hunter22@127.0.0.1:3128");
        let t = c.failure_text(
            "error: proxy authorization required",
            Some(("https", "k.example", None)),
        );
        assert!(t.starts_with("the proxy http://127.0.0.1:3128 refused the request: 407 Proxy Authentication Required"), "{t}");
        let t = c.failure_text(
            "connection reset hunter22",
            Some(("https", "k.example", None)),
        );
        assert_eq!(
            t,
            "through the proxy http://127.0.0.1:3128 (from HTTPS_PROXY): connection reset ***"
        );
        assert_eq!(
            ProxyConfig::direct().failure_text("refused", Some(("http", "x", None))),
            "refused"
        );
    }
}
