"""A fake Greengrass token exchange service (TES) for the credentials tests.

``FakeTes`` is a container credentials endpoint on 127.0.0.1 of its own (apart from
``FakeAws``, so that it can be down while Kinesis is up): ``GET /2016-11-01/credentialprovider/``
checks the ``Authorization`` header against ``token`` and answers, by ``mode``:

* ``"ok"``: a new key (``ASIATES...``) with a session token, ``lifetime`` seconds valid
  (``Expiration`` in RFC 3339, as the TES sends it); the key is registered with the
  ``FakeAws`` given, with that expiry, so ``FakeAws`` refuses a request signed with it after
  it expired (``ExpiredTokenException``, recorded in its ``auth_failures``);
* ``"500"``: HTTP 500 with a JSON error, as the TES answers when it cannot reach IoT;
* ``"garbage"``: HTTP 200 with a body that is not JSON;
* ``"down"``: the listening socket is closed (connection refused) until the mode changes; the
  port is kept (bound again with SO_REUSEADDR).

Every request that reaches it is recorded: ``(time.monotonic(), mode, access key or None)``.
"""

import datetime
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

TES_PATH = "/2016-11-01/credentialprovider/"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        self.server.tes._handle(self)

    def send(self, status, body, ctype="application/json"):
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
        except OSError:
            self.close_connection = True


class FakeTes:
    def __init__(self, fake_aws, token="tes-authorization-token-5d1e", lifetime=3600.0):
        self.fake_aws = fake_aws
        self.token = token
        self.lifetime = lifetime
        self._lock = threading.Lock()
        self._mode = "ok"
        self.calls = []            # (monotonic time, mode, access key or None)
        self.issued = []           # (access key, secret, token, monotonic issue time, wall expiry)
        self._server = None
        self._thread = None
        self.port = 0
        self._listen()
        self.url = "http://127.0.0.1:%d%s" % (self.port, TES_PATH)

    def _listen(self):
        self._server = _Server(("127.0.0.1", self.port), _Handler)
        self._server.tes = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-tes", daemon=True)
        self._thread.start()

    def _close(self):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
        self._server = None

    @property
    def mode(self):
        return self._mode

    def set_mode(self, mode):
        assert mode in ("ok", "500", "garbage", "down"), mode
        with self._lock:
            old, self._mode = self._mode, mode
        if mode == "down" and old != "down":
            self._close()
        elif old == "down" and mode != "down":
            self._listen()

    def calls_in(self, mode):
        with self._lock:
            return [c for c in self.calls if c[1] == mode]

    def issued_keys(self):
        with self._lock:
            return list(self.issued)

    def stop(self):
        if self._server is not None:
            self._close()

    def summary(self):
        with self._lock:
            return "fake TES at %s mode=%s calls=%d by mode=%s issued=%s" % (
                self.url, self._mode, len(self.calls),
                {m: sum(1 for c in self.calls if c[1] == m) for m in ("ok", "500", "garbage")},
                [k[0] for k in self.issued])

    def _handle(self, h):
        now = time.monotonic()
        with self._lock:
            mode = self._mode
            if h.path != TES_PATH or h.headers.get("Authorization") != self.token:
                self.calls.append((now, "refused", None))
                refused = True
            else:
                refused = False
                if mode == "ok":
                    n = len(self.issued) + 1
                    key = ("ASIATES%013d" % n, "tes-secret-%d-%s" % (n, secrets.token_hex(12)),
                           "tes-session-%d-%s" % (n, secrets.token_hex(24)))
                    expires = time.time() + self.lifetime
                    self.issued.append(key + (now, expires))
                    self.fake_aws.add_key(key[0], key[1], key[2], expires=expires)
                self.calls.append((now, mode, key[0] if mode == "ok" else None))
        if refused:
            h.send(403, b'{"message":"invalid authorization token"}')
        elif mode == "500":
            h.send(500, b'{"message":"TES could not reach AWS IoT"}')
        elif mode == "garbage":
            h.send(200, b"<html>upstream gateway</html>", ctype="text/html")
        else:
            expiration = datetime.datetime.fromtimestamp(expires, datetime.timezone.utc)
            h.send(200, ('{"AccessKeyId":"%s","SecretAccessKey":"%s","Token":"%s","Expiration":"%s"}' % (
                key[0], key[1], key[2], expiration.strftime("%Y-%m-%dT%H:%M:%SZ"))).encode())


@pytest.fixture
def fake_tes(request, fake_aws):
    """A FakeTes (mode "ok", 3600 s keys) registering its keys with ``fake_aws``."""
    from awsfakes import AWS_FAKES_KEY

    tes = FakeTes(fake_aws)
    request.node.stash.setdefault(AWS_FAKES_KEY, []).append(tes)
    try:
        yield tes
    finally:
        tes.stop()
