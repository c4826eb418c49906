"""Exports through a real proxy (``pproxy``, see ``proxies.py``), configured the way the
Greengrass nucleus hands it to components: ``HTTP_PROXY``/``HTTPS_PROXY`` with the user and
password percent-encoded in the URL, ``NO_PROXY``, the proxy's CA in ``GG_ROOT_CA_PATH``
(``--ca-bundle``). Destinations: the HTTP sink (``http://`` and, with a certificate of the
test's own CA, ``https://``), moto (Kinesis and S3, SigV4 checked) and the refusing proxy
(FIPS hosts). Every daemon runs at the default retry settings.
"""

import time

import pytest
from stream_manager import Status

from awsfakes import moto_server, moto_session, refusing_proxy  # noqa: F401  (fixtures)
from httpsink import HttpSink, http_sink  # noqa: F401  (fixture)
from proxies import pproxy  # noqa: F401  (fixture)
from test_export_aws import REGION, assert_no_secrets, aws_env, iot_def, kinesis_def, numbered_payloads
from test_export_http import JSON, RAW, fmt_status, http, raw_statuses, statuses, stream_def, wait_until
from test_export_sitewise import sdk_payload, sw_def
from test_export_s3 import boto, new_bucket, status_stream_def, task, task_bytes, task_stream_def, wait_terminal
from test_metrics import LISTENING, health
from tlsfiles import LocalCa

USER = "sm-user"
PASSWORD = "p@ss:w/rd%1"  # every character the URL must percent-encode


@pytest.fixture
def tls(tmp_path):
    """A CA of the test's own and an HTTPS sink whose certificate it signed."""
    ca = LocalCa(tmp_path / "ca")
    sink = HttpSink(seed=77, tls=ca.issue("sink"))
    try:
        yield ca, sink
    finally:
        sink.stop()


def start(daemon_factory, tmp_path, env, extra=(), label="sm", metrics=False):
    args = tuple(extra)
    if metrics:
        args += ("--metrics-address", "127.0.0.1:0", "--health-stall-seconds", "2")
    d = daemon_factory(extra_args=args, env=aws_env(tmp_path / ("home-" + label), **env), label=label)
    if metrics:
        d.metrics_port = int(LISTENING.search(d.stderr_text()).group(1))
    return d


def proxy_env(url, moto=None, **kw):
    env = {"HTTP_PROXY": url, "http_proxy": url, "HTTPS_PROXY": url, "https_proxy": url,
           "ALL_PROXY": url, "all_proxy": url}
    if moto is not None:
        env.update(AWS_ACCESS_KEY_ID=moto.access_key, AWS_SECRET_ACCESS_KEY=moto.secret, AWS_REGION=REGION,
                   AWS_ENDPOINT_URL_KINESIS=moto.endpoint, AWS_ENDPOINT_URL_S3=moto.endpoint)
    env.update(kw)
    return env


def append_all(client, name, payloads):
    for i, p in enumerate(payloads):
        assert client.append_message(name, p) == i


def exported(client, name, ident, n):
    return statuses(client, name)[ident].last_exported_sequence_number == n - 1


def test_http_kinesis_and_s3_exports_go_through_an_authenticating_proxy(
        daemon_factory, tmp_path, http_sink, tls, moto_server, pproxy):
    """Greengrass's variables (all six, the password percent-encoded): an http:// sink is
    reached by forwarding, an https:// sink (trusted through --ca-bundle) by a CONNECT tunnel,
    moto's Kinesis and S3 by forwarding; everything arrives, pproxy logged each target, no
    request was refused, and the password is in no log line."""
    ca, tls_sink = tls
    moto = moto_server
    proxy = pproxy(USER, PASSWORD)
    d = start(daemon_factory, tmp_path, proxy_env(proxy.url(), moto, NO_PROXY="localhost,.internal"),
              extra=("--ca-bundle", ca.pem))
    c = d.client()
    payloads = numbered_payloads(30, seed=11)
    c.create_message_stream(stream_def("h", [http("plain", http_sink.url("/plain"), JSON),
                                              http("tls", tls_sink.url("/tls"), RAW)]))
    kname = "proxied-%d" % proxy.port
    moto.create_stream(kname, shards=1)
    c.create_message_stream(kinesis_def("k", kname, batch_size=10))
    s3 = boto(moto, "s3")
    bucket = new_bucket(s3, "sm-proxy")
    c.create_message_stream(status_stream_def())
    c.create_message_stream(task_stream_def("s3"))
    f = tmp_path / "upload.bin"
    f.write_bytes(b"through the proxy " * 1000)
    append_all(c, "h", payloads)
    append_all(c, "k", payloads)
    assert c.append_message("s3", task_bytes(task(f, bucket, "via/proxy.bin"))) == 0
    ctx = lambda: "\n".join(fmt_status(s) for n in ("h", "k", "s3") for s in statuses(c, n).values()) \
        + "\n" + proxy.summary()  # noqa: E731

    wait_until(lambda: exported(c, "h", "plain", 30) and exported(c, "h", "tls", 30), 30, "the HTTP exports", ctx)
    wait_until(lambda: exported(c, "k", "k", 30), 30, "the Kinesis export", ctx)
    sms = wait_terminal(c, [0], 30, ctx)
    assert [m.payload for m in http_sink.messages("/plain")] == payloads
    assert tls_sink.bodies("/tls") == payloads
    got = sorted((r["Data"] for _, r in moto.read_stream(kname)), key=lambda b: int(b.split(b":")[0]))
    assert got == payloads
    assert sms[-1].status == Status.Success, sms
    assert s3.get_object(Bucket=bucket, Key="via/proxy.bin")["Body"].read() == f.read_bytes()

    moto_port = int(moto.endpoint.rsplit(":", 1)[1])
    for port, what in [(http_sink.port, "http sink (forwarded)"), (tls_sink.port, "https sink (CONNECT)"),
                       (moto_port, "moto (forwarded)")]:
        assert proxy.connections_to(port) >= 1, "pproxy never proxied to the %s\n%s" % (what, proxy.summary())
    assert proxy.unauthorized() == 0, proxy.summary()
    assert_no_secrets(d, PASSWORD, "p%40ss")


@pytest.mark.parametrize("no_proxy", ["127.0.0.1", "127.0.0.0/8", "127.0.0.1:{port}", "*", "localhost,127.0.0.1 "])
def test_no_proxy_bypasses_the_proxy(daemon_factory, tmp_path, http_sink, refusing_proxy, no_proxy):
    """NO_PROXY naming the sink (an address, a CIDR block, with its port, or *): the exports go
    straight to it and the proxy (one that refuses everything) sees nothing; a NO_PROXY entry
    for another port of the same host does not bypass it."""
    entry = no_proxy.format(port=http_sink.port)
    env = proxy_env(refusing_proxy.url, NO_PROXY=entry, no_proxy=entry)
    d = start(daemon_factory, tmp_path, env)
    c = d.client()
    payloads = numbered_payloads(5, seed=3)
    c.create_message_stream(stream_def("direct", [http("h", http_sink.url("/direct"), JSON)]))
    append_all(c, "direct", payloads)
    wait_until(lambda: exported(c, "direct", "h", 5), 15, "the export, direct",
               lambda: refusing_proxy.summary())
    assert refusing_proxy.seen() == []
    if entry == "127.0.0.1":
        # The same list with another port: through the proxy, which refuses.
        other = "127.0.0.1:%d" % (http_sink.port + 1)
        d2 = start(daemon_factory, tmp_path, proxy_env(refusing_proxy.url, NO_PROXY=other, no_proxy=other),
                   label="other-port")
        c2 = d2.client()
        c2.create_message_stream(stream_def("via", [http("h", http_sink.url("/via"), JSON)]))
        append_all(c2, "via", payloads)
        wait_until(lambda: refusing_proxy.seen(), 15, "a request through the proxy")
        assert all("/via" in line for _, line in refusing_proxy.seen()), refusing_proxy.seen()
        assert http_sink.messages("/via") == []


def test_wrong_proxy_password_is_reported_and_nothing_is_lost(
        daemon_factory, tmp_path, http_sink, tls, moto_server, pproxy):
    """A wrong password: pproxy answers 407 to the forwarded requests (http sink, Kinesis) and
    to the CONNECT (https sink). Describe and /health say "407 Proxy Authentication Required"
    and name the proxy without the password; nothing is skipped; with the right password
    (the nucleus restarts the component with new variables) everything arrives."""
    ca, tls_sink = tls
    moto = moto_server
    proxy = pproxy(USER, PASSWORD)
    wrong = "not-" + PASSWORD
    d = start(daemon_factory, tmp_path, proxy_env(proxy.url(password=wrong), moto),
              extra=("--ca-bundle", ca.pem), metrics=True)
    c = d.client()
    kname = "wrongpw-%d" % proxy.port
    moto.create_stream(kname, shards=1)
    payloads = numbered_payloads(5, seed=5)
    c.create_message_stream(stream_def("h", [http("plain", http_sink.url("/plain"), RAW),
                                              http("tls", tls_sink.url("/tls"), JSON)]))
    c.create_message_stream(kinesis_def("k", kname, batch_size=5))
    append_all(c, "h", payloads)
    append_all(c, "k", payloads)
    errors = lambda: {i: s.error_message or "" for n in ("h", "k") for i, s in statuses(c, n).items()}  # noqa: E731
    ctx = lambda: "%s\n%s" % (errors(), proxy.summary())  # noqa: E731
    wait_until(lambda: all("407" in e for e in errors().values()), 20, "407 in describe for every export", ctx)
    for ident, e in errors().items():
        assert "Proxy Authentication Required" in e, (ident, e)
        assert wrong not in e and "not-p%40ss" not in e, (ident, e)
    assert "127.0.0.1:%d" % proxy.port in errors()["k"] and "http_proxy" in errors()["k"], errors()
    code, body = wait_until(lambda: (lambda h: h if len(h[1]["exports"]["stalled"]) == 3 else None)(health(d)),
                            15, "/health to list the three exports as stalled", ctx)
    assert code == 200 and body["status"] == "degraded"
    assert all("407" in s["lastError"] for s in body["exports"]["stalled"]), body
    assert proxy.unauthorized() >= 3
    for n, ident in (("h", "plain"), ("h", "tls"), ("k", "k")):
        s = raw_statuses(d, n)[ident]
        assert s["lastExportedSequenceNumber"] == -1 and s.get("skippedMessagesCount", 0) == 0, s
    assert http_sink.messages("/plain") == [] and http_sink.bodies("/plain") == []
    assert_no_secrets(d, wrong, PASSWORD)

    # The right password: a restart with it delivers everything that waited.
    d.extra_env.update(aws_env(tmp_path / "home-sm", **proxy_env(proxy.url(), moto)))
    d.restart()
    c = d.client()
    wait_until(lambda: exported(c, "h", "plain", 5) and exported(c, "h", "tls", 5) and exported(c, "k", "k", 5),
               30, "every export after the fix", ctx)
    assert http_sink.bodies("/plain") == payloads
    assert [m.payload for m in tls_sink.messages("/tls")] == payloads
    assert sorted(r["Data"] for _, r in moto.read_stream(kname)) == sorted(payloads)


def test_https_proxy_trusted_through_the_ca_bundle(daemon_factory, tmp_path, http_sink, tls, pproxy):
    """An https:// proxy whose certificate the test's CA signed: trusted through --ca-bundle
    (Greengrass's GG_ROOT_CA_PATH), the exports go through it (TLS to the proxy, then
    forwarding or CONNECT + TLS to the https sink). Without the bundle the proxy's
    certificate is refused, and describe says so."""
    ca, tls_sink = tls
    proxy = pproxy(USER, PASSWORD, tls=ca.issue("proxy"))
    assert proxy.url().startswith("https://")
    d = start(daemon_factory, tmp_path, proxy_env(proxy.url()), extra=("--ca-bundle", ca.pem))
    c = d.client()
    payloads = numbered_payloads(10, seed=9)
    c.create_message_stream(stream_def("h", [http("plain", http_sink.url("/plain"), JSON),
                                              http("tls", tls_sink.url("/tls"), JSON)]))
    append_all(c, "h", payloads)
    ctx = lambda: "\n".join(fmt_status(s) for s in statuses(c, "h").values()) + "\n" + proxy.summary()  # noqa: E731
    wait_until(lambda: exported(c, "h", "plain", 10) and exported(c, "h", "tls", 10), 20, "both exports", ctx)
    assert [m.payload for m in http_sink.messages("/plain")] == payloads
    assert [m.payload for m in tls_sink.messages("/tls")] == payloads
    assert proxy.connections_to(http_sink.port) >= 1 and proxy.connections_to(tls_sink.port) >= 1, proxy.summary()

    env = proxy_env(proxy.url(), AWS_ACCESS_KEY_ID="AKIAUNTRUSTED0000001", AWS_SECRET_ACCESS_KEY="x",
                    AWS_REGION=REGION, AWS_ENDPOINT_URL_KINESIS="http://127.0.0.1:9")
    untrusting = start(daemon_factory, tmp_path, env, label="no-bundle")
    c2 = untrusting.client()
    c2.create_message_stream(stream_def("h", [http("plain", http_sink.url("/untrusted"), JSON)]))
    c2.create_message_stream(kinesis_def("k", "untrusted", batch_size=1))
    append_all(c2, "h", payloads[:1])
    append_all(c2, "k", payloads[:1])
    errors = lambda: [statuses(c2, "h")["plain"].error_message, statuses(c2, "k")["k"].error_message]  # noqa: E731
    wait_until(lambda: all(errors()), 15, "describe to report the untrusted proxy")
    assert all("invalid peer certificate" in e for e in errors()), errors()
    assert "through the proxy https://127.0.0.1:%d" % proxy.port in errors()[1], errors()
    assert http_sink.messages("/untrusted") == []


def test_proxy_that_stalls_and_resets_costs_retries_not_data(daemon_factory, tmp_path, http_sink, pproxy):
    """Messages flow through the proxy while it stalls (SIGSTOP, longer than the request
    timeout) and is killed and restarted (every connection reset, then refused): the export
    retries and every message arrives, in order of first arrival; nothing is skipped."""
    proxy = pproxy(USER, PASSWORD)
    d = start(daemon_factory, tmp_path, proxy_env(proxy.url()), extra=("--exporter-http-timeout-ms", "1500"))
    c = d.client()
    c.create_message_stream(stream_def("flow", [http("h", http_sink.url("/flow"), RAW)]))
    payloads = []

    def feed(seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            p = b"%d:flowing" % len(payloads)
            assert c.append_message("flow", p) == len(payloads)
            payloads.append(p)
            time.sleep(0.05)

    ctx = lambda: fmt_status(statuses(c, "flow")["h"]) + "\n" + proxy.summary()  # noqa: E731
    feed(1.0)
    proxy.stall()
    feed(3.0)
    proxy.resume()
    feed(1.0)
    proxy.kill()
    feed(2.0)
    proxy.start()
    feed(1.0)
    wait_until(lambda: exported(c, "flow", "h", len(payloads)), 40, "every message after the faults", ctx)
    bodies = http_sink.bodies("/flow")
    first_seen = list(dict.fromkeys(bodies))
    assert first_seen == payloads, "lost or reordered: %d distinct of %d" % (len(first_seen), len(payloads))
    s = raw_statuses(d, "flow")["h"]
    assert s.get("skippedMessagesCount", 0) == 0, s
    log = d.stderr_text()
    assert "export failed" in log, "the faults cost no retry at all?"
    assert "timed out" in log or "operation timed out" in log.lower(), "the stall did not time a request out"


@pytest.mark.parametrize("how", ["variable", "config-file"])
def test_fips_hosts_are_asked_for(daemon_factory, tmp_path, refusing_proxy, how):
    """FIPS from AWS_USE_FIPS_ENDPOINT=true, or from the config file's use_fips_endpoint: with
    no endpoint override the daemon aims at the FIPS hosts (seen in the CONNECT lines of a local
    proxy that refuses everything, so nothing leaves loopback); the Kinesis endpoint override
    still wins for Kinesis."""
    env = proxy_env(refusing_proxy.url, AWS_ACCESS_KEY_ID="AKIAFIPSTEST00000001",
                    AWS_SECRET_ACCESS_KEY="fips-secret", AWS_REGION=REGION)
    if how == "variable":
        env["AWS_USE_FIPS_ENDPOINT"] = "true"
    else:
        cfg = tmp_path / "aws-config"
        cfg.write_text("[default]\nuse_fips_endpoint = true\n")
        env["AWS_CONFIG_FILE"] = str(cfg)
    d = start(daemon_factory, tmp_path, env)
    c = d.client()
    c.create_message_stream(kinesis_def("k", "fips-stream", batch_size=1))
    c.create_message_stream(iot_def("iot", "fips_channel", "p-", batch_size=1))
    c.create_message_stream(sw_def("sw"))
    append_all(c, "k", [b"x"])
    append_all(c, "iot", [b"{}"])
    append_all(c, "sw", [sdk_payload("e1", "/fips/alias", [(int(time.time()), None, ("doubleValue", 1.5), None)])])
    want = {"CONNECT %s.amazonaws.com:443 HTTP/1.1" % host for host in (
        "kinesis-fips." + REGION, "iotanalytics-fips." + REGION, "data.iotsitewise-fips." + REGION)}
    wait_until(lambda: want <= {line for _, line in refusing_proxy.seen()}, 15, "CONNECTs to the FIPS hosts",
               refusing_proxy.summary)
    assert {line for _, line in refusing_proxy.seen()} == want
    # The first CONNECT to Kinesis may be its ListShards (which sets no error): wait for the
    # PutRecords failure in describe.
    host = "https://kinesis-fips.%s.amazonaws.com" % REGION
    wait_until(lambda: host in (statuses(c, "k")["k"].error_message or ""), 15, "describe to name " + host,
               refusing_proxy.summary)

    # An endpoint override still wins over FIPS.
    d2 = start(daemon_factory, tmp_path, dict(env, AWS_ENDPOINT_URL_KINESIS="http://127.0.0.1:9/"),
               label="override")
    c2 = d2.client()
    c2.create_message_stream(kinesis_def("k", "fips-stream", batch_size=1))
    append_all(c2, "k", [b"x"])
    wait_until(lambda: "POST http://127.0.0.1:9/ HTTP/1.1" in {line for _, line in refusing_proxy.seen()}, 15,
               "the override asked for", refusing_proxy.summary)


def test_a_bad_ca_bundle_is_reported_at_start_up(daemon_factory, tmp_path):
    """The outbound clients are built at the first export (an idle daemon keeps TLS out of
    memory), but the CA bundle is checked when the daemon starts, before its port file: one
    that does not exist or holds no certificate is reported once and ignored (as the clients
    will), one with a certificate TLS cannot use stops the start, naming the file."""
    missing = tmp_path / "missing.pem"
    empty = tmp_path / "empty.pem"
    empty.write_text("no PEM block here\n")
    for bundle, text in [(missing, "CA bundle unreadable, ignored"),
                         (empty, "CA bundle holds no PEM certificate, ignored")]:
        d = start(daemon_factory, tmp_path, {}, extra=("--ca-bundle", str(bundle)), label=bundle.stem)
        log = d.stderr_text()
        assert log.count(text) == 1, log
        assert str(bundle) in log
        assert d.alive()
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    d = daemon_factory(extra_args=("--ca-bundle", str(garbage)), start=False)
    port_file = d.run_dir / "port"
    p = d.spawn(d.command(port_file))
    assert p.wait(timeout=20) != 0
    err = d.stderr_text()
    assert f"the CA bundle {garbage} cannot be used: certificate 1:" in err, err
    assert not port_file.exists()
