//! Which proxy an outbound HTTP request of the daemon goes through, sans-IO.
//!
//! This crate owns the proxy decisions: parsing proxy URLs as Greengrass hands them over
//! (`http://user:password@host:port`, the credentials percent-decoded, [`ProxyUrl`]), the
//! precedence of the variables and flags ([`ProxyConfig::from_sources`]), `NO_PROXY` matching
//! ([`NoProxy`]), and the redacted form of all of it for logs and error messages (a
//! [`ProxyUrl`] never shows its user or password).
//!
//! # Precedence (curl's, which the AWS SDKs' proxy variables follow)
//!
//! * `--proxy-url` / `STREAM_MANAGER_PROXY_URL`, when set, is the proxy of every request and
//!   the proxy variables below are not read;
//! * otherwise an `https://` target uses `https_proxy`, else `HTTPS_PROXY`, else `all_proxy`,
//!   else `ALL_PROXY`; an `http://` target uses `http_proxy`, else `HTTP_PROXY`, else the same
//!   two `ALL_PROXY` variables. Lower case before upper case, the target's own scheme before
//!   `ALL_PROXY`, as curl documents. Unlike curl, upper-case `HTTP_PROXY` is honoured (curl
//!   ignores it only to protect CGI programs; Greengrass's nucleus sets both cases to the same
//!   value);
//! * `--no-proxy` / `STREAM_MANAGER_NO_PROXY`, when set, replaces `no_proxy`, else `NO_PROXY`
//!   (see [`NoProxy`] for the matching rules).
//!
//! An empty variable counts as unset. A proxy URL that cannot be used (a SOCKS scheme, a bad
//! port, a malformed escape) is an error naming the variable, never the secret in it.
//!
//! # Drive loop
//!
//! At start-up the runtime calls [`ProxyConfig::from_sources`] with the flags and a lookup
//! function over the environment (nothing here reads it). For every request its HTTP client
//! asks [`ProxyConfig::select`] with the target's scheme, host and port and connects directly
//! or through the returned [`ProxyUrl`]: a CONNECT tunnel for `https://` targets, plain
//! forwarding for `http://` ones, with Basic `Proxy-Authorization` from
//! [`ProxyUrl::credentials`].

mod no_proxy;
mod url;

pub use no_proxy::NoProxy;
pub use url::{ProxyScheme, ProxyUrl, UrlError};

/// The variables read for `http://` targets, in order of precedence.
pub const HTTP_VARS: [&str; 4] = ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"];
/// The variables read for `https://` targets, in order of precedence.
pub const HTTPS_VARS: [&str; 4] = ["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"];
/// The `NO_PROXY` variables, in order of precedence.
pub const NO_PROXY_VARS: [&str; 2] = ["no_proxy", "NO_PROXY"];

/// A proxy URL that cannot be used, and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name} is not a usable proxy URL: {error}")]
pub struct ProxyError {
    /// The variable or flag that holds it.
    pub source_name: String,
    /// What is wrong with it.
    pub error: UrlError,
}

/// A chosen proxy and the setting it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chosen {
    /// The proxy.
    pub url: ProxyUrl,
    /// The variable or flag that named it (for messages: "check the password in …").
    pub source_name: String,
}

/// The proxy configuration of the daemon's outbound requests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyConfig {
    http: Option<Chosen>,
    https: Option<Chosen>,
    no_proxy: NoProxy,
    no_proxy_source: Option<String>,
}

impl ProxyConfig {
    /// No proxy at all.
    pub fn direct() -> Self {
        Self::default()
    }

    /// The configuration from the flags (`explicit_url`: `--proxy-url`, `explicit_no_proxy`:
    /// `--no-proxy`; the name is how to call them in messages) and the environment (`env`
    /// looks a variable up). See the crate docs for the precedence.
    pub fn from_sources(
        explicit_url: Option<(&str, &str)>,
        explicit_no_proxy: Option<(&str, &str)>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ProxyError> {
        let set = |v: Option<String>| v.filter(|v| !v.trim().is_empty());
        let parse = |name: &str, text: &str| {
            ProxyUrl::parse(text)
                .map(|url| Chosen {
                    url,
                    source_name: name.to_owned(),
                })
                .map_err(|error| ProxyError {
                    source_name: name.to_owned(),
                    error,
                })
        };
        let first = |vars: &[&str]| -> Result<Option<Chosen>, ProxyError> {
            for v in vars {
                if let Some(text) = set(env(v)) {
                    return parse(v, &text).map(Some);
                }
            }
            Ok(None)
        };
        let (http, https) = match explicit_url.filter(|(_, t)| !t.trim().is_empty()) {
            Some((name, text)) => {
                let chosen = parse(name, text)?;
                (Some(chosen.clone()), Some(chosen))
            }
            None => (first(&HTTP_VARS)?, first(&HTTPS_VARS)?),
        };
        let (no_proxy, no_proxy_source) = match explicit_no_proxy
            .filter(|(_, t)| !t.trim().is_empty())
            .map(|(n, t)| (n.to_owned(), t.to_owned()))
            .or_else(|| {
                NO_PROXY_VARS
                    .iter()
                    .find_map(|v| set(env(v)).map(|t| ((*v).to_owned(), t)))
            }) {
            Some((name, text)) => (NoProxy::parse(&text), Some(name)),
            None => (NoProxy::default(), None),
        };
        Ok(Self {
            http,
            https,
            no_proxy,
            no_proxy_source,
        })
    }

    /// The proxy of a request to `scheme://host[:port]` (`port` `None`: the scheme's default),
    /// or `None` to connect directly (no proxy for that scheme, the host is on the `NO_PROXY`
    /// list, or a scheme other than `http`/`https`).
    pub fn select(&self, scheme: &str, host: &str, port: Option<u16>) -> Option<&Chosen> {
        let (chosen, default_port) = match scheme.to_ascii_lowercase().as_str() {
            "http" => (self.http.as_ref()?, 80),
            "https" => (self.https.as_ref()?, 443),
            _ => return None,
        };
        if self.no_proxy.matches(host, port.unwrap_or(default_port)) {
            return None;
        }
        Some(chosen)
    }

    /// The proxies in use (one or two), each once.
    pub fn proxies(&self) -> Vec<&Chosen> {
        let mut out: Vec<&Chosen> = self.http.iter().collect();
        if let Some(h) = &self.https {
            if !out.iter().any(|c| c.url == h.url) {
                out.push(h);
            }
        }
        out
    }

    /// Whether any request may go through a proxy.
    pub fn is_direct(&self) -> bool {
        self.http.is_none() && self.https.is_none()
    }

    /// The `NO_PROXY` entries that match nothing, with the setting they came from.
    pub fn ignored_no_proxy(&self) -> Option<(&str, &[String])> {
        let ignored = self.no_proxy.ignored();
        match &self.no_proxy_source {
            Some(src) if !ignored.is_empty() => Some((src, ignored)),
            _ => None,
        }
    }

    /// One line for the start-up log, credentials redacted, e.g. `https: http://p:3128 (from
    /// HTTPS_PROXY, with credentials); http: direct; no proxy for: localhost,10.0.0.0/8 (from
    /// NO_PROXY)`.
    pub fn describe(&self) -> String {
        let one = |c: &Option<Chosen>| match c {
            None => "direct".to_owned(),
            Some(c) => format!(
                "{} (from {}{})",
                c.url,
                c.source_name,
                if c.url.credentials().is_some() {
                    ", with credentials"
                } else {
                    ""
                }
            ),
        };
        let mut s = format!("https: {}; http: {}", one(&self.https), one(&self.http));
        if let Some(src) = &self.no_proxy_source {
            s.push_str(&format!(
                "; no proxy for: {} (from {src})",
                self.no_proxy.describe()
            ));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| m.get(k).cloned()
    }

    fn proxy_of(c: &ProxyConfig, url: &str) -> Option<String> {
        let (scheme, rest) = url.split_once("://").unwrap();
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) => (h, Some(p.parse().unwrap())),
            None => (rest, None),
        };
        c.select(scheme, host, port)
            .map(|ch| format!("{} {}", ch.url, ch.source_name))
    }

    #[test]
    fn greengrass_environment() {
        // What the nucleus sets: every name, both cases, the same value; NO_PROXY starts
        // with localhost.
        let url = "http://user:p%40ss@proxy.corp:3128";
        let c = ProxyConfig::from_sources(
            None,
            None,
            env(&[
                ("HTTP_PROXY", url),
                ("http_proxy", url),
                ("HTTPS_PROXY", url),
                ("https_proxy", url),
                ("ALL_PROXY", url),
                ("all_proxy", url),
                ("NO_PROXY", "localhost,.internal"),
                ("no_proxy", "localhost,.internal"),
            ]),
        )
        .unwrap();
        let k = c
            .select("https", "kinesis.us-east-1.amazonaws.com", None)
            .unwrap();
        assert_eq!(k.url.credentials(), Some(("user", "p@ss")));
        assert_eq!(k.source_name, "https_proxy");
        assert_eq!(
            proxy_of(&c, "http://sink.example:8080").as_deref(),
            Some("http://proxy.corp:3128 http_proxy")
        );
        assert_eq!(proxy_of(&c, "http://localhost:8090"), None);
        assert_eq!(proxy_of(&c, "https://db.internal"), None);
        assert_eq!(c.proxies().len(), 1);
        let d = c.describe();
        assert!(!d.contains("p@ss") && !d.contains("user"), "{d}");
        assert!(d.contains("with credentials") && d.contains("no proxy for: localhost,internal"));
    }

    #[test]
    fn precedence() {
        let c = ProxyConfig::from_sources(
            None,
            None,
            env(&[
                ("HTTPS_PROXY", "http://upper-s:1"),
                ("https_proxy", "http://lower-s:1"),
                ("HTTP_PROXY", "http://upper-h:1"),
                ("ALL_PROXY", "http://all:1"),
            ]),
        )
        .unwrap();
        assert_eq!(
            proxy_of(&c, "https://a").as_deref(),
            Some("http://lower-s:1 https_proxy")
        );
        assert_eq!(
            proxy_of(&c, "http://a").as_deref(),
            Some("http://upper-h:1 HTTP_PROXY")
        );
        // ALL_PROXY only when the scheme's own variables are unset (or empty).
        let c = ProxyConfig::from_sources(
            None,
            None,
            env(&[
                ("https_proxy", ""),
                ("ALL_PROXY", "http://all:1"),
                ("all_proxy", "http://lower-all:1"),
            ]),
        )
        .unwrap();
        assert_eq!(
            proxy_of(&c, "https://a").as_deref(),
            Some("http://lower-all:1 all_proxy")
        );
        assert_eq!(
            proxy_of(&c, "http://a").as_deref(),
            Some("http://lower-all:1 all_proxy")
        );
        // Only HTTP_PROXY: https targets go direct (as curl and the AWS CLI).
        let c = ProxyConfig::from_sources(None, None, env(&[("HTTP_PROXY", "p:1")])).unwrap();
        assert_eq!(proxy_of(&c, "https://a"), None);
        assert!(proxy_of(&c, "http://a").is_some());
        // Other schemes never use a proxy.
        assert!(c.select("ftp", "a", None).is_none());
        // Nothing set.
        let c = ProxyConfig::from_sources(None, None, env(&[])).unwrap();
        assert!(c.is_direct() && c.proxies().is_empty());
        assert_eq!(c, ProxyConfig::direct());
    }

    #[test]
    fn flags_beat_the_environment() {
        let e = env(&[
            ("HTTPS_PROXY", "http://env:1"),
            ("NO_PROXY", "a.com"),
            ("no_proxy", "b.com"),
        ]);
        let c = ProxyConfig::from_sources(
            Some(("--proxy-url", "https://flag:2")),
            Some(("--no-proxy", "c.com:443")),
            &e,
        )
        .unwrap();
        assert_eq!(
            proxy_of(&c, "https://a.com").as_deref(),
            Some("https://flag:2 --proxy-url")
        );
        assert_eq!(
            proxy_of(&c, "http://x").as_deref(),
            Some("https://flag:2 --proxy-url")
        );
        assert_eq!(proxy_of(&c, "https://c.com"), None);
        assert!(proxy_of(&c, "http://c.com").is_some(), "port 80 is not 443");
        // Only --no-proxy: the environment's proxy, the flag's exclusions.
        let c = ProxyConfig::from_sources(None, Some(("--no-proxy", "*")), &e).unwrap();
        assert_eq!(proxy_of(&c, "https://x"), None);
        // Empty flags count as unset; lower-case no_proxy before NO_PROXY.
        let c = ProxyConfig::from_sources(Some(("--proxy-url", " ")), Some(("--no-proxy", "")), &e)
            .unwrap();
        assert_eq!(
            proxy_of(&c, "https://a.com").as_deref(),
            Some("http://env:1 HTTPS_PROXY")
        );
        assert_eq!(proxy_of(&c, "https://b.com"), None);
    }

    #[test]
    fn errors_name_the_variable_not_the_secret() {
        let e = ProxyConfig::from_sources(
            None,
            None,
            env(&[("HTTPS_PROXY", "socks5://u:secret@p:1080")]),
        )
        .unwrap_err();
        assert_eq!(e.source_name, "HTTPS_PROXY");
        assert!(!e.to_string().contains("secret"), "{e}");
        assert!(e.to_string().contains("socks5"), "{e}");
        let e = ProxyConfig::from_sources(
            Some(("STREAM_MANAGER_PROXY_URL", "http://u:s%zz@p")),
            None,
            env(&[]),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "STREAM_MANAGER_PROXY_URL is not a usable proxy URL: the password has a malformed percent-escape"
        );
        let c = ProxyConfig::from_sources(
            None,
            None,
            env(&[("HTTPS_PROXY", "http://p:1"), ("NO_PROXY", "ok.com,bad:0")]),
        )
        .unwrap();
        assert_eq!(
            c.ignored_no_proxy(),
            Some(("NO_PROXY", &["bad:0".to_owned()][..]))
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        /// Whatever the variables hold, parsing and selecting never panic, and no selected
        /// proxy shows its credentials in its Display or Debug, nor the configuration's log
        /// line.
        #[test]
        fn arbitrary_values_never_panic(
            proxy in "(https?://)?([a-z%@:]{0,8}@)?\\[?[0-9a-z.:]{0,12}\\]?(:[0-9]{0,6})?/?",
            no_proxy in "[ ,*./:\\[\\]0-9a-z-]{0,40}",
            host in "\\[?[0-9a-z.:]{0,16}\\]?",
            port in proptest::option::of(0u16..),
            anything in ".{0,40}",
        ) {
            let _ = ProxyUrl::parse(&anything);
            let _ = NoProxy::parse(&anything).matches(&anything, 1);
            let vars = [("HTTPS_PROXY", proxy.clone()), ("NO_PROXY", no_proxy)];
            let env = |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone());
            if let Ok(c) = ProxyConfig::from_sources(None, None, env) {
                if let Some(ch) = c.select("https", &host, port) {
                    // Never the "user:password@" part (a host cannot hold an '@').
                    let shown = format!("{} {:?} {}", ch.url, ch.url, c.describe());
                    proptest::prop_assert!(!shown.contains('@'), "{}", shown);
                }
                let _ = c.describe();
            }
        }
    }
}
