//! The simulated destinations: they read the requests the engine builds (HTTP JSON and raw
//! bodies, Kinesis `PutRecords`, SiteWise `BatchPutAssetPropertyValue`, IoT Analytics
//! `BatchPutMessage`), draw their faults from a seeded generator, and say which records they
//! accept. What each enforces: the request's shape (a body the fake cannot read is a test
//! failure), and its own faults; nothing else.

use base64::Engine as _;
use sm_export::Answer;

use crate::rng::Rng;

/// What a call does at the destination.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Faults {
    /// Chance that a call is answered 500 (nothing applied).
    pub p_5xx: f64,
    /// Chance that a call is throttled as a whole (429 / ThrottlingException; nothing applied).
    pub p_throttle: f64,
    /// Chance, per record, that a record of a processed call fails (Kinesis, SiteWise and IoT
    /// Analytics answer it per record; HTTP has no per-record answer).
    pub p_partial: f64,
    /// Chance that a call gets no answer within the client's timeout (nothing applied).
    pub p_timeout: f64,
    /// Chance that a processed call's answer is lost (the destination applied what it
    /// accepted; the client times out and sends the records again: a duplicate).
    pub p_lost_answer: f64,
    /// Chance that a processed call refuses its records for good (HTTP 400; per record for
    /// the AWS destinations).
    pub p_refuse: f64,
    /// Round trip, ms (drawn uniformly between the two).
    pub rtt_ms: (i64, i64),
}

impl Faults {
    pub const NONE: Self = Self {
        p_5xx: 0.0,
        p_throttle: 0.0,
        p_partial: 0.0,
        p_timeout: 0.0,
        p_lost_answer: 0.0,
        p_refuse: 0.0,
        rtt_ms: (1, 1),
    };
}

/// Which kind of destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    HttpJson,
    HttpRaw,
    Kinesis,
    SiteWise,
    IotAnalytics,
}

impl Kind {
    /// Whether one call delivers or refuses all of its records together, so that records
    /// arrive strictly in order.
    pub fn atomic_calls(self) -> bool {
        matches!(self, Self::HttpJson | Self::HttpRaw)
    }
}

/// What the destination makes of one call.
pub struct Verdict {
    /// The records the call carried (sequence numbers, in the request's order).
    pub seqs: Vec<u64>,
    /// Of them, those it applies.
    pub applied: Vec<u64>,
    /// Of them, those it refuses for good.
    pub refused: Vec<u64>,
    /// The answer (`None`: no answer before the timeout).
    pub answer: Option<Answer>,
}

/// The answer to `ListShards`: two shards splitting the hash key space, or (not `allowed`)
/// `AccessDeniedException`.
pub fn list_shards(allowed: bool) -> Answer {
    if !allowed {
        let body = br#"{"__type":"AccessDeniedException","message":"no kinesis:ListShards"}"#;
        return Answer {
            status: 400,
            body: body.to_vec(),
            ..Default::default()
        };
    }
    let half = u128::MAX / 2;
    let shard = |id: &str, start: u128, end: u128| {
        serde_json::json!({"ShardId": id,
            "HashKeyRange": {"StartingHashKey": start.to_string(), "EndingHashKey": end.to_string()},
            "SequenceNumberRange": {"StartingSequenceNumber": "1"}})
    };
    Answer {
        status: 200,
        body: json(serde_json::json!({"Shards": [
            shard("shardId-0", 0, half),
            shard("shardId-1", half + 1, u128::MAX),
        ]})),
        ..Default::default()
    }
}

fn seq_of_payload(p: &[u8]) -> u64 {
    // Payloads start with "s<stream>:<seq>:".
    let text = std::str::from_utf8(p).expect("payload is text");
    let mut parts = text.splitn(3, ':');
    parts.next();
    parts
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("payload {text:?} carries no sequence number"))
}

fn json(v: serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(&v).expect("JSON")
}

/// The records of a request to `kind`: sequence number and the id the request gives it.
pub fn records_of(kind: Kind, body: &[u8]) -> Vec<(u64, String)> {
    let seqs = seqs_of(kind, body);
    if kind != Kind::IotAnalytics {
        return seqs.into_iter().map(|s| (s, s.to_string())).collect();
    }
    let v: serde_json::Value = serde_json::from_slice(body).expect("BatchPutMessage JSON");
    let ids = v["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["messageId"].as_str().expect("messageId").to_owned());
    seqs.into_iter().zip(ids).collect()
}

fn seqs_of(kind: Kind, body: &[u8]) -> Vec<u64> {
    let b64 = base64::engine::general_purpose::STANDARD;
    match kind {
        Kind::HttpRaw => vec![seq_of_payload(body)],
        Kind::HttpJson => {
            let v: serde_json::Value = serde_json::from_slice(body).expect("a JSON batch");
            v.as_array()
                .expect("a JSON array")
                .iter()
                .map(|m| m["sequenceNumber"].as_u64().expect("sequenceNumber"))
                .collect()
        }
        Kind::Kinesis => {
            let v: serde_json::Value = serde_json::from_slice(body).expect("PutRecords JSON");
            v["Records"]
                .as_array()
                .expect("Records")
                .iter()
                .map(|r| {
                    assert_eq!(r["PartitionKey"].as_str().expect("PartitionKey").len(), 36);
                    seq_of_payload(
                        &b64.decode(r["Data"].as_str().expect("Data"))
                            .expect("base64"),
                    )
                })
                .collect()
        }
        Kind::SiteWise => {
            let v: serde_json::Value = serde_json::from_slice(body).expect("SiteWise JSON");
            v["entries"]
                .as_array()
                .expect("entries")
                .iter()
                .map(|e| {
                    e["entryId"]
                        .as_str()
                        .expect("entryId")
                        .parse()
                        .expect("a number")
                })
                .collect()
        }
        Kind::IotAnalytics => {
            let v: serde_json::Value = serde_json::from_slice(body).expect("BatchPutMessage JSON");
            v["messages"]
                .as_array()
                .expect("messages")
                .iter()
                .map(|m| {
                    let id = m["messageId"].as_str().expect("messageId");
                    id.rsplit('_')
                        .next()
                        .and_then(|s| s.parse().ok())
                        .expect("id ends with _seq")
                })
                .collect()
        }
    }
}

/// Decides what happens to a call carrying `seqs`; a processed call's answer may be lost.
pub fn judge(kind: Kind, faults: &Faults, rng: &mut Rng, records: Vec<(u64, String)>) -> Verdict {
    let mut v = process(kind, faults, rng, records);
    if v.answer.is_some() && rng.chance(faults.p_lost_answer) {
        v.answer = None;
    }
    v
}

/// What the destination does with a call that reaches it.
fn process(kind: Kind, faults: &Faults, rng: &mut Rng, records: Vec<(u64, String)>) -> Verdict {
    let id_of = |s: &u64| {
        records
            .iter()
            .find(|(x, _)| x == s)
            .map(|(_, id)| id.clone())
            .unwrap_or_default()
    };
    let seqs: Vec<u64> = records.iter().map(|(s, _)| *s).collect();
    let answer = |status: u16, body: Vec<u8>| {
        Some(Answer {
            status,
            body,
            ..Answer::default()
        })
    };
    if rng.chance(faults.p_timeout) {
        return Verdict {
            seqs,
            applied: vec![],
            refused: vec![],
            answer: None,
        };
    }
    if rng.chance(faults.p_5xx) {
        let body = match kind {
            Kind::HttpJson | Kind::HttpRaw => Vec::new(),
            _ => json(serde_json::json!({"__type": "InternalFailure", "message": "simulated"})),
        };
        return Verdict {
            seqs,
            applied: vec![],
            refused: vec![],
            answer: answer(500, body),
        };
    }
    if rng.chance(faults.p_throttle) {
        let (status, body) = match kind {
            Kind::HttpJson | Kind::HttpRaw => (429, Vec::new()),
            Kind::Kinesis => (
                400,
                json(
                    serde_json::json!({"__type": "ProvisionedThroughputExceededException", "message": "slow"}),
                ),
            ),
            _ => (
                429,
                json(serde_json::json!({"__type": "ThrottlingException", "message": "slow"})),
            ),
        };
        return Verdict {
            seqs,
            applied: vec![],
            refused: vec![],
            answer: answer(status, body),
        };
    }
    if kind.atomic_calls() {
        if rng.chance(faults.p_refuse) {
            return Verdict {
                refused: seqs.clone(),
                seqs,
                applied: vec![],
                answer: answer(400, Vec::new()),
            };
        }
        return Verdict {
            applied: seqs.clone(),
            seqs,
            refused: vec![],
            answer: answer(200, Vec::new()),
        };
    }
    // Per-record answers.
    let mut applied = Vec::new();
    let mut refused = Vec::new();
    let mut failed = Vec::new();
    for &s in &seqs {
        if rng.chance(faults.p_refuse) {
            refused.push(s);
        } else if rng.chance(faults.p_partial) {
            failed.push(s);
        } else {
            applied.push(s);
        }
    }
    let body = match kind {
        Kind::Kinesis => {
            // Kinesis has no per-record refusal: a refused record is a retryable failure too.
            failed.append(&mut refused);
            let records: Vec<serde_json::Value> = seqs
                .iter()
                .map(|s| {
                    if failed.contains(s) {
                        serde_json::json!({"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "slow"})
                    } else {
                        serde_json::json!({"SequenceNumber": "1", "ShardId": "shardId-0"})
                    }
                })
                .collect();
            json(serde_json::json!({"FailedRecordCount": failed.len(), "Records": records}))
        }
        Kind::SiteWise => {
            let mut entries: Vec<serde_json::Value> = failed
                .iter()
                .map(|s| serde_json::json!({"entryId": s.to_string(), "errors": [{"errorCode": "ThrottlingException", "errorMessage": "slow"}]}))
                .collect();
            entries.extend(refused.iter().map(|s| {
                serde_json::json!({"entryId": s.to_string(), "errors": [{"errorCode": "InvalidRequestException", "errorMessage": "bad"}]})
            }));
            json(serde_json::json!({"errorEntries": entries}))
        }
        Kind::IotAnalytics => {
            let mut entries: Vec<serde_json::Value> = failed
                .iter()
                .map(|s| serde_json::json!({"messageId": id_of(s), "errorCode": "ThrottlingException", "errorMessage": "slow"}))
                .collect();
            entries.extend(refused.iter().map(|s| {
                serde_json::json!({"messageId": id_of(s), "errorCode": "InvalidRequestException", "errorMessage": "bad"})
            }));
            json(serde_json::json!({"batchPutMessageErrorEntries": entries}))
        }
        Kind::HttpJson | Kind::HttpRaw => unreachable!(),
    };
    Verdict {
        seqs,
        applied,
        refused,
        answer: answer(200, body),
    }
}
