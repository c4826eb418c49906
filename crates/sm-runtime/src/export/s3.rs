//! The S3 task executor: each message is a JSON `S3ExportTaskDefinition`; tasks run one at a
//! time per export, in the order appended. A file at most `sizeThresholdForMultipartUploadBytes`
//! (and at most [`MAX_SINGLE_PUT`], to bound memory) goes up in one `PutObject`; a larger one as
//! a multipart upload, read from disk one part at a time. An interrupted multipart upload is
//! resumed after a restart from the parts S3 already has (ListParts), when the file is
//! unchanged. Progress and outcome go to the status stream, if one is configured.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};
use sm_aws::endpoint::Endpoint;
use sm_aws::{s3, AwsError, CallOutcome, RecordOutcome, Service};
use sm_model::s3::{
    level_passes, parse_task, EventType, S3ExportTaskDefinition, Status, StatusContext,
    StatusMessage,
};
use sm_model::StatusLevel;
use sm_s3plan::{Step, Upload};
use tracing::{info, warn};

use super::SendResult;
use crate::aws::Aws;
use crate::clock;
use crate::store::{OwnedMessage, Store};

/// Largest file sent in one `PutObject` whatever the threshold says: bigger files go up in
/// parts so that memory stays bounded by the part size.
pub const MAX_SINGLE_PUT: u64 = 64 * 1024 * 1024;

/// Settings of an S3 task executor export.
pub struct S3Destination {
    /// Shared AWS context.
    pub aws: Arc<Aws>,
    /// The store (status stream appends, stream TTL, resume state folder).
    pub store: Arc<Store>,
    /// The export's identifier.
    pub export: String,
    /// `sizeThresholdForMultipartUploadBytes`.
    pub threshold: u64,
    /// Minimum part size (`STREAM_MANAGER_EXPORTER_S3_DESTINATION_MULTIPART_UPLOAD_MIN_PART_SIZE_BYTES`).
    pub min_part: u64,
    /// Status stream and level.
    pub status: Option<(String, StatusLevel)>,
    /// Folders `inputUrl`s must resolve into (after symlinks and `..`); `None` = anywhere.
    pub allowed_dirs: Option<Vec<PathBuf>>,
    /// Set when the export or its stream is removed: the task in progress stops.
    pub cancelled: AtomicBool,
}

/// What a resumed upload needs to know, kept beside the stream's segments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResumeState {
    seq: i64,
    upload_id: String,
    bucket: String,
    key: String,
    size: u64,
    mtime_ns: i64,
}

enum Outcome {
    Done,
    Retry(String, bool),
    Fail(String),
}

/// The local path of a `file:` URL.
pub fn file_path(url: &str) -> Result<PathBuf, String> {
    let rest = url.strip_prefix("file:").ok_or_else(|| {
        format!("inputUrl {url:?} is not a file: URL; only local files can be uploaded")
    })?;
    let path = if let Some(r) = rest.strip_prefix("//") {
        // file://host/path: only an empty host or localhost means this machine.
        let (host, p) = r.split_at(r.find('/').unwrap_or(r.len()));
        if !host.is_empty() && host != "localhost" {
            return Err(format!("inputUrl {url:?} names another host ({host})"));
        }
        p
    } else {
        rest
    };
    if !path.starts_with('/') {
        return Err(format!("inputUrl {url:?} must hold an absolute path"));
    }
    let mut decoded = Vec::with_capacity(path.len());
    let b = path.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(v) = hex {
                decoded.push(v);
                i += 3;
                continue;
            }
        }
        decoded.push(b[i]);
        i += 1;
    }
    use std::os::unix::ffi::OsStringExt;
    Ok(PathBuf::from(std::ffi::OsString::from_vec(decoded)))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl S3Destination {
    fn load_state(&self, stream: &str) -> Option<ResumeState> {
        let bytes = self.store.get(stream).ok()?.upload_state(&self.export)?;
        serde_json::from_slice(&bytes).ok()
    }

    fn save_state(&self, stream: &str, s: &ResumeState) {
        let bytes = serde_json::to_vec(s).unwrap_or_default();
        let saved = self
            .store
            .get(stream)
            .and_then(|st| st.set_upload_state(&self.export, &bytes));
        if let Err(e) = saved {
            warn!(stream, export = %self.export, "could not save the upload's resume state: {e}");
        }
    }

    fn clear_state(&self, stream: &str) {
        if let Ok(s) = self.store.get(stream) {
            let _ = s.clear_upload_state(&self.export);
        }
    }

    /// Appends a status message, if the status stream wants this level.
    async fn report(
        &self,
        stream: &str,
        seq: i64,
        task: Option<&S3ExportTaskDefinition>,
        status: Status,
        message: String,
    ) {
        let level = status.level();
        match status {
            Status::Failure | Status::Canceled => {
                warn!(stream, export = %self.export, seq, "S3 task: {message}")
            }
            Status::Warning => warn!(stream, export = %self.export, seq, "S3 task: {message}"),
            _ => info!(stream, export = %self.export, seq, "S3 task: {message}"),
        }
        let Some((status_stream, configured)) = &self.status else {
            return;
        };
        if !level_passes(level, *configured) {
            return;
        }
        let m = StatusMessage {
            event_type: EventType::S3Task,
            status_level: level,
            status,
            status_context: StatusContext {
                s3_export_task_definition: task.cloned(),
                export_identifier: Some(self.export.clone()),
                stream_name: Some(stream.to_owned()),
                sequence_number: Some(seq),
            },
            message,
            timestamp_epoch_ms: clock::now_ms(),
        };
        let Ok(json) = serde_json::to_vec(&m) else {
            return;
        };
        match self.store.get(status_stream) {
            Ok(s) => {
                if let Err(e) = s.append_async(&json).await {
                    warn!(status_stream = %status_stream, "could not write a status message: {e}");
                }
            }
            Err(_) => {
                warn!(status_stream = %status_stream, "the status stream does not exist; create it before the export")
            }
        }
    }

    async fn call(
        &self,
        region: &str,
        req: http::Request<Vec<u8>>,
    ) -> Result<crate::aws::Answer, Outcome> {
        let answer = self
            .aws
            .call(Service::S3, region, req)
            .await
            .map_err(|o| match o {
                CallOutcome::Retry(e) => Outcome::Retry(e.to_string(), false),
                CallOutcome::Fail(e) => Outcome::Retry(e.to_string(), true),
                CallOutcome::Records(_) => Outcome::Retry("unexpected answer".into(), false),
            })?;
        if let Some((e, retry)) = s3::error_of(answer.status, &answer.body) {
            return Err(classify(e, retry));
        }
        Ok(answer)
    }

    /// The export or its stream was removed: stop the task in progress (its multipart upload
    /// is aborted) and report it Canceled.
    pub async fn cancel(&self, stream: &str, m: &OwnedMessage) {
        self.cancelled.store(true, Ordering::SeqCst);
        let task = parse_task(&m.payload).ok();
        self.report(
            stream,
            m.seq,
            task.as_ref(),
            Status::Canceled,
            "canceled: the export or its stream was removed before the upload finished".into(),
        )
        .await;
    }

    fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    /// Sends the task messages (one per call: the export's batch size is 1).
    pub async fn send(&self, stream: &str, messages: &[&OwnedMessage]) -> SendResult {
        let mut r = SendResult::default();
        for m in messages {
            let outcome = self.run(stream, m, &mut r).await;
            match outcome {
                Outcome::Done => r.outcomes.push(RecordOutcome::Delivered),
                Outcome::Fail(e) => r.outcomes.push(RecordOutcome::Skip(e)),
                Outcome::Retry(e, slow) => {
                    r.whole_error = format!("S3: {e}");
                    r.slow = slow;
                    break;
                }
            }
        }
        r
    }

    async fn run(&self, stream: &str, m: &OwnedMessage, r: &mut SendResult) -> Outcome {
        if self.is_cancelled() {
            return Outcome::Fail("canceled".into());
        }
        let task = match parse_task(&m.payload) {
            Ok(t) => t,
            Err(e) => {
                let msg = format!("invalid task: {e}");
                self.report(stream, m.seq, None, Status::Failure, msg.clone())
                    .await;
                return Outcome::Fail(msg);
            }
        };
        let now = clock::now_ms();
        if let Some(ttl) = self
            .store
            .get(stream)
            .ok()
            .and_then(|s| s.definition())
            .and_then(|d| d.time_to_live_millis)
        {
            if now.saturating_sub(m.ingest_time) > ttl {
                let msg = format!(
                    "task is older than the stream's time to live ({ttl} ms); not uploaded"
                );
                self.report(stream, m.seq, Some(&task), Status::Canceled, msg.clone())
                    .await;
                return Outcome::Fail(msg);
            }
        }
        match self.upload(stream, m, &task, now, r).await {
            // Canceled is reported by `cancel`.
            Outcome::Fail(msg) if self.is_cancelled() => Outcome::Fail(msg),
            Outcome::Fail(msg) => {
                self.report(stream, m.seq, Some(&task), Status::Failure, msg.clone())
                    .await;
                Outcome::Fail(msg)
            }
            other => other,
        }
    }

    fn open_input(&self, task: &S3ExportTaskDefinition) -> Result<(File, PathBuf), String> {
        let path = file_path(&task.input_url)?;
        let real = std::fs::canonicalize(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if let Some(allowed) = &self.allowed_dirs {
            if !allowed.iter().any(|d| real.starts_with(d)) {
                return Err(format!(
                    "{} is outside the folders S3 tasks may read (--s3-allowed-dir)",
                    real.display()
                ));
            }
        }
        let f = File::open(&real).map_err(|e| format!("cannot read {}: {e}", real.display()))?;
        let md = f
            .metadata()
            .map_err(|e| format!("cannot read {}: {e}", real.display()))?;
        if !md.is_file() {
            return Err(format!("{} is not a regular file", real.display()));
        }
        Ok((f, real))
    }

    async fn upload(
        &self,
        stream: &str,
        m: &OwnedMessage,
        task: &S3ExportTaskDefinition,
        now: i64,
        r: &mut SendResult,
    ) -> Outcome {
        let region = match self.aws.region() {
            Ok(region) => region,
            Err(e) => return Outcome::Retry(e, true),
        };
        let endpoint = self.aws.settings.endpoints.resolve(Service::S3, &region);
        let (file, path) = match self.open_input(task) {
            Ok(x) => x,
            Err(e) => return Outcome::Fail(e),
        };
        let md = match file.metadata() {
            Ok(md) => md,
            Err(e) => return Outcome::Fail(format!("cannot read {}: {e}", path.display())),
        };
        let (size, mtime_ns) = (md.len(), md.mtime() * 1_000_000_000 + md.mtime_nsec());
        let metadata: Vec<(String, String)> = task
            .user_metadata
            .iter()
            .flatten()
            .filter(|(k, _)| !k.starts_with("$aws-gg-"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let threshold = self.threshold.min(MAX_SINGLE_PUT);
        let mut upload = match Upload::new(size, threshold, self.min_part) {
            Ok(u) => u,
            Err(e) => return Outcome::Fail(e.to_string()),
        };
        // A resumable multipart upload of this very task and file?
        let resumed = self.load_state(stream).filter(|s| {
            s.seq == m.seq
                && s.bucket == task.bucket
                && s.size == size
                && s.mtime_ns == mtime_ns
                && !matches!(upload.plan(), sm_s3plan::Plan::Single)
        });
        let key = match &resumed {
            Some(s) => s.key.clone(),
            None => {
                if let Some(old) = self.load_state(stream) {
                    // A stale upload (other task, or the file changed): abort it.
                    self.abort(
                        &region,
                        &endpoint,
                        &old.bucket,
                        &old.key,
                        &old.upload_id,
                        stream,
                        m.seq,
                        Some(task),
                    )
                    .await;
                    self.clear_state(stream);
                }
                if let Err(e) = sm_keytemplate::validate_key(&task.key) {
                    return Outcome::Fail(format!("invalid key {:?}: {e}", task.key));
                }
                match sm_keytemplate::render(&task.key, now) {
                    Ok(k) => k,
                    Err(e) => return Outcome::Fail(format!("invalid key {:?}: {e}", task.key)),
                }
            }
        };
        if let Some(s) = &resumed {
            let mut listed = Vec::new();
            let mut marker = 0;
            loop {
                let req = s3::list_parts(&endpoint, &s.bucket, &s.key, &s.upload_id, marker);
                match self.call(&region, req).await {
                    Ok(a) => {
                        let (parts, next) = s3::parse_list_parts(&a.body);
                        listed.extend(parts);
                        match next {
                            Some(n) if n > marker => marker = n,
                            _ => break,
                        }
                    }
                    Err(Outcome::Retry(e, false)) => return Outcome::Retry(e, false),
                    Err(_) => {
                        // The upload is gone (aborted, expired): start over.
                        listed.clear();
                        self.clear_state(stream);
                        break;
                    }
                }
            }
            if self.load_state(stream).is_some() {
                let kept = upload.resume(s.upload_id.clone(), &listed);
                self.report(stream, m.seq, Some(task), Status::InProgress, format!(
                    "resuming the upload of {} to s3://{}/{key}: {kept} of {size} bytes already uploaded",
                    path.display(), task.bucket
                )).await;
            }
        } else {
            self.report(
                stream,
                m.seq,
                Some(task),
                Status::InProgress,
                format!(
                    "uploading {} ({size} bytes) to s3://{}/{key}",
                    path.display(),
                    task.bucket
                ),
            )
            .await;
        }
        loop {
            if self.is_cancelled() {
                let why = "canceled: the export or its stream was removed".to_string();
                return if upload.upload_id().is_some() {
                    self.fail_multipart(&region, &endpoint, task, &key, &upload, stream, m.seq, why)
                        .await
                } else {
                    Outcome::Fail(why)
                };
            }
            let step = upload.next();
            let result = match &step {
                Step::Done => break,
                Step::PutObject => {
                    let mut body = vec![0u8; size as usize];
                    if let Err(e) = file.read_exact_at(&mut body, 0) {
                        return Outcome::Fail(format!("cannot read {}: {e}", path.display()));
                    }
                    r.bytes += size;
                    let md5 = hex(&Md5::digest(&body));
                    let req = s3::put_object(&endpoint, &task.bucket, &key, body, &metadata);
                    self.call(&region, req)
                        .await
                        .and_then(|a| check_etag(&a, &md5))
                        .map(|_| upload.completed())
                }
                Step::Create => {
                    let req = s3::create_multipart(&endpoint, &task.bucket, &key, &metadata);
                    match self.call(&region, req).await {
                        Ok(a) => match s3::parse_upload_id(&a.body) {
                            Some(id) => {
                                self.save_state(
                                    stream,
                                    &ResumeState {
                                        seq: m.seq,
                                        upload_id: id.clone(),
                                        bucket: task.bucket.clone(),
                                        key: key.clone(),
                                        size,
                                        mtime_ns,
                                    },
                                );
                                upload.created(id);
                                Ok(())
                            }
                            None => Err(Outcome::Retry(
                                "CreateMultipartUpload answered no UploadId".into(),
                                false,
                            )),
                        },
                        Err(e) => Err(e),
                    }
                }
                Step::UploadPart {
                    number,
                    offset,
                    len,
                } => {
                    let mut body = vec![0u8; *len as usize];
                    if let Err(e) = file.read_exact_at(&mut body, *offset) {
                        return self
                            .fail_multipart(
                                &region,
                                &endpoint,
                                task,
                                &key,
                                &upload,
                                stream,
                                m.seq,
                                format!("cannot read {}: {e}", path.display()),
                            )
                            .await;
                    }
                    r.bytes += len;
                    let md5 = hex(&Md5::digest(&body));
                    let id = upload.upload_id().unwrap_or_default().to_owned();
                    let req = s3::upload_part(&endpoint, &task.bucket, &key, &id, *number, body);
                    match self
                        .call(&region, req)
                        .await
                        .and_then(|a| check_etag(&a, &md5))
                    {
                        Ok(etag) => {
                            upload.part_done(*number, etag);
                            Ok(())
                        }
                        Err(e) => Err(e),
                    }
                }
                Step::Complete(parts) => {
                    let id = upload.upload_id().unwrap_or_default().to_owned();
                    let req = s3::complete_multipart(&endpoint, &task.bucket, &key, &id, parts);
                    self.call(&region, req).await.map(|_| upload.completed())
                }
            };
            match result {
                Ok(()) => {}
                Err(Outcome::Fail(e)) => {
                    return if upload.upload_id().is_some() {
                        self.fail_multipart(
                            &region, &endpoint, task, &key, &upload, stream, m.seq, e,
                        )
                        .await
                    } else {
                        Outcome::Fail(e)
                    };
                }
                Err(other) => return other,
            }
        }
        self.clear_state(stream);
        self.report(
            stream,
            m.seq,
            Some(task),
            Status::Success,
            format!(
                "uploaded {} ({size} bytes) to s3://{}/{key}",
                path.display(),
                task.bucket
            ),
        )
        .await;
        Outcome::Done
    }

    #[allow(clippy::too_many_arguments)]
    async fn fail_multipart(
        &self,
        region: &str,
        endpoint: &Endpoint,
        task: &S3ExportTaskDefinition,
        key: &str,
        upload: &Upload,
        stream: &str,
        seq: i64,
        why: String,
    ) -> Outcome {
        if let Some(id) = upload.upload_id() {
            self.abort(
                region,
                endpoint,
                &task.bucket,
                key,
                id,
                stream,
                seq,
                Some(task),
            )
            .await;
        }
        self.clear_state(stream);
        Outcome::Fail(why)
    }

    #[allow(clippy::too_many_arguments)]
    async fn abort(
        &self,
        region: &str,
        endpoint: &Endpoint,
        bucket: &str,
        key: &str,
        upload_id: &str,
        stream: &str,
        seq: i64,
        task: Option<&S3ExportTaskDefinition>,
    ) {
        let req = s3::abort_multipart(endpoint, bucket, key, upload_id);
        if let Err(Outcome::Retry(e, _) | Outcome::Fail(e)) = self.call(region, req).await {
            self.report(stream, seq, task, Status::Warning, format!(
                "could not abort the multipart upload {upload_id} of s3://{bucket}/{key}: {e}; its parts may be billed until it expires"
            )).await;
        }
    }
}

fn classify(e: AwsError, retry: bool) -> Outcome {
    if retry {
        Outcome::Retry(e.to_string(), false)
    } else {
        Outcome::Fail(e.to_string())
    }
}

/// The part's ETag, checked against the MD5 of what was sent when it is a plain MD5.
fn check_etag(a: &crate::aws::Answer, md5: &str) -> Result<String, Outcome> {
    let etag = a.etag.clone().unwrap_or_default();
    let bare = etag.trim_matches('"');
    if bare.len() == 32
        && bare.bytes().all(|b| b.is_ascii_hexdigit())
        && !bare.eq_ignore_ascii_case(md5)
    {
        return Err(Outcome::Retry(
            format!("ETag {etag} does not match the MD5 {md5} of the bytes sent"),
            false,
        ));
    }
    Ok(etag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_urls() {
        assert_eq!(
            file_path("file:/tmp/a b").unwrap(),
            PathBuf::from("/tmp/a b")
        );
        assert_eq!(file_path("file:///tmp/x").unwrap(), PathBuf::from("/tmp/x"));
        assert_eq!(
            file_path("file://localhost/tmp/x").unwrap(),
            PathBuf::from("/tmp/x")
        );
        assert_eq!(
            file_path("file:/tmp/a%20b").unwrap(),
            PathBuf::from("/tmp/a b")
        );
        assert!(file_path("http://x/y").is_err());
        assert!(file_path("file://evil/etc/passwd").is_err());
        assert!(file_path("file:relative").is_err());
    }
}
