//! Benchmarks of the stream manager, one subcommand per section of BENCHMARKS.md; driven by
//! `cargo xtask bench`, which builds the release binaries, runs each section and writes the
//! file. Every section prints its results as `ROW <name> | <value> | <unit> | <note>` lines
//! (and progress on stderr), so a new section is a new subcommand plus one line in xtask.
//!
//! * `fsync --dir D`: the machine's fsync rate, measured like fio's `--fdatasync=1` jobs: a
//!   4 KiB write then `fdatasync`, appending to a growing file and overwriting a written one,
//!   and a 152-byte append + `fdatasync` (one small flushOnWrite record).
//! * `append --binary B --concurrency N`: flushOnWrite appends per second against the real
//!   daemon, N connections with one append in flight each (the SDK's behaviour).
//! * `restart --binary B --streams S --mib M`: writes S File streams holding M MiB in total
//!   (valid segment files, as the daemon writes them), then times starts of the daemon until
//!   it accepts connections and until a read of the newest message is answered: first start
//!   (no checkpoints), after a clean stop, after kill -9, and with the page cache dropped.

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::BytesMut;
use serde::Deserialize;
use sm_model::{
    AppendMessageRequest, ConnectRequest, MessageStreamDefinition, ReadMessagesOptions,
    ReadMessagesRequest, StreamDefinitionRequest,
};
use sm_wire::{encode_frame, Op};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[allow(clippy::disallowed_methods)]
fn now() -> Instant {
    Instant::now()
}

fn row(name: &str, value: impl std::fmt::Display, unit: &str, note: &str) {
    println!("ROW {name} | {value} | {unit} | {note}");
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn arg_or<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    arg(args, name)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match args.first().map(String::as_str) {
        Some("fsync") => fsync(&args),
        Some("append") => rt.block_on(append(&args)),
        Some("restart") => rt.block_on(restart(&args)),
        _ => bail!("usage: sm-bench <fsync | append | restart> [options]"),
    }
}

fn fsync(args: &[String]) -> Result<()> {
    let dir = PathBuf::from(arg(args, "--dir").context("--dir")?);
    let secs: f64 = arg_or(args, "--seconds", 3.0);
    fs::create_dir_all(&dir)?;
    let path = dir.join("fsync-probe");
    let run = |size: usize, overwrite: bool| -> Result<(f64, f64)> {
        let f = OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(&path)?;
        let buf = vec![0x5au8; size];
        if overwrite {
            for i in 0..4096u64 {
                f.write_all_at(&buf, i * size as u64)?;
            }
            f.sync_all()?;
        }
        let start = now();
        let mut n = 0u64;
        while start.elapsed().as_secs_f64() < secs {
            let at = if overwrite {
                (n % 4096) * size as u64
            } else {
                n * size as u64
            };
            f.write_all_at(&buf, at)?;
            f.sync_data()?;
            n += 1;
        }
        let t = start.elapsed().as_secs_f64();
        Ok((n as f64 / t, t * 1e6 / n as f64))
    };
    let (a, a_lat) = run(4096, false)?;
    row(
        "4 KiB write + fdatasync, appending",
        format!("{a:.0}"),
        "ops/s",
        &format!("avg {a_lat:.0} µs"),
    );
    let (o, o_lat) = run(4096, true)?;
    row(
        "4 KiB write + fdatasync, overwriting",
        format!("{o:.0}"),
        "ops/s",
        &format!("avg {o_lat:.0} µs"),
    );
    let (s, s_lat) = run(152, false)?;
    row(
        "152 B append + fdatasync (one small record)",
        format!("{s:.0}"),
        "ops/s",
        &format!("avg {s_lat:.0} µs"),
    );
    fs::remove_file(&path)?;
    Ok(())
}

/// A running daemon on a store root.
struct Daemon {
    child: Child,
    port: u16,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // A benchmark that fails half-way must not leave its daemon running.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Daemon {
    fn start(binary: &Path, root: &Path) -> Result<(Self, Duration)> {
        let port_file = root.with_extension("port");
        let _ = fs::remove_file(&port_file);
        let t = now();
        let child = Command::new(binary)
            .arg("--store-root")
            .arg(root)
            .args(["--port", "0", "--log-level", "WARN", "--port-file"])
            .arg(&port_file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting the daemon")?;
        loop {
            if let Ok(s) = fs::read_to_string(&port_file) {
                if s.ends_with('\n') {
                    let port = s.trim().parse()?;
                    return Ok((Self { child, port }, t.elapsed()));
                }
            }
            if t.elapsed() > Duration::from_secs(120) {
                bail!("daemon did not start within 120 s");
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn kill(self) -> Result<()> {
        drop(self);
        Ok(())
    }

    fn terminate(mut self) -> Result<()> {
        Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()?;
        self.child.wait()?;
        Ok(())
    }
}

/// The fields of any response the benchmarks look at.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Response {
    status: i64,
    #[serde(default)]
    error_message: Option<String>,
    #[serde(default)]
    sequence_number: Option<i64>,
    #[serde(default)]
    messages: Vec<ciborium::Value>,
}

/// A minimal client of the wire protocol: one request in flight.
struct Client {
    sock: TcpStream,
    buf: BytesMut,
    next_id: u64,
}

impl Client {
    async fn connect(port: u16) -> Result<Self> {
        let mut sock = TcpStream::connect(("127.0.0.1", port)).await?;
        sock.set_nodelay(true)?;
        let mut out = BytesMut::new();
        out.extend_from_slice(&[sm_wire::CONNECT_VERSION]);
        let req = ConnectRequest {
            request_id: Some("connect".into()),
            protocol_version: Some("1.1.0".into()),
            other_supported_protocol_versions: vec!["1.0.0".into()],
            sdk_version: Some("1.1.2".into()),
            auth_token: None,
        };
        encode_frame(Op::Connect, &req, &mut out)?;
        sock.write_all(&out).await?;
        let mut me = Self {
            sock,
            buf: BytesMut::new(),
            next_id: 0,
        };
        let mut version = [0u8; 1];
        me.sock.read_exact(&mut version).await?;
        let _ = me.frame().await?;
        Ok(me)
    }

    async fn frame(&mut self) -> Result<(u8, Vec<u8>)> {
        let mut len = [0u8; 4];
        self.sock.read_exact(&mut len).await?;
        let len = i32::from_be_bytes(len) as usize;
        let mut body = vec![0u8; len];
        self.sock.read_exact(&mut body).await?;
        Ok((body[0], body[1..].to_vec()))
    }

    async fn call<T: serde::Serialize>(&mut self, op: Op, msg: &T) -> Result<Response> {
        self.buf.clear();
        encode_frame(op, msg, &mut self.buf)?;
        self.sock.write_all(&self.buf).await?;
        let (_, body) = self.frame().await?;
        Ok(ciborium::from_reader(body.as_slice())?)
    }

    fn id(&mut self) -> Option<String> {
        self.next_id += 1;
        Some(self.next_id.to_string())
    }

    async fn append(&mut self, stream: &str, payload: &[u8]) -> Result<i64> {
        let req = AppendMessageRequest {
            request_id: self.id(),
            name: Some(stream.into()),
            payload: Some(payload.to_vec()),
        };
        let resp = self.call(Op::AppendMessage, &req).await?;
        if resp.status != 0 {
            bail!("append failed: {} {:?}", resp.status, resp.error_message);
        }
        Ok(resp.sequence_number.unwrap_or(-1))
    }

    async fn create(&mut self, def: MessageStreamDefinition) -> Result<()> {
        let req = StreamDefinitionRequest {
            request_id: self.id(),
            definition: Some(def),
        };
        let resp = self.call(Op::CreateMessageStream, &req).await?;
        if resp.status != 0 {
            bail!("create failed: {:?}", resp.error_message);
        }
        Ok(())
    }

    async fn read_one(&mut self, stream: &str, seq: i64) -> Result<usize> {
        let req = ReadMessagesRequest {
            request_id: self.id(),
            stream_name: Some(stream.into()),
            read_messages_options: Some(ReadMessagesOptions {
                desired_start_sequence_number: Some(seq),
                min_message_count: Some(1),
                max_message_count: Some(1),
                read_timeout_millis: Some(0),
            }),
        };
        let resp = self.call(Op::ReadMessages, &req).await?;
        if resp.status != 0 {
            bail!("read failed: {:?}", resp.error_message);
        }
        Ok(resp.messages.len())
    }
}

async fn append(args: &[String]) -> Result<()> {
    let binary = PathBuf::from(arg(args, "--binary").context("--binary")?);
    let dir = PathBuf::from(arg(args, "--dir").context("--dir")?);
    let concurrency: usize = arg_or(args, "--concurrency", 1);
    let secs: f64 = arg_or(args, "--seconds", 5.0);
    let payload_len: usize = arg_or(args, "--payload", 128);
    let flush: bool = arg_or(args, "--flush", true);
    let root = dir.join(format!("append-{concurrency}"));
    let _ = fs::remove_dir_all(&root);
    fs::create_dir_all(&root)?;
    let (daemon, _) = Daemon::start(&binary, &root)?;
    let mut c = Client::connect(daemon.port).await?;
    c.create(MessageStreamDefinition {
        name: "bench".into(),
        flush_on_write: Some(flush),
        strategy_on_full: Some(sm_model::StrategyOnFull::OverwriteOldestData),
        max_size: Some(1 << 40),
        ..Default::default()
    })
    .await?;
    let deadline = now() + Duration::from_secs_f64(secs);
    let mut tasks = Vec::new();
    let start = now();
    for _ in 0..concurrency {
        let port = daemon.port;
        tasks.push(tokio::spawn(async move {
            let mut c = Client::connect(port).await?;
            let payload = vec![0x42u8; payload_len];
            let mut n = 0u64;
            while now() < deadline {
                c.append("bench", &payload).await?;
                n += 1;
            }
            anyhow::Ok(n)
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await??;
    }
    let rate = total as f64 / start.elapsed().as_secs_f64();
    daemon.kill()?;
    let _ = fs::remove_dir_all(&root);
    row(
        &format!(
            "{} appends, {concurrency} concurrent appender(s)",
            if flush {
                "flushOnWrite"
            } else {
                "buffered (no flushOnWrite)"
            }
        ),
        format!("{rate:.0}"),
        "appends/s",
        &format!("{payload_len} B payloads, {total} appends in {secs:.0} s"),
    );
    Ok(())
}

/// Writes `streams` File streams of `total` bytes of 1 KiB messages, in 16 MiB segments.
fn write_store(root: &Path, streams: usize, total: u64) -> Result<(u64, i64)> {
    let per_stream = total / streams as u64;
    let payload = vec![0x61u8; 1024];
    let seg_size = 16u64 << 20;
    let mut count = 0;
    for s in 0..streams {
        let dir = root.join(format!("bench-{s:03}"));
        fs::create_dir_all(&dir)?;
        let def = format!(
            "{{\"formatVersion\":1,\"definition\":{{\"name\":\"bench-{s:03}\",\"maxSize\":{},\"streamSegmentSize\":{seg_size},\"strategyOnFull\":1,\"persistence\":0,\"flushOnWrite\":false}}}}",
            total
        );
        fs::write(dir.join("stream.json"), def)?;
        let mut written = 0u64;
        let mut seq = 0u64;
        let mut out: Option<BufWriter<File>> = None;
        let mut seg_len = 0u64;
        let rec = sm_log::RECORD_HEADER_LEN + payload.len() as u64;
        while written + rec <= per_stream {
            if out.is_none() || seg_len + rec > seg_size {
                if let Some(mut w) = out.take() {
                    w.flush()?;
                }
                let mut w = BufWriter::with_capacity(
                    1 << 20,
                    File::create(dir.join(sm_log::segment_file_name(seq)))?,
                );
                w.write_all(&sm_log::segment_header(seq))?;
                seg_len = sm_log::SEGMENT_HEADER_LEN;
                written += seg_len;
                out = Some(w);
            }
            let w = out.as_mut().expect("segment open");
            w.write_all(&sm_log::record_header(
                seq,
                1_700_000_000_000 + seq as i64,
                &payload,
            ))?;
            w.write_all(&payload)?;
            seg_len += rec;
            written += rec;
            seq += 1;
        }
        if let Some(mut w) = out.take() {
            w.flush()?;
        }
        count = seq as i64;
    }
    // Make the data durable and out of the way, as after a long-running daemon.
    Command::new("sync").status()?;
    Ok((per_stream, count))
}

fn drop_caches() -> bool {
    OpenOptions::new()
        .write(true)
        .open("/proc/sys/vm/drop_caches")
        .and_then(|mut f| f.write_all(b"3\n"))
        .is_ok()
}

async fn restart(args: &[String]) -> Result<()> {
    let binary = PathBuf::from(arg(args, "--binary").context("--binary")?);
    let dir = PathBuf::from(arg(args, "--dir").context("--dir")?);
    let streams: usize = arg_or(args, "--streams", 100);
    let mib: u64 = arg_or(args, "--mib", 4096);
    let root = dir.join("restart");
    let _ = fs::remove_dir_all(&root);
    fs::create_dir_all(&root)?;
    let t = now();
    eprintln!("sm-bench: writing {mib} MiB in {streams} streams");
    let (per_stream, count) = write_store(&root, streams, mib << 20)?;
    eprintln!("sm-bench: written in {:.1} s", t.elapsed().as_secs_f64());
    let note = format!(
        "{streams} File streams × {:.0} MiB of 1 KiB messages, 16 MiB segments",
        per_stream as f64 / f64::from(1 << 20)
    );
    let last = format!("bench-{:03}", streams - 1);
    let measure = |label: &str, cold: bool| -> Result<Daemon> {
        let dropped = cold && drop_caches();
        let (d, accepting) = Daemon::start(&binary, &root)?;
        let t = now();
        let port = d.port;
        let last = last.clone();
        let read = tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(async move {
                let mut c = Client::connect(port).await?;
                c.read_one(&last, count - 1).await
            })
        })?;
        anyhow::ensure!(read == 1, "the newest message was not served");
        let first_read = t.elapsed() + accepting;
        let cache = if !cold {
            "page cache warm"
        } else if dropped {
            "page cache dropped"
        } else {
            "page cache warm (could not drop it)"
        };
        row(
            &format!("restart with {mib} MiB stored: {label}"),
            format!("{:.0}", accepting.as_secs_f64() * 1000.0),
            "ms until accepting",
            &format!(
                "{:.0} ms until the newest message is read; {cache}; {note}",
                first_read.as_secs_f64() * 1000.0
            ),
        );
        Ok(d)
    };
    let d = measure(
        "first start, no checkpoints (last segments scanned whole)",
        false,
    )?;
    d.terminate()?;
    let d = measure("after a clean stop", false)?;
    d.kill()?;
    let d = measure("after kill -9", false)?;
    d.kill()?;
    let d = measure("after kill -9", true)?;
    d.kill()?;
    let mut size = 0u64;
    for e in fs::read_dir(&root)? {
        for f in fs::read_dir(e?.path())? {
            size += f?.metadata()?.len();
        }
    }
    eprintln!("sm-bench: store held {} MiB", size >> 20);
    fs::remove_dir_all(&root)?;
    let _ = fs::File::open(&dir).and_then(|mut f| f.read(&mut [0u8; 0]));
    Ok(())
}
