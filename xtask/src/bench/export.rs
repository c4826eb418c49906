//! P6 of `cargo xtask bench`: HTTP export throughput to a fast local sink.
//!
//! Starts the release daemon on a temporary store, appends N messages (pipelined, over the
//! daemon's own protocol) to a stream whose HTTP export is disabled, then enables the export
//! and measures how long the daemon takes to deliver them all to a minimal keep-alive HTTP/1.1
//! sink running in this process, and how much CPU the daemon used meanwhile.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::BytesMut;
use sm_model::{
    AppendMessageRequest, ConnectRequest, ExportDefinition, ExportFormat, HttpConfig,
    MessageStreamDefinition, StrategyOnFull, StreamDefinitionRequest,
};
use sm_wire::{encode_frame, FrameDecoder, Inbound, Op, PROTOCOL_MAX_FRAME};

/// Result of one export run.
pub struct ExportResult {
    /// Messages delivered.
    pub messages: u64,
    /// Payload bytes per message.
    pub payload_bytes: usize,
    /// Wall time from enabling the export to the last message at the sink.
    pub seconds: f64,
    /// Daemon CPU time (user + system) over that period.
    pub cpu_seconds: f64,
}

/// Counts messages in bodies that the sink received.
fn sink(counter: Arc<AtomicU64>) -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let counter = counter.clone();
            std::thread::spawn(move || {
                let _ = serve_http(conn, &counter);
            });
        }
    });
    Ok(port)
}

fn serve_http(conn: TcpStream, counter: &AtomicU64) -> Result<()> {
    let mut w = conn.try_clone()?;
    let mut r = BufReader::new(conn);
    let mut body = Vec::new();
    loop {
        let mut len = 0usize;
        let mut line = String::new();
        loop {
            line.clear();
            if r.read_line(&mut line)? == 0 {
                return Ok(());
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse()?;
                }
            }
        }
        body.resize(len, 0);
        r.read_exact(&mut body)?;
        // One JSON object per message in a JSON_BATCHED body.
        let n = body
            .windows(16)
            .filter(|w| w == b"\"sequenceNumber\"")
            .count() as u64;
        counter.fetch_add(n, Ordering::Relaxed);
        w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")?;
    }
}

struct Client {
    sock: TcpStream,
    buf: BytesMut,
    frames: FrameDecoder,
    next_id: u64,
}

impl Client {
    fn connect(port: u16) -> Result<Self> {
        let mut sock = TcpStream::connect(("127.0.0.1", port))?;
        sock.set_nodelay(true)?;
        // A daemon that stops answering fails the benchmark instead of hanging it.
        sock.set_read_timeout(Some(Duration::from_secs(60)))?;
        let mut out = BytesMut::new();
        out.extend_from_slice(&[1]);
        let req = ConnectRequest {
            request_id: Some("bench".into()),
            protocol_version: Some("1.1.0".into()),
            other_supported_protocol_versions: vec!["1.0.0".into()],
            sdk_version: Some("xtask".into()),
            auth_token: None,
        };
        encode_frame(Op::Connect, &req, &mut out)?;
        sock.write_all(&out)?;
        let mut c = Self {
            sock,
            buf: BytesMut::new(),
            frames: FrameDecoder::new(PROTOCOL_MAX_FRAME),
            next_id: 0,
        };
        let mut version = [0u8; 1];
        c.sock.read_exact(&mut version)?;
        c.read_status()?;
        Ok(c)
    }

    fn read_status(&mut self) -> Result<()> {
        loop {
            if let Some(Inbound::Frame { payload, .. }) = self.frames.decode(&mut self.buf)? {
                let v: ciborium::Value = ciborium::from_reader(&payload[..])?;
                let status = v
                    .as_map()
                    .and_then(|m| m.iter().find(|(k, _)| k.as_text() == Some("status")))
                    .and_then(|(_, s)| s.as_integer())
                    .map(i128::from);
                if status != Some(0) {
                    bail!("request failed: {v:?}");
                }
                return Ok(());
            }
            let mut chunk = [0u8; 64 * 1024];
            let n = self.sock.read(&mut chunk)?;
            if n == 0 {
                bail!("daemon closed the connection");
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    fn id(&mut self) -> Option<String> {
        self.next_id += 1;
        Some(format!("b{}", self.next_id))
    }

    fn call<T: serde::Serialize>(&mut self, op: Op, req: &T) -> Result<()> {
        let mut out = BytesMut::new();
        encode_frame(op, req, &mut out)?;
        self.sock.write_all(&out)?;
        self.read_status()
    }

    /// Appends `n` messages, keeping up to `window` requests in flight.
    fn append_many(&mut self, stream: &str, n: u64, payload: &[u8], window: u64) -> Result<()> {
        let mut sent = 0u64;
        let mut acked = 0u64;
        while acked < n {
            let mut out = BytesMut::new();
            while sent < n && sent - acked < window {
                let req = AppendMessageRequest {
                    request_id: self.id(),
                    name: Some(stream.into()),
                    payload: Some(bytes::Bytes::copy_from_slice(payload)),
                };
                encode_frame(Op::AppendMessage, &req, &mut out)?;
                sent += 1;
            }
            self.sock.write_all(&out)?;
            self.read_status()?;
            acked += 1;
        }
        Ok(())
    }
}

pub(super) fn cpu_seconds(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>()? + f[12].parse::<f64>()?;
    Ok(ticks / 100.0)
}

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_daemon(binary: &Path, dir: &Path) -> Result<(Daemon, u16)> {
    let port_file = dir.join("port");
    let child = Command::new(binary)
        .arg("--store-root")
        .arg(dir.join("store"))
        .args(["--port", "0", "--port-file"])
        .arg(&port_file)
        .args(["--log-level", "WARN"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let daemon = Daemon(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(t) = std::fs::read_to_string(&port_file) {
            if t.ends_with('\n') {
                return Ok((daemon, t.trim().parse()?));
            }
        }
        if Instant::now() > deadline {
            bail!("daemon did not start");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn definition(port: u16, batch_size: i64, disabled: bool) -> MessageStreamDefinition {
    MessageStreamDefinition {
        name: "bench".into(),
        max_size: Some(4 << 30),
        strategy_on_full: Some(StrategyOnFull::OverwriteOldestData),
        export_definition: Some(ExportDefinition {
            http: vec![HttpConfig {
                identifier: "sink".into(),
                uri: format!("http://127.0.0.1:{port}/sink"),
                batch_size: Some(batch_size),
                disabled: Some(disabled),
                export_format: Some(ExportFormat::JsonBatched),
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Runs the HTTP export benchmark.
pub fn http_export(
    binary: &Path,
    work: &Path,
    messages: u64,
    payload_bytes: usize,
    batch_size: i64,
    timeout: Duration,
) -> Result<ExportResult> {
    let dir: PathBuf = work.join(format!("export-{messages}-{payload_bytes}-{batch_size}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let counter = Arc::new(AtomicU64::new(0));
    let sink_port = sink(counter.clone())?;
    let (daemon, port) = start_daemon(binary, &dir)?;
    let mut c = Client::connect(port)?;
    let mut create = StreamDefinitionRequest {
        request_id: c.id(),
        definition: Some(definition(sink_port, batch_size, true)),
    };
    c.call(Op::CreateMessageStream, &create)?;
    c.append_many("bench", messages, &vec![b'x'; payload_bytes], 256)?;
    let cpu0 = cpu_seconds(daemon.0.id())?;
    let t0 = Instant::now();
    create.request_id = c.id();
    create.definition = Some(definition(sink_port, batch_size, false));
    c.call(Op::UpdateMessageStream, &create)?;
    let deadline = t0 + timeout;
    while counter.load(Ordering::Relaxed) < messages {
        if Instant::now() > deadline {
            bail!(
                "only {} of {messages} messages arrived in {timeout:?}",
                counter.load(Ordering::Relaxed)
            );
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let seconds = t0.elapsed().as_secs_f64();
    let cpu_seconds = cpu_seconds(daemon.0.id())? - cpu0;
    drop(daemon);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(ExportResult {
        messages,
        payload_bytes,
        seconds,
        cpu_seconds,
    })
}
