"""A minimal raw client for the stream manager wire protocol (reference.md §1).

Used by the end-to-end tests to send what the official SDK never sends:
invalid values its own validation would stop, unknown operations, duplicate
request ids, hand-built CBOR (indefinite-length maps, 8-byte integers),
oversize length prefixes and plain garbage.

Wire format: the client first sends one connect-version byte (0x01), then
frames ``int32 BE (len(payload) + 1) | op byte | CBOR payload``.  The server
answers the version byte with its own version byte followed by a
ConnectResponse frame (op 6).
"""

import socket
import struct
import time
import uuid

import cbor2

CONNECT_VERSION = 1

# Operation codes (reference.md §1.3)
OP_UNKNOWN = 0
OP_CONNECT = 1
OP_CREATE = 2
OP_DELETE = 3
OP_APPEND = 4
OP_READ = 5
OP_CONNECT_RESPONSE = 6
OP_CREATE_RESPONSE = 7
OP_DELETE_RESPONSE = 8
OP_APPEND_RESPONSE = 9
OP_READ_RESPONSE = 10
OP_LIST = 11
OP_LIST_RESPONSE = 12
OP_DESCRIBE = 13
OP_DESCRIBE_RESPONSE = 14
OP_UPDATE = 15
OP_UPDATE_RESPONSE = 16
OP_UNKNOWN_OPERATION_ERROR = 17

RESPONSE_OP = {
    OP_CREATE: OP_CREATE_RESPONSE,
    OP_DELETE: OP_DELETE_RESPONSE,
    OP_APPEND: OP_APPEND_RESPONSE,
    OP_READ: OP_READ_RESPONSE,
    OP_LIST: OP_LIST_RESPONSE,
    OP_DESCRIBE: OP_DESCRIBE_RESPONSE,
    OP_UPDATE: OP_UPDATE_RESPONSE,
}

# ResponseStatusCode (reference.md §1.6)
ST_SUCCESS = 0
ST_UNKNOWN_FAILURE = 1
ST_UNAUTHORIZED = 2
ST_INVALID_REQUEST = 3
ST_REQUEST_PAYLOAD_TOO_LARGE = 4
ST_RESOURCE_NOT_FOUND = 5
ST_UNSUPPORTED_PROTOCOL_VERSION = 10
ST_NOT_ENOUGH_MESSAGES = 13
ST_UPDATE_NOT_ALLOWED = 17
ST_UNKNOWN_OPERATION = 18

# Enum values on the wire
REJECT_NEW_DATA = 0
OVERWRITE_OLDEST_DATA = 1
PERSISTENCE_FILE = 0
PERSISTENCE_MEMORY = 1


class ConnectionClosed(Exception):
    """The server closed (or reset) the connection."""


def new_request_id():
    return str(uuid.uuid4())


def encode_frame(op, payload):
    """Frame ``payload`` (bytes, or a dict that is CBOR-encoded) with operation ``op``."""
    if isinstance(payload, dict):
        payload = cbor2.dumps(payload)
    return struct.pack(">iB", len(payload) + 1, op & 0xFF) + payload


# ---------------------------------------------------------------------------
# Hand-built CBOR: cbor2 always emits definite lengths and the shortest integer
# encoding; Jackson (the Java SDK) emits indefinite-length maps, so the server
# must accept those and any integer width.
# ---------------------------------------------------------------------------

def _head(major, value, wide=False):
    if wide:
        return bytes([(major << 5) | 27]) + value.to_bytes(8, "big")
    if value < 24:
        return bytes([(major << 5) | value])
    if value < 1 << 8:
        return bytes([(major << 5) | 24, value])
    if value < 1 << 16:
        return bytes([(major << 5) | 25]) + value.to_bytes(2, "big")
    if value < 1 << 32:
        return bytes([(major << 5) | 26]) + value.to_bytes(4, "big")
    return bytes([(major << 5) | 27]) + value.to_bytes(8, "big")


def cbor_encode(obj, indefinite=True, wide_ints=True):
    """Encode ``obj`` as CBOR with indefinite-length maps/arrays and 8-byte integers.

    Supports dict (string keys), list, str, bytes, bool, None and int.
    """
    if obj is None:
        return b"\xf6"
    if obj is True:
        return b"\xf5"
    if obj is False:
        return b"\xf4"
    if isinstance(obj, int):
        if obj >= 0:
            return _head(0, obj, wide=wide_ints)
        return _head(1, -1 - obj, wide=wide_ints)
    if isinstance(obj, str):
        data = obj.encode("utf-8")
        return _head(3, len(data)) + data
    if isinstance(obj, (bytes, bytearray)):
        return _head(2, len(obj)) + bytes(obj)
    if isinstance(obj, (list, tuple)):
        body = b"".join(cbor_encode(v, indefinite, wide_ints) for v in obj)
        if indefinite:
            return b"\x9f" + body + b"\xff"
        return _head(4, len(obj)) + body
    if isinstance(obj, dict):
        body = b"".join(
            cbor_encode(k, indefinite, wide_ints) + cbor_encode(v, indefinite, wide_ints)
            for k, v in obj.items()
        )
        if indefinite:
            return b"\xbf" + body + b"\xff"
        return _head(5, len(obj)) + body
    raise TypeError("cannot encode %r" % (type(obj),))


class RawClient:
    """One TCP connection speaking raw frames.

    Responses that arrive for other request ids while waiting for one are kept
    and handed out later, so several requests can be in flight at once.
    """

    def __init__(self, port, host="127.0.0.1", timeout=10.0):
        self.timeout = timeout
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buf = bytearray()
        self._pending = []  # list of (op, dict) not yet claimed
        self.connect_response = None

    # -- low level ---------------------------------------------------------
    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send_raw(self, data):
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError) as e:
            raise ConnectionClosed(str(e))

    def send_frame(self, op, payload):
        self.send_raw(encode_frame(op, payload))

    def _recv_exact(self, n, deadline):
        while len(self._buf) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise socket.timeout("timed out waiting for %d bytes (have %d)" % (n, len(self._buf)))
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(max(65536, n - len(self._buf)))
            except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError) as e:
                raise ConnectionClosed(str(e))
            if not chunk:
                raise ConnectionClosed("EOF after %d of %d bytes" % (len(self._buf), n))
            self._buf.extend(chunk)
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def read_byte(self, timeout=None):
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        return self._recv_exact(1, deadline)[0]

    def read_frame(self, timeout=None):
        """Read one frame; returns ``(op, payload_bytes)``."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        (length,) = struct.unpack(">i", self._recv_exact(4, deadline))
        assert length >= 1, "server sent a frame with length %d" % length
        op = self._recv_exact(1, deadline)[0]
        payload = self._recv_exact(length - 1, deadline)
        return op, payload

    def read_message(self, timeout=None):
        """Read one frame and decode its CBOR payload; returns ``(op, dict)``."""
        op, payload = self.read_frame(timeout)
        return op, cbor2.loads(payload)

    def read_response(self, request_id, timeout=None):
        """Return ``(op, dict)`` of the next response carrying ``request_id``."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            for i, (op, msg) in enumerate(self._pending):
                if isinstance(msg, dict) and msg.get("requestId") == request_id:
                    del self._pending[i]
                    return op, msg
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise socket.timeout("no response for requestId %r" % (request_id,))
            self._pending.append(self.read_message(remaining))

    def wait_closed_or_frame(self, timeout=5.0):
        """Wait for the server to either close the connection or send a frame.

        Returns ``("closed", None)`` or ``("frame", (op, payload_bytes))``.
        Raises ``socket.timeout`` if neither happens in time (the server hangs).
        """
        try:
            return "frame", self.read_frame(timeout)
        except ConnectionClosed:
            return "closed", None

    # -- protocol ----------------------------------------------------------
    def handshake(self, protocol_version="1.1.0", other_versions=("1.0.0",), auth_token=None,
                  request_id=None, sdk_version="1.1.2"):
        """Send version byte + ConnectRequest; return the decoded ConnectResponse dict.

        Asserts that the server answered with version byte 1 and op 6.
        """
        req = {"requestId": request_id or new_request_id(), "protocolVersion": protocol_version}
        if other_versions is not None:
            req["otherSupportedProtocolVersions"] = list(other_versions)
        if sdk_version is not None:
            req["sdkVersion"] = sdk_version
        if auth_token is not None:
            req["authToken"] = auth_token
        self.send_raw(bytes([CONNECT_VERSION]) + encode_frame(OP_CONNECT, req))
        version = self.read_byte()
        assert version == CONNECT_VERSION, "server connect version byte is %d, expected 1" % version
        op, resp = self.read_message()
        assert op == OP_CONNECT_RESPONSE, "expected ConnectResponse (op 6), got op %d: %r" % (op, resp)
        self.connect_response = resp
        return resp

    def request(self, op, body, request_id=None, timeout=None):
        """Send ``body`` (a dict; requestId added if missing) and return ``(op, dict)``."""
        body = dict(body)
        if request_id is not None:
            body["requestId"] = request_id
        body.setdefault("requestId", new_request_id())
        self.send_frame(op, body)
        return self.read_response(body["requestId"], timeout)

    def request_bytes(self, op, payload, request_id, timeout=None):
        """Send pre-encoded CBOR ``payload`` and wait for the response to ``request_id``."""
        self.send_frame(op, payload)
        return self.read_response(request_id, timeout)

    # -- convenience wrappers (return the response dict) --------------------
    def create(self, definition, **kw):
        op, resp = self.request(OP_CREATE, {"definition": definition}, **kw)
        assert op == OP_CREATE_RESPONSE, (op, resp)
        return resp

    def update(self, definition, **kw):
        op, resp = self.request(OP_UPDATE, {"definition": definition}, **kw)
        assert op == OP_UPDATE_RESPONSE, (op, resp)
        return resp

    def delete(self, name, **kw):
        op, resp = self.request(OP_DELETE, {"name": name}, **kw)
        assert op == OP_DELETE_RESPONSE, (op, resp)
        return resp

    def describe(self, name, **kw):
        op, resp = self.request(OP_DESCRIBE, {"name": name}, **kw)
        assert op == OP_DESCRIBE_RESPONSE, (op, resp)
        return resp

    def append(self, name, payload, **kw):
        op, resp = self.request(OP_APPEND, {"name": name, "payload": payload}, **kw)
        assert op == OP_APPEND_RESPONSE, (op, resp)
        return resp

    def read(self, stream_name, options=None, **kw):
        body = {"streamName": stream_name}
        if options is not None:
            body["readMessagesOptions"] = options
        op, resp = self.request(OP_READ, body, **kw)
        assert op == OP_READ_RESPONSE, (op, resp)
        return resp

    def list_streams(self, **kw):
        op, resp = self.request(OP_LIST, {}, **kw)
        assert op == OP_LIST_RESPONSE, (op, resp)
        return resp
