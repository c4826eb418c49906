//! The Connect handshake: the version byte and a Connect frame out, the version byte and a
//! ConnectResponse back, the way the Python SDK does it.

use bytes::BytesMut;
use serde::Serialize;
use sm_model::{ConnectResponse, ResponseStatusCode};
use sm_wire::{encode_frame, FrameDecoder, Inbound, Op};
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use super::{fill, oversize};
use crate::error::{Error, StatusError};
use crate::ClientConfig;

/// Protocol version this client prefers (`reference.md` §1.8).
const PROTOCOL_VERSION: &str = "1.1.0";
/// Older protocol versions this client also speaks.
const OTHER_PROTOCOL_VERSIONS: [&str; 1] = ["1.0.0"];
/// Sent as `sdkVersion`.
const SDK_VERSION: &str = concat!("rust-", env!("CARGO_PKG_VERSION"));

/// What the server said about the session in its ConnectResponse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The negotiated protocol version (`"1.1.0"` with this repository's server).
    pub protocol_version: String,
    /// The server's version, if it said.
    pub server_version: Option<String>,
    /// The identifier the server gave this connection, if any.
    pub client_identifier: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ConnectBody<'a> {
    request_id: &'a str,
    protocol_version: &'a str,
    other_supported_protocol_versions: &'a [&'a str],
    sdk_version: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth_token: Option<&'a str>,
}

/// Sends Connect and reads the ConnectResponse: the negotiated session, or why not.
pub(super) async fn handshake(
    config: &ClientConfig,
    rd: &mut OwnedReadHalf,
    wr: &mut OwnedWriteHalf,
    buf: &mut BytesMut,
    frames: &mut FrameDecoder,
) -> Result<Session, Error> {
    let body = ConnectBody {
        request_id: "connect",
        protocol_version: PROTOCOL_VERSION,
        other_supported_protocol_versions: &OTHER_PROTOCOL_VERSIONS,
        sdk_version: SDK_VERSION,
        auth_token: config.auth_token.as_deref(),
    };
    let mut out = BytesMut::new();
    out.extend_from_slice(&[sm_wire::CONNECT_VERSION]);
    encode_frame(Op::Connect, &body, &mut out)
        .map_err(|e| Error::Protocol(format!("could not encode Connect: {e}")))?;
    wr.write_all(&out)
        .await
        .map_err(|e| Error::connection(format!("sending Connect failed: {e}"), Some(e)))?;
    while buf.is_empty() {
        fill(rd, buf, "waiting for the ConnectResponse").await?;
    }
    let version = buf[0];
    let _ = buf.split_to(1);
    if version != sm_wire::CONNECT_VERSION {
        return Err(Error::Protocol(format!(
            "the server answered Connect with version byte {version:#04x}, expected {:#04x}",
            sm_wire::CONNECT_VERSION
        )));
    }
    let (op, payload) = loop {
        match frames.decode(buf) {
            Ok(Some(Inbound::Frame { op, payload })) => break (op, payload),
            Ok(Some(Inbound::Oversize { declared, .. })) => return Err(oversize(declared)),
            Ok(None) => fill(rd, buf, "waiting for the ConnectResponse").await?,
            Err(e) => return Err(Error::Protocol(e.to_string())),
        }
    };
    if op != Op::ConnectResponse as u8 {
        return Err(Error::Protocol(format!(
            "the server answered Connect with op {op}, expected {}",
            Op::ConnectResponse as u8
        )));
    }
    let resp: ConnectResponse = ciborium::from_reader(&payload[..])
        .map_err(|e| Error::Protocol(format!("could not decode the ConnectResponse: {e}")))?;
    if resp.status != ResponseStatusCode::Success {
        return Err(Error::from_status(StatusError::new(
            resp.status,
            resp.error_message,
            resp.request_id,
        )));
    }
    let Some(protocol_version) = resp.protocol_version else {
        return Err(Error::Protocol(
            "the ConnectResponse has no protocolVersion".into(),
        ));
    };
    Ok(Session {
        protocol_version,
        server_version: resp.server_version,
        client_identifier: resp.client_identifier,
    })
}
