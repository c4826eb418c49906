//! Sending a batch: the destinations' senders. A sender turns the records of an attempt into
//! calls, one at a time, reads each answer (through [`crate::classify`]), retries a call that
//! may pass after a short pause ([`crate::RetryPolicy::quick_delay_ms`]), and ends the attempt
//! with an outcome per record it settled and, if it stopped early, why.
//!
//! HTTP, Kinesis, IoT Analytics and SiteWise share [`Units`]: the attempt's records are cut into
//! units (the records of one call); a unit is sent, its finished records are settled, and the
//! ones to retry form the unit again, until it is empty or out of attempts. S3 tasks have their
//! own state machine ([`s3`]).

mod aws;
mod http;
mod kinesis;
pub(crate) mod pace;
pub(crate) mod s3;

use std::collections::VecDeque;
use std::path::PathBuf;

use sm_model::{ExportKind, MessageStreamDefinition};

use crate::api::{Action, Call, Config, OpResult, Record, StreamId};
use crate::batch::RecordOutcome;
use crate::classify::{Class, ExportError, Failure};
use crate::rng::Rng;

pub(crate) use aws::{IotAnalytics, SiteWise};
pub(crate) use http::{kind_of, Http};
pub(crate) use kinesis::Kinesis;

/// What a sender works with besides its own state.
pub(crate) struct Cx<'a> {
    pub now: i64,
    pub rng: &'a mut Rng,
    pub config: &'a Config,
    pub stream: &'a str,
    pub stream_id: StreamId,
    pub export: &'a str,
    /// The stream's time to live, if any (S3 tasks older than it are canceled).
    pub ttl_ms: Option<i64>,
    /// Actions that need no answer (status messages, saved upload state), in order.
    pub out: &'a mut VecDeque<Action>,
    /// Failed and repeated calls, as they happen.
    pub events: &'a mut Vec<SendEvent>,
    /// The pace of each Kinesis stream, by region and name (shared by its exports).
    pub pacers: &'a mut std::collections::BTreeMap<String, pace::Pacer>,
}

/// An IO operation a sender waits for.
#[derive(Debug)]
pub(crate) enum Io {
    Call(Box<Call>),
    Stat(PathBuf),
    ReadFile {
        path: PathBuf,
        offset: u64,
        len: u64,
    },
    LoadUploadState,
}

/// What a sender does next.
#[derive(Debug)]
pub(crate) enum Step {
    /// Perform this and hand the result to [`Sender::handle`].
    Io(Io),
    /// Pause until then (a quick retry), then ask again.
    Sleep(i64),
    /// The attempt is over.
    Done(Attempt),
}

/// How an attempt ended.
#[derive(Debug, Default)]
pub(crate) struct Attempt {
    /// Outcomes of the records it settled (indices into the batch).
    pub outcomes: Vec<(usize, RecordOutcome)>,
    /// Why records are left unsent or failed, if any are.
    pub stopped: Option<Failure>,
    /// Bytes put on the wire.
    pub bytes: u64,
}

/// What happened during an attempt, for describe to show at once.
#[derive(Debug)]
pub(crate) enum SendEvent {
    /// A call failed (in whole or in part) and is retried, now or in a later attempt.
    Failed(Failure),
    /// A call repeated (part of) an earlier one.
    Retried,
}

/// A batch's sender.
pub(crate) enum Sender {
    Units(Box<(Units, Dest)>),
    S3(Box<s3::Task>),
}

/// The destinations sent through [`Units`].
pub(crate) enum Dest {
    Http(Http),
    Kinesis(Kinesis),
    IotAnalytics(IotAnalytics),
    SiteWise(SiteWise),
}

/// A destination of [`Units`]: how records become calls and answers become outcomes.
pub(crate) trait UnitDest {
    /// Cuts the attempt's records (`to_send`, indices into `records`) into units, settling
    /// at once the records that cannot be sent at all.
    fn plan(
        &mut self,
        cx: &mut Cx<'_>,
        records: &[Record],
        to_send: Vec<usize>,
    ) -> Result<Plan, Failure>;
    /// The call of one unit.
    fn build(
        &mut self,
        cx: &mut Cx<'_>,
        records: &[Record],
        unit: &[usize],
    ) -> Result<Call, UnitResult>;
    /// What the answer to a unit's call means.
    fn parse(
        &mut self,
        cx: &mut Cx<'_>,
        records: &[Record],
        unit: &[usize],
        answer: OpResult,
    ) -> UnitResult;
    /// A call to make before the units, when one is needed now (Kinesis: the shard map).
    fn prepare(&mut self, _cx: &mut Cx<'_>) -> Option<Call> {
        None
    }
    /// The answer to that call.
    fn prepared(&mut self, _cx: &mut Cx<'_>, _answer: OpResult) {}
    /// How many records at the front of the unit may go now, or when to come back (Kinesis:
    /// the shards' pace).
    fn pace(&mut self, _cx: &mut Cx<'_>, _records: &[Record], unit: &[usize]) -> Pace {
        Pace::Now(unit.len())
    }
}

/// What a destination's pace allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pace {
    /// This many records of the unit may go now (at least one).
    Now(usize),
    /// None before then.
    Wait(i64),
}

/// Units of an attempt, and records settled before any call.
pub(crate) struct Plan {
    pub units: Vec<Vec<usize>>,
    pub settled: Vec<(usize, RecordOutcome)>,
}

/// What a unit's call achieved.
#[derive(Debug)]
pub(crate) enum UnitResult {
    /// The call was processed: an outcome per record of the unit.
    Records(Vec<(usize, RecordOutcome)>),
    /// The whole call failed; a [`Class::Refused`] failure refuses every record of the unit.
    Whole(Failure),
    /// Send these units instead (e.g. one record at a time to find the one a service refuses).
    Split(Vec<Vec<usize>>),
}

/// The calls of one attempt, in order, each with its quick retries.
pub(crate) struct Units {
    queue: VecDeque<Vec<usize>>,
    /// Attempt number of the front unit's call (1 = first).
    attempt: u32,
    sleep_until: Option<i64>,
    waiting: bool,
    /// The destination's preparing call is out.
    preparing: bool,
    /// The destination needs no more preparing call in this attempt.
    prepared: bool,
    result: Attempt,
    finished: bool,
    /// The last record (index into the batch) that went out in a call, in any attempt of
    /// this batch: records up to it that must go again do so before any record after it.
    sent_upto: Option<usize>,
}

impl Units {
    pub(crate) fn new() -> Self {
        Self {
            queue: VecDeque::new(),
            attempt: 1,
            sleep_until: None,
            waiting: false,
            preparing: false,
            prepared: false,
            result: Attempt::default(),
            finished: true,
            sent_upto: None,
        }
    }

    fn begin(&mut self, cx: &mut Cx<'_>, dest: &mut Dest, records: &[Record], to_send: Vec<usize>) {
        self.result = Attempt::default();
        self.attempt = 1;
        self.sleep_until = None;
        self.waiting = false;
        (self.preparing, self.prepared) = (false, false);
        self.finished = false;
        // Records sent before and failed go in calls of their own, ahead of records never
        // sent: a record goes out for the first time only after every earlier one has (when
        // a paced call carried part of a unit, or an attempt stopped between units).
        let sent_upto = self.sent_upto;
        let again = |i: &usize| sent_upto.is_some_and(|s| *i <= s);
        let planned = dest.as_unit().plan(cx, records, to_send).map(|mut plan| {
            plan.units = plan
                .units
                .into_iter()
                .flat_map(|u| {
                    let (old, new): (Vec<usize>, Vec<usize>) = u.into_iter().partition(again);
                    [old, new]
                })
                .collect();
            plan
        });
        match planned {
            Ok(plan) => {
                self.queue = plan.units.into_iter().filter(|u| !u.is_empty()).collect();
                self.result.outcomes = plan.settled;
            }
            Err(f) => {
                self.queue.clear();
                cx.events.push(SendEvent::Failed(f.clone()));
                self.stop(f);
            }
        }
    }

    fn stop(&mut self, f: Failure) {
        self.result.stopped = Some(f);
        self.queue.clear();
    }

    fn step(&mut self, cx: &mut Cx<'_>, dest: &mut Dest, records: &[Record]) -> Step {
        debug_assert!(!self.waiting, "step while a call is out");
        if let Some(t) = self.sleep_until {
            if cx.now < t {
                return Step::Sleep(t);
            }
            self.sleep_until = None;
        }
        if !self.prepared && !self.queue.is_empty() {
            match dest.as_unit().prepare(cx) {
                Some(call) => {
                    (self.waiting, self.preparing) = (true, true);
                    return Step::Io(Io::Call(Box::new(call)));
                }
                None => self.prepared = true,
            }
        }
        loop {
            let Some(unit) = self.queue.front() else {
                self.finished = true;
                return Step::Done(std::mem::take(&mut self.result));
            };
            match dest.as_unit().pace(cx, records, unit) {
                Pace::Wait(t) => {
                    self.sleep_until = Some(t);
                    return Step::Sleep(t);
                }
                Pace::Now(k) if k < unit.len() => {
                    let mut rest = self.queue.pop_front().unwrap_or_default();
                    let now = rest.drain(..k.max(1)).collect();
                    self.queue.push_front(rest);
                    self.queue.push_front(now);
                }
                Pace::Now(_) => {}
            }
            let Some(unit) = self.queue.front() else {
                continue;
            };
            match dest.as_unit().build(cx, records, unit) {
                Ok(call) => {
                    self.sent_upto = self.sent_upto.max(unit.iter().copied().max());
                    // What goes on the wire: the request's body (the bandwidth cap's unit).
                    self.result.bytes += call.request.body().len() as u64;
                    if self.attempt > 1 {
                        cx.events.push(SendEvent::Retried);
                    }
                    self.waiting = true;
                    return Step::Io(Io::Call(Box::new(call)));
                }
                Err(r) => self.apply(cx, r),
            }
        }
    }

    fn handle(&mut self, cx: &mut Cx<'_>, dest: &mut Dest, records: &[Record], answer: OpResult) {
        self.waiting = false;
        if std::mem::take(&mut self.preparing) {
            dest.as_unit().prepared(cx, answer);
            return;
        }
        let Some(unit) = self.queue.front() else {
            return;
        };
        let r = dest.as_unit().parse(cx, records, unit, answer);
        self.apply(cx, r);
    }

    /// Settles the front unit with its call's result.
    fn apply(&mut self, cx: &mut Cx<'_>, r: UnitResult) {
        let Some(unit) = self.queue.pop_front() else {
            return;
        };
        let failure = match r {
            UnitResult::Split(units) => {
                for u in units.into_iter().rev().filter(|u| !u.is_empty()) {
                    self.queue.push_front(u);
                }
                self.attempt = 1;
                return;
            }
            UnitResult::Whole(f) if f.class == Class::Refused => {
                self.result
                    .outcomes
                    .extend(unit.iter().map(|&i| (i, RecordOutcome::Failed(f.clone()))));
                self.attempt = 1;
                return;
            }
            UnitResult::Whole(f) => {
                self.queue.push_front(unit);
                f
            }
            UnitResult::Records(outcomes) => {
                let mut again = Vec::new();
                let mut worst: Option<Failure> = None;
                for (i, o) in outcomes {
                    match o {
                        RecordOutcome::Failed(f) if f.class != Class::Refused => {
                            again.push(i);
                            if worst.as_ref().is_none_or(|w| f.class > w.class) {
                                worst = Some(f);
                            }
                        }
                        other => self.result.outcomes.push((i, other)),
                    }
                }
                let Some(f) = worst else {
                    self.attempt = 1;
                    return;
                };
                self.queue.push_front(again);
                f
            }
        };
        cx.events.push(SendEvent::Failed(failure.clone()));
        if failure.class.retry_within_send() {
            let throttled = failure.class == Class::Throttled;
            let draw = cx.rng.next_u64();
            if let Some(d) = cx
                .config
                .retry
                .quick_delay_ms(self.attempt + 1, throttled, draw)
            {
                self.attempt += 1;
                self.sleep_until = Some(cx.now.saturating_add(d as i64));
                return;
            }
        }
        self.stop(failure);
    }
}

impl Dest {
    fn as_unit(&mut self) -> &mut dyn UnitDest {
        match self {
            Self::Http(d) => d,
            Self::Kinesis(d) => d,
            Self::IotAnalytics(d) => d,
            Self::SiteWise(d) => d,
        }
    }
}

impl Sender {
    /// The sender of an export of this kind and configuration.
    pub(crate) fn new(
        kind: ExportKind,
        identifier: &str,
        def: &MessageStreamDefinition,
    ) -> Option<Self> {
        let e = def.export_definition.as_ref()?;
        Some(match kind {
            ExportKind::Http => {
                let c = e.http.iter().find(|c| c.identifier == identifier)?;
                units(Dest::Http(Http::new(&c.uri, c.export_format)))
            }
            ExportKind::Kinesis => {
                let c = e.kinesis.iter().find(|c| c.identifier == identifier)?;
                units(Dest::Kinesis(Kinesis::new(&c.kinesis_stream_name)))
            }
            ExportKind::IoTAnalytics => {
                let c = e
                    .iot_analytics
                    .iter()
                    .find(|c| c.identifier == identifier)?;
                units(Dest::IotAnalytics(IotAnalytics::new(
                    &c.iot_channel,
                    c.iot_msg_id_prefix.as_deref(),
                )))
            }
            ExportKind::IoTSiteWise => {
                let c = e.iot_sitewise.iter().find(|c| c.identifier == identifier)?;
                let size = {
                    let max = sm_model::defaults::max_batch_size(kind).unwrap_or(1);
                    c.batch_size.unwrap_or(max).clamp(1, max) as usize
                };
                units(Dest::SiteWise(SiteWise::new(size)))
            }
            ExportKind::S3TaskExecutor => {
                let c = e
                    .s3_task_executor
                    .iter()
                    .find(|c| c.identifier == identifier)?;
                Self::S3(Box::new(s3::Task::new(c)))
            }
        })
    }

    /// Starts an attempt at these records of the batch.
    pub(crate) fn begin(&mut self, cx: &mut Cx<'_>, records: &[Record], to_send: Vec<usize>) {
        match self {
            Self::Units(b) => {
                let (u, d) = &mut **b;
                u.begin(cx, d, records, to_send)
            }
            Self::S3(t) => t.begin(cx, records, to_send),
        }
    }

    /// The next step of the attempt.
    pub(crate) fn step(&mut self, cx: &mut Cx<'_>, records: &[Record]) -> Step {
        match self {
            Self::Units(b) => {
                let (u, d) = &mut **b;
                u.step(cx, d, records)
            }
            Self::S3(t) => t.step(cx, records),
        }
    }

    /// The result of the IO the last step asked for.
    pub(crate) fn handle(&mut self, cx: &mut Cx<'_>, records: &[Record], result: OpResult) {
        match self {
            Self::Units(b) => {
                let (u, d) = &mut **b;
                u.handle(cx, d, records, result)
            }
            Self::S3(t) => t.handle(cx, records, result),
        }
    }

    /// The export went away in the middle of the batch: stop (an S3 task aborts its upload
    /// and reports itself canceled).
    pub(crate) fn cancel(&mut self, cx: &mut Cx<'_>, records: &[Record]) -> Option<Call> {
        match self {
            Self::Units(_) => None,
            Self::S3(t) => t.cancel(cx, records),
        }
    }
}

fn units(dest: Dest) -> Sender {
    Sender::Units(Box::new((Units::new(), dest)))
}

/// A failure of the whole attempt before any call (e.g. no region).
pub(crate) fn blocked(error: ExportError) -> Failure {
    Failure::new(Class::Blocked, error)
}
