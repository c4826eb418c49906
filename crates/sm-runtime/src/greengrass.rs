//! The Greengrass nucleus's IPC: one task owns the Unix socket and drives `sm-ggipc`.
//!
//! Enabled when the nucleus's variables are set (`AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT`
//! and `SVCUID`). The task connects at start-up and, once the TCP listener is bound
//! ([`Nucleus::listening`]), publishes the effective port under the configuration key `port`
//! (UpdateConfiguration, as a string: what AWS's GetConfiguration examples parse) and then
//! reports RUNNING (UpdateState). Every telemetry interval it sends the bytes appended and
//! uploaded since the last acknowledged report (PutComponentMetric; the nucleus aggregates
//! with Sum, so deltas are what it expects; an all-zero report is not sent, and a report the
//! nucleus did not acknowledge is folded into the next). It validates client tokens for the
//! server ([`Nucleus::validate`], positive answers cached for a minute).
//!
//! IPC trouble never stops the data path: the socket is reconnected with `sm-export`'s
//! [`Backoff`] (100 ms doubling to 30 s, jittered; reset by an accepted session), and while it
//! is down token validations are refused at once with a clear reason (never let in unchecked).

use std::collections::{hash_map::RandomState, HashMap};
use std::hash::BuildHasher;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sm_export::Backoff;
use sm_ggipc::component::{is_zero, metrics, telemetry_delta, ValidationCache};
use sm_ggipc::{
    Client, ErrorKind, Event, LifecycleState, OperationError, Request, Response, StreamId,
};
use sm_model::Telemetry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use crate::clock;
use crate::telemetry::Counters;
use sm_credentials::Secret;

/// How long a token validation may take before the client is refused.
const VALIDATE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long any other request may take before it is given up.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long connecting and the handshake may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Most validations queued for the IPC task.
const QUEUE_MAX: usize = 256;
/// First reconnection delay (ms); doubles up to [`BACKOFF_MAX_MS`].
const BACKOFF_MIN_MS: u64 = 100;
/// Longest reconnection delay (ms).
const BACKOFF_MAX_MS: u64 = 30_000;

/// The nucleus's IPC settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Unix socket of the nucleus.
    pub socket: PathBuf,
    /// This component's token.
    pub svcuid: Secret,
    /// How often metrics are sent.
    pub telemetry_interval: Duration,
}

/// What the nucleus said about a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Validation {
    /// A token the nucleus issued.
    Valid,
    /// Not a token the nucleus issued (its message).
    Invalid(String),
    /// The nucleus does not let this component validate tokens (its message).
    Unauthorized(String),
    /// No answer could be had (why).
    Unavailable(String),
}

struct ValidateCmd {
    token: String,
    reply: oneshot::Sender<Validation>,
}

/// The handle to the IPC task.
pub struct Nucleus {
    validate_tx: mpsc::Sender<ValidateCmd>,
    port_tx: watch::Sender<Option<u16>>,
    cache: Mutex<ValidationCache>,
}

impl std::fmt::Debug for Nucleus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Nucleus")
    }
}

impl std::fmt::Debug for ValidateCmd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ValidateCmd(<redacted>)")
    }
}

impl Nucleus {
    /// Starts the IPC task.
    pub fn start(settings: Settings, telemetry: Arc<Counters>) -> Arc<Self> {
        let (validate_tx, validate_rx) = mpsc::channel(QUEUE_MAX);
        let (port_tx, port_rx) = watch::channel(None);
        info!(socket = %settings.socket.display(), "connecting to the Greengrass nucleus IPC");
        tokio::spawn(run(settings, telemetry, validate_rx, port_rx));
        Arc::new(Self {
            validate_tx,
            port_tx,
            cache: Mutex::new(ValidationCache::default()),
        })
    }

    /// The TCP listener accepts connections on `port`: publish it, then report RUNNING.
    pub fn listening(&self, port: u16) {
        let _ = self.port_tx.send(Some(port));
    }

    /// Asks the nucleus whether `token` is one it issued (cached when it is).
    pub async fn validate(&self, token: &str) -> Validation {
        let now = clock::instant();
        if self
            .cache
            .lock()
            .is_ok_and(|mut c| c.hit(token, now.into_std()))
        {
            return Validation::Valid;
        }
        let (reply, rx) = oneshot::channel();
        let cmd = ValidateCmd {
            token: token.to_owned(),
            reply,
        };
        if self.validate_tx.try_send(cmd).is_err() {
            return Validation::Unavailable(format!(
                "{QUEUE_MAX} token validations are already waiting for the nucleus"
            ));
        }
        let v = match tokio::time::timeout(VALIDATE_TIMEOUT, rx).await {
            Ok(Ok(v)) => v,
            Ok(Err(_)) => {
                Validation::Unavailable("the IPC connection to the nucleus was lost".into())
            }
            Err(_) => Validation::Unavailable(format!(
                "the nucleus did not answer within {} s",
                VALIDATE_TIMEOUT.as_secs()
            )),
        };
        if v == Validation::Valid {
            if let Ok(mut c) = self.cache.lock() {
                c.insert(token, clock::instant().into_std());
            }
        }
        v
    }
}

/// What the IPC task keeps across connections.
struct State {
    settings: Settings,
    telemetry: Arc<Counters>,
    /// Counters as of the last report the nucleus acknowledged.
    acked: Telemetry,
    /// Port published and RUNNING reported (acknowledged or answered with an error).
    announced: bool,
}

/// A request in flight on the current connection.
enum Pending {
    Validate(oneshot::Sender<Validation>),
    Port(u16),
    Running,
    /// The counters the report was computed from.
    Metrics(Telemetry),
}

async fn run(
    settings: Settings,
    telemetry: Arc<Counters>,
    mut validate_rx: mpsc::Receiver<ValidateCmd>,
    mut port_rx: watch::Receiver<Option<u16>>,
) {
    let mut st = State {
        acked: telemetry.snapshot(),
        settings,
        telemetry,
        announced: false,
    };
    let mut backoff = Backoff::new(BACKOFF_MIN_MS, BACKOFF_MAX_MS);
    loop {
        let (reason, was_connected) = session(&mut st, &mut validate_rx, &mut port_rx).await;
        let Some(reason) = reason else { return };
        if was_connected {
            backoff.reset();
        }
        let delay = Duration::from_millis(backoff.next_delay_ms(RandomState::new().hash_one(0)));
        warn!(
            socket = %st.settings.socket.display(),
            retry_in_ms = delay.as_millis() as u64,
            "Greengrass nucleus IPC unavailable: {reason}; reconnecting (clients cannot be authenticated meanwhile)"
        );
        // Refuse validations at once while waiting, rather than keep clients hanging.
        let until = clock::instant() + delay;
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(until) => break,
                cmd = validate_rx.recv() => match cmd {
                    None => return,
                    Some(cmd) => {
                        let _ = cmd.reply.send(Validation::Unavailable(format!(
                            "the Greengrass nucleus IPC is unavailable ({reason})"
                        )));
                    }
                },
            }
        }
    }
}

/// One connection. Returns why it ended (`None`: the daemon is stopping) and whether it was
/// accepted.
async fn session(
    st: &mut State,
    validate_rx: &mut mpsc::Receiver<ValidateCmd>,
    port_rx: &mut watch::Receiver<Option<u16>>,
) -> (Option<String>, bool) {
    let sock = match tokio::time::timeout(CONNECT_TIMEOUT, UnixStream::connect(&st.settings.socket))
        .await
    {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return (Some(format!("cannot connect: {e}")), false),
        Err(_) => return (Some("connect timed out".into()), false),
    };
    let (mut rd, mut wr) = sock.into_split();
    let mut c = Conn {
        client: Client::new(),
        pending: HashMap::new(),
        connected: false,
    };
    if let Err(e) = c.client.connect(st.settings.svcuid.expose()) {
        return (Some(e.to_string()), false);
    }
    let handshake_deadline = clock::instant() + CONNECT_TIMEOUT;
    let mut buf = vec![0u8; 16 * 1024];
    let interval = st.settings.telemetry_interval;
    let mut tick = tokio::time::interval_at(clock::instant() + interval, interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        // Publish the port, then (on its answer) report RUNNING, once the server listens.
        let announced = c.announce(st, *port_rx.borrow());
        if let Err(e) = announced {
            return (Some(e), c.connected);
        }
        while let Some(frame) = c.client.poll_transmit() {
            if let Err(e) = wr.write_all(&frame).await {
                return (Some(format!("write failed: {e}")), c.connected);
            }
        }
        let next_deadline = if c.connected {
            c.pending.values().map(|(_, d)| *d).min()
        } else {
            Some(handshake_deadline)
        };
        let step = tokio::select! {
            read = rd.read(&mut buf) => match read {
                Ok(0) => Err("the nucleus closed the IPC connection".into()),
                Ok(n) => c.input(st, &buf[..n]),
                Err(e) => Err(format!("read failed: {e}")),
            },
            cmd = validate_rx.recv(), if c.connected => match cmd {
                Some(cmd) => c.validate(cmd),
                None => return (None, c.connected),
            },
            changed = port_rx.changed(), if !st.announced => {
                if changed.is_err() {
                    return (None, c.connected);
                }
                // Seen: announced above as soon as connected.
                port_rx.borrow_and_update();
                Ok(())
            }
            _ = tick.tick(), if c.connected => c.report(st),
            () = sleep_until_opt(next_deadline) => c.expire(),
        };
        if let Err(e) = step {
            return (Some(e), c.connected);
        }
    }
}

/// One IPC connection: the protocol client, the requests in flight with their deadlines,
/// and whether the nucleus accepted it. Each method's `Err` ends the connection (why).
struct Conn {
    client: Client,
    pending: HashMap<StreamId, (Pending, Instant)>,
    connected: bool,
}

impl Conn {
    fn send(&mut self, req: &Request, p: Pending, timeout: Duration) -> Result<(), String> {
        let id = self.client.send(req).map_err(|e| e.to_string())?;
        self.pending.insert(id, (p, clock::instant() + timeout));
        Ok(())
    }

    /// Publishes `port` once connected, unless done or under way.
    fn announce(&mut self, st: &State, port: Option<u16>) -> Result<(), String> {
        let under_way = self
            .pending
            .values()
            .any(|(p, _)| matches!(p, Pending::Port(_) | Pending::Running));
        let Some(port) = port.filter(|_| self.connected && !st.announced && !under_way) else {
            return Ok(());
        };
        let mut value = serde_json::Map::new();
        value.insert("port".into(), serde_json::Value::String(port.to_string()));
        let req = Request::UpdateConfiguration {
            key_path: vec![],
            timestamp_ms: clock::now_ms(),
            value_to_merge: value,
        };
        self.send(&req, Pending::Port(port), REQUEST_TIMEOUT)
    }

    /// Bytes from the nucleus: the handshake's answer, pings, responses.
    fn input(&mut self, st: &mut State, bytes: &[u8]) -> Result<(), String> {
        self.client.handle_input(bytes);
        loop {
            match self.client.poll_event().map_err(|e| e.to_string())? {
                None => return Ok(()),
                Some(Event::Connected) => {
                    self.connected = true;
                    info!("connected to the Greengrass nucleus IPC");
                }
                Some(Event::Ping) => debug!("IPC ping"),
                Some(Event::Response {
                    stream_id, result, ..
                }) => {
                    if let Some((p, _)) = self.pending.remove(&stream_id) {
                        self.on_response(st, p, result)?;
                    }
                }
            }
        }
    }

    /// Asks the nucleus about a client's token.
    fn validate(&mut self, cmd: ValidateCmd) -> Result<(), String> {
        if cmd.reply.is_closed() {
            return Ok(());
        }
        match self
            .client
            .send(&Request::ValidateAuthorizationToken(cmd.token))
        {
            Ok(id) => {
                let deadline = clock::instant() + VALIDATE_TIMEOUT;
                self.pending
                    .insert(id, (Pending::Validate(cmd.reply), deadline));
                Ok(())
            }
            Err(sm_ggipc::ProtocolError::Invalid(e)) => {
                let _ = cmd.reply.send(Validation::Invalid(e.to_string()));
                Ok(())
            }
            Err(e) => Err(e.to_string()),
        }
    }

    /// The telemetry tick: reports the counters' growth since the last acknowledged report.
    fn report(&mut self, st: &State) -> Result<(), String> {
        if self
            .pending
            .values()
            .any(|(p, _)| matches!(p, Pending::Metrics(_)))
        {
            return Ok(());
        }
        let now = st.telemetry.snapshot();
        let d = telemetry_delta(&now, &st.acked);
        if is_zero(&d) {
            return Ok(());
        }
        let req = Request::PutComponentMetric(metrics(&d));
        self.send(&req, Pending::Metrics(now), REQUEST_TIMEOUT)
    }

    /// A deadline passed: the handshake's, or a request's (a validation is answered
    /// "unavailable"; anything else means a stuck connection, replaced by a fresh one, which
    /// announces again).
    fn expire(&mut self) -> Result<(), String> {
        if !self.connected {
            return Err(format!(
                "no CONNECT_ACK within {} s",
                CONNECT_TIMEOUT.as_secs()
            ));
        }
        let now = clock::instant();
        let expired: Vec<StreamId> = self
            .pending
            .iter()
            .filter(|(_, (_, d))| *d <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            self.client.abandon(id);
            let Some((p, _)) = self.pending.remove(&id) else {
                continue;
            };
            let what = match p {
                Pending::Validate(reply) => {
                    let _ = reply.send(Validation::Unavailable(
                        "the nucleus did not answer in time".into(),
                    ));
                    continue;
                }
                Pending::Port(_) => "UpdateConfiguration (port)",
                Pending::Running => "UpdateState (RUNNING)",
                Pending::Metrics(_) => "PutComponentMetric",
            };
            warn!(
                "the nucleus did not answer {what} within {} s",
                REQUEST_TIMEOUT.as_secs()
            );
            return Err(format!("{what} timed out"));
        }
        Ok(())
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

impl Conn {
    /// Acts on the answer to one of our requests.
    fn on_response(
        &mut self,
        st: &mut State,
        p: Pending,
        result: Result<Response, OperationError>,
    ) -> Result<(), String> {
        match p {
            Pending::Validate(reply) => {
                let v = match result {
                    Ok(Response::ValidateAuthorizationToken { is_valid: true }) => {
                        Validation::Valid
                    }
                    Ok(_) => Validation::Invalid("the nucleus answered isValid=false".into()),
                    Err(e) if e.kind == ErrorKind::InvalidToken => Validation::Invalid(e.message),
                    Err(e) if e.kind == ErrorKind::Unauthorized => {
                        error!(
                        "the nucleus does not let this component validate client tokens ({e}): \
                         the component must be named aws.greengrass.StreamManager"
                    );
                        Validation::Unauthorized(e.message)
                    }
                    Err(e) => {
                        Validation::Unavailable(format!("ValidateAuthorizationToken failed: {e}"))
                    }
                };
                let _ = reply.send(v);
            }
            Pending::Port(port) => {
                match result {
                    Ok(_) => info!(
                        port,
                        "published the port under the component configuration key `port`"
                    ),
                    Err(e) => warn!(
                        port,
                        "could not publish the port under the configuration key `port`: {e}"
                    ),
                }
                info!("Stream Manager reporting the state: RUNNING");
                let req = Request::UpdateState(LifecycleState::Running);
                self.send(&req, Pending::Running, REQUEST_TIMEOUT)?;
            }
            Pending::Running => {
                st.announced = true;
                match result {
                    Ok(_) => info!("the nucleus accepted the state RUNNING"),
                    Err(e) => error!("the nucleus refused the state RUNNING: {e}"),
                }
            }
            Pending::Metrics(snapshot) => match result {
                Ok(_) => {
                    debug!("telemetry metrics sent to the nucleus");
                    st.acked = snapshot;
                }
                // Not acknowledged: these bytes go out with the next report.
                Err(e) => warn!("the nucleus refused the telemetry metrics: {e}"),
            },
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_are_deltas_with_the_reference_names() {
        let c = Counters::default();
        c.appended(100);
        c.uploaded(sm_model::ExportKind::Kinesis, 40);
        let base = c.snapshot();
        assert!(is_zero(&telemetry_delta(&base, &base)));
        c.appended(5);
        c.uploaded(sm_model::ExportKind::S3TaskExecutor, 7);
        c.uploaded(sm_model::ExportKind::Http, 9);
        let d = telemetry_delta(&c.snapshot(), &base);
        let m = metrics(&d);
        let got: Vec<(&str, f64)> = m.iter().map(|m| (m.name.as_str(), m.value)).collect();
        assert_eq!(
            got,
            [
                ("BytesAppended", 5.0),
                ("BytesUploadedToIoTAnalytics", 0.0),
                ("BytesUploadedToKinesis", 0.0),
                ("BytesUploadedToIoTSiteWise", 0.0),
                ("BytesUploadedToS3", 7.0),
            ]
        );
        assert!(m.iter().all(|m| m.unit == sm_ggipc::MetricUnit::Bytes));
        // HTTP has no reference metric: bytes sent there alone make no report.
        let base = c.snapshot();
        c.uploaded(sm_model::ExportKind::Http, 1);
        assert!(is_zero(&telemetry_delta(&c.snapshot(), &base)));
    }
}
