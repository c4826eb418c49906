"""Fixtures for the stream manager end-to-end suite.

Every test gets its own daemon in a fresh ``tmp_path``:

    tmp_path/<name>/store      store root (``--store-root``)
    tmp_path/<name>/run        port files and captured stdout/stderr of every start

The binary comes from ``SM_BINARY`` (absolute path), default
``<repo>/target/release/stream-manager``.  The daemon is started with
``--port 0 --port-file FILE`` and the fixture waits (20 s) for FILE to exist and
end with a newline.  Processes are always SIGKILLed on teardown; when a test
fails, the daemon's stderr is attached to the report.
"""

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from awsfakes import AWS_FAKES_KEY  # the fixtures themselves are imported by test_export_aws.py
from httpsink import SINKS_KEY, http_sink  # noqa: F401  (fixture for the HTTP export tests)
from rawclient import RawClient

REPO = Path(__file__).resolve().parents[2]
DEFAULT_BINARY = REPO / "target" / "release" / "stream-manager"
PORT_FILE_TIMEOUT = 20.0
LOG_TAIL_BYTES = 60_000

# Variables of the runner's environment that would change the daemon's (or the
# SDK's) behaviour behind the test's back.
_SCRUBBED_ENV_PREFIXES = ("STREAM_MANAGER_",)
_SCRUBBED_ENV_NAMES = ("LOG_LEVEL", "AWS_CONTAINER_AUTHORIZATION_TOKEN")

_DAEMONS_KEY = pytest.StashKey()


class DaemonStartError(Exception):
    pass


def _clean_env(extra=None):
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(_SCRUBBED_ENV_PREFIXES) and k not in _SCRUBBED_ENV_NAMES
    }
    env.setdefault("RUST_BACKTRACE", "1")
    if extra:
        for k, v in extra.items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = str(v)
    return env


def _close_quietly(obj, timeout=5.0):
    """Close an SDK client (or anything with close()) without letting it hang the teardown."""
    t = threading.Thread(target=lambda: _ignore_errors(obj.close), daemon=True)
    t.start()
    t.join(timeout)


def _ignore_errors(fn):
    try:
        fn()
    except Exception:
        pass


def _mentions_name(obj, name):
    """True when a parsed stream.json names stream ``name`` (key "name" anywhere in it)."""
    if isinstance(obj, dict):
        if obj.get("name") == name:
            return True
        return any(_mentions_name(v, name) for v in obj.values())
    if isinstance(obj, list):
        return any(_mentions_name(v, name) for v in obj)
    return False


class Daemon:
    """One stream-manager process (and its restarts) on one store root."""

    def __init__(self, binary, base_dir, extra_args=(), env=None, label="sm"):
        self.binary = str(binary)
        self.label = label
        self.base_dir = Path(base_dir)
        self.store_root = self.base_dir / "store"
        self.run_dir = self.base_dir / "run"
        self.store_root.mkdir(parents=True, exist_ok=True)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.extra_args = [str(a) for a in extra_args]
        self.extra_env = dict(env or {})
        self.proc = None
        self.port = None
        self.starts = 0
        self.log_paths = []
        self.clients = []
        self.raws = []
        self._files = []

    # -- process control -----------------------------------------------------
    def command(self, port_file, with_store_root=True, extra_args=None):
        cmd = [self.binary]
        if with_store_root:
            cmd += ["--store-root", str(self.store_root)]
        cmd += ["--port", "0", "--port-file", str(port_file), "--log-level", "DEBUG"]
        cmd += self.extra_args if extra_args is None else [str(a) for a in extra_args]
        return cmd

    def spawn(self, cmd, env_extra=None):
        """Start ``cmd`` with stdout/stderr captured to files; returns the Popen."""
        self.starts += 1
        n = self.starts
        err_path = self.run_dir / ("stderr-%d.log" % n)
        out_path = self.run_dir / ("stdout-%d.log" % n)
        self.log_paths.append(err_path)
        self.log_paths.append(out_path)
        err = open(err_path, "wb")
        out = open(out_path, "wb")
        self._files += [err, out]
        env = self.extra_env.copy()
        env.update(env_extra or {})
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            env=_clean_env(env),
            cwd=str(self.run_dir),
        )
        return self.proc

    def start(self, cmd=None, env_extra=None, port_file=None):
        """Start the daemon and wait until it has written its port file."""
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError("daemon already running")
        port_file = Path(port_file) if port_file else self.run_dir / ("port-%d" % (self.starts + 1))
        if port_file.exists():
            port_file.unlink()
        self.spawn(cmd or self.command(port_file), env_extra)
        self.port = self.wait_for_port_file(port_file)
        return self

    def wait_for_port_file(self, port_file, timeout=PORT_FILE_TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                text = Path(port_file).read_text()
            except FileNotFoundError:
                text = ""
            if text.endswith("\n"):
                try:
                    port = int(text.strip())
                except ValueError:
                    raise DaemonStartError("port file %s holds %r, not a decimal port" % (port_file, text))
                if not 0 < port < 65536:
                    raise DaemonStartError("port file %s holds invalid port %d" % (port_file, port))
                return port
            rc = self.proc.poll()
            if rc is not None:
                raise DaemonStartError(
                    "daemon exited with code %s before writing its port file\n%s" % (rc, self.log_tail())
                )
            time.sleep(0.02)
        raise DaemonStartError(
            "no complete port file %s after %.0f s\n%s" % (port_file, timeout, self.log_tail())
        )

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        """SIGKILL (kill -9) and reap."""
        self.close_clients()
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(timeout=10)
        return self.proc.returncode if self.proc else None

    def terminate(self, timeout=10.0):
        """SIGTERM; returns (exit code, seconds until exit). Exit code None means it did not exit."""
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            rc = None
        return rc, time.monotonic() - t0

    def restart(self, sig=signal.SIGKILL):
        """Stop (SIGKILL by default, or SIGTERM) and start again on the same store root.

        The port changes: make new clients afterwards.
        """
        if self.alive():
            if sig == signal.SIGKILL:
                self.kill()
            else:
                self.close_clients()
                rc, _ = self.terminate()
                if rc is None:
                    self.kill()
        return self.start()

    def shutdown(self):
        self.close_clients()
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        for f in self._files:
            _ignore_errors(f.close)

    # -- clients -----------------------------------------------------------------
    def client(self, request_timeout=30, connect_timeout=5, **kw):
        """A connected official SDK client (closed automatically on teardown)."""
        from stream_manager import StreamManagerClient

        c = StreamManagerClient(
            host="127.0.0.1",
            port=self.port,
            connect_timeout=connect_timeout,
            request_timeout=request_timeout,
            **kw,
        )
        self.clients.append(c)
        return c

    def raw(self, handshake=True, timeout=10.0, **handshake_kw):
        """A raw-frame connection; by default already past a successful handshake."""
        r = RawClient(self.port, timeout=timeout)
        self.raws.append(r)
        if handshake:
            resp = r.handshake(**handshake_kw)
            assert resp.get("status") == 0, "connect failed: %r" % (resp,)
        return r

    def close_clients(self):
        for c in self.clients:
            _close_quietly(c)
        self.clients = []
        for r in self.raws:
            r.close()
        self.raws = []

    # -- store inspection --------------------------------------------------------
    def stream_dirs(self, name):
        """Folders under the store root whose stream.json names stream ``name``."""
        found = []
        if not self.store_root.exists():
            return found
        for defn in self.store_root.rglob("stream.json"):
            try:
                data = json.loads(defn.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if _mentions_name(data, name):
                found.append(defn.parent)
        return found

    def store_files(self):
        """Relative paths of every file and folder under the store root."""
        if not self.store_root.exists():
            return set()
        return {str(p.relative_to(self.store_root)) for p in self.store_root.rglob("*")}

    # -- logs ------------------------------------------------------------------------
    def log_tail(self, limit=LOG_TAIL_BYTES):
        parts = []
        for p in self.log_paths:
            try:
                data = p.read_bytes()
            except OSError:
                continue
            if not data:
                continue
            if len(data) > limit:
                data = b"...[truncated]...\n" + data[-limit:]
            parts.append("----- %s -----\n%s" % (p.name, data.decode("utf-8", "replace")))
        return "\n".join(parts) or "(no output captured)"

    def stderr_text(self, start_index=None):
        """Text of stderr of the latest (or given 1-based) start."""
        n = start_index or self.starts
        p = self.run_dir / ("stderr-%d.log" % n)
        try:
            return p.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""


# ---------------------------------------------------------------------------
# fixtures
# ---------------------------------------------------------------------------

@pytest.fixture(scope="session")
def sm_binary():
    path = Path(os.environ.get("SM_BINARY") or DEFAULT_BINARY)
    if not path.is_file() or not os.access(str(path), os.X_OK):
        pytest.exit(
            "stream-manager binary not found or not executable at %s; build it or set SM_BINARY" % path,
            returncode=4,
        )
    return path


@pytest.fixture(autouse=True)
def _sdk_env(monkeypatch):
    """The SDK reads these at client construction; keep the runner's values out."""
    monkeypatch.delenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", raising=False)
    monkeypatch.delenv("STREAM_MANAGER_SERVER_PORT", raising=False)


@pytest.fixture
def daemon_factory(request, tmp_path, sm_binary):
    """``make(extra_args=(), env=None, start=True, label=...)`` -> Daemon.

    With start=False the Daemon is only prepared (use ``d.spawn(cmd)`` /
    ``d.start()`` yourself).  All daemons are killed on teardown.
    """
    made = []
    request.node.stash[_DAEMONS_KEY] = made

    def make(extra_args=(), env=None, start=True, label=None):
        label = label or "sm%d" % (len(made) + 1)
        d = Daemon(sm_binary, tmp_path / label, extra_args=extra_args, env=env, label=label)
        made.append(d)
        if start:
            d.start()
        return d

    yield make
    for d in made:
        d.shutdown()


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MiB tmpfs (needs root; CI runs as root), unmounted on teardown."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)],
                       capture_output=True)
    if r.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (not root?): %s" % r.stderr.decode().strip())
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


@pytest.fixture
def daemon(daemon_factory):
    """A running daemon with default settings (authentication off)."""
    return daemon_factory()


@pytest.fixture
def client(daemon):
    """An SDK client connected to ``daemon``."""
    return daemon.client()


@pytest.fixture
def raw(daemon):
    """A raw connection to ``daemon``, past a successful handshake."""
    return daemon.raw()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for d in item.stash.get(_DAEMONS_KEY, []):
            rc = d.proc.poll() if d.proc is not None else None
            header = "stream-manager output [%s] (starts=%d, running=%s, exit code=%s)" % (
                d.label, d.starts, d.alive(), rc)
            rep.sections.append((header, d.log_tail()))
        sink = item.stash.get(SINKS_KEY, None)
        if sink is not None:
            rep.sections.append(("http sink", sink.summary()))
        for fake in item.stash.get(AWS_FAKES_KEY, []):
            rep.sections.append(("AWS peer", fake.summary()))
