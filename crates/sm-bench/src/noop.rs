//! P1's reference: a server that speaks the real protocol (version byte, Connect handshake,
//! framed CBOR requests decoded with `sm-wire`'s `ServerCodec`) and answers every request at
//! once without storing anything: appends get the next sequence number of their connection,
//! every other request a bare success. An SDK client's rate against it is the client's own
//! ceiling. It runs in its own process, so it shares no interpreter lock or CPU accounting
//! with the client, and serves until it is killed.

use std::path::PathBuf;

use anyhow::Result;
use bytes::BytesMut;
use sm_model::{ConnectResponse, ResponseStatusCode};
use sm_wire::{
    encode_append_success, encode_connect_response, encode_status, negotiate, Event, Request,
    ServerCodec, PROTOCOL_MAX_FRAME, SUPPORTED_PROTOCOL_VERSIONS,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::arg_req;

pub async fn run(args: &[String]) -> Result<()> {
    let port_file = PathBuf::from(arg_req(args, "--port-file")?);
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let tmp = port_file.with_extension("tmp");
    std::fs::write(&tmp, format!("{port}\n"))?;
    std::fs::rename(&tmp, &port_file)?;
    accept(listener).await
}

pub(crate) async fn accept(listener: TcpListener) -> Result<()> {
    loop {
        let (sock, _) = listener.accept().await?;
        tokio::spawn(async move {
            if let Err(e) = serve(sock, &Nothing).await {
                eprintln!("noop-server: connection ended: {e}");
            }
        });
    }
}

/// Where a server keeps the appends it answers: the no-op server keeps [`Nothing`].
pub(crate) trait Keep {
    /// Keeps one append's payload.
    fn keep(&self, payload: &[u8]) -> Result<()>;
    /// Returns once what was kept may be acknowledged.
    async fn settle(&self) -> Result<()>;
}

/// The no-op server's: nothing is kept, everything is acknowledged at once.
struct Nothing;

impl Keep for Nothing {
    fn keep(&self, _: &[u8]) -> Result<()> {
        Ok(())
    }
    async fn settle(&self) -> Result<()> {
        Ok(())
    }
}

/// Serves one connection: decodes what has arrived, keeps its appends, and answers all of it
/// with one write once `keep` has settled.
pub(crate) async fn serve(mut sock: TcpStream, keep: &impl Keep) -> Result<()> {
    sock.set_nodelay(true)?;
    let mut codec = ServerCodec::new(PROTOCOL_MAX_FRAME);
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let mut out = BytesMut::with_capacity(64 * 1024);
    let mut seq = 0i64;
    loop {
        // Answer everything already received with one write.
        loop {
            let event = match codec.decode(&mut buf) {
                Ok(Some(e)) => e,
                Ok(None) => break,
                Err(e) => {
                    if let Some(reply) = e.reply() {
                        sock.write_all(&reply).await?;
                    }
                    return Ok(());
                }
            };
            if let Event::Request(Request::AppendMessage(req)) = &event {
                keep.keep(req.payload.as_deref().unwrap_or_default())?;
            }
            answer(event, &mut seq, &mut out);
        }
        if !out.is_empty() {
            keep.settle().await?;
            sock.write_all(&out).await?;
            out.clear();
        }
        buf.reserve(64 * 1024);
        if sock.read_buf(&mut buf).await? == 0 {
            return Ok(());
        }
    }
}

/// Encodes the answer to one event: appends get `seq` (then the next number), every other
/// request a bare success, a rejected frame its status and message.
fn answer(event: Event, seq: &mut i64, out: &mut BytesMut) {
    match event {
        Event::Connect(req) => {
            let (status, error_message, protocol_version) = match negotiate(&req) {
                Ok(v) => (ResponseStatusCode::Success, None, Some(v.to_owned())),
                Err((status, msg)) => (status, Some(msg), None),
            };
            let resp = ConnectResponse {
                request_id: req.request_id,
                status,
                error_message,
                protocol_version,
                supported_protocol_versions: SUPPORTED_PROTOCOL_VERSIONS.map(String::from).to_vec(),
                server_version: Some("noop".into()),
                client_identifier: Some("noop".into()),
            };
            encode_connect_response(&resp, out);
        }
        Event::Request(Request::AppendMessage(req)) => {
            encode_append_success(req.request_id.as_deref(), *seq, out);
            *seq += 1;
        }
        Event::Request(req) => encode_status(
            req.op().response(),
            req.request_id(),
            ResponseStatusCode::Success,
            None,
            out,
        ),
        Event::Reject(r) => encode_status(
            r.op,
            r.request_id.as_deref(),
            r.status,
            Some(&r.message),
            out,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sm_client::{Client, ClientConfig, MessageStreamDefinition};

    #[tokio::test]
    async fn answers_the_rust_client_like_a_server_that_stores_nothing() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(accept(listener));
        let c = Client::connect(ClientConfig::new("127.0.0.1", port))
            .await
            .unwrap();
        assert_eq!(c.session().unwrap().protocol_version, "1.1.0");
        c.create_message_stream(&MessageStreamDefinition {
            name: "s".into(),
            strategy_on_full: Some(sm_client::StrategyOnFull::OverwriteOldestData),
            ..Default::default()
        })
        .await
        .unwrap();
        assert_eq!(c.append_message("s", b"one").await.unwrap(), 0);
        let seqs = c.append_many("s", [b"a", b"b", b"c"], 3).await.unwrap();
        let mut sorted = seqs.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, [1, 2, 3]);
        // A second connection numbers its own appends.
        let d = Client::connect(ClientConfig::new("127.0.0.1", port))
            .await
            .unwrap();
        assert_eq!(d.append_message("s", b"x").await.unwrap(), 0);
        server.abort();
    }
}
