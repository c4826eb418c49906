"""Raw frames: handshake and version negotiation, unknown operations, request
ids, server-side validation, CBOR encodings the SDK never produces."""

import cbor2
import pytest

from rawclient import (
    OP_APPEND,
    OP_APPEND_RESPONSE,
    OP_CREATE,
    OP_CREATE_RESPONSE,
    OP_LIST,
    OP_LIST_RESPONSE,
    OP_READ,
    OP_READ_RESPONSE,
    OP_UNKNOWN_OPERATION_ERROR,
    OVERWRITE_OLDEST_DATA,
    PERSISTENCE_FILE,
    PERSISTENCE_MEMORY,
    REJECT_NEW_DATA,
    ST_INVALID_REQUEST,
    ST_NOT_ENOUGH_MESSAGES,
    ST_SUCCESS,
    ST_UNKNOWN_OPERATION,
    ST_UNSUPPORTED_PROTOCOL_VERSION,
    RawClient,
    cbor_encode,
    encode_frame,
    new_request_id,
)


def definition(name, **extra):
    d = {"name": name, "strategyOnFull": REJECT_NEW_DATA}
    d.update(extra)
    return d


def kinesis(**over):
    k = {"identifier": "k1", "kinesisStreamName": "target", "disabled": True}
    k.update(over)
    return k


# ---------------------------------------------------------------------------
# handshake
# ---------------------------------------------------------------------------

def test_connect_response_fields(daemon):
    r = daemon.raw(handshake=False)
    resp = r.handshake(request_id="connect-req-1")
    assert resp["requestId"] == "connect-req-1"
    assert resp["status"] == ST_SUCCESS
    assert resp["protocolVersion"] == "1.1.0"
    assert {"1.1.0", "1.0.0"} <= set(resp["supportedProtocolVersions"])
    assert isinstance(resp.get("serverVersion"), str) and resp["serverVersion"]
    assert isinstance(resp.get("clientIdentifier"), str) and resp["clientIdentifier"]
    # and the connection works
    assert r.list_streams()["status"] == ST_SUCCESS


def test_connect_old_protocol_only(daemon):
    r = daemon.raw(handshake=False)
    resp = r.handshake(protocol_version="1.0.0", other_versions=None)
    assert resp["status"] == ST_SUCCESS
    assert resp["protocolVersion"] == "1.0.0"
    assert r.list_streams()["status"] == ST_SUCCESS


def test_connect_unknown_protocol_falls_back_to_other_supported(daemon):
    r = daemon.raw(handshake=False)
    resp = r.handshake(protocol_version="9.9.9", other_versions=["1.0.0"])
    assert resp["status"] == ST_SUCCESS
    assert resp["protocolVersion"] == "1.0.0"


@pytest.mark.parametrize("others", [None, [], ["8.8.8"]], ids=["absent", "empty", "unknown"])
def test_connect_unsupported_protocol_rejected(daemon, others):
    r = daemon.raw(handshake=False)
    resp = r.handshake(protocol_version="9.9.9", other_versions=others)
    assert resp["status"] != ST_SUCCESS
    assert resp["status"] == ST_UNSUPPORTED_PROTOCOL_VERSION
    # a rejected connection must not serve requests
    try:
        op, body = r.request(OP_LIST, {}, timeout=2)
    except Exception:  # closed or no answer: both fine  # noqa: BLE001
        return
    assert body.get("status") != ST_SUCCESS, "request served after a failed connect: %r" % (body,)


def test_connect_with_minimal_request(daemon):
    """Only the required keys (requestId, protocolVersion)."""
    r = daemon.raw(handshake=False)
    resp = r.handshake(other_versions=None, sdk_version=None)
    assert resp["status"] == ST_SUCCESS


# ---------------------------------------------------------------------------
# unknown operations and request ids
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("op", [0, 99, 127, 200])
def test_unknown_operation(raw, op):
    rid = "unknown-op-%d" % op
    raw.send_frame(op, {"requestId": rid, "name": "whatever"})
    rop, resp = raw.read_response(rid)
    assert rop == OP_UNKNOWN_OPERATION_ERROR, "expected op 17, got %d: %r" % (rop, resp)
    assert resp["status"] == ST_UNKNOWN_OPERATION
    assert resp["requestId"] == rid
    # the connection stays usable
    assert raw.list_streams()["status"] == ST_SUCCESS


@pytest.mark.parametrize("rid", [" ", "dup", "a" * 200, "with space, comma.dot-dash_under"])
def test_request_id_echoed_verbatim_including_duplicates(raw, rid):
    assert raw.create(definition("ids"), request_id="create-ids")["status"] == ST_SUCCESS
    # pipeline: several requests with the same id before reading any answer
    frames = [
        encode_frame(OP_LIST, {"requestId": rid}),
        encode_frame(OP_APPEND, {"requestId": rid, "name": "ids", "payload": b"one"}),
        encode_frame(OP_APPEND, {"requestId": rid, "name": "ids", "payload": b"two"}),
        encode_frame(OP_LIST, {"requestId": rid}),
    ]
    raw.send_raw(b"".join(frames))
    got = [raw.read_message() for _ in frames]
    assert all(m["requestId"] == rid for _, m in got), got
    assert sorted(op for op, _ in got) == sorted([OP_LIST_RESPONSE, OP_APPEND_RESPONSE,
                                                  OP_APPEND_RESPONSE, OP_LIST_RESPONSE])
    assert all(m["status"] == ST_SUCCESS for _, m in got), got
    seqs = sorted(m["sequenceNumber"] for op, m in got if op == OP_APPEND_RESPONSE)
    assert seqs == [0, 1]


def test_pipelined_requests_each_get_one_response(raw):
    raw.create(definition("pipe"))
    ids = ["p-%d" % i for i in range(100)]
    raw.send_raw(b"".join(
        encode_frame(OP_APPEND, {"requestId": rid, "name": "pipe", "payload": rid.encode()}) for rid in ids))
    got = [raw.read_message() for _ in ids]
    assert sorted(m["requestId"] for _, m in got) == sorted(ids)
    seqs = {m["requestId"]: m["sequenceNumber"] for _, m in got}
    assert sorted(seqs.values()) == list(range(100))
    resp = raw.read("pipe", {"minMessageCount": 100, "maxMessageCount": 100})
    for msg in resp["messages"]:
        assert seqs[msg["payload"].decode()] == msg["sequenceNumber"]


def test_long_poll_and_other_requests_share_a_connection(raw):
    """A pending long-poll read on a raw connection does not hold back later
    requests on the same connection; its answer arrives later, matched by id."""
    raw.create(definition("shared-conn"))
    raw.send_frame(OP_READ, {"requestId": "slow-read", "streamName": "shared-conn",
                             "readMessagesOptions": {"minMessageCount": 2, "maxMessageCount": 2,
                                                     "readTimeoutMillis": 10_000}})
    for i in range(2):
        op, resp = raw.request(OP_APPEND, {"name": "shared-conn", "payload": b"m%d" % i}, timeout=3)
        assert op == OP_APPEND_RESPONSE and resp["status"] == ST_SUCCESS
    op, resp = raw.read_response("slow-read", timeout=5)
    assert op == OP_READ_RESPONSE and resp["status"] == ST_SUCCESS
    assert [m["payload"] for m in resp["messages"]] == [b"m0", b"m1"]


def test_read_options_absent_or_empty_use_defaults(raw):
    raw.create(definition("defaults"))
    resp = raw.read("defaults")
    assert resp["status"] == ST_NOT_ENOUGH_MESSAGES
    for i in range(3):
        raw.append("defaults", b"m%d" % i)
    for opts in (None, {}, {"minMessageCount": 1}):
        resp = raw.read("defaults", opts)
        assert resp["status"] == ST_SUCCESS
        assert [(m["sequenceNumber"], m["payload"], m["streamName"]) for m in resp["messages"]] == [
            (0, b"m0", "defaults")]


def test_raw_describe_fills_defaults(raw):
    raw.create({"name": "bare", "strategyOnFull": OVERWRITE_OLDEST_DATA})
    resp = raw.describe("bare")
    assert resp["status"] == ST_SUCCESS
    d = resp["messageStreamInfo"]["definition"]
    assert d["name"] == "bare"
    assert d["maxSize"] == 268435456
    assert d["streamSegmentSize"] == 16777216
    assert d["persistence"] == PERSISTENCE_FILE
    assert d["flushOnWrite"] is False
    assert d["strategyOnFull"] == OVERWRITE_OLDEST_DATA
    st = resp["messageStreamInfo"]["storageStatus"]
    assert st["newestSequenceNumber"] == st["oldestSequenceNumber"] - 1


def test_raw_describe_kinesis_defaults_if_filled(raw):
    raw.create(definition("kin", exportDefinition={"kinesis": [kinesis()]}))
    resp = raw.describe("kin")
    k = resp["messageStreamInfo"]["definition"]["exportDefinition"]["kinesis"]
    assert [x["identifier"] for x in k] == ["k1"]
    assert k[0]["kinesisStreamName"] == "target"
    if "batchSize" in k[0]:
        assert k[0]["batchSize"] == 500
    statuses = resp["messageStreamInfo"]["exportStatuses"]
    assert [s["exportConfigIdentifier"] for s in statuses] == ["k1"]
    assert isinstance(statuses[0]["lastExportedSequenceNumber"], int)


# ---------------------------------------------------------------------------
# server-side validation (the SDK would refuse to send these)
# ---------------------------------------------------------------------------

def _s3(**over):
    s = {"identifier": "s3", "disabled": True}
    s.update(over)
    return s


INVALID_DEFINITIONS = {
    "name-empty": ({"name": "", "strategyOnFull": 0}, "name"),
    "name-256": ({"name": "n" * 256, "strategyOnFull": 0}, "name"),
    "name-slash": ({"name": "a/b", "strategyOnFull": 0}, "name"),
    "name-dotdot-slash": ({"name": "../x", "strategyOnFull": 0}, "name"),
    "name-backslash": ({"name": "a\\b", "strategyOnFull": 0}, "name"),
    "name-missing": ({"strategyOnFull": 0}, "name"),
    "maxSize-100": (definition("v", maxSize=100), "maxSize"),
    "streamSegmentSize-10": (definition("v", streamSegmentSize=10), "streamSegmentSize"),
    "timeToLiveMillis-1000": (definition("v", timeToLiveMillis=1000), "timeToLiveMillis"),
    "strategyOnFull-missing": ({"name": "v"}, "strategyOnFull"),
    # out-of-range enum values: status 3 required, naming the field is not
    "strategyOnFull-7": (definition("v", strategyOnFull=7), None),
    "persistence-5": (definition("v", persistence=5), None),
    "kinesis-batchSize-501": (definition("v", exportDefinition={"kinesis": [kinesis(batchSize=501)]}), "batchSize"),
    "kinesis-batchSize-0": (definition("v", exportDefinition={"kinesis": [kinesis(batchSize=0)]}), "batchSize"),
    "kinesis-batchIntervalMillis-1000": (
        definition("v", exportDefinition={"kinesis": [kinesis(batchIntervalMillis=1000)]}), "batchIntervalMillis"),
    "kinesis-priority-11": (definition("v", exportDefinition={"kinesis": [kinesis(priority=11)]}), "priority"),
    "kinesis-identifier-missing": (
        definition("v", exportDefinition={"kinesis": [{"kinesisStreamName": "t", "disabled": True}]}),
        "identifier"),
    "kinesis-streamName-missing": (
        definition("v", exportDefinition={"kinesis": [{"identifier": "k", "disabled": True}]}),
        "kinesisStreamName"),
    "iotAnalytics-batchSize-101": (
        definition("v", exportDefinition={"iotAnalytics": [
            {"identifier": "a", "iotChannel": "c", "batchSize": 101, "disabled": True}]}), "batchSize"),
    "sitewise-batchSize-11": (
        definition("v", exportDefinition={"IotSitewise": [{"identifier": "s", "batchSize": 11, "disabled": True}]}),
        "batchSize"),
    "s3-threshold-1000": (
        definition("v", exportDefinition={"s3TaskExecutor": [_s3(sizeThresholdForMultipartUploadBytes=1000)]}),
        "sizeThresholdForMultipartUploadBytes"),
    "s3-priority-0": (definition("v", exportDefinition={"s3TaskExecutor": [_s3(priority=0)]}), "priority"),
}


@pytest.mark.parametrize("case", sorted(INVALID_DEFINITIONS))
def test_create_validation(raw, case):
    defn, field = INVALID_DEFINITIONS[case]
    resp = raw.create(defn)
    assert resp["status"] == ST_INVALID_REQUEST, resp
    msg = resp.get("errorMessage") or ""
    if field is not None:
        assert field.lower() in msg.lower(), "errorMessage %r does not name %r" % (msg, field)
    assert raw.list_streams()["streams"] == [], "an invalid definition must not create a stream"


@pytest.mark.parametrize("case", ["maxSize-100", "kinesis-batchSize-501", "timeToLiveMillis-1000"])
def test_update_validation(raw, case):
    raw.create(definition("v"))
    defn, field = INVALID_DEFINITIONS[case]
    op, resp = raw.request(15, {"definition": defn})
    assert op == 16
    assert resp["status"] == ST_INVALID_REQUEST, resp
    assert field.lower() in (resp.get("errorMessage") or "").lower()
    d = raw.describe("v")["messageStreamInfo"]["definition"]
    assert d["maxSize"] == 268435456, "a refused update must change nothing"
    assert d.get("timeToLiveMillis") is None
    assert not (d.get("exportDefinition") or {}).get("kinesis")


def test_boundary_values_accepted(raw):
    """The other side of every limit above must be accepted."""
    defn = {
        "name": "b" * 255,
        "maxSize": 1024,
        "streamSegmentSize": 1024,
        "timeToLiveMillis": 60_000,
        "strategyOnFull": OVERWRITE_OLDEST_DATA,
        "persistence": PERSISTENCE_MEMORY,
        "flushOnWrite": False,
        "exportDefinition": {
            "kinesis": [kinesis(batchSize=500, batchIntervalMillis=60_000, priority=10, startSequenceNumber=0)],
            "iotAnalytics": [{"identifier": "a", "iotChannel": "c", "batchSize": 100, "priority": 1,
                              "disabled": True}],
            "IotSitewise": [{"identifier": "s", "batchSize": 10, "batchIntervalMillis": 9223372036854,
                             "disabled": True}],
            "s3TaskExecutor": [_s3(sizeThresholdForMultipartUploadBytes=5242880, priority=1)],
        },
    }
    resp = raw.create(defn)
    assert resp["status"] == ST_SUCCESS, resp
    d = raw.describe("b" * 255)["messageStreamInfo"]["definition"]
    assert d["maxSize"] == 1024 and d["streamSegmentSize"] == 1024 and d["timeToLiveMillis"] == 60_000
    assert d["exportDefinition"]["kinesis"][0]["batchSize"] == 500
    assert d["exportDefinition"]["IotSitewise"][0]["batchIntervalMillis"] == 9223372036854
    assert d["exportDefinition"]["s3TaskExecutor"][0]["sizeThresholdForMultipartUploadBytes"] == 5242880


def test_append_empty_payload_rejected(raw):
    raw.create(definition("e"))
    resp = raw.append("e", b"")
    assert resp["status"] == ST_INVALID_REQUEST
    assert "payload" in (resp.get("errorMessage") or "").lower()
    st = raw.describe("e")["messageStreamInfo"]["storageStatus"]
    assert st["newestSequenceNumber"] == st["oldestSequenceNumber"] - 1, "nothing may be written"
    assert raw.append("e", b"x")["sequenceNumber"] == 0


@pytest.mark.parametrize("body,field", [
    ({"name": "e"}, "payload"),
    ({"payload": b"x"}, "name"),
    ({"name": "e", "payload": "text, not bytes"}, None),
], ids=["payload-missing", "name-missing", "payload-wrong-type"])
def test_append_malformed(raw, body, field):
    raw.create(definition("e"))
    op, resp = raw.request(OP_APPEND, body)
    assert op == OP_APPEND_RESPONSE
    assert resp["status"] == ST_INVALID_REQUEST, resp
    if field is not None:
        assert field in (resp.get("errorMessage") or "").lower(), resp
    st = raw.describe("e")["messageStreamInfo"]["storageStatus"]
    assert st["newestSequenceNumber"] == st["oldestSequenceNumber"] - 1, "nothing may be written"


def test_read_min_count_zero_rejected(raw):
    raw.create(definition("r"))
    raw.append("r", b"x")
    resp = raw.read("r", {"minMessageCount": 0, "maxMessageCount": 1})
    assert resp["status"] == ST_INVALID_REQUEST
    assert "minmessagecount" in (resp.get("errorMessage") or "").lower()


@pytest.mark.parametrize("name", ["", "a/b", "../x", "..", "."])
def test_invalid_or_missing_name_on_other_ops(daemon, raw, name):
    """Invalid names are InvalidRequest (3); whether an op validates the name
    before looking the stream up is not pinned down, so 5 is accepted too.
    Either way nothing outside the store root may be touched."""
    outside = daemon.base_dir / "x"
    outside.mkdir()
    (outside / "stream.json").write_text('{"name": "x"}')
    for op, body, rop in (
        (OP_APPEND, {"name": name, "payload": b"x"}, OP_APPEND_RESPONSE),
        (OP_READ, {"streamName": name}, OP_READ_RESPONSE),
        (13, {"name": name}, 14),
        (3, {"name": name}, 8),
    ):
        got_op, resp = raw.request(op, body)
        assert got_op == rop
        if name in (".", ".."):  # valid names of streams that do not exist
            assert resp["status"] == 5, (op, resp)
        else:
            assert resp["status"] in (ST_INVALID_REQUEST, 5), (op, resp)
    assert (outside / "stream.json").exists()
    assert sorted(p.name for p in daemon.base_dir.iterdir()) == ["run", "store", "x"]
    assert raw.list_streams()["streams"] == []


# ---------------------------------------------------------------------------
# CBOR forms
# ---------------------------------------------------------------------------

def test_indefinite_length_maps_and_wide_integers(raw):
    rid = "indef-create"
    payload = cbor_encode({
        "requestId": rid,
        "definition": {
            "name": "indef",
            "maxSize": 1024 * 1024,
            "streamSegmentSize": 64 * 1024,
            "strategyOnFull": OVERWRITE_OLDEST_DATA,
            "persistence": PERSISTENCE_FILE,
            "flushOnWrite": True,
            "exportDefinition": {"kinesis": [kinesis(batchSize=7)], "IotSitewise": []},
        },
    })
    assert payload[0] == 0xBF and payload[-1] == 0xFF
    assert b"\x1b\x00\x00\x00\x00\x00\x10\x00\x00" in payload, "maxSize must be an 8-byte integer"
    op, resp = raw.request_bytes(OP_CREATE, payload, rid)
    assert op == OP_CREATE_RESPONSE and resp["status"] == ST_SUCCESS, resp

    d = raw.describe("indef")["messageStreamInfo"]["definition"]
    assert d["maxSize"] == 1024 * 1024 and d["streamSegmentSize"] == 64 * 1024
    assert d["strategyOnFull"] == OVERWRITE_OLDEST_DATA and d["flushOnWrite"] is True
    assert d["exportDefinition"]["kinesis"][0]["batchSize"] == 7

    for i in range(3):
        rid = "indef-append-%d" % i
        op, resp = raw.request_bytes(
            OP_APPEND, cbor_encode({"requestId": rid, "name": "indef", "payload": b"p%d" % i}), rid)
        assert op == OP_APPEND_RESPONSE and resp["status"] == ST_SUCCESS and resp["sequenceNumber"] == i

    rid = "indef-read"
    op, resp = raw.request_bytes(OP_READ, cbor_encode({
        "requestId": rid, "streamName": "indef",
        "readMessagesOptions": {"desiredStartSequenceNumber": 1, "minMessageCount": 2,
                                "maxMessageCount": 2, "readTimeoutMillis": 0}}), rid)
    assert op == OP_READ_RESPONSE and resp["status"] == ST_SUCCESS, resp
    assert [(m["sequenceNumber"], m["payload"]) for m in resp["messages"]] == [(1, b"p1"), (2, b"p2")]


def test_definite_maps_with_wide_integers(raw):
    rid = "wide"
    op, resp = raw.request_bytes(OP_CREATE, cbor_encode({
        "requestId": rid,
        "definition": {"name": "wide", "strategyOnFull": REJECT_NEW_DATA, "maxSize": 4096,
                       "streamSegmentSize": 1024}}, indefinite=False), rid)
    assert resp["status"] == ST_SUCCESS, resp
    d = raw.describe("wide")["messageStreamInfo"]["definition"]
    assert (d["maxSize"], d["streamSegmentSize"]) == (4096, 1024)


def test_unknown_keys_ignored(raw):
    resp = raw.create({"name": "extra", "strategyOnFull": REJECT_NEW_DATA, "someFutureField": {"a": [1, 2]},
                       "exportDefinition": {"kinesis": [kinesis(newKnob=3)], "somethingNew": []}},
                      request_id="extra-keys")
    assert resp["status"] == ST_SUCCESS, resp
    op, resp = raw.request(OP_APPEND, {"name": "extra", "payload": b"x", "priorityHint": 9, "tags": ["a"]})
    assert resp["status"] == ST_SUCCESS and resp["sequenceNumber"] == 0
    op, resp = raw.request(OP_LIST, {"pageToken": None, "verbose": True})
    assert resp["status"] == ST_SUCCESS and resp["streams"] == ["extra"]


@pytest.mark.parametrize("export_definition", [
    None,
    {},
    {"IotSitewise": []},
    {"http": [], "iotAnalytics": [], "kinesis": [], "IotSitewise": [], "s3TaskExecutor": []},
], ids=["absent", "empty-map", "IotSitewise-empty", "all-empty"])
def test_absent_and_empty_export_lists_equivalent(raw, export_definition):
    defn = definition("exp")
    if export_definition is not None:
        defn["exportDefinition"] = export_definition
    assert raw.create(defn)["status"] == ST_SUCCESS
    info = raw.describe("exp")["messageStreamInfo"]
    assert not info.get("exportStatuses"), info
    ed = info["definition"].get("exportDefinition") or {}
    assert all(not v for v in ed.values()), "no export configs expected, got %r" % (ed,)
    assert raw.append("exp", b"x")["sequenceNumber"] == 0


def test_iot_sitewise_wire_key_is_capitalised(raw):
    assert raw.create(definition("sw", exportDefinition={
        "IotSitewise": [{"identifier": "sw-1", "batchSize": 3, "disabled": True}]}))["status"] == ST_SUCCESS
    info = raw.describe("sw")["messageStreamInfo"]
    ed = info["definition"]["exportDefinition"]
    assert [c["identifier"] for c in ed["IotSitewise"]] == ["sw-1"]
    assert ed["IotSitewise"][0]["batchSize"] == 3
    assert "iotSitewise" not in ed
    assert [s["exportConfigIdentifier"] for s in info["exportStatuses"]] == ["sw-1"]


def test_response_cbor_is_plain(raw):
    """Responses must decode with cbor2 into plain maps with string keys (what all SDKs expect)."""
    raw.create(definition("plain"))
    raw.append("plain", b"\x00\xff")
    rid = new_request_id()
    raw.send_frame(OP_READ, {"requestId": rid, "streamName": "plain"})
    op, payload = raw.read_frame()
    msg = cbor2.loads(payload)
    assert isinstance(msg, dict) and all(isinstance(k, str) for k in msg)
    assert msg["requestId"] == rid and msg["status"] == 0
    m = msg["messages"][0]
    assert isinstance(m["payload"], bytes) and m["payload"] == b"\x00\xff"
    assert isinstance(m["ingestTime"], int) and isinstance(m["sequenceNumber"], int)


def test_second_connection_unaffected_by_first(daemon):
    a = daemon.raw()
    b = RawClient(daemon.port)
    daemon.raws.append(b)
    b.handshake()
    a.create(definition("two"))
    assert b.append("two", b"from b")["sequenceNumber"] == 0
    assert a.read("two")["messages"][0]["payload"] == b"from b"
