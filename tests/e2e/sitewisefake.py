"""A local IoT SiteWise data plane for the SiteWise exporter tests (``test_export_sitewise.py``).

``SiteWiseFake`` is a stdlib ``ThreadingHTTPServer`` on 127.0.0.1 (port 0) that speaks
``BatchPutAssetPropertyValue`` (rest-json, ``POST /properties``, SigV4 service ``iotsitewise``):

* **Signature**: every request's SigV4 signature is recomputed from the one key the fake knows
  (``access_key``/``secret``, and ``token`` when set: then ``X-Amz-Security-Token`` must carry
  it) for service ``iotsitewise`` in ``region``; anything else is answered 403 with a JSON error
  body and recorded in ``auth_failures``.
* **Shape and limits** (a request that breaks them is a daemon bug: answered 400 and recorded in
  ``protocol_errors``): ``Content-Type: application/json``; body keys ``entries`` (and optionally
  ``enablePartialEntryProcessing``); 1..10 entries; ``entryId`` 1..64 of ``[a-zA-Z0-9_-]`` and
  unique within the request; a property named by ``propertyAlias`` or by ``assetId`` +
  ``propertyId``; 1..10 values per entry; exactly one of ``stringValue`` / ``integerValue``
  (int32) / ``doubleValue`` / ``booleanValue``; ``timeInSeconds`` 1..9223372036854774,
  ``offsetInNanos`` 0..999999999; ``quality`` GOOD/BAD/UNCERTAIN when present.
* **Conflicts**: two values for the same property and timestamp in one request are answered
  400 ``ConflictingOperationException`` and recorded in ``conflicts`` (the daemon must never
  send such a request).
* **Window**: values outside [now - 7 days, now + 10 min] get a per-entry
  ``TimestampOutOfRangeException`` (with their timestamps); the entry's other values are
  accepted.
* What it **accepted** is recorded in order (``accepted()``: ``Value(key, ts, value, quality,
  entry_id)``), with ``key`` = ``"alias:<alias>"`` or ``"id:<assetId>/<propertyId>"`` (see
  ``prop_key``), ``ts`` = ``(timeInSeconds, offsetInNanos or 0)``, ``value`` =
  ``(field name, value)``.  Every request is recorded too (``requests()``), with its outcome
  and the error codes it answered per entry.

Fault injection (``configure(...)`` / ``fail_entry(...)`` / ``poison(...)`` /
``fail_next_calls(...)``), random draws from one seeded ``random.Random``:

* ``entry_error_rate`` / ``entry_error_codes``: a fraction of entries gets an errorEntry with a
  code drawn from the list (default: the five retryable codes).
* ``fail_entry(key, *attempts, sticky=False)``: the successive appearances of property ``key``
  get these errors (a code, or a tuple of codes for several errors in one errorEntry); with
  ``sticky`` the last one repeats forever.
* ``throttle429_rate`` (429 ``ThrottlingException``), ``throttle400_rate`` (400
  ``ThrottlingException``), ``error500_rate`` (500 ``InternalFailureException``): whole-call
  failures; ``fail_next_calls("429" | "throttle" | "500" | "503", ...)`` scripts the next ones.
* ``poison(key)``: any request holding an entry for property ``key`` is refused as a whole with
  400 ``InvalidRequestException`` (alone, too).
* ``delay``: seconds to wait after deciding (and recording) and before answering, so a daemon
  killed meanwhile has had its values accepted without learning it.
"""

import collections
import datetime
import hmac
import json
import random
import re
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SERVICE = "iotsitewise"
MAX_ENTRIES = 10
MAX_VALUES = 10
MAX_AGE_S = 7 * 24 * 3600
MAX_AHEAD_S = 10 * 60
RETRYABLE_CODES = ("ThrottlingException", "InternalFailureException", "ServiceUnavailableException",
                   "LimitExceededException", "ConflictingOperationException")
NON_RETRYABLE_CODES = ("InvalidRequestException", "TimestampOutOfRangeException",
                       "ResourceNotFoundException", "AccessDeniedException")
VARIANT_FIELDS = ("stringValue", "integerValue", "doubleValue", "booleanValue")
QUALITIES = ("GOOD", "BAD", "UNCERTAIN")
ENTRY_ID_RE = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
UUID_RE = re.compile(r"^[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}$")
CONTROL_RE = re.compile("[\u0000-\u001f\u007f]")
AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
MAX_CLOCK_SKEW = 300.0

Value = collections.namedtuple("Value", "key ts value quality entry_id")
# outcome: "ok", "partial" (some errorEntries), "auth", "invalid" (protocol error), "conflict",
# "poison", "429", "throttle", "500", "503"; errors: {entryId: (code, ...)}
SwRequest = collections.namedtuple("SwRequest", "time entries outcome errors")
# entries: list of (entryId, key, [(ts, value, quality), ...])


def prop_key(entry):
    """The property key of an entry (a dict with API/SDK JSON names)."""
    if entry.get("propertyAlias") is not None:
        return "alias:" + entry["propertyAlias"]
    return "id:%s/%s" % (entry.get("assetId"), entry.get("propertyId"))


def ts_of(tdict):
    return (tdict["timeInSeconds"], tdict.get("offsetInNanos") or 0)


def value_of(vdict):
    (field, v), = vdict.items()
    return (field, v)


# ---------------------------------------------------------------------------
# SigV4: the same checker as the Kinesis / IoT Analytics fake
# ---------------------------------------------------------------------------

from awsfakes import _AUTH_RE, _sha256_hex, sigv4_signature  # noqa: E402


class _Refusal(Exception):
    def __init__(self, status, code, message):
        super().__init__("%d %s: %s" % (status, code, message))
        self.status, self.code, self.message = status, code, message


# ---------------------------------------------------------------------------
# server
# ---------------------------------------------------------------------------

class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def _read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def answer(self, status, doc, error_code=None):
        body = json.dumps(doc).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("x-amzn-RequestId", secrets.token_hex(16))
            if error_code:
                # the way SiteWise names the error (botocore reads the part before ':')
                self.send_header("x-amzn-ErrorType", "%s:http://internal.amazon.com/coral/com.amazonaws.iotsitewise/"
                                 % error_code)
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
        except OSError:  # the daemon is gone (killed) or timed out
            self.close_connection = True

    def do_POST(self):
        self.server.fake._handle(self)

    def do_GET(self):
        self.server.fake._handle(self)

    def do_PUT(self):
        self.server.fake._handle(self)


class SiteWiseFake:
    def __init__(self, region="eu-central-1", access_key="AKIASITEWISEFAKE0001",
                 secret="sitewise/Fake+Secret-0001", token=None, seed=2024):
        self.region = region
        self.access_key, self.secret, self.token = access_key, secret, token
        self._lock = threading.Lock()
        self._rng = random.Random("sitewise:%s" % seed)
        # faults
        self.entry_error_rate = 0.0
        self.entry_error_codes = RETRYABLE_CODES
        self.throttle429_rate = 0.0
        self.throttle400_rate = 0.0
        self.error500_rate = 0.0
        self.delay = 0.0
        self._scripted = {}          # key -> [attempt, ...]; attempt = tuple of codes
        self._sticky = set()
        self._poison = set()
        self._next_calls = []
        # records
        self._requests = []
        self._accepted = []
        self._seen = collections.Counter()      # (key, ts) -> times it was in a request that passed the checks
        self._errored = collections.defaultdict(list)  # (key, ts) -> codes answered for it
        self._inflight = 0
        self.protocol_errors = []
        self.conflicts = []
        self.auth_failures = []
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self.port = self._server.server_address[1]
        self.endpoint = "http://127.0.0.1:%d" % self.port
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="sitewise-fake", daemon=True)
        self._thread.start()

    # -- control -------------------------------------------------------------
    def configure(self, **kw):
        known = ("entry_error_rate", "entry_error_codes", "throttle429_rate", "throttle400_rate",
                 "error500_rate", "delay")
        with self._lock:
            for k, v in kw.items():
                if k not in known:
                    raise TypeError("unknown SiteWise fake setting %r" % k)
                setattr(self, k, v)

    def heal(self):
        self.configure(entry_error_rate=0.0, throttle429_rate=0.0, throttle400_rate=0.0, error500_rate=0.0,
                       delay=0.0)

    def fail_entry(self, key, *attempts, sticky=False):
        """The next appearances of property ``key`` get these errors (code or tuple of codes)."""
        with self._lock:
            self._scripted[key] = [(a,) if isinstance(a, str) else tuple(a) for a in attempts]
            if sticky:
                self._sticky.add(key)

    def poison(self, key):
        with self._lock:
            self._poison.add(key)

    def fail_next_calls(self, *kinds):
        for k in kinds:
            if k not in ("429", "throttle", "500", "503"):
                raise ValueError(k)
        with self._lock:
            self._next_calls.extend(kinds)

    def stop(self):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    # -- inspection ------------------------------------------------------------
    def accepted(self):
        with self._lock:
            return list(self._accepted)

    def accepted_count(self):
        with self._lock:
            return len(self._accepted)

    def requests(self):
        with self._lock:
            return list(self._requests)

    def seen(self, key, ts):
        """How often a value for (key, ts) was in a request that got past signature/shape checks."""
        with self._lock:
            return self._seen[(key, ts)]

    def errored(self, key, ts):
        """Error codes answered for (key, ts): per-entry ones and whole-call ones."""
        with self._lock:
            return list(self._errored.get((key, ts), []))

    def inflight(self):
        with self._lock:
            return self._inflight

    def outcomes(self):
        with self._lock:
            return dict(collections.Counter(r.outcome for r in self._requests))

    def problems(self):
        """Everything that is a daemon bug whatever the test: protocol errors, conflicts, bad signatures."""
        with self._lock:
            out = []
            if self.protocol_errors:
                out.append("protocol errors (%d): %s" % (len(self.protocol_errors), self.protocol_errors[:5]))
            if self.conflicts:
                out.append("conflicting requests (%d): %s" % (len(self.conflicts), self.conflicts[:3]))
            if self.auth_failures:
                out.append("refused signatures (%d): %s" % (len(self.auth_failures), self.auth_failures[:3]))
            return out

    def summary(self):
        with self._lock:
            reqs = self._requests
            lines = ["SiteWise fake at %s (region %s): requests=%d outcomes=%s accepted values=%d" % (
                self.endpoint, self.region, len(reqs), dict(collections.Counter(r.outcome for r in reqs)),
                len(self._accepted))]
            sizes = collections.Counter(len(r.entries) for r in reqs)
            lines.append("  entries per request: %s" % dict(sorted(sizes.items())))
            for r in reqs[-8:]:
                lines.append("  %s ids=%s errors=%s" % (
                    r.outcome, [e[0] for e in r.entries], dict(list(r.errors.items())[:4])))
        problems = self.problems()
        if problems:
            lines.extend("  " + p for p in problems)
        return "\n".join(lines)

    # -- request handling -----------------------------------------------------------
    def _handle(self, h):
        try:
            body = h._read_body()
        except (OSError, ValueError):
            h.close_connection = True
            return
        with self._lock:
            self._inflight += 1
        try:
            status, doc, code = self._process(h, body)
            with self._lock:
                delay = self.delay
            if delay:
                time.sleep(delay)
            h.answer(status, doc, code)
        finally:
            with self._lock:
                self._inflight -= 1

    def _record(self, entries, outcome, errors=None):
        self._requests.append(SwRequest(time.monotonic(), entries, outcome, errors or {}))

    def _process(self, h, body):
        """-> (status, JSON document, error code or None)."""
        try:
            self._check_signature(h, body)
        except _Refusal as e:
            with self._lock:
                self.auth_failures.append("%s: %s" % (e.code, e.message))
                self._record([], "auth")
            return e.status, {"message": e.message}, e.code
        try:
            entries = self._parse(h, body)
        except _Refusal as e:
            with self._lock:
                self.protocol_errors.append(e.message)
                self._record([], "invalid")
            return e.status, {"message": e.message}, e.code

        with self._lock:
            # same property and timestamp twice in one request
            where = collections.Counter((key, ts) for _, key, vals in entries for ts, _, _ in vals)
            dup = sorted(k for k, n in where.items() if n > 1)
            if dup:
                self.conflicts.append("request ids %s repeats %s" % ([e[0] for e in entries], dup[:3]))
                self._record(entries, "conflict")
                return 400, {"message": "Two values for one property and timestamp: %s" % (dup[0],)}, \
                    "ConflictingOperationException"
            for _, key, vals in entries:
                for ts, _, _ in vals:
                    self._seen[(key, ts)] += 1
            if any(key in self._poison for _, key, _ in entries):
                self._record(entries, "poison")
                self._note_whole_call(entries, "InvalidRequestException")
                return 400, {"message": "The request is invalid (poison entry)"}, "InvalidRequestException"
            kind = self._next_calls.pop(0) if self._next_calls else None
            if kind is None:
                draw = self._rng.random()
                if draw < self.throttle429_rate:
                    kind = "429"
                elif draw < self.throttle429_rate + self.throttle400_rate:
                    kind = "throttle"
                elif draw < self.throttle429_rate + self.throttle400_rate + self.error500_rate:
                    kind = "500"
            if kind is not None:
                status, code = {"429": (429, "ThrottlingException"), "throttle": (400, "ThrottlingException"),
                                "500": (500, "InternalFailureException"),
                                "503": (503, "ServiceUnavailableException")}[kind]
                self._record(entries, kind)
                self._note_whole_call(entries, code)
                return status, {"message": "injected %s" % code}, code

            now = time.time()
            error_entries = []
            errors = {}
            for entry_id, key, vals in entries:
                codes = None
                script = self._scripted.get(key)
                if script:
                    codes = script[0]
                    if len(script) > 1 or key not in self._sticky:
                        script.pop(0)
                elif self.entry_error_rate and self._rng.random() < self.entry_error_rate:
                    codes = (self._rng.choice(self.entry_error_codes),)
                if codes:
                    tss = [{"timeInSeconds": ts[0], "offsetInNanos": ts[1]} for ts, _, _ in vals]
                    error_entries.append({"entryId": entry_id, "errors": [
                        {"errorCode": c, "errorMessage": "injected %s" % c, "timestamps": tss} for c in codes]})
                    errors[entry_id] = codes
                    for ts, _, _ in vals:
                        self._errored[(key, ts)].extend(codes)
                    continue
                out_of_window = []
                for ts, value, quality in vals:
                    if not now - MAX_AGE_S <= ts[0] + ts[1] / 1e9 <= now + MAX_AHEAD_S:
                        out_of_window.append(ts)
                        self._errored[(key, ts)].append("TimestampOutOfRangeException")
                        continue
                    self._accepted.append(Value(key, ts, value, quality, entry_id))
                if out_of_window:
                    error_entries.append({"entryId": entry_id, "errors": [{
                        "errorCode": "TimestampOutOfRangeException",
                        "errorMessage": "Timestamps must be within 7 days in the past and 10 minutes in the future",
                        "timestamps": [{"timeInSeconds": s, "offsetInNanos": n} for s, n in out_of_window]}]})
                    errors[entry_id] = ("TimestampOutOfRangeException",)
            self._record(entries, "partial" if errors else "ok", errors)
        return 200, {"errorEntries": error_entries}, None

    def _note_whole_call(self, entries, code):
        for _, key, vals in entries:
            for ts, _, _ in vals:
                self._errored[(key, ts)].append(code)

    def _check_signature(self, h, body):
        headers = collections.defaultdict(list)
        for name, value in h.headers.items():
            headers[name.lower()].append(value)
        auth = ",".join(headers.get("authorization", []))
        if not auth:
            raise _Refusal(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
        m = _AUTH_RE.match(auth)
        if not m:
            raise _Refusal(403, "IncompleteSignatureException", "malformed Authorization %r" % auth[:100])
        access_key, date, region, service, signed, signature = m.groups()
        signed_names = signed.split(";")
        if signed_names != sorted(set(signed_names)):
            raise _Refusal(403, "IncompleteSignatureException", "SignedHeaders not sorted/unique: %s" % signed)
        amz_date = ",".join(headers.get("x-amz-date", []))
        must_sign = ["host", "x-amz-date"] + [n for n in ("x-amz-security-token", "x-amz-content-sha256")
                                              if n in headers]
        missing = [n for n in must_sign if n not in signed_names]
        if missing:
            raise _Refusal(403, "IncompleteSignatureException", "headers %s are not signed (%s)" % (missing, signed))
        try:
            t = datetime.datetime.strptime(amz_date, AMZ_DATE_FORMAT).replace(tzinfo=datetime.timezone.utc)
        except ValueError:
            raise _Refusal(403, "IncompleteSignatureException", "bad X-Amz-Date %r" % amz_date)
        if abs(t.timestamp() - time.time()) > MAX_CLOCK_SKEW:
            raise _Refusal(403, "InvalidSignatureException", "Signature expired: %s" % amz_date)
        if date != amz_date[:8]:
            raise _Refusal(403, "InvalidSignatureException", "credential date %s is not that of %s" % (date, amz_date))
        if service != SERVICE or region != self.region:
            raise _Refusal(403, "InvalidSignatureException",
                           "credential scope %s/%s, expected %s/%s" % (region, service, self.region, SERVICE))
        if access_key != self.access_key:
            raise _Refusal(403, "UnrecognizedClientException", "unknown access key %s" % access_key)
        token = ",".join(headers.get("x-amz-security-token", [])) or None
        if token != self.token:
            raise _Refusal(403, "UnrecognizedClientException", "security token %s" % (
                "missing" if token is None else "wrong" if self.token else "unexpected"))
        sha = ",".join(headers.get("x-amz-content-sha256", []))
        if sha and sha != _sha256_hex(body):
            raise _Refusal(400, "InvalidSignatureException", "x-amz-content-sha256 is not the body's hash")
        expected = sigv4_signature(self.secret, h.command, h.path, headers, signed_names, body, amz_date,
                                   "%s/%s/%s/aws4_request" % (date, region, service))
        if not hmac.compare_digest(expected, signature):
            raise _Refusal(403, "InvalidSignatureException",
                           "The request signature we calculated does not match the signature you provided.")

    def _parse(self, h, body):
        """Checks the request against the API; -> [(entryId, key, [(ts, value, quality)])]."""
        def bad(text):
            return _Refusal(400, "InvalidRequestException", text)

        if h.command != "POST" or h.path != "/properties":
            raise _Refusal(404, "UnknownOperationException", "unexpected %s %s" % (h.command, h.path))
        ctype = (h.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "application/json":
            raise bad("Content-Type %r" % ctype)
        try:
            doc = json.loads(body)
        except ValueError as e:
            raise bad("body is not JSON: %s" % e)
        if not isinstance(doc, dict) or "entries" not in doc \
                or not set(doc) <= {"entries", "enablePartialEntryProcessing"}:
            raise bad("body keys %r" % (sorted(doc) if isinstance(doc, dict) else doc,))
        raw = doc["entries"]
        if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_ENTRIES:
            raise bad("%s entries (1..%d)" % (len(raw) if isinstance(raw, list) else repr(raw), MAX_ENTRIES))
        out = []
        for e in raw:
            if not isinstance(e, dict) or not {"entryId", "propertyValues"} <= set(e) <= {
                    "entryId", "assetId", "propertyId", "propertyAlias", "propertyValues"}:
                raise bad("entry keys %r" % (sorted(e) if isinstance(e, dict) else e,))
            eid = e["entryId"]
            if not isinstance(eid, str) or not ENTRY_ID_RE.match(eid):
                raise bad("entryId %r does not match ^[a-zA-Z0-9_-]+$ (1..64)" % (eid,))
            alias = e.get("propertyAlias")
            if alias is not None:
                if not isinstance(alias, str) or not 1 <= len(alias) <= 2048 or CONTROL_RE.search(alias) \
                        or "assetId" in e or "propertyId" in e:
                    raise bad("entry %s: propertyAlias %r (or alias together with ids)" % (eid, alias))
            else:
                ids = (e.get("assetId"), e.get("propertyId"))
                if not all(isinstance(x, str) and UUID_RE.match(x) for x in ids):
                    raise bad("entry %s: no propertyAlias and assetId/propertyId %r are not UUIDs" % (eid, ids))
            vals = e["propertyValues"]
            if not isinstance(vals, list) or not 1 <= len(vals) <= MAX_VALUES:
                raise bad("entry %s: %s propertyValues (1..%d)" % (
                    eid, len(vals) if isinstance(vals, list) else repr(vals), MAX_VALUES))
            parsed = []
            for v in vals:
                if not isinstance(v, dict) or not {"value", "timestamp"} <= set(v) <= {"value", "timestamp", "quality"}:
                    raise bad("entry %s: value keys %r" % (eid, sorted(v) if isinstance(v, dict) else v))
                var = v["value"]
                if not isinstance(var, dict) or len(var) != 1 or next(iter(var)) not in VARIANT_FIELDS:
                    raise bad("entry %s: Variant %r must set exactly one of %s" % (eid, var, VARIANT_FIELDS))
                field, x = next(iter(var.items()))
                ok = {"stringValue": lambda: isinstance(x, str) and 1 <= len(x) <= 1024 and not CONTROL_RE.search(x),
                      "integerValue": lambda: type(x) is int and -2**31 <= x < 2**31,
                      "doubleValue": lambda: type(x) in (int, float),
                      "booleanValue": lambda: type(x) is bool}[field]()
                if not ok:
                    raise bad("entry %s: %s %r" % (eid, field, x))
                t = v["timestamp"]
                if not isinstance(t, dict) or "timeInSeconds" not in t \
                        or not set(t) <= {"timeInSeconds", "offsetInNanos"}:
                    raise bad("entry %s: timestamp %r" % (eid, t))
                secs, nanos = t["timeInSeconds"], t.get("offsetInNanos", 0)
                if type(secs) is not int or not 1 <= secs <= 9223372036854774 \
                        or type(nanos) is not int or not 0 <= nanos <= 999999999:
                    raise bad("entry %s: timestamp %r out of range" % (eid, t))
                q = v.get("quality")
                if q is not None and q not in QUALITIES:
                    raise bad("entry %s: quality %r" % (eid, q))
                parsed.append(((secs, nanos), (field, x), q))
            out.append((eid, prop_key(e), parsed))
        ids = [e[0] for e in out]
        if len(set(ids)) != len(ids):
            raise bad("entryIds not unique within the request: %r" % ids)
        return out


# ---------------------------------------------------------------------------
# fixture
# ---------------------------------------------------------------------------

import pytest  # noqa: E402

try:  # conftest attaches the summary() of the peers in this stash to a failed test's report
    from awsfakes import AWS_FAKES_KEY as _REPORT_KEY
except ImportError:  # pragma: no cover - awsfakes.py is another suite's file
    _REPORT_KEY = None


@pytest.fixture
def sitewise_fake(request):
    """A running SiteWiseFake on 127.0.0.1 (region eu-central-1), stopped on teardown."""
    fake = SiteWiseFake()
    if _REPORT_KEY is not None:
        request.node.stash.setdefault(_REPORT_KEY, []).append(fake)
    try:
        yield fake
    finally:
        fake.stop()
