"""The metrics and health endpoint (``--metrics-address``), end to end.

Each daemon serves ``GET /metrics`` and ``GET /health`` on ``127.0.0.1:0``; the bound
address is read from its log (the line is written before the port file). The Prometheus text is
parsed by the strict little parser below (HELP and TYPE before the samples, counters named
``*_total``, escaped label values), and the numbers are checked against what the test appended,
what the HTTP sink accepted and what describe says.
"""

import http.client
import os
import re
import time

import pytest
from stream_manager import (
    ExportDefinition,
    ExportFormat,
    HTTPConfig,
    MessageStreamDefinition,
    Persistence,
    StrategyOnFull,
)

from test_export_http import FAST_EXPORTER, NO_PROXY_ENV, wait_until

METRICS = ("--metrics-address", "127.0.0.1:0")
LISTENING = re.compile(r"metrics and health endpoint listening on http://127\.0\.0\.1:(\d+)/metrics")


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

def start(daemon_factory, *extra, env=None):
    e = dict(NO_PROXY_ENV)
    e.update(env or {})
    d = daemon_factory(extra_args=FAST_EXPORTER + tuple(extra), env=e)
    m = LISTENING.search(d.stderr_text())
    assert m, "no metrics address in the log:\n" + d.stderr_text()[-3000:]
    d.metrics_port = int(m.group(1))
    return d


def request(port, path, method="GET", raw=None):
    """(status, headers, body text) of one request; ``raw`` sends those bytes instead."""
    if raw is not None:
        import socket
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(raw)
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        return int(head.split(b" ")[1]), head.decode(), body.decode()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request(method, path)
        r = c.getresponse()
        return r.status, dict(r.getheaders()), r.read().decode("utf-8")
    finally:
        c.close()


_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def _parse_labels(text, i):
    """Labels starting after '{' at text[i:]; returns (dict, index after '}')."""
    labels = {}
    while True:
        if text[i] == "}":
            return labels, i + 1
        m = _LABEL_NAME.match(text, i)
        assert m, "bad label name at %r" % text[i:]
        name = m.group(0)
        i = m.end()
        assert text[i:i + 2] == '="', "expected =\" at %r" % text[i:]
        i += 2
        value = []
        while text[i] != '"':
            if text[i] == "\\":
                esc = text[i + 1]
                assert esc in '\\"n', "bad escape \\%s" % esc
                value.append({"\\": "\\", '"': '"', "n": "\n"}[esc])
                i += 2
            else:
                assert text[i] != "\n"
                value.append(text[i])
                i += 1
        i += 1
        assert name not in labels, "label %s twice" % name
        labels[name] = "".join(value)
        if text[i] == ",":
            i += 1
        else:
            assert text[i] == "}", "expected , or } at %r" % text[i:]


class Scrape:
    """A parsed /metrics answer: ``get(name, **labels)`` and the TYPE of each family."""

    def __init__(self, text):
        self.text = text
        self.types = {}
        self.samples = {}
        helped = set()
        assert text.endswith("\n")
        for line in text.split("\n")[:-1]:
            if line.startswith("# HELP "):
                name = line.split(" ")[2]
                assert name not in helped, "HELP of %s twice" % name
                helped.add(name)
            elif line.startswith("# TYPE "):
                _, _, name, kind = line.split(" ")
                assert name in helped, "TYPE of %s before its HELP" % name
                assert name not in self.types
                assert kind in ("counter", "gauge"), line
                assert (kind == "counter") == name.endswith("_total"), line
                self.types[name] = kind
            else:
                m = _METRIC_NAME.match(line)
                assert m, "bad sample line %r" % line
                name, i = m.group(0), m.end()
                assert name in self.types, "sample of %s before its TYPE" % name
                labels = {}
                if line[i] == "{":
                    labels, i = _parse_labels(line, i + 1)
                assert line[i] == " ", line
                value = float(line[i + 1:])
                key = (name, frozenset(labels.items()))
                assert key not in self.samples, "duplicate sample %r" % line
                self.samples[key] = value
        assert all(n.startswith("stream_manager_") for n in self.types), self.types

    def get(self, name, **labels):
        return self.samples.get((name, frozenset(labels.items())))


def scrape(d):
    status, headers, body = request(d.metrics_port, "/metrics")
    assert status == 200, body
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4"), headers
    return Scrape(body)


def health(d):
    import json
    status, headers, body = request(d.metrics_port, "/health")
    assert headers["Content-Type"] == "application/json", headers
    return status, json.loads(body)


def http_stream(name, uri, identifier="h", persistence=Persistence.File, **kw):
    return MessageStreamDefinition(
        name=name, persistence=persistence, strategy_on_full=StrategyOnFull.RejectNewData,
        export_definition=ExportDefinition(http=[HTTPConfig(
            identifier=identifier, uri=uri, export_format=ExportFormat.JSON_BATCHED, **kw)]))


# ---------------------------------------------------------------------------
# tests
# ---------------------------------------------------------------------------

def test_counters_follow_appends_and_an_http_export(daemon_factory, http_sink):
    d = start(daemon_factory, *METRICS)
    c = d.client()
    name = "métrics, stream-1.a"  # labels with a space, a comma, a dot and non-ASCII
    labels = dict(stream=name, export="h", kind="http")
    c.create_message_stream(http_stream(name, http_sink.url("/m"), batch_size=10))
    c.create_message_stream(MessageStreamDefinition(
        name="durable", persistence=Persistence.File, flush_on_write=True,
        strategy_on_full=StrategyOnFull.RejectNewData))
    # The destination fails (500 is retried) until the test heals it: the lag stays visible.
    http_sink.configure("/m", status=500)

    before = scrape(d)
    assert before.get("stream_manager_appends_total") == 0
    assert before.get("stream_manager_streams") == 2
    assert before.get("stream_manager_export_lag_messages", **labels) == 0
    assert before.get("stream_manager_stream_newest_sequence_number", stream=name) == -1
    assert before.get("stream_manager_connections_open") == 1
    assert before.get("stream_manager_store_writable") == 1

    payloads = [b"%03d:" % i + b"x" * i for i in range(50)]
    for p in payloads:
        c.append_message(name, p)
    durable = [b"d" * 100] * 5
    for p in durable:
        c.append_message("durable", p)
    sent = sum(map(len, payloads))

    s = scrape(d)
    assert s.get("stream_manager_appends_total") == 55
    assert s.get("stream_manager_appended_bytes_total") == sent + 500
    assert s.get("stream_manager_stream_appends_total", stream=name) == 50
    assert s.get("stream_manager_stream_appended_bytes_total", stream=name) == sent
    assert s.get("stream_manager_stream_oldest_sequence_number", stream=name) == 0
    assert s.get("stream_manager_stream_newest_sequence_number", stream=name) == 49
    assert s.get("stream_manager_stream_messages", stream=name) == 50
    # Every record carries a 24-byte header, every segment a 16-byte one.
    assert s.get("stream_manager_stream_stored_bytes", stream=name) == sent + 50 * 24 + 16
    # flushOnWrite: each of the 5 sequential appends waited for its own fdatasync.
    assert s.get("stream_manager_stream_fsyncs_total", stream="durable") == 5
    assert s.get("stream_manager_stream_fsyncs_total", stream=name) == 0
    assert s.get("stream_manager_fsyncs_total") >= before.get("stream_manager_fsyncs_total") + 5
    assert s.get("stream_manager_append_io_errors_total") == 0

    # While the sink fails: nothing exported, the whole stream is lag, errors and retries move.
    def failing():
        s = scrape(d)
        assert s.get("stream_manager_export_messages_total", **labels) == 0
        assert s.get("stream_manager_export_lag_messages", **labels) == 50
        return s if (s.get("stream_manager_export_errors_total", **labels) >= 3
                     and s.get("stream_manager_export_retries_total", **labels) >= 2
                     and s.get("stream_manager_export_lag_seconds", **labels) > 0) else None

    s = wait_until(failing, 20, "errors and retries while the sink answers 500", http_sink.summary)
    errors = s.get("stream_manager_export_errors_total", **labels)
    assert s.get("stream_manager_export_last_exported_sequence_number", **labels) == -1
    assert s.get("stream_manager_export_stalled", **labels) == 0  # default threshold: 300 s
    assert s.get("stream_manager_uploaded_bytes_total", kind="http") == 0
    status, h = health(d)
    assert (status, h["status"]) == (200, "ok"), h

    # Healed: the lag goes down to 0 and never up again; the delivered counters go up to 50.
    http_sink.heal("/m")
    lags, exported = [], []

    def drained():
        s = scrape(d)
        lags.append(s.get("stream_manager_export_lag_messages", **labels))
        exported.append(s.get("stream_manager_export_messages_total", **labels))
        return s if exported[-1] == 50 else None

    s = wait_until(drained, 30, "50 messages exported", http_sink.summary)
    assert lags == sorted(lags, reverse=True), lags
    assert exported == sorted(exported), exported
    assert lags[-1] == 0
    assert s.get("stream_manager_export_lag_seconds", **labels) == 0
    assert s.get("stream_manager_export_bytes_total", **labels) == sent
    assert s.get("stream_manager_export_last_exported_sequence_number", **labels) == 49
    assert s.get("stream_manager_export_skipped_messages_total", **labels) == 0
    assert s.get("stream_manager_uploaded_bytes_total", kind="http") == sent
    assert s.get("stream_manager_uploaded_bytes_total", kind="kinesis") == 0
    assert s.get("stream_manager_export_errors_total", **labels) >= errors
    assert http_sink.accepted_count("/m") == 50

    # The same numbers as describe (one source of truth).
    r = d.raw()
    info = r.describe(name)["messageStreamInfo"]
    st = info["exportStatuses"][0]
    assert st["exportedMessagesCount"] == 50
    assert st["exportedBytesFromStream"] == sent
    assert info["storageStatus"]["totalBytes"] == s.get("stream_manager_stream_stored_bytes", stream=name)
    assert info["telemetry"]["bytesUploadedToHttp"] == sent
    assert info["telemetry"]["bytesAppended"] == s.get("stream_manager_appended_bytes_total")
    status, h = health(d)
    assert (status, h["status"], h["exports"]["count"]) == (200, "ok", 1), h


def test_health_reports_a_stalled_export_and_an_unwritable_store(daemon_factory, http_sink):
    d = start(daemon_factory, *METRICS, "--health-stall-seconds", "1")
    c = d.client()
    c.create_message_stream(http_stream("s", http_sink.url("/s"), identifier="out"))
    status, h = health(d)
    assert (status, h["status"], h["store"]["writable"]) == (200, "ok", True), h
    assert h["exports"]["stallThresholdSeconds"] == 1

    http_sink.configure("/s", status=503)
    for i in range(3):
        c.append_message("s", b"m%d" % i)

    def stalled():
        status, h = health(d)
        return (status, h) if h["exports"]["stalled"] else None

    status, h = wait_until(stalled, 20, "a stalled export in /health", http_sink.summary)
    assert (status, h["status"]) == (200, "degraded"), h
    [e] = h["exports"]["stalled"]
    assert (e["stream"], e["export"], e["kind"], e["lagMessages"]) == ("s", "out", "http", 3), e
    assert e["stalledSeconds"] > 1
    assert "503" in e["lastError"], e
    assert scrape(d).get("stream_manager_export_stalled", stream="s", export="out", kind="http") == 1

    # Healed: it catches up and is no longer stalled.
    http_sink.heal("/s")
    wait_until(lambda: scrape(d).get("stream_manager_export_lag_messages", stream="s", export="out",
                                     kind="http") == 0, 20, "the export to catch up", http_sink.summary)
    assert http_sink.accepted_count("/s") == 3
    status, h = health(d)
    assert (status, h["status"], h["exports"]["stalled"]) == (200, "ok", []), h

    # The store root disappears (renamed away): the probe fails, /health answers 503.
    moved = d.store_root.with_name("store-moved")
    os.rename(d.store_root, moved)
    try:
        status, h = wait_until(lambda: (lambda r: r if r[0] == 503 else None)(health(d)),
                               20, "/health 503 without a store root")
        assert h["status"] == "unhealthy" and h["store"]["writable"] is False, h
        assert "No such file" in h["store"]["error"], h
        assert scrape(d).get("stream_manager_store_writable") == 0
    finally:
        os.rename(moved, d.store_root)
    status, h = wait_until(lambda: (lambda r: r if r[0] == 200 else None)(health(d)),
                           20, "/health 200 once the store root is back")
    assert h["store"]["writable"] is True and h["store"]["error"] is None
    assert "the store root is not writable" in d.stderr_text()
    assert "writable again" in d.stderr_text()


def test_full_disk_counts_append_errors_and_fails_health(daemon_factory, small_disk):
    d = daemon_factory(start=False, label="full", extra_args=METRICS)
    d.store_root = small_disk / "store"
    d.store_root.mkdir()
    d.start()
    port = int(LISTENING.search(d.stderr_text()).group(1))
    d.metrics_port = port
    c = d.client()
    c.create_message_stream(MessageStreamDefinition(
        name="fill", persistence=Persistence.File, stream_segment_size=64 * 1024,
        max_size=1 << 30, strategy_on_full=StrategyOnFull.RejectNewData))
    raw = d.raw()
    failures = 0
    # Large appends until one fails, then small ones until one fails: no page left.
    for size in (16 * 1024, 1):
        for _ in range(100_000):
            if raw.append("fill", b"x" * size)["status"] != 0:
                failures += 1
                break
    assert failures == 2
    s = scrape(d)
    assert s.get("stream_manager_append_io_errors_total") == 2
    status, h = wait_until(lambda: (lambda r: r if r[0] == 503 else None)(health(d)),
                           20, "/health 503 on a full disk")
    assert "No space left" in h["store"]["error"] and h["store"]["appendIoErrors"] == 2, h
    # (Getting back to 200 once the store is writable again is checked with the renamed root
    # above; waiting for the next probe here would only add 5 s to the suite.)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder anyway")
def test_health_503_on_a_read_only_store_root(daemon_factory):
    d = start(daemon_factory, *METRICS)
    os.chmod(d.store_root, 0o555)
    try:
        status, h = wait_until(lambda: (lambda r: r if r[0] == 503 else None)(health(d)),
                               20, "/health 503 on a read-only store root")
        assert "Permission denied" in h["store"]["error"], h
    finally:
        os.chmod(d.store_root, 0o755)
    wait_until(lambda: health(d)[0] == 200, 20, "/health 200 once writable again")


def test_http_surface(daemon_factory):
    d = start(daemon_factory, *METRICS)
    port = d.metrics_port
    status, _, body = request(port, "/nope")
    assert status == 404 and "GET /, /status.json, /metrics or /health" in body
    status, _, _ = request(port, "/metrics/extra")
    assert status == 404
    status, headers, _ = request(port, "/metrics", method="POST")
    assert status == 405 and headers["Allow"] == "GET"
    status, _, _ = request(port, "/health", method="DELETE")
    assert status == 405
    assert request(port, None, raw=b"garbage\r\n\r\n")[0] == 400
    assert request(port, None, raw=b"GET /metrics HTTP/2.0\r\n\r\n")[0] == 400
    # A head larger than 8 KiB is refused without reading it all.
    assert request(port, None, raw=b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 20000 + b"\r\n\r\n")[0] == 431
    # A query string is ignored; the daemon still serves its clients after all that.
    status, _, body = request(port, "/metrics?x=1")
    assert status == 200 and "stream_manager_appends_total 0\n" in body
    c1, c2 = d.client(), d.client()
    c1.create_message_stream(MessageStreamDefinition(name="a", strategy_on_full=StrategyOnFull.OverwriteOldestData))
    c2.list_streams()
    assert scrape(d).get("stream_manager_connections_open") == 2
    d.clients.remove(c2)
    c2.close()
    wait_until(lambda: scrape(d).get("stream_manager_connections_open") == 1, 10, "one connection open")


def test_address_from_the_environment_and_refusals(daemon_factory):
    # The variable turns it on; empty is off.
    d = start(daemon_factory, env={"STREAM_MANAGER_METRICS_ADDRESS": "localhost:0"})
    assert health(d)[0] == 200
    off = daemon_factory(env={"STREAM_MANAGER_METRICS_ADDRESS": ""})
    assert "metrics and health endpoint" not in off.stderr_text()
    off.client().list_streams()

    # Not loopback without the second flag: refused at start-up, with the reason.
    bad = daemon_factory(start=False)
    proc = bad.spawn(bad.command(bad.run_dir / "port") + ["--metrics-address", "0.0.0.0:0"])
    assert proc.wait(timeout=20) == 2
    assert "not a loopback address" in bad.stderr_text()
    assert "--metrics-allow-non-loopback" in bad.stderr_text()
    garbled = daemon_factory(start=False)
    proc = garbled.spawn(garbled.command(garbled.run_dir / "port") + ["--metrics-address", "nine"])
    assert proc.wait(timeout=20) == 2
    assert "HOST:PORT" in garbled.stderr_text()
