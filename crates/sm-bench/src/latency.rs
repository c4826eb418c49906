//! Append latency at a fixed, open-loop rate. Request `i` is due at `i / rate` after the start;
//! a pacing thread sends, each time it wakes (at most every `--tick-us`, 100 µs by default, so
//! a request waits up to that long for its write), every request due so far in one write, whether
//! or not earlier ones were answered, and a reader thread timestamps each read of responses.
//! Each append's latency counts from its scheduled time, so a stall (of the daemon, or of the
//! pacing thread) delays the requests behind it in the figures too (no coordinated omission).
//!
//! Both threads speak the wire protocol directly on one blocking socket (`sm-wire` framing,
//! the serde-free append encoder and ack decoder), so a request costs the generator well under
//! a microsecond: the generator is not what saturates at the rates measured.

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use bytes::BytesMut;
use sm_model::{ConnectRequest, ConnectResponse, ResponseStatusCode};
use sm_wire::{
    decode_append_ack, encode_append_request, encode_frame, FrameDecoder, Inbound, Op,
    CONNECT_VERSION, PROTOCOL_MAX_FRAME,
};

use crate::daemon::{cpu_seconds, Daemon};
use crate::{arg_or, arg_req, now, row};

/// The latency at quantile `q` of sorted `v`.
fn quantile(v: &[u64], q: f64) -> u64 {
    let i = ((v.len() as f64 - 1.0) * q).round() as usize;
    v[i.min(v.len() - 1)]
}

/// How long the reader waits for a response before counting the rest as missing.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// What one run measured.
struct Outcome {
    /// Latencies (ns) of the successful appends scheduled after the warm-up.
    samples: Vec<u64>,
    /// Error responses.
    failed: u64,
    /// Requests without a response when the connection ended or went silent.
    missing: u64,
    /// How long sending took (against `total / rate` scheduled).
    sending: Duration,
    /// CPU seconds of the daemon and of this generator over the run.
    cpu: (f64, f64),
}

/// The open-loop schedule: request `i` is due at `start + i / rate`.
#[derive(Clone, Copy)]
struct Schedule {
    start: Instant,
    rate: f64,
    total: u64,
    /// Requests before this one are the warm-up, not counted.
    skip: u64,
}

impl Schedule {
    fn due_at(&self, i: u64) -> Instant {
        self.start + Duration::from_secs_f64(i as f64 / self.rate)
    }

    /// How many requests are due at `t`.
    fn due_by(&self, t: Instant) -> u64 {
        let elapsed = t.saturating_duration_since(self.start).as_secs_f64();
        ((elapsed * self.rate).floor() as u64 + 1).min(self.total)
    }
}

/// Opens a connection and performs the Connect handshake; returns the socket and the bytes
/// already received after the ConnectResponse.
fn connect(port: u16) -> Result<(TcpStream, BytesMut, FrameDecoder)> {
    let mut sock = TcpStream::connect(("127.0.0.1", port))?;
    sock.set_nodelay(true)?;
    let mut out = BytesMut::new();
    out.extend_from_slice(&[CONNECT_VERSION]);
    let req = ConnectRequest {
        request_id: Some("connect".into()),
        protocol_version: Some("1.1.0".into()),
        other_supported_protocol_versions: vec!["1.0.0".into()],
        sdk_version: Some("sm-bench-latency".into()),
        ..Default::default()
    };
    encode_frame(Op::Connect, &req, &mut out)?;
    sock.write_all(&out)?;
    sock.set_read_timeout(Some(READ_TIMEOUT))?;
    let mut buf = BytesMut::new();
    let mut frames = FrameDecoder::new(PROTOCOL_MAX_FRAME);
    let mut chunk = vec![0u8; 64 * 1024];
    let mut version_seen = false;
    loop {
        if !version_seen && !buf.is_empty() {
            ensure!(buf[0] == CONNECT_VERSION, "bad version byte {}", buf[0]);
            let _ = buf.split_to(1);
            version_seen = true;
        }
        if version_seen {
            if let Some(inbound) = frames.decode(&mut buf)? {
                let Inbound::Frame { op, payload } = inbound else {
                    bail!("oversize ConnectResponse");
                };
                ensure!(
                    op == Op::ConnectResponse as u8,
                    "answered Connect with op {op}"
                );
                let resp: ConnectResponse = ciborium::from_reader(&payload[..])?;
                ensure!(
                    resp.status == ResponseStatusCode::Success,
                    "Connect refused: {:?} {:?}",
                    resp.status,
                    resp.error_message
                );
                return Ok((sock, buf, frames));
            }
        }
        let n = sock.read(&mut chunk)?;
        ensure!(n > 0, "the server closed the connection during Connect");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Reads responses until every request was answered (or the connection ended or went silent
/// for [`READ_TIMEOUT`]), timing each from its schedule. Request ids are the request numbers.
fn read_responses(
    mut sock: TcpStream,
    mut buf: BytesMut,
    mut frames: FrameDecoder,
    schedule: Schedule,
) -> Result<Outcome> {
    let mut samples = Vec::with_capacity((schedule.total - schedule.skip) as usize);
    let (mut answered, mut failed) = (0u64, 0u64);
    let mut chunk = vec![0u8; 256 * 1024];
    let mut t = now();
    while answered < schedule.total {
        while let Some(inbound) = frames.decode(&mut buf)? {
            answered += 1;
            let Inbound::Frame { payload, .. } = inbound else {
                failed += 1;
                continue;
            };
            let ack = decode_append_ack(&payload)
                .and_then(|a| a.request_id.parse::<u64>().ok())
                .filter(|&i| i < schedule.total);
            match ack {
                Some(i) if i >= schedule.skip => {
                    samples.push(t.saturating_duration_since(schedule.due_at(i)).as_nanos() as u64)
                }
                Some(_) => {}
                None => failed += 1,
            }
        }
        if answered >= schedule.total {
            break;
        }
        match sock.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                // Everything in one read arrived together.
                t = now();
                buf.extend_from_slice(&chunk[..n]);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Outcome {
        samples,
        failed,
        missing: schedule.total - answered,
        sending: Duration::ZERO,
        cpu: (0.0, 0.0),
    })
}

/// How the generator runs.
#[derive(Clone, Copy)]
struct Load {
    /// Appends per second.
    rate: f64,
    /// Measured seconds, after `warmup` seconds not counted.
    secs: f64,
    warmup: f64,
    /// Payload bytes.
    size: usize,
    /// The pacing thread wakes at most this often, sending every request due by then.
    tick: Duration,
}

impl Load {
    /// Requests sent, warm-up included (at least one).
    fn requests(&self) -> f64 {
        ((self.warmup + self.secs) * self.rate).max(1.0)
    }
}

/// Sends appends to `stream` on one connection to `port` as `load` says and times their
/// responses.
fn drive(port: u16, stream: &str, load: Load) -> Result<Outcome> {
    let Load {
        rate,
        secs: _,
        warmup,
        size,
        tick,
    } = load;
    let (mut sock, buf, frames) = connect(port)?;
    let schedule = Schedule {
        start: now(),
        rate,
        total: load.requests() as u64,
        skip: (warmup * rate) as u64,
    };
    let reader = {
        let sock = sock.try_clone()?;
        std::thread::spawn(move || read_responses(sock, buf, frames, schedule))
    };
    let mut payload = vec![0x42u8; size];
    let mut out = BytesMut::with_capacity(1 << 20);
    let mut id = String::new();
    let mut sent = 0u64;
    let sending = (|| -> Result<Duration> {
        loop {
            let t = now();
            let due = schedule.due_by(t);
            if due > sent {
                for i in sent..due {
                    use std::fmt::Write as _;
                    id.clear();
                    write!(id, "{i}")?;
                    // Each payload begins with its number (big-endian), when it has room:
                    // a destination can count distinct records.
                    let stamp = i.to_be_bytes();
                    let k = stamp.len().min(payload.len());
                    payload[..k].copy_from_slice(&stamp[..k]);
                    encode_append_request(&id, stream, &payload, &mut out);
                }
                sock.write_all(&out)?;
                out.clear();
                sent = due;
            }
            if sent == schedule.total {
                break;
            }
            // Wake for the next request, but not more often than every `tick`.
            let next = schedule.due_at(sent).max(t + tick);
            std::thread::sleep(next.saturating_duration_since(now()));
        }
        Ok(schedule.start.elapsed())
    })();
    let sending = match sending {
        Ok(d) => d,
        Err(e) => {
            // Unblocks the reader.
            let _ = sock.shutdown(std::net::Shutdown::Both);
            let _ = reader.join();
            return Err(e);
        }
    };
    let mut outcome = reader
        .join()
        .map_err(|_| anyhow::anyhow!("the reader thread panicked"))??;
    outcome.sending = sending;
    Ok(outcome)
}

pub async fn run(args: &[String]) -> Result<()> {
    let binary = PathBuf::from(arg_req(args, "--binary")?);
    let dir = PathBuf::from(arg_req(args, "--dir")?);
    let rate: f64 = arg_or(args, "--rate", 10_000.0)?;
    let secs: f64 = arg_or(args, "--seconds", 5.0)?;
    let warmup: f64 = arg_or(args, "--warmup", 0.5)?;
    let size: usize = arg_or(args, "--size", 512)?;
    let tick_us: u64 = arg_or(args, "--tick-us", 100)?;
    let cdf = PathBuf::from(arg_req(args, "--cdf")?);
    // Row keys `<prefix>.p50`…; with `--flush-appender`, one synchronous flushOnWrite
    // appender runs on another connection (its own stream) meanwhile.
    let prefix = crate::arg(args, "--key").unwrap_or_else(|| "lat".into());
    let flush_appender = args.iter().any(|a| a == "--flush-appender");
    let context = crate::arg(args, "--label");
    let memory = match crate::arg(args, "--persistence").as_deref() {
        None | Some("file") => false,
        Some("memory") => true,
        Some(p) => anyhow::bail!("--persistence must be file or memory, not {p}"),
    };
    ensure!(
        rate >= 1.0 && secs > 0.0 && size > 0,
        "--rate, --seconds and --size must be positive"
    );
    let root = dir.join("latency");
    let _ = fs::remove_dir_all(&root);
    fs::create_dir_all(&root)?;
    let (daemon, _) = Daemon::start(&binary, &root)?;
    let client = daemon.client().await?;
    client
        .create_message_stream(&crate::pipeline::definition("lat".into(), memory, 1024))
        .await?;
    let port = daemon.port;
    let background = if flush_appender {
        Some(FlushAppender::start(&daemon).await?)
    } else {
        None
    };
    let cpu0 = (cpu_seconds(daemon.pid())?, cpu_seconds(std::process::id())?);
    let load = Load {
        rate,
        secs,
        warmup,
        size,
        tick: Duration::from_micros(tick_us),
    };
    let mut outcome = tokio::task::spawn_blocking(move || drive(port, "lat", load))
        .await?
        .context("the latency run")?;
    outcome.cpu = (
        cpu_seconds(daemon.pid())? - cpu0.0,
        cpu_seconds(std::process::id())? - cpu0.1,
    );
    if let Some(bg) = background {
        let (n, t) = bg.stop().await?;
        row(
            &format!("{prefix}.flush_appender"),
            "the flushOnWrite appender on another connection meanwhile",
            (n as f64 / t).round(),
            "appends/s",
            &format!("{n} synchronous 128 B flushOnWrite appends in {t:.2} s"),
        );
    }
    drop(client);
    daemon.kill();
    let _ = fs::remove_dir_all(&root);
    report(&outcome, load, &cdf, &prefix, context.as_deref())
}

/// `feed`: appends to an existing stream of a running daemon at a fixed open-loop rate (the
/// load of an export benchmark); prints one JSON line of what was sent and answered.
pub async fn feed(args: &[String]) -> Result<()> {
    let port: u16 = arg_req(args, "--port")?.parse()?;
    let stream = arg_req(args, "--stream")?;
    let load = Load {
        rate: arg_or(args, "--rate", 6_000.0)?,
        secs: arg_or(args, "--seconds", 10.0)?,
        warmup: 0.0,
        size: arg_or(args, "--size", 100)?,
        tick: Duration::from_millis(1),
    };
    ensure!(
        load.rate >= 1.0 && load.secs > 0.0 && load.size > 0,
        "--rate, --seconds and --size must be positive"
    );
    let outcome = tokio::task::spawn_blocking(move || drive(port, &stream, load)).await??;
    println!(
        r#"{{"sent": {}, "acked": {}, "failed": {}, "missing": {}, "sending_s": {:.3}}}"#,
        load.requests() as u64,
        outcome.samples.len(),
        outcome.failed,
        outcome.missing,
        outcome.sending.as_secs_f64()
    );
    Ok(())
}

/// One synchronous flushOnWrite appender on a connection and stream of its own, until
/// stopped: what a lone durable appender costs the other connections.
struct FlushAppender {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    task: tokio::task::JoinHandle<Result<(u64, f64)>>,
}

impl FlushAppender {
    async fn start(daemon: &Daemon) -> Result<Self> {
        let c = daemon.client().await?;
        let mut def = crate::pipeline::definition("bg".into(), false, 1024);
        def.flush_on_write = Some(true);
        c.create_message_stream(&def).await?;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            let payload = vec![0x42u8; 128];
            let (start, mut n) = (now(), 0u64);
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                c.append_message("bg", &payload).await?;
                n += 1;
            }
            Ok((n, start.elapsed().as_secs_f64()))
        });
        Ok(Self { stop, task })
    }

    async fn stop(self) -> Result<(u64, f64)> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.task.await?
    }
}

fn report(
    o: &Outcome,
    load: Load,
    cdf: &PathBuf,
    prefix: &str,
    context: Option<&str>,
) -> Result<()> {
    let label = |l: &str| context.map_or_else(|| l.to_owned(), |c| format!("{l} ({c})"));
    let (rate, secs, warmup) = (load.rate, load.secs, load.warmup);
    let mut v = o.samples.clone();
    ensure!(!v.is_empty(), "no latency samples");
    v.sort_unstable();
    let requests = load.requests();
    let note = format!(
        "{} appends of {} B at {rate:.0}/s on one connection (sent in {:.2} s for {:.2} s scheduled), {} failed, {} unanswered, first {warmup} s not counted, sent every {} µs; CPU-µs per append: daemon {:.2}, generator {:.2}",
        v.len(),
        load.size,
        o.sending.as_secs_f64(),
        warmup + secs,
        o.failed,
        o.missing,
        load.tick.as_micros(),
        o.cpu.0 / requests * 1e6,
        o.cpu.1 / requests * 1e6,
    );
    for (key, label_text, q) in [
        ("p50", "p50", 0.5),
        ("p90", "p90", 0.9),
        ("p99", "p99", 0.99),
        ("p999", "p99.9", 0.999),
        ("max", "max", 1.0),
    ] {
        row(
            &format!("{prefix}.{key}"),
            &label(label_text),
            quantile(&v, q) as f64 / 1000.0,
            "µs",
            &note,
        );
    }
    row(
        &format!("{prefix}.rate"),
        &label("offered rate"),
        rate.round(),
        "msg/s",
        &note,
    );
    // The distribution for the plot: evenly spaced quantiles plus the tail.
    let mut out = std::io::BufWriter::new(fs::File::create(cdf)?);
    let mut qs: Vec<f64> = (0..=200).map(|k| f64::from(k) / 200.0).collect();
    qs.extend([0.991, 0.993, 0.995, 0.997, 0.998, 0.999, 0.9995, 0.9999]);
    qs.sort_by(f64::total_cmp);
    for q in qs {
        writeln!(out, "{q} {}", quantile(&v, q) as f64 / 1000.0)?;
    }
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_counts_due_requests() {
        let start = now();
        let s = Schedule {
            start,
            rate: 1000.0,
            total: 50,
            skip: 5,
        };
        assert_eq!(s.due_by(start), 1, "request 0 is due at the start");
        assert_eq!(s.due_by(start + Duration::from_micros(999)), 1);
        assert_eq!(s.due_by(start + Duration::from_millis(1)), 2);
        assert_eq!(s.due_by(start + Duration::from_secs(9)), 50);
        assert_eq!(s.due_at(10) - start, Duration::from_millis(10));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_request_is_timed_against_the_noop_server() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(crate::noop::accept(listener));
        // 0.1 s of warm-up and 0.4 s measured at 2000/s: 1000 requests, 800 counted.
        let load = Load {
            rate: 2000.0,
            secs: 0.4,
            warmup: 0.1,
            size: 64,
            tick: Duration::from_micros(100),
        };
        let o = tokio::task::spawn_blocking(move || drive(port, "s", load))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(o.samples.len(), 800);
        assert_eq!((o.failed, o.missing), (0, 0));
        assert!(o.sending >= Duration::from_millis(499), "{:?}", o.sending);
        server.abort();
    }
}
