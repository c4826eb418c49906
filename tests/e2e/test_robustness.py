"""Hostile or broken connections must not hang the server or disturb other
clients: oversize frames (status 4), absurd length prefixes, garbage instead
of the version byte, undecodable CBOR, silent and half-open connections."""

import asyncio
import os
import socket
import struct
import threading
import time

import cbor2
import pytest
from stream_manager import MessageStreamDefinition, ReadMessagesOptions, StrategyOnFull
from stream_manager.data import ResponseStatusCode
from stream_manager.exceptions import RequestPayloadTooLargeException

from rawclient import (
    OP_APPEND,
    OP_APPEND_RESPONSE,
    OP_CREATE,
    OP_READ,
    ST_REQUEST_PAYLOAD_TOO_LARGE,
    ST_SUCCESS,
    ConnectionClosed,
    RawClient,
    encode_frame,
)

MIB = 1024 * 1024


def make(client, name):
    client.create_message_stream(MessageStreamDefinition(name=name, strategy_on_full=StrategyOnFull.RejectNewData))


def check_working(daemon, client, name, expect_next):
    """The already-connected SDK client still works, and so does a brand-new one."""
    assert client.append_message(name, b"still here %d" % expect_next) == expect_next
    fresh = daemon.client(request_timeout=10)
    msgs = fresh.read_messages(name, ReadMessagesOptions(desired_start_sequence_number=expect_next))
    assert msgs[0].payload == b"still here %d" % expect_next
    assert name in fresh.list_streams()


def closed_or_answered(r, timeout=10.0):
    """('closed', None) or ('frame', (op, payload)); fails if the server just hangs."""
    try:
        return r.wait_closed_or_frame(timeout)
    except socket.timeout:
        pytest.fail("server neither answered nor closed the connection within %.0f s" % timeout)


@pytest.fixture
def small_frames(daemon_factory):
    return daemon_factory(extra_args=["--max-frame-bytes", str(MIB)], label="small-frames")


def test_oversize_frame_with_body(small_frames):
    d = small_frames
    c = d.client()
    make(c, "s")
    assert c.append_message("s", b"a" * (MIB // 2)) == 0, "a frame below --max-frame-bytes is fine"

    r = d.raw()
    rid = "too-big"
    body = cbor2.dumps({"requestId": rid, "name": "s", "payload": b"b" * (2 * MIB)})
    t0 = time.monotonic()
    try:
        r.send_raw(encode_frame(OP_APPEND, body))
    except (ConnectionClosed, socket.timeout):
        pass  # the server may close without reading the body
    kind, frame = closed_or_answered(r, timeout=10)
    assert time.monotonic() - t0 < 10
    if kind == "frame":
        op, payload = frame
        resp = cbor2.loads(payload)
        assert op == OP_APPEND_RESPONSE, (op, resp)
        assert resp["status"] == ST_REQUEST_PAYLOAD_TOO_LARGE, resp
        if resp.get("requestId"):
            assert resp["requestId"] == rid
        # if the server kept the connection, it must have skipped the body and still serve it
        try:
            assert r.list_streams()["status"] == ST_SUCCESS
        except (ConnectionClosed, socket.timeout):
            pass
    # nothing was appended, and new and existing connections work
    assert c.describe_message_stream("s").storage_status.newest_sequence_number == 0
    check_working(d, c, "s", 1)


def test_oversize_append_through_sdk(small_frames):
    """The SDK sees status 4 as RequestPayloadTooLargeException when the server
    answers (closing instead is allowed: the SDK then times out and reconnects)."""
    d = small_frames
    c = d.client(request_timeout=10)
    make(c, "s")
    try:
        c.append_message("s", os.urandom(2 * MIB))
        pytest.fail("a 2 MiB append to a server with --max-frame-bytes 1 MiB succeeded")
    except RequestPayloadTooLargeException as e:
        assert e.status == ResponseStatusCode.RequestPayloadTooLarge
    except (asyncio.TimeoutError, ConnectionError):
        pass
    # the same client keeps working (same connection if it was kept, else after reconnecting)
    assert c.append_message("s", b"small") == 0
    assert c.read_messages("s")[0].payload == b"small"


def test_oversize_length_prefix_without_body(small_frames):
    d = small_frames
    c = d.client()
    make(c, "s")
    r = d.raw()
    r.send_raw(struct.pack(">iB", 2 * MIB, OP_APPEND))
    kind, frame = closed_or_answered(r)
    if kind == "frame":
        op, payload = frame
        assert op == OP_APPEND_RESPONSE
        assert cbor2.loads(payload)["status"] == ST_REQUEST_PAYLOAD_TOO_LARGE
    check_working(d, c, "s", 0)


@pytest.mark.parametrize("length", [0x7FFFFFFF, -1, -0x80000000], ids=["2GiB", "minus-1", "int-min"])
def test_absurd_length_prefix(daemon, length):
    c = daemon.client()
    make(c, "s")
    r = daemon.raw()
    r.send_raw(struct.pack(">iB", length, OP_APPEND))
    closed_or_answered(r)
    check_working(daemon, c, "s", 0)


def test_absurd_length_prefix_before_handshake_completes(daemon):
    c = daemon.client()
    make(c, "s")
    r = RawClient(daemon.port)
    daemon.raws.append(r)
    r.send_raw(b"\x01" + struct.pack(">iB", 0x7FFFFFFF, 1))
    closed_or_answered(r)
    check_working(daemon, c, "s", 0)


@pytest.mark.parametrize("garbage", [
    b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
    b"\x00",
    b"\x02" + b"\x00" * 64,
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 100,  # TLS ClientHello-ish
], ids=["http", "zero-byte", "version-2", "tls"])
def test_garbage_instead_of_version_byte(daemon, garbage):
    c = daemon.client()
    make(c, "s")
    r = RawClient(daemon.port)
    daemon.raws.append(r)
    try:
        r.send_raw(garbage)
    except ConnectionClosed:
        pass
    try:
        r.wait_closed_or_frame(2.0)
    except socket.timeout:
        pass  # leaving the connection open is allowed, as long as nobody else notices
    check_working(daemon, c, "s", 0)


@pytest.mark.parametrize("payload", [
    b"\xff\xfe\xfd\xfc",
    cbor2.dumps({"requestId": "trunc", "definition": {"name": "zz", "strategyOnFull": 0}})[:-4],
    cbor2.dumps([1, 2, 3]),
    cbor2.dumps("just a string"),
    b"",
    b"\xbf\x69requestId",  # unterminated indefinite map
], ids=["junk", "truncated", "array", "string", "empty", "unterminated-indefinite"])
def test_undecodable_cbor_after_handshake(daemon, payload):
    c = daemon.client()
    make(c, "s")
    r = daemon.raw()
    r.send_frame(OP_CREATE, payload)
    kind, frame = closed_or_answered(r)
    if kind == "frame":
        op, body = frame
        resp = cbor2.loads(body)
        assert resp.get("status") not in (None, ST_SUCCESS), "undecodable request answered with success: %r" % resp
    assert "zz" not in c.list_streams()
    check_working(daemon, c, "s", 0)


def test_silent_and_half_open_connections(daemon):
    c = daemon.client(request_timeout=10)
    make(c, "s")
    socks = []
    try:
        for _ in range(30):  # connect and say nothing
            socks.append(socket.create_connection(("127.0.0.1", daemon.port), timeout=5))
        s = socket.create_connection(("127.0.0.1", daemon.port), timeout=5)
        s.sendall(b"\x01")  # only the version byte
        socks.append(s)
        s = socket.create_connection(("127.0.0.1", daemon.port), timeout=5)
        s.sendall(b"\x01" + encode_frame(1, {"requestId": "c", "protocolVersion": "1.1.0"})[:7])  # half a frame
        socks.append(s)
        r = daemon.raw()
        r.send_raw(struct.pack(">iB", 100, OP_APPEND) + b"\xa1")  # half a request after a good handshake

        t0 = time.monotonic()
        for i in range(20):
            assert c.append_message("s", b"m%d" % i) == i
        fresh = daemon.client(request_timeout=10)
        assert len(fresh.read_messages("s", ReadMessagesOptions(min_message_count=20, max_message_count=20))) == 20
        assert time.monotonic() - t0 < 5.0
    finally:
        for s in socks:
            s.close()
    check_working(daemon, c, "s", 20)


def test_client_vanishes_with_pending_long_poll(daemon):
    c = daemon.client()
    make(c, "s")
    for k in range(5):
        r = daemon.raw()
        r.send_frame(OP_READ, {"requestId": "gone-%d" % k, "streamName": "s",
                               "readMessagesOptions": {"minMessageCount": 1, "maxMessageCount": 1,
                                                       "readTimeoutMillis": 3000}})
        time.sleep(0.05)
        r.sock.shutdown(socket.SHUT_RDWR)
        r.close()
    time.sleep(0.2)
    # waking the readers of dead connections must not hurt anyone
    for i in range(3):
        assert c.append_message("s", b"x%d" % i) == i
    time.sleep(3.5)  # let the dead reads time out too
    check_working(daemon, c, "s", 3)
    assert daemon.alive()


def test_client_disconnects_mid_request_stream(daemon):
    """Many requests pipelined and the socket closed without reading the answers."""
    c = daemon.client()
    make(c, "s")
    r = daemon.raw()
    r.send_raw(b"".join(encode_frame(OP_APPEND, {"requestId": "p%d" % i, "name": "s", "payload": b"%d" % i})
                        for i in range(500)))
    r.close()
    # the server may have processed any subset of them; wait until it settles
    prev, deadline = None, time.monotonic() + 5
    while True:
        n = c.describe_message_stream("s").storage_status.newest_sequence_number + 1
        if n == prev or time.monotonic() > deadline:
            break
        prev = n
        time.sleep(0.3)
    assert 0 <= n <= 500
    if n:
        msgs = c.read_messages("s", ReadMessagesOptions(min_message_count=n, max_message_count=n))
        got = [m.payload for m in msgs]
        assert len(set(got)) == n and set(got) <= {b"%d" % i for i in range(500)}, "each request at most once"
    check_working(daemon, c, "s", n)


def test_many_connections_opening_and_closing(daemon):
    c = daemon.client()
    make(c, "s")
    errors = []

    def churn():
        try:
            for _ in range(25):
                r = RawClient(daemon.port, timeout=5)
                try:
                    assert r.handshake()["status"] == ST_SUCCESS
                    assert r.list_streams()["status"] == ST_SUCCESS
                finally:
                    r.close()
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=churn) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors[:3]
    check_working(daemon, c, "s", 0)
