//! The S3 task's pure helpers: `file:` URLs, the saved upload state, ETag checks.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// What a resumed upload needs to know, saved as the export's upload state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ResumeState {
    pub seq: i64,
    pub upload_id: String,
    pub bucket: String,
    pub key: String,
    pub size: u64,
    pub mtime_ns: i64,
}

/// The local path of a `file:` URL.
pub fn file_path(url: &str) -> Result<PathBuf, String> {
    let rest = url.strip_prefix("file:").ok_or_else(|| {
        format!("inputUrl {url:?} is not a file: URL; only local files can be uploaded")
    })?;
    let path = if let Some(r) = rest.strip_prefix("//") {
        // file://host/path: only an empty host or localhost means this machine.
        let (host, p) = r.split_at(r.find('/').unwrap_or(r.len()));
        if !host.is_empty() && host != "localhost" {
            return Err(format!("inputUrl {url:?} names another host ({host})"));
        }
        p
    } else {
        rest
    };
    if !path.starts_with('/') {
        return Err(format!("inputUrl {url:?} must hold an absolute path"));
    }
    let mut decoded = Vec::with_capacity(path.len());
    let b = path.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(v) = hex {
                decoded.push(v);
                i += 3;
                continue;
            }
        }
        decoded.push(b[i]);
        i += 1;
    }
    use std::os::unix::ffi::OsStringExt;
    Ok(PathBuf::from(std::ffi::OsString::from_vec(decoded)))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The part's ETag, checked against the MD5 of what was sent when it is a plain MD5.
pub(crate) fn check_etag(etag: &str, md5: &str) -> Result<String, String> {
    let bare = etag.trim_matches('"');
    if bare.len() == 32
        && bare.bytes().all(|b| b.is_ascii_hexdigit())
        && !bare.eq_ignore_ascii_case(md5)
    {
        return Err(format!(
            "ETag {etag} does not match the MD5 {md5} of the bytes sent"
        ));
    }
    Ok(etag.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use md5::{Digest, Md5};

    #[test]
    fn file_urls() {
        assert_eq!(
            file_path("file:/tmp/a b").unwrap(),
            PathBuf::from("/tmp/a b")
        );
        assert_eq!(file_path("file:///tmp/x").unwrap(), PathBuf::from("/tmp/x"));
        assert_eq!(
            file_path("file://localhost/tmp/x").unwrap(),
            PathBuf::from("/tmp/x")
        );
        assert_eq!(
            file_path("file:/tmp/a%20b").unwrap(),
            PathBuf::from("/tmp/a b")
        );
        assert!(file_path("http://x/y").is_err());
        assert!(file_path("file://evil/etc/passwd").is_err());
        assert!(file_path("file:relative").is_err());
    }

    #[test]
    fn etags() {
        let md5 = hex(&Md5::digest(b"abc"));
        assert_eq!(md5, "900150983cd24fb0d6963f7d28e17f72");
        assert!(check_etag("\"900150983cd24fb0d6963f7d28e17f72\"", &md5).is_ok());
        assert!(check_etag("\"00000000000000000000000000000000\"", &md5).is_err());
        // Multipart and non-MD5 ETags are not checked.
        assert!(check_etag("\"abc-2\"", &md5).is_ok());
        assert!(check_etag("", &md5).is_ok());
    }
}
