"""Credentials that come and go: short-lived container credentials from a token exchange
service (``tesfake.FakeTes``) that rotates keys, then fails (HTTP 500, garbage, connection
refused) and comes back, while a Kinesis export runs against ``FakeAws``, which checks every
signature and refuses keys after their expiry. The daemon runs at the default retry
settings (1 s base), with a proxy configured for everything but Kinesis (the TES is always
asked directly).
"""

import threading
import time

from awsfakes import fake_aws, refusing_proxy  # noqa: F401  (fixtures)
from tesfake import fake_tes  # noqa: F401  (fixture)
from test_export_aws import REGION, assert_no_secrets, aws_env, describe_ctx, kinesis_def, statuses
from test_export_http import raw_statuses, wait_until
from test_metrics import LISTENING, health

LIFETIME = 10.0  # seconds each key is valid: refreshed 5 to 6.25 s before it expires


class Appender:
    """Appends numbered payloads to a stream every ``period`` seconds from a thread."""

    def __init__(self, client, stream, period=0.1):
        self.client, self.stream, self.period = client, stream, period
        self.payloads = []
        self.errors = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            p = b"%d:payload" % len(self.payloads)
            try:
                seq = self.client.append_message(self.stream, p)
            except Exception as e:  # reported by the test
                self.errors.append(repr(e))
                return
            if seq != len(self.payloads):
                self.errors.append("sequence number %d for payload %d" % (seq, len(self.payloads)))
            self.payloads.append(p)
            self._stop.wait(self.period)

    def stop(self):
        self._stop.set()
        self._thread.join(10)
        return list(self.payloads)


def error_of(c, name):
    return statuses(c, name)["k"].error_message or ""


def test_short_lived_credentials_rotate_and_a_tes_outage_pauses_then_resumes(
        daemon_factory, tmp_path, fake_aws, fake_tes, refusing_proxy):
    fake, tes = fake_aws, fake_tes
    tes.lifetime = LIFETIME
    name = "creds-rot"
    fake.add_kinesis_stream(name)
    env = aws_env(tmp_path / "home",
                  AWS_CONTAINER_CREDENTIALS_FULL_URI=tes.url,
                  AWS_CONTAINER_AUTHORIZATION_TOKEN=tes.token,
                  AWS_REGION=REGION,
                  AWS_ENDPOINT_URL_KINESIS=fake.endpoint,
                  # A proxy for everything but Kinesis: the TES must still be asked directly.
                  HTTP_PROXY=refusing_proxy.url, NO_PROXY="127.0.0.1:%d" % fake.port)
    # Default retry settings; /health reports an export stalled after 2 s.
    d = daemon_factory(extra_args=("--metrics-address", "127.0.0.1:0", "--health-stall-seconds", "2"),
                       env=env)
    d.metrics_port = int(LISTENING.search(d.stderr_text()).group(1))
    c = d.client()
    c.create_message_stream(kinesis_def(name, name, batch_size=10))
    appender = Appender(d.client(), name)
    base = describe_ctx(c, name, fake)
    ctx = lambda: "%s\n%s\nappended=%d errors=%s" % (  # noqa: E731
        base(), tes.summary(), len(appender.payloads), appender.errors)
    wall = time.time() - time.monotonic()

    # 1. Rotation: three keys, each used before its expiry, never an older one again.
    wait_until(lambda: len(tes.issued_keys()) >= 3, 4 * LIFETIME, "three keys from the TES", ctx)
    wait_until(lambda: any(r.signed.access_key == tes.issued_keys()[2][0] for r in fake.kinesis_requests()),
               LIFETIME, "a request signed with the third key", ctx)

    # 2. The TES fails: 500 until the last key is stale and the export pauses on it, then
    #    garbage, then connection refused; each failure is what describe says.
    outage = time.monotonic()
    tes.set_mode("500")
    wait_until(lambda: "HTTP 500" in error_of(c, name), LIFETIME + 10, "describe: the TES answered 500", ctx)
    msg = error_of(c, name)
    assert "credentials" in msg and tes.url in msg, msg
    code, body = wait_until(lambda: (lambda h: h if h[1]["exports"]["stalled"] else None)(health(d)), 10,
                            "/health to report the export stalled", ctx)
    stalled = body["exports"]["stalled"][0]
    assert code == 200 and body["status"] == "degraded", body
    assert stalled["stream"] == name and "credentials" in (stalled["lastError"] or ""), stalled
    tes.set_mode("garbage")
    wait_until(lambda: "invalid answer" in error_of(c, name), 20, "describe: the TES sent garbage", ctx)
    assert "not JSON" in error_of(c, name), error_of(c, name)
    tes.set_mode("down")
    wait_until(lambda: "could not be reached" in error_of(c, name), 30, "describe: the TES refused", ctx)
    assert "refused" in error_of(c, name).lower(), error_of(c, name)
    assert tes.calls_in("500") and tes.calls_in("garbage"), tes.summary()

    # 3. The TES is back: exports resume within the backoff in force, nothing lost.
    back = time.monotonic()
    tes.set_mode("ok")
    wait_until(lambda: any(r.time > back and r.outcome == "ok" for r in fake.kinesis_requests()), 40,
               "a Kinesis request after the TES came back", ctx)
    resumed = min(r.time for r in fake.kinesis_requests() if r.time > back) - back
    payloads = appender.stop()
    assert not appender.errors, appender.errors
    wait_until(lambda: statuses(c, name)["k"].last_exported_sequence_number == len(payloads) - 1, 30,
               "every appended message exported", ctx)

    assert [r.data for r in fake.kinesis_accepted(name)] == payloads, "lost, duplicated or reordered\n" + ctx()
    assert raw_statuses(d, name)["k"].get("skippedMessagesCount", 0) == 0
    assert not fake.auth_failures, "a request was signed with a bad or expired key: %s" % (fake.auth_failures[:3],)
    assert not fake.protocol_errors, fake.protocol_errors[:3]
    keys = {k[0]: k for k in tes.issued_keys()}
    order = list(keys)
    last = -1
    for r in fake.kinesis_requests():
        k = keys.get(r.signed.access_key)
        assert k is not None, "signed with a key the TES never issued: %s" % (r.signed.access_key,)
        assert r.signed.token == k[2], "the session token does not belong to the key"
        assert r.time + wall < k[4], "a request %.2f s after its key expired" % (r.time + wall - k[4])
        i = order.index(k[0])
        assert i >= last, "an older key was used after a newer one"
        last = i
    stale_during_outage = [r for r in fake.kinesis_requests() if outage < r.time < back and r.outcome == "ok"]
    assert all(r.time + wall < keys[r.signed.access_key][4] for r in stale_during_outage)
    assert resumed < 35, "resumed %.1f s after the TES came back" % resumed
    assert refusing_proxy.seen() == [], "the TES was asked through the proxy"
    assert_no_secrets(d, tes.token, *[x for k in tes.issued_keys() for x in (k[1], k[2])])
