//! The release `stream-manager` binary on a temporary store (stopped on drop), and `smctl`
//! runs against it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
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

/// A running daemon.
pub struct Daemon {
    child: Child,
    /// The port it listens on.
    pub port: u16,
    /// Holds the store, the port file and the log (removed on drop).
    _dir: tempfile::TempDir,
}

impl Daemon {
    /// A daemon on a free port with extra flags.
    pub fn start(extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port_file = dir.path().join("port");
        let log = dir.path().join("stderr");
        let mut child = Command::new(binary())
            .arg("--store-root")
            .arg(dir.path().join("store"))
            .args(["--port", "0", "--port-file"])
            .arg(&port_file)
            .args(["--log-level", "WARN"])
            .args(extra)
            .env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", binary().display()));
        for _ in 0..2000 {
            if let Ok(text) = std::fs::read_to_string(&port_file) {
                if text.ends_with('\n') {
                    let port = text.trim().parse().expect("the port file holds a port");
                    return Self {
                        child,
                        port,
                        _dir: dir,
                    };
                }
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "stream-manager exited with {status} before listening:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("stream-manager did not write its port file within 20 s");
    }

    /// A connected client (for setting up streams).
    pub async fn client(&self) -> Client {
        Client::connect(ClientConfig::new("127.0.0.1", self.port))
            .await
            .expect("connect")
    }

    /// `smctl --port PORT ARGS` ready to run, with a clean environment.
    pub fn smctl(&self, args: &[&str]) -> Command {
        smctl_on(self.port, args)
    }

    /// Runs `smctl` with `stdin` and waits for it.
    pub fn run(&self, args: &[&str], stdin: &[u8]) -> Output {
        run(self.smctl(args), stdin)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `smctl --port PORT ARGS`, without any inherited stream manager or token variable.
pub fn smctl_on(port: u16, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_smctl"));
    c.args(["--port", &port.to_string()])
        .args(args)
        .env_remove("STREAM_MANAGER_SERVER_HOST")
        .env_remove("STREAM_MANAGER_SERVER_PORT")
        .env_remove("AWS_CONTAINER_AUTHORIZATION_TOKEN");
    c
}

/// Runs a command with `stdin`, capturing its output.
pub fn run(mut c: Command, stdin: &[u8]) -> Output {
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting smctl");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

/// Stdout of a successful run (panics with stderr otherwise).
pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "smctl failed with {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}
