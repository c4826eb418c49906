"""Start-up and shutdown: configuration by flags or environment, port file,
graceful start-up errors (scenario 11), SIGTERM on an idle server."""

import socket
import subprocess
import time

import pytest
from stream_manager import MessageStreamDefinition, StrategyOnFull


def wait_exit(proc, timeout):
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return None


@pytest.mark.parametrize("how", ["flag", "env"])
def test_auth_without_tokens_file_fails_fast(daemon_factory, how):
    d = daemon_factory(start=False, label="no-tokens-" + how)
    port_file = d.run_dir / "port"
    if how == "flag":
        cmd = d.command(port_file, extra_args=["--authenticate-client", "true"])
        proc = d.spawn(cmd)
    else:
        proc = d.spawn(d.command(port_file), env_extra={"STREAM_MANAGER_AUTHENTICATE_CLIENT": "true"})
    t0 = time.monotonic()
    rc = wait_exit(proc, 10)
    took = time.monotonic() - t0
    assert rc is not None, "the daemon must refuse to start (it is still running after 10 s)"
    assert rc != 0, "authentication without tokens must be a start-up error"
    assert took < 5.0
    err = d.stderr_text()
    assert err.strip(), "the reason must be written to stderr"
    assert "token" in err.lower(), "stderr should name the missing tokens file:\n" + err
    assert not port_file.exists(), "no port file for a daemon that is not serving"


def test_auth_with_missing_tokens_file_fails_fast(daemon_factory):
    d = daemon_factory(start=False)
    port_file = d.run_dir / "port"
    proc = d.spawn(d.command(port_file, extra_args=[
        "--authenticate-client", "true", "--auth-tokens-file", str(d.base_dir / "does-not-exist")]))
    rc = wait_exit(proc, 10)
    assert rc is not None and rc != 0
    assert d.stderr_text().strip()
    assert not port_file.exists()


def test_port_file_format(daemon):
    text = (daemon.run_dir / ("port-%d" % daemon.starts)).read_text()
    assert text == "%d\n" % daemon.port


def test_configuration_from_environment(daemon_factory):
    """STREAM_MANAGER_STORE_ROOT_DIR / STREAM_MANAGER_SERVER_PORT / LOG_LEVEL instead of flags."""
    d = daemon_factory(start=False, label="env-config")
    port_file = d.run_dir / "port"
    cmd = [d.binary, "--port-file", str(port_file)]
    d.start(cmd=cmd, port_file=port_file, env_extra={
        "STREAM_MANAGER_STORE_ROOT_DIR": str(d.store_root),
        "STREAM_MANAGER_SERVER_PORT": "0",
        "LOG_LEVEL": "INFO",
    })
    c = d.client()
    c.create_message_stream(MessageStreamDefinition(name="env", strategy_on_full=StrategyOnFull.RejectNewData))
    assert c.append_message("env", b"x") == 0
    assert len(d.stream_dirs("env")) == 1, "the stream must live under STREAM_MANAGER_STORE_ROOT_DIR"


def test_sigterm_idle_server_exits_zero(daemon):
    rc, took = daemon.terminate(timeout=10)
    assert rc == 0 and took < 5.0, "exit code %r after %.1f s" % (rc, took)


def test_store_root_is_reused_not_wiped(daemon):
    c = daemon.client()
    c.create_message_stream(MessageStreamDefinition(name="keep", strategy_on_full=StrategyOnFull.RejectNewData))
    c.append_message("keep", b"v")
    stray = daemon.store_root / "README-not-a-stream.txt"
    stray.write_text("left alone")
    daemon.restart()
    c = daemon.client()
    assert c.list_streams() == ["keep"]
    assert stray.read_text() == "left alone"


def test_binds_loopback_127_0_0_1_only(daemon):
    """Bound to 127.0.0.1, not 0.0.0.0: 127.0.0.2 (also loopback on Linux) is refused."""
    socket.create_connection(("127.0.0.1", daemon.port), timeout=5).close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.2", daemon.port), timeout=5).close()
