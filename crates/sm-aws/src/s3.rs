//! Amazon S3 (REST-XML, signing name `s3`): the calls of an upload task.
//!
//! Addressing: virtual-hosted (`https://<bucket>.s3.<region>.amazonaws.com/<key>`) against
//! AWS, path-style (`<endpoint>/<bucket>/<key>`) when the endpoint is overridden (tests, VPC
//! endpoints, FIPS). Keys are percent-encoded once, `/` kept. Requests are signed with
//! [`crate::sign`] in S3 style (`x-amz-content-sha256`).

use crate::endpoint::{host_of, Endpoint};
use crate::error::{classify, parse_error, AwsError};

/// The URL of an object (plus a query string, if any).
pub fn object_url(endpoint: &Endpoint, bucket: &str, key: &str, query: &str) -> String {
    let key = encode_key(key);
    let q = if query.is_empty() {
        String::new()
    } else {
        format!("?{query}")
    };
    if endpoint.overridden {
        format!("{}/{bucket}/{key}{q}", endpoint.url)
    } else {
        let (scheme, host) = endpoint
            .url
            .split_once("://")
            .unwrap_or(("https", &endpoint.url));
        format!("{scheme}://{bucket}.{host}/{key}{q}")
    }
}

/// Percent-encodes a key for a URL path (RFC 3986 unreserved characters and `/` stay).
pub fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn encode_query_value(v: &str) -> String {
    encode_key(v).replace('/', "%2F")
}

fn request(method: &str, url: String, body: Vec<u8>) -> http::Request<Vec<u8>> {
    let host = host_of(&url).to_owned();
    http::Request::builder()
        .method(method)
        .uri(url)
        .header("host", host)
        .body(body)
        .unwrap_or_default()
}

fn with_metadata(
    mut req: http::Request<Vec<u8>>,
    metadata: &[(String, String)],
) -> http::Request<Vec<u8>> {
    for (k, v) in metadata {
        let name = format!("x-amz-meta-{}", k.to_ascii_lowercase());
        if let (Ok(n), Ok(v)) = (
            http::header::HeaderName::from_bytes(name.as_bytes()),
            http::header::HeaderValue::from_str(v),
        ) {
            req.headers_mut().insert(n, v);
        }
    }
    req
}

/// `PutObject` of the whole body.
pub fn put_object(
    endpoint: &Endpoint,
    bucket: &str,
    key: &str,
    body: Vec<u8>,
    metadata: &[(String, String)],
) -> http::Request<Vec<u8>> {
    with_metadata(
        request("PUT", object_url(endpoint, bucket, key, ""), body),
        metadata,
    )
}

/// `CreateMultipartUpload`.
pub fn create_multipart(
    endpoint: &Endpoint,
    bucket: &str,
    key: &str,
    metadata: &[(String, String)],
) -> http::Request<Vec<u8>> {
    with_metadata(
        request(
            "POST",
            object_url(endpoint, bucket, key, "uploads="),
            Vec::new(),
        ),
        metadata,
    )
}

/// `UploadPart`.
pub fn upload_part(
    endpoint: &Endpoint,
    bucket: &str,
    key: &str,
    upload_id: &str,
    number: u32,
    body: Vec<u8>,
) -> http::Request<Vec<u8>> {
    let q = format!(
        "partNumber={number}&uploadId={}",
        encode_query_value(upload_id)
    );
    request("PUT", object_url(endpoint, bucket, key, &q), body)
}

/// `CompleteMultipartUpload` with (part number, ETag) pairs in order.
pub fn complete_multipart(
    endpoint: &Endpoint,
    bucket: &str,
    key: &str,
    upload_id: &str,
    parts: &[(u32, String)],
) -> http::Request<Vec<u8>> {
    let mut body = String::from(
        r#"<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">"#,
    );
    for (n, etag) in parts {
        let etag = etag
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        body.push_str(&format!(
            "<Part><ETag>{etag}</ETag><PartNumber>{n}</PartNumber></Part>"
        ));
    }
    body.push_str("</CompleteMultipartUpload>");
    let q = format!("uploadId={}", encode_query_value(upload_id));
    let mut req = request(
        "POST",
        object_url(endpoint, bucket, key, &q),
        body.into_bytes(),
    );
    req.headers_mut().insert(
        "content-type",
        http::HeaderValue::from_static("application/xml"),
    );
    req
}

/// `AbortMultipartUpload`.
pub fn abort_multipart(
    endpoint: &Endpoint,
    bucket: &str,
    key: &str,
    upload_id: &str,
) -> http::Request<Vec<u8>> {
    let q = format!("uploadId={}", encode_query_value(upload_id));
    request("DELETE", object_url(endpoint, bucket, key, &q), Vec::new())
}

/// `ListParts`, from after part `marker`.
pub fn list_parts(
    endpoint: &Endpoint,
    bucket: &str,
    key: &str,
    upload_id: &str,
    marker: u32,
) -> http::Request<Vec<u8>> {
    let q = format!(
        "part-number-marker={marker}&uploadId={}",
        encode_query_value(upload_id)
    );
    request("GET", object_url(endpoint, bucket, key, &q), Vec::new())
}

fn tag<'a>(body: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let s = body.find(&open)? + open.len();
    let e = body[s..].find(&close)? + s;
    Some(&body[s..e])
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// The error of an S3 answer, if it is one (S3 may answer 200 with an `<Error>` body to
/// CompleteMultipartUpload), with whether a retry can help.
pub fn error_of(status: u16, body: &[u8]) -> Option<(AwsError, bool)> {
    let text = String::from_utf8_lossy(body);
    if (200..300).contains(&status) && !text.contains("<Error>") {
        return None;
    }
    let e = parse_error(if status < 300 { 500 } else { status }, None, body);
    let retry = classify(&e) || e.code == "HTTP500";
    Some((e, retry))
}

/// The `UploadId` of a CreateMultipartUpload answer.
pub fn parse_upload_id(body: &[u8]) -> Option<String> {
    tag(&String::from_utf8_lossy(body), "UploadId").map(unescape)
}

/// One page of a ListParts answer: (part number, ETag, size) and the next marker if truncated.
pub fn parse_list_parts(body: &[u8]) -> (Vec<(u32, String, u64)>, Option<u32>) {
    let text = String::from_utf8_lossy(body);
    let mut parts = Vec::new();
    let mut rest = text.as_ref();
    while let Some(start) = rest.find("<Part>") {
        let after = &rest[start + 6..];
        let end = after.find("</Part>").unwrap_or(after.len());
        let p = &after[..end];
        if let (Some(n), Some(etag), Some(size)) = (
            tag(p, "PartNumber").and_then(|n| n.trim().parse().ok()),
            tag(p, "ETag"),
            tag(p, "Size").and_then(|s| s.trim().parse().ok()),
        ) {
            parts.push((n, unescape(etag), size));
        }
        rest = &after[end..];
    }
    let truncated = tag(&text, "IsTruncated").is_some_and(|t| t.trim() == "true");
    let next = if truncated {
        tag(&text, "NextPartNumberMarker").and_then(|n| n.trim().parse().ok())
    } else {
        None
    };
    (parts, next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Endpoints, Service};

    #[test]
    fn addressing() {
        let aws = Endpoints::default().resolve(Service::S3, "eu-west-1");
        assert_eq!(
            object_url(&aws, "b", "a b/ü.txt", ""),
            "https://b.s3.eu-west-1.amazonaws.com/a%20b/%C3%BC.txt"
        );
        let local = Endpoints {
            all: Some("http://127.0.0.1:9000".into()),
            per_service: vec![],
            fips: false,
        }
        .resolve(Service::S3, "x");
        let req = upload_part(&local, "b", "k", "id/+=", 3, vec![1]);
        assert_eq!(
            req.uri(),
            "http://127.0.0.1:9000/b/k?partNumber=3&uploadId=id%2F%2B%3D"
        );
        assert_eq!(req.headers()["host"], "127.0.0.1:9000");
        let req = put_object(&local, "b", "k", vec![], &[("Color".into(), "blue".into())]);
        assert_eq!(req.headers()["x-amz-meta-color"], "blue");
        assert_eq!(
            create_multipart(&local, "b", "k", &[]).uri(),
            "http://127.0.0.1:9000/b/k?uploads="
        );
        let c = complete_multipart(
            &local,
            "b",
            "k",
            "u",
            &[(1, "\"e1\"".into()), (2, "\"e2\"".into())],
        );
        let body = String::from_utf8(c.body().clone()).unwrap();
        assert!(body.contains("<Part><ETag>\"e1\"</ETag><PartNumber>1</PartNumber></Part>"));
    }

    #[test]
    fn answers() {
        assert_eq!(
            parse_upload_id(b"<InitiateMultipartUploadResult><Bucket>b</Bucket><UploadId>abc&amp;1</UploadId></InitiateMultipartUploadResult>").as_deref(),
            Some("abc&1")
        );
        let (parts, next) = parse_list_parts(
            b"<ListPartsResult><IsTruncated>true</IsTruncated><NextPartNumberMarker>2</NextPartNumberMarker>\
              <Part><PartNumber>1</PartNumber><ETag>&quot;x&quot;</ETag><Size>5242880</Size></Part>\
              <Part><PartNumber>2</PartNumber><ETag>\"y\"</ETag><Size>10</Size></Part></ListPartsResult>",
        );
        assert_eq!(
            parts,
            vec![(1, "\"x\"".into(), 5_242_880), (2, "\"y\"".into(), 10)]
        );
        assert_eq!(next, Some(2));
        assert!(error_of(200, b"<CompleteMultipartUploadResult/>").is_none());
        let (e, retry) = error_of(
            200,
            b"<Error><Code>InternalError</Code><Message>m</Message></Error>",
        )
        .unwrap();
        assert!(retry && e.code == "InternalError");
        let (e, retry) = error_of(
            404,
            b"<Error><Code>NoSuchBucket</Code><Message>nope</Message></Error>",
        )
        .unwrap();
        assert!(!retry && e.code == "NoSuchBucket");
        assert!(error_of(503, b"").unwrap().1);
    }
}
