"""Security checks: tokens never logged, a non-loopback bind warns, stream names never reach the
filesystem outside the store root."""

import os
import re

import pytest
from stream_manager import StreamManagerClient

from rawclient import ST_INVALID_REQUEST, ST_SUCCESS, ST_UNAUTHORIZED

TOKEN = "s3cr3t-T0KEN-4f9c2e"
WRONG = "wr0ng-T0KEN-77aa1b"


def test_auth_tokens_never_logged(daemon_factory, tmp_path, monkeypatch):
    tokens = tmp_path / "tokens.txt"
    tokens.write_text(TOKEN + "\n")
    d = daemon_factory(extra_args=["--authenticate-client", "true", "--auth-tokens-file", str(tokens)],
                       label="authlog")
    monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", TOKEN)
    c = StreamManagerClient(host="127.0.0.1", port=d.port, connect_timeout=5, request_timeout=10)
    d.clients.append(c)
    assert c.list_streams() == []
    good = d.raw(auth_token=TOKEN)
    assert good.list_streams()["status"] == ST_SUCCESS
    bad = d.raw(handshake=False)
    assert bad.handshake(auth_token=WRONG)["status"] == ST_UNAUTHORIZED
    c.close()
    d.close_clients()
    d.terminate()
    log = d.stderr_text()
    assert "DEBUG" in log and "client connected" in log, "the daemon ran at DEBUG level"
    assert "connection refused" in log
    for secret in (TOKEN, WRONG):
        assert secret not in log, "token %s appears in the log" % secret
        assert secret not in (d.run_dir / ("stdout-%d.log" % d.starts)).read_text(errors="replace")


def test_non_loopback_host_warns(daemon_factory):
    d = daemon_factory(extra_args=["--host", "0.0.0.0"], label="anyhost")
    assert re.search(r"WARN.*non-loopback address", d.stderr_text()), d.stderr_text()[-2000:]
    c = d.client(request_timeout=10)  # connects to 127.0.0.1
    assert c.list_streams() == []


def test_loopback_host_does_not_warn(daemon):
    assert "non-loopback" not in daemon.stderr_text()


NAMES = [".", "..", "...", " .", ". ", "x..", "a" * 255, "\u6f22" * 255, "\u00e9" * 255,
         "\U0001F600\u0301" * 60, "CON", "nul", "-rf", "a b,c"]
REFUSED = ["../x", "..\\x", "a/../../b", "/etc", "x\x00y", "../" + "\u6f22" * 200, "\u6f22" * 256]


def walk(root):
    out = set()
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            out.add(os.path.join(dirpath, n))
    return out


def test_stream_names_stay_inside_the_store(daemon_factory, tmp_path):
    d = daemon_factory(label="names")
    before_outside = {p for p in walk(tmp_path) if not p.startswith(str(d.store_root) + os.sep)}
    raw = d.raw()
    created = []
    for name in NAMES:
        resp = raw.create({"name": name, "strategyOnFull": 0})
        if resp["status"] == ST_SUCCESS:
            created.append(name)
            assert raw.append(name, b"payload of %r" % name)["status"] == ST_SUCCESS
        else:
            assert resp["status"] == ST_INVALID_REQUEST, (name, resp)
    for name in REFUSED:
        resp = raw.create({"name": name, "strategyOnFull": 0})
        assert resp["status"] == ST_INVALID_REQUEST, (name, resp)
    assert ".." in created and "." in created and "\u6f22" * 255 in created
    assert set(raw.list_streams()["streams"]) == set(created)
    # Nothing new outside the store root (the run folder holds the daemon's logs and port file).
    after_outside = {p for p in walk(tmp_path) if not p.startswith(str(d.store_root) + os.sep)}
    new_outside = {p for p in after_outside - before_outside if not p.startswith(str(d.run_dir) + os.sep)}
    assert not new_outside, new_outside
    # One plain folder per stream directly under the root, each within NAME_MAX.
    folders = [e for e in os.scandir(d.store_root) if not e.name.startswith(".trash-")]
    assert len(folders) == len(created)
    for e in folders:
        assert e.is_dir(follow_symlinks=False) and not e.is_symlink()
        assert re.fullmatch(r"[A-Za-z0-9_-]+", e.name), e.name
        assert len(e.name.encode()) <= 255
        assert os.path.realpath(e.path) == os.path.join(os.path.realpath(d.store_root), e.name)
    for name in created:
        assert len(d.stream_dirs(name)) == 1, name
        assert raw.delete(name)["status"] == ST_SUCCESS
    after_delete_outside = {p for p in walk(tmp_path) if not p.startswith(str(d.store_root) + os.sep)}
    assert not {p for p in after_delete_outside - before_outside if not p.startswith(str(d.run_dir) + os.sep)}
