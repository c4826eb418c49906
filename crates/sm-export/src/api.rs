//! What goes into the engine and what comes out of it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use bytes::Bytes;
use sm_aws::{Endpoints, Service};
use sm_model::{ExportKind, ExportProgress, MessageStreamDefinition};

use crate::classify::{IoFailure, TransportError};
use crate::retry::RetryPolicy;

/// A stream as the runtime holds it. A stream deleted and created again under the same name
/// gets a new id, so its exports start over instead of inheriting the old positions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId(pub u64);

/// An IO operation the engine asked for; its result comes back with the same id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OpId(pub u64);

/// The engine's settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Sends in progress at once (`STREAM_MANAGER_EXPORTER_THREAD_POOL_SIZE`).
    pub max_in_flight: usize,
    /// Average bandwidth cap of all exports, bytes per second.
    pub bandwidth_bytes_per_sec: Option<u64>,
    /// When to try again.
    pub retry: RetryPolicy,
    /// Largest batch read for one send, in payload bytes.
    pub max_batch_bytes: u64,
    /// The AWS region, if one is configured.
    pub region: Option<String>,
    /// Endpoints of the AWS services (regional defaults or overrides).
    pub endpoints: Endpoints,
    /// Kinesis size limits.
    pub kinesis_limits: sm_aws::kinesis::Limits,
    /// Smallest multipart part of an S3 upload.
    pub s3_min_part_size: u64,
    /// Folders S3 task files must be in (after resolving symlinks); `None` = anywhere.
    pub s3_allowed_dirs: Option<Vec<PathBuf>>,
    /// Seed of the engine's random numbers (jitter, partition keys).
    pub seed: u64,
    /// Timeout of one request, ms (`--exporter-http-timeout-ms`); see [`Call::timeout_ms`].
    pub request_timeout_ms: u64,
    /// Least time between two `PutRecords` calls to a Kinesis stream whose shard map is
    /// unknown, ms (`STREAM_MANAGER_EXPORTER_KINESIS_INTER_CALL_DELAY_MS`; 0: none).
    pub kinesis_inter_call_delay_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_in_flight: 5,
            bandwidth_bytes_per_sec: None,
            retry: RetryPolicy::default(),
            max_batch_bytes: 16 * 1024 * 1024,
            region: None,
            endpoints: Endpoints::default(),
            kinesis_limits: sm_aws::kinesis::DEFAULT_LIMITS,
            s3_min_part_size: sm_s3plan::MIN_PART_SIZE,
            s3_allowed_dirs: None,
            seed: 0,
            request_timeout_ms: 30_000,
            kinesis_inter_call_delay_ms: 0,
        }
    }
}

/// A stream's definition and the saved progress of its exports, as the store has them.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamDef {
    /// The stream.
    pub id: StreamId,
    /// Its definition.
    pub definition: MessageStreamDefinition,
    /// The saved progress of its exports, by export identifier.
    pub saved: BTreeMap<String, ExportProgress>,
}

/// What a stream holds: sequence numbers `oldest..next`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// The oldest sequence number still stored.
    pub oldest: u64,
    /// The sequence number the next append gets.
    pub next: u64,
}

/// A message read from a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Sequence number.
    pub seq: u64,
    /// Ingest time, ms since the epoch.
    pub ingest_time: i64,
    /// Payload.
    pub payload: Bytes,
}

/// Where a call goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// An HTTP export's URI: send as it is.
    Http,
    /// An AWS service: sign with the current credentials for this region, then send.
    Aws {
        /// The service (its signing name).
        service: Service,
        /// The region to sign for.
        region: String,
    },
}

/// A request to send.
#[derive(Debug, Clone)]
pub struct Call {
    /// Where it goes.
    pub target: Target,
    /// The request (unsigned).
    pub request: http::Request<Vec<u8>>,
    /// How long it may take in all, ms: the configured request timeout, longer for a body
    /// that a slow link needs longer to carry.
    pub timeout_ms: u64,
}

/// The slowest uplink a request's timeout allows for: a body takes at most its size at this
/// rate (64 kbit/s) on top of nothing else, so that a batch of 500 records of 1 kB (about 700 kB
/// of JSON) is not cut off after 30 s on a link of 128 kbit/s, and sent again forever.
pub const SLOW_LINK_BYTES_PER_SEC: u64 = 8 * 1024;

impl Call {
    /// A call with its timeout (see [`Call::timeout_ms`]).
    pub fn new(target: Target, request: http::Request<Vec<u8>>, config: &Config) -> Self {
        let carry = request.body().len() as u64 * 1000 / SLOW_LINK_BYTES_PER_SEC;
        Self {
            target,
            timeout_ms: config.request_timeout_ms.max(carry),
            request,
        }
    }
}

/// An answer to a call.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// The `x-amzn-ErrorType` header, if any.
    pub error_type: Option<String>,
    /// The `ETag` header, if any.
    pub etag: Option<String>,
    /// The body, as much of it as the runtime reads (AWS calls; HTTP exports need none).
    pub body: Vec<u8>,
}

/// What a task's input file is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// The path with symlinks and `..` resolved.
    pub path: PathBuf,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, ns since the epoch.
    pub mtime_ns: i64,
    /// Whether it is a regular file.
    pub is_file: bool,
}

pub use sm_model::Persist;

/// Something for the runtime to do.
#[derive(Debug, Clone)]
pub enum Action {
    /// Read up to `max_messages` messages (and about `max_bytes` of payload, at least one
    /// message) from `from` (clamped to the oldest); answer [`OpResult::Read`].
    Read {
        /// The operation.
        op: OpId,
        /// The stream.
        stream: StreamId,
        /// First sequence number wanted.
        from: u64,
        /// At most this many messages.
        max_messages: u64,
        /// About this many payload bytes at most.
        max_bytes: u64,
    },
    /// Send a request; answer [`OpResult::Call`].
    Call {
        /// The operation.
        op: OpId,
        /// The request.
        call: Call,
    },
    /// Look at a file (resolve it, `stat` it); answer [`OpResult::Stat`].
    Stat {
        /// The operation.
        op: OpId,
        /// The path as the task names it.
        path: PathBuf,
    },
    /// Read `len` bytes at `offset` of a file; answer [`OpResult::File`].
    ReadFile {
        /// The operation.
        op: OpId,
        /// The resolved path.
        path: PathBuf,
        /// Where to start.
        offset: u64,
        /// How many bytes (all of them must be there).
        len: u64,
    },
    /// Load an S3 export's saved upload state; answer [`OpResult::UploadState`].
    LoadUploadState {
        /// The operation.
        op: OpId,
        /// The stream.
        stream: StreamId,
        /// The export.
        export: String,
    },
    /// Save (`Some`) or remove (`None`) an S3 export's upload state, before the next action.
    SaveUploadState {
        /// The stream.
        stream: StreamId,
        /// The export.
        export: String,
        /// The state's bytes.
        state: Option<Vec<u8>>,
    },
    /// Publish an export's progress (describe) and save its checkpoint as durably as asked,
    /// before the next action.
    SaveProgress {
        /// The stream.
        stream: StreamId,
        /// The export's destination kind (telemetry counts uploaded bytes per kind).
        kind: ExportKind,
        /// The progress.
        progress: ExportProgress,
        /// How durably.
        persist: Persist,
        /// Payload bytes delivered since the previous save.
        delivered_bytes: u64,
    },
    /// Delete an export's checkpoint (the export was removed).
    RemoveProgress {
        /// The stream.
        stream: StreamId,
        /// The export.
        export: String,
    },
    /// Append a status message to a status stream (in the order given).
    AppendStatus {
        /// The status stream's name.
        stream: String,
        /// The JSON `StatusMessage`.
        payload: Vec<u8>,
    },
}

/// The result of an operation.
#[derive(Debug, Clone)]
pub enum OpResult {
    /// Messages read (possibly none: nothing there yet, or evicted up to the end).
    Read(Result<Vec<Record>, IoFailure>),
    /// A call's answer, or why none came.
    Call(Result<Answer, TransportError>),
    /// A file's information.
    Stat(Result<FileInfo, IoFailure>),
    /// A file's bytes.
    File(Result<Vec<u8>, IoFailure>),
    /// An upload state (`None`: none saved).
    UploadState(Result<Option<Vec<u8>>, IoFailure>),
}
