//! One connection to a P7 server, with that server's maintained Rust client: `sm-client` for
//! this daemon, `async-nats` (JetStream publish, waiting for each PubAck) for NATS, `redis`
//! (`XADD` on a multiplexed connection) for Redis. Every append is acknowledged by the
//! server before it counts; the pipelined form keeps up to `window` appends in flight.
//! Payloads start with an 8-byte id (little endian) so a reader can tell which acknowledged
//! appends survived a kill -9.

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use async_nats::jetstream;
use bytes::Bytes;
use futures_util::stream::{FuturesUnordered, StreamExt};
use sm_client::{Client, ClientConfig, ReadMessagesOptions};

use super::server::Kind;
use crate::pipeline::definition;

/// The stream (or subject, or key) every server appends to.
pub const STREAM: &str = "bench";

/// How long one request may take: a restart with a 1 GiB store, an fsync on a slow disk.
const TIMEOUT: Duration = Duration::from_secs(120);

pub enum Conn {
    Sm(Client),
    Nats(jetstream::Context),
    Redis(redis::aio::MultiplexedConnection),
}

/// A Redis stream entry as `XRANGE` returns it: its id and its field-value pairs.
type Entry = (String, Vec<(String, Vec<u8>)>);

/// The id at the start of a payload.
pub fn payload_id(p: &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(p.get(..8)?.try_into().ok()?))
}

/// A payload of `size` bytes (at least 8) starting with `id`.
pub fn payload(id: u64, size: usize) -> Bytes {
    let mut p = vec![0x42u8; size.max(8)];
    p[..8].copy_from_slice(&id.to_le_bytes());
    Bytes::from(p)
}

impl Conn {
    /// One attempt to connect (fails while the server is not accepting yet).
    pub async fn connect(kind: Kind, port: u16) -> Result<Self> {
        Ok(match kind {
            Kind::Daemon | Kind::Floor => {
                let mut config = ClientConfig::new("127.0.0.1", port);
                config.request_timeout = TIMEOUT;
                Self::Sm(Client::connect(config).await?)
            }
            Kind::Nats => {
                let client = async_nats::connect(format!("127.0.0.1:{port}")).await?;
                Self::Nats(
                    jetstream::context::ContextBuilder::new()
                        .timeout(TIMEOUT)
                        .build(client),
                )
            }
            Kind::Redis => {
                let client = redis::Client::open(format!("redis://127.0.0.1:{port}/"))?;
                let config = redis::AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(Duration::from_secs(5)))
                    .set_response_timeout(Some(TIMEOUT));
                Self::Redis(
                    client
                        .get_multiplexed_async_connection_with_config(&config)
                        .await?,
                )
            }
        })
    }

    /// Creates the stream: durable means an fsync before each acknowledgement (for this
    /// daemon a flushOnWrite stream; NATS and Redis are durable or not by their server's
    /// setting). `max_mib` bounds it (oldest data dropped beyond).
    pub async fn create(&self, durable: bool, max_mib: i64) -> Result<()> {
        match self {
            Self::Sm(c) => {
                let mut def = definition(STREAM.into(), false, max_mib);
                def.flush_on_write = Some(durable);
                c.create_message_stream(&def).await?;
            }
            Self::Nats(js) => {
                js.create_stream(jetstream::stream::Config {
                    name: STREAM.into(),
                    subjects: vec![STREAM.into()],
                    storage: jetstream::stream::StorageType::File,
                    max_bytes: max_mib << 20,
                    ..Default::default()
                })
                .await?;
            }
            // A Redis stream exists once appended to.
            Self::Redis(_) => {}
        }
        Ok(())
    }

    /// Appends one message and waits for its acknowledgement.
    pub async fn append(&mut self, payload: Bytes) -> Result<()> {
        match self {
            Self::Sm(c) => {
                c.append_message(STREAM, &payload).await?;
            }
            Self::Nats(js) => {
                js.publish(STREAM, payload).await?.await?;
            }
            Self::Redis(c) => {
                let _: String = redis::cmd("XADD")
                    .arg(STREAM)
                    .arg("*")
                    .arg("d")
                    .arg(payload.as_ref())
                    .query_async(c)
                    .await?;
            }
        }
        Ok(())
    }

    /// Appends `n` copies of `payload` with up to `window` in flight, all acknowledged at
    /// return.
    pub async fn append_pipelined(
        &mut self,
        payload: &Bytes,
        n: usize,
        window: usize,
    ) -> Result<()> {
        let window = window.max(1);
        match self {
            Self::Sm(c) => {
                c.append_many(STREAM, std::iter::repeat_n(payload, n), window)
                    .await?;
            }
            Self::Nats(js) => {
                let mut acks = VecDeque::with_capacity(window);
                for _ in 0..n {
                    if acks.len() >= window {
                        let ack: jetstream::context::PublishAckFuture =
                            acks.pop_front().expect("window is not empty");
                        ack.await?;
                    }
                    acks.push_back(js.publish(STREAM, payload.clone()).await?);
                }
                for ack in acks {
                    ack.await?;
                }
            }
            Self::Redis(c) => {
                let mut pending = FuturesUnordered::new();
                for _ in 0..n {
                    if pending.len() >= window {
                        let r: redis::RedisResult<String> =
                            pending.next().await.expect("window is not empty");
                        r?;
                    }
                    let mut c = c.clone();
                    let cmd = xadd(payload);
                    pending.push(async move { cmd.query_async::<String>(&mut c).await });
                }
                while let Some(r) = pending.next().await {
                    r?;
                }
            }
        }
        Ok(())
    }

    /// The payload of the newest message, `None` if the stream is empty. Fails while the
    /// server cannot answer yet (a Redis loading its AOF answers LOADING).
    pub async fn newest(&mut self) -> Result<Option<Vec<u8>>> {
        match self {
            Self::Sm(c) => {
                let info = c.describe_message_stream(STREAM).await?;
                let newest = info.storage_status.newest_sequence_number;
                if newest < info.storage_status.oldest_sequence_number {
                    return Ok(None);
                }
                let m = c
                    .read_messages(
                        STREAM,
                        ReadMessagesOptions {
                            desired_start_sequence_number: Some(newest),
                            min_message_count: Some(1),
                            max_message_count: Some(1),
                            read_timeout_millis: Some(0),
                        },
                    )
                    .await?;
                Ok(m.into_iter().next().map(|m| m.payload))
            }
            Self::Nats(js) => {
                let stream = js.get_stream(STREAM).await?;
                let m = stream.get_last_raw_message_by_subject(STREAM).await?;
                Ok(Some(m.payload.to_vec()))
            }
            Self::Redis(c) => {
                let entries: Vec<Entry> = redis::cmd("XREVRANGE")
                    .arg(STREAM)
                    .arg("+")
                    .arg("-")
                    .arg("COUNT")
                    .arg(1)
                    .query_async(c)
                    .await?;
                Ok(entries
                    .into_iter()
                    .next()
                    .and_then(|(_, fields)| fields.into_iter().next())
                    .map(|(_, v)| v))
            }
        }
    }

    /// The ids of every stored message.
    pub async fn all_ids(&mut self) -> Result<HashSet<u64>> {
        let mut ids = HashSet::new();
        match self {
            Self::Sm(c) => {
                let info = c.describe_message_stream(STREAM).await?;
                let (mut seq, newest) = (
                    info.storage_status.oldest_sequence_number,
                    info.storage_status.newest_sequence_number,
                );
                while seq <= newest {
                    let batch = c
                        .read_messages(
                            STREAM,
                            ReadMessagesOptions {
                                desired_start_sequence_number: Some(seq),
                                min_message_count: Some(1),
                                max_message_count: Some(1000),
                                read_timeout_millis: Some(0),
                            },
                        )
                        .await?;
                    let last = batch.last().context("an empty read before the newest")?;
                    seq = last.sequence_number + 1;
                    ids.extend(batch.iter().filter_map(|m| payload_id(&m.payload)));
                }
            }
            Self::Nats(js) => {
                let mut stream = js.get_stream(STREAM).await?;
                let state = stream.info().await?.state.clone();
                for seq in state.first_sequence..=state.last_sequence {
                    if state.messages == 0 {
                        break;
                    }
                    match stream.get_raw_message(seq).await {
                        Ok(m) => ids.extend(payload_id(&m.payload)),
                        // A gap (a message lost in the middle) reads as not found.
                        Err(e) if e.to_string().contains("not found") => {}
                        Err(e) => return Err(e.into()),
                    }
                }
            }
            Self::Redis(c) => {
                let mut start = "-".to_owned();
                loop {
                    let entries: Vec<Entry> = redis::cmd("XRANGE")
                        .arg(STREAM)
                        .arg(&start)
                        .arg("+")
                        .arg("COUNT")
                        .arg(1000)
                        .query_async(c)
                        .await?;
                    let Some((last, _)) = entries.last() else {
                        break;
                    };
                    start = format!("({last}");
                    for (_, fields) in &entries {
                        ids.extend(fields.first().and_then(|(_, v)| payload_id(v)));
                    }
                }
            }
        }
        Ok(ids)
    }
}

fn xadd(payload: &[u8]) -> redis::Cmd {
    let mut cmd = redis::cmd("XADD");
    cmd.arg(STREAM).arg("*").arg("d").arg(payload);
    cmd
}

/// Connects once the server accepts and answers (a Redis loading its AOF answers LOADING
/// errors to everything but a few commands; NATS accepts only once JetStream has recovered).
pub async fn connect_when_up(
    kind: Kind,
    port: u16,
    alive: &mut dyn FnMut() -> Result<()>,
) -> Result<Conn> {
    let start = crate::now();
    loop {
        match Conn::connect(kind, port).await {
            Ok(c) => return Ok(c),
            Err(e) if start.elapsed() > TIMEOUT => {
                bail!("{kind:?} did not accept connections: {e}")
            }
            Err(_) => {
                alive()?;
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    }
}
