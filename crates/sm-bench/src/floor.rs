//! P7's reference server, "the least server": with one synchronous appender (W1, W2), about
//! the most any server reaches over the daemon's protocol with the same client on this
//! machine; with 32 (W6), the least work per message on one thread. It speaks the real
//! protocol (`sm-wire`'s `ServerCodec`, like the no-op server) and does the least a durable
//! server must: each append's payload written with one `pwrite` into a file preallocated with
//! `fallocate` (as the daemon's segments are), and with `--durable true` one `fdatasync` per
//! turn of its event loop before the acknowledgements of the appends written so far go out
//! (Redis's shape with `appendfsync always`: one thread, the fsync blocks it). It keeps no
//! index, no records, no CRC, no streams and no recovery: it cannot serve a read, and a
//! restart forgets everything. Not a server a user could run; a floor for the servers' costs.

use std::cell::Cell;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::rc::Rc;

use anyhow::{Context, Result};
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};

use crate::noop::{serve, Keep};
use crate::{arg_or, arg_req};

/// How far ahead of the writes the file is allocated.
const PREALLOCATE: u64 = 64 << 20;

/// The file and the fsyncs, shared by the connections of the one thread.
struct Log {
    file: File,
    /// Where the next payload goes.
    end: Cell<u64>,
    /// How far the file is allocated.
    allocated: Cell<u64>,
    /// Payloads written so far; the fsync task covers them all.
    written: Cell<u64>,
    /// Asks the fsync task for a turn.
    wanted: Notify,
    /// Payloads covered by the last fsync.
    synced: watch::Sender<u64>,
    durable: bool,
}

impl Log {
    fn new(file: File, durable: bool) -> Rc<Self> {
        Rc::new(Self {
            file,
            end: Cell::new(0),
            allocated: Cell::new(0),
            written: Cell::new(0),
            wanted: Notify::new(),
            synced: watch::Sender::new(0),
            durable,
        })
    }

    /// Writes one payload.
    fn write(&self, payload: &[u8]) -> Result<()> {
        let at = self.end.get();
        let end = at + payload.len() as u64;
        if end > self.allocated.get() {
            let to = end + PREALLOCATE;
            let len = to - self.allocated.get();
            rustix::fs::fallocate(
                &self.file,
                rustix::fs::FallocateFlags::empty(),
                self.allocated.get(),
                len,
            )
            .context("fallocate")?;
            self.allocated.set(to);
        }
        self.file.write_all_at(payload, at)?;
        self.end.set(end);
        self.written.set(self.written.get() + 1);
        Ok(())
    }

    /// The fsync task: one `fdatasync` covering every payload written when it starts, then
    /// the waiting connections are released.
    async fn sync_loop(self: Rc<Self>) -> Result<()> {
        loop {
            self.wanted.notified().await;
            let target = self.written.get();
            if target > *self.synced.borrow() {
                self.file.sync_data().context("fdatasync")?;
                self.synced.send_replace(target);
            }
        }
    }
}

impl Keep for Rc<Log> {
    fn keep(&self, payload: &[u8]) -> Result<()> {
        self.write(payload)
    }

    /// Durable: asks for an fsync and waits until one covers every payload written so far.
    async fn settle(&self) -> Result<()> {
        let target = self.written.get();
        if !self.durable || *self.synced.borrow() >= target {
            return Ok(());
        }
        self.wanted.notify_one();
        self.synced
            .subscribe()
            .wait_for(|s| *s >= target)
            .await
            .context("the fsync task ended")?;
        Ok(())
    }
}

pub fn run(args: &[String]) -> Result<()> {
    let port: u16 = arg_req(args, "--port")?.parse().context("--port")?;
    let dir = PathBuf::from(arg_req(args, "--dir")?);
    let durable: bool = arg_or(args, "--durable", true)?;
    std::fs::create_dir_all(&dir)?;
    let file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(dir.join("floor.log"))?;
    let log = Log::new(file, durable);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    tokio::task::LocalSet::new().block_on(&rt, async move {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let syncer = log.clone();
        tokio::task::spawn_local(async move {
            if let Err(e) = syncer.sync_loop().await {
                eprintln!("floor-server: {e:#}");
                std::process::exit(1);
            }
        });
        loop {
            let (sock, _) = listener.accept().await?;
            sock.set_nodelay(true)?;
            let log = log.clone();
            tokio::task::spawn_local(async move {
                if let Err(e) = serve(sock, &log).await {
                    eprintln!("floor-server: connection ended: {e:#}");
                }
            });
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sm_client::{Client, ClientConfig};

    /// The least server answers the Rust client, each payload written into its file in
    /// order (the next test: a durable one answers only after an fsync covered it).
    #[test]
    fn writes_each_append_and_answers_after_the_fsync() {
        let dir = std::env::temp_dir().join(format!("sm-bench-floor-{}", std::process::id()));
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let args: Vec<String> = ["floor-server", "--port", &port.to_string(), "--dir"]
            .map(str::to_owned)
            .into_iter()
            .chain([dir.display().to_string()])
            .collect();
        std::thread::spawn(move || run(&args));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let client = loop {
                match Client::connect(ClientConfig::new("127.0.0.1", port)).await {
                    Ok(c) => break c,
                    Err(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
                }
            };
            assert_eq!(client.append_message("s", b"first").await.unwrap(), 0);
            let seqs = client
                .append_many("s", [b"a2".as_slice(), b"b3", b"c4"], 3)
                .await
                .unwrap();
            assert_eq!(seqs.len(), 3);
        });
        let data = std::fs::read(dir.join("floor.log")).unwrap();
        let written: Vec<u8> = data.into_iter().take_while(|b| *b != 0).collect();
        assert_eq!(written, b"firsta2b3c4");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn settles_only_once_an_fsync_covers_what_was_written() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let dir = std::env::temp_dir().join(format!("sm-bench-floor-s-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = File::create(dir.join("floor.log")).unwrap();
        let log = Log::new(file, true);
        tokio::task::LocalSet::new().block_on(&rt, async {
            log.keep(b"x").unwrap();
            // No fsync task yet: the append waits.
            let waited = tokio::time::timeout(std::time::Duration::from_millis(50), log.settle());
            assert!(waited.await.is_err(), "settled before any fsync");
            tokio::task::spawn_local(log.clone().sync_loop());
            log.settle().await.unwrap();
            assert_eq!(*log.synced.borrow(), 1);
            // Nothing new written: settles at once.
            log.settle().await.unwrap();
        });
        let _ = std::fs::remove_dir_all(&dir);
    }
}
