//! IoT SiteWise `BatchPutAssetPropertyValue` (REST-JSON, `POST /properties`, signing name
//! `iotsitewise`, host `data.iotsitewise.<region>.amazonaws.com`).
//!
//! * [`batches`] groups entries, in order, into requests of at most `batch_size` (≤ 10) entries
//!   such that no request holds two values for the same property and timestamp (SiteWise
//!   answers ConflictingOperationException to those). Order per property is kept because
//!   batches are cut, never reordered.
//! * Entry ids are rewritten to the message's sequence number, so they are unique within a
//!   request whatever the clients wrote; answers are mapped back by that id.
//! * [`outside_window`] tells when every value of an entry lies outside SiteWise's accepted
//!   window (7 days back, 10 minutes ahead of `now`).

use std::collections::HashSet;

use serde::Serialize;
use sm_model::sitewise::PutAssetPropertyValueEntry;

use crate::endpoint::{host_of, Endpoint};
use crate::error::{parse_error, AwsError, BuildError};
use crate::Parsed;

/// Entries per request.
pub const MAX_ENTRIES: usize = 10;
/// How far back SiteWise accepts values.
pub const MAX_AGE_MS: i64 = 7 * 24 * 3600 * 1000;
/// How far ahead SiteWise accepts values.
pub const MAX_AHEAD_MS: i64 = 10 * 60 * 1000;

/// Cuts `entries` (in order) into conflict-free requests of at most `batch_size` entries;
/// returns index ranges into `entries`.
pub fn batches(
    entries: &[&PutAssetPropertyValueEntry],
    batch_size: usize,
) -> Vec<std::ops::Range<usize>> {
    let size = batch_size.clamp(1, MAX_ENTRIES);
    let mut out = Vec::new();
    let mut start = 0;
    let mut seen: HashSet<(String, i128)> = HashSet::new();
    for (i, e) in entries.iter().enumerate() {
        let key = e.property_key();
        let keys: Vec<(String, i128)> = e
            .property_values
            .iter()
            .map(|v| (key.clone(), v.timestamp.as_nanos()))
            .collect();
        let conflict = keys.iter().any(|k| seen.contains(k));
        if i > start && (i - start == size || conflict) {
            out.push(start..i);
            start = i;
            seen.clear();
        }
        seen.extend(keys);
    }
    if start < entries.len() {
        out.push(start..entries.len());
    }
    out
}

/// When every value of `e` is outside SiteWise's window at `now_ms`, why.
pub fn outside_window(e: &PutAssetPropertyValueEntry, now_ms: i64) -> Option<String> {
    let lo = i128::from(now_ms - MAX_AGE_MS) * 1_000_000;
    let hi = i128::from(now_ms + MAX_AHEAD_MS) * 1_000_000;
    let all_out = e
        .property_values
        .iter()
        .all(|v| !(lo..=hi).contains(&v.timestamp.as_nanos()));
    all_out.then(|| {
        let t = e.property_values[0].timestamp;
        format!(
            "TimestampOutOfRange: timestamp {}.{:09} is outside SiteWise's window (7 days back to 10 minutes ahead of now, {}..{} s)",
            t.time_in_seconds,
            t.offset_in_nanos.unwrap_or(0),
            (now_ms - MAX_AGE_MS) / 1000,
            (now_ms + MAX_AHEAD_MS) / 1000
        )
    })
}

#[derive(Serialize)]
struct Request<'a> {
    entries: Vec<Entry<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Entry<'a> {
    entry_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    asset_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    property_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    property_alias: Option<&'a str>,
    property_values: &'a [sm_model::sitewise::AssetPropertyValue],
}

/// Builds the request for `entries` (request-unique id, entry).
pub fn put_values(
    endpoint: &Endpoint,
    entries: &[(String, &PutAssetPropertyValueEntry)],
) -> Result<http::Request<Vec<u8>>, BuildError> {
    let body = Request {
        entries: entries
            .iter()
            .map(|(id, e)| Entry {
                entry_id: id,
                asset_id: e.asset_id.as_deref(),
                property_id: e.property_id.as_deref(),
                property_alias: e.property_alias.as_deref(),
                property_values: &e.property_values,
            })
            .collect(),
    };
    let body = serde_json::to_vec(&body)?;
    Ok(http::Request::post(format!("{}/properties", endpoint.url))
        .header("host", host_of(&endpoint.url))
        .header("content-type", "application/json")
        .body(body)?)
}

/// Parses the answer to a request whose entries had these ids, in order: per entry, its
/// errors (empty when it was accepted; one per failed value, status 200).
pub fn parse_put_values(
    status: u16,
    error_type: Option<&str>,
    body: &[u8],
    ids: &[String],
) -> Parsed<Vec<Vec<AwsError>>> {
    if !(200..300).contains(&status) {
        return Err(parse_error(status, error_type, body));
    }
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or(serde_json::Value::Null);
    let entries = v
        .get("errorEntries")
        .and_then(|e| e.as_array())
        .map(Vec::as_slice)
        .unwrap_or_default();
    Ok(ids
        .iter()
        .map(|id| {
            let Some(entry) = entries
                .iter()
                .find(|e| e.get("entryId").and_then(|x| x.as_str()) == Some(id.as_str()))
            else {
                return Vec::new();
            };
            let errors = entry
                .get("errors")
                .and_then(|e| e.as_array())
                .map(Vec::as_slice)
                .unwrap_or_default();
            let mut out: Vec<AwsError> = errors
                .iter()
                .map(|e| AwsError {
                    status,
                    code: e
                        .get("errorCode")
                        .and_then(|c| c.as_str())
                        .unwrap_or("Unknown")
                        .to_owned(),
                    message: e
                        .get("errorMessage")
                        .and_then(|c| c.as_str())
                        .unwrap_or("")
                        .to_owned(),
                })
                .collect();
            if out.is_empty() {
                out.push(AwsError {
                    status,
                    code: "Unknown".into(),
                    message: "entry failed without an error code".into(),
                });
            }
            out
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Endpoints, Service};
    use proptest::prelude::*;
    use sm_model::sitewise::{AssetPropertyValue, TimeInNanos, Variant};

    fn entry(alias: &str, secs: &[i64]) -> PutAssetPropertyValueEntry {
        PutAssetPropertyValueEntry {
            entry_id: "same".into(),
            asset_id: None,
            property_id: None,
            property_alias: Some(alias.into()),
            property_values: secs
                .iter()
                .map(|&s| AssetPropertyValue {
                    value: Variant {
                        integer_value: Some(s),
                        ..Default::default()
                    },
                    timestamp: TimeInNanos {
                        time_in_seconds: s,
                        offset_in_nanos: None,
                    },
                    quality: None,
                })
                .collect(),
        }
    }

    #[test]
    fn conflicts_cut_batches() {
        let es = [
            entry("a", &[1]),
            entry("b", &[1]),
            entry("a", &[2]),
            entry("a", &[1, 3]),
            entry("b", &[2]),
        ];
        let refs: Vec<_> = es.iter().collect();
        assert_eq!(batches(&refs, 10), vec![0..3, 3..5]);
        assert_eq!(batches(&refs, 2), vec![0..2, 2..4, 4..5]);
        assert!(batches(&[], 10).is_empty());
    }

    #[test]
    fn request_and_answer() {
        let ep = Endpoints::default().resolve(Service::IotSiteWise, "eu-west-1");
        let a = entry("/p/t", &[1_700_000_000]);
        let req = put_values(&ep, &[("7".into(), &a)]).unwrap();
        assert_eq!(
            req.uri(),
            "https://data.iotsitewise.eu-west-1.amazonaws.com/properties"
        );
        let v: serde_json::Value = serde_json::from_slice(req.body()).unwrap();
        assert_eq!(v["entries"][0]["entryId"], "7");
        assert_eq!(v["entries"][0]["propertyAlias"], "/p/t");
        assert_eq!(
            v["entries"][0]["propertyValues"][0]["timestamp"]["timeInSeconds"],
            1_700_000_000
        );
        let ids: Vec<String> = ["1", "2", "3"].map(String::from).to_vec();
        let body = br#"{"errorEntries":[
            {"entryId":"2","errors":[{"errorCode":"ThrottlingException","errorMessage":"slow","timestamps":[]}]},
            {"entryId":"3","errors":[{"errorCode":"TimestampOutOfRangeException","errorMessage":"old"},{"errorCode":"ThrottlingException","errorMessage":"x"}]}]}"#;
        let r = parse_put_values(200, None, body, &ids).unwrap();
        assert!(r[0].is_empty());
        assert_eq!(r[1][0].code, "ThrottlingException");
        let codes: Vec<&str> = r[2].iter().map(|e| e.code.as_str()).collect();
        assert_eq!(
            codes,
            ["TimestampOutOfRangeException", "ThrottlingException"]
        );
        assert_eq!(
            parse_put_values(429, None, b"", &ids).unwrap_err().status,
            429
        );
        assert_eq!(
            parse_put_values(
                400,
                None,
                br#"{"__type":"InvalidRequestException","message":"bad"}"#,
                &ids
            )
            .unwrap_err()
            .code,
            "InvalidRequestException"
        );
    }

    #[test]
    fn window() {
        let now = 1_700_000_000_000;
        assert!(outside_window(&entry("a", &[1_700_000_000]), now).is_none());
        assert!(
            outside_window(&entry("a", &[1_700_000_000 - 8 * 86_400]), now)
                .unwrap()
                .contains("window")
        );
        assert!(outside_window(&entry("a", &[1_700_000_000 + 3600]), now).is_some());
        // One value inside is enough to send it (SiteWise reports the others per value).
        assert!(outside_window(&entry("a", &[1, 1_700_000_000]), now).is_none());
    }

    proptest! {
        /// No batch holds a duplicate property+timestamp, none exceeds the size, and the
        /// batches cover the entries in order (so order per property is kept).
        #[test]
        fn batcher_is_conflict_free_bounded_and_ordered(
            spec in prop::collection::vec((0u8..3, prop::collection::vec(0i64..6, 1..4)), 0..60),
            size in 1usize..12,
        ) {
            let es: Vec<_> = spec
                .iter()
                .map(|(p, ts)| {
                    let mut ts = ts.clone();
                    ts.sort_unstable();
                    ts.dedup();
                    entry(&format!("p{p}"), &ts)
                })
                .collect();
            let refs: Vec<_> = es.iter().collect();
            let bs = batches(&refs, size);
            let mut next = 0;
            for b in &bs {
                prop_assert_eq!(b.start, next);
                prop_assert!(!b.is_empty());
                prop_assert!(b.len() <= size.min(MAX_ENTRIES));
                let mut seen = HashSet::new();
                for e in &es[b.clone()] {
                    for v in &e.property_values {
                        prop_assert!(seen.insert((e.property_key(), v.timestamp.as_nanos())));
                    }
                }
                next = b.end;
            }
            prop_assert_eq!(next, es.len());
        }
    }
}
