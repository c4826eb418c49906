//! Entry points for `cargo fuzz` (`fuzz/fuzz_targets/`), kept in the library so the fuzzer drives
//! the same functions the runtime calls. Not a stable API.

use sm_model::sitewise::{parse_entry, PutAssetPropertyValueEntry};

use crate::{AwsError, Parsed};

/// Byte that separates the parts of an input (never valid in UTF-8, so never inside JSON).
const SEP: u8 = 0xff;

/// Takes the first `N` bytes of `data` (missing bytes are zero) and returns them with the rest.
fn head<const N: usize>(data: &[u8]) -> ([u8; N], &[u8]) {
    let mut h = [0u8; N];
    let n = data.len().min(N);
    h[..n].copy_from_slice(&data[..n]);
    (h, &data[n..])
}

/// SiteWise entries as the exporter sees them. `data` is a batch size byte, a `u32` of seconds
/// (little-endian; the clock, so any instant from 1970 to 2106), then message payloads
/// separated by `0xff`. Each payload goes through [`parse_entry`]; the valid ones through
/// [`crate::sitewise::outside_window`] and [`crate::sitewise::batches`]. Panics only if one of
/// them panics or an invariant breaks:
///
/// * a valid entry has 1..=10 values, and its outside-window message is not empty;
/// * the batches cover every entry exactly once, in order, none empty, none above the batch
///   size (clamped to 1..=10);
/// * no batch holds two values of one property at one timestamp;
/// * a batch is cut early only because of such a conflict.
pub fn sitewise_entry(data: &[u8]) {
    let ([size], rest) = head::<1>(data);
    let (secs, rest) = head::<4>(rest);
    let now_ms = i64::from(u32::from_le_bytes(secs)) * 1000;
    let entries: Vec<PutAssetPropertyValueEntry> = rest
        .split(|&b| b == SEP)
        .filter_map(|payload| match parse_entry(payload) {
            Ok(e) => Some(e),
            Err(err) => {
                assert!(!err.to_string().is_empty());
                None
            }
        })
        .collect();
    for e in &entries {
        assert!((1..=10).contains(&e.property_values.len()));
        if let Some(why) = crate::sitewise::outside_window(e, now_ms) {
            assert!(!why.is_empty());
        }
    }
    let refs: Vec<&PutAssetPropertyValueEntry> = entries.iter().collect();
    let batch_size = usize::from(size);
    let cap = batch_size.clamp(1, crate::sitewise::MAX_ENTRIES);
    let batches = crate::sitewise::batches(&refs, batch_size);
    let mut next = 0;
    for b in &batches {
        assert_eq!(b.start, next, "batches cover all entries in order");
        assert!(!b.is_empty() && b.len() <= cap, "batch {b:?} of size {cap}");
        let mut seen = std::collections::HashSet::new();
        for e in &refs[b.clone()] {
            for v in &e.property_values {
                // A duplicate inside one entry cannot be split; validation refuses it.
                assert!(
                    seen.insert((e.property_key(), v.timestamp.as_nanos())),
                    "two values of {} at one timestamp in batch {b:?}",
                    e.property_key()
                );
            }
        }
        // Cut early only for a conflict with the next entry.
        if b.end < refs.len() && b.len() < cap {
            let e = refs[b.end];
            assert!(
                e.property_values
                    .iter()
                    .any(|v| seen.contains(&(e.property_key(), v.timestamp.as_nanos()))),
                "batch {b:?} cut early without a conflict"
            );
        }
        next = b.end;
    }
    assert_eq!(next, refs.len(), "batches cover all entries");
}

/// An S3 task message as the S3 exporter sees it. `data` is a `u32` of seconds (little-endian,
/// the clock), then the payload. The payload goes through [`sm_model::s3::parse_task`]; a valid
/// task's key through [`sm_keytemplate::validate_key`] and [`sm_keytemplate::render`], and a
/// rendered key through [`crate::s3::object_url`] (both addressing styles). Panics only if one
/// of them panics or an invariant breaks:
///
/// * a valid task has a non-empty `inputUrl`, a key of 1..=1024 characters;
/// * a key that passes validation and has no placeholder renders to itself;
/// * rendering is deterministic; error messages are not empty;
/// * the encoded key is ASCII, keeps every `/`, and decodes back to the rendered key.
pub fn s3_task(data: &[u8]) {
    let (secs, payload) = head::<4>(data);
    let now_ms = i64::from(u32::from_le_bytes(secs)) * 1000;
    let task = match sm_model::s3::parse_task(payload) {
        Ok(t) => t,
        Err(e) => {
            assert!(!e.to_string().is_empty());
            return;
        }
    };
    assert!(!task.input_url.is_empty());
    assert!((1..=1024).contains(&task.key.chars().count()));
    if let Err(e) = sm_keytemplate::validate_key(&task.key) {
        assert!(!e.to_string().is_empty());
        return;
    }
    let rendered = sm_keytemplate::render(&task.key, now_ms);
    assert_eq!(rendered, sm_keytemplate::render(&task.key, now_ms));
    let key = match rendered {
        Ok(k) => k,
        Err(e) => {
            assert!(!e.to_string().is_empty());
            return;
        }
    };
    if !task.key.contains("!{") {
        assert_eq!(key, task.key);
    }
    let encoded = crate::s3::encode_key(&key);
    assert!(encoded.is_ascii());
    assert_eq!(
        encoded.matches('/').count(),
        key.matches('/').count(),
        "slashes kept"
    );
    assert_eq!(percent_decode(&encoded), key.as_bytes());
    for overridden in [false, true] {
        let ep = crate::endpoint::Endpoint {
            url: "https://s3.us-east-1.amazonaws.com".into(),
            overridden,
        };
        let url = crate::s3::object_url(&ep, &task.bucket, &key, "");
        assert!(url.ends_with(&encoded));
        assert!(url.parse::<http::Uri>().is_ok(), "{url} is a valid URI");
    }
}

fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).expect("two ASCII bytes follow %");
            out.push(u8::from_str_radix(hex, 16).expect("two hex digits"));
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// The AWS response parsers on an arbitrary answer. `data` is a status (`u16`, little-endian),
/// a record count byte, then the error-type header and the body separated by the first `0xff`
/// (no separator: no header). Runs every parser the export engine calls: Kinesis `PutRecords`,
/// IoT Analytics `BatchPutMessage`, SiteWise `BatchPutAssetPropertyValue` (for `n` records
/// sent), the S3 error, UploadId and ListParts parsers, and [`crate::error::parse_error`].
/// Panics only if one of them panics or an invariant breaks:
///
/// * per-record results come only for a 2xx status, exactly one per record sent;
/// * every error (whole-call or per-record) has a non-empty code;
/// * a non-2xx status is a whole-call error carrying that status;
/// * S3: a 2xx answer without `<Error>` is no error; any other answer is one.
pub fn aws_responses(data: &[u8]) {
    let (status, rest) = head::<2>(data);
    let status = u16::from_le_bytes(status);
    let ([n], rest) = head::<1>(rest);
    let n = usize::from(n);
    let (header, body) = match rest.iter().position(|&b| b == SEP) {
        Some(i) => (
            Some(String::from_utf8_lossy(&rest[..i]).into_owned()),
            &rest[i + 1..],
        ),
        None => (None, rest),
    };
    let header = header.as_deref();
    let ids: Vec<String> = (0..n).map(|i| i.to_string()).collect();
    let ok = (200..300).contains(&status);
    fn check<T>(
        what: &str,
        ok: bool,
        status: u16,
        n: usize,
        parsed: Parsed<Vec<T>>,
        errors: fn(&T) -> Vec<AwsError>,
    ) {
        match parsed {
            Ok(records) => {
                assert!(ok, "{what}: records for status {status}");
                assert_eq!(records.len(), n, "{what}: one result per record sent");
                for r in &records {
                    for e in &errors(r) {
                        assert!(!e.code.is_empty(), "{what}: record error without code");
                    }
                }
            }
            Err(e) => {
                assert!(!e.code.is_empty(), "{what}: error without code");
                assert!(!ok || e.code == "MalformedResponse", "{what}: {e:?}");
                assert!(
                    ok || e.status == status,
                    "{what}: status {} for {status}",
                    e.status
                );
            }
        }
    }
    fn stored(r: &Result<Option<String>, AwsError>) -> Vec<AwsError> {
        r.as_ref().err().cloned().into_iter().collect()
    }
    fn one(e: &Option<AwsError>) -> Vec<AwsError> {
        e.iter().cloned().collect()
    }
    #[allow(clippy::ptr_arg)] // the parser's element type is `Vec<AwsError>`
    fn all(v: &Vec<AwsError>) -> Vec<AwsError> {
        v.clone()
    }
    check(
        "kinesis",
        ok,
        status,
        n,
        crate::kinesis::parse_put_records(status, header, body, n),
        stored,
    );
    check(
        "iotanalytics",
        ok,
        status,
        n,
        crate::iotanalytics::parse_batch_put_message(status, header, body, &ids),
        one,
    );
    check(
        "sitewise",
        ok,
        status,
        n,
        crate::sitewise::parse_put_values(status, header, body, &ids),
        all,
    );
    match crate::kinesis::parse_list_shards(status, header, body) {
        Ok((shards, _next)) => {
            assert!(ok, "ListShards: shards for status {status}");
            assert!(shards.len() <= body.len());
        }
        Err(e) => assert!(!e.code.is_empty() && (!ok || e.code == "MalformedResponse")),
    }
    let e = crate::error::parse_error(status, header, body);
    assert!(!e.code.is_empty());
    let s3 = crate::s3::error_of(status, body);
    let is_error = !ok || String::from_utf8_lossy(body).contains("<Error>");
    assert_eq!(s3.is_some(), is_error, "S3 error_of for status {status}");
    if let Some(e) = s3 {
        assert!(!e.code.is_empty());
    }
    let _ = crate::s3::parse_upload_id(body);
    let (parts, _next) = crate::s3::parse_list_parts(body);
    assert!(parts.len() <= body.len());
}
