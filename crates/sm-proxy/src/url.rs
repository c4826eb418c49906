//! Proxy URLs: `scheme://[user[:password]@]host[:port][/]`, as Greengrass's nucleus writes
//! them into `HTTP_PROXY` (its URI builder percent-encodes the user and password).

use std::fmt;
// `core::net`: address types only (no sockets).
use core::net::Ipv6Addr;

/// How the daemon talks to the proxy itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProxyScheme {
    /// Plain TCP to the proxy.
    Http,
    /// TLS to the proxy (trusted through the system roots and `--ca-bundle`).
    Https,
}

impl ProxyScheme {
    /// `http` or `https`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
        }
    }

    /// The port when the URL names none: 80 and 443, as Greengrass's nucleus assumes.
    pub fn default_port(self) -> u16 {
        match self {
            Self::Http => 80,
            Self::Https => 443,
        }
    }
}

/// Why a proxy URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlError {
    /// The value is empty (after trimming).
    #[error("it is empty")]
    Empty,
    /// A scheme other than `http` and `https` (SOCKS is not supported).
    #[error("the scheme {0:?} is not supported (use http:// or https://)")]
    UnsupportedScheme(String),
    /// No host between the scheme (or the credentials) and the port.
    #[error("it names no host")]
    MissingHost,
    /// A host with characters no host name has, or an unclosed `[`.
    #[error("the host {0:?} is not a valid host name or IP address")]
    BadHost(String),
    /// The port is not a number in 1..=65535.
    #[error("the port {0:?} is not a number from 1 to 65535")]
    BadPort(String),
    /// A `%` not followed by two hex digits in the user or password.
    #[error("the {0} has a malformed percent-escape")]
    BadEscape(&'static str),
    /// The user or password is not UTF-8 once percent-decoded.
    #[error("the {0} is not UTF-8 once percent-decoded")]
    NotUtf8(&'static str),
}

/// A parsed proxy URL. Its `Display` and `Debug` never show the user or the password.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyUrl {
    scheme: ProxyScheme,
    /// Lower-case host name, or an IP address (IPv6 without brackets).
    host: String,
    port: u16,
    credentials: Option<(String, String)>,
}

impl ProxyUrl {
    /// Parses a proxy URL. Without `scheme://` it is taken as `http://` (as curl does); a path,
    /// query or fragment after the authority is ignored; the user and password are
    /// percent-decoded; a user without a password gets an empty password.
    pub fn parse(text: &str) -> Result<Self, UrlError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(UrlError::Empty);
        }
        let (scheme, rest) = match text.split_once("://") {
            Some((s, rest)) => (
                match s.to_ascii_lowercase().as_str() {
                    "http" => ProxyScheme::Http,
                    "https" => ProxyScheme::Https,
                    _ => return Err(UrlError::UnsupportedScheme(s.to_owned())),
                },
                rest,
            ),
            None => (ProxyScheme::Http, text),
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let (userinfo, hostport) = match authority.rfind('@') {
            Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
            None => (None, authority),
        };
        let credentials = match userinfo {
            None => None,
            Some(info) => {
                let (user, password) = info.split_once(':').unwrap_or((info, ""));
                Some((
                    percent_decode(user, "user")?,
                    percent_decode(password, "password")?,
                ))
            }
        };
        let (host, port) = split_host_port(hostport)?;
        Ok(Self {
            scheme,
            host,
            port: port.unwrap_or(scheme.default_port()),
            credentials,
        })
    }

    /// How to talk to the proxy.
    pub fn scheme(&self) -> ProxyScheme {
        self.scheme
    }

    /// The proxy's host: a lower-case name or an IP address (IPv6 without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The proxy's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The user and password for Basic proxy authentication, percent-decoded.
    pub fn credentials(&self) -> Option<(&str, &str)> {
        self.credentials
            .as_ref()
            .map(|(u, p)| (u.as_str(), p.as_str()))
    }

    /// `scheme://host:port`, without the credentials: what an HTTP client connects to, and
    /// what logs and error messages show.
    pub fn without_credentials(&self) -> String {
        if self.host.contains(':') {
            format!("{}://[{}]:{}", self.scheme.as_str(), self.host, self.port)
        } else {
            format!("{}://{}:{}", self.scheme.as_str(), self.host, self.port)
        }
    }
}

impl fmt::Display for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.without_credentials())
    }
}

impl fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ProxyUrl({}{})",
            self.without_credentials(),
            if self.credentials.is_some() {
                ", credentials redacted"
            } else {
                ""
            }
        )
    }
}

/// Splits `host[:port]` or `[v6][:port]`; the host is lower-cased, brackets removed.
pub(crate) fn split_host_port(text: &str) -> Result<(String, Option<u16>), UrlError> {
    let (host, port) = if let Some(inner) = text.strip_prefix('[') {
        let (v6, after) = inner
            .split_once(']')
            .ok_or_else(|| UrlError::BadHost(text.to_owned()))?;
        if v6.parse::<Ipv6Addr>().is_err() {
            return Err(UrlError::BadHost(text.to_owned()));
        }
        let port = match after {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .ok_or_else(|| UrlError::BadHost(text.to_owned()))?,
            ),
        };
        (v6.to_owned(), port)
    } else {
        match text.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), Some(p)),
            None => (text.to_owned(), None),
        }
    };
    if host.is_empty() {
        return Err(UrlError::MissingHost);
    }
    let valid = host
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'));
    if !valid {
        return Err(UrlError::BadHost(host));
    }
    let port = match port {
        None => None,
        Some(p) => Some(parse_port(p).ok_or_else(|| UrlError::BadPort(p.to_owned()))?),
    };
    Ok((host.to_ascii_lowercase(), port))
}

/// A port in 1..=65535, digits only.
pub(crate) fn parse_port(p: &str) -> Option<u16> {
    if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    p.parse::<u16>().ok().filter(|&n| n != 0)
}

fn percent_decode(s: &str, what: &'static str) -> Result<String, UrlError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3).ok_or(UrlError::BadEscape(what))?;
            let hex = std::str::from_utf8(hex).map_err(|_| UrlError::BadEscape(what))?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| UrlError::BadEscape(what))?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| UrlError::NotUtf8(what))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greengrass_urls() {
        let p = ProxyUrl::parse("http://user:p%40ss%3Aw%2Frd@proxy.corp:3128").unwrap();
        assert_eq!(p.scheme(), ProxyScheme::Http);
        assert_eq!((p.host(), p.port()), ("proxy.corp", 3128));
        assert_eq!(p.credentials(), Some(("user", "p@ss:w/rd")));
        assert_eq!(p.to_string(), "http://proxy.corp:3128");
        assert!(!format!("{p:?}").contains("p@ss"), "{p:?}");
        assert!(format!("{p:?}").contains("credentials redacted"));

        let p = ProxyUrl::parse("HTTPS://Proxy.Corp/").unwrap();
        assert_eq!(
            (p.scheme(), p.host(), p.port(), p.credentials()),
            (ProxyScheme::Https, "proxy.corp", 443, None)
        );
        assert_eq!(ProxyUrl::parse("http://p").unwrap().port(), 80);
        // No scheme: http, as curl.
        let p = ProxyUrl::parse(" 10.0.0.1:8080 ").unwrap();
        assert_eq!(
            (p.scheme(), p.host(), p.port()),
            (ProxyScheme::Http, "10.0.0.1", 8080)
        );
        // A user without a password; an '@' in an unencoded password (the last '@' splits).
        assert_eq!(
            ProxyUrl::parse("http://me@p:1").unwrap().credentials(),
            Some(("me", ""))
        );
        assert_eq!(
            ProxyUrl::parse("http://me:a@b@p:1").unwrap().credentials(),
            Some(("me", "a@b"))
        );
        // IPv6.
        let p = ProxyUrl::parse("http://[::1]:3128").unwrap();
        assert_eq!((p.host(), p.port()), ("::1", 3128));
        assert_eq!(p.to_string(), "http://[::1]:3128");
        assert_eq!(ProxyUrl::parse("http://[fe80::1]").unwrap().port(), 80);
        // Non-ASCII user (UTF-8 once decoded).
        assert_eq!(
            ProxyUrl::parse("http://J%C3%BCrgen:x@p:1")
                .unwrap()
                .credentials(),
            Some(("Jürgen", "x"))
        );
    }

    #[test]
    fn refused_urls() {
        use UrlError::*;
        let err = |s: &str| ProxyUrl::parse(s).unwrap_err();
        assert_eq!(err(""), Empty);
        assert_eq!(err("   "), Empty);
        assert_eq!(err("socks5://p:1080"), UnsupportedScheme("socks5".into()));
        assert_eq!(err("http://:3128"), MissingHost);
        assert_eq!(err("http://user:pw@"), MissingHost);
        assert_eq!(err("http://p:0"), BadPort("0".into()));
        assert_eq!(err("http://p:65536"), BadPort("65536".into()));
        assert_eq!(err("http://p:x"), BadPort("x".into()));
        assert_eq!(err("http://p:"), BadPort("".into()));
        assert_eq!(err("http://[::1"), BadHost("[::1".into()));
        assert_eq!(err("http://[nope]:1"), BadHost("[nope]:1".into()));
        assert_eq!(err("http://pro xy:1"), BadHost("pro xy".into()));
        assert_eq!(err("http://u:%zz@p"), BadEscape("password"));
        assert_eq!(err("http://%4@p"), BadEscape("user"));
        assert_eq!(err("http://%ff:x@p"), NotUtf8("user"));
        // The messages name the part, never the secret.
        assert_eq!(
            err("http://u:s3cr%zz@p").to_string(),
            "the password has a malformed percent-escape"
        );
    }
}
