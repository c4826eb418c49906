//! The Greengrass IPC client of the stream manager, sans-IO.
//!
//! The nucleus serves its IPC on a Unix socket (`AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT`)
//! with the eventstream-RPC protocol: eventstream frames (prelude with lengths and CRC-32,
//! typed headers, payload, message CRC-32) whose `:message-type`, `:message-flags` and
//! `:stream-id` headers carry a handshake (CONNECT with `:version` `0.1.0` and the JSON
//! payload `{"authToken": SVCUID}`, answered by CONNECT_ACK with the CONNECTION_ACCEPTED flag)
//! and then one stream per request: an APPLICATION_MESSAGE with the `operation` and
//! `service-model-type` headers and a JSON body on a new stream id (1, 2, 3, …), answered by
//! an APPLICATION_MESSAGE (the response shape) or an APPLICATION_ERROR (a modeled error such
//! as `aws.greengrass#InvalidTokenError`) with TERMINATE_STREAM. PING is answered with
//! PING_RESPONSE.
//!
//! This crate owns that protocol for the four operations the stream manager needs:
//! UpdateState (report RUNNING), UpdateConfiguration (publish the `port` key),
//! PutComponentMetric (telemetry) and ValidateAuthorizationToken (client authentication).
//! Frames are encoded and decoded by `aws-smithy-eventstream` ([`frame`] adds the length
//! bound and CRC check on the prelude before a frame is buffered, and the RPC headers). It
//! does no IO and reads no clock. [`component`] holds what the component reports (telemetry
//! metrics as deltas) and the cache of validated tokens.
//!
//! # Drive loop
//!
//! The runtime owns one [`Client`] per socket connection:
//!
//! 1. [`Client::connect`] with the SVCUID, then write every [`Client::poll_transmit`] frame;
//! 2. feed bytes read from the socket to [`Client::handle_input`] and call
//!    [`Client::poll_event`] until `Ok(None)`; after [`Event::Connected`], send requests with
//!    [`Client::send`] (which returns the stream id their [`Event::Response`] will carry) and
//!    write what `poll_transmit` returns (also PING_RESPONSEs);
//! 3. time requests out with [`Client::abandon`]; on `Err(ProtocolError)` (bad frame,
//!    rejected connection, PROTOCOL_ERROR from the nucleus) close the socket and start again
//!    with a new `Client`.

mod client;
pub mod component;
pub mod frame;
#[doc(hidden)]
pub mod fuzzing;
mod model;

pub use client::{Client, Event, ProtocolError, StreamId, CONTENT_TYPE_JSON, PROTOCOL_VERSION};
pub use model::{
    ErrorKind, InvalidRequest, LifecycleState, Metric, MetricUnit, Operation, OperationError,
    Request, Response, MAX_METRIC_NAME_BYTES,
};
