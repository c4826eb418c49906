"""AWS peers for the AWS exporter tests (``test_export_aws.py``).

Two kinds of peer, both on 127.0.0.1 only:

* ``moto_server`` (session fixture): a real ``moto_server`` process started with
  ``INITIAL_NO_AUTH_ACTION_COUNT=3``.  The three unchecked calls create an IAM
  user, give it an allow-all policy and create its access key; from then on
  moto checks the SigV4 signature of every request (a wrong secret gets
  ``403 SignatureDoesNotMatch``).  It is shared by the whole session (start-up
  takes about a second); tests keep apart by using their own Kinesis stream
  names.  ``MotoServer.read_stream(name)`` reads a stream back over all shards.

* ``fake_aws`` (per test): ``FakeAws``, a stdlib ``ThreadingHTTPServer`` that
  recomputes the SigV4 signature of every request from the secrets it knows
  (``add_key``) and answers 403 ``SignatureDoesNotMatch`` on a mismatch.  It
  speaks three protocols:

  - Kinesis ``PutRecords`` (JSON 1.1, ``POST /`` with
    ``X-Amz-Target: Kinesis_20131202.PutRecords``, service ``kinesis``).  It
    checks the request limits (1..500 records, data + partition key <= the
    record limit, <= 5 MiB a request, partition key 1..256 chars, stream
    name pattern) and records every request and every accepted record in
    order.  Faults (``kinesis.configure``): ``record_fail_rate`` (each record
    fails on its own: HTTP 200 with ``FailedRecordCount``), ``throttle_rate``
    (whole call: 400 ``ProvisionedThroughputExceededException``),
    ``error500_rate`` (whole call: 500 ``InternalFailure``), drawn from a
    seeded ``random.Random``; ``forced`` lists the outcomes (``"throttle"``,
    ``"500"``) of the next calls whatever they draw.  A stream not in ``kinesis.streams`` gets
    400 ``ResourceNotFoundException``.
    Shards: ``add_kinesis_stream(name, shards=n)`` splits the 128-bit hash key
    space evenly over ``n`` shards (``reshard(name, m)`` closes them and opens
    ``m`` new ones, as a split or merge does); each record goes to the open shard of its
    ``ExplicitHashKey`` (checked: decimal, 0..2^128-1) or else of the MD5 of
    its partition key, as Kinesis does.  With ``shard_limits=True`` each shard
    enforces Kinesis's write limits, 1,000 records and 1 MiB (data + partition
    key) a second, as a token bucket holding at most one second's worth (a
    new stream starts full): a record over its shard's budget fails on its
    own with ``ProvisionedThroughputExceededException``, like the real
    service (its one-second windows are modelled as a continuous refill).
  - Kinesis ``ListShards`` (``X-Amz-Target: Kinesis_20131202.ListShards``):
    the shard map, ``list_page`` shards a page with a ``NextToken`` (which
    must come alone, as the API demands); with ``list_shards_allowed=False``
    400 ``AccessDeniedException`` (a role without ``kinesis:ListShards``).
    Calls are recorded in ``kinesis.list_calls`` and are not counted in
    ``arrival_times()`` (which times the data calls' retries).
  - IoT Analytics ``BatchPutMessage`` (``POST /messages/batch``, rest-json,
    service ``iotanalytics``): checks the shape and limits (1..100 messages,
    ``messageId`` 1..128 chars and unique within the batch, ``channelName``
    pattern, standard base64 payload).  Faults: ``iot.whole_call`` (a list of
    HTTP statuses answered to the next calls, in turn) and
    ``iot.entry_errors`` (payload -> list of error codes answered to the
    successive attempts of that message; once the list is used up the
    message is accepted).
  - A container credentials endpoint (``GET /creds``): checks the
    ``Authorization`` header against ``creds.token``, issues a new key (with
    session token) on every call, ``creds.lifetime`` seconds valid, and
    counts the calls.  Issued keys are known to the signature checker.

  A request that is not what the exporter must send is answered 400 and
  recorded in ``protocol_errors``; the tests assert that list stays empty.
  ``summary()`` is attached to the report of a failed test.
"""

import base64
import binascii
import collections
import datetime
import hashlib
import hmac
import json
import os
import random
import re
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

AWS_FAKES_KEY = pytest.StashKey()

KINESIS_TARGET = "Kinesis_20131202.PutRecords"
LIST_SHARDS_TARGET = "Kinesis_20131202.ListShards"
HASH_KEY_MAX = 2 ** 128 - 1
SHARD_RECORDS_PER_SEC = 1000.0
SHARD_BYTES_PER_SEC = 1024.0 * 1024.0
KINESIS_MAX_RECORDS = 500
KINESIS_MAX_REQUEST_BYTES = 5 * 1024 * 1024
KINESIS_MAX_RECORD_BYTES = 1024 * 1024
IOT_MAX_MESSAGES = 100
STREAM_NAME_RE = re.compile(r"^[a-zA-Z0-9_.-]{1,128}$")
CHANNEL_RE = re.compile(r"^(?!__)[a-zA-Z0-9_]{1,128}$")
AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
MAX_CLOCK_SKEW = 300.0


# ---------------------------------------------------------------------------
# SigV4
# ---------------------------------------------------------------------------

def _sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def _hmac(key, msg):
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def _canonical_query(query):
    pairs = []
    for part in query.split("&") if query else []:
        if not part:
            continue
        k, _, v = part.partition("=")
        k = urllib.parse.quote(urllib.parse.unquote(k), safe="-_.~")
        v = urllib.parse.quote(urllib.parse.unquote(v), safe="-_.~")
        pairs.append((k, v))
    return "&".join("%s=%s" % kv for kv in sorted(pairs))


def _header_value(values):
    return ",".join(" ".join(v.strip().split()) for v in values)


def sigv4_signature(secret, method, raw_path, headers, signed_names, body, amz_date, scope):
    """The SigV4 signature (hex) of a request as the server sees it.

    ``headers`` maps lower-case names to lists of values; ``raw_path`` is the
    request target as sent (path and query, percent-encoded once); ``scope`` is
    ``date/region/service/aws4_request``.  Non-S3 rules: the path is encoded a
    second time for the canonical request.
    """
    path, _, query = raw_path.partition("?")
    canonical_uri = urllib.parse.quote(path or "/", safe="/-_.~")
    canonical_headers = "".join("%s:%s\n" % (n, _header_value(headers.get(n, []))) for n in signed_names)
    canonical_request = "\n".join([
        method, canonical_uri, _canonical_query(query), canonical_headers,
        ";".join(signed_names), _sha256_hex(body)])
    string_to_sign = "\n".join([
        "AWS4-HMAC-SHA256", amz_date, scope, _sha256_hex(canonical_request.encode("utf-8"))])
    date, region, service, _ = scope.split("/")
    key = _hmac(("AWS4" + secret).encode("utf-8"), date)
    key = _hmac(key, region)
    key = _hmac(key, service)
    key = _hmac(key, "aws4_request")
    return hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


_AUTH_RE = re.compile(
    r"^AWS4-HMAC-SHA256 +Credential=([^/,\s]+)/(\d{8})/([^/,\s]+)/([^/,\s]+)/aws4_request, *"
    r"SignedHeaders=([a-z0-9;_.-]+), *Signature=([0-9a-f]{64})$")

SignedBy = collections.namedtuple("SignedBy", "access_key region service token")


class AwsError(Exception):
    def __init__(self, status, code, message):
        super().__init__("%d %s: %s" % (status, code, message))
        self.status, self.code, self.message = status, code, message


class _Key:
    __slots__ = ("secret", "token", "expires")

    def __init__(self, secret, token, expires):
        self.secret, self.token, self.expires = secret, token, expires


# ---------------------------------------------------------------------------
# the fake server
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

    def answer(self, status, doc=None, content_type="application/x-amz-json-1.1", error_code=None):
        body = json.dumps(doc).encode() if doc is not None else b""
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("x-amzn-RequestId", secrets.token_hex(16))
            if error_code:
                self.send_header("x-amzn-ErrorType", error_code)
            self.end_headers()
            if body:
                self.wfile.write(body)
            self.wfile.flush()
        except OSError:
            self.close_connection = True

    def do_GET(self):
        self.server.fake._handle(self, "GET")

    def do_POST(self):
        self.server.fake._handle(self, "POST")

    def do_PUT(self):
        self.server.fake._handle(self, "PUT")


KinesisRequest = collections.namedtuple("KinesisRequest", "time stream records outcome accepted signed")
# records: list of (data bytes, partition key); accepted: list of bool (all False for a whole-call error)
KinesisRecord = collections.namedtuple("KinesisRecord",
                                       "data partition_key sequence_number shard explicit_hash_key",
                                       defaults=("shardId-000000000000", None))
ListShardsCall = collections.namedtuple("ListShardsCall", "time stream outcome signed")
Shard = collections.namedtuple("Shard", "id start end open")
IotRequest = collections.namedtuple("IotRequest", "time channel messages outcome errors signed")
# messages: list of (messageId, payload bytes); errors: {messageId: errorCode}
IotMessage = collections.namedtuple("IotMessage", "message_id payload channel")


class KinesisState:
    def __init__(self, seed):
        self.streams = set()
        self.record_fail_rate = 0.0
        self.throttle_rate = 0.0
        self.error500_rate = 0.0
        self.forced = []           # outcomes ("throttle", "500") of the next calls, before any draw
        self.max_record_bytes = KINESIS_MAX_RECORD_BYTES
        self.rng = random.Random("kinesis:%s" % seed)
        self.requests = []         # KinesisRequest, in arrival order
        self.accepted = {}         # stream -> [KinesisRecord] in acceptance order
        self.next_seq = 0
        self.shards = {}           # stream -> [Shard], open and closed, in creation order
        self.shard_limits = False  # enforce 1,000 records and 1 MiB a second per shard
        self.list_shards_allowed = True
        self.list_page = 1000      # shards per ListShards page
        self.buckets = {}          # (stream, shard) -> [records, bytes, monotonic time]
        self.list_calls = []       # ListShardsCall
        self.shard_throttled = 0   # records refused by a shard's limits

    def make_shards(self, stream, n):
        """Closes the stream's open shards and splits the hash key space evenly over ``n`` new ones."""
        shards = self.shards.setdefault(stream, [])
        for i, sh in enumerate(shards):
            shards[i] = sh._replace(open=False)
        width = (HASH_KEY_MAX + 1) // n
        for i in range(n):
            end = HASH_KEY_MAX if i == n - 1 else (i + 1) * width - 1
            shards.append(Shard("shardId-%012d" % len(shards), i * width, end, True))

    def shard_of(self, stream, hash_key):
        """The id of the open shard that takes ``hash_key``."""
        for sh in self.shards.get(stream, []):
            if sh.open and sh.start <= hash_key <= sh.end:
                return sh.id
        return "shardId-000000000000"

    def take(self, stream, shard, size, now):
        """Whether the shard's budget takes a record of ``size`` bytes now (it is spent if so)."""
        if not self.shard_limits:
            return True
        b = self.buckets.setdefault((stream, shard), [SHARD_RECORDS_PER_SEC, SHARD_BYTES_PER_SEC, now])
        dt = now - b[2]
        b[0] = min(SHARD_RECORDS_PER_SEC, b[0] + dt * SHARD_RECORDS_PER_SEC)
        b[1] = min(SHARD_BYTES_PER_SEC, b[1] + dt * SHARD_BYTES_PER_SEC)
        b[2] = now
        if b[0] < 1.0 or b[1] < size:
            self.shard_throttled += 1
            return False
        b[0] -= 1.0
        b[1] -= size
        return True


class IotState:
    def __init__(self):
        self.channels = set()
        self.whole_call = []       # statuses answered to the next calls, in turn
        self.entry_errors = {}     # payload -> [errorCode, ...] for its successive attempts
        self.requests = []         # IotRequest
        self.accepted = []         # IotMessage, in acceptance order


class CredsState:
    def __init__(self):
        self.token = None          # expected Authorization header
        self.lifetime = 3600.0     # seconds until Expiration of each issued key
        self.calls = 0
        self.refused = 0
        self.issued = []           # (access key, secret, token, expiration datetime)


class FakeAws:
    def __init__(self, region="us-east-1", seed=4321):
        self.region = region
        self._lock = threading.Lock()
        self._keys = {}
        self.kinesis = KinesisState(seed)
        self.iot = IotState()
        self.creds = CredsState()
        self.protocol_errors = []
        self.auth_failures = []    # (code, message) of requests refused by the signature check
        self.arrivals = []         # time.monotonic() of every POST (any service, any outcome)
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self.port = self._server.server_address[1]
        self.endpoint = "http://127.0.0.1:%d" % self.port
        self.creds_url = self.endpoint + "/creds"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-aws", daemon=True)
        self._thread.start()

    # -- control ---------------------------------------------------------------
    def add_key(self, access_key, secret, token=None, expires=None):
        """Accept requests signed with this key (and, when given, this session token)."""
        with self._lock:
            self._keys[access_key] = _Key(secret, token, expires)

    def configure_kinesis(self, **kw):
        with self._lock:
            for k, v in kw.items():
                if k not in ("record_fail_rate", "throttle_rate", "error500_rate", "forced", "max_record_bytes",
                             "shard_limits", "list_shards_allowed", "list_page"):
                    raise TypeError("unknown Kinesis fault setting %r" % k)
                setattr(self.kinesis, k, v)

    def add_kinesis_stream(self, name, shards=1):
        with self._lock:
            self.kinesis.streams.add(name)
            self.kinesis.shards.pop(name, None)
            self.kinesis.make_shards(name, shards)

    def reshard(self, name, shards):
        """Closes the stream's shards and opens ``shards`` new ones over the whole hash key space
        (as a split or merge leaves parents closed and children open); ListShards lists both."""
        with self._lock:
            self.kinesis.make_shards(name, shards)

    def add_iot_channel(self, name):
        with self._lock:
            self.iot.channels.add(name)

    def iot_fail_next_calls(self, *statuses):
        with self._lock:
            self.iot.whole_call.extend(statuses)

    def iot_entry_errors(self, payload, *codes):
        with self._lock:
            self.iot.entry_errors[payload] = list(codes)

    def stop(self):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    # -- inspection -------------------------------------------------------------
    def kinesis_requests(self):
        with self._lock:
            return list(self.kinesis.requests)

    def list_shards_calls(self):
        with self._lock:
            return list(self.kinesis.list_calls)

    def kinesis_accepted(self, stream):
        with self._lock:
            return list(self.kinesis.accepted.get(stream, []))

    def iot_requests(self):
        with self._lock:
            return list(self.iot.requests)

    def iot_accepted(self):
        with self._lock:
            return list(self.iot.accepted)

    def arrival_times(self):
        with self._lock:
            return list(self.arrivals)

    def creds_calls(self):
        with self._lock:
            return self.creds.calls, self.creds.refused

    def issued_keys(self):
        with self._lock:
            return list(self.creds.issued)

    def summary(self):
        with self._lock:
            k = self.kinesis
            outcomes = collections.Counter(r.outcome for r in k.requests)
            lines = ["fake AWS at %s (region %s)" % (self.endpoint, self.region),
                     "kinesis: requests=%d outcomes=%s accepted=%s" % (
                         len(k.requests), dict(outcomes), {s: len(v) for s, v in k.accepted.items()}),
                     "kinesis: ListShards calls %s, records throttled by shard limits %d" % (
                         dict(collections.Counter(c.outcome for c in k.list_calls)), k.shard_throttled)]
            for r in k.requests[-6:]:
                lines.append("  %s %s records=%d accepted=%d key=%s" % (
                    r.outcome, r.stream, len(r.records), sum(r.accepted), r.signed and r.signed.access_key))
            i = self.iot
            lines.append("iot: requests=%d outcomes=%s accepted=%d" % (
                len(i.requests), dict(collections.Counter(r.outcome for r in i.requests)), len(i.accepted)))
            for r in i.requests[-6:]:
                lines.append("  %s %s ids=%s errors=%s" % (
                    r.outcome, r.channel, [m[0] for m in r.messages[:3]], dict(list(r.errors.items())[:3])))
            lines.append("creds: calls=%d refused=%d issued=%s" % (
                self.creds.calls, self.creds.refused, [x[0] for x in self.creds.issued]))
            if self.auth_failures:
                lines.append("auth failures (%d): %s" % (len(self.auth_failures), self.auth_failures[-3:]))
            if self.protocol_errors:
                lines.append("protocol errors (%d): %s" % (len(self.protocol_errors), self.protocol_errors[:5]))
            return "\n".join(lines)

    # -- request handling ----------------------------------------------------------
    def _handle(self, h, method):
        try:
            body = h._read_body()
        except (OSError, ValueError):
            h.close_connection = True
            return
        path = h.path.split("?", 1)[0]
        if method == "POST" and h.headers.get("X-Amz-Target") != LIST_SHARDS_TARGET:
            with self._lock:
                self.arrivals.append(time.monotonic())
        try:
            if method == "GET" and path == "/creds":
                return self._creds(h)
            if method == "POST" and path == "/" and h.headers.get("X-Amz-Target"):
                return self._kinesis(h, body)
            if method == "POST" and path == "/messages/batch":
                return self._iot(h, body)
            self._protocol_error("unexpected request %s %s (X-Amz-Target %r)" % (
                method, h.path, h.headers.get("X-Amz-Target")))
            h.answer(404, {"__type": "UnknownOperationException", "message": "no such operation"},
                     error_code="UnknownOperationException")
        except AwsError as e:
            ctype = "application/json" if path == "/messages/batch" else "application/x-amz-json-1.1"
            h.answer(e.status, {"__type": e.code, "message": e.message}, content_type=ctype, error_code=e.code)

    def _protocol_error(self, text):
        with self._lock:
            self.protocol_errors.append(text)

    def _invalid(self, text, code="ValidationException"):
        self._protocol_error(text)
        return AwsError(400, code, text)

    def _check_signature(self, h, body, service):
        """Verify the SigV4 signature; returns SignedBy or raises AwsError."""
        headers = collections.defaultdict(list)
        for name, value in h.headers.items():
            headers[name.lower()].append(value)
        auth = _header_value(headers.get("authorization", []))
        try:
            if not auth:
                raise AwsError(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
            m = _AUTH_RE.match(auth)
            if not m:
                raise AwsError(403, "IncompleteSignatureException", "malformed Authorization header %r" % auth[:80])
            access_key, date, region, svc, signed, signature = m.groups()
            signed_names = signed.split(";")
            if signed_names != sorted(set(signed_names)):
                raise AwsError(403, "IncompleteSignatureException", "SignedHeaders not sorted/unique: %s" % signed)
            amz_date = _header_value(headers.get("x-amz-date", []))
            if not amz_date:
                raise AwsError(403, "IncompleteSignatureException", "no X-Amz-Date header")
            must_sign = ["host", "x-amz-date"] + [n for n in ("x-amz-target", "x-amz-security-token",
                                                               "x-amz-content-sha256") if n in headers]
            for required in must_sign:
                if required not in signed_names:
                    raise AwsError(403, "IncompleteSignatureException", "header %s is not signed (%s)" % (
                        required, signed))
            try:
                t = datetime.datetime.strptime(amz_date, AMZ_DATE_FORMAT).replace(tzinfo=datetime.timezone.utc)
            except ValueError:
                raise AwsError(403, "IncompleteSignatureException", "bad X-Amz-Date %r" % amz_date)
            if abs(t.timestamp() - time.time()) > MAX_CLOCK_SKEW:
                raise AwsError(403, "InvalidSignatureException", "Signature expired: %s" % amz_date)
            if date != amz_date[:8]:
                raise AwsError(403, "SignatureDoesNotMatch", "credential date %s is not the X-Amz-Date day" % date)
            if svc != service:
                raise AwsError(403, "SignatureDoesNotMatch", "credential scope names service %r, expected %r" % (
                    svc, service))
            if region != self.region:
                raise AwsError(403, "SignatureDoesNotMatch", "credential scope names region %r, expected %r" % (
                    region, self.region))
            with self._lock:
                key = self._keys.get(access_key)
            if key is None:
                raise AwsError(403, "UnrecognizedClientException",
                               "The security token included in the request is invalid (unknown key %s)" % access_key)
            sent_token = _header_value(headers.get("x-amz-security-token", [])) or None
            if sent_token != key.token:
                raise AwsError(403, "UnrecognizedClientException",
                               "The security token included in the request is invalid (%s)" % (
                                   "missing" if sent_token is None else "wrong"))
            content_sha = _header_value(headers.get("x-amz-content-sha256", []))
            if content_sha and content_sha != _sha256_hex(body):
                raise AwsError(400, "InvalidSignatureException", "x-amz-content-sha256 is not the body's hash")
            expected = sigv4_signature(key.secret, h.command, h.path, headers, signed_names, body, amz_date,
                                       "%s/%s/%s/aws4_request" % (date, region, svc))
            if not hmac.compare_digest(expected, signature):
                raise AwsError(403, "SignatureDoesNotMatch",
                               "The request signature we calculated does not match the signature you provided.")
            if key.expires is not None and time.time() > key.expires:
                raise AwsError(400, "ExpiredTokenException", "The security token included in the request is expired")
        except AwsError as e:
            with self._lock:
                self.auth_failures.append((e.code, e.message))
            raise
        return SignedBy(access_key, region, svc, sent_token)

    # -- Kinesis ---------------------------------------------------------------------
    def _kinesis(self, h, body):
        signed = self._check_signature(h, body, "kinesis")
        target = h.headers.get("X-Amz-Target")
        if target not in (KINESIS_TARGET, LIST_SHARDS_TARGET):
            raise self._invalid("X-Amz-Target %r, only %s and %s are expected" % (
                target, KINESIS_TARGET, LIST_SHARDS_TARGET), "UnknownOperationException")
        ctype = (h.headers.get("Content-Type") or "").split(";")[0].strip()
        if ctype != "application/x-amz-json-1.1":
            raise self._invalid("Kinesis Content-Type %r" % ctype, "SerializationException")
        try:
            doc = json.loads(body)
        except ValueError as e:
            raise self._invalid("%s body is not JSON: %s" % (target, e), "SerializationException")
        if target == LIST_SHARDS_TARGET:
            return self._list_shards(h, doc, signed)
        if not isinstance(doc, dict) or not set(doc) <= {"StreamName", "StreamARN", "Records"} \
                or ("StreamName" in doc) == ("StreamARN" in doc):
            raise self._invalid("PutRecords body keys %r" % (sorted(doc) if isinstance(doc, dict) else doc,))
        stream = doc.get("StreamName") or doc["StreamARN"].rsplit("/", 1)[-1]
        if not isinstance(stream, str) or not STREAM_NAME_RE.match(stream):
            raise self._invalid("StreamName %r does not match the pattern" % (stream,))
        recs = doc.get("Records")
        if not isinstance(recs, list) or not 1 <= len(recs) <= KINESIS_MAX_RECORDS:
            raise self._invalid("PutRecords has %s records (1..500)" % (
                len(recs) if isinstance(recs, list) else repr(recs)), "InvalidArgumentException")
        records = []
        placed = []    # (hash key, size, ExplicitHashKey sent) of each record
        total = 0
        with self._lock:
            max_record = self.kinesis.max_record_bytes
        for r in recs:
            if not isinstance(r, dict) or not {"Data", "PartitionKey"} <= set(r) <= {
                    "Data", "PartitionKey", "ExplicitHashKey"}:
                raise self._invalid("record with keys %r" % (sorted(r) if isinstance(r, dict) else r,))
            pk = r["PartitionKey"]
            if not isinstance(pk, str) or not 1 <= len(pk) <= 256:
                raise self._invalid("PartitionKey %r is not 1..256 chars" % (pk,))
            hash_key = r.get("ExplicitHashKey")
            if hash_key is None:
                hash_key = int.from_bytes(hashlib.md5(pk.encode("utf-8")).digest(), "big")
            elif isinstance(hash_key, str) and re.fullmatch(r"0|[1-9][0-9]{0,38}", hash_key) \
                    and int(hash_key) <= HASH_KEY_MAX:
                hash_key = int(hash_key)
            else:
                raise self._invalid("ExplicitHashKey %r is not a decimal 0..2^128-1" % (hash_key,),
                                    "InvalidArgumentException")
            try:
                data = base64.b64decode(r["Data"], validate=True)
            except (binascii.Error, ValueError, TypeError) as e:
                raise self._invalid("Data is not standard base64: %s" % e)
            size = len(data) + len(pk.encode("utf-8"))
            if size > max_record:
                raise self._invalid("record of %d bytes (data + partition key) exceeds %d" % (size, max_record),
                                    "InvalidArgumentException")
            total += size
            records.append((data, pk))
            placed.append((hash_key, size, r.get("ExplicitHashKey")))
        if total > KINESIS_MAX_REQUEST_BYTES:
            raise self._invalid("PutRecords request of %d bytes exceeds 5 MiB" % total, "InvalidArgumentException")

        with self._lock:
            k = self.kinesis
            now = time.monotonic()
            if stream not in k.streams:
                k.requests.append(KinesisRequest(now, stream, records, "notfound", [False] * len(records), signed))
                raise AwsError(400, "ResourceNotFoundException",
                               "Stream %s under account 123456789012 not found." % stream)
            forced = k.forced.pop(0) if k.forced else None
            draw = k.rng.random()
            if forced == "throttle" or (forced is None and draw < k.throttle_rate):
                k.requests.append(KinesisRequest(now, stream, records, "throttle", [False] * len(records), signed))
                raise AwsError(400, "ProvisionedThroughputExceededException",
                               "Rate exceeded for stream %s under account 123456789012." % stream)
            if forced == "500" or (forced is None and draw < k.throttle_rate + k.error500_rate):
                k.requests.append(KinesisRequest(now, stream, records, "500", [False] * len(records), signed))
                raise AwsError(500, "InternalFailure", "injected internal failure")
            out = []
            accepted = []
            for (data, pk), (hash_key, size, explicit) in zip(records, placed):
                shard_id = k.shard_of(stream, hash_key)
                if not k.take(stream, shard_id, size, now):
                    accepted.append(False)
                    out.append({"ErrorCode": "ProvisionedThroughputExceededException",
                                "ErrorMessage": "Rate exceeded for shard %s in stream %s under account "
                                                "123456789012." % (shard_id, stream)})
                    continue
                if k.rng.random() < k.record_fail_rate:
                    accepted.append(False)
                    if k.rng.random() < 0.5:
                        out.append({"ErrorCode": "ProvisionedThroughputExceededException",
                                    "ErrorMessage": "Rate exceeded for shard shardId-000000000000"})
                    else:
                        out.append({"ErrorCode": "InternalFailure", "ErrorMessage": "Internal service failure."})
                    continue
                k.next_seq += 1
                seq = "4959%040d" % k.next_seq
                k.accepted.setdefault(stream, []).append(KinesisRecord(data, pk, seq, shard_id, explicit))
                accepted.append(True)
                out.append({"SequenceNumber": seq, "ShardId": shard_id})
            failed = accepted.count(False)
            k.requests.append(KinesisRequest(now, stream, records, "partial" if failed else "ok", accepted, signed))
        h.answer(200, {"FailedRecordCount": failed, "Records": out, "EncryptionType": "NONE"})

    def _list_shards(self, h, doc, signed):
        allowed = {"StreamName", "StreamARN", "NextToken", "MaxResults", "ShardFilter", "ExclusiveStartShardId"}
        if not isinstance(doc, dict) or not set(doc) <= allowed:
            raise self._invalid("ListShards body %r" % (doc,))
        if "NextToken" in doc:
            if set(doc) - {"NextToken", "MaxResults"}:
                raise self._invalid("ListShards NextToken with %r (the API refuses both)" % sorted(doc),
                                    "InvalidArgumentException")
            try:
                stream, at = json.loads(base64.b64decode(doc["NextToken"]))
            except (ValueError, TypeError, binascii.Error):
                raise self._invalid("ListShards NextToken %r is not one this fake gave" % doc["NextToken"],
                                    "InvalidArgumentException")
        elif ("StreamName" in doc) == ("StreamARN" in doc):
            raise self._invalid("ListShards names neither or both of StreamName and StreamARN")
        else:
            stream, at = doc.get("StreamName") or doc["StreamARN"].rsplit("/", 1)[-1], 0
        with self._lock:
            k = self.kinesis
            now = time.monotonic()
            if not k.list_shards_allowed:
                k.list_calls.append(ListShardsCall(now, stream, "denied", signed))
                raise AwsError(400, "AccessDeniedException",
                               "User: arn:aws:sts::123456789012:assumed-role/device/x is not authorized to "
                               "perform: kinesis:ListShards on resource: arn:aws:kinesis:%s:123456789012:"
                               "stream/%s" % (self.region, stream))
            if stream not in k.streams:
                k.list_calls.append(ListShardsCall(now, stream, "notfound", signed))
                raise AwsError(400, "ResourceNotFoundException",
                               "Stream %s under account 123456789012 not found." % stream)
            all_shards = k.shards.get(stream, [])
            n = len(all_shards)
            page = range(at, min(n, at + k.list_page))
            shards = []
            for i in page:
                sh = all_shards[i]
                numbers = {"StartingSequenceNumber": "4959%040d" % i}
                if not sh.open:
                    numbers["EndingSequenceNumber"] = "4959%040d" % (i + 10 ** 30)
                shards.append({"ShardId": sh.id,
                               "HashKeyRange": {"StartingHashKey": str(sh.start), "EndingHashKey": str(sh.end)},
                               "SequenceNumberRange": numbers})
            k.list_calls.append(ListShardsCall(now, stream, "ok", signed))
        answer = {"Shards": shards}
        if page.stop < n:
            answer["NextToken"] = base64.b64encode(json.dumps([stream, page.stop]).encode()).decode()
        h.answer(200, answer)

    # -- IoT Analytics -------------------------------------------------------------------
    def _iot(self, h, body):
        signed = self._check_signature(h, body, "iotanalytics")
        ctype = (h.headers.get("Content-Type") or "").split(";")[0].strip()
        if ctype != "application/json":
            raise self._invalid("BatchPutMessage Content-Type %r" % ctype, "InvalidRequestException")
        try:
            doc = json.loads(body)
        except ValueError as e:
            raise self._invalid("BatchPutMessage body is not JSON: %s" % e, "InvalidRequestException")
        if not isinstance(doc, dict) or set(doc) != {"channelName", "messages"}:
            raise self._invalid("BatchPutMessage body keys %r" % (sorted(doc) if isinstance(doc, dict) else doc,),
                                "InvalidRequestException")
        channel = doc["channelName"]
        if not isinstance(channel, str) or not CHANNEL_RE.match(channel):
            raise self._invalid("channelName %r does not match the pattern" % (channel,), "InvalidRequestException")
        msgs = doc["messages"]
        if not isinstance(msgs, list) or not 1 <= len(msgs) <= IOT_MAX_MESSAGES:
            raise self._invalid("BatchPutMessage has %s messages (1..100)" % (
                len(msgs) if isinstance(msgs, list) else repr(msgs)), "InvalidRequestException")
        messages = []
        for m in msgs:
            if not isinstance(m, dict) or set(m) != {"messageId", "payload"}:
                raise self._invalid("message with keys %r" % (sorted(m) if isinstance(m, dict) else m,),
                                    "InvalidRequestException")
            mid = m["messageId"]
            if not isinstance(mid, str) or not 1 <= len(mid) <= 128:
                raise self._invalid("messageId %r is not 1..128 chars" % (mid,), "InvalidRequestException")
            try:
                payload = base64.b64decode(m["payload"], validate=True)
            except (binascii.Error, ValueError, TypeError) as e:
                raise self._invalid("payload is not standard base64: %s" % e, "InvalidRequestException")
            messages.append((mid, payload))
        ids = [mid for mid, _ in messages]
        if len(set(ids)) != len(ids):
            raise self._invalid("duplicate messageId in one batch: %r" % (
                sorted(i for i, n in collections.Counter(ids).items() if n > 1)[:5],), "InvalidRequestException")

        with self._lock:
            i = self.iot
            now = time.monotonic()
            if i.whole_call:
                status = i.whole_call.pop(0)
                i.requests.append(IotRequest(now, channel, messages, str(status), {}, signed))
                code = {429: "ThrottlingException", 503: "ServiceUnavailableException"}.get(
                    status, "InternalFailureException")
                raise AwsError(status, code, "injected whole-call failure")
            if channel not in i.channels:
                i.requests.append(IotRequest(now, channel, messages, "notfound", {}, signed))
                raise AwsError(404, "ResourceNotFoundException", "channel %s not found" % channel)
            entries = []
            errors = {}
            for mid, payload in messages:
                codes = i.entry_errors.get(payload)
                if codes:
                    code = codes.pop(0)
                    errors[mid] = code
                    entries.append({"messageId": mid, "errorCode": code, "errorMessage": "injected %s" % code})
                    continue
                i.accepted.append(IotMessage(mid, payload, channel))
            i.requests.append(IotRequest(now, channel, messages, "errors" if errors else "ok", errors, signed))
        h.answer(200, {"batchPutMessageErrorEntries": entries}, content_type="application/json")

    # -- container credentials ------------------------------------------------------------
    def _creds(self, h):
        auth = h.headers.get("Authorization")
        with self._lock:
            c = self.creds
            c.calls += 1
            if c.token is None or auth != c.token:
                c.refused += 1
                refused = True
            else:
                refused = False
                n = len(c.issued) + 1
                access_key = "ASIACONTAINER%07d" % n
                secret = "container-secret-%d-%s" % (n, secrets.token_hex(12))
                token = "container-token-%d-%s" % (n, secrets.token_hex(24))
                expires = time.time() + c.lifetime
                expiration = datetime.datetime.fromtimestamp(expires, datetime.timezone.utc)
                c.issued.append((access_key, secret, token, expiration))
                self._keys[access_key] = _Key(secret, token, None)
        if refused:
            h.answer(403, {"code": "AccessDeniedException", "message": "invalid authorization token"},
                     content_type="application/json")
            return
        h.answer(200, {
            "AccessKeyId": access_key,
            "SecretAccessKey": secret,
            "Token": token,
            "Expiration": expiration.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }, content_type="application/json")


@pytest.fixture
def fake_aws(request):
    """A running FakeAws on 127.0.0.1 (region us-east-1), stopped on teardown."""
    fake = FakeAws()
    request.node.stash.setdefault(AWS_FAKES_KEY, []).append(fake)
    try:
        yield fake
    finally:
        fake.stop()


# ---------------------------------------------------------------------------
# a proxy that refuses everything
# ---------------------------------------------------------------------------

class RefusingProxy:
    """An HTTP(S) proxy on 127.0.0.1 that answers every request (``CONNECT host:443`` for
    HTTPS) with 403 and records its request line and arrival time: used as ``HTTPS_PROXY`` so
    that a daemon aiming at a real AWS endpoint stays on loopback, and the test sees where
    (and how often) it tried to go."""

    def __init__(self):
        self._lock = threading.Lock()
        self.requests = []  # (time.monotonic(), request line)
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.1)
        self.port = self._sock.getsockname()[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="refusing-proxy", daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            arrived = time.monotonic()
            try:
                conn.settimeout(2.0)
                head = b""
                while b"\r\n\r\n" not in head and len(head) < 65536:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    head += chunk
                with self._lock:
                    self.requests.append((arrived, head.split(b"\r\n", 1)[0].decode("latin-1")))
                conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            except OSError:
                pass
            finally:
                conn.close()

    def seen(self):
        with self._lock:
            return list(self.requests)

    def summary(self):
        return "refusing proxy at %s saw %d requests: %r" % (self.url, len(self.requests), self.seen()[-5:])

    def stop(self):
        self._stop.set()
        self._thread.join(5)
        self._sock.close()


@pytest.fixture
def refusing_proxy(request):
    proxy = RefusingProxy()
    request.node.stash.setdefault(AWS_FAKES_KEY, []).append(proxy)
    try:
        yield proxy
    finally:
        proxy.stop()


# ---------------------------------------------------------------------------
# moto
# ---------------------------------------------------------------------------

PROXY_VARS = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy",
              "NO_PROXY", "no_proxy")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _moto_binary():
    candidate = Path(sys.executable).parent / "moto_server"
    if candidate.is_file():
        return str(candidate)
    return shutil.which("moto_server")


class MotoServer:
    region = "us-east-1"

    def __init__(self, log_dir):
        self.log_path = Path(log_dir) / "moto.log"
        self.proc = None
        self.endpoint = None
        self.access_key = self.secret = None
        self._log = None

    def start(self, timeout=30.0):
        binary = _moto_binary()
        if not binary:
            pytest.fail("moto_server not found next to %s or on PATH: pip install -r tests/e2e/requirements.txt"
                        % sys.executable)
        port = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k not in PROXY_VARS}
        env["INITIAL_NO_AUTH_ACTION_COUNT"] = "3"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([binary, "-H", "127.0.0.1", "-p", str(port)], env=env,
                                     stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT)
        self.endpoint = "http://127.0.0.1:%d" % port
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto_server did not start (exit code %s):\n%s" % (
                        self.proc.poll(), self.log_tail()))
                time.sleep(0.05)
        # the three unchecked calls: user, allow-all policy, access key
        iam = self._client("iam", "bootstrap", "bootstrap")
        iam.create_user(UserName="stream-manager")
        iam.put_user_policy(UserName="stream-manager", PolicyName="all", PolicyDocument=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
        key = iam.create_access_key(UserName="stream-manager")["AccessKey"]
        self.access_key, self.secret = key["AccessKeyId"], key["SecretAccessKey"]
        self.kinesis = self._client("kinesis", self.access_key, self.secret)
        return self

    def _client(self, service, access_key, secret):
        import boto3
        from botocore.config import Config

        return boto3.client(service, endpoint_url=self.endpoint, region_name=self.region,
                            aws_access_key_id=access_key, aws_secret_access_key=secret,
                            config=Config(retries={"max_attempts": 2, "mode": "standard"},
                                          connect_timeout=5, read_timeout=30,
                                          proxies={"http": None, "https": None}))

    def create_stream(self, name, shards=2):
        self.kinesis.create_stream(StreamName=name, ShardCount=shards)
        self.kinesis.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.1,
                                                                                     "MaxAttempts": 100})

    def read_stream(self, name):
        """Every record of stream ``name``, over all shards: list of (shard id, record dict)."""
        out = []
        shards = self.kinesis.list_shards(StreamName=name)["Shards"]
        for sh in shards:
            it = self.kinesis.get_shard_iterator(StreamName=name, ShardId=sh["ShardId"],
                                                 ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
            while it:
                resp = self.kinesis.get_records(ShardIterator=it, Limit=10000)
                out.extend((sh["ShardId"], r) for r in resp["Records"])
                if not resp["Records"] or resp.get("MillisBehindLatest", 0) == 0:
                    break
                it = resp.get("NextShardIterator")
        return out

    def summary(self):
        return "moto server at %s, log tail:\n%s" % (self.endpoint, self.log_tail(4000))

    def log_tail(self, limit=20_000):
        try:
            data = self.log_path.read_bytes()
        except OSError:
            return "(no moto log)"
        return data[-limit:].decode("utf-8", "replace")

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        if self._log:
            self._log.close()


@pytest.fixture(scope="session")
def moto_session(tmp_path_factory):
    m = MotoServer(tmp_path_factory.mktemp("moto"))
    try:
        m.start()
        yield m
    finally:
        m.stop()


@pytest.fixture
def moto_server(request, moto_session):
    """The session's moto server with signature checking on; ``.access_key``/``.secret`` are the
    only accepted credentials, ``.endpoint`` its URL.  Its log is attached to a failed test."""
    request.node.stash.setdefault(AWS_FAKES_KEY, []).append(moto_session)
    return moto_session
