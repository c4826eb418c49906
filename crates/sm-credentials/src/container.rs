//! The answer of a container credentials endpoint: `{"AccessKeyId", "SecretAccessKey",
//! "Token", "Expiration"}` (Greengrass's token exchange service, the ECS and EKS endpoints).

use crate::{CredentialsError, Keys, Secret};

/// The most of an error answer a message quotes.
const BODY_EXCERPT_CHARS: usize = 200;

/// The keys in an answer with `status` and `body` from the endpoint `uri`, or why there are
/// none. `Expiration` is optional (static keys); when present it must be an RFC 3339 time.
pub fn parse_answer(uri: &str, status: u16, body: &[u8]) -> Result<Keys, CredentialsError> {
    if !(200..300).contains(&status) {
        return Err(CredentialsError::Refused {
            uri: uri.to_owned(),
            status,
            body: String::from_utf8_lossy(body)
                .chars()
                .take(BODY_EXCERPT_CHARS)
                .collect(),
        });
    }
    let bad = |reason: String| CredentialsError::BadAnswer {
        uri: uri.to_owned(),
        reason,
    };
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| bad(format!("not JSON ({e})")))?;
    let field = |k: &str| v.get(k).and_then(|x| x.as_str()).filter(|s| !s.is_empty());
    let (Some(id), Some(secret)) = (field("AccessKeyId"), field("SecretAccessKey")) else {
        return Err(bad("no AccessKeyId and SecretAccessKey".into()));
    };
    let expires_ms = match v.get("Expiration") {
        None | Some(serde_json::Value::Null) => None,
        Some(e) => Some(
            e.as_str()
                .and_then(parse_rfc3339_ms)
                .ok_or_else(|| bad(format!("Expiration {e} is not an RFC 3339 time")))?,
        ),
    };
    Ok(Keys {
        access_key_id: id.to_owned(),
        secret_access_key: Secret::new(secret),
        session_token: field("Token").map(Secret::new),
        expires_ms,
    })
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
    if b.len() < 20
        || !s.is_ascii()
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse::<i64>().ok())?
    };
    let (y, mo, d, h, mi, se) = (
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut rest = &s[19..];
    let mut ms = 0;
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        ms = format!("{:0<3}", &frac[..n.min(3)]).parse().ok()?;
        rest = &frac[n..];
    }
    let offset_min = match rest {
        "Z" | "z" => 0,
        o if o.len() == 6 && (o.starts_with('+') || o.starts_with('-')) && &o[3..4] == ":" => {
            let sign = if o.starts_with('-') { -1 } else { 1 };
            sign * (num_of(&o[1..3])? * 60 + num_of(&o[4..6])?)
        }
        _ => return None,
    };
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se - offset_min * 60;
    Some(secs * 1000 + ms)
}

fn num_of(t: &str) -> Option<i64> {
    t.bytes()
        .all(|c| c.is_ascii_digit())
        .then(|| t.parse().ok())?
}

#[cfg(test)]
mod tests {
    use super::*;

    const URI: &str = "http://localhost:8090/2016-11-01/credentialprovider/";

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
            parse_rfc3339_ms("2015-08-30T12:36:00.123456Z"),
            Some(1_440_938_160_123)
        );
        assert_eq!(
            parse_rfc3339_ms("2015-08-30T14:36:00+02:00"),
            Some(1_440_938_160_000)
        );
        assert_eq!(
            parse_rfc3339_ms("2024-02-29T00:00:00Z"),
            Some(1_709_164_800_000)
        );
        for bad in [
            "garbage",
            "2015-08-30T12:36:00",
            "2015-08-30T12:36:00.Z",
            "2015-13-30T12:36:00Z",
            "2015-08-30T12:36:00+0200",
            "2015-08-30T1a:36:00Z",
            "2015-08-30T12:36:00+0a:00",
            "+015-08-30T12:36:00Z",
            "2015-08-30T12:36:00Zé",
        ] {
            assert_eq!(parse_rfc3339_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn greengrass_answer() {
        let body = br#"{"AccessKeyId":"ASIAX","SecretAccessKey":"s3cr3t","Token":"tok","Expiration":"2026-01-01T00:00:00Z"}"#;
        let k = parse_answer(URI, 200, body).unwrap();
        assert_eq!(k.access_key_id, "ASIAX");
        assert_eq!(k.secret_access_key.expose(), "s3cr3t");
        assert_eq!(k.session_token.as_ref().map(Secret::expose), Some("tok"));
        assert_eq!(k.expires_ms, parse_rfc3339_ms("2026-01-01T00:00:00Z"));
        let dbg = format!("{k:?}");
        assert!(!dbg.contains("s3cr3t") && !dbg.contains("tok\""), "{dbg}");
        // Static keys: no Expiration, no Token.
        let k = parse_answer(URI, 200, br#"{"AccessKeyId":"A","SecretAccessKey":"S"}"#).unwrap();
        assert_eq!((k.session_token, k.expires_ms), (None, None));
    }

    #[test]
    fn failures_are_typed() {
        let e = parse_answer(URI, 500, b"internal error").unwrap_err();
        assert_eq!(
            e,
            CredentialsError::Refused {
                uri: URI.into(),
                status: 500,
                body: "internal error".into()
            }
        );
        assert!(e.is_transient());
        let e = parse_answer(URI, 403, &[b'x'; 1000]).unwrap_err();
        assert!(!e.is_transient());
        assert!(e.to_string().contains("HTTP 403"), "{e}");
        assert_eq!(e.to_string().matches('x').count(), BODY_EXCERPT_CHARS);
        for (body, what) in [
            (&b"<html>garbage"[..], "not JSON"),
            (
                b"{\"AccessKeyId\":\"A\"}",
                "no AccessKeyId and SecretAccessKey",
            ),
            (b"[1,2]", "no AccessKeyId"),
            (
                b"{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\",\"Expiration\":\"soon\"}",
                "Expiration \"soon\" is not an RFC 3339 time",
            ),
            (
                b"{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\",\"Expiration\":5}",
                "Expiration 5 is not",
            ),
        ] {
            let e = parse_answer(URI, 200, body).unwrap_err();
            assert!(matches!(e, CredentialsError::BadAnswer { .. }), "{e:?}");
            assert!(e.is_transient());
            assert!(e.to_string().contains(what), "{e} lacks {what}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        /// Any answer, of any status, is keys or a typed error, never a panic; an error never
        /// quotes more than the excerpt of the body.
        #[test]
        fn arbitrary_answers_never_panic(
            status in 0u16..1000,
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
            time in ".{0,40}",
            digits in "[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{0,9})?(Z|[+-][0-9]{2}:[0-9]{2})",
        ) {
            let _ = parse_rfc3339_ms(&time);
            let _ = parse_rfc3339_ms(&digits);
            match parse_answer(URI, status, &body) {
                Ok(k) => proptest::prop_assert!(!k.access_key_id.is_empty()),
                Err(CredentialsError::Refused { body: b, .. }) => {
                    proptest::prop_assert!(b.chars().count() <= BODY_EXCERPT_CHARS)
                }
                Err(_) => {}
            }
        }
    }
}
