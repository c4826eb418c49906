//! AWS credentials, in the order the issue and Greengrass want: the container credentials
//! endpoint (Greengrass's token exchange service), then environment variables, then the shared
//! credentials and config files. Cached; refreshed five minutes before they expire. Secrets
//! never reach a log line (`Credentials`' Debug redacts them).

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use tokio::sync::Mutex;
use tracing::info;

use crate::clock;

/// Refresh this long before expiry.
const REFRESH_BEFORE_MS: i64 = 5 * 60 * 1000;
/// Static credentials (variables, files) are read again after this long.
const STATIC_TTL_MS: i64 = 5 * 60 * 1000;

/// Where credentials come from and the cached set.
pub struct CredentialsProvider {
    http: reqwest::Client,
    cached: Mutex<Option<Cached>>,
}

#[derive(Clone)]
struct Cached {
    creds: Credentials,
    /// When to resolve again (ms since the epoch).
    refresh_at: i64,
    source: &'static str,
}

fn env(k: &str) -> Option<String> {
    std::env::var(k).ok().filter(|v| !v.is_empty())
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Milliseconds since the epoch of an RFC 3339 time such as `2026-11-28T07:00:00Z` or
/// `2026-11-28T07:00:00.123+01:00`.
pub fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d, h, mi, se) = (
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    );
    let mut rest = &s[19..];
    let mut ms = 0;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits: String = frac.chars().take_while(char::is_ascii_digit).collect();
        ms = format!("{:0<3}", &digits[..digits.len().min(3)])
            .parse()
            .ok()?;
        rest = &frac[digits.len()..];
    }
    let offset_min = match rest {
        "Z" | "z" => 0,
        o if o.len() == 6 && (o.starts_with('+') || o.starts_with('-')) => {
            let sign = if o.starts_with('-') { -1 } else { 1 };
            sign * (o[1..3].parse::<i64>().ok()? * 60 + o[4..6].parse::<i64>().ok()?)
        }
        _ => return None,
    };
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se - offset_min * 60;
    Some(secs * 1000 + ms)
}

/// Parses one INI-style profile section of a credentials or config file.
fn ini_section(text: &str, names: &[&str]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') || l.starts_with(';') {
            continue;
        }
        if let Some(h) = l.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            inside = names.contains(&h.trim());
            continue;
        }
        if inside {
            if let Some((k, v)) = l.split_once('=') {
                out.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
            }
        }
    }
    out
}

fn home() -> Option<PathBuf> {
    env("HOME").map(PathBuf::from)
}

fn profile() -> String {
    env("AWS_PROFILE").unwrap_or_else(|| "default".into())
}

/// The `region` of the config file's profile, if set.
pub fn region_from_config() -> Option<String> {
    let path = env("AWS_CONFIG_FILE")
        .map(PathBuf::from)
        .or_else(|| home().map(|h| h.join(".aws/config")))?;
    let text = std::fs::read_to_string(path).ok()?;
    let p = profile();
    let names = [p.as_str(), &format!("profile {p}")];
    ini_section(&text, &names)
        .into_iter()
        .find(|(k, _)| k == "region")
        .map(|(_, v)| v)
}

fn from_files() -> Option<Credentials> {
    let p = profile();
    let creds_path = env("AWS_SHARED_CREDENTIALS_FILE")
        .map(PathBuf::from)
        .or_else(|| home().map(|h| h.join(".aws/credentials")));
    let config_path = env("AWS_CONFIG_FILE")
        .map(PathBuf::from)
        .or_else(|| home().map(|h| h.join(".aws/config")));
    let profile_header = format!("profile {p}");
    for (path, names) in [
        (creds_path, vec![p.as_str()]),
        (config_path, vec![p.as_str(), profile_header.as_str()]),
    ] {
        let Some(text) = path.and_then(|p| std::fs::read_to_string(p).ok()) else {
            continue;
        };
        let kv = ini_section(&text, &names);
        let get = |k: &str| kv.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        if let (Some(id), Some(secret)) = (get("aws_access_key_id"), get("aws_secret_access_key")) {
            return Some(Credentials::new(
                id,
                secret,
                get("aws_session_token"),
                None,
                "profile",
            ));
        }
    }
    None
}

impl CredentialsProvider {
    /// A provider that fetches container credentials with `http`.
    pub fn new(http: reqwest::Client) -> Self {
        Self {
            http,
            cached: Mutex::new(None),
        }
    }

    /// Forgets the cached credentials (after an expired-token answer).
    pub async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }

    /// Current credentials, resolving or refreshing them when needed.
    pub async fn get(&self) -> Result<Credentials, String> {
        let now = clock::now_ms();
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref() {
            if now < c.refresh_at {
                return Ok(c.creds.clone());
            }
        }
        let fresh = self.resolve(now).await?;
        if cached.as_ref().is_none_or(|c| c.source != fresh.source) {
            info!(
                source = fresh.source,
                "using AWS credentials from {}", fresh.source
            );
        }
        let creds = fresh.creds.clone();
        *cached = Some(fresh);
        Ok(creds)
    }

    async fn resolve(&self, now: i64) -> Result<Cached, String> {
        let full = env("AWS_CONTAINER_CREDENTIALS_FULL_URI");
        let relative = env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
            .map(|r| format!("http://169.254.170.2{r}"));
        if let Some(uri) = full.or(relative) {
            return self.container(&uri, now).await;
        }
        if let (Some(id), Some(secret)) = (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
            return Ok(Cached {
                creds: Credentials::new(id, secret, env("AWS_SESSION_TOKEN"), None, "environment"),
                refresh_at: now + STATIC_TTL_MS,
                source: "environment variables",
            });
        }
        if let Some(creds) = from_files() {
            return Ok(Cached {
                creds,
                refresh_at: now + STATIC_TTL_MS,
                source: "the shared credentials/config files",
            });
        }
        Err("no AWS credentials: set AWS_CONTAINER_CREDENTIALS_FULL_URI (Greengrass token exchange service), \
             AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile in ~/.aws/credentials"
            .into())
    }

    async fn container(&self, uri: &str, now: i64) -> Result<Cached, String> {
        let mut req = self.http.get(uri).timeout(Duration::from_secs(5));
        let token = env("AWS_CONTAINER_AUTHORIZATION_TOKEN").or_else(|| {
            env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
                .and_then(|f| std::fs::read_to_string(f).ok())
                .map(|t| t.trim().to_owned())
        });
        if let Some(t) = token {
            req = req.header("authorization", t);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| format!("container credentials endpoint {uri} failed: {e}"))?;
        let status = resp.status();
        let body = resp
            .bytes()
            .await
            .map_err(|e| format!("container credentials endpoint {uri} failed: {e}"))?;
        if !status.is_success() {
            return Err(format!(
                "container credentials endpoint {uri} answered HTTP {}: {}",
                status.as_u16(),
                String::from_utf8_lossy(&body)
                    .chars()
                    .take(200)
                    .collect::<String>()
            ));
        }
        let v: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| format!("container credentials endpoint {uri} sent invalid JSON: {e}"))?;
        let field = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
        let (Some(id), Some(secret)) = (field("AccessKeyId"), field("SecretAccessKey")) else {
            return Err(format!(
                "container credentials endpoint {uri} sent no AccessKeyId/SecretAccessKey"
            ));
        };
        let expires = field("Expiration").and_then(|e| parse_rfc3339_ms(&e));
        let expiry =
            expires.map(|ms| SystemTime::UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64));
        Ok(Cached {
            creds: Credentials::new(id, secret, field("Token"), expiry, "container"),
            refresh_at: expires.map_or(now + STATIC_TTL_MS, |e| {
                (e - REFRESH_BEFORE_MS).max(now + 1000)
            }),
            source: "the container credentials endpoint",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339() {
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339_ms("2015-08-30T12:36:00Z"),
            Some(1_440_938_160_000)
        );
        assert_eq!(
            parse_rfc3339_ms("2015-08-30T12:36:00.5Z"),
            Some(1_440_938_160_500)
        );
        assert_eq!(
            parse_rfc3339_ms("2015-08-30T14:36:00+02:00"),
            Some(1_440_938_160_000)
        );
        assert_eq!(
            parse_rfc3339_ms("2024-02-29T00:00:00Z"),
            Some(1_709_164_800_000)
        );
        assert_eq!(parse_rfc3339_ms("garbage"), None);
        assert_eq!(parse_rfc3339_ms("2015-08-30T12:36:00"), None);
    }

    #[test]
    fn ini_profiles() {
        let text = "[default]\naws_access_key_id = A\n[profile x]\nregion=eu-west-1\n# c\n[x]\nAWS_SECRET_ACCESS_KEY = S\n";
        assert_eq!(
            ini_section(text, &["default"]),
            vec![("aws_access_key_id".into(), "A".into())]
        );
        assert_eq!(
            ini_section(text, &["x", "profile x"]),
            vec![
                ("region".into(), "eu-west-1".into()),
                ("aws_secret_access_key".into(), "S".into())
            ]
        );
    }
}
