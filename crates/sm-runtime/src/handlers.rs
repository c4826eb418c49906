//! Serves one decoded request: validation, the store operation, the response frame.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use sm_model::{
    validate, AppendMessageRequest, DescribeMessageStreamResponse, ListStreamsResponse, MessageRef,
    MessageStreamInfo, NamedRequest, ReadAsk, ReadMessagesRequest, ReadMessagesResponse,
    ResponseStatusCode, StreamDefinitionRequest,
};
use sm_wire::{encode_append_success, encode_frame, encode_status, Op, Request};
use tracing::debug;

use crate::clock;
use crate::store::{ReadOutcome, Store, StoreError, SOFT_READ_BYTES};
use crate::telemetry::Counters;

/// The longest a long-poll read waits, whatever it asks (the SDK caps it at its own timeout).
const MAX_READ_WAIT: Duration = Duration::from_secs(24 * 3600);

/// Limits that shape responses.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest frame this server sends or accepts.
    pub max_frame: u32,
}

/// Serves `req` and returns the encoded response frame.
pub async fn handle(
    store: &Store,
    telemetry: &Arc<Counters>,
    limits: Limits,
    req: Request,
) -> BytesMut {
    let op = req.op();
    let id = req.request_id().map(str::to_owned);
    let mut out = BytesMut::new();
    let result = match validate::request_id(id.as_deref()) {
        Err(e) => Err(StoreError::from(e)),
        Ok(_) => match req {
            Request::CreateMessageStream(r) => create(store, r).map(|()| None),
            Request::UpdateMessageStream(r) => update(store, r).map(|()| None),
            Request::DeleteMessageStream(r) => delete(store, r).map(|()| None),
            Request::DescribeMessageStream(r) => {
                describe(store, telemetry, &r, id.clone(), &mut out)
            }
            Request::ListStreams(_) => {
                let resp = ListStreamsResponse {
                    request_id: id.clone(),
                    status: ResponseStatusCode::Success,
                    error_message: None,
                    streams: store.list(),
                };
                Ok(Some(encode_frame(op.response(), &resp, &mut out)))
            }
            Request::AppendMessage(r) => return append_one(store, telemetry, r).await,
            Request::ReadMessages(r) => read(store, limits, r, id.clone(), &mut out).await,
        },
    };
    let (rop, rid) = (op.response(), id.as_deref());
    let fail = |out: &mut BytesMut, status, msg: &str| {
        out.clear();
        encode_status(rop, rid, status, Some(msg), out);
    };
    match result {
        Ok(None) => encode_status(rop, rid, ResponseStatusCode::Success, None, &mut out),
        Ok(Some(Ok(len))) if len <= limits.max_frame as usize => {}
        Ok(Some(Ok(len))) => {
            let max = limits.max_frame;
            let msg = format!("response of {len} bytes exceeds the frame limit of {max} bytes");
            fail(&mut out, ResponseStatusCode::ResponsePayloadTooLarge, &msg);
        }
        Ok(Some(Err(e))) => {
            let msg = format!("could not encode the response: {e}");
            fail(&mut out, ResponseStatusCode::UnknownFailure, &msg);
        }
        Err(e) => {
            debug!(?op, request_id = ?id, status = ?e.status(), "request failed: {e}");
            fail(&mut out, e.status(), &e.to_string());
        }
    }
    out
}

type Encoded = Option<Result<usize, sm_wire::EncodeError>>;

/// The request's definition (the store validates it).
fn definition(r: StreamDefinitionRequest) -> Result<sm_model::MessageStreamDefinition, StoreError> {
    Ok(r.definition
        .ok_or_else(|| validate::ValidationError::new("definition is required"))?)
}

fn create(store: &Store, r: StreamDefinitionRequest) -> Result<(), StoreError> {
    store.create(definition(r)?)
}

fn update(store: &Store, r: StreamDefinitionRequest) -> Result<(), StoreError> {
    store.update(definition(r)?)
}

fn valid_name<'a>(field: &str, v: Option<&'a str>) -> Result<&'a str, StoreError> {
    let name = validate::required(field, v)?;
    validate::name(field, name)?;
    Ok(name)
}

fn stream_name(field: &str, v: Option<&str>) -> Result<String, StoreError> {
    valid_name(field, v).map(str::to_owned)
}

fn delete(store: &Store, r: NamedRequest) -> Result<(), StoreError> {
    store.delete(&stream_name("name", r.name.as_deref())?)
}

fn describe(
    store: &Store,
    telemetry: &Counters,
    r: &NamedRequest,
    id: Option<String>,
    out: &mut BytesMut,
) -> Result<Encoded, StoreError> {
    let s = store.get(&stream_name("name", r.name.as_deref())?)?;
    let resp = DescribeMessageStreamResponse {
        request_id: id,
        status: ResponseStatusCode::Success,
        error_message: None,
        message_stream_info: Some(MessageStreamInfo {
            telemetry: Some(telemetry.snapshot()),
            ..s.info()?
        }),
    };
    Ok(Some(encode_frame(
        Op::DescribeMessageStreamResponse,
        &resp,
        out,
    )))
}

/// Where the answers of appends whose fsync ran on the store's sync thread go (called there).
pub type Deferred = Arc<dyn Fn(BytesMut) + Send + Sync>;

/// Serves appends received together on one connection (consecutive requests of one read):
/// each is validated, consecutive valid ones to the same stream are written with one
/// [`crate::store::Stream::write_batch`] and settled with
/// [`crate::store::Stream::settle_or_defer`] (`quiet`: this thread has nothing else to serve).
/// Answers settled here are returned in one buffer, the others go to `deferred` (any order:
/// each carries its `requestId`).
pub fn append_batch(
    store: &Store,
    telemetry: &Arc<Counters>,
    reqs: Vec<AppendMessageRequest>,
    quiet: bool,
    deferred: &Deferred,
) -> BytesMut {
    let mut out = BytesMut::new();
    let mut group: Vec<(Option<String>, Bytes)> = Vec::new();
    let mut group_name = String::new();
    let settle = |name: &str, group, out: &mut BytesMut| {
        append_group(store, telemetry, name, group, quiet, deferred, out);
    };
    for r in reqs {
        let valid = || -> Result<(), StoreError> {
            validate::request_id(r.request_id.as_deref())?;
            valid_name("name", r.name.as_deref())?;
            validate::payload(r.payload.as_deref())?;
            Ok(())
        };
        match valid() {
            Err(e) => answer_append(r.request_id.as_deref(), Err(e), &mut out),
            Ok(()) => {
                let name = r.name.unwrap_or_default();
                if name != group_name && !group.is_empty() {
                    settle(&group_name, std::mem::take(&mut group), &mut out);
                }
                group_name = name;
                group.push((r.request_id, r.payload.unwrap_or_default()));
            }
        }
    }
    if !group.is_empty() {
        settle(&group_name, group, &mut out);
    }
    out
}

/// Each append's `requestId` and payload length, and the counters, to answer it later.
type Answer = (Vec<(Option<String>, usize)>, Arc<Counters>);

fn encode_answers(
    (ids, telemetry): Answer,
    results: Vec<Result<i64, StoreError>>,
    out: &mut BytesMut,
) {
    for ((id, len), result) in ids.into_iter().zip(results) {
        match &result {
            Ok(_) => telemetry.appended(len as u64),
            // Storage failures (a write or an fsync) answer UnknownFailure; refusals do not.
            Err(e) if e.is_io() => telemetry.append_io_error(),
            Err(_) => {}
        }
        answer_append(id.as_deref(), result, out);
    }
}

/// Writes and answers `group`, validated appends to stream `name`: into `out` when they are
/// settled here, else to `deferred` from the store's sync thread.
fn append_group(
    store: &Store,
    telemetry: &Arc<Counters>,
    name: &str,
    group: Vec<(Option<String>, Bytes)>,
    quiet: bool,
    deferred: &Deferred,
    out: &mut BytesMut,
) {
    let (ids, payloads): (Vec<_>, Vec<Bytes>) =
        group.into_iter().map(|(id, p)| ((id, p.len()), p)).unzip();
    let answer = (ids, telemetry.clone());
    let s = match store.get(name) {
        Ok(s) => s,
        Err(e) => return encode_answers(answer, vec![Err(e); payloads.len()], out),
    };
    let written = s.write_batch(&payloads);
    let deferred = deferred.clone();
    let later = move |answer, results| {
        let mut own = BytesMut::new();
        encode_answers(answer, results, &mut own);
        deferred(own);
    };
    if let Some((results, answer)) = s.settle_or_defer(written, quiet, answer, later) {
        encode_answers(answer, results, out);
    }
}

/// A single append (outside a connection's batch): waits for its answer.
async fn append_one(store: &Store, telemetry: &Arc<Counters>, r: AppendMessageRequest) -> BytesMut {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let deferred: Deferred = Arc::new(move |b| {
        let _ = tx.send(b);
    });
    let mut out = append_batch(store, telemetry, vec![r], false, &deferred);
    drop(deferred);
    while let Some(more) = rx.recv().await {
        out.extend_from_slice(&more);
    }
    out
}

fn answer_append(id: Option<&str>, result: Result<i64, StoreError>, out: &mut BytesMut) {
    match result {
        Ok(seq) => _ = encode_append_success(id, seq, out),
        Err(e) => {
            debug!(request_id = ?id, status = ?e.status(), "append failed: {e}");
            let msg = e.to_string();
            encode_status(Op::AppendMessageResponse, id, e.status(), Some(&msg), out);
        }
    }
}

async fn read(
    store: &Store,
    limits: Limits,
    r: ReadMessagesRequest,
    id: Option<String>,
    out: &mut BytesMut,
) -> Result<Encoded, StoreError> {
    let name = stream_name("streamName", r.stream_name.as_deref())?;
    let o = r.read_messages_options.unwrap_or_default();
    validate::read_options(&o)?;
    let ReadAsk {
        start,
        min,
        max,
        wait_ms,
    } = o.ask();
    let wait = Duration::from_millis(wait_ms).min(MAX_READ_WAIT);
    let deadline = clock::instant() + wait;
    let hard = u64::from(limits.max_frame);
    let s = store.get(&name)?;
    let messages = loop {
        // The version before looking, so no append in between is missed.
        let seen = s.changes().version();
        match s.try_read(start, min, max, SOFT_READ_BYTES.min(hard), hard)? {
            ReadOutcome::Messages(m) => break m,
            ReadOutcome::NotEnough => {}
        }
        if clock::instant() >= deadline {
            return Err(StoreError::NotEnough {
                stream: name,
                min,
                start,
                waited_ms: wait.as_millis(),
            });
        }
        // A delete wakes the wait too; the next attempt then answers ResourceNotFound.
        tokio::select! {
            () = s.changes().changed(seen) => {}
            () = tokio::time::sleep_until(deadline) => {}
        }
    };
    let resp = ReadMessagesResponse {
        request_id: id,
        status: ResponseStatusCode::Success,
        error_message: None,
        messages: messages
            .iter()
            .map(|m| MessageRef {
                stream_name: &name,
                sequence_number: m.seq,
                ingest_time: m.ingest_time,
                payload: &m.payload,
            })
            .collect(),
    };
    Ok(Some(encode_frame(Op::ReadMessagesResponse, &resp, out)))
}
