//! The AWS destinations: Kinesis Data Streams, IoT SiteWise and IoT Analytics. Each turns the messages to
//! send into one or more calls built by `sm-aws`, sends them in order through [`Aws::call`],
//! and maps the answers to one outcome per message.

use std::sync::Arc;

use sm_aws::{iotanalytics, kinesis, sitewise, CallOutcome, RecordOutcome, Service};
use sm_model::sitewise::PutAssetPropertyValueEntry;

use super::SendResult;
use crate::aws::Aws;
use crate::clock;
use crate::store::fsutil::fnv1a;
use crate::store::OwnedMessage;

/// Export to one Kinesis data stream.
pub struct KinesisDestination {
    /// Shared AWS context.
    pub aws: Arc<Aws>,
    /// Stream name or ARN.
    pub stream: String,
}

/// Export to one IoT Analytics channel.
pub struct IotAnalyticsDestination {
    /// Shared AWS context.
    pub aws: Arc<Aws>,
    /// Channel name.
    pub channel: String,
    /// `iotMsgIdPrefix`.
    pub prefix: Option<String>,
}

/// The region and endpoint of `service`, or `None` with `r` set to a slow retry saying why.
fn target(
    aws: &Aws,
    service: Service,
    label: &str,
    r: &mut SendResult,
) -> Option<(String, sm_aws::endpoint::Endpoint)> {
    match aws.region() {
        Ok(region) => {
            let endpoint = aws.settings.endpoints.resolve(service, &region);
            Some((region, endpoint))
        }
        Err(m) => {
            r.whole_error = format!("{label}: {m}");
            r.slow = true;
            None
        }
    }
}

/// Fills `r` for a whole-call failure at message `from` onwards.
fn fail_rest(
    r: &mut SendResult,
    outcomes: &mut [Option<RecordOutcome>],
    from: &[usize],
    outcome: CallOutcome,
    service: &str,
) {
    let (e, slow) = match outcome {
        CallOutcome::Retry(e) => (e, false),
        CallOutcome::Fail(e) => (e, true),
        CallOutcome::Records(_) => return,
    };
    r.whole_error = if slow {
        format!("{service}: {e} (retrying slowly until the configuration or permissions are fixed)")
    } else {
        format!("{service}: {e}")
    };
    r.slow = slow;
    for &i in from {
        outcomes[i] = Some(RecordOutcome::Retry(r.whole_error.clone()));
    }
}

fn finish(r: &mut SendResult, outcomes: Vec<Option<RecordOutcome>>) {
    r.outcomes = outcomes
        .into_iter()
        .map(|o| o.unwrap_or_else(|| RecordOutcome::Retry(r.whole_error.clone())))
        .collect();
}

impl KinesisDestination {
    /// Sends the messages with `PutRecords`, as many calls as the size limits need.
    pub async fn send(&self, messages: &[&OwnedMessage]) -> SendResult {
        let mut r = SendResult::default();
        let limits = self
            .aws
            .settings
            .kinesis_limits
            .unwrap_or(kinesis::DEFAULT_LIMITS);
        let Some((region, endpoint)) = target(&self.aws, Service::Kinesis, "Kinesis", &mut r)
        else {
            return r;
        };
        let keys: Vec<String> = messages
            .iter()
            .map(|_| uuid::Uuid::new_v4().to_string())
            .collect();
        let mut outcomes: Vec<Option<RecordOutcome>> = vec![None; messages.len()];
        let mut pending = Vec::new();
        for (i, m) in messages.iter().enumerate() {
            let size = kinesis::record_size(m.payload.len(), keys[i].len());
            if size > limits.max_record_bytes {
                outcomes[i] = Some(RecordOutcome::Skip(format!(
                    "message of {} bytes exceeds Kinesis's per-record limit of {} bytes (data + partition key)",
                    m.payload.len(),
                    limits.max_record_bytes
                )));
            } else {
                pending.push(i);
            }
        }
        let mut at = 0;
        while at < pending.len() {
            let sizes: Vec<u64> = pending[at..]
                .iter()
                .map(|&i| kinesis::record_size(messages[i].payload.len(), keys[i].len()))
                .collect();
            let n = kinesis::fit(&sizes, limits);
            let chunk = &pending[at..at + n];
            let records: Vec<(&str, &[u8])> = chunk
                .iter()
                .map(|&i| (keys[i].as_str(), &messages[i].payload[..]))
                .collect();
            r.bytes += sizes[..n].iter().sum::<u64>();
            let req = kinesis::put_records(&endpoint, &self.stream, &records);
            let outcome = match self.aws.call(Service::Kinesis, &region, req).await {
                Ok(a) => kinesis::parse_put_records(a.status, a.error_type.as_deref(), &a.body, n),
                Err(o) => o,
            };
            match outcome {
                CallOutcome::Records(rec) => {
                    for (k, o) in rec.into_iter().enumerate() {
                        outcomes[chunk[k]] = Some(o);
                    }
                }
                other => {
                    fail_rest(&mut r, &mut outcomes, &pending[at..], other, "Kinesis");
                    break;
                }
            }
            at += n;
        }
        finish(&mut r, outcomes);
        r
    }
}

impl IotAnalyticsDestination {
    /// Sends the messages with `BatchPutMessage`, 100 per call.
    pub async fn send(&self, stream: &str, messages: &[&OwnedMessage]) -> SendResult {
        let mut r = SendResult::default();
        let Some((region, endpoint)) =
            target(&self.aws, Service::IotAnalytics, "IoT Analytics", &mut r)
        else {
            return r;
        };
        let tag = fnv1a(stream.as_bytes());
        let mut outcomes: Vec<Option<RecordOutcome>> = vec![None; messages.len()];
        let all: Vec<usize> = (0..messages.len()).collect();
        for (c, chunk) in all.chunks(iotanalytics::MAX_MESSAGES).enumerate() {
            let batch: Vec<(String, &[u8])> = chunk
                .iter()
                .map(|&i| {
                    let m = messages[i];
                    (
                        iotanalytics::message_id(self.prefix.as_deref(), tag, m.seq as u64),
                        &m.payload[..],
                    )
                })
                .collect();
            r.bytes += batch.iter().map(|(_, p)| p.len() as u64).sum::<u64>();
            let ids: Vec<String> = batch.iter().map(|(id, _)| id.clone()).collect();
            let req = iotanalytics::batch_put_message(&endpoint, &self.channel, &batch);
            let outcome = match self.aws.call(Service::IotAnalytics, &region, req).await {
                Ok(a) => iotanalytics::parse_batch_put_message(
                    a.status,
                    a.error_type.as_deref(),
                    &a.body,
                    &ids,
                ),
                Err(o) => o,
            };
            match outcome {
                CallOutcome::Records(rec) => {
                    for (k, o) in rec.into_iter().enumerate() {
                        outcomes[chunk[k]] = Some(o);
                    }
                }
                other => {
                    let retired = !endpoint.overridden;
                    fail_rest(
                        &mut r,
                        &mut outcomes,
                        &all[c * iotanalytics::MAX_MESSAGES..],
                        other,
                        "IoT Analytics",
                    );
                    if retired {
                        // The real service is gone: say so, and do not hammer it.
                        r.whole_error = format!(
                            "{} — note: AWS IoT Analytics was retired on 2025-12-15; remove this export, or point AWS_ENDPOINT_URL_IOTANALYTICS at a compatible endpoint",
                            r.whole_error
                        );
                        r.slow = true;
                        for &i in &all[c * iotanalytics::MAX_MESSAGES..] {
                            outcomes[i] = Some(RecordOutcome::Retry(r.whole_error.clone()));
                        }
                    }
                    break;
                }
            }
        }
        finish(&mut r, outcomes);
        r
    }
}

/// Export JSON asset property values to IoT SiteWise.
pub struct SiteWiseDestination {
    /// Shared AWS context.
    pub aws: Arc<Aws>,
    /// Entries per request (≤ 10).
    pub batch_size: usize,
}

impl SiteWiseDestination {
    async fn put(
        &self,
        region: &str,
        endpoint: &sm_aws::endpoint::Endpoint,
        batch: &[(String, &PutAssetPropertyValueEntry)],
    ) -> CallOutcome {
        let req = sitewise::put_values(endpoint, batch);
        let ids: Vec<String> = batch.iter().map(|(id, _)| id.clone()).collect();
        match self.aws.call(Service::IotSiteWise, region, req).await {
            Ok(a) => sitewise::parse_put_values(a.status, a.error_type.as_deref(), &a.body, &ids),
            Err(o) => o,
        }
    }

    /// Validates the messages, skips the invalid ones, and sends the rest in conflict-free
    /// requests; a request refused as a whole as invalid is split so only the bad entries are
    /// skipped.
    pub async fn send(&self, messages: &[&OwnedMessage]) -> SendResult {
        let mut r = SendResult::default();
        let Some((region, endpoint)) =
            target(&self.aws, Service::IotSiteWise, "IoT SiteWise", &mut r)
        else {
            return r;
        };
        let now = clock::now_ms();
        let mut outcomes: Vec<Option<RecordOutcome>> = vec![None; messages.len()];
        let mut valid: Vec<(usize, PutAssetPropertyValueEntry)> = Vec::new();
        for (i, m) in messages.iter().enumerate() {
            match sm_model::sitewise::parse_entry(&m.payload) {
                Err(e) => {
                    outcomes[i] = Some(RecordOutcome::Skip(format!("invalid SiteWise entry: {e}")))
                }
                Ok(entry) => match sitewise::outside_window(&entry, now) {
                    Some(why) => outcomes[i] = Some(RecordOutcome::Skip(why)),
                    None => valid.push((i, entry)),
                },
            }
        }
        let refs: Vec<&PutAssetPropertyValueEntry> = valid.iter().map(|(_, e)| e).collect();
        'batches: for range in sitewise::batches(&refs, self.batch_size) {
            let batch: Vec<(String, &PutAssetPropertyValueEntry)> = valid[range.clone()]
                .iter()
                .map(|(i, e)| (messages[*i].seq.to_string(), e))
                .collect();
            r.bytes += valid[range.clone()]
                .iter()
                .map(|(i, _)| messages[*i].payload.len() as u64)
                .sum::<u64>();
            let outcome = self.put(&region, &endpoint, &batch).await;
            let split =
                matches!(&outcome, CallOutcome::Fail(e) if e.code == "InvalidRequestException");
            let results: Vec<(usize, CallOutcome)> = if split {
                // One bad entry spoils the request: find it by sending each entry alone.
                let mut singles = Vec::new();
                for (k, one) in batch.iter().enumerate() {
                    let o = self
                        .put(&region, &endpoint, std::slice::from_ref(one))
                        .await;
                    let stop = matches!(o, CallOutcome::Retry(_));
                    singles.push((range.start + k, o));
                    if stop {
                        break;
                    }
                }
                singles
            } else {
                vec![(range.start, outcome)]
            };
            for (first, o) in results {
                match o {
                    CallOutcome::Records(rec) => {
                        let retry = rec.iter().find_map(|x| match x {
                            RecordOutcome::Retry(m) => Some(m.clone()),
                            _ => None,
                        });
                        for (k, x) in rec.into_iter().enumerate() {
                            outcomes[valid[first + k].0] = Some(x);
                        }
                        if let Some(m) = retry {
                            // Later requests may hold newer values of the same property and
                            // timestamp: they wait until the retried entry is in, so it can
                            // never overwrite them.
                            r.whole_error =
                                format!("IoT SiteWise: {m} (later entries wait for its retry)");
                            for (i, _) in &valid[range.end..] {
                                outcomes[*i] = Some(RecordOutcome::Retry(r.whole_error.clone()));
                            }
                            break 'batches;
                        }
                    }
                    CallOutcome::Fail(e) if split && e.code == "InvalidRequestException" => {
                        outcomes[valid[first].0] = Some(RecordOutcome::Skip(format!(
                            "IoT SiteWise refused the entry: {e}"
                        )));
                    }
                    other => {
                        let rest: Vec<usize> = valid[first..].iter().map(|(i, _)| *i).collect();
                        fail_rest(&mut r, &mut outcomes, &rest, other, "IoT SiteWise");
                        break 'batches;
                    }
                }
            }
        }
        finish(&mut r, outcomes);
        r
    }
}
