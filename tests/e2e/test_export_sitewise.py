"""The IoT SiteWise exporter, end to end, against the local fake of ``sitewisefake.py``.

Every daemon gets an environment without the runner's AWS_*, GG_* CA and proxy variables and a
HOME of its own, plus only what the test sets: the fake's key (and session token when the test
uses one), AWS_REGION and the SiteWise endpoint (AWS_ENDPOINT_URL_IOTSITEWISE, AWS_ENDPOINT_URL
or ``--endpoint-url-iotsitewise``).  Short retries: ``--exporter-retry-base-ms 50
--exporter-http-timeout-ms 2000``.

Messages are JSON ``PutAssetPropertyValueEntry`` written by the SDK's
``Util.validate_and_serialize_to_json_bytes`` (the invalid ones are raw bytes appended without
it).  What the fake accepted is checked value by value: property, timestamp, value and quality,
and entryId = the message's sequence number.  The fake's ``problems()`` (protocol errors,
requests with two values for one property and timestamp, refused signatures) fail a test at
once.
"""

import collections
import json
import os
import random
import time
import uuid

import pytest
from stream_manager import (
    AssetPropertyValue,
    ExportDefinition,
    IoTSiteWiseConfig,
    MessageStreamDefinition,
    Persistence,
    PutAssetPropertyValueEntry,
    Quality,
    StrategyOnFull,
    TimeInNanos,
    Variant,
)
from stream_manager.util import Util

from sitewisefake import (  # noqa: F401  (sitewise_fake is a fixture)
    NON_RETRYABLE_CODES,
    RETRYABLE_CODES,
    prop_key,
    sitewise_fake,
    ts_of,
    value_of,
)
from test_export_http import NO_PROXY_ENV, fmt_status, raw_statuses, statuses, wait_until

FAST_EXPORTER = ("--exporter-retry-base-ms", "50", "--exporter-http-timeout-ms", "2000")
VARIANT_KW = {"stringValue": "string_value", "integerValue": "integer_value",
              "doubleValue": "double_value", "booleanValue": "boolean_value"}
DAY = 24 * 3600

# One appended message and the values it holds: values = [(ts, (field, value), quality)].
Sent = collections.namedtuple("Sent", "seq key values payload")


# ---------------------------------------------------------------------------
# daemon and stream
# ---------------------------------------------------------------------------

def sw_env(home, fake, endpoint_var="AWS_ENDPOINT_URL_IOTSITEWISE"):
    """None of the runner's AWS_*/proxy/CA variables; HOME = ``home``; the fake's key and region."""
    env = {k: None for k in os.environ if k.startswith(("AWS_", "GG_"))}
    env.update(NO_PROXY_ENV)
    home.mkdir(parents=True, exist_ok=True)
    env.update(HOME=str(home), XDG_CONFIG_HOME=None, AWS_ACCESS_KEY_ID=fake.access_key,
               AWS_SECRET_ACCESS_KEY=fake.secret, AWS_REGION=fake.region)
    if fake.token:
        env["AWS_SESSION_TOKEN"] = fake.token
    if endpoint_var:
        env[endpoint_var] = fake.endpoint
    return env


def start_daemon(daemon_factory, tmp_path, fake, endpoint_var="AWS_ENDPOINT_URL_IOTSITEWISE", extra=(),
                 label="sm"):
    env = sw_env(tmp_path / ("home-" + label), fake, endpoint_var)
    return daemon_factory(extra_args=FAST_EXPORTER + tuple(extra), env=env, label=label)


def sw_def(name, batch_size=None, disabled=False, ident="sw"):
    cfg = IoTSiteWiseConfig(identifier=ident, batch_size=batch_size, disabled=disabled)
    return MessageStreamDefinition(
        name=name, persistence=Persistence.File, strategy_on_full=StrategyOnFull.RejectNewData,
        export_definition=ExportDefinition(iot_sitewise=[cfg]))


# ---------------------------------------------------------------------------
# entries
# ---------------------------------------------------------------------------

def sdk_payload(entry_id, prop, values):
    """SDK-serialized entry. prop: alias string or (assetId, propertyId); values: [(secs, nanos or
    None, (field, value), quality or None)]."""
    kw = {"property_alias": prop} if isinstance(prop, str) else {"asset_id": prop[0], "property_id": prop[1]}
    entry = PutAssetPropertyValueEntry(entry_id=entry_id, property_values=[
        AssetPropertyValue(value=Variant(**{VARIANT_KW[field]: v}),
                           timestamp=TimeInNanos(time_in_seconds=secs, offset_in_nanos=nanos),
                           quality=Quality(q) if q else None)
        for secs, nanos, (field, v), q in values], **kw)
    return Util.validate_and_serialize_to_json_bytes(entry)


def values_of(payload):
    doc = json.loads(payload)
    return prop_key(doc), [(ts_of(v["timestamp"]), value_of(v["value"]), v.get("quality"))
                           for v in doc["propertyValues"]]


def append(client, name, payload, book=None):
    """Appends one payload; with ``book`` (a list), records it there as a Sent."""
    seq = client.append_message(name, payload)
    if book is not None:
        key, vals = values_of(payload)
        book.append(Sent(seq, key, vals, payload))
    return seq


def uuid_from(rnd):
    return str(uuid.UUID(int=rnd.getrandbits(128), version=4))


def random_variant(rnd, kind, full_doubles=False):
    """A random value of type ``kind``.  Doubles: with ``full_doubles``, any double (up to 17
    significant digits, extremes); otherwise at most 10 significant digits, which every JSON
    parser reads exactly (the tests that are about something else use those)."""
    if kind == "stringValue":
        text = rnd.choice(["température ✓", 'quote " and \\', "ok", "日本"])
        return kind, "v%d %s" % (rnd.randrange(10 ** 6), text)
    if kind == "integerValue":
        return kind, rnd.choice([0, 2147483647, rnd.randrange(2 ** 31)])
    if kind == "doubleValue":
        if not full_doubles:
            return kind, round(rnd.uniform(-1e6, 1e6), 3)
        return kind, rnd.choice([0.1, 1 / 3, -2.5e-300, 1.7976931348623157e308,
                                 rnd.uniform(-1, 1) * 10 ** rnd.randint(-12, 12)])
    return kind, rnd.random() < 0.5


def random_entries(n, rnd, props, first_secs, step=10, max_values=4, full_doubles=False):
    """n payloads for ``props`` in turn, entry i at first_secs + i*step, with 1..max_values values
    (distinct nanosecond offsets), all four types and qualities; many repeat a client entryId."""
    kinds = list(VARIANT_KW)
    out = []
    for i in range(n):
        secs = first_secs + i * step
        vals = []
        for j in range(rnd.randint(1, max_values)):
            nanos = None if j == 0 and rnd.random() < 0.5 else j * 200_000_000 + rnd.randrange(1000)
            vals.append((secs, nanos, random_variant(rnd, kinds[(i + j) % 4], full_doubles),
                         rnd.choice([None, "GOOD", "BAD", "UNCERTAIN"])))
        entry_id = rnd.choice(["same", "e-%d" % i, "x_%d" % rnd.randrange(100)])
        out.append(sdk_payload(entry_id, props[i % len(props)], vals))
    return out


def make_props(rnd, n_alias, n_ids, tag):
    return ["/%s/line%d/température" % (tag, i) for i in range(n_alias)] + \
        [(uuid_from(rnd), uuid_from(rnd)) for _ in range(n_ids)]


# ---------------------------------------------------------------------------
# checks
# ---------------------------------------------------------------------------

def ctx_of(client, name, fake):
    def ctx():
        parts = [fake.summary()]
        try:
            parts.append("describe:\n" + "\n".join(fmt_status(s) for s in statuses(client, name).values()))
        except Exception as e:  # never hide the real failure
            parts.append("describe failed: %r" % (e,))
        return "\n".join(parts)
    return ctx


def wait_for(cond, timeout, what, fake, ctx):
    """wait_until that fails at once when the fake has seen a daemon bug."""
    def check():
        problems = fake.problems()
        if problems:
            pytest.fail("while waiting for %s, the SiteWise fake saw:\n%s\n%s" % (what, "\n".join(problems), ctx()))
        return cond()
    return wait_until(check, timeout, what, ctx)


def export_at(client, name, seq, ident="sw"):
    return lambda: statuses(client, name)[ident].last_exported_sequence_number == seq


def accepted_by_entry(fake):
    """(key, ts, entryId) -> [Value, ...] of everything the fake accepted."""
    by = collections.defaultdict(list)
    for v in fake.accepted():
        by[(v.key, v.ts, v.entry_id)].append(v)
    return by


def expected_by_entry(sents):
    return {(s.key, ts, str(s.seq)): (value, q) for s in sents for ts, value, q in s.values}


def all_arrived(fake, sents):
    by = accepted_by_entry(fake)
    return all(k in by for k in expected_by_entry(sents))


def assert_values(fake, sents, exactly_once=True, ctx=lambda: ""):
    """Every value of ``sents`` was accepted with its exact value and quality, under entryId =
    its sequence number; nothing else was accepted; with exactly_once, each value once."""
    by = accepted_by_entry(fake)
    expected = expected_by_entry(sents)
    missing = sorted(k for k in expected if k not in by)
    unexpected = sorted(k for k in by if k not in expected)
    wrong = [(k, (by[k][0].value, by[k][0].quality), expected[k]) for k in sorted(expected)
             if k in by and any((v.value, v.quality) != expected[k] for v in by[k])]
    twice = sorted((k, len(v)) for k, v in by.items() if len(v) > 1)
    assert not missing, "%d of %d values never accepted, e.g. %s\naccepted e.g. %s\n%s" % (
        len(missing), len(expected), missing[:4], sorted(by)[:4], ctx())
    assert not unexpected, "accepted values that were never appended (or under another entryId): %s\n%s" % (
        unexpected[:5], ctx())
    assert not wrong, "%d of %d values/qualities differ (key/ts/entryId, got, expected): %s\n%s" % (
        len(wrong), len(expected), wrong[:5], ctx())
    if exactly_once:
        assert not twice, "values accepted more than once: %s\n%s" % (twice[:5], ctx())
    assert not fake.problems(), fake.problems()


def per_property(values):
    out = collections.defaultdict(list)
    for key, ts, value in values:
        out[key].append((ts, value))
    return out


def assert_property_order(fake, sents, ctx=lambda: ""):
    """Per property, the accepted values (timestamp, entryId) come in append order (values
    themselves are compared by assert_values)."""
    got = per_property((v.key, v.ts, v.entry_id) for v in fake.accepted())
    want = per_property((s.key, ts, str(s.seq)) for s in sents for ts, _, _ in s.values)
    for key, seq in want.items():
        g = got.get(key, [])
        if g != seq:
            i = next((i for i, (a, b) in enumerate(zip(g, seq)) if a != b), min(len(g), len(seq)))
            pytest.fail("property %s: accepted values out of append order at index %d: got %s, appended %s "
                        "(got %d values, appended %d)\n%s" % (key, i, g[max(0, i - 2):i + 3], seq[max(0, i - 2):i + 3],
                                                             len(g), len(seq), ctx()))


def assert_describe(client, daemon, name, last_seq, delivered, skipped, total_bytes=None, ident="sw"):
    s = statuses(client, name)[ident]
    assert s.last_exported_sequence_number == last_seq, fmt_status(s)
    assert s.exported_messages_count == delivered, "exported_messages_count: " + fmt_status(s)
    if total_bytes is not None:
        assert s.exported_bytes_from_stream == total_bytes, "exported_bytes_from_stream: " + fmt_status(s)
    raw = raw_statuses(daemon, name)[ident]
    assert raw.get("skippedMessagesCount", 0) == skipped, "skippedMessagesCount %r, expected %d (%s)" % (
        raw.get("skippedMessagesCount"), skipped, fmt_status(s))
    return s


# ---------------------------------------------------------------------------
# tests
# ---------------------------------------------------------------------------

def test_fake_checks_signatures_and_speaks_the_api(sitewise_fake, monkeypatch):
    """The fake itself, driven by boto3: a correct signature is accepted (values recorded), a
    wrong secret, region or missing token is refused with 403, a conflict gets 400
    ConflictingOperationException.  (So "no refused signature" in the other tests means
    something.)"""
    boto3 = pytest.importorskip("boto3")
    from botocore.config import Config
    from botocore.exceptions import ClientError

    for k in list(NO_PROXY_ENV):
        monkeypatch.delenv(k, raising=False)
    fake = sitewise_fake
    fake.token = "session-token-for-the-fake"
    now = int(time.time())

    def client(secret=fake.secret, region=fake.region, token=fake.token):
        return boto3.client("iotsitewise", region_name=region, endpoint_url=fake.endpoint,
                            aws_access_key_id=fake.access_key, aws_secret_access_key=secret,
                            aws_session_token=token,
                            config=Config(inject_host_prefix=False, retries={"max_attempts": 1}))

    def entry(eid, alias, secs, value):
        return {"entryId": eid, "propertyAlias": alias, "propertyValues": [
            {"value": {"doubleValue": value}, "timestamp": {"timeInSeconds": secs, "offsetInNanos": 7},
             "quality": "GOOD"}]}

    resp = client().batch_put_asset_property_value(
        entries=[entry("a", "/t/1", now, 1.25), entry("b", "/t/2", now, 2.5)])
    assert resp["errorEntries"] == [], resp
    assert [(v.key, v.ts, v.value, v.quality, v.entry_id) for v in fake.accepted()] == [
        ("alias:/t/1", (now, 7), ("doubleValue", 1.25), "GOOD", "a"),
        ("alias:/t/2", (now, 7), ("doubleValue", 2.5), "GOOD", "b")]
    assert fake.problems() == []
    for kw, code in (({"secret": "wrong"}, "InvalidSignatureException"),
                     ({"region": "us-west-2"}, "InvalidSignatureException"),
                     ({"token": None}, "UnrecognizedClientException")):
        with pytest.raises(ClientError) as ei:
            client(**kw).batch_put_asset_property_value(entries=[entry("c", "/t/1", now + 1, 3.0)])
        assert ei.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403, ei.value.response
        assert ei.value.response["Error"]["Code"] == code, ei.value.response
    assert len(fake.auth_failures) == 3
    fake.auth_failures.clear()
    with pytest.raises(ClientError) as ei:
        client().batch_put_asset_property_value(entries=[entry("c", "/t/1", now, 3.0), entry("d", "/t/1", now, 4.0)])
    assert ei.value.response["Error"]["Code"] == "ConflictingOperationException"
    assert len(fake.conflicts) == 1 and fake.accepted_count() == 2


def test_no_faults_every_value_exactly_once(daemon_factory, tmp_path, sitewise_fake):
    """300 SDK-written entries (aliases and asset/property ids, all four value types, qualities,
    1..4 values each, many with the same client entryId) appended while the export is disabled,
    then enabled: each value arrives once, exact, under entryId = sequence number; no request has
    more than 10 entries; per property the values keep their order; describe matches."""
    fake = sitewise_fake
    n = 300
    name = "sw-clean"
    rnd = random.Random(301)
    now = int(time.time())
    d = start_daemon(daemon_factory, tmp_path, fake)
    c = d.client()
    c.create_message_stream(sw_def(name, disabled=True))
    props = make_props(rnd, 4, 3, "clean")
    book = []
    for p in random_entries(n, rnd, props, now - 3500, step=10, full_doubles=True):
        append(c, name, p, book)
    assert fake.requests() == [], "a disabled export sent requests"
    c.update_message_stream(sw_def(name))
    ctx = ctx_of(c, name, fake)
    wait_for(lambda: all_arrived(fake, book), 20, "all %d entries" % n, fake, ctx)
    wait_for(export_at(c, name, n - 1), 10, "describe at %d" % (n - 1), fake, ctx)

    assert_property_order(fake, book, ctx)
    sizes = [len(r.entries) for r in fake.requests()]
    assert max(sizes) <= 10, "a request with %d entries (limit 10)\n%s" % (max(sizes), ctx())
    assert max(sizes) > 1, "the export never batched entries (sizes %s): the batch limit was not exercised" % sizes
    for r in fake.requests():
        ids = [e[0] for e in r.entries]
        assert len(set(ids)) == len(ids), ids
    assert set(fake.outcomes()) == {"ok"}, fake.outcomes()
    s = assert_describe(c, d, name, n - 1, n, 0, total_bytes=sum(len(x.payload) for x in book))
    assert s.error_message is None, fmt_status(s)
    # last, so that the checks above run whatever happens to the values: each one exact
    # (doubles included: any double must survive the daemon's JSON round trip bit for bit)
    assert_values(fake, book, ctx=ctx)


def test_conflicting_timestamps_are_never_in_one_request(daemon_factory, tmp_path, sitewise_fake):
    """240 entries for 3 properties where about half repeat the last timestamp of the previous
    entry of their property (legal across messages): no request ever holds two values for one
    property and timestamp, and per property the values arrive in append order (so the later
    value of a repeated timestamp is the one SiteWise keeps)."""
    fake = sitewise_fake
    n = 240
    name = "sw-conflicts"
    rnd = random.Random(77)
    now = int(time.time())
    props = ["/conflict/a", "/conflict/b", (uuid_from(rnd), uuid_from(rnd))]
    last = {i: now - 3000 for i in range(len(props))}
    payloads = []
    counter = 0
    for i in range(n):
        p = rnd.randrange(len(props))
        start = last[p] if rnd.random() < 0.5 else last[p] + 1
        vals = []
        for j in range(rnd.randint(1, 3)):
            counter += 1
            vals.append((start + j, None, ("integerValue", counter), rnd.choice([None, "GOOD"])))
        last[p] = start + len(vals) - 1
        payloads.append(sdk_payload("c", props[p], vals))
    # the data really needs conflict-aware batching: naive chunks of 10 would conflict
    naive_conflicts = 0
    for k in range(0, n, 10):
        keys = [(key, ts) for key, vals in map(values_of, payloads[k:k + 10]) for ts, _, _ in vals]
        naive_conflicts += len(keys) - len(set(keys))
    assert naive_conflicts > 10, "test data too tame: %d conflicts in naive batches" % naive_conflicts

    d = start_daemon(daemon_factory, tmp_path, fake)
    c = d.client()
    c.create_message_stream(sw_def(name, disabled=True))
    book = []
    for p in payloads:
        append(c, name, p, book)
    c.update_message_stream(sw_def(name))
    ctx = ctx_of(c, name, fake)
    wait_for(lambda: all_arrived(fake, book), 20, "all %d entries" % n, fake, ctx)
    wait_for(export_at(c, name, n - 1), 10, "describe at %d" % (n - 1), fake, ctx)

    assert fake.conflicts == [], fake.conflicts[:3]
    assert "conflict" not in fake.outcomes(), fake.outcomes()
    assert_values(fake, book, ctx=ctx)
    assert_property_order(fake, book, ctx)
    assert max(len(r.entries) for r in fake.requests()) <= 10
    assert_describe(c, d, name, n - 1, n, 0)


def test_retryable_faults_lose_nothing(daemon_factory, tmp_path, sitewise_fake):
    """batch_size 7; 20% of entries get a retryable errorEntry (all five codes), and whole calls
    fail with 429, 400 ThrottlingException and 500: every value is accepted, exact, exactly once
    (the fake never accepts a value it answered an error for, and nothing times out, so a second
    acceptance would be a resend of a delivered entry); no request exceeds 7 entries; nothing is
    skipped."""
    fake = sitewise_fake
    fake.configure(entry_error_rate=0.2, throttle429_rate=0.05, throttle400_rate=0.05, error500_rate=0.05)
    n = 300
    name = "sw-faults"
    rnd = random.Random(4242)
    now = int(time.time())
    d = start_daemon(daemon_factory, tmp_path, fake)
    c = d.client()
    c.create_message_stream(sw_def(name, batch_size=7, disabled=True))
    book = []
    for p in random_entries(n, rnd, make_props(rnd, 3, 2, "faults"), now - 3500, step=10, max_values=3):
        append(c, name, p, book)
    c.update_message_stream(sw_def(name, batch_size=7))
    ctx = ctx_of(c, name, fake)
    wait_for(lambda: all_arrived(fake, book), 40, "all %d entries despite the faults" % n, fake, ctx)
    wait_for(export_at(c, name, n - 1), 10, "describe at %d" % (n - 1), fake, ctx)

    outcomes = fake.outcomes()
    for kind in ("429", "throttle", "500", "partial"):
        assert outcomes.get(kind, 0) > 0, "no %r fault was injected: %r" % (kind, outcomes)
    errored = [s for s in book if any(fake.errored(s.key, ts) for ts, _, _ in s.values)]
    codes = {c for s in book for ts, _, _ in s.values for c in fake.errored(s.key, ts)}
    assert set(RETRYABLE_CODES) <= codes, "not every retryable code was answered: %s" % sorted(codes)
    assert len(errored) > n // 5, "only %d entries ever failed" % len(errored)
    assert_values(fake, book, exactly_once=True, ctx=ctx)
    sizes = [len(r.entries) for r in fake.requests()]
    assert max(sizes) <= 7, "a request with %d entries, batch_size is 7\n%s" % (max(sizes), ctx())
    assert_describe(c, d, name, n - 1, n, 0)


def test_retried_entry_does_not_overtake_a_later_value_of_its_timestamp(daemon_factory, tmp_path, sitewise_fake):
    """Two messages write the same property and timestamp (legal across messages; SiteWise keeps
    the value written last).  The first one gets a retryable ThrottlingException errorEntry the
    first time.  Order per property is kept across requests, so the second one must not be
    accepted before the first one's retry: SiteWise must end with the later-appended value."""
    fake = sitewise_fake
    name = "sw-overtake"
    rnd = random.Random(31)
    now = int(time.time())
    t = now - 120
    d = start_daemon(daemon_factory, tmp_path, fake)
    c = d.client()
    c.create_message_stream(sw_def(name, disabled=True))
    book = []
    append(c, name, sdk_payload("first", "/overtake/x", [(t, 5, ("integerValue", 1), "GOOD")]), book)
    for p in random_entries(3, rnd, make_props(rnd, 2, 0, "other"), now - 600, step=10, max_values=2):
        append(c, name, p, book)
    append(c, name, sdk_payload("second", "/overtake/x", [(t, 5, ("integerValue", 2), "GOOD")]), book)
    fake.fail_entry("alias:/overtake/x", "ThrottlingException")
    c.update_message_stream(sw_def(name))
    ctx = ctx_of(c, name, fake)
    wait_for(lambda: all_arrived(fake, book), 10, "all entries", fake, ctx)
    wait_for(export_at(c, name, book[-1].seq), 10, "describe at the end", fake, ctx)

    assert fake.errored("alias:/overtake/x", (t, 5)) == ["ThrottlingException"], ctx()
    assert_values(fake, book, ctx=ctx)
    writes = [(v.value[1], v.entry_id) for v in fake.accepted() if v.key == "alias:/overtake/x"]
    assert writes[-1][0] == 2, (
        "SiteWise would keep value %r of message %s for /overtake/x at %d.000000005: the retry of message 0 "
        "was accepted after message %d (accepted in this order: %s)\n%s" % (
            writes[-1][0], writes[-1][1], t, book[-1].seq, writes, ctx()))
    assert_property_order(fake, book, ctx)


INVALID = [
    # (what, payload, any of these (lower-case) must be in error_message)
    ("not JSON", b"not json", ["json"]),
    ("JSON but not an object", b"[1, 2]", ["json", "entry"]),
    ("two value fields", {"value": {"integerValue": 1, "doubleValue": 2.0}}, ["exactly one", "one of", "variant"]),
    ("no value field", {"value": {}}, ["exactly one", "one of", "variant"]),
    ("11 values", "11", ["11", "1..=10", "1..10", "at most 10", "too many", "10 values"]),
    ("0 values", "0", ["0", "empty", "at least", "1..=10", "1..10"]),
    ("quality MEH", {"quality": "MEH"}, ["quality", "meh"]),
    ("integerValue -1", {"value": {"integerValue": -1}}, ["integervalue"]),
    ("integerValue 2^31", {"value": {"integerValue": 2 ** 31}}, ["integervalue"]),
    ("timeInSeconds 0", {"timestamp": {"timeInSeconds": 0}}, ["timeinseconds"]),
    ("offsetInNanos 1e9", {"timestamp": {"timeInSeconds": None, "offsetInNanos": 10 ** 9}}, ["offsetinnanos"]),
    ("entryId with a space", {"entryId": "bad id"}, ["entryid"]),
    ("neither alias nor ids", {"propertyAlias": None}, ["propertyalias", "assetid", "propertyid"]),
    ("only assetId", {"propertyAlias": None, "assetId": "3f5b1c9e-0d7a-4b8e-9a41-6c2d8e7f1a20"},
     ["propertyalias", "assetid", "propertyid"]),
    ("empty stringValue", {"value": {"stringValue": ""}}, ["stringvalue"]),
    ("same timestamp twice in one entry", "dup-ts", ["timestamp", "conflict", "duplicate"]),
]


def invalid_payload(spec, alias, secs):
    """A raw (not SDK-validated) entry for ``alias`` at ``secs`` broken as ``spec`` says."""
    if isinstance(spec, bytes):
        return spec
    good = {"value": {"doubleValue": 1.5}, "timestamp": {"timeInSeconds": secs}, "quality": "GOOD"}
    entry = {"entryId": "inv", "propertyAlias": alias, "propertyValues": [dict(good)]}
    if spec == "11":
        entry["propertyValues"] = [dict(good, timestamp={"timeInSeconds": secs + i}) for i in range(11)]
    elif spec == "0":
        entry["propertyValues"] = []
    elif spec == "dup-ts":
        entry["propertyValues"] = [dict(good), dict(good, value={"doubleValue": 2.5})]
    else:
        for k, v in spec.items():
            if k in ("entryId", "propertyAlias", "assetId"):
                if v is None:
                    entry.pop(k)
                else:
                    entry[k] = v
            elif k == "timestamp":
                entry["propertyValues"][0]["timestamp"] = {kk: (secs if vv is None else vv) for kk, vv in v.items()}
            else:
                entry["propertyValues"][0][k] = v
    return json.dumps(entry).encode()


def test_invalid_messages_are_skipped_counted_and_reported(daemon_factory, tmp_path, sitewise_fake):
    """16 kinds of invalid message, each appended (raw) after 3 valid ones: once the export has
    passed it, describe's error_message gives its reason; none reaches SiteWise; the valid ones
    around them all arrive; skippedMessagesCount = 16."""
    fake = sitewise_fake
    name = "sw-invalid"
    rnd = random.Random(5)
    now = int(time.time())
    d = start_daemon(daemon_factory, tmp_path, fake, endpoint_var="AWS_ENDPOINT_URL")
    c = d.client()
    c.create_message_stream(sw_def(name))
    ctx = ctx_of(c, name, fake)
    book = []
    invalid_seqs = {}
    secs = now - 3000
    props = make_props(rnd, 2, 1, "valid")
    for k, (what, spec, needles) in enumerate(INVALID):
        for p in random_entries(3, rnd, props, secs, step=10, max_values=2):
            append(c, name, p, book)
        secs += 40
        seq = append(c, name, invalid_payload(spec, "/invalid/%d" % k, secs))
        invalid_seqs[seq] = what
        wait_for(export_at(c, name, seq), 10, "the export to pass invalid message %d (%s)" % (seq, what), fake, ctx)
        s = statuses(c, name)["sw"]
        err = (s.error_message or "").lower()
        assert any(nd in err for nd in needles), \
            "message %d (%s): error_message %r mentions none of %s\n%s" % (seq, what, s.error_message, needles, ctx())
    for p in random_entries(5, rnd, props, secs + 10, step=10, max_values=2):
        last = append(c, name, p, book)
    wait_for(lambda: all_arrived(fake, book), 10, "the valid entries", fake, ctx)
    wait_for(export_at(c, name, last), 10, "describe at %d" % last, fake, ctx)

    leaked = sorted({e[1] for r in fake.requests() for e in r.entries if "/invalid/" in e[1]})
    assert not leaked, "invalid entries were sent to SiteWise: %s\n%s" % (leaked, ctx())
    assert_values(fake, book, ctx=ctx)
    assert_describe(c, d, name, last, len(book), len(INVALID))


def test_non_retryable_entry_errors_are_skipped_not_resent(daemon_factory, tmp_path, sitewise_fake):
    """With a session token and AWS_ENDPOINT_URL_IOTSITEWISE: entries answered (every time) with
    InvalidRequest, TimestampOutOfRange, ResourceNotFound or AccessDenied — or with a retryable and
    a permanent error together — are sent once and skipped; one answered Throttling first and
    ResourceNotFound next is sent twice and skipped; one answered with two retryable errors once is
    sent again and delivered; all the others arrive exactly once."""
    fake = sitewise_fake
    fake.token = "FwoGZXIvYXdzE-session-token-of-the-test"
    n = 60
    name = "sw-permanent"
    rnd = random.Random(9)
    now = int(time.time())
    props = ["/perm/p%d" % i for i in range(n)]  # one property per entry: errors target entries
    payloads = random_entries(n, rnd, props, now - 3000, step=5, max_values=3)
    skip_once = {}
    for k, code in enumerate(NON_RETRYABLE_CODES * 2):
        skip_once[3 + 6 * k] = (code,)
    skip_once[51] = ("ThrottlingException", "ResourceNotFoundException")
    for i, codes in skip_once.items():
        fake.fail_entry("alias:" + props[i], codes, sticky=True)
    fake.fail_entry("alias:" + props[55], "ThrottlingException", "ResourceNotFoundException", sticky=True)
    fake.fail_entry("alias:" + props[57], ("ThrottlingException", "LimitExceededException"))
    skipped = set(skip_once) | {55}

    d = start_daemon(daemon_factory, tmp_path, fake)
    c = d.client()
    c.create_message_stream(sw_def(name, disabled=True))
    book = []
    for p in payloads:
        append(c, name, p, book)
    c.update_message_stream(sw_def(name))
    ctx = ctx_of(c, name, fake)
    delivered = [s for s in book if s.seq not in skipped]
    wait_for(lambda: all_arrived(fake, delivered), 15, "the deliverable entries", fake, ctx)
    wait_for(export_at(c, name, n - 1), 10, "describe at %d" % (n - 1), fake, ctx)
    time.sleep(0.3)  # a wrong resend would come right after

    for s in book:
        ts0 = s.values[0][0]
        want = 2 if s.seq in (55, 57) else 1
        assert fake.seen(s.key, ts0) == want, "entry %d (errors %s) was sent %d times, expected %d\n%s" % (
            s.seq, fake.errored(s.key, ts0), fake.seen(s.key, ts0), want, ctx())
    assert_values(fake, delivered, ctx=ctx)
    assert_describe(c, d, name, n - 1, n - len(skipped), len(skipped))


def test_poison_entry_is_isolated_and_skipped(daemon_factory, tmp_path, sitewise_fake):
    """With --endpoint-url-iotsitewise: the fake refuses every request holding one of two poison
    entries with a whole-call 400 InvalidRequestException.  The daemon resends the entries of
    those requests one by one: the poison entries are skipped (sent at most twice each, at least
    once alone), everything else arrives exactly once."""
    fake = sitewise_fake
    n = 40
    name = "sw-poison"
    rnd = random.Random(13)
    now = int(time.time())
    payloads = random_entries(n, rnd, make_props(rnd, 3, 2, "ok"), now - 3000, step=10, max_values=2)
    poison = {5: "/poison/a", 17: "/poison/b"}
    for i, alias in poison.items():
        payloads[i] = sdk_payload("p", alias, [(now - 600 + i, None, ("doubleValue", 0.5), "GOOD")])
        fake.poison("alias:" + alias)
    d = start_daemon(daemon_factory, tmp_path, fake, endpoint_var=None,
                     extra=("--endpoint-url-iotsitewise", fake.endpoint))
    c = d.client()
    c.create_message_stream(sw_def(name, disabled=True))
    book = []
    for p in payloads:
        append(c, name, p, book)
    c.update_message_stream(sw_def(name))
    ctx = ctx_of(c, name, fake)
    good = [s for s in book if s.seq not in poison]
    wait_for(lambda: all_arrived(fake, good), 15, "the entries around the poison", fake, ctx)
    wait_for(export_at(c, name, n - 1), 10, "describe at %d" % (n - 1), fake, ctx)
    time.sleep(0.3)

    reqs = fake.requests()
    for i, alias in poison.items():
        with_it = [r for r in reqs if any(e[1] == "alias:" + alias for e in r.entries)]
        assert with_it and all(r.outcome == "poison" for r in with_it), ctx()
        assert any(len(r.entries) > 1 for r in with_it), \
            "poison %d was never in a multi-entry request (sizes %s): the test did not exercise the split" % (
                i, [len(r.entries) for r in with_it])
        assert any(len(r.entries) == 1 for r in with_it), "poison %d was skipped without being sent alone" % i
        assert len(with_it) <= 2, "poison %d was sent %d times (sizes %s)" % (
            i, len(with_it), [len(r.entries) for r in with_it])
    assert not any(v.key.startswith("alias:/poison/") for v in fake.accepted())
    assert_values(fake, good, ctx=ctx)
    assert_describe(c, d, name, n - 1, n - len(poison), len(poison))


def test_timestamps_outside_the_window(daemon_factory, tmp_path, sitewise_fake):
    """An entry 8 days old and one 1 hour ahead are skipped without being sent, with
    "TimestampOutOfRange" and "window" in error_message; entries 6 days old and 5 minutes ahead
    are sent and accepted; an entry with one value 8 days old and one current is sent once, its
    current value accepted and the entry skipped on SiteWise's TimestampOutOfRangeException."""
    fake = sitewise_fake
    name = "sw-window"
    rnd = random.Random(21)
    now = int(time.time())
    d = start_daemon(daemon_factory, tmp_path, fake)
    c = d.client()
    c.create_message_stream(sw_def(name))
    ctx = ctx_of(c, name, fake)
    props = make_props(rnd, 2, 1, "cur")
    book = []

    def valid(k, first):
        for p in random_entries(k, rnd, props, first, step=3, max_values=2):
            append(c, name, p, book)

    valid(4, now - 3000)
    local = {}
    for what, secs in (("8 days old", now - 8 * DAY), ("1 hour ahead", now + 3600)):
        payload = sdk_payload("w", "/window/" + what.replace(" ", "-"), [(secs, 5, ("integerValue", 1), "GOOD")])
        seq = append(c, name, payload)
        local[seq] = values_of(payload)
        wait_for(export_at(c, name, seq), 10, "the export to pass the %s entry" % what, fake, ctx)
        err = statuses(c, name)["sw"].error_message or ""
        assert "TimestampOutOfRange" in err and "window" in err, "%s entry: error_message %r\n%s" % (what, err, ctx())
        valid(3, now - 2500 + len(book) * 10)
    append(c, name, sdk_payload("w", "/window/6-days", [(now - 6 * DAY, None, ("booleanValue", True), None)]), book)
    append(c, name, sdk_payload("w", "/window/5-min-ahead", [(now + 300, 1, ("stringValue", "soon"), "BAD")]), book)
    mixed = sdk_payload("w", "/window/mixed", [(now - 8 * DAY, None, ("doubleValue", 1.0), None),
                                                 (now - 60, None, ("doubleValue", 2.0), "UNCERTAIN")])
    mixed_seq = append(c, name, mixed)
    mixed_key, mixed_vals = values_of(mixed)
    valid(3, now - 1000)
    last = book[-1].seq
    wait_for(lambda: all_arrived(fake, book), 10, "the entries inside the window", fake, ctx)
    wait_for(export_at(c, name, last), 10, "describe at %d" % last, fake, ctx)
    time.sleep(0.3)

    for seq, (key, vals) in local.items():
        assert fake.seen(key, vals[0][0]) == 0, "entry %d outside the window was sent\n%s" % (seq, ctx())
    old_ts, new_ts = mixed_vals[0][0], mixed_vals[1][0]
    assert fake.seen(mixed_key, new_ts) == 1, "the mixed entry was sent %d times\n%s" % (
        fake.seen(mixed_key, new_ts), ctx())
    got = [(v.ts, v.value, v.quality, v.entry_id) for v in fake.accepted() if v.key == mixed_key]
    assert got == [(new_ts, ("doubleValue", 2.0), "UNCERTAIN", str(mixed_seq))], got
    assert fake.errored(mixed_key, old_ts) == ["TimestampOutOfRangeException"]
    others = [v for v in fake.accepted() if v.key != mixed_key]
    book_keys = {(s.key, ts) for s in book for ts, _, _ in s.values}
    assert {(v.key, v.ts) for v in others} == book_keys
    assert_values(fake, book + [
        Sent(mixed_seq, mixed_key, mixed_vals[1:], mixed)], ctx=ctx)
    assert_describe(c, d, name, last, len(book), 3)


def test_kill_9_mid_export_loses_nothing(daemon_factory, tmp_path, sitewise_fake):
    """SIGKILL while a request is in flight (the fake has already accepted it and waits 0.1 s to
    answer): after the restart every value arrives, and only entries of one batch (10) arrive
    twice."""
    fake = sitewise_fake
    fake.configure(delay=0.1)
    n = 150
    name = "sw-kill"
    rnd = random.Random(99)
    now = int(time.time())
    d = start_daemon(daemon_factory, tmp_path, fake)
    c = d.client()
    c.create_message_stream(sw_def(name, disabled=True))
    book = []
    for p in random_entries(n, rnd, make_props(rnd, 3, 2, "kill"), now - 3500, step=10, max_values=3):
        append(c, name, p, book)
    c.update_message_stream(sw_def(name))
    ctx = ctx_of(c, name, fake)
    wait_for(lambda: len({v.entry_id for v in fake.accepted()}) >= 40 and fake.inflight() > 0, 20,
             "40 entries accepted and a request in flight", fake, ctx)
    d.kill()
    before = {v.entry_id for v in fake.accepted()}
    assert len(before) < n, "everything was exported before the kill: nothing tested"
    fake.configure(delay=0.0)
    d.restart()
    c = d.client()
    ctx = ctx_of(c, name, fake)
    wait_for(lambda: all_arrived(fake, book), 20, "all entries after the restart", fake, ctx)
    wait_for(export_at(c, name, n - 1), 10, "describe at %d after the restart" % (n - 1), fake, ctx)

    assert_values(fake, book, exactly_once=False, ctx=ctx)
    counts = collections.Counter(v.entry_id for v in fake.accepted())
    per_entry = {str(s.seq): len(s.values) for s in book}
    twice = sorted(int(e) for e, k in counts.items() if k > per_entry[e])
    assert len(twice) <= 10, "%d entries arrived twice (more than one batch): %s\n%s" % (len(twice), twice, ctx())
    assert all(str(s) in before for s in twice), "entries resent that had not been accepted before the kill"
    assert max(counts[e] // per_entry[e] for e in counts) <= 2
    raw = raw_statuses(d, name)["sw"]
    assert raw.get("skippedMessagesCount", 0) == 0, raw
