"""The AWS exporters (Kinesis Data Streams, IoT Analytics), end to end.

Peers (``awsfakes.py``), all on 127.0.0.1:

* moto (one server for the session, SigV4 checking on): real Kinesis semantics and a real
  signature check; read back with boto3 GetRecords over all shards.
* ``FakeAws``: recomputes every SigV4 signature from the secret it knows, speaks Kinesis
  PutRecords (with partial failures, throttling, 500s), IoT Analytics BatchPutMessage (with
  errorEntries and whole-call failures) and a container credentials endpoint.

Every daemon gets an environment without the runner's AWS_* and proxy variables and a HOME
of its own (an empty folder unless the test writes ~/.aws files there), plus only what the
test sets.  Short retries: ``--exporter-retry-base-ms 50 --exporter-http-timeout-ms 2000``.
"""

import base64
import collections
import http.client
import json
import os
import random
import re
import time

import pytest
from stream_manager import (
    ExportDefinition,
    IoTAnalyticsConfig,
    KinesisConfig,
    MessageStreamDefinition,
    Persistence,
    StrategyOnFull,
)

from awsfakes import fake_aws, moto_server, moto_session, refusing_proxy  # noqa: F401  (fixtures)
from awsfakes import KINESIS_MAX_RECORD_BYTES, KINESIS_MAX_REQUEST_BYTES
from test_export_http import NO_PROXY_ENV, fmt_status, raw_statuses, statuses, wait_until

RETRY_BASE_MS = 50
UUID4_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
UUID_LEN = 36
REGION = "us-east-1"
FAKE_KEY = "AKIAFAKEEXPORTER0001"
FAKE_SECRET = "fake/Secret+Key-for-the-exporter-tests-0001"


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

def aws_env(home, **kw):
    """The daemon's environment: none of the runner's AWS_* or proxy variables, HOME = ``home``."""
    env = {k: None for k in os.environ if k.startswith("AWS_")}
    env.update(NO_PROXY_ENV)
    home.mkdir(parents=True, exist_ok=True)
    env["HOME"] = str(home)
    env["XDG_CONFIG_HOME"] = None
    env.update(kw)
    return env


def start_daemon(daemon_factory, tmp_path, env=None, extra=(), label="sm", retry_base_ms=RETRY_BASE_MS):
    """A daemon whose environment holds only the given AWS settings (see ``aws_env``)."""
    home = tmp_path / ("home-" + label)
    args = ("--exporter-retry-base-ms", str(retry_base_ms), "--exporter-http-timeout-ms", "2000") + tuple(extra)
    return daemon_factory(extra_args=args, env=aws_env(home, **(env or {})), label=label)


def key_env(endpoint_var, endpoint, access_key=FAKE_KEY, secret=FAKE_SECRET, region=REGION):
    return {"AWS_ACCESS_KEY_ID": access_key, "AWS_SECRET_ACCESS_KEY": secret, "AWS_REGION": region,
            endpoint_var: endpoint}


def kinesis_def(name, target, batch_size, ident="k", **kw):
    return MessageStreamDefinition(
        name=name, persistence=Persistence.File, strategy_on_full=StrategyOnFull.RejectNewData,
        export_definition=ExportDefinition(kinesis=[
            KinesisConfig(identifier=ident, kinesis_stream_name=target, batch_size=batch_size, **kw)]))


def iot_def(name, channel, prefix, batch_size, ident="iot"):
    return MessageStreamDefinition(
        name=name, persistence=Persistence.File, strategy_on_full=StrategyOnFull.RejectNewData,
        export_definition=ExportDefinition(iot_analytics=[
            IoTAnalyticsConfig(identifier=ident, iot_channel=channel, iot_msg_id_prefix=prefix,
                               batch_size=batch_size)]))


def numbered_payloads(n, seed, max_len=200):
    """Payload i starts with b"<i>:" and goes on with random bytes (all 256 values occur)."""
    rnd = random.Random(seed)
    return [b"%d:" % i + bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, max_len))) for i in range(n)]


def seq_of(payload):
    return int(payload.split(b":", 1)[0])


def append_all(client, name, payloads, first_seq=0):
    for i, p in enumerate(payloads):
        seq = client.append_message(name, p)
        assert seq == first_seq + i, "append %d got sequence number %d" % (first_seq + i, seq)


def describe_ctx(client, name, fake=None):
    def ctx():
        parts = []
        if fake is not None:
            parts.append(fake.summary())
        try:
            parts.append("describe:\n" + "\n".join(fmt_status(s) for s in statuses(client, name).values()))
        except Exception as e:  # never hide the real failure
            parts.append("describe failed: %r" % (e,))
        return "\n".join(parts)
    return ctx


def logs_of(daemon):
    return b"".join(p.read_bytes() for p in daemon.log_paths if p.exists())


def assert_no_secrets(daemon, *secret_values):
    logs = logs_of(daemon)
    for s in secret_values:
        assert s.encode() not in logs, "a secret (%s...) appears in the daemon's log" % s[:6]


# ---------------------------------------------------------------------------
# the fake itself
# ---------------------------------------------------------------------------

def test_fake_aws_checks_signatures_like_botocore(fake_aws):
    """The fake's SigV4 check agrees with botocore: a botocore-signed PutRecords is accepted;
    a wrong secret, a body changed after signing, an unknown key or a missing token are refused."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    fake = fake_aws
    fake.add_key(FAKE_KEY, FAKE_SECRET)
    fake.add_key("ASIATOKENKEY", "token-secret", token="the-session-token")
    fake.add_kinesis_stream("sig")

    def send(access_key, secret, token=None, tamper=False, records=1):
        body = json.dumps({"StreamName": "sig", "Records": [
            {"Data": base64.b64encode(b"x%d" % i).decode(), "PartitionKey": "pk%d" % i}
            for i in range(records)]}).encode()
        req = AWSRequest(method="POST", url=fake.endpoint + "/", data=body, headers={
            "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "Kinesis_20131202.PutRecords"})
        SigV4Auth(Credentials(access_key, secret, token), "kinesis", REGION).add_auth(req)
        conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=10)
        try:
            headers = dict(req.headers.items())
            conn.request("POST", "/", body=body + (b" " if tamper else b""),
                         headers={k: v for k, v in headers.items() if k.lower() != "content-length"})
            resp = conn.getresponse()
            return resp.status, json.loads(resp.read() or b"{}")
        finally:
            conn.close()

    assert send(FAKE_KEY, FAKE_SECRET, records=3) == (200, {
        "FailedRecordCount": 0, "EncryptionType": "NONE",
        "Records": [{"SequenceNumber": r.sequence_number, "ShardId": "shardId-000000000000"}
                    for r in fake.kinesis_accepted("sig")]}), fake.summary()
    assert send("ASIATOKENKEY", "token-secret", token="the-session-token")[0] == 200, fake.summary()
    for args, code in [((FAKE_KEY, "wrong"), "SignatureDoesNotMatch"),
                       ((FAKE_KEY, FAKE_SECRET, None, True), "SignatureDoesNotMatch"),
                       (("AKIAUNKNOWN", FAKE_SECRET), "UnrecognizedClientException"),
                       (("ASIATOKENKEY", "token-secret"), "UnrecognizedClientException"),
                       (("ASIATOKENKEY", "token-secret", "other-token"), "UnrecognizedClientException")]:
        status, doc = send(*args)
        assert (status, doc.get("__type")) == (403, code), "%r -> %s %r" % (args, status, doc)
    assert [r.data for r in fake.kinesis_accepted("sig")] == [b"x0", b"x1", b"x2", b"x0"]
    assert not fake.protocol_errors, fake.protocol_errors


# ---------------------------------------------------------------------------
# Kinesis against moto (real signature check)
# ---------------------------------------------------------------------------

def test_kinesis_to_moto_delivers_exact_bytes(daemon_factory, tmp_path, moto_server):
    """Binary and 100 KiB payloads reach a 2-shard moto stream exactly once, byte for byte,
    each with its own random UUID v4 partition key; describe counts them."""
    moto = moto_server
    moto.create_stream("sm-exact", shards=2)
    rnd = random.Random(31)
    payloads = [b"0:" + bytes(range(256)), b"1:\x00\xff\x00\r\n\x80"]
    payloads += [b"%d:" % i + bytes(rnd.getrandbits(8) for _ in range(100 * 1024)) for i in (2, 3, 4)]
    payloads += [b"%d:" % i + bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 300))) for i in range(5, 45)]
    n = len(payloads)
    d = start_daemon(daemon_factory, tmp_path, key_env("AWS_ENDPOINT_URL_KINESIS", moto.endpoint,
                                                       moto.access_key, moto.secret))
    c = d.client()
    name = "to-moto"
    c.create_message_stream(kinesis_def(name, "sm-exact", batch_size=10))
    append_all(c, name, payloads)
    ctx = describe_ctx(c, name)
    wait_until(lambda: statuses(c, name)["k"].last_exported_sequence_number == n - 1, 30,
               "the Kinesis export to reach %d" % (n - 1), ctx)

    got = moto.read_stream("sm-exact")
    datas = sorted(r["Data"] for _, r in got)
    assert len(got) == n, "moto holds %d records for %d messages (seqs %r)\n%s" % (
        len(got), n, sorted(seq_of(r["Data"]) for _, r in got), ctx())
    assert datas == sorted(payloads), "the records' bytes differ from the payloads\n" + ctx()
    keys = [r["PartitionKey"] for _, r in got]
    bad = [k for k in keys if not UUID4_RE.match(k)]
    assert not bad, "partition keys that are not lower-case UUID v4: %r" % bad[:5]
    assert len(set(keys)) == n, "partition keys repeat: %r" % [k for k, v in collections.Counter(keys).items() if v > 1]
    assert len({shard for shard, _ in got}) == 2, "random partition keys should spread over both shards"

    s = statuses(c, name)["k"]
    assert s.exported_messages_count == n, fmt_status(s)
    assert s.exported_bytes_from_stream == sum(map(len, payloads)), fmt_status(s)
    assert s.error_message is None, fmt_status(s)
    assert raw_statuses(d, name)["k"].get("skippedMessagesCount", 0) == 0
    assert_no_secrets(d, moto.secret)


def test_kinesis_to_moto_wrong_secret_is_reported(daemon_factory, tmp_path, moto_server):
    """A wrong secret: moto refuses the signature, nothing arrives, describe names the AWS error,
    nothing is skipped, and the secret never shows in the log."""
    moto = moto_server
    moto.create_stream("sm-wrong-secret", shards=1)
    wrong = "Wrong/Secret+Value-" + "x" * 21
    # the generic endpoint variable this time
    d = start_daemon(daemon_factory, tmp_path, key_env("AWS_ENDPOINT_URL", moto.endpoint, moto.access_key, wrong))
    c = d.client()
    name = "wrong-secret"
    c.create_message_stream(kinesis_def(name, "sm-wrong-secret", batch_size=10))
    append_all(c, name, numbered_payloads(5, seed=2))
    ctx = describe_ctx(c, name)
    s = wait_until(lambda: (lambda st: st if st.error_message else None)(statuses(c, name)["k"]), 15,
                   "describe to report the refused signature", ctx)
    assert "SignatureDoesNotMatch" in s.error_message, fmt_status(s)
    assert s.last_exported_sequence_number == -1 and s.exported_messages_count == 0, fmt_status(s)
    assert raw_statuses(d, name)["k"].get("skippedMessagesCount", 0) == 0, "an auth failure must not skip"
    assert moto.read_stream("sm-wrong-secret") == []
    assert d.alive()
    assert_no_secrets(d, wrong)


# ---------------------------------------------------------------------------
# Kinesis against the fake
# ---------------------------------------------------------------------------

def test_kinesis_partial_failures_throttling_and_500s(daemon_factory, tmp_path, fake_aws):
    """30% of the records fail in each call, 10% of the calls are throttled and 8% answer 500:
    every message is accepted exactly once, only failed records are resent (in order, with fresh
    partition keys), no record is resent once accepted, a new record goes out only once every
    earlier one is in, and describe never gets ahead of what Kinesis accepted."""
    fake = fake_aws
    fake.add_key(FAKE_KEY, FAKE_SECRET)
    fake.add_kinesis_stream("partial")
    # The draws depend on how the records were batched (timing): the first two calls are a
    # 500 and a throttle whatever they draw, so that every kind is met (about 45 calls at
    # these rates left a 2% chance of none of one kind).
    fake.configure_kinesis(record_fail_rate=0.3, throttle_rate=0.10, error500_rate=0.08,
                           forced=["500", "throttle"])
    n = 600
    payloads = numbered_payloads(n, seed=41, max_len=120)
    d = start_daemon(daemon_factory, tmp_path, key_env("AWS_ENDPOINT_URL_KINESIS", fake.endpoint))
    c = d.client()
    name = "partial"
    c.create_message_stream(kinesis_def(name, "partial", batch_size=100))
    append_all(c, name, payloads)
    ctx = describe_ctx(c, name, fake)

    checkpoints = []

    def done():
        last = statuses(c, name)["k"].last_exported_sequence_number
        accepted = {seq_of(r.data) for r in fake.kinesis_accepted("partial")}
        checkpoints.append((last, accepted))
        return last == n - 1
    wait_until(done, 45, "the export to reach %d" % (n - 1), ctx)

    for last, accepted in checkpoints:
        missing = sorted(set(range(last + 1)) - accepted)
        assert not missing, "describe said %d while %r were not accepted yet" % (last, missing[:10])
    acc = fake.kinesis_accepted("partial")
    seqs = [seq_of(r.data) for r in acc]
    dups = [s for s, k in collections.Counter(seqs).items() if k > 1]
    assert not dups, "records accepted more than once: %r\n%s" % (dups[:10], ctx())
    assert sorted(seqs) == list(range(n)), "lost records: %r" % sorted(set(range(n)) - set(seqs))[:10]
    for r in acc:
        assert r.data == payloads[seq_of(r.data)], "record %d arrived altered" % seq_of(r.data)

    reqs = fake.kinesis_requests()
    outcomes = collections.Counter(r.outcome for r in reqs)
    assert outcomes["partial"] and outcomes["throttle"] and outcomes["500"], \
        "the fault injection did not hit every kind: %r" % outcomes
    accepted_so_far = set()
    first_sent = []
    keys_of = collections.defaultdict(list)
    for i, r in enumerate(reqs):
        rs = [seq_of(data) for data, _ in r.records]
        assert rs == sorted(rs) and len(set(rs)) == len(rs), "request %d is not in order: %r" % (i, rs)
        again = sorted(set(rs) & accepted_so_far)
        assert not again, "request %d resends records already accepted: %r" % (i, again[:10])
        new = [s for s in rs if s not in keys_of]
        if new:
            pending = sorted(set(keys_of) - accepted_so_far)
            assert not pending, "request %d sends new records %d.. while %r are not accepted yet" % (
                i, new[0], pending[:10])
        first_sent += new
        for (data, pk), ok in zip(r.records, r.accepted):
            keys_of[seq_of(data)].append(pk)
            if ok:
                accepted_so_far.add(seq_of(data))
        assert r.signed.access_key == FAKE_KEY and r.signed.token is None
    assert first_sent == list(range(n)), "records were first sent out of order"
    all_keys = [k for ks in keys_of.values() for k in ks]
    assert all(UUID4_RE.match(k) for k in all_keys), [k for k in all_keys if not UUID4_RE.match(k)][:5]
    assert len(set(all_keys)) == len(all_keys), "a partition key was used twice (retries need fresh keys)"

    s = statuses(c, name)["k"]
    assert s.exported_messages_count == n, fmt_status(s)
    assert s.exported_bytes_from_stream == sum(map(len, payloads)), fmt_status(s)
    assert s.error_message is None, "a clean success must clear the error: " + fmt_status(s)
    assert raw_statuses(d, name)["k"].get("skippedMessagesCount", 0) == 0
    assert not fake.protocol_errors and not fake.auth_failures, ctx()
    assert_no_secrets(d, FAKE_SECRET)


def test_kinesis_oversize_record_skipped_and_requests_split(daemon_factory, tmp_path, fake_aws):
    """A payload whose record (payload + 36-char partition key) is over 1 MiB is skipped and
    counted, one exactly at 1 MiB is sent; with batch_size 500 the requests stay <= 5 MiB and
    <= 500 records (the fake refuses anything bigger), and everything else arrives in order."""
    fake = fake_aws
    fake.add_key(FAKE_KEY, FAKE_SECRET)
    fake.add_kinesis_stream("big")
    limit = KINESIS_MAX_RECORD_BYTES

    def sized(i, size):
        head = b"%d:" % i
        return head + bytes([i % 256]) * (size - len(head))

    sizes = [100, 200, limit - UUID_LEN, limit - UUID_LEN + 1, 2 * limit, 300]
    sizes += [limit - UUID_LEN - 1000 * k for k in range(7)]
    sizes += [50] * 700
    payloads = [sized(i, s) for i, s in enumerate(sizes)]
    oversize = {3, 4}
    n = len(payloads)
    d = start_daemon(daemon_factory, tmp_path, key_env("AWS_ENDPOINT_URL_KINESIS", fake.endpoint))
    c = d.client()
    name = "big"
    c.create_message_stream(kinesis_def(name, "big", batch_size=500))
    append_all(c, name, payloads)
    ctx = describe_ctx(c, name, fake)
    wait_until(lambda: statuses(c, name)["k"].last_exported_sequence_number == n - 1, 30,
               "the export to reach %d" % (n - 1), ctx)

    assert not fake.protocol_errors, "requests broke the Kinesis limits: %r" % fake.protocol_errors[:3]
    acc = fake.kinesis_accepted("big")
    seqs = [seq_of(r.data) for r in acc]
    expected = [i for i in range(n) if i not in oversize]
    assert seqs == expected, "accepted %d records, expected %d (first difference near %r)\n%s" % (
        len(seqs), len(expected), next(((a, b) for a, b in zip(seqs, expected) if a != b), None), ctx())
    assert all(r.data == payloads[seq_of(r.data)] for r in acc)
    reqs = fake.kinesis_requests()
    biggest = max(sum(len(d_) + len(pk) for d_, pk in r.records) for r in reqs)
    assert max(len(r.records) for r in reqs) <= 500 and biggest <= KINESIS_MAX_REQUEST_BYTES
    sent = sum(len(p) for i, p in enumerate(payloads) if i not in oversize)
    assert len(reqs) >= -(-sent // KINESIS_MAX_REQUEST_BYTES), "%d requests for %d bytes" % (len(reqs), sent)

    raw = raw_statuses(d, name)["k"]
    assert raw.get("skippedMessagesCount") == len(oversize), raw
    s = statuses(c, name)["k"]
    assert s.exported_messages_count == n - len(oversize), fmt_status(s)
    assert s.exported_bytes_from_stream == sent, fmt_status(s)


@pytest.mark.parametrize("case", ["kinesis-missing-stream", "iot-missing-channel", "iot-wrong-secret"])
def test_configuration_errors_retried_slowly_then_recover(daemon_factory, tmp_path, fake_aws, case):
    """A missing Kinesis stream or IoT Analytics channel (ResourceNotFoundException) or a wrong
    secret (SignatureDoesNotMatch) is not skipped: describe names the AWS error code, the
    retries come at least 60 x the retry base apart, and once fixed everything arrives."""
    fake = fake_aws
    service, _, what = case.partition("-")
    wrong = "Wrong/Secret+For-" + case
    fake.add_key(FAKE_KEY, FAKE_SECRET)
    base_ms = 10
    name, target = "slow", "not_there_yet"
    payloads = numbered_payloads(20, seed=5)
    if service == "kinesis":
        env = key_env("AWS_ENDPOINT_URL_KINESIS", fake.endpoint)
        defn, ident = kinesis_def(name, target, batch_size=50), "k"
    else:
        env = key_env("AWS_ENDPOINT_URL_IOTANALYTICS", fake.endpoint,
                      secret=wrong if what == "wrong-secret" else FAKE_SECRET)
        defn, ident = iot_def(name, target, "slow-", batch_size=50), "iot"
        if what == "wrong-secret":
            fake.add_iot_channel(target)
    code = "SignatureDoesNotMatch" if what == "wrong-secret" else "ResourceNotFoundException"
    d = start_daemon(daemon_factory, tmp_path, env, retry_base_ms=base_ms)
    c = d.client()
    c.create_message_stream(defn)
    append_all(c, name, payloads)
    ctx = describe_ctx(c, name, fake)
    wait_until(lambda: len(fake.arrival_times()) >= 3, 15, "three refused attempts", ctx)
    s = statuses(c, name)[ident]
    assert s.error_message and code in s.error_message, fmt_status(s)
    assert s.last_exported_sequence_number == -1 and s.exported_messages_count == 0, fmt_status(s)
    assert raw_statuses(d, name)[ident].get("skippedMessagesCount", 0) == 0, "a retryable error skipped messages"
    times = fake.arrival_times()
    gaps = [b - a for a, b in zip(times, times[1:])]
    slow = 60 * base_ms / 1000.0
    assert min(gaps) >= slow - 0.02, "retries %r s apart, expected >= %.2f s" % (
        ["%.2f" % g for g in gaps], slow)

    # fix it
    if what == "wrong-secret":
        fake.add_key(FAKE_KEY, wrong)
    elif service == "kinesis":
        fake.add_kinesis_stream(target)
    else:
        fake.add_iot_channel(target)
    wait_until(lambda: statuses(c, name)[ident].last_exported_sequence_number == 19, 20,
               "the export to recover once fixed", ctx)
    if service == "kinesis":
        assert [r.data for r in fake.kinesis_accepted(target)] == payloads
    else:
        assert [m.payload for m in fake.iot_accepted()] == payloads
    s = statuses(c, name)[ident]
    assert s.error_message is None and s.exported_messages_count == 20, fmt_status(s)
    assert_no_secrets(d, wrong, FAKE_SECRET)


# ---------------------------------------------------------------------------
# credentials
# ---------------------------------------------------------------------------

def test_container_credentials_wrong_authorization(daemon_factory, tmp_path, fake_aws):
    """A wrong AWS_CONTAINER_AUTHORIZATION_TOKEN: the endpoint refuses, nothing is sent to
    Kinesis, nothing is skipped and describe reports the failure."""
    fake = fake_aws
    fake.add_kinesis_stream("ctr")
    fake.creds.token = "the-right-token"
    wrong = "not-the-right-token-c0ffee"
    d = start_daemon(daemon_factory, tmp_path, {
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": fake.creds_url,
        "AWS_CONTAINER_AUTHORIZATION_TOKEN": wrong,
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL_KINESIS": fake.endpoint,
    })
    c = d.client()
    name = "ctr-refused"
    c.create_message_stream(kinesis_def(name, "ctr", batch_size=5))
    append_all(c, name, numbered_payloads(5, seed=1))
    ctx = describe_ctx(c, name, fake)
    s = wait_until(lambda: (lambda st: st if st.error_message else None)(statuses(c, name)["k"]), 10,
                   "describe to report the credentials failure", ctx)
    assert fake.creds_calls()[1] >= 1, "the credentials endpoint was never asked\n" + ctx()
    assert fake.creds_calls()[0] == fake.creds_calls()[1]
    msg = s.error_message.lower()
    assert "credential" in msg and "403" in msg, "the error should say the credentials endpoint refused: " \
        + fmt_status(s)
    assert s.last_exported_sequence_number == -1, fmt_status(s)
    assert fake.kinesis_requests() == [], "unsigned or wrongly signed requests went out\n" + ctx()
    assert raw_statuses(d, name)["k"].get("skippedMessagesCount", 0) == 0
    assert_no_secrets(d, wrong)


@pytest.mark.parametrize("where", ["env-files-profile", "home-default"])
def test_shared_credentials_files(daemon_factory, tmp_path, fake_aws, where):
    """Credentials and region from the shared files: AWS_SHARED_CREDENTIALS_FILE /
    AWS_CONFIG_FILE with AWS_PROFILE=other, or ~/.aws/{credentials,config} with the default
    profile; no AWS_REGION: the region comes from the config file."""
    fake = fake_aws
    fake.region = "eu-west-1"
    fake.add_kinesis_stream("files")
    key, secret = "AKIAPROFILEKEY000001", "profile/Secret+0001-" + where
    fake.add_key(key, secret)
    home = tmp_path / "home-sm"
    if where == "env-files-profile":
        creds = tmp_path / "creds.ini"
        config = tmp_path / "config.ini"
        creds.write_text("[default]\naws_access_key_id = AKIADEFAULTKEY000001\n"
                         "aws_secret_access_key = default-secret-not-this-one\n\n"
                         "[other]\naws_access_key_id = %s\naws_secret_access_key = %s\n" % (key, secret))
        config.write_text("[default]\nregion = us-west-2\n\n[profile other]\nregion = eu-west-1\n")
        env = {"AWS_SHARED_CREDENTIALS_FILE": creds, "AWS_CONFIG_FILE": config, "AWS_PROFILE": "other"}
    else:
        (home / ".aws").mkdir(parents=True)
        (home / ".aws" / "credentials").write_text(
            "[default]\naws_access_key_id=%s\naws_secret_access_key=%s\n" % (key, secret))
        (home / ".aws" / "config").write_text("[default]\nregion=eu-west-1\n")
        env = {}
    env["AWS_ENDPOINT_URL_KINESIS"] = fake.endpoint
    d = start_daemon(daemon_factory, tmp_path, env)
    c = d.client()
    name = "files"
    payloads = numbered_payloads(15, seed=3)
    c.create_message_stream(kinesis_def(name, "files", batch_size=5))
    append_all(c, name, payloads)
    ctx = describe_ctx(c, name, fake)
    wait_until(lambda: statuses(c, name)["k"].last_exported_sequence_number == 14, 10, "the export", ctx)
    assert [r.data for r in fake.kinesis_accepted("files")] == payloads
    assert {(r.signed.access_key, r.signed.region) for r in fake.kinesis_requests()} == {(key, "eu-west-1")}
    assert_no_secrets(d, secret, "default-secret-not-this-one")


@pytest.mark.parametrize("case", ["container-over-env-and-files", "env-over-files"])
def test_credential_source_precedence(daemon_factory, tmp_path, fake_aws, case):
    """With several sources configured the daemon signs with the first of: container endpoint,
    environment variables, shared files (every key is valid at the fake: only the signer tells)."""
    fake = fake_aws
    fake.add_kinesis_stream("prec")
    home = tmp_path / "home-sm"
    (home / ".aws").mkdir(parents=True)
    (home / ".aws" / "credentials").write_text(
        "[default]\naws_access_key_id=AKIAFROMFILES0000001\naws_secret_access_key=files-secret-0001\n")
    fake.add_key("AKIAFROMFILES0000001", "files-secret-0001")
    fake.add_key(FAKE_KEY, FAKE_SECRET)
    env = key_env("AWS_ENDPOINT_URL_KINESIS", fake.endpoint)
    if case.startswith("container"):
        fake.creds.token = "precedence-token"
        env.update(AWS_CONTAINER_CREDENTIALS_FULL_URI=fake.creds_url,
                   AWS_CONTAINER_AUTHORIZATION_TOKEN="precedence-token")
    d = start_daemon(daemon_factory, tmp_path, env)
    c = d.client()
    name = "prec"
    payloads = numbered_payloads(10, seed=6)
    c.create_message_stream(kinesis_def(name, "prec", batch_size=5))
    append_all(c, name, payloads)
    ctx = describe_ctx(c, name, fake)
    wait_until(lambda: statuses(c, name)["k"].last_exported_sequence_number == 9, 10, "the export", ctx)
    expected = fake.issued_keys()[0][0] if case.startswith("container") else FAKE_KEY
    assert {r.signed.access_key for r in fake.kinesis_requests()} == {expected}, ctx()
    assert [r.data for r in fake.kinesis_accepted("prec")] == payloads
    assert_no_secrets(d, FAKE_SECRET, "files-secret-0001")


# ---------------------------------------------------------------------------
# IoT Analytics
# ---------------------------------------------------------------------------

def test_iot_analytics_ids_retries_and_error_entries(daemon_factory, tmp_path, fake_aws):
    """BatchPutMessage: payloads arrive base64-decoded identical; messageId = prefix + 16 hex +
    "_" + sequence number, the same on every attempt (a whole-call 500 first: the same ids are
    resent); InvalidRequestException entries are skipped and counted, Throttling and
    InternalFailure entries are resent on their own until accepted."""
    fake = fake_aws
    fake.add_key(FAKE_KEY, FAKE_SECRET)
    fake.add_iot_channel("sm_channel")
    n = 250
    payloads = numbered_payloads(n, seed=19, max_len=300)
    payloads[10] = b'10:{"temperature": 21.5, "unit": "C"}'
    invalid = {7, 120}
    for i in invalid:
        fake.iot_entry_errors(payloads[i], "InvalidRequestException")
    retried = {30: ["ThrottlingException", "ThrottlingException"], 200: ["InternalFailureException"],
               201: ["ThrottlingException"]}
    for i, codes in retried.items():
        fake.iot_entry_errors(payloads[i], *codes)
    fake.iot_fail_next_calls(500)
    prefix = "sm-pfx-"
    d = start_daemon(daemon_factory, tmp_path, {"AWS_ACCESS_KEY_ID": FAKE_KEY, "AWS_SECRET_ACCESS_KEY": FAKE_SECRET},
                     extra=("--aws-region", REGION, "--endpoint-url-iotanalytics", fake.endpoint))
    c = d.client()
    name = "to-iot"
    c.create_message_stream(iot_def(name, "sm_channel", prefix, batch_size=100))
    append_all(c, name, payloads)
    ctx = describe_ctx(c, name, fake)
    wait_until(lambda: statuses(c, name)["iot"].last_exported_sequence_number == n - 1, 30,
               "the IoT Analytics export to reach %d" % (n - 1), ctx)

    assert not fake.protocol_errors and not fake.auth_failures, ctx()
    reqs = fake.iot_requests()
    assert reqs[0].outcome == "500" and reqs[1].messages == reqs[0].messages, \
        "after a whole-call 500 the same messages with the same ids must be resent\n" + ctx()
    id_re = re.compile(r"^%s([0-9a-fA-F]{16})_(\d+)$" % re.escape(prefix))
    ids_of = collections.defaultdict(set)
    tags = set()
    for r in reqs:
        assert r.signed.service == "iotanalytics" and r.signed.access_key == FAKE_KEY
        for mid, payload in r.messages:
            m = id_re.match(mid)
            assert m, "messageId %r is not prefix + 16 hex digits + '_' + sequence number" % mid
            assert int(m.group(2)) == seq_of(payload), "messageId %r carries payload %d" % (mid, seq_of(payload))
            tags.add(m.group(1))
            ids_of[seq_of(payload)].add(mid)
    assert len(tags) == 1, "one stream, one tag: %r" % tags
    assert all(len(v) == 1 for v in ids_of.values()), "a message changed its id between attempts"
    sent = collections.Counter(seq_of(p) for r in reqs for _, p in r.messages)
    for i in invalid:
        assert sent[i] == 1, "message %d got InvalidRequestException and must not be resent (sent %d times)" % (
            i, sent[i])
    in_500 = {seq_of(p) for _, p in reqs[0].messages}
    for i, codes in retried.items():
        expect = len(codes) + 1 + (i in in_500)
        assert sent[i] == expect, "message %d: sent %d times, expected %d (%d entry errors%s)" % (
            i, sent[i], expect, len(codes), ", the 500" if i in in_500 else "")
    # a retry of error entries carries just those messages
    for a, b in zip(reqs, reqs[1:]):
        retry = [mid for mid, _ in a.messages if a.errors.get(mid, "InvalidRequestException")
                 != "InvalidRequestException"]
        if retry:
            assert [mid for mid, _ in b.messages] == retry, \
                "after error entries %r the next request carried %r" % (a.errors, [m for m, _ in b.messages][:5])

    acc = fake.iot_accepted()
    seqs = [seq_of(m.payload) for m in acc]
    assert sorted(seqs) == [i for i in range(n) if i not in invalid], \
        "accepted: missing %r, twice %r" % (sorted(set(range(n)) - set(seqs) - invalid)[:10],
                                            [s for s, k in collections.Counter(seqs).items() if k > 1][:10])
    assert all(m.payload == payloads[seq_of(m.payload)] and m.channel == "sm_channel" for m in acc)

    raw = raw_statuses(d, name)["iot"]
    assert raw.get("skippedMessagesCount") == len(invalid), raw
    s = statuses(c, name)["iot"]
    assert s.exported_messages_count == n - len(invalid), fmt_status(s)
    assert s.exported_bytes_from_stream == sum(len(p) for i, p in enumerate(payloads) if i not in invalid), \
        fmt_status(s)
    assert_no_secrets(d, FAKE_SECRET)


def test_iot_analytics_default_endpoint_reports_retirement(daemon_factory, tmp_path, refusing_proxy):
    """No endpoint override: the daemon aims at the real IoT Analytics endpoint of the region
    (through HTTPS_PROXY, a local proxy that refuses everything: nothing leaves loopback).  It
    fails, describe explains the retirement (2025-12-15), the retries are slow (>= 60 x the
    retry base apart), nothing is skipped and the daemon serves on."""
    proxy = refusing_proxy
    base_ms = 10
    d = start_daemon(daemon_factory, tmp_path, {"AWS_ACCESS_KEY_ID": FAKE_KEY, "AWS_SECRET_ACCESS_KEY": FAKE_SECRET,
                                                "AWS_REGION": REGION, "HTTPS_PROXY": proxy.url},
                     retry_base_ms=base_ms)
    c = d.client()
    name = "retired"
    c.create_message_stream(iot_def(name, "sm_channel", "p-", batch_size=10))
    append_all(c, name, numbered_payloads(3, seed=4))
    ctx = lambda: describe_ctx(c, name)() + "\n" + proxy.summary()  # noqa: E731
    wait_until(lambda: len(proxy.seen()) >= 3, 15, "three attempts through the proxy", ctx)
    targets = {line for _, line in proxy.seen()}
    assert targets == {"CONNECT iotanalytics.%s.amazonaws.com:443 HTTP/1.1" % REGION}, targets
    times = [t for t, _ in proxy.seen()]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert min(gaps) >= 60 * base_ms / 1000.0 - 0.02, "retries %r s apart: not slow" % (["%.2f" % g for g in gaps],)
    s = statuses(c, name)["iot"]
    assert s.error_message, fmt_status(s)
    assert s.last_exported_sequence_number == -1, fmt_status(s)
    assert raw_statuses(d, name)["iot"].get("skippedMessagesCount", 0) == 0
    t0 = time.monotonic()
    assert c.append_message(name, b"still serving") == 3
    assert time.monotonic() - t0 < 2.0, "the daemon is slow to serve while the export fails"
    assert d.alive()
    assert_no_secrets(d, FAKE_SECRET)
    assert "retired" in s.error_message and "2025-12-15" in s.error_message, \
        "no retirement explanation for a failure against the default endpoint: " + fmt_status(s)
