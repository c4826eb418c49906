//! Kinesis Data Streams `PutRecords` (JSON 1.1, target `Kinesis_20131202.PutRecords`).

use base64::Engine;
use serde::Serialize;

use crate::endpoint::{host_of, Endpoint};
use crate::error::{parse_error, AwsError, BuildError};
use crate::Parsed;

/// Records per `PutRecords` call.
pub const MAX_RECORDS: usize = 500;

/// Size limits of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest record: data plus partition key.
    pub max_record_bytes: u64,
    /// Largest request: all data plus partition keys.
    pub max_request_bytes: u64,
}

/// The limits every stream has: 1 MiB per record, 5 MiB per request. (Streams configured for
/// records up to 10 MiB accept more; see the daemon's configuration.)
pub const DEFAULT_LIMITS: Limits = Limits {
    max_record_bytes: 1024 * 1024,
    max_request_bytes: 5 * 1024 * 1024,
};

/// Bytes a record counts toward the limits.
pub fn record_size(data_len: usize, partition_key_len: usize) -> u64 {
    (data_len + partition_key_len) as u64
}

/// How many of the leading records (by size) fit in one request: at least one, at most
/// [`MAX_RECORDS`]. Callers skip records larger than `max_record_bytes` before.
pub fn fit(sizes: &[u64], limits: Limits) -> usize {
    let mut total = 0u64;
    let mut n = 0;
    for &s in sizes.iter().take(MAX_RECORDS) {
        if n > 0 && total + s > limits.max_request_bytes {
            break;
        }
        total += s;
        n += 1;
    }
    n
}

/// One record of a `PutRecords` call.
#[derive(Debug, Clone, Copy)]
pub struct PutRecord<'a> {
    /// Partition key (1..=256 characters; the exporter uses a random UUID).
    pub partition_key: &'a str,
    /// Explicit hash key (a decimal 128-bit number) choosing the shard, if any.
    pub explicit_hash_key: Option<&'a str>,
    /// The record's data.
    pub data: &'a [u8],
}

#[derive(Serialize)]
struct Record<'a> {
    #[serde(rename = "Data")]
    data: String,
    #[serde(rename = "PartitionKey")]
    partition_key: &'a str,
    #[serde(rename = "ExplicitHashKey", skip_serializing_if = "Option::is_none")]
    explicit_hash_key: Option<&'a str>,
}

#[derive(Serialize)]
struct PutRecords<'a> {
    #[serde(rename = "StreamName", skip_serializing_if = "Option::is_none")]
    stream_name: Option<&'a str>,
    #[serde(rename = "StreamARN", skip_serializing_if = "Option::is_none")]
    stream_arn: Option<&'a str>,
    #[serde(rename = "Records")]
    records: Vec<Record<'a>>,
}

/// Builds the request for `records` to `stream` (a name or an ARN).
pub fn put_records(
    endpoint: &Endpoint,
    stream: &str,
    records: &[PutRecord<'_>],
) -> Result<http::Request<Vec<u8>>, BuildError> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let is_arn = stream.starts_with("arn:");
    let body = PutRecords {
        stream_name: (!is_arn).then_some(stream),
        stream_arn: is_arn.then_some(stream),
        records: records
            .iter()
            .map(|r| Record {
                data: b64.encode(r.data),
                partition_key: r.partition_key,
                explicit_hash_key: r.explicit_hash_key,
            })
            .collect(),
    };
    request(endpoint, "PutRecords", serde_json::to_vec(&body)?)
}

/// A Kinesis JSON 1.1 call of `action` carrying `body`.
fn request(
    endpoint: &Endpoint,
    action: &str,
    body: Vec<u8>,
) -> Result<http::Request<Vec<u8>>, BuildError> {
    Ok(http::Request::post(format!("{}/", endpoint.url))
        .header("host", host_of(&endpoint.url))
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amz-target", format!("Kinesis_20131202.{action}"))
        .body(body)?)
}

/// Parses the answer to a `PutRecords` call of `sent` records: per record, `Ok` with the shard
/// that stored it (`ShardId`, if given), else its error (`ErrorCode`, `ErrorMessage`; status 200).
pub fn parse_put_records(
    status: u16,
    error_type: Option<&str>,
    body: &[u8],
    sent: usize,
) -> Parsed<Vec<Result<Option<String>, AwsError>>> {
    if !(200..300).contains(&status) {
        return Err(parse_error(status, error_type, body));
    }
    let malformed = |why: &str| AwsError {
        status,
        code: "MalformedResponse".into(),
        message: format!("PutRecords answer {why}"),
    };
    let v =
        serde_json::from_slice::<serde_json::Value>(body).map_err(|_| malformed("is not JSON"))?;
    let records = v
        .get("Records")
        .and_then(|r| r.as_array())
        .ok_or_else(|| malformed("has no Records"))?;
    if records.len() != sent {
        return Err(malformed(&format!(
            "has {} records for {sent} sent",
            records.len()
        )));
    }
    let text =
        |r: &serde_json::Value, k: &str| r.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    Ok(records
        .iter()
        .map(|r| match text(r, "ErrorCode") {
            Some(code) => Err(AwsError {
                status,
                code,
                message: text(r, "ErrorMessage").unwrap_or_default(),
            }),
            None => Ok(text(r, "ShardId")),
        })
        .collect())
}

/// One shard of a stream, as `ListShards` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shard {
    /// Its id.
    pub id: String,
    /// The lowest hash key it takes.
    pub start: u128,
    /// The highest hash key it takes.
    pub end: u128,
    /// Whether it still takes records (a closed shard has an `EndingSequenceNumber`).
    pub open: bool,
}

/// Builds a `ListShards` call of `stream` (a name or an ARN), or of the page after `next`.
pub fn list_shards(
    endpoint: &Endpoint,
    stream: &str,
    next: Option<&str>,
) -> Result<http::Request<Vec<u8>>, BuildError> {
    let body = match next {
        // A NextToken call names no stream (the API refuses both).
        Some(token) => serde_json::json!({ "NextToken": token }),
        None if stream.starts_with("arn:") => serde_json::json!({ "StreamARN": stream }),
        None => serde_json::json!({ "StreamName": stream }),
    };
    request(endpoint, "ListShards", serde_json::to_vec(&body)?)
}

/// Parses a `ListShards` answer: the shards of this page and the token of the next, if any.
pub fn parse_list_shards(
    status: u16,
    error_type: Option<&str>,
    body: &[u8],
) -> Parsed<(Vec<Shard>, Option<String>)> {
    if !(200..300).contains(&status) {
        return Err(parse_error(status, error_type, body));
    }
    let malformed = |why: &str| AwsError {
        status,
        code: "MalformedResponse".into(),
        message: format!("ListShards answer {why}"),
    };
    let v =
        serde_json::from_slice::<serde_json::Value>(body).map_err(|_| malformed("is not JSON"))?;
    let shards = v
        .get("Shards")
        .and_then(|s| s.as_array())
        .ok_or_else(|| malformed("has no Shards"))?;
    let key = |s: &serde_json::Value, k: &str| -> Option<u128> {
        s.get("HashKeyRange")?.get(k)?.as_str()?.parse().ok()
    };
    let shards = shards
        .iter()
        .map(|s| {
            Some(Shard {
                id: s.get("ShardId")?.as_str()?.to_owned(),
                start: key(s, "StartingHashKey")?,
                end: key(s, "EndingHashKey")?,
                open: s
                    .get("SequenceNumberRange")
                    .and_then(|r| r.get("EndingSequenceNumber"))
                    .is_none(),
            })
        })
        .collect::<Option<Vec<Shard>>>()
        .ok_or_else(|| malformed("has a shard without an id or a hash key range"))?;
    let next = v
        .get("NextToken")
        .and_then(|t| t.as_str())
        .map(str::to_owned);
    Ok((shards, next))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Endpoints;
    use crate::Service;

    #[test]
    fn request_shape() {
        let ep = Endpoints::default().resolve(Service::Kinesis, "eu-west-1");
        let rec = |pk, data| PutRecord {
            partition_key: pk,
            explicit_hash_key: None,
            data,
        };
        let req = put_records(&ep, "s", &[rec("pk1", b"hello"), rec("pk2", b"\x00\xff")]).unwrap();
        assert_eq!(req.uri(), "https://kinesis.eu-west-1.amazonaws.com/");
        assert_eq!(req.headers()["x-amz-target"], "Kinesis_20131202.PutRecords");
        assert_eq!(req.headers()["host"], "kinesis.eu-west-1.amazonaws.com");
        let v: serde_json::Value = serde_json::from_slice(req.body()).unwrap();
        assert_eq!(v["StreamName"], "s");
        assert_eq!(v["Records"][0]["Data"], "aGVsbG8=");
        assert_eq!(v["Records"][1]["Data"], "AP8=");
        assert_eq!(v["Records"][1]["PartitionKey"], "pk2");
        assert!(v["Records"][0].get("ExplicitHashKey").is_none());
        let hashed = PutRecord {
            explicit_hash_key: Some("170141183460469231731687303715884105728"),
            ..rec("k", b"x")
        };
        let arn = put_records(&ep, "arn:aws:kinesis:eu-west-1:1:stream/s", &[hashed]).unwrap();
        let v: serde_json::Value = serde_json::from_slice(arn.body()).unwrap();
        assert!(v.get("StreamName").is_none());
        assert_eq!(
            v["Records"][0]["ExplicitHashKey"],
            "170141183460469231731687303715884105728"
        );
        assert_eq!(v["StreamARN"], "arn:aws:kinesis:eu-west-1:1:stream/s");
    }

    #[test]
    fn partial_failure_and_errors() {
        let body = br#"{"FailedRecordCount":1,"Records":[{"SequenceNumber":"1","ShardId":"s"},{"ErrorCode":"ProvisionedThroughputExceededException","ErrorMessage":"slow down"}]}"#;
        let r = parse_put_records(200, None, body, 2).unwrap();
        assert_eq!(r[0], Ok(Some("s".to_owned())));
        let e = r[1].as_ref().unwrap_err();
        assert_eq!(
            (e.code.as_str(), e.message.as_str()),
            ("ProvisionedThroughputExceededException", "slow down")
        );
        assert_eq!(
            parse_put_records(200, None, body, 3).unwrap_err().code,
            "MalformedResponse"
        );
        assert_eq!(
            parse_put_records(200, None, b"<html>", 1).unwrap_err().code,
            "MalformedResponse"
        );
        let e = parse_put_records(
            400,
            None,
            br#"{"__type":"ResourceNotFoundException","message":"no"}"#,
            1,
        )
        .unwrap_err();
        assert_eq!(
            (e.status, e.code.as_str()),
            (400, "ResourceNotFoundException")
        );
        assert_eq!(
            parse_put_records(500, None, b"", 1).unwrap_err().code,
            "HTTP500"
        );
    }

    #[test]
    fn shards_listed() {
        let ep = Endpoints::default().resolve(Service::Kinesis, "eu-west-1");
        let req = list_shards(&ep, "s", None).unwrap();
        assert_eq!(req.headers()["x-amz-target"], "Kinesis_20131202.ListShards");
        let v: serde_json::Value = serde_json::from_slice(req.body()).unwrap();
        assert_eq!(v, serde_json::json!({"StreamName": "s"}));
        let next = list_shards(&ep, "s", Some("tok")).unwrap();
        let v: serde_json::Value = serde_json::from_slice(next.body()).unwrap();
        assert_eq!(v, serde_json::json!({"NextToken": "tok"}));
        let body = br#"{"Shards":[
            {"ShardId":"shardId-0","HashKeyRange":{"StartingHashKey":"0","EndingHashKey":"170141183460469231731687303715884105727"},
             "SequenceNumberRange":{"StartingSequenceNumber":"1"}},
            {"ShardId":"shardId-1","HashKeyRange":{"StartingHashKey":"170141183460469231731687303715884105728","EndingHashKey":"340282366920938463463374607431768211455"},
             "SequenceNumberRange":{"StartingSequenceNumber":"1","EndingSequenceNumber":"9"}}],"NextToken":"n2"}"#;
        let (shards, next) = parse_list_shards(200, None, body).unwrap();
        assert_eq!(next.as_deref(), Some("n2"));
        assert_eq!(shards.len(), 2);
        assert!(shards[0].open && !shards[1].open);
        assert_eq!(shards[1].end, u128::MAX);
        assert_eq!(
            parse_list_shards(400, None, br#"{"__type":"AccessDeniedException"}"#)
                .unwrap_err()
                .code,
            "AccessDeniedException"
        );
        assert_eq!(
            parse_list_shards(200, None, b"{}").unwrap_err().code,
            "MalformedResponse"
        );
    }

    #[test]
    fn fitting_by_size_and_count() {
        let l = Limits {
            max_record_bytes: 10,
            max_request_bytes: 25,
        };
        assert_eq!(fit(&[10, 10, 10], l), 2);
        assert_eq!(fit(&[30], l), 1);
        assert_eq!(fit(&[1; 600], DEFAULT_LIMITS), 500);
        assert_eq!(fit(&[], l), 0);
    }
}
