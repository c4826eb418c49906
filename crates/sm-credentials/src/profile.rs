//! The shared credentials file (`~/.aws/credentials`, sections `[name]`) and config file
//! (`~/.aws/config`, sections `[default]` and `[profile name]`), read as the AWS CLI reads
//! them: `key = value` lines, `#` and `;` comments, keys case-insensitive.

use crate::{Keys, Secret};

/// Which file a text came from (the section names differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// The credentials file: `[name]`.
    Credentials,
    /// The config file: `[profile name]`, and `[name]` too (`[default]` is always that).
    Config,
}

/// The `key = value` pairs of profile `profile` (keys lower-cased, values trimmed), in file
/// order; later sections of the same name add to earlier ones.
pub fn section(text: &str, kind: FileKind, profile: &str) -> Vec<(String, String)> {
    let prefixed = format!("profile {profile}");
    let names: &[&str] = match kind {
        FileKind::Credentials => &[profile],
        FileKind::Config => &[profile, &prefixed],
    };
    let mut out = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') || l.starts_with(';') {
            continue;
        }
        if let Some(h) = l.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            let h = h.split_whitespace().collect::<Vec<_>>().join(" ");
            inside = names.contains(&h.as_str());
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

/// The last value of `key` in profile `profile`.
pub fn value(text: &str, kind: FileKind, profile: &str, key: &str) -> Option<String> {
    section(text, kind, profile)
        .into_iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

/// Static keys of profile `profile` (`aws_access_key_id`, `aws_secret_access_key`, optional
/// `aws_session_token`), if it has both of the first two.
pub fn keys(text: &str, kind: FileKind, profile: &str) -> Option<Keys> {
    let get = |k| value(text, kind, profile, k).filter(|v| !v.is_empty());
    Some(Keys {
        access_key_id: get("aws_access_key_id")?,
        secret_access_key: Secret::new(get("aws_secret_access_key")?),
        session_token: get("aws_session_token").map(Secret::new),
        expires_ms: None,
    })
}

/// A boolean setting as the AWS SDKs read it (`true`/`false`, any case); anything else is
/// `None` (unset).
pub fn boolean(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections() {
        let text = "[default]\naws_access_key_id = A\n[profile x]\nregion=eu-west-1\n# c\n; c\n[x]\nAWS_SECRET_ACCESS_KEY = S\n[ profile   y ]\nuse_fips_endpoint = TRUE\n";
        assert_eq!(
            section(text, FileKind::Credentials, "default"),
            vec![("aws_access_key_id".into(), "A".into())]
        );
        assert_eq!(
            section(text, FileKind::Config, "x"),
            vec![
                ("region".into(), "eu-west-1".into()),
                ("aws_secret_access_key".into(), "S".into())
            ]
        );
        // The credentials file has no "profile " prefix.
        assert_eq!(
            section(text, FileKind::Credentials, "x"),
            vec![("aws_secret_access_key".into(), "S".into())]
        );
        assert_eq!(
            value(text, FileKind::Config, "y", "use_fips_endpoint").and_then(|v| boolean(&v)),
            Some(true)
        );
        assert_eq!(value(text, FileKind::Config, "nope", "region"), None);
    }

    #[test]
    fn static_keys() {
        let text = "[default]\naws_access_key_id=AKIA1\naws_secret_access_key = s3cr3t\naws_session_token=tok\n[half]\naws_access_key_id=AKIA2\n";
        let k = keys(text, FileKind::Credentials, "default").unwrap();
        assert_eq!(k.access_key_id, "AKIA1");
        assert_eq!(k.secret_access_key.expose(), "s3cr3t");
        assert_eq!(k.session_token.unwrap().expose(), "tok");
        assert_eq!(keys(text, FileKind::Credentials, "half"), None);
        assert_eq!(boolean(" False "), Some(false));
        assert_eq!(boolean("yes"), None);
    }
}
