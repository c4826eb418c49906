//! The AWS destinations sent record by record (Kinesis has a file of its own): IoT Analytics
//! and IoT SiteWise. Each cuts an attempt's records into calls built by `sm-aws` and maps the answers
//! to an outcome per record through [`crate::classify`].

use std::collections::HashMap;

use sm_aws::endpoint::Endpoint;
use sm_aws::{iotanalytics, sitewise, AwsError, Service};
use sm_model::sitewise::PutAssetPropertyValueEntry;

use super::http::unreachable_result;
use super::{blocked, Cx, Plan, UnitDest, UnitResult};
use crate::api::{Call, OpResult, Record, Target};
use crate::batch::RecordOutcome;
use crate::classify::{self, Class, ExportError, Failure, RecordError};

/// The region and endpoint of `service`, or why the attempt cannot start.
pub(super) fn target(cx: &Cx<'_>, service: Service) -> Result<(String, Endpoint), Failure> {
    let region = cx
        .config
        .region
        .clone()
        .ok_or_else(|| blocked(ExportError::NoRegion))?;
    let endpoint = cx.config.endpoints.resolve(service, &region);
    Ok((region, endpoint))
}

pub(super) fn call(
    config: &crate::api::Config,
    region: &str,
    service: Service,
    built: Result<http::Request<Vec<u8>>, sm_aws::BuildError>,
) -> Result<Call, UnitResult> {
    built
        .map(|request| {
            let target = Target::Aws {
                service,
                region: region.to_owned(),
            };
            Call::new(target, request, config)
        })
        .map_err(|e| {
            UnitResult::Whole(blocked(ExportError::Record(RecordError::Build(
                e.to_string(),
            ))))
        })
}

/// The attempt cannot start: no region is configured.
pub(super) fn blocked_no_region() -> Failure {
    blocked(ExportError::NoRegion)
}

pub(super) fn aws_error(service: &'static str, error: AwsError) -> ExportError {
    ExportError::Aws { service, error }
}

/// A whole-call failure: the service's error, or the transport's.
pub(super) fn whole(
    service: &'static str,
    answer: Result<AwsError, classify::TransportError>,
) -> Failure {
    match answer {
        Ok(e) => Failure::new(classify::aws_call(&e), aws_error(service, e)),
        Err(e) => Failure::new(
            classify::transport(&e),
            ExportError::Transport {
                target: service.to_owned(),
                error: e,
            },
        ),
    }
}

/// Export to one IoT Analytics channel: `BatchPutMessage`, 100 messages per call.
pub(crate) struct IotAnalytics {
    channel: String,
    prefix: Option<String>,
    target: Option<(String, Endpoint)>,
}

impl IotAnalytics {
    pub(crate) fn new(channel: &str, prefix: Option<&str>) -> Self {
        Self {
            channel: channel.to_owned(),
            prefix: prefix.map(str::to_owned),
            target: None,
        }
    }

    /// At its default endpoint the service is gone: say so, and retry rarely.
    fn retired(&self, f: Failure) -> Failure {
        match &self.target {
            Some((_, ep)) if !ep.overridden => {
                Failure::new(Class::Blocked, ExportError::Retired(Box::new(f.error)))
            }
            _ => f,
        }
    }
}

impl UnitDest for IotAnalytics {
    fn plan(
        &mut self,
        cx: &mut Cx<'_>,
        _: &[Record],
        to_send: Vec<usize>,
    ) -> Result<Plan, Failure> {
        self.target = Some(target(cx, Service::IotAnalytics)?);
        Ok(Plan {
            units: to_send
                .chunks(iotanalytics::MAX_MESSAGES)
                .map(<[usize]>::to_vec)
                .collect(),
            settled: Vec::new(),
        })
    }

    fn build(
        &mut self,
        cx: &mut Cx<'_>,
        records: &[Record],
        unit: &[usize],
    ) -> Result<Call, UnitResult> {
        let Some((region, endpoint)) = &self.target else {
            return Err(UnitResult::Whole(blocked(ExportError::NoRegion)));
        };
        let batch: Vec<(String, &[u8])> = unit
            .iter()
            .map(|&i| {
                (
                    iotanalytics::message_id(self.prefix.as_deref(), cx.stream, records[i].seq),
                    &records[i].payload[..],
                )
            })
            .collect();
        let c = call(
            cx.config,
            region,
            Service::IotAnalytics,
            iotanalytics::batch_put_message(endpoint, &self.channel, &batch),
        )?;
        Ok(c)
    }

    fn parse(
        &mut self,
        cx: &mut Cx<'_>,
        records: &[Record],
        unit: &[usize],
        answer: OpResult,
    ) -> UnitResult {
        match answer {
            OpResult::Call(Ok(a)) => {
                let ids: Vec<String> = unit
                    .iter()
                    .map(|&i| {
                        iotanalytics::message_id(self.prefix.as_deref(), cx.stream, records[i].seq)
                    })
                    .collect();
                match iotanalytics::parse_batch_put_message(
                    a.status,
                    a.error_type.as_deref(),
                    &a.body,
                    &ids,
                ) {
                    Ok(per) => UnitResult::Records(
                        unit.iter()
                            .zip(per)
                            .map(|(&i, e)| match e {
                                None => (i, RecordOutcome::Delivered),
                                Some(e) => (
                                    i,
                                    RecordOutcome::Failed(Failure::new(
                                        classify::iot_analytics_record(&e),
                                        aws_error("IoT Analytics", e),
                                    )),
                                ),
                            })
                            .collect(),
                    ),
                    Err(e) => UnitResult::Whole(self.retired(whole("IoT Analytics", Ok(e)))),
                }
            }
            OpResult::Call(Err(e)) => {
                UnitResult::Whole(self.retired(whole("IoT Analytics", Err(e))))
            }
            other => {
                let (class, error) = unreachable_result(&other);
                UnitResult::Whole(Failure::new(class, error))
            }
        }
    }
}

/// Export JSON asset property values to IoT SiteWise: invalid messages and values outside
/// SiteWise's window are skipped; the rest go in conflict-free requests (no request holds two
/// values of one property at one timestamp); a request refused as a whole as invalid is split
/// so that only the bad entries are skipped; an entry to retry holds back the later requests
/// (they may hold newer values of its property and timestamp).
pub(crate) struct SiteWise {
    batch_size: usize,
    target: Option<(String, Endpoint)>,
    entries: HashMap<usize, PutAssetPropertyValueEntry>,
}

impl SiteWise {
    pub(crate) fn new(batch_size: usize) -> Self {
        Self {
            batch_size,
            target: None,
            entries: HashMap::new(),
        }
    }
}

impl UnitDest for SiteWise {
    fn plan(
        &mut self,
        cx: &mut Cx<'_>,
        records: &[Record],
        to_send: Vec<usize>,
    ) -> Result<Plan, Failure> {
        self.target = Some(target(cx, Service::IotSiteWise)?);
        self.entries.clear();
        let mut settled = Vec::new();
        let mut valid = Vec::new();
        for i in to_send {
            let refused = |e| {
                (
                    i,
                    RecordOutcome::Failed(Failure::new(Class::Refused, ExportError::Record(e))),
                )
            };
            match sm_model::sitewise::parse_entry(&records[i].payload) {
                Err(e) => settled.push(refused(RecordError::SiteWiseInvalid(e.to_string()))),
                Ok(entry) => match sitewise::outside_window(&entry, cx.now) {
                    Some(why) => settled.push(refused(RecordError::SiteWiseWindow(why))),
                    None => {
                        valid.push(i);
                        self.entries.insert(i, entry);
                    }
                },
            }
        }
        let refs: Vec<&PutAssetPropertyValueEntry> =
            valid.iter().map(|i| &self.entries[i]).collect();
        let units = sitewise::batches(&refs, self.batch_size)
            .into_iter()
            .map(|r| valid[r].to_vec())
            .collect();
        Ok(Plan { units, settled })
    }

    fn build(
        &mut self,
        cx: &mut Cx<'_>,
        records: &[Record],
        unit: &[usize],
    ) -> Result<Call, UnitResult> {
        let Some((region, endpoint)) = &self.target else {
            return Err(UnitResult::Whole(blocked(ExportError::NoRegion)));
        };
        let batch: Vec<(String, &PutAssetPropertyValueEntry)> = unit
            .iter()
            .filter_map(|i| Some((records[*i].seq.to_string(), self.entries.get(i)?)))
            .collect();
        let c = call(
            cx.config,
            region,
            Service::IotSiteWise,
            sitewise::put_values(endpoint, &batch),
        )?;
        Ok(c)
    }

    fn parse(
        &mut self,
        _: &mut Cx<'_>,
        records: &[Record],
        unit: &[usize],
        answer: OpResult,
    ) -> UnitResult {
        match answer {
            OpResult::Call(Ok(a)) => {
                let ids: Vec<String> = unit.iter().map(|&i| records[i].seq.to_string()).collect();
                match sitewise::parse_put_values(a.status, a.error_type.as_deref(), &a.body, &ids) {
                    Ok(per) => UnitResult::Records(
                        unit.iter()
                            .zip(per)
                            .map(|(&i, errors)| {
                                if errors.is_empty() {
                                    return (i, RecordOutcome::Delivered);
                                }
                                let class = classify::sitewise_entry(&errors);
                                let message = errors
                                    .iter()
                                    .map(|e| format!("{}: {}", e.code, e.message))
                                    .collect::<Vec<_>>()
                                    .join("; ");
                                let first =
                                    errors.into_iter().next().map(|e| AwsError { message, ..e });
                                let error = first
                                    .map_or(ExportError::Internal("no error".into()), |e| {
                                        aws_error("IoT SiteWise", e)
                                    });
                                (i, RecordOutcome::Failed(Failure::new(class, error)))
                            })
                            .collect(),
                    ),
                    // One bad entry spoils the request: find it by sending each entry alone.
                    Err(e) if e.code == "InvalidRequestException" && unit.len() > 1 => {
                        UnitResult::Split(unit.iter().map(|&i| vec![i]).collect())
                    }
                    Err(e) if e.code == "InvalidRequestException" => {
                        UnitResult::Whole(Failure::new(
                            Class::Refused,
                            aws_error("IoT SiteWise refused the entry", e),
                        ))
                    }
                    Err(e) => UnitResult::Whole(whole("IoT SiteWise", Ok(e))),
                }
            }
            OpResult::Call(Err(e)) => UnitResult::Whole(whole("IoT SiteWise", Err(e))),
            other => {
                let (class, error) = unreachable_result(&other);
                UnitResult::Whole(Failure::new(class, error))
            }
        }
    }
}
