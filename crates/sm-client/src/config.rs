//! Where the server is and how long to wait for it.

use std::fmt;
use std::time::Duration;

use sm_model::ValidationError;

/// How a [`Client`](crate::Client) reaches the server. The defaults are the Python SDK's.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// Server host name or address (default `127.0.0.1`).
    pub host: String,
    /// Server port (default `8088`).
    pub port: u16,
    /// Token sent as `authToken` in Connect; `None` omits the key (default `None`;
    /// [`ClientConfig::from_env`] reads `AWS_CONTAINER_AUTHORIZATION_TOKEN`).
    pub auth_token: Option<String>,
    /// Longest wait for one request, from the call to its response, including a reconnect
    /// (default 60 s, as in the Python and Java SDKs). Also bounds the Connect handshake.
    pub request_timeout: Duration,
    /// Longest wait for the TCP connection to open (default 3 s, as in the Python SDK).
    pub connect_timeout: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 8088,
            auth_token: None,
            request_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(3),
        }
    }
}

impl ClientConfig {
    /// The defaults, for `host:port`.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        Self {
            host: host.into(),
            port,
            ..Self::default()
        }
    }

    /// The defaults overridden by the environment the Greengrass nucleus gives a component,
    /// as the SDKs read it: `STREAM_MANAGER_SERVER_HOST`, `STREAM_MANAGER_SERVER_PORT` and
    /// `AWS_CONTAINER_AUTHORIZATION_TOKEN`. Fails when the port variable is not a port number.
    pub fn from_env() -> Result<Self, ValidationError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Self, ValidationError> {
        let mut c = Self::default();
        if let Some(host) = var("STREAM_MANAGER_SERVER_HOST").filter(|h| !h.is_empty()) {
            c.host = host;
        }
        if let Some(port) = var("STREAM_MANAGER_SERVER_PORT") {
            c.port = port.trim().parse().map_err(|_| {
                ValidationError::new(format!(
                    "STREAM_MANAGER_SERVER_PORT must be a port number, got {port:?}"
                ))
            })?;
        }
        c.auth_token = var("AWS_CONTAINER_AUTHORIZATION_TOKEN");
        Ok(c)
    }
}

/// The token is never printed.
impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field(
                "auth_token",
                &self.auth_token.as_ref().map(|_| "<redacted>"),
            )
            .field("request_timeout", &self.request_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                vars.iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert_eq!(
            ClientConfig::from_lookup(env(&[])).unwrap(),
            ClientConfig::default()
        );
        let c = ClientConfig::from_lookup(env(&[
            ("STREAM_MANAGER_SERVER_HOST", "10.0.0.1"),
            ("STREAM_MANAGER_SERVER_PORT", "18088"),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "svcuid"),
        ]))
        .unwrap();
        assert_eq!((c.host.as_str(), c.port), ("10.0.0.1", 18088));
        assert_eq!(c.auth_token.as_deref(), Some("svcuid"));
        let e = ClientConfig::from_lookup(env(&[("STREAM_MANAGER_SERVER_PORT", "x")])).unwrap_err();
        assert!(e.message().contains("STREAM_MANAGER_SERVER_PORT"), "{e}");
    }

    #[test]
    fn debug_redacts_the_token() {
        let c = ClientConfig {
            auth_token: Some("s3cret".into()),
            ..ClientConfig::new("h", 1)
        };
        let s = format!("{c:?}");
        assert!(!s.contains("s3cret"), "{s}");
        assert!(s.contains("redacted"), "{s}");
    }
}
