"""The HTTP exporter, end to end, against the local sink of ``httpsink.py``.

Every test runs its own daemon with short retry and request timeouts
(``--exporter-retry-base-ms 50 --exporter-http-timeout-ms 1000``) and exports to
``http://127.0.0.1:<sink port>/<path>``.  What arrives is checked message by
message (sequence numbers and payload bytes), and describe is checked against it.
"""

import random
import signal
import socket
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

FAST_EXPORTER = ("--exporter-retry-base-ms", "50", "--exporter-http-timeout-ms", "1000")
# reqwest honours the proxy variables: keep the runner's out of the daemon.
NO_PROXY_ENV = {k: None for k in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy",
                                  "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy")}
JSON = ExportFormat.JSON_BATCHED
RAW = ExportFormat.RAW_NOT_BATCHED


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

def start_daemon(daemon_factory, *extra):
    return daemon_factory(extra_args=FAST_EXPORTER + tuple(extra), env=NO_PROXY_ENV)


def now_ms():
    return int(time.time() * 1000)


def http(identifier, uri, fmt=JSON, **kw):
    return HTTPConfig(identifier=identifier, uri=uri, export_format=fmt, **kw)


def stream_def(name, exports=(), persistence=Persistence.File, **kw):
    kw.setdefault("strategy_on_full", StrategyOnFull.RejectNewData)
    return MessageStreamDefinition(
        name=name, persistence=persistence,
        export_definition=ExportDefinition(http=list(exports)) if exports else None, **kw)


def make_payloads(n, seed, max_len=300):
    rnd = random.Random(seed)
    return [b"%d:" % i + bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, max_len))) for i in range(n)]


def append_all(client, name, payloads, first_seq=0):
    for i, p in enumerate(payloads):
        seq = client.append_message(name, p)
        assert seq == first_seq + i, "append %d got sequence number %d" % (first_seq + i, seq)


def fmt_status(s):
    return ("id=%s last_seq=%s time=%s err=%r bytes=%s msgs=%s" % (
        s.export_config_identifier, s.last_exported_sequence_number, s.last_export_time,
        s.error_message, s.exported_bytes_from_stream, s.exported_messages_count))


def statuses(client, name):
    """{export id: ExportStatus} from the SDK's describe."""
    info = client.describe_message_stream(name)
    return {s.export_config_identifier: s for s in (info.export_statuses or [])}


def raw_statuses(daemon, name):
    """{export id: exportStatuses entry} from a raw describe (has skippedMessagesCount)."""
    r = daemon.raw()
    try:
        resp = r.describe(name)
    finally:
        r.close()
        daemon.raws.remove(r)
    assert resp["status"] == 0, resp
    return {s["exportConfigIdentifier"]: s for s in resp["messageStreamInfo"].get("exportStatuses") or []}


def context(client=None, name=None, sink=None, path=None):
    parts = []
    if sink is not None:
        parts.append("sink:\n" + sink.summary(path))
    if client is not None and name is not None:
        try:
            parts.append("describe:\n" + "\n".join(fmt_status(s) for s in statuses(client, name).values()))
        except Exception as e:  # the context must never hide the real failure
            parts.append("describe failed: %r" % (e,))
    return "\n".join(parts)


def wait_until(cond, timeout, what, ctx=lambda: ""):
    """Poll ``cond`` every 20 ms until it is truthy; fail with ``what`` and ``ctx()`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            pytest.fail("timed out after %.1f s waiting for %s\n%s" % (timeout, what, ctx()))
        time.sleep(0.02)


def assert_stays(cond, seconds, what, ctx=lambda: ""):
    """``cond`` must hold during all of ``seconds`` (a negative check)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert cond(), "%s\n%s" % (what, ctx())
        time.sleep(0.05)
    assert cond(), "%s\n%s" % (what, ctx())


def first_gap(seqs, start, end):
    """Describes the first place where ``seqs`` differs from range(start, end + 1), or None."""
    expected = list(range(start, end + 1))
    if seqs == expected:
        return None
    for i, (a, b) in enumerate(zip(seqs, expected)):
        if a != b:
            return "index %d: got %d, expected %d (around: %r)" % (i, a, b, seqs[max(0, i - 3):i + 4])
    return "got %d messages, expected %d (tail: %r)" % (len(seqs), len(expected), seqs[-5:])


def assert_json_exact(sink, path, name, payloads, start=0, t0=None, t1=None):
    """Path received exactly messages start..len(payloads)-1 of ``name``: in order, once, intact."""
    msgs = sink.messages(path)
    seqs = [m.seq for m in msgs]
    gap = first_gap(seqs, start, len(payloads) - 1)
    assert gap is None, "%s: not exactly %d..%d in order once: %s\n%s" % (
        path, start, len(payloads) - 1, gap, sink.summary(path))
    for m in msgs:
        assert m.payload == payloads[m.seq], "%s: payload of seq %d differs: %r != %r" % (
            path, m.seq, m.payload[:40], payloads[m.seq][:40])
        assert m.stream == name, "%s: streamName %r != %r" % (path, m.stream, name)
        if t0 is not None:
            assert t0 - 5 <= m.ingest_time <= t1 + 5, "%s: ingestTime %d of seq %d not within [%d, %d]" % (
                path, m.ingest_time, m.seq, t0, t1)
    assert not sink.protocol_errors, sink.protocol_errors[:5]


def dedup_keep_first(seqs):
    seen = set()
    out = []
    for s in seqs:
        if s not in seen:
            seen.add(s)
            out.append(s)
    return out


def checkpoint_files(daemon, name):
    dirs = daemon.stream_dirs(name)
    assert len(dirs) == 1, "stream %r folders: %r (store: %r)" % (name, dirs, sorted(daemon.store_files()))
    return sorted(p.name for p in dirs[0].glob("export-*.json"))


# ---------------------------------------------------------------------------
# tests
# ---------------------------------------------------------------------------

def test_json_batched_two_priorities_under_random_failures(daemon_factory, http_sink):
    """10,000 messages through two JSON_BATCHED exports while the sink fails 30% and stalls 3%
    of the requests: each path gets every message exactly once, in order, intact."""
    n = 10_000
    name = "bulk"
    sink = http_sink
    for path in ("/hi", "/lo"):
        sink.configure(path, fail_rate=0.30, stall_rate=0.03, stall_seconds=3.0)
    d = start_daemon(daemon_factory)
    c = d.client()
    payloads = make_payloads(n, seed=7, max_len=200)
    t0 = now_ms()
    c.create_message_stream(stream_def(name, [
        http("hi", sink.url("/hi"), JSON, batch_size=200, priority=1),
        http("lo", sink.url("/lo"), JSON, batch_size=100, priority=8),
    ]))
    append_all(c, name, payloads)
    t1 = now_ms()

    ctx = lambda: context(c, name, sink)  # noqa: E731
    for path in ("/hi", "/lo"):
        wait_until(lambda: sink.accepted_count(path) >= n, 60, "%d messages on %s" % (n, path), ctx)
    for ident in ("hi", "lo"):
        wait_until(lambda: statuses(c, name)[ident].last_exported_sequence_number == n - 1, 10,
                   "describe of %s to reach %d" % (ident, n - 1), ctx)
    t2 = now_ms()

    total_bytes = sum(len(p) for p in payloads)
    for path, ident, batch in (("/hi", "hi", 200), ("/lo", "lo", 100)):
        assert_json_exact(sink, path, name, payloads, t0=t0, t1=t1)
        sizes = [len(b) for b in sink.batches(path)]
        assert max(sizes) <= batch, "%s: a batch of %d messages exceeds batch_size %d" % (path, max(sizes), batch)
        assert sink.content_types(path) == {"application/json": len(sizes)}, sink.content_types(path)
        counts = sink.counts(path)
        assert counts.get(503, 0) > 0 and counts.get("stall", 0) > 0, \
            "%s: the sink never failed (or stalled) a request, so no retry was exercised: %r" % (path, counts)
        s = statuses(c, name)[ident]
        assert s.last_exported_sequence_number == n - 1, fmt_status(s)
        assert s.exported_messages_count == n, fmt_status(s)
        assert s.exported_bytes_from_stream == total_bytes, fmt_status(s)
        assert s.error_message is None, "a clean success must clear the error: " + fmt_status(s)
        assert t0 <= s.last_export_time <= t2 + 1000, fmt_status(s)
        raw_s = raw_statuses(d, name)[ident]
        assert raw_s.get("skippedMessagesCount", 0) == 0, raw_s


@pytest.mark.parametrize("persistence", [Persistence.File, Persistence.Memory], ids=["file", "memory"])
def test_raw_not_batched_one_post_per_message(daemon_factory, http_sink, persistence):
    """RAW_NOT_BATCHED: one POST per message, body = payload, in order, also with failures.
    (Small batches: see test_raw_partial_progress_resets_backoff for large ones.)"""
    n = 300
    name = "raw-" + persistence.name.lower()
    sink = http_sink
    sink.configure("/raw", fail_rate=0.1)
    d = start_daemon(daemon_factory)
    c = d.client()
    payloads = make_payloads(n, seed=11)
    c.create_message_stream(stream_def(name, [http("raw", sink.url("/raw"), RAW, batch_size=5)],
                                       persistence=persistence))
    append_all(c, name, payloads)
    ctx = lambda: context(c, name, sink)  # noqa: E731
    wait_until(lambda: len(sink.bodies("/raw")) >= n, 20, "%d raw bodies" % n, ctx)
    wait_until(lambda: statuses(c, name)["raw"].last_exported_sequence_number == n - 1, 10, "describe", ctx)

    bodies = sink.bodies("/raw")
    assert len(bodies) == n, "%d bodies for %d messages\n%s" % (len(bodies), n, ctx())
    for i, (b, p) in enumerate(zip(bodies, payloads)):
        assert b == p, "body %d is %r, expected payload %d %r\n%s" % (i, b[:40], i, p[:40], ctx())
    assert sink.content_types("/raw") == {"application/octet-stream": n}, sink.content_types("/raw")
    assert sink.messages("/raw") == [], "RAW_NOT_BATCHED must not send JSON"
    assert sink.counts("/raw").get(503, 0) > 0, "no failure was injected: %r" % sink.counts("/raw")
    s = statuses(c, name)["raw"]
    assert s.exported_messages_count == n, fmt_status(s)
    assert s.exported_bytes_from_stream == sum(map(len, payloads)), fmt_status(s)
    assert s.error_message is None, fmt_status(s)
    if persistence == Persistence.File:
        files = checkpoint_files(d, name)
        assert len(files) == 1, files
    else:
        assert d.stream_dirs(name) == [], "a Memory stream must leave nothing on disk"


def test_raw_partial_progress_resets_backoff(daemon_factory, http_sink):
    """RAW_NOT_BATCHED with batch_size 50 and 20% of the POSTs failing: almost every attempt
    delivers some messages and then fails.  A retry that delivered something is progress:
    the next failure must wait the first retry delay again (50 ms here), not keep doubling
    (Backoff.attempts() is "failures since the last success").  ~60 failures x 50 ms = 3 s;
    an escalating backoff needs minutes."""
    n = 200
    name = "raw-flaky"
    sink = http_sink
    sink.configure("/flaky", fail_rate=0.2)
    d = start_daemon(daemon_factory)
    c = d.client()
    payloads = make_payloads(n, seed=17, max_len=50)
    c.create_message_stream(stream_def(name, [http("flaky", sink.url("/flaky"), RAW, batch_size=50)]))
    append_all(c, name, payloads)
    ctx = lambda: context(c, name, sink)  # noqa: E731
    wait_until(lambda: len(sink.bodies("/flaky")) >= n, 15,
               "%d raw bodies from an export whose every other batch partly fails" % n, ctx)
    assert sink.bodies("/flaky") == payloads, "bodies differ from the payloads\n" + ctx()


def test_priority_orders_exports_with_one_sender(daemon_factory, http_sink):
    """With one sender (--exporter-thread-pool-size 1) and three exports due at once, every batch
    of priority 1 goes before any of priority 5, and those before the export without priority."""
    n = 600
    name = "prio"
    sink = http_sink
    paths = ("/p1", "/p5", "/pu")
    for p in paths:
        sink.configure(p, delay=0.01)
    d = start_daemon(daemon_factory, "--exporter-thread-pool-size", "1")
    c = d.client()
    payloads = make_payloads(n, seed=19, max_len=40)

    def defn(disabled):
        return stream_def(name, [
            http("pu", sink.url("/pu"), JSON, batch_size=100, disabled=disabled),
            http("p5", sink.url("/p5"), JSON, batch_size=100, priority=5, disabled=disabled),
            http("p1", sink.url("/p1"), JSON, batch_size=100, priority=1, disabled=disabled),
        ])

    c.create_message_stream(defn(True))
    append_all(c, name, payloads)
    c.update_message_stream(defn(False))  # all three due at the same moment
    ctx = lambda: context(c, name, sink)  # noqa: E731
    wait_until(lambda: all(sink.accepted_count(p) >= n for p in paths), 20, "all three exports", ctx)
    for p in paths:
        assert_json_exact(sink, p, name, payloads)
    times = {p: sink.arrival_times(p) for p in paths}
    order = sorted((t, p) for p in paths for t in times[p])
    sequence = "".join({"/p1": "1", "/p5": "5", "/pu": "u"}[p] for _, p in order)
    assert sequence == "1" * len(times["/p1"]) + "5" * len(times["/p5"]) + "u" * len(times["/pu"]), \
        "requests in arrival order (1 = priority 1, 5 = priority 5, u = unset): %s\n%s" % (sequence, ctx())


def test_sigkill_mid_export_resumes_from_checkpoint(daemon_factory, http_sink):
    """kill -9 while two exports are half-way: after restart every message arrives, order holds
    once duplicates are removed, and at most one batch per export is sent twice."""
    n = 600
    name = "killed"
    sink = http_sink
    sink.configure("/kj", delay=0.1)     # JSON, 20 per batch: ~3 s in all
    sink.configure("/kr", delay=0.004)   # RAW, 10 per batch: ~2.5 s in all
    d = start_daemon(daemon_factory)
    c = d.client()
    payloads = make_payloads(n, seed=3, max_len=100)
    c.create_message_stream(stream_def(name, [
        http("kj", sink.url("/kj"), JSON, batch_size=20),
        http("kr", sink.url("/kr"), RAW, batch_size=10),
    ]))
    append_all(c, name, payloads)
    ctx = lambda: context(None, None, sink)  # noqa: E731
    wait_until(lambda: sink.accepted_count("/kj") >= n // 4 and len(sink.bodies("/kr")) >= n // 4, 20,
               "both exports a quarter of the way", ctx)
    d.kill()
    before = {"/kj": sink.accepted_count("/kj"), "/kr": len(sink.bodies("/kr"))}
    assert before["/kj"] < n and before["/kr"] < n, \
        "the exports finished before the kill, the test proves nothing: %r" % before
    d.start()
    c = d.client()
    ctx = lambda: context(c, name, sink)  # noqa: E731
    wait_until(lambda: statuses(c, name)["kj"].last_exported_sequence_number == n - 1
               and statuses(c, name)["kr"].last_exported_sequence_number == n - 1,
               30, "both exports to finish after the restart", ctx)

    # JSON export
    seqs = sink.seqs("/kj")
    unique = dedup_keep_first(seqs)
    assert first_gap(unique, 0, n - 1) is None, "kj after dedup: %s\n%s" % (first_gap(unique, 0, n - 1), ctx())
    dups = len(seqs) - n
    assert 0 <= dups <= 20, "kj: %d duplicates, more than one batch (20)\n%s" % (dups, ctx())
    for m in sink.messages("/kj"):
        assert m.payload == payloads[m.seq], "kj: payload of %d differs" % m.seq
    # RAW export: bodies start with "<seq>:"
    bodies = sink.bodies("/kr")
    rseqs = [int(b.split(b":", 1)[0]) for b in bodies]
    for b, s in zip(bodies, rseqs):
        assert b == payloads[s], "kr: body for %d differs" % s
    unique = dedup_keep_first(rseqs)
    assert first_gap(unique, 0, n - 1) is None, "kr after dedup: %s" % first_gap(unique, 0, n - 1)
    dups = len(rseqs) - n
    assert 0 <= dups <= 10, "kr: %d duplicates, more than one batch (10): seqs around the kill %r" % (
        dups, rseqs[before["/kr"] - 12:before["/kr"] + 12])
    for ident, batch in (("kj", 20), ("kr", 10)):
        s = statuses(c, name)[ident]
        assert s.last_exported_sequence_number == n - 1, fmt_status(s)
        assert n <= s.exported_messages_count <= n + batch, fmt_status(s)
        assert s.error_message is None, fmt_status(s)
    assert not sink.protocol_errors, sink.protocol_errors[:5]


def test_non_retryable_status_skips_and_healthy_export_delivers(daemon_factory, http_sink):
    """400 is not retried: the export skips (and counts) the messages and moves on, while
    a second export of the same stream delivers everything."""
    n = 100
    name = "mixed"
    sink = http_sink
    sink.configure("/bad-json", status=400)
    sink.configure("/bad-raw", status=400)
    d = start_daemon(daemon_factory)
    c = d.client()
    payloads = make_payloads(n, seed=5)
    c.create_message_stream(stream_def(name, [
        http("bad-json", sink.url("/bad-json"), JSON, batch_size=10),
        http("bad-raw", sink.url("/bad-raw"), RAW, batch_size=10),
        http("good", sink.url("/good"), JSON, batch_size=10),
    ]))
    append_all(c, name, payloads)
    ctx = lambda: context(c, name, sink)  # noqa: E731
    wait_until(lambda: sink.accepted_count("/good") >= n, 20, "all messages on /good", ctx)
    wait_until(lambda: all(s.last_exported_sequence_number == n - 1 for s in statuses(c, name).values()),
               20, "every export (also the failing ones) to move past the last message", ctx)

    assert_json_exact(sink, "/good", name, payloads)
    raw = raw_statuses(d, name)
    for ident, path in (("bad-json", "/bad-json"), ("bad-raw", "/bad-raw")):
        s = statuses(c, name)[ident]
        assert s.error_message and "400" in s.error_message, fmt_status(s)
        assert s.exported_messages_count == 0 and s.exported_bytes_from_stream == 0, fmt_status(s)
        assert raw[ident].get("skippedMessagesCount") == n, raw[ident]
        assert sink.accepted_count(path) == 0
        # each message was tried exactly once: a non-retryable answer is not retried
        assert sorted(sink.rejected(path) if path == "/bad-json" else
                      [int(b.split(b":", 1)[0]) for b in sink.rejected(path)]) == list(range(n)), \
            "%s: rejected %r" % (path, sink.rejected(path)[:20])
    assert sink.counts("/bad-raw") == {400: n}, sink.counts("/bad-raw")
    g = statuses(c, name)["good"]
    assert g.exported_messages_count == n and g.error_message is None, fmt_status(g)
    assert raw["good"].get("skippedMessagesCount", 0) == 0, raw["good"]


def test_retryable_failures_are_reported_then_recovered(daemon_factory, http_sink):
    """429, 408, a timeout and a refused connection are retried, never skipped; describe shows
    the error meanwhile, and once the endpoint heals everything arrives once and the error clears."""
    n = 30
    name = "flaky"
    sink = http_sink
    sink.configure("/e429", status=429)
    sink.configure("/e408", status=408)
    sink.configure("/stall", stall_rate=1.0, stall_seconds=3.0)
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    d = start_daemon(daemon_factory)
    c = d.client()
    payloads = make_payloads(n, seed=23, max_len=60)
    c.create_message_stream(stream_def(name, [
        http("e429", sink.url("/e429"), JSON, batch_size=10),
        http("e408", sink.url("/e408"), RAW, batch_size=10),
        http("stall", sink.url("/stall"), JSON, batch_size=10),
        http("refused", "http://127.0.0.1:%d/nobody" % closed_port, JSON, batch_size=10),
    ]))
    append_all(c, name, payloads)
    ctx = lambda: context(c, name, sink)  # noqa: E731
    expect = {"e429": "429", "e408": "408", "stall": "timed out", "refused": None}
    wait_until(lambda: sink.counts("/e429").get(429, 0) >= 2 and sink.counts("/e408").get(408, 0) >= 2
               and sink.counts("/stall").get("stall", 0) >= 2, 15, "two failed attempts on every path", ctx)
    got = statuses(c, name)
    raw = raw_statuses(d, name)
    for ident, needle in expect.items():
        st = got[ident]
        assert st.error_message, "no error reported for %s: %s" % (ident, fmt_status(st))
        if needle:
            assert needle in st.error_message, fmt_status(st)
        assert st.last_exported_sequence_number == -1 and st.exported_messages_count == 0, fmt_status(st)
        assert st.last_export_time > 0, fmt_status(st)
        assert raw[ident].get("skippedMessagesCount", 0) == 0, "a retryable failure skipped messages: %r" % raw[ident]
    # the same first message is what every attempt carried
    assert set(sink.rejected("/e429")) <= set(range(10)), sink.rejected("/e429")
    assert {b for b in sink.rejected("/e408")} == {payloads[0]}, "RAW retries must resend message 0 first"

    for p in ("/e429", "/e408", "/stall"):
        sink.heal(p)
    wait_until(lambda: all(statuses(c, name)[i].last_exported_sequence_number == n - 1
                           for i in ("e429", "e408", "stall")), 20, "the healed exports to finish", ctx)
    assert_json_exact(sink, "/e429", name, payloads)
    assert_json_exact(sink, "/stall", name, payloads)
    assert sink.bodies("/e408") == payloads, ctx()
    for ident in ("e429", "e408", "stall"):
        st = statuses(c, name)[ident]
        assert st.error_message is None and st.exported_messages_count == n, fmt_status(st)
    st = statuses(c, name)["refused"]
    assert st.last_exported_sequence_number == -1 and st.error_message, fmt_status(st)


def test_live_updates_add_disable_enable_restart_remove(daemon_factory, http_sink):
    name = "live"
    sink = http_sink
    d = start_daemon(daemon_factory)
    c = d.client()
    payloads = make_payloads(40, seed=9, max_len=50)
    c.create_message_stream(stream_def(name))
    append_all(c, name, payloads[:10])
    ctx = lambda: context(c, name, sink)  # noqa: E731

    def update(**kw):
        cfg = kw.pop("cfg", True)
        exports = [http("live", sink.url("/live"), JSON, batch_size=5, **kw)] if cfg else []
        c.update_message_stream(stream_def(name, exports))

    # add: the export starts and sends what is already there
    update()
    wait_until(lambda: sink.accepted_count("/live") >= 10, 10, "the added export to send 0..9", ctx)
    wait_until(lambda: statuses(c, name)["live"].last_exported_sequence_number == 9, 5, "describe at 9", ctx)
    assert_json_exact(sink, "/live", name, payloads[:10])
    files = checkpoint_files(d, name)
    assert len(files) == 1 and len(files[0]) == len("export-") + 16 + len(".json"), files

    # disable: appends made while disabled do not arrive
    update(disabled=True)
    time.sleep(0.3)  # the export manager applies definition changes asynchronously
    append_all(c, name, payloads[10:20], first_seq=10)
    assert_stays(lambda: sink.accepted_count("/live") == 10, 2.0,
                 "a disabled export sent messages", ctx)
    assert statuses(c, name)["live"].last_exported_sequence_number == 9, ctx()

    # re-enable: they arrive, after the others
    update(disabled=False)
    wait_until(lambda: sink.accepted_count("/live") >= 20, 10, "re-enabled export to send 10..19", ctx)
    assert_json_exact(sink, "/live", name, payloads[:20])

    # a new start_sequence_number restarts the export there
    update(start_sequence_number=5)
    wait_until(lambda: sink.accepted_count("/live") >= 35, 10, "the restart at 5 to re-send 5..19", ctx)
    wait_until(lambda: statuses(c, name)["live"].last_exported_sequence_number == 19, 5, "describe at 19", ctx)
    seqs = sink.seqs("/live")
    assert seqs == list(range(20)) + list(range(5, 20)), "after the restart at 5: %r" % seqs
    for m in sink.messages("/live"):
        assert m.payload == payloads[m.seq]
    append_all(c, name, payloads[20:25], first_seq=20)
    wait_until(lambda: sink.accepted_count("/live") >= 40, 10, "20..24 after the restart", ctx)
    assert sink.seqs("/live")[35:] == list(range(20, 25)), sink.seqs("/live")[30:]

    # remove: no status, no checkpoint, nothing more sent
    update(cfg=False)
    time.sleep(0.3)  # applied asynchronously, like disable
    assert "live" not in statuses(c, name), ctx()
    assert raw_statuses(d, name) == {}, raw_statuses(d, name)
    wait_until(lambda: checkpoint_files(d, name) == [], 5, "the checkpoint file to be deleted",
               lambda: repr(sorted(d.store_files())))
    append_all(c, name, payloads[25:40], first_seq=25)
    assert_stays(lambda: sink.accepted_count("/live") == 40, 2.0, "a removed export sent messages", ctx)
    assert not sink.protocol_errors, sink.protocol_errors[:5]


def test_retention_before_export_skips_to_oldest(daemon_factory, http_sink):
    """OverwriteOldestData drops segments an export never sent: it resumes at the oldest message."""
    name = "ring"
    sink = http_sink
    d = start_daemon(daemon_factory)
    c = d.client()
    n = 200
    payloads = [bytes([i % 251]) * 180 + b"#%d" % i for i in range(n)]
    exports = lambda disabled: [http("ring", sink.url("/ring"), JSON, batch_size=25,  # noqa: E731
                                     disabled=disabled)]
    kw = dict(strategy_on_full=StrategyOnFull.OverwriteOldestData, max_size=16 * 1024, stream_segment_size=1024)
    c.create_message_stream(stream_def(name, exports(True), **kw))
    append_all(c, name, payloads)
    st = c.describe_message_stream(name).storage_status
    oldest = st.oldest_sequence_number
    assert oldest > 0 and st.newest_sequence_number == n - 1, "retention did not drop anything: %r" % (
        (st.oldest_sequence_number, st.newest_sequence_number),)
    assert sink.requests("/ring") == 0, "a disabled export sent requests"

    c.update_message_stream(stream_def(name, exports(False), **kw))
    ctx = lambda: context(c, name, sink)  # noqa: E731
    wait_until(lambda: statuses(c, name)["ring"].last_exported_sequence_number == n - 1, 10,
               "the export to reach the end", ctx)
    assert_json_exact(sink, "/ring", name, payloads, start=oldest)
    raw = raw_statuses(d, name)["ring"]
    assert raw.get("skippedMessagesCount") == oldest, "skipped %r, oldest available was %d" % (raw, oldest)
    s = statuses(c, name)["ring"]
    assert s.exported_messages_count == n - oldest, fmt_status(s)
    assert s.exported_bytes_from_stream == sum(map(len, payloads[oldest:])), fmt_status(s)


def test_checkpoint_survives_clean_restart(daemon_factory, http_sink):
    """SIGTERM with nothing in flight: after the restart nothing is sent twice, new messages follow."""
    name = "graceful"
    sink = http_sink
    d = start_daemon(daemon_factory)
    c = d.client()
    payloads = make_payloads(150, seed=13, max_len=80)
    c.create_message_stream(stream_def(name, [
        http("gj", sink.url("/gj"), JSON, batch_size=30),
        http("gr", sink.url("/gr"), RAW, batch_size=7),
    ]))
    append_all(c, name, payloads[:100])
    ctx = lambda: context(c, name, sink)  # noqa: E731
    wait_until(lambda: all(s.last_exported_sequence_number == 99 for s in statuses(c, name).values()),
               10, "both exports at 99", ctx)
    before = statuses(c, name)
    requests_before = {p: sink.requests(p) for p in ("/gj", "/gr")}

    d.restart(sig=signal.SIGTERM)
    assert d.starts == 2
    c = d.client()
    after = statuses(c, name)
    for ident in ("gj", "gr"):
        a, b = after[ident], before[ident]
        assert a.last_exported_sequence_number == 99, fmt_status(a)
        assert (a.exported_messages_count, a.exported_bytes_from_stream) == (
            b.exported_messages_count, b.exported_bytes_from_stream), \
            "counters changed over the restart:\nbefore %s\nafter  %s" % (fmt_status(b), fmt_status(a))
    assert_stays(lambda: {p: sink.requests(p) for p in ("/gj", "/gr")} == requests_before, 1.0,
                 "the restarted daemon re-sent something it had delivered", ctx)
    append_all(c, name, payloads[100:], first_seq=100)
    wait_until(lambda: sink.accepted_count("/gj") >= 150 and sink.accepted_count("/gr") >= 150, 10,
               "100..149 after the restart", ctx)
    assert_json_exact(sink, "/gj", name, payloads)
    assert sink.bodies("/gr") == payloads, "raw bodies differ from the payloads (duplicates or gaps)\n" + ctx()
    for ident in ("gj", "gr"):
        s = statuses(c, name)[ident]
        assert s.last_exported_sequence_number == 149 and s.exported_messages_count == 150, fmt_status(s)


def test_delete_stream_stops_failing_export(daemon_factory, http_sink):
    """A stream whose export keeps failing is deleted: the retries stop and the daemon serves on."""
    name = "doomed"
    sink = http_sink
    sink.configure("/down", status=503)
    d = start_daemon(daemon_factory)
    c = d.client()
    c.create_message_stream(stream_def(name, [http("x", sink.url("/down"), JSON)]))
    append_all(c, name, make_payloads(10, seed=1))
    ctx = lambda: context(c, name, sink)  # noqa: E731
    wait_until(lambda: sink.requests("/down") >= 3, 10, "three failed attempts", ctx)
    s = statuses(c, name)["x"]
    assert s.last_exported_sequence_number == -1 and "503" in (s.error_message or ""), fmt_status(s)
    assert s.last_export_time > 0, fmt_status(s)
    c.delete_message_stream(name)
    time.sleep(0.3)  # an attempt already under way may still finish
    count = sink.requests("/down")
    # backoff after 3 failures is ~400 ms (base 50 ms): 2.5 s would see several retries
    assert_stays(lambda: sink.requests("/down") == count, 2.5,
                 "the export of a deleted stream kept sending", lambda: sink.summary("/down"))
    assert d.alive()
    assert d.stream_dirs(name) == []

    # the daemon keeps serving, and a new stream of the same name starts its export from scratch
    sink.heal("/down")
    payloads = make_payloads(5, seed=2)
    c.create_message_stream(stream_def(name, [http("x", sink.url("/up"), JSON)]))
    append_all(c, name, payloads)
    wait_until(lambda: sink.accepted_count("/up") >= 5, 10, "the new stream's export", ctx)
    assert_json_exact(sink, "/up", name, payloads)
    assert sink.requests("/down") == count, "the old export came back: " + sink.summary("/down")
    assert c.list_streams() == [name]
