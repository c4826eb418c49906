"""A local HTTP sink for the HTTP exporter tests.

``HttpSink`` is a stdlib ``ThreadingHTTPServer`` on 127.0.0.1 (port 0) served from
a background thread.  Every POST path is independent:

* What it **accepted** (answered 2xx) is recorded, thread-safely:
  ``application/json`` bodies are parsed as JSON_BATCHED batches (list of
  ``{"streamName", "sequenceNumber", "ingestTime", "payload"}``, payload in
  standard base64) and kept as batches of ``SinkMessage``; any other body is kept
  as one raw body (RAW_NOT_BATCHED).
* **Fault injection**, per path and changeable at run time with
  ``configure(path, ...)``: ``fail_rate`` (fraction answered ``fail_status``, 503 unless set), ``stall_rate``
  (fraction that sleeps ``stall_seconds`` and then answers 503, so the daemon's
  request timeout fires first), ``status`` (a fixed status for every request,
  e.g. 400) and ``delay`` (seconds to wait before handling every request).  The
  random draws come from one seeded ``random.Random`` per path.  A failed,
  stalled or fixed-status request is never recorded as accepted; the sequence
  numbers (or bodies) of requests answered with a fixed non-2xx status are kept
  in ``rejected(path)``.
* Requests are counted per path and outcome: the HTTP status answered, or
  ``"stall"`` for stalled ones (``counts(path)``).

A body that is not what the exporter must send (bad JSON, bad base64, wrong
Content-Type, a JSON message without one of the four fields...) is answered 422
and recorded in ``protocol_errors``; the tests assert that list stays empty.
"""

import base64
import binascii
import collections
import json
import random
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

JSON_KEYS = {"streamName", "sequenceNumber", "ingestTime", "payload"}

SinkMessage = collections.namedtuple("SinkMessage", "seq payload ingest_time stream")


class PathConfig:
    __slots__ = ("fail_rate", "fail_status", "stall_rate", "stall_seconds", "status", "delay", "rng")

    def __init__(self, seed):
        self.fail_rate = 0.0
        self.fail_status = 503
        self.stall_rate = 0.0
        self.stall_seconds = 3.0
        self.status = None
        self.delay = 0.0
        self.rng = random.Random(seed)


class _PathState:
    def __init__(self):
        self.batches = []          # JSON: list of list[SinkMessage], in acceptance order
        self.bodies = []           # raw: list of bytes, in acceptance order
        self.content_types = collections.Counter()
        self.counts = collections.Counter()  # status (int) or "stall" -> requests
        self.rejected = []         # fixed-status answers: list of seqs (JSON) or bodies (raw)
        self.times = []            # monotonic time of every request's arrival


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        # A daemon killed with SIGKILL (or a request timed out and dropped by its client)
        # resets its connection: that is the tests' doing, not the sink's fault. Anything
        # else is still printed.
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like a real endpoint

    def log_message(self, fmt, *args):  # keep pytest output clean
        pass

    def _read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                line = self.rfile.readline()
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _answer(self, status, body=b""):
        try:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            if body:
                self.wfile.write(body)
            self.wfile.flush()
        except OSError:
            # the client is gone (timed out, or the daemon was killed)
            self.close_connection = True

    def do_GET(self):
        self._answer(405, b"POST only")

    def do_POST(self):
        self.server.sink._handle(self)


class HttpSink:
    def __init__(self, seed=1234, tls=None):
        """``tls``: (certificate file, key file) to serve HTTPS instead of HTTP."""
        self.seed = seed
        self.scheme = "https" if tls else "http"
        self._lock = threading.Lock()
        self._configs = {}
        self._paths = collections.defaultdict(_PathState)
        self._stop = threading.Event()
        self.protocol_errors = []
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.sink = self
        if tls:
            import ssl

            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            # The handshake runs in the handler thread, on the first read.
            self._server.socket = ctx.wrap_socket(self._server.socket, server_side=True,
                                                  do_handshake_on_connect=False)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="http-sink", daemon=True)
        self._thread.start()

    # -- control -----------------------------------------------------------
    def url(self, path):
        return "%s://127.0.0.1:%d%s" % (self.scheme, self.port, path)

    def configure(self, path, **kw):
        """Set fault injection of ``path``: fail_rate, stall_rate, stall_seconds, status, delay."""
        with self._lock:
            cfg = self._configs.get(path)
            if cfg is None:
                cfg = self._configs[path] = PathConfig("%s:%s" % (self.seed, path))
            for k, v in kw.items():
                if k not in PathConfig.__slots__ or k == "rng":
                    raise TypeError("unknown sink setting %r" % k)
                setattr(cfg, k, v)

    def heal(self, path):
        """Back to answering 200 to everything."""
        self.configure(path, fail_rate=0.0, stall_rate=0.0, status=None, delay=0.0)

    def stop(self):
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    # -- request handling (handler threads) ----------------------------------
    def _handle(self, h):
        path = h.path.split("?", 1)[0]
        arrived = time.monotonic()
        try:
            body = h._read_body()
        except (OSError, ValueError):
            h.close_connection = True
            return
        ctype = (h.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        with self._lock:
            cfg = self._configs.get(path)
            if cfg is None:
                cfg = self._configs[path] = PathConfig("%s:%s" % (self.seed, path))
            delay, status = cfg.delay, cfg.status
            draw = cfg.rng.random()
            stall = draw < cfg.stall_rate
            fail = not stall and draw < cfg.stall_rate + cfg.fail_rate
            fail_status = cfg.fail_status
            stall_seconds = cfg.stall_seconds
            st = self._paths[path]
            st.times.append(arrived)
        if delay:
            self._stop.wait(delay)
        if status is None and stall:
            with self._lock:
                st.counts["stall"] += 1
            self._stop.wait(stall_seconds)
            h.close_connection = True
            h._answer(503, b"stalled")
            return
        if status is None and fail:
            with self._lock:
                st.counts[fail_status] += 1
            h._answer(fail_status, b"injected failure")
            return

        # Parse before accepting anything: a malformed body is a daemon bug.
        parsed, error = self._parse(path, ctype, body)
        if error:
            with self._lock:
                self.protocol_errors.append("%s: %s" % (path, error))
                st.counts[422] += 1
            h._answer(422, error.encode())
            return

        if status is not None and not 200 <= status < 300:
            with self._lock:
                st.counts[status] += 1
                if ctype == "application/json":
                    st.rejected.extend(m.seq for m in parsed)
                else:
                    st.rejected.append(body)
            h._answer(status, b"fixed status")
            return

        answer = status or 200
        with self._lock:
            st.counts[answer] += 1
            st.content_types[ctype] += 1
            if ctype == "application/json":
                st.batches.append(parsed)
            else:
                st.bodies.append(body)
        h._answer(answer, b"ok")

    @staticmethod
    def _parse(path, ctype, body):
        if ctype == "application/octet-stream":
            return body, None
        if ctype != "application/json":
            return None, "unexpected Content-Type %r" % ctype
        try:
            doc = json.loads(body)
        except ValueError as e:
            return None, "body is not JSON (%s): %r" % (e, body[:200])
        if not isinstance(doc, list) or not doc:
            return None, "JSON body is not a non-empty array: %r" % (body[:200],)
        out = []
        for m in doc:
            if not isinstance(m, dict) or set(m) != JSON_KEYS:
                return None, "JSON message has keys %r, expected %r" % (
                    sorted(m) if isinstance(m, dict) else m, sorted(JSON_KEYS))
            if not isinstance(m["sequenceNumber"], int) or not isinstance(m["ingestTime"], int) \
                    or not isinstance(m["streamName"], str) or not isinstance(m["payload"], str):
                return None, "JSON message has fields of the wrong type: %r" % (m,)
            try:
                payload = base64.b64decode(m["payload"], validate=True)  # standard alphabet only
            except (binascii.Error, ValueError) as e:
                return None, "payload is not standard base64 (%s): %r" % (e, m["payload"][:80])
            out.append(SinkMessage(m["sequenceNumber"], payload, m["ingestTime"], m["streamName"]))
        return out, None

    # -- inspection (any thread) ----------------------------------------------
    def batches(self, path):
        """Accepted JSON batches of ``path``, in order: list of lists of SinkMessage."""
        with self._lock:
            return [list(b) for b in self._paths[path].batches]

    def messages(self, path):
        """Accepted JSON messages of ``path``, flattened, in acceptance order."""
        with self._lock:
            return [m for b in self._paths[path].batches for m in b]

    def seqs(self, path):
        return [m.seq for m in self.messages(path)]

    def bodies(self, path):
        """Accepted raw bodies of ``path``, in acceptance order."""
        with self._lock:
            return list(self._paths[path].bodies)

    def accepted_count(self, path):
        """Messages (JSON) plus bodies (raw) accepted on ``path``."""
        with self._lock:
            st = self._paths[path]
            return sum(len(b) for b in st.batches) + len(st.bodies)

    def counts(self, path):
        """Requests by outcome: {status or "stall": n}."""
        with self._lock:
            return dict(self._paths[path].counts)

    def requests(self, path):
        with self._lock:
            return len(self._paths[path].times)

    def arrival_times(self, path):
        """time.monotonic() of the arrival of every request on ``path``, in order."""
        with self._lock:
            return list(self._paths[path].times)

    def rejected(self, path):
        with self._lock:
            return list(self._paths[path].rejected)

    def content_types(self, path):
        with self._lock:
            return dict(self._paths[path].content_types)

    def summary(self, path=None):
        """A short human-readable account for failure messages."""
        with self._lock:
            paths = [path] if path else sorted(self._paths)
            lines = []
            for p in paths:
                st = self._paths[p]
                seqs = [m.seq for b in st.batches for m in b]
                lines.append("%s: requests=%d counts=%s batches=%d json_msgs=%d raw_bodies=%d rejected=%d %s" % (
                    p, len(st.times), dict(st.counts), len(st.batches), len(seqs), len(st.bodies),
                    len(st.rejected), _describe_seqs(seqs)))
            if self.protocol_errors:
                lines.append("protocol errors: %s" % self.protocol_errors[:5])
            return "\n".join(lines)


def _describe_seqs(seqs):
    if not seqs:
        return "seqs=[]"
    runs = []
    start = prev = seqs[0]
    for s in seqs[1:]:
        if s == prev + 1:
            prev = s
            continue
        runs.append((start, prev))
        start = prev = s
    runs.append((start, prev))
    text = ",".join("%d-%d" % r if r[0] != r[1] else "%d" % r[0] for r in runs[:30])
    if len(runs) > 30:
        text += ",...(%d runs)" % len(runs)
    return "seq runs=[%s]" % text


SINKS_KEY = pytest.StashKey()


@pytest.fixture
def http_sink(request):
    """A running HttpSink on 127.0.0.1, stopped on teardown (its summary is attached to failures)."""
    sink = HttpSink()
    request.node.stash[SINKS_KEY] = sink
    try:
        yield sink
    finally:
        sink.stop()
