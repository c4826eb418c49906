//! The [`Client`]: typed operations over a shared, pipelined connection.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use serde::de::{DeserializeOwned, IntoDeserializer};
use serde::{Deserialize, Serialize};
use sm_model::{
    validate, ListStreamsRequest, Message, MessageStreamDefinition, MessageStreamInfo,
    NamedRequest, ReadMessagesOptions, ReadMessagesRequest, ResponseStatusCode,
};
use sm_wire::{append_request_len, encode_append_request, encode_frame, Op, PROTOCOL_MAX_FRAME};
use tokio::time::Instant;

use crate::conn::{format_id, Batch, Conn, Frame, Session, Waiter};
use crate::error::{Error, StatusError};
use crate::ClientConfig;

/// An async client of one stream manager server.
///
/// Cheap to clone; clones share one connection. Every call may run concurrently with the
/// others: requests are pipelined on the connection and their responses matched by
/// `requestId`, so a long-poll read never holds back an append. When the connection drops,
/// the calls waiting on it fail with [`Error::Connection`] and the next call opens a new one
/// (full handshake).
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
    /// This handle's request timeout (see [`Client::with_request_timeout`]).
    request_timeout: Duration,
}

struct Inner {
    config: ClientConfig,
    current: Mutex<Option<Arc<Conn>>>,
    /// Held while opening a connection, so concurrent callers share one handshake.
    connecting: tokio::sync::Mutex<()>,
    next_id: AtomicU64,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.inner.config)
            .field("request_timeout", &self.request_timeout)
            .field("session", &self.session())
            .finish()
    }
}

/// The status fields every response carries, plus the operation's own.
trait Reply: DeserializeOwned {
    fn head(&mut self) -> (Option<i64>, Option<String>, Option<String>);
}

macro_rules! reply {
    ($name:ident { $($(#[$fm:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        #[derive(Debug, Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct $name {
            #[serde(default)]
            request_id: Option<String>,
            #[serde(default)]
            status: Option<i64>,
            #[serde(default)]
            error_message: Option<String>,
            $($(#[$fm])* $field: $ty,)*
        }

        impl Reply for $name {
            fn head(&mut self) -> (Option<i64>, Option<String>, Option<String>) {
                (self.status, self.error_message.take(), self.request_id.take())
            }
        }
    };
}

reply!(StatusReply {});
reply!(AppendReply {
    #[serde(default)]
    sequence_number: Option<i64>,
});
reply!(ReadReply {
    #[serde(default)]
    messages: Vec<Message>,
});
reply!(ListReply {
    #[serde(default)]
    streams: Vec<String>,
});
reply!(DescribeReply {
    #[serde(default)]
    message_stream_info: Option<MessageStreamInfo>,
});

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DefinitionBody<'a> {
    request_id: &'a str,
    definition: &'a MessageStreamDefinition,
}

fn op_name(op: Op) -> &'static str {
    match op {
        Op::CreateMessageStream => "CreateMessageStream",
        Op::UpdateMessageStream => "UpdateMessageStream",
        Op::DeleteMessageStream => "DeleteMessageStream",
        Op::DescribeMessageStream => "DescribeMessageStream",
        Op::ListStreams => "ListStreams",
        Op::AppendMessage => "AppendMessage",
        Op::ReadMessages => "ReadMessages",
        _ => "request",
    }
}

/// Encodes one request frame, refusing (like the SDKs) frames above the protocol maximum.
fn encode<B: Serialize>(op: Op, body: &B) -> Result<BytesMut, Error> {
    encode_within(op, body, PROTOCOL_MAX_FRAME)
}

fn encode_within<B: Serialize>(op: Op, body: &B, max: u32) -> Result<BytesMut, Error> {
    let mut out = BytesMut::new();
    match encode_frame(op, body, &mut out) {
        Ok(len) if len > max as usize => Err(frame_too_large(op, len, max)),
        Ok(_) => Ok(out),
        Err(e) => Err(too_large(format!("could not encode the request: {e}"))),
    }
}

fn too_large(what: String) -> Error {
    Error::RequestPayloadTooLarge(StatusError::new(
        ResponseStatusCode::RequestPayloadTooLarge,
        Some(what),
        None,
    ))
}

fn frame_too_large(op: Op, len: usize, max: u32) -> Error {
    too_large(format!(
        "a {} frame of {len} bytes exceeds the protocol maximum of {max} bytes; not sent",
        op_name(op)
    ))
}

/// Appends one AppendMessage frame to `out` (no serde), refusing frames above `max`.
fn encode_append(
    id: u64,
    stream: &str,
    payload: &[u8],
    max: u32,
    out: &mut BytesMut,
) -> Result<(), Error> {
    let mut buf = [0; 24];
    let id = format_id(id, &mut buf);
    let len = append_request_len(id, stream, payload);
    if len > max as usize {
        return Err(frame_too_large(Op::AppendMessage, len, max));
    }
    encode_append_request(id, stream, payload, out);
    Ok(())
}

/// What an AppendMessage response says: its sequence number or the error.
pub(crate) fn append_outcome(frame: Frame) -> Result<i64, Error> {
    sequence_number(decode::<AppendReply>(Op::AppendMessage, frame)?)
}

fn status_code(raw: i64) -> Option<ResponseStatusCode> {
    let v = u8::try_from(raw).ok()?;
    ResponseStatusCode::deserialize(
        IntoDeserializer::<serde::de::value::Error>::into_deserializer(v),
    )
    .ok()
}

/// Checks a response's op and status and decodes its body.
fn decode<R: Reply>(op: Op, (got, payload): Frame) -> Result<R, Error> {
    let mut reply: R = if got == op.response() as u8 {
        ciborium::from_reader(&payload[..]).map_err(|e| {
            Error::Protocol(format!(
                "could not decode the {} response: {e}",
                op_name(op)
            ))
        })?
    } else if got == Op::UnknownOperationError as u8 {
        let mut r: StatusReply = ciborium::from_reader(&payload[..]).map_err(|e| {
            Error::Protocol(format!("could not decode the UnknownOperationError: {e}"))
        })?;
        let (status, message, id) = r.head();
        return Err(match status.and_then(status_code) {
            Some(ResponseStatusCode::Success) | None => Error::Protocol(format!(
                "the server answered {} with UnknownOperationError and status {status:?}",
                op_name(op)
            )),
            Some(s) => Error::from_status(StatusError::new(s, message, id)),
        });
    } else {
        return Err(Error::Protocol(format!(
            "the server answered {} with op {got}, expected {}",
            op_name(op),
            op.response() as u8
        )));
    };
    let (status, message, id) = reply.head();
    let Some(raw) = status else {
        return Err(Error::Protocol(format!(
            "the {} response has no status",
            op_name(op)
        )));
    };
    match status_code(raw) {
        Some(ResponseStatusCode::Success) => Ok(reply),
        Some(s) => Err(Error::from_status(StatusError::new(s, message, id))),
        None => Err(Error::Protocol(format!(
            "the {} response has unknown status {raw}",
            op_name(op)
        ))),
    }
}

/// `append_many` queues its encoded requests once they reach about this many bytes.
const CHUNK_BYTES: usize = 256 * 1024;

fn check_name(field: &str, name: &str) -> Result<(), Error> {
    Ok(validate::name(field, name)?)
}

impl Client {
    /// Connects (TCP and the Connect handshake) and returns the client. Fails with the
    /// connect error, e.g. [`Error::Unauthorized`] for a refused token.
    pub async fn connect(config: ClientConfig) -> Result<Self, Error> {
        let client = Self::new(config);
        client.conn().await?;
        Ok(client)
    }

    /// A client that connects on its first call.
    pub fn new(config: ClientConfig) -> Self {
        Self {
            request_timeout: config.request_timeout,
            inner: Arc::new(Inner {
                config,
                current: Mutex::new(None),
                connecting: tokio::sync::Mutex::new(()),
                next_id: AtomicU64::new(0),
            }),
        }
    }

    /// The configuration (its `request_timeout` is the one the client was made with; see
    /// [`Client::request_timeout`] for this handle's).
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// A handle on the same connection whose calls wait up to `timeout` (e.g. for long polls
    /// beyond the configured request timeout, or for short health checks).
    #[must_use]
    pub fn with_request_timeout(&self, timeout: Duration) -> Self {
        Self {
            inner: self.inner.clone(),
            request_timeout: timeout,
        }
    }

    /// How long this handle's calls wait for their response.
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// What the server said at the last successful Connect, while that connection is open.
    pub fn session(&self) -> Option<Session> {
        self.current()
            .filter(|c| !c.is_dead())
            .map(|c| c.session().clone())
    }

    fn current(&self) -> Option<Arc<Conn>> {
        self.inner
            .current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The open connection, or a new one.
    async fn conn(&self) -> Result<Arc<Conn>, Error> {
        if let Some(c) = self.current().filter(|c| !c.is_dead()) {
            return Ok(c);
        }
        let _opening = self.inner.connecting.lock().await;
        if let Some(c) = self.current().filter(|c| !c.is_dead()) {
            return Ok(c);
        }
        let c = Arc::new(Conn::open(&self.inner.config).await?);
        *self.inner.current.lock().unwrap_or_else(|p| p.into_inner()) = Some(c.clone());
        Ok(c)
    }

    /// Reserves `n` request numbers; returns the first.
    fn next_ids(&self, n: usize) -> u64 {
        self.inner.next_id.fetch_add(n as u64, Ordering::Relaxed)
    }

    async fn send(&self, id: u64, frame: BytesMut) -> Result<Waiter, Error> {
        self.conn().await?.send(id, frame).await
    }

    /// One request and its response, within the request timeout.
    async fn call<R: Reply>(
        &self,
        op: Op,
        build: impl FnOnce(u64, &str) -> Result<BytesMut, Error>,
    ) -> Result<R, Error> {
        let id = self.next_ids(1);
        let frame = build(id, format_id(id, &mut [0; 24]))?;
        let after = self.request_timeout;
        let response = tokio::time::timeout(after, async {
            self.send(id, frame).await?.response().await
        })
        .await
        .map_err(|_| Error::Timeout {
            operation: op_name(op),
            after,
        })??;
        decode(op, response)
    }

    /// Creates a stream (op 2). The definition is checked against the SDK's limits first.
    /// An existing name is [`Error::InvalidRequest`].
    pub async fn create_message_stream(&self, def: &MessageStreamDefinition) -> Result<(), Error> {
        self.send_definition(Op::CreateMessageStream, def).await
    }

    /// Replaces a stream's definition (op 15). A change the server cannot make (persistence,
    /// a `maxSize` below the stored bytes, …) is [`Error::UpdateNotAllowed`].
    pub async fn update_message_stream(&self, def: &MessageStreamDefinition) -> Result<(), Error> {
        self.send_definition(Op::UpdateMessageStream, def).await
    }

    /// Create and update: a checked definition, answered with a status only.
    async fn send_definition(&self, op: Op, def: &MessageStreamDefinition) -> Result<(), Error> {
        validate::definition(def)?;
        self.call::<StatusReply>(op, |_, id| {
            encode(
                op,
                &DefinitionBody {
                    request_id: id,
                    definition: def,
                },
            )
        })
        .await
        .map(drop)
    }

    /// Deletes a stream and its data (op 3); a missing stream is [`Error::ResourceNotFound`].
    pub async fn delete_message_stream(&self, name: &str) -> Result<(), Error> {
        check_name("name", name)?;
        let op = Op::DeleteMessageStream;
        self.call::<StatusReply>(op, |_, id| {
            encode(
                op,
                &NamedRequest {
                    request_id: Some(id.to_owned()),
                    name: Some(name.to_owned()),
                },
            )
        })
        .await
        .map(drop)
    }

    /// The names of every stream (op 11).
    pub async fn list_streams(&self) -> Result<Vec<String>, Error> {
        let op = Op::ListStreams;
        let r: ListReply = self
            .call(op, |_, id| {
                encode(
                    op,
                    &ListStreamsRequest {
                        request_id: Some(id.to_owned()),
                    },
                )
            })
            .await?;
        Ok(r.streams)
    }

    /// A stream's definition (with defaults filled), storage figures and export statuses
    /// (op 13).
    pub async fn describe_message_stream(&self, name: &str) -> Result<MessageStreamInfo, Error> {
        check_name("name", name)?;
        let op = Op::DescribeMessageStream;
        let r: DescribeReply = self
            .call(op, |_, id| {
                encode(
                    op,
                    &NamedRequest {
                        request_id: Some(id.to_owned()),
                        name: Some(name.to_owned()),
                    },
                )
            })
            .await?;
        r.message_stream_info.ok_or_else(|| {
            Error::Protocol("the DescribeMessageStream response has no messageStreamInfo".into())
        })
    }

    /// Appends one message (op 4) and returns its sequence number. The payload must not be
    /// empty. A full `RejectNewData` stream is [`Error::InvalidRequest`].
    pub async fn append_message(
        &self,
        stream: &str,
        payload: impl AsRef<[u8]>,
    ) -> Result<i64, Error> {
        let payload = payload.as_ref();
        check_name("name", stream)?;
        validate::payload(Some(payload))?;
        let r: AppendReply = self
            .call(Op::AppendMessage, |id, _| {
                let mut out = BytesMut::new();
                encode_append(id, stream, payload, PROTOCOL_MAX_FRAME, &mut out)?;
                Ok(out)
            })
            .await?;
        sequence_number(r)
    }

    /// Appends many messages with up to `window` requests in flight at once on the shared
    /// connection, and returns their sequence numbers in the order of `payloads`.
    ///
    /// The server may serve the requests of one window in any order, so sequence numbers are
    /// unique but not necessarily increasing along `payloads` when `window > 1`; use
    /// `window = 1` for strict order. Each message has the full request timeout from the
    /// moment it is queued. On the first error the call stops sending and returns it; the
    /// messages before it, and those still in flight, may have been appended.
    ///
    /// Made for throughput: the requests are encoded without serde and queued several at a
    /// time, and the call is woken once a quarter of its window was answered, not for each
    /// response.
    pub async fn append_many<I>(
        &self,
        stream: &str,
        payloads: I,
        window: usize,
    ) -> Result<Vec<i64>, Error>
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        check_name("name", stream)?;
        let window = window.max(1);
        // The window is refilled once this many of its requests were answered.
        let refill = (window / 4).max(1);
        let after = self.request_timeout;
        let timeout = || Error::Timeout {
            operation: op_name(Op::AppendMessage),
            after,
        };
        let mut payloads = payloads.into_iter();
        let mut frames = BytesMut::new();
        let mut batch: Option<Batch> = None;
        // Per queued chunk: the messages sent up to its end, and when it was queued.
        let mut chunks: VecDeque<(usize, Instant)> = VecDeque::new();
        // Messages sent, answered (at least), and the first one maybe unanswered.
        let (mut sent, mut done, mut oldest) = (0usize, 0usize, 0usize);
        loop {
            // Fill the window: encode what fits, then queue it in one go.
            let room = window - (sent - done);
            let first = self.next_ids(room);
            let (mut n, mut failed, mut exhausted) = (0, None, false);
            while n < room && frames.len() < CHUNK_BYTES {
                let Some(p) = payloads.next() else {
                    exhausted = true;
                    break;
                };
                let p = p.as_ref();
                let encoded = validate::payload(Some(p))
                    .map_err(Error::from)
                    .and_then(|_| {
                        encode_append(first + n as u64, stream, p, PROTOCOL_MAX_FRAME, &mut frames)
                    });
                if let Err(e) = encoded {
                    failed = Some(e);
                    break;
                }
                n += 1;
            }
            if n > 0 {
                // A client times its own requests (it is not a core crate): tokio's clock, so
                // paused-time tests drive it.
                #[allow(clippy::disallowed_methods)]
                let queued_at = Instant::now();
                let pushed = tokio::time::timeout_at(queued_at + after, async {
                    let mut b = match batch.take() {
                        Some(b) => b,
                        None => self.conn().await?.batch(Vec::new())?,
                    };
                    if let Err(e) = b.push(first, n, &mut frames).await {
                        // The connection was lost with nothing in flight: go on on a new one,
                        // as separate calls would.
                        if !b.is_dead() || b.outstanding() {
                            return Err(e);
                        }
                        let seqs = b.into_seqs();
                        b = self.conn().await?.batch(seqs)?;
                        b.push(first, n, &mut frames).await?;
                    }
                    Ok(b)
                })
                .await
                .map_err(|_| timeout())??;
                batch = Some(pushed);
                sent += n;
                chunks.push_back((sent, queued_at));
            }
            if let Some(e) = failed {
                return Err(e);
            }
            let Some(b) = &batch else {
                // Nothing to send at all.
                return Ok(Vec::new());
            };
            // Wait for room in the window, or for the last answers.
            let need = if exhausted {
                sent
            } else {
                (sent + refill).saturating_sub(window)
            };
            while need > done {
                while chunks.front().is_some_and(|&(end, _)| end <= oldest) {
                    chunks.pop_front();
                }
                let Some(&(_, queued_at)) = chunks.front() else {
                    break;
                };
                // The oldest unanswered message's deadline.
                match tokio::time::timeout_at(queued_at + after, b.wait(need, &mut oldest)).await {
                    Ok(answered) => done = answered?,
                    Err(_) => {
                        let now_oldest = b.oldest_pending(oldest);
                        if now_oldest == oldest {
                            return Err(timeout());
                        }
                        oldest = now_oldest;
                    }
                }
            }
            if exhausted {
                break;
            }
        }
        let seqs = batch.map(Batch::into_seqs).unwrap_or_default();
        seqs.into_iter()
            .map(|s| s.ok_or_else(|| Error::Protocol("an append was not answered".into())))
            .collect()
    }

    /// Reads messages (op 5) from `options.desiredStartSequenceNumber` (default 0, clamped to
    /// the oldest): at least `minMessageCount` (default 1) and at most `maxMessageCount`
    /// (default: the minimum), waiting up to `readTimeoutMillis` (default 0: do not wait) for
    /// enough of them, else [`Error::NotEnoughMessages`].
    ///
    /// Checked first as the SDK does: `min ≤ max`, and `readTimeoutMillis` no longer than the
    /// client's request timeout (a long poll must end before the client gives up on it).
    pub async fn read_messages(
        &self,
        stream: &str,
        options: ReadMessagesOptions,
    ) -> Result<Vec<Message>, Error> {
        check_name("streamName", stream)?;
        validate::read_options(&options)?;
        let limit = self.request_timeout.as_millis();
        if let Some(t) = options.read_timeout_millis {
            if i128::from(t) > limit as i128 {
                return Err(Error::Validation(sm_model::ValidationError::new(format!(
                    "readMessagesOptions.readTimeoutMillis ({t}) must be at most the client's request timeout ({limit} ms)"
                ))));
            }
        }
        let op = Op::ReadMessages;
        let r: ReadReply = self
            .call(op, |_, id| {
                encode(
                    op,
                    &ReadMessagesRequest {
                        request_id: Some(id.to_owned()),
                        stream_name: Some(stream.to_owned()),
                        read_messages_options: Some(options),
                    },
                )
            })
            .await?;
        Ok(r.messages)
    }
}

fn sequence_number(r: AppendReply) -> Result<i64, Error> {
    r.sequence_number
        .ok_or_else(|| Error::Protocol("the AppendMessage response has no sequenceNumber".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_is_shareable() {
        fn shareable<T: Clone + Send + Sync + 'static>() {}
        shareable::<Client>();
        shareable::<Error>();
    }

    #[test]
    fn status_codes_map() {
        assert_eq!(status_code(0), Some(ResponseStatusCode::Success));
        assert_eq!(status_code(18), Some(ResponseStatusCode::UnknownOperation));
        assert_eq!(status_code(19), None);
        assert_eq!(status_code(-1), None);
    }

    #[test]
    fn oversize_frames_are_refused_before_sending() {
        // A 100-byte limit stands in for the protocol's 1 GiB.
        let mut out = BytesMut::new();
        encode_append(1, "s", &[1; 50], 100, &mut out).unwrap();
        let sent = out.len();
        let err = encode_append(2, "s", &[1; 100], 100, &mut out).unwrap_err();
        assert!(matches!(err, Error::RequestPayloadTooLarge(_)), "{err}");
        assert_eq!(
            err.status(),
            Some(ResponseStatusCode::RequestPayloadTooLarge)
        );
        assert_eq!(out.len(), sent, "nothing of the refused frame was written");
        let err = encode_within(
            Op::DeleteMessageStream,
            &NamedRequest {
                request_id: Some("x".into()),
                name: Some("n".repeat(200)),
            },
            100,
        )
        .unwrap_err();
        assert!(matches!(err, Error::RequestPayloadTooLarge(_)), "{err}");
    }

    #[test]
    fn wrong_op_and_bad_status_are_protocol_errors() {
        let mut out = BytesMut::new();
        sm_wire::encode_status(
            Op::ListStreamsResponse,
            Some("1"),
            ResponseStatusCode::Success,
            None,
            &mut out,
        );
        let payload = out.split_off(5).freeze();
        let err = decode::<AppendReply>(Op::AppendMessage, (12, payload)).unwrap_err();
        assert!(matches!(err, Error::Protocol(_)), "{err}");
    }
}
