//! The S3 task executor: each message is a JSON `S3ExportTaskDefinition`; tasks run one at a
//! time per export (batch size 1), in the order appended. A file of at most
//! `sizeThresholdForMultipartUploadBytes` (and at most [`MAX_SINGLE_PUT`], to bound memory)
//! goes up in one `PutObject`; a larger one as a multipart upload, read one part at a time. The
//! upload's progress survives failed attempts in memory and restarts in the export's saved
//! upload state: a restarted multipart upload resumes from the parts S3 lists, when the file is
//! unchanged. Progress and outcome go to the status stream, if one is configured.
//!
//! A call that may pass is retried within the attempt like any other destination's; an answer
//! that refuses the task (no such bucket, access denied, an unreadable file, an invalid key)
//! fails it: its multipart upload is aborted, a `Failure` status is written and the task is
//! skipped. A task older than the stream's time to live, or whose export goes away, is
//! `Canceled`.

use md5::{Digest, Md5};
use sm_aws::endpoint::Endpoint;
use sm_aws::{s3, Service};
use sm_model::s3::{parse_task, S3ExportTaskDefinition, Status};
use sm_model::{S3ExportTaskExecutorConfig, StatusLevel};
use sm_s3plan::{Step as S3Step, Upload};

use super::{Attempt, Cx, Io, Step};
use crate::api::{Call, FileInfo, OpResult, Record, Target};
use crate::batch::RecordOutcome;
use crate::classify::{self, Class, ExportError, Failure};
use crate::status;

mod util;

pub use util::file_path;
use util::{check_etag, hex, ResumeState};

/// Largest file sent in one `PutObject` whatever the threshold says: bigger files go up in
/// parts so that memory stays bounded by the part size.
pub const MAX_SINGLE_PUT: u64 = 64 * 1024 * 1024;

/// Parts S3 lists for an upload: (part number, ETag, size).
type Listed = Vec<(u32, String, u64)>;

/// The IO the task waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    Stat,
    LoadState,
    ListParts,
    AbortStale,
    ReadBody,
    Put,
    Create,
    Part(u32),
    Complete,
    AbortFailed,
}

/// One S3 export's task in progress.
pub(crate) struct Task {
    threshold: u64,
    status: Option<(String, StatusLevel)>,
    /// The batch index of the task message (0: one message per batch).
    index: usize,
    seq: u64,
    task: Option<S3ExportTaskDefinition>,
    target: Option<(String, Endpoint)>,
    file: Option<FileInfo>,
    upload: Option<Upload>,
    state_checked: bool,
    /// A saved upload being resumed: its state, the ListParts marker, the parts listed so far.
    resuming: Option<(ResumeState, u32, Listed)>,
    stale: Option<ResumeState>,
    key: Option<String>,
    body: Option<(Vec<u8>, String)>,
    failing: Option<String>,
    pending: Option<Pending>,
    attempt: u32,
    sleep_until: Option<i64>,
    result: Attempt,
    finished: bool,
}

impl Task {
    pub(crate) fn new(c: &S3ExportTaskExecutorConfig) -> Self {
        Self {
            threshold: c
                .size_threshold_for_multipart_upload_bytes
                .unwrap_or(sm_model::defaults::MULTIPART_THRESHOLD)
                .max(0) as u64,
            status: c.status_config.as_ref().and_then(|sc| {
                sc.status_stream_name
                    .clone()
                    .map(|n| (n, sc.status_level.unwrap_or(StatusLevel::Info)))
            }),
            index: 0,
            seq: 0,
            task: None,
            target: None,
            file: None,
            upload: None,
            state_checked: false,
            resuming: None,
            stale: None,
            key: None,
            body: None,
            failing: None,
            pending: None,
            attempt: 1,
            sleep_until: None,
            result: Attempt::default(),
            finished: true,
        }
    }

    /// Starts an attempt; what the task learned in earlier attempts of this batch is kept.
    pub(crate) fn begin(&mut self, _: &mut Cx<'_>, records: &[Record], to_send: Vec<usize>) {
        let index = to_send.first().copied().unwrap_or(0);
        if records.get(index).map(|r| r.seq) != Some(self.seq) || self.index != index {
            self.reset_task();
        }
        self.index = index;
        self.seq = records.get(index).map_or(0, |r| r.seq);
        self.result = Attempt::default();
        self.attempt = 1;
        self.sleep_until = None;
        self.finished = records.get(index).is_none();
    }

    fn reset_task(&mut self) {
        self.task = None;
        self.file = None;
        self.upload = None;
        self.state_checked = false;
        self.resuming = None;
        self.stale = None;
        self.key = None;
        self.body = None;
        self.failing = None;
    }

    fn report(&self, cx: &mut Cx<'_>, status: Status, message: String) {
        status::report(
            cx,
            self.status.as_ref(),
            self.seq,
            self.task.as_ref(),
            status,
            message,
        );
    }

    /// Settles the task: delivered, or refused with `error`.
    fn settle(&mut self, outcome: RecordOutcome) -> Step {
        self.result.outcomes.push((self.index, outcome));
        self.finished = true;
        self.reset_task();
        Step::Done(std::mem::take(&mut self.result))
    }

    /// Fails the task for good (after aborting its multipart upload, if any).
    fn fail(&mut self, cx: &mut Cx<'_>, why: String) -> Step {
        if self.upload.as_ref().and_then(Upload::upload_id).is_some() {
            self.failing = Some(why);
            return self.step_inner(cx);
        }
        self.clear_state(cx);
        self.report(cx, Status::Failure, why.clone());
        self.settle(RecordOutcome::Failed(Failure::new(
            Class::Refused,
            ExportError::S3Task(why),
        )))
    }

    fn clear_state(&self, cx: &mut Cx<'_>) {
        if self.state_checked {
            cx.out.push_back(crate::api::Action::SaveUploadState {
                stream: cx.stream_id,
                export: cx.export.to_owned(),
                state: None,
            });
        }
    }

    /// Stops the attempt; the task continues in the next one.
    fn stop(&mut self, cx: &mut Cx<'_>, f: Failure) -> Step {
        cx.events.push(super::SendEvent::Failed(f.clone()));
        self.result.stopped = Some(f);
        self.finished = true;
        Step::Done(std::mem::take(&mut self.result))
    }

    pub(crate) fn step(&mut self, cx: &mut Cx<'_>, records: &[Record]) -> Step {
        if let Some(t) = self.sleep_until {
            if cx.now < t {
                return Step::Sleep(t);
            }
            self.sleep_until = None;
        }
        if self.finished {
            return Step::Done(std::mem::take(&mut self.result));
        }
        if self.task.is_none() {
            let Some(m) = records.get(self.index) else {
                return Step::Done(std::mem::take(&mut self.result));
            };
            match parse_task(&m.payload) {
                Ok(t) => self.task = Some(t),
                Err(e) => return self.fail(cx, format!("invalid task: {e}")),
            }
            if let Some(ttl) = cx.ttl_ms {
                if cx.now.saturating_sub(m.ingest_time) > ttl {
                    let why = format!(
                        "task is older than the stream's time to live ({ttl} ms); not uploaded"
                    );
                    self.report(cx, Status::Canceled, why.clone());
                    return self.settle(RecordOutcome::Failed(Failure::new(
                        Class::Refused,
                        ExportError::S3Task(why),
                    )));
                }
            }
        }
        if self.target.is_none() {
            let Some(region) = cx.config.region.clone() else {
                return self.stop(cx, super::blocked(ExportError::NoRegion));
            };
            let endpoint = cx.config.endpoints.resolve(Service::S3, &region);
            self.target = Some((region, endpoint));
        }
        self.step_inner(cx)
    }

    fn step_inner(&mut self, cx: &mut Cx<'_>) -> Step {
        let Some(task) = self.task.clone() else {
            return self.stop(
                cx,
                Failure::new(Class::Transient, ExportError::Internal("no task".into())),
            );
        };
        if let Some(why) = self.failing.clone() {
            if let Some(id) = self
                .upload
                .as_ref()
                .and_then(Upload::upload_id)
                .map(str::to_owned)
            {
                let key = self.key.clone().unwrap_or_default();
                return self.call(cx, Pending::AbortFailed, |ep| {
                    s3::abort_multipart(ep, &task.bucket, &key, &id)
                });
            }
            self.failing = None;
            self.upload = None;
            return self.fail(cx, why);
        }
        let Some(file) = self.file.clone() else {
            return match file_path(&task.input_url) {
                Ok(p) => self.io(Pending::Stat, Io::Stat(p)),
                Err(e) => self.fail(cx, e),
            };
        };
        if self.upload.is_none() {
            let threshold = self.threshold.min(MAX_SINGLE_PUT);
            match Upload::new(file.size, threshold, cx.config.s3_min_part_size) {
                Ok(u) => self.upload = Some(u),
                Err(e) => return self.fail(cx, e.to_string()),
            }
        }
        if !self.state_checked {
            return self.io(Pending::LoadState, Io::LoadUploadState);
        }
        if let Some((state, marker, _)) = &self.resuming {
            let (bucket, key, id, marker) = (
                state.bucket.clone(),
                state.key.clone(),
                state.upload_id.clone(),
                *marker,
            );
            return self.call(cx, Pending::ListParts, |ep| {
                s3::list_parts(ep, &bucket, &key, &id, marker)
            });
        }
        if let Some(old) = self.stale.clone() {
            return self.call(cx, Pending::AbortStale, |ep| {
                s3::abort_multipart(ep, &old.bucket, &old.key, &old.upload_id)
            });
        }
        if self.key.is_none() {
            let rendered = sm_keytemplate::validate_key(&task.key)
                .map_err(|e| e.to_string())
                .and_then(|()| {
                    sm_keytemplate::render(&task.key, cx.now).map_err(|e| e.to_string())
                });
            match rendered {
                Ok(k) => {
                    self.report(
                        cx,
                        Status::InProgress,
                        format!(
                            "uploading {} ({} bytes) to s3://{}/{k}",
                            file.path.display(),
                            file.size,
                            task.bucket
                        ),
                    );
                    self.key = Some(k);
                }
                Err(e) => return self.fail(cx, format!("invalid key {:?}: {e}", task.key)),
            }
        }
        self.next_call(cx, &task, &file)
    }

    /// The upload's next call (reading its bytes first).
    fn next_call(
        &mut self,
        cx: &mut Cx<'_>,
        task: &S3ExportTaskDefinition,
        file: &FileInfo,
    ) -> Step {
        let Some(upload) = &self.upload else {
            return self.fail(cx, "no upload".into());
        };
        let key = self.key.clone().unwrap_or_default();
        let metadata: Vec<(String, String)> = task
            .user_metadata
            .iter()
            .flatten()
            .filter(|(k, _)| !k.starts_with("$aws-gg-"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let id = upload.upload_id().unwrap_or_default().to_owned();
        match upload.next() {
            S3Step::Done => {
                self.clear_state(cx);
                self.report(
                    cx,
                    Status::Success,
                    format!(
                        "uploaded {} ({} bytes) to s3://{}/{key}",
                        file.path.display(),
                        file.size,
                        task.bucket
                    ),
                );
                self.settle(RecordOutcome::Delivered)
            }
            S3Step::PutObject => match self.body.take() {
                None => self.io(
                    Pending::ReadBody,
                    Io::ReadFile {
                        path: file.path.clone(),
                        offset: 0,
                        len: file.size,
                    },
                ),
                Some((body, md5)) => {
                    self.body = Some((body.clone(), md5));
                    self.result.bytes += body.len() as u64;
                    self.call(cx, Pending::Put, |ep| {
                        s3::put_object(ep, &task.bucket, &key, body, &metadata)
                    })
                }
            },
            S3Step::Create => self.call(cx, Pending::Create, |ep| {
                s3::create_multipart(ep, &task.bucket, &key, &metadata)
            }),
            S3Step::UploadPart {
                number,
                offset,
                len,
            } => match self.body.take() {
                None => self.io(
                    Pending::ReadBody,
                    Io::ReadFile {
                        path: file.path.clone(),
                        offset,
                        len,
                    },
                ),
                Some((body, md5)) => {
                    self.body = Some((body.clone(), md5));
                    self.result.bytes += body.len() as u64;
                    self.call(cx, Pending::Part(number), |ep| {
                        s3::upload_part(ep, &task.bucket, &key, &id, number, body)
                    })
                }
            },
            S3Step::Complete(parts) => self.call(cx, Pending::Complete, |ep| {
                s3::complete_multipart(ep, &task.bucket, &key, &id, &parts)
            }),
        }
    }

    fn io(&mut self, pending: Pending, io: Io) -> Step {
        self.pending = Some(pending);
        Step::Io(io)
    }

    fn call(
        &mut self,
        cx: &mut Cx<'_>,
        pending: Pending,
        build: impl FnOnce(&Endpoint) -> s3::Built,
    ) -> Step {
        let Some((region, endpoint)) = &self.target else {
            return self.stop(cx, super::blocked(ExportError::NoRegion));
        };
        match build(endpoint) {
            Ok(request) => {
                if self.attempt > 1 {
                    cx.events.push(super::SendEvent::Retried);
                }
                let target = Target::Aws {
                    service: Service::S3,
                    region: region.clone(),
                };
                let call = Call::new(target, request, cx.config);
                self.io(pending, Io::Call(Box::new(call)))
            }
            // User metadata that cannot be a header, mostly: the task fails.
            Err(e) => {
                self.body = None;
                match pending {
                    Pending::AbortStale => {
                        self.stale = None;
                        self.clear_state(cx);
                        self.step_inner(cx)
                    }
                    Pending::AbortFailed => {
                        self.upload = None;
                        self.step_inner(cx)
                    }
                    _ => self.fail(cx, format!("cannot build the request: {e}")),
                }
            }
        }
    }

    pub(crate) fn handle(&mut self, cx: &mut Cx<'_>, _: &[Record], result: OpResult) {
        let Some(pending) = self.pending.take() else {
            return;
        };
        match (pending, result) {
            (Pending::Stat, OpResult::Stat(r)) => self.on_stat(cx, r),
            (Pending::LoadState, OpResult::UploadState(r)) => self.on_state(r),
            (Pending::ReadBody, OpResult::File(r)) => match r {
                Ok(bytes) => {
                    let md5 = hex(&Md5::digest(&bytes));
                    self.body = Some((bytes, md5));
                }
                Err(e) => self.failing_now(cx, format!("cannot read {}: {e}", self.file_name())),
            },
            (p, OpResult::Call(r)) => self.on_call(cx, p, r),
            (_, other) => {
                let (class, error) = super::http::unreachable_result(&other);
                self.retry_or_stop(cx, Failure::new(class, error));
            }
        }
    }

    fn file_name(&self) -> String {
        self.file
            .as_ref()
            .map_or_else(String::new, |f| f.path.display().to_string())
    }

    fn on_stat(&mut self, cx: &mut Cx<'_>, r: Result<FileInfo, classify::IoFailure>) {
        let path = self
            .task
            .as_ref()
            .and_then(|t| file_path(&t.input_url).ok())
            .unwrap_or_default();
        let why = match r {
            Err(e) => format!("cannot read {}: {e}", path.display()),
            Ok(info) => {
                let allowed = cx
                    .config
                    .s3_allowed_dirs
                    .as_ref()
                    .is_none_or(|dirs| dirs.iter().any(|d| info.path.starts_with(d)));
                if !allowed {
                    format!(
                        "{} is outside the folders S3 tasks may read (--s3-allowed-dir)",
                        info.path.display()
                    )
                } else if !info.is_file {
                    format!("{} is not a regular file", info.path.display())
                } else {
                    self.file = Some(info);
                    return;
                }
            }
        };
        self.failing_now(cx, why);
    }

    /// Fails the task at the next step (so the failure's status and abort go out in order).
    fn failing_now(&mut self, _: &mut Cx<'_>, why: String) {
        self.failing = Some(why);
    }

    fn on_state(&mut self, r: Result<Option<Vec<u8>>, classify::IoFailure>) {
        self.state_checked = true;
        let saved: Option<ResumeState> = match r {
            Ok(Some(bytes)) => serde_json::from_slice(&bytes).ok(),
            _ => None,
        };
        let (Some(saved), Some(task), Some(file), Some(upload)) =
            (saved, &self.task, &self.file, &self.upload)
        else {
            return;
        };
        let multipart = !matches!(upload.plan(), sm_s3plan::Plan::Single);
        if saved.seq == self.seq as i64
            && saved.bucket == task.bucket
            && saved.size == file.size
            && saved.mtime_ns == file.mtime_ns
            && multipart
        {
            self.resuming = Some((saved, 0, Vec::new()));
        } else {
            // Another task's upload, or the file changed: abort it.
            self.stale = Some(saved);
        }
    }

    fn on_call(
        &mut self,
        cx: &mut Cx<'_>,
        p: Pending,
        r: Result<crate::api::Answer, classify::TransportError>,
    ) {
        let answer = match r {
            Err(e) => {
                let f = Failure::new(
                    classify::transport(&e),
                    ExportError::Transport {
                        target: "S3".into(),
                        error: e,
                    },
                );
                return self.on_failure(cx, p, f);
            }
            Ok(a) => a,
        };
        if let Some(e) = s3::error_of(answer.status, &answer.body) {
            let f = Failure::new(
                classify::s3_call(&e),
                ExportError::Aws {
                    service: "S3",
                    error: e,
                },
            );
            return self.on_failure(cx, p, f);
        }
        self.attempt = 1;
        match p {
            Pending::ListParts => self.on_listed(cx, &answer.body),
            Pending::AbortStale => {
                self.stale = None;
                self.clear_state(cx);
            }
            Pending::AbortFailed => self.upload = None,
            Pending::Put | Pending::Part(_) => {
                let md5 = self.body.take().map(|(_, m)| m).unwrap_or_default();
                match check_etag(answer.etag.as_deref().unwrap_or(""), &md5) {
                    Ok(etag) => match (p, &mut self.upload) {
                        (Pending::Part(n), Some(u)) => u.part_done(n, etag),
                        (_, Some(u)) => u.completed(),
                        _ => {}
                    },
                    Err(why) => {
                        let f = Failure::new(Class::Transient, ExportError::S3Task(why));
                        self.retry_or_stop(cx, f);
                    }
                }
            }
            Pending::Create => match s3::parse_upload_id(&answer.body) {
                Some(id) => self.on_created(cx, id),
                None => {
                    let why = "CreateMultipartUpload answered no UploadId".to_owned();
                    self.retry_or_stop(
                        cx,
                        Failure::new(Class::Transient, ExportError::S3Task(why)),
                    );
                }
            },
            Pending::Complete => {
                if let Some(u) = &mut self.upload {
                    u.completed();
                }
            }
            Pending::Stat | Pending::LoadState | Pending::ReadBody => {}
        }
    }

    fn on_created(&mut self, cx: &mut Cx<'_>, id: String) {
        if let (Some(task), Some(file), Some(key)) = (&self.task, &self.file, &self.key) {
            let state = ResumeState {
                seq: self.seq as i64,
                upload_id: id.clone(),
                bucket: task.bucket.clone(),
                key: key.clone(),
                size: file.size,
                mtime_ns: file.mtime_ns,
            };
            if let Ok(bytes) = serde_json::to_vec(&state) {
                cx.out.push_back(crate::api::Action::SaveUploadState {
                    stream: cx.stream_id,
                    export: cx.export.to_owned(),
                    state: Some(bytes),
                });
            }
        }
        if let Some(u) = &mut self.upload {
            u.created(id);
        }
    }

    fn on_listed(&mut self, cx: &mut Cx<'_>, body: &[u8]) {
        let Some((state, marker, mut listed)) = self.resuming.take() else {
            return;
        };
        let (parts, next) = s3::parse_list_parts(body);
        listed.extend(parts);
        if let Some(n) = next.filter(|&n| n > marker) {
            self.resuming = Some((state, n, listed));
            return;
        }
        let kept = self
            .upload
            .as_mut()
            .map_or(0, |u| u.resume(state.upload_id.clone(), &listed));
        let size = self.file.as_ref().map_or(0, |f| f.size);
        self.report(
            cx,
            Status::InProgress,
            format!(
                "resuming the upload of {} to s3://{}/{}: {kept} of {size} bytes already uploaded",
                self.file_name(),
                state.bucket,
                state.key
            ),
        );
        self.key = Some(state.key);
    }

    fn on_failure(&mut self, cx: &mut Cx<'_>, p: Pending, f: Failure) {
        match (p, f.class) {
            // Listing failed for good: the upload is gone (aborted, expired): start over.
            (Pending::ListParts, Class::Refused) => {
                self.resuming = None;
                self.upload = None;
                self.clear_state(cx);
            }
            // An abort that cannot be done is worth a warning, not the task (a failing task's
            // abort is tried once: the task's failure is what matters).
            (Pending::AbortStale, Class::Refused) | (Pending::AbortFailed, _) => {
                let id = match p {
                    Pending::AbortStale => self.stale.take().map(|s| s.upload_id),
                    _ => self
                        .upload
                        .take()
                        .and_then(|u| u.upload_id().map(str::to_owned)),
                };
                self.report(
                    cx,
                    Status::Warning,
                    format!(
                        "could not abort the multipart upload {} : {}; its parts may be billed until it expires",
                        id.unwrap_or_default(),
                        f.error
                    ),
                );
                if p == Pending::AbortStale {
                    self.clear_state(cx);
                }
            }
            (_, Class::Refused) => self.failing_now(cx, f.error.to_string()),
            _ => self.retry_or_stop(cx, f),
        }
    }

    /// Retries the same call after a quick pause, or stops the attempt.
    fn retry_or_stop(&mut self, cx: &mut Cx<'_>, f: Failure) {
        cx.events.push(super::SendEvent::Failed(f.clone()));
        if f.class.retry_within_send() {
            let draw = cx.rng.next_u64();
            if let Some(d) =
                cx.config
                    .retry
                    .quick_delay_ms(self.attempt + 1, f.class == Class::Throttled, draw)
            {
                self.attempt += 1;
                self.sleep_until = Some(cx.now.saturating_add(d as i64));
                return;
            }
        }
        self.attempt = 1;
        self.result.stopped = Some(f);
        self.finished = true;
    }

    /// The export or its stream went away: stop, abort the multipart upload, report Canceled.
    pub(crate) fn cancel(&mut self, cx: &mut Cx<'_>, records: &[Record]) -> Option<Call> {
        let m = records.get(self.index)?;
        if self.task.is_none() {
            self.task = parse_task(&m.payload).ok();
        }
        self.report(
            cx,
            Status::Canceled,
            "canceled: the export or its stream was removed before the upload finished".into(),
        );
        let (region, endpoint) = self.target.clone()?;
        let id = self.upload.as_ref()?.upload_id()?.to_owned();
        let (bucket, key) = (self.task.as_ref()?.bucket.clone(), self.key.clone()?);
        let request = s3::abort_multipart(&endpoint, &bucket, &key, &id).ok()?;
        let target = Target::Aws {
            service: Service::S3,
            region,
        };
        Some(Call::new(target, request, cx.config))
    }
}
