"""The daemon under Greengrass: its IPC to the nucleus (``ggnucleus.py``, a fake nucleus).

With the nucleus's variables set (``AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT``,
``SVCUID``) the daemon connects to the nucleus, checks every client's token with
ValidateAuthorizationToken (authentication is on by default there), publishes its port under
the configuration key ``port``, reports RUNNING once it listens, and sends the telemetry
metrics with PutComponentMetric (every 200 ms here).
"""

import time

import pytest
from stream_manager import MessageStreamDefinition, StrategyOnFull
from stream_manager.exceptions import ConnectFailedException

from awsfakes import fake_aws  # noqa: F401  (fixture)
from ggnucleus import FakeNucleus
from rawclient import ST_UNAUTHORIZED
from test_auth import sdk_client
from test_export_aws import FAKE_KEY, FAKE_SECRET, aws_env, key_env, kinesis_def
from test_export_http import wait_until

GOOD = "token-of-a-client-component"
METRIC_NAMES = {"BytesAppended", "BytesUploadedToIoTAnalytics", "BytesUploadedToKinesis",
                "BytesUploadedToIoTSiteWise", "BytesUploadedToS3"}


@pytest.fixture
def nucleus():
    n = FakeNucleus(valid_tokens={GOOD})
    try:
        yield n
    finally:
        n.stop()
    assert n.protocol_errors == [], "the daemon broke the IPC protocol: %r" % n.protocol_errors


def start(daemon_factory, nucleus, env=None, label="gg"):
    e = dict(nucleus.env())
    e["STREAM_MANAGER_TELEMETRY_INTERVAL_MS"] = "200"
    e.update(env or {})
    return daemon_factory(env=e, label=label)




def test_port_then_running_then_valid_client(daemon_factory, nucleus, monkeypatch):
    d = start(daemon_factory, nucleus)
    wait_until(lambda: "RUNNING" in nucleus.snapshot("states"), 10, "UpdateState RUNNING")
    assert nucleus.snapshot("connects") == [nucleus.svcuid], "CONNECT carries SVCUID as authToken"
    # The port (chosen by the OS: --port 0) went out first, as a string, and the daemon
    # accepted TCP connections when RUNNING arrived.
    assert nucleus.snapshot("config") == {"port": str(d.port)}
    assert nucleus.snapshot("running_probe") == (str(d.port), True)
    ops = nucleus.ops()
    assert ops[:2] == ["aws.greengrass#UpdateConfiguration", "aws.greengrass#UpdateState"], ops
    assert "Stream Manager reporting the state: RUNNING" in d.stderr_text()

    c = sdk_client(d.port, monkeypatch, GOOD)
    d.clients.append(c)
    c.create_message_stream(MessageStreamDefinition(name="gg", strategy_on_full=StrategyOnFull.RejectNewData))
    assert c.append_message("gg", b"hello") == 0
    assert c.read_messages("gg")[0].payload == b"hello"
    assert nucleus.snapshot("validations") == [GOOD]
    # A second client with the same token within a minute: the cached answer, no new question.
    c2 = sdk_client(d.port, monkeypatch, GOOD)
    d.clients.append(c2)
    assert c2.list_streams() == ["gg"]
    assert nucleus.snapshot("validations") == [GOOD]
    assert GOOD not in d.stderr_text() and nucleus.svcuid not in d.stderr_text(), "a token reached the log"


@pytest.mark.parametrize("token", [None, "not-a-token", ""], ids=["none", "wrong", "empty"])
def test_invalid_or_missing_token_is_refused(daemon_factory, nucleus, monkeypatch, token):
    d = start(daemon_factory, nucleus)
    with pytest.raises(ConnectFailedException):
        sdk_client(d.port, monkeypatch, token)
    r = d.raw(handshake=False)
    resp = r.handshake(auth_token=token or None, request_id="gg-auth")
    assert resp["status"] == ST_UNAUTHORIZED, resp
    msg = resp.get("errorMessage", "")
    if token:
        assert "not valid" in msg and "nucleus" in msg, msg
        assert nucleus.snapshot("validations").count(token) == 2, "refusals are not cached"
    else:
        assert "no authToken" in msg, msg
        assert nucleus.snapshot("validations") == [], "a missing token is refused without asking"
    # The daemon is fine for a good client afterwards.
    good = sdk_client(d.port, monkeypatch, GOOD)
    d.clients.append(good)
    assert good.list_streams() == []


def test_authentication_can_be_turned_off(daemon_factory, nucleus, monkeypatch):
    d = start(daemon_factory, nucleus, env={"STREAM_MANAGER_AUTHENTICATE_CLIENT": "false"})
    c = sdk_client(d.port, monkeypatch, None)
    d.clients.append(c)
    assert c.list_streams() == []
    wait_until(lambda: "RUNNING" in nucleus.snapshot("states"), 10, "RUNNING")
    assert nucleus.snapshot("validations") == []


def test_metrics_are_deltas_that_sum_to_the_bytes(daemon_factory, nucleus, fake_aws, tmp_path):  # noqa: F811
    fake_aws.add_key(FAKE_KEY, FAKE_SECRET)
    fake_aws.add_kinesis_stream("gg-kinesis")
    home = tmp_path / "home"
    env = aws_env(home, **key_env("AWS_ENDPOINT_URL_KINESIS", fake_aws.endpoint))
    env["STREAM_MANAGER_AUTHENTICATE_CLIENT"] = "false"
    env["STREAM_MANAGER_TELEMETRY_INTERVAL_MS"] = "200"
    env.update(nucleus.env())
    d = daemon_factory(env=env, extra_args=["--exporter-retry-base-ms", "50"], label="gg-metrics")
    c = d.client()
    c.create_message_stream(kinesis_def("k", "gg-kinesis", batch_size=10))
    c.create_message_stream(MessageStreamDefinition(name="local", strategy_on_full=StrategyOnFull.RejectNewData))
    payloads = [b"m%d:" % i + b"x" * i for i in range(50)]
    for p in payloads:
        c.append_message("k", p)
    c.append_message("local", b"12345")
    exported = sum(map(len, payloads))
    appended = exported + 5

    def sums():
        out = {}
        for report in nucleus.snapshot("metric_reports"):
            for m in report:
                out[m["name"]] = out.get(m["name"], 0) + m["value"]
        return out

    wait_until(lambda: sums().get("BytesAppended") == appended and sums().get("BytesUploadedToKinesis") == exported,
               20, "BytesAppended %d and BytesUploadedToKinesis %d (got %r)" % (appended, exported, sums()))
    reports = nucleus.snapshot("metric_reports")
    for report in reports:
        assert {m["name"] for m in report} == METRIC_NAMES, report
        assert all(m["unit"] == "BYTES" and m["value"] >= 0 for m in report), report
        assert any(m["value"] > 0 for m in report), "an all-zero report was sent: %r" % report
    # Quiet now: no further report (nothing new to count), and the sums stay.
    n = len(reports)
    time.sleep(0.6)
    assert len(nucleus.snapshot("metric_reports")) == n
    assert sums()["BytesUploadedToS3"] == 0


def test_daemon_serves_through_nucleus_loss_and_reconnects(daemon_factory, nucleus, monkeypatch):
    d = start(daemon_factory, nucleus)
    wait_until(lambda: "RUNNING" in nucleus.snapshot("states"), 10, "RUNNING")
    c = sdk_client(d.port, monkeypatch, GOOD)
    d.clients.append(c)
    c.create_message_stream(MessageStreamDefinition(name="s", strategy_on_full=StrategyOnFull.RejectNewData))

    # The nucleus goes away (drops the connection, then refuses the daemon's reconnections).
    nucleus.reject_connect = True
    nucleus.drop_connections()
    wait_until(lambda: len(nucleus.snapshot("connects")) >= 2, 10, "a reconnection attempt")
    # The data path goes on for the connected client...
    for i in range(20):
        assert c.append_message("s", b"%d" % i) == i
    # ...but a new client cannot be checked, so it is refused, with the reason.
    r = d.raw(handshake=False)
    resp = r.handshake(auth_token="some-new-token", request_id="during-outage")
    assert resp["status"] == ST_UNAUTHORIZED, resp
    assert "unavailable" in resp.get("errorMessage", ""), resp
    assert d.alive()

    # The nucleus comes back: the daemon reconnects and validates again.
    nucleus.reject_connect = False
    wait_until(lambda: nucleus.snapshot("accepted") >= 2, 20, "the daemon to reconnect")
    c2 = wait_until(lambda: _try_connect(d.port, monkeypatch), 10, "a client to connect after the reconnection")
    d.clients.append(c2)
    assert c2.read_messages("s")[0].payload == b"0"
    assert nucleus.snapshot("states") == ["RUNNING"], "RUNNING is reported once"


def _try_connect(port, monkeypatch):
    try:
        return sdk_client(port, monkeypatch, GOOD)
    except ConnectFailedException:
        return None


def test_wrong_svcuid_is_logged_and_clients_refused(daemon_factory, nucleus, monkeypatch):
    d = start(daemon_factory, nucleus, env={"SVCUID": "not-the-components-token"})
    wait_until(lambda: len(nucleus.snapshot("connects")) >= 1, 10, "a CONNECT")
    with pytest.raises(ConnectFailedException):
        sdk_client(d.port, monkeypatch, GOOD)
    wait_until(lambda: "refused the connection" in d.stderr_text(), 10, "the rejection in the log")
    assert "not-the-components-token" not in d.stderr_text()
    assert d.alive()
