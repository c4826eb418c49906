//! Kinesis Data Streams: `PutRecords`, as many calls as the size limits need, a random UUID
//! partition key per record, at the shards' pace ([`super::pace`]): the shard map is read with
//! `ListShards` before the first call (and again when the pacer wants it), and each call carries
//! what the shards' budgets allow, each record with the `ExplicitHashKey` of its shard.

use sm_aws::endpoint::Endpoint;
use sm_aws::{kinesis, Service};

use super::aws::{aws_error, blocked_no_region, call, target, whole};
use super::http::unreachable_result;
use super::pace::{Admit, Pacer};
use super::{Cx, Pace, Plan, UnitDest, UnitResult};
use crate::api::{Call, OpResult, Record};
use crate::batch::RecordOutcome;
use crate::classify::{self, Class, ExportError, Failure, RecordError};

/// Length of a partition key: a UUID in text.
const PARTITION_KEY_LEN: usize = 36;

/// A record's size against Kinesis's limits: its data and its partition key.
fn record_size(r: &Record) -> u64 {
    kinesis::record_size(r.payload.len(), PARTITION_KEY_LEN)
}

/// The error code of a throttled record or call.
const THROTTLED: &str = "ProvisionedThroughputExceededException";

/// Export to one Kinesis data stream.
pub(crate) struct Kinesis {
    stream: String,
    target: Option<(String, Endpoint)>,
    /// The shard map being read: the shards of the pages so far and the next page's token.
    listing: Option<(Vec<kinesis::Shard>, Option<String>)>,
    /// The explicit hash keys the pacer gave the front unit's records.
    keys: Vec<Option<u128>>,
}

impl Kinesis {
    pub(crate) fn new(stream: &str) -> Self {
        Self {
            stream: stream.to_owned(),
            target: None,
            listing: None,
            keys: Vec::new(),
        }
    }

    /// The pacer of this stream (shared by its exports).
    fn pacer<'a>(&self, cx: &'a mut Cx<'_>) -> &'a mut Pacer {
        let region = self.target.as_ref().map_or("", |(r, _)| r.as_str());
        let delay = cx.config.kinesis_inter_call_delay_ms;
        cx.pacers
            .entry(format!("{region}/{}", self.stream))
            .or_insert_with(|| Pacer::new(delay))
    }
}

impl UnitDest for Kinesis {
    fn plan(
        &mut self,
        cx: &mut Cx<'_>,
        records: &[Record],
        to_send: Vec<usize>,
    ) -> Result<Plan, Failure> {
        self.target = Some(target(cx, Service::Kinesis)?);
        let limits = cx.config.kinesis_limits;
        let mut settled = Vec::new();
        let mut pending = Vec::new();
        let mut sizes = Vec::new();
        for i in to_send {
            let size = record_size(&records[i]);
            if size > limits.max_record_bytes {
                let e = RecordError::KinesisTooLarge {
                    size: records[i].payload.len() as u64,
                    limit: limits.max_record_bytes,
                };
                let f = Failure::new(Class::Refused, ExportError::Record(e));
                settled.push((i, RecordOutcome::Failed(f)));
            } else {
                pending.push(i);
                sizes.push(size);
            }
        }
        let mut units = Vec::new();
        let mut at = 0;
        while at < pending.len() {
            let n = kinesis::fit(&sizes[at..], limits).max(1);
            units.push(pending[at..at + n].to_vec());
            at += n;
        }
        Ok(Plan { units, settled })
    }

    fn prepare(&mut self, cx: &mut Cx<'_>) -> Option<Call> {
        let now = cx.now;
        if !self.pacer(cx).wants_shard_map(now) {
            return None;
        }
        let (region, endpoint) = self.target.as_ref()?;
        let next = self.listing.as_ref().and_then(|(_, n)| n.as_deref());
        let built = kinesis::list_shards(endpoint, &self.stream, next);
        call(cx.config, region, Service::Kinesis, built).ok()
    }

    fn prepared(&mut self, cx: &mut Cx<'_>, answer: OpResult) {
        let now = cx.now;
        let parsed = match answer {
            OpResult::Call(Ok(a)) => {
                kinesis::parse_list_shards(a.status, a.error_type.as_deref(), &a.body)
                    .map_err(|e| format!("{}: {}", e.code, e.message))
            }
            OpResult::Call(Err(e)) => Err(e.message),
            _ => Err("no answer".to_owned()),
        };
        let (mut shards, _) = self.listing.take().unwrap_or_default();
        match parsed {
            Ok((page, Some(next))) => {
                shards.extend(page);
                self.listing = Some((shards, Some(next)));
            }
            Ok((page, None)) => {
                shards.extend(page);
                // Said once; the reads every 5 minutes after are quiet.
                if self.pacer(cx).knows_shards() {
                    tracing::debug!(stream = %self.stream, shards = shards.len(), "Kinesis shard map read");
                } else {
                    tracing::info!(stream = %self.stream, shards = shards.len(),
                        "Kinesis shard map read: each shard gets 95% of its write limits");
                }
                self.pacer(cx).listed(&shards, now);
            }
            // Not allowed (no kinesis:ListShards), or not now: pace from the answers.
            Err(why) => {
                if self.pacer(cx).paced_from_answers() {
                    tracing::debug!(stream = %self.stream, error = %why, "Kinesis ListShards failed again");
                } else {
                    tracing::info!(stream = %self.stream, error = %why,
                        "Kinesis ListShards failed: pacing from the throttled answers, asking again in 5 minutes");
                }
                self.pacer(cx).unlisted(now);
            }
        }
    }

    fn pace(&mut self, cx: &mut Cx<'_>, records: &[Record], unit: &[usize]) -> Pace {
        let sizes: Vec<u64> = unit.iter().map(|&i| record_size(&records[i])).collect();
        let now = cx.now;
        match self.pacer(cx).admit(&sizes, now) {
            Admit::Go(keys) => {
                let n = keys.len();
                self.keys = keys;
                Pace::Now(n)
            }
            Admit::Wait(t) => Pace::Wait(t),
        }
    }

    fn build(
        &mut self,
        cx: &mut Cx<'_>,
        records: &[Record],
        unit: &[usize],
    ) -> Result<Call, UnitResult> {
        let Some((region, endpoint)) = &self.target else {
            return Err(UnitResult::Whole(blocked_no_region()));
        };
        let partition: Vec<String> = unit.iter().map(|_| cx.rng.uuid()).collect();
        let hashes: Vec<Option<String>> = (0..unit.len())
            .map(|k| self.keys.get(k).copied().flatten().map(|h| h.to_string()))
            .collect();
        let puts: Vec<kinesis::PutRecord<'_>> = unit
            .iter()
            .zip(partition.iter().zip(&hashes))
            .map(|(&i, (key, hash))| kinesis::PutRecord {
                partition_key: key,
                explicit_hash_key: hash.as_deref(),
                data: &records[i].payload,
            })
            .collect();
        let built = kinesis::put_records(endpoint, &self.stream, &puts);
        call(cx.config, region, Service::Kinesis, built)
    }

    fn parse(
        &mut self,
        cx: &mut Cx<'_>,
        _: &[Record],
        unit: &[usize],
        answer: OpResult,
    ) -> UnitResult {
        let key = |k: usize| self.keys.get(k).copied().flatten();
        let (result, paced): (UnitResult, Vec<(Option<u128>, bool)>) = match answer {
            OpResult::Call(Ok(a)) => match kinesis::parse_put_records(
                a.status,
                a.error_type.as_deref(),
                &a.body,
                unit.len(),
            ) {
                Ok(per) => {
                    let paced = per
                        .iter()
                        .enumerate()
                        .map(|(k, r)| (key(k), r.as_ref().is_err_and(|e| e.code == THROTTLED)))
                        .collect();
                    // A shard the map does not have took a record: the stream was resharded.
                    let shards = per.iter().filter_map(|r| r.as_ref().ok()?.as_deref());
                    self.pacer(cx).stored_in(shards);
                    let outcomes = unit
                        .iter()
                        .zip(per)
                        .map(|(&i, r)| match r {
                            Ok(_) => (i, RecordOutcome::Delivered),
                            Err(e) => {
                                let class = classify::kinesis_record(&e);
                                let f = Failure::new(class, aws_error("Kinesis", e));
                                (i, RecordOutcome::Failed(f))
                            }
                        })
                        .collect();
                    (UnitResult::Records(outcomes), paced)
                }
                Err(e) => {
                    let throttled = e.code == THROTTLED;
                    let paced = (0..unit.len()).map(|k| (key(k), throttled)).collect();
                    (UnitResult::Whole(whole("Kinesis", Ok(e))), paced)
                }
            },
            OpResult::Call(Err(e)) => (UnitResult::Whole(whole("Kinesis", Err(e))), Vec::new()),
            other => {
                let (class, error) = unreachable_result(&other);
                (UnitResult::Whole(Failure::new(class, error)), Vec::new())
            }
        };
        let now = cx.now;
        self.pacer(cx).answered(&paced, now);
        result
    }
}
