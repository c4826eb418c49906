//! Starts the release `stream-manager` binary on a temporary store and stops it on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use sm_client::{Client, ClientConfig};

/// The daemon binary: `$SM_BINARY`, else the workspace's release build.
pub fn binary() -> PathBuf {
    if let Some(p) = std::env::var_os("SM_BINARY") {
        return PathBuf::from(p);
    }
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/release/stream-manager");
    assert!(
        p.exists(),
        "{} does not exist: run `cargo build --release -p stream-manager` first \
         (or set SM_BINARY to a stream-manager binary)",
        p.display()
    );
    p
}

/// A free TCP port on loopback (for tests that restart the daemon on the same port).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running daemon.
pub struct Daemon {
    child: Option<Child>,
    /// The port it listens on.
    pub port: u16,
    /// Holds the store root (`store/`), port files and logs.
    pub dir: tempfile::TempDir,
    starts: u32,
}

impl Daemon {
    /// A daemon on a free port with default flags.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// A daemon on a free port with extra flags.
    pub fn start_with(extra: &[&str]) -> Self {
        Self::start_on(0, extra)
    }

    /// A daemon on `port` (0: any free one) with extra flags.
    pub fn start_on(port: u16, extra: &[&str]) -> Self {
        let mut d = Self {
            child: None,
            port: 0,
            dir: tempfile::tempdir().unwrap(),
            starts: 0,
        };
        d.launch(port, extra);
        d
    }

    /// The store root.
    pub fn store(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    /// Starts the binary and waits until its port file is complete.
    pub fn launch(&mut self, port: u16, extra: &[&str]) {
        assert!(self.child.is_none(), "already running");
        self.starts += 1;
        let port_file = self.dir.path().join(format!("port-{}", self.starts));
        let log = self.dir.path().join(format!("stderr-{}", self.starts));
        let child = Command::new(binary())
            .arg("--store-root")
            .arg(self.store())
            .args(["--port", &port.to_string(), "--port-file"])
            .arg(&port_file)
            .args(["--log-level", "WARN"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", binary().display()));
        self.child = Some(child);
        for _ in 0..2000 {
            if let Ok(text) = std::fs::read_to_string(&port_file) {
                if text.ends_with('\n') {
                    self.port = text.trim().parse().expect("the port file holds a port");
                    return;
                }
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                self.child = None;
                panic!(
                    "stream-manager exited with {status} before listening:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("stream-manager did not write its port file within 20 s");
    }

    /// Kills the daemon (SIGKILL) and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// A client configuration for this daemon, with short timeouts.
    pub fn config(&self) -> ClientConfig {
        ClientConfig {
            request_timeout: Duration::from_secs(20),
            ..ClientConfig::new("127.0.0.1", self.port)
        }
    }

    /// A connected client.
    pub async fn client(&self) -> Client {
        Client::connect(self.config()).await.expect("connect")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}
