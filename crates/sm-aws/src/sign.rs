//! SigV4 signing of a built request, with aws-sigv4.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign as sigv4_sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest,
    SigningSettings, UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;

/// Why a request could not be signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignError(pub String);

impl std::fmt::Display for SignError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot sign the request: {}", self.0)
    }
}

impl std::error::Error for SignError {}

/// Signs `req` in place (adds `x-amz-date`, `authorization`, `x-amz-security-token` when the
/// credentials have a session token) for `service` in `region` at `time`. With `s3_style`, it
/// signs the way S3 wants: an `x-amz-content-sha256` header, the path encoded once and not
/// normalised.
pub fn sign(
    req: &mut http::Request<Vec<u8>>,
    creds: &Credentials,
    region: &str,
    service: &str,
    time: SystemTime,
    s3_style: bool,
) -> Result<(), SignError> {
    let identity = creds.clone().into();
    let mut settings = SigningSettings::default();
    if s3_style {
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    }
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(settings)
        .build()
        .map_err(|e| SignError(e.to_string()))?
        .into();
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let signable = SignableRequest::new(
        req.method().as_str(),
        req.uri().to_string(),
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(req.body()),
    )
    .map_err(|e| SignError(e.to_string()))?;
    let (instructions, _signature) = sigv4_sign(signable, &params)
        .map_err(|e| SignError(e.to_string()))?
        .into_parts();
    instructions.apply_to_request_http1x(req);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    // The AWS SigV4 test suite's example credentials and time (2015-08-30T12:36:00Z).
    fn creds(token: Option<&str>) -> Credentials {
        Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            token.map(str::to_owned),
            None,
            "test",
        )
    }
    const T: u64 = 1_440_938_160;

    fn authz(req: &http::Request<Vec<u8>>) -> &str {
        req.headers()["authorization"].to_str().unwrap()
    }

    #[test]
    fn suite_get_vanilla() {
        let mut req = http::Request::get("https://example.amazonaws.com/")
            .header("host", "example.amazonaws.com")
            .body(Vec::new())
            .unwrap();
        sign(
            &mut req,
            &creds(None),
            "us-east-1",
            "service",
            UNIX_EPOCH + Duration::from_secs(T),
            false,
        )
        .unwrap();
        assert_eq!(req.headers()["x-amz-date"], "20150830T123600Z");
        assert_eq!(
            authz(&req),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, \
             Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
    }

    #[test]
    fn suite_post_vanilla() {
        let mut req = http::Request::post("https://example.amazonaws.com/")
            .header("host", "example.amazonaws.com")
            .body(Vec::new())
            .unwrap();
        sign(
            &mut req,
            &creds(None),
            "us-east-1",
            "service",
            UNIX_EPOCH + Duration::from_secs(T),
            false,
        )
        .unwrap();
        assert!(authz(&req).ends_with(
            "Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"
        ));
    }

    #[test]
    fn suite_post_form_with_payload_hash_header() {
        let mut req = http::Request::post("https://example.amazonaws.com/")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("host", "example.amazonaws.com")
            .header("content-length", "13")
            .body(b"Param1=value1".to_vec())
            .unwrap();
        sign(
            &mut req,
            &creds(None),
            "us-east-1",
            "service",
            UNIX_EPOCH + Duration::from_secs(T),
            true,
        )
        .unwrap();
        assert_eq!(
            req.headers()["x-amz-content-sha256"],
            "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e"
        );
        assert_eq!(
            authz(&req),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=content-length;content-type;host;x-amz-content-sha256;x-amz-date, \
             Signature=d3875051da38690788ef43de4db0d8f280229d82040bfac253562e56c3f20e0b"
        );
    }

    #[test]
    fn session_token_is_sent_and_body_changes_signature() {
        let mk = |body: &[u8]| {
            let mut req = http::Request::post("https://kinesis.eu-west-1.amazonaws.com/")
                .header("host", "kinesis.eu-west-1.amazonaws.com")
                .body(body.to_vec())
                .unwrap();
            sign(
                &mut req,
                &creds(Some("TOKEN")),
                "eu-west-1",
                "kinesis",
                UNIX_EPOCH + Duration::from_secs(T),
                false,
            )
            .unwrap();
            req
        };
        let a = mk(b"{}");
        assert_eq!(a.headers()["x-amz-security-token"], "TOKEN");
        assert!(authz(&a).contains("/eu-west-1/kinesis/aws4_request"));
        assert_ne!(authz(&a), authz(&mk(b"{ }")));
    }
}
