"""A fake Greengrass nucleus IPC server for the end-to-end tests.

It speaks the eventstream-RPC protocol on a Unix socket, written here from the eventstream
specification (prelude = total length, headers length, CRC-32 of those 8 bytes; typed headers;
payload; CRC-32 of everything before it) and the Greengrass IPC model:

* CONNECT (``:message-type`` 4) must carry ``:version`` ``0.1.0`` and the JSON payload
  ``{"authToken": SVCUID}``; it is answered with CONNECT_ACK (5), with the CONNECTION_ACCEPTED
  flag (1) when the token is the component's (and ``reject_connect`` is off), else without it,
  and the connection is closed;
* requests are APPLICATION_MESSAGEs (0) on new stream ids increasing by one, with the
  ``operation`` and ``service-model-type`` headers and a JSON body; answers carry the
  TERMINATE_STREAM flag (2): the response shape, or an APPLICATION_ERROR (1) with a modeled
  error (``aws.greengrass#InvalidTokenError`` ...).

The four operations the stream manager uses are served and recorded: UpdateState,
UpdateConfiguration (merged into ``config``), PutComponentMetric (checked like the nucleus
does: names of 1..32 bytes, values >= 0, a unit), ValidateAuthorizationToken (``valid_tokens``).
Anything against the protocol is recorded in ``protocol_errors``.

It runs its own asyncio loop in a thread; the tests talk to it through thread-safe methods.
"""

import asyncio
import json
import os
import socket
import struct
import tempfile
import threading
import time
import zlib

APPLICATION_MESSAGE, APPLICATION_ERROR, PING, PING_RESPONSE, CONNECT, CONNECT_ACK, PROTOCOL_ERROR = range(7)
FLAG_ACCEPTED = 1
FLAG_TERMINATE = 2
INT32, STRING = 4, 7
MAX_FRAME = 16 * 1024 * 1024

OPS = {
    "aws.greengrass#UpdateState": ("aws.greengrass#UpdateStateRequest", "aws.greengrass#UpdateStateResponse"),
    "aws.greengrass#UpdateConfiguration": ("aws.greengrass#UpdateConfigurationRequest",
                                           "aws.greengrass#UpdateConfigurationResponse"),
    "aws.greengrass#PutComponentMetric": ("aws.greengrass#PutComponentMetricRequest",
                                          "aws.greengrass#PutComponentMetricResponse"),
    "aws.greengrass#ValidateAuthorizationToken": ("aws.greengrass#ValidateAuthorizationTokenRequest",
                                                  "aws.greengrass#ValidateAuthorizationTokenResponse"),
}


class FrameError(Exception):
    pass


def crc(data):
    return zlib.crc32(data) & 0xFFFFFFFF


def encode_frame(headers, payload=b""):
    """``headers``: list of (name, value) with int values as int32 and str values as strings."""
    h = b""
    for name, value in headers:
        n = name.encode()
        h += bytes([len(n)]) + n
        if isinstance(value, int):
            h += bytes([INT32]) + struct.pack(">i", value)
        else:
            v = value.encode()
            h += bytes([STRING]) + struct.pack(">H", len(v)) + v
    total = 12 + len(h) + len(payload) + 4
    prelude = struct.pack(">II", total, len(h))
    out = prelude + struct.pack(">I", crc(prelude)) + h + payload
    return out + struct.pack(">I", crc(out))


def rpc_frame(message_type, flags, stream_id, headers=(), payload=b""):
    return encode_frame(list(headers) + [(":message-type", message_type), (":message-flags", flags),
                                         (":stream-id", stream_id)], payload)


def decode_headers(data):
    """Every header, of every eventstream type, as {name: value}."""
    out = {}
    i = 0
    while i < len(data):
        n = data[i]
        name = data[i + 1:i + 1 + n].decode()
        i += 1 + n
        t = data[i]
        i += 1
        if t in (0, 1):
            value = t == 0
        elif t == 2:
            value = struct.unpack(">b", data[i:i + 1])[0]
            i += 1
        elif t == 3:
            value = struct.unpack(">h", data[i:i + 2])[0]
            i += 2
        elif t == 4:
            value = struct.unpack(">i", data[i:i + 4])[0]
            i += 4
        elif t in (5, 8):
            value = struct.unpack(">q", data[i:i + 8])[0]
            i += 8
        elif t in (6, 7):
            ln = struct.unpack(">H", data[i:i + 2])[0]
            raw = data[i + 2:i + 2 + ln]
            value = raw.decode() if t == 7 else raw
            i += 2 + ln
        elif t == 9:
            value = data[i:i + 16]
            i += 16
        else:
            raise FrameError("unknown header type %d" % t)
        out[name] = value
    if i != len(data):
        raise FrameError("headers overrun")
    return out


async def read_frame(reader):
    prelude = await reader.readexactly(12)
    total, hlen, pcrc = struct.unpack(">III", prelude)
    if crc(prelude[:8]) != pcrc:
        raise FrameError("prelude CRC")
    if not 16 <= total <= MAX_FRAME or hlen > total - 16:
        raise FrameError("lengths %d/%d" % (total, hlen))
    rest = await reader.readexactly(total - 12)
    body, mcrc = rest[:-4], struct.unpack(">I", rest[-4:])[0]
    if crc(prelude + body) != mcrc:
        raise FrameError("message CRC")
    return decode_headers(body[:hlen]), body[hlen:]


class FakeNucleus:
    def __init__(self, svcuid="svcuid-of-stream-manager", valid_tokens=()):
        self.svcuid = svcuid
        self.dir = tempfile.mkdtemp(prefix="ggn-")  # short: Unix socket paths are <= 107 bytes
        self.socket_path = os.path.join(self.dir, "ipc.socket")
        self._lock = threading.Lock()
        self.valid_tokens = set(valid_tokens)
        self.reject_connect = False
        self.connects = []         # authToken of every CONNECT
        self.accepted = 0          # connections accepted
        self.requests = []         # (monotonic time, operation, parsed body)
        self.config = {}           # the component configuration, as merged
        self.states = []           # UpdateState states
        self.metric_reports = []   # [metrics] of each PutComponentMetric
        self.validations = []      # tokens asked about
        self.running_probe = None  # (port in config, TCP connect to it worked) when RUNNING came
        self.protocol_errors = []
        self._writers = set()
        self._loop = asyncio.new_event_loop()
        self._server = None
        started = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(started,), name="fake-nucleus", daemon=True)
        self._thread.start()
        started.wait(10)

    # -- control -------------------------------------------------------------------
    def env(self):
        """The variables the nucleus sets for the component."""
        return {"AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT": self.socket_path, "SVCUID": self.svcuid}

    def drop_connections(self):
        """Close every open connection (the daemon must reconnect)."""
        def close_all():
            for w in list(self._writers):
                w.close()
        self._loop.call_soon_threadsafe(close_all)

    def snapshot(self, attr):
        with self._lock:
            v = getattr(self, attr)
            return list(v) if isinstance(v, list) else (dict(v) if isinstance(v, dict) else v)

    def ops(self):
        return [op for _, op, _ in self.snapshot("requests")]

    def stop(self):
        async def shutdown():
            if self._server:
                self._server.close()
            for w in list(self._writers):
                w.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        try:
            asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(5)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
        try:
            os.unlink(self.socket_path)
        except OSError:
            pass
        try:
            os.rmdir(self.dir)
        except OSError:
            pass

    # -- server --------------------------------------------------------------------
    def _run(self, started):
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(asyncio.start_unix_server(self._serve, path=self.socket_path))
        started.set()
        self._loop.run_forever()

    def _error(self, msg):
        with self._lock:
            self.protocol_errors.append(msg)

    async def _serve(self, reader, writer):
        self._writers.add(writer)
        try:
            await self._connection(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except FrameError as e:
            self._error("bad frame from the client: %s" % e)
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _connection(self, reader, writer):
        headers, payload = await read_frame(reader)
        if headers.get(":message-type") != CONNECT or headers.get(":stream-id", 0) != 0:
            self._error("first message is not CONNECT: %r" % headers)
            return
        if headers.get(":version") != "0.1.0":
            self._error("CONNECT :version is %r" % headers.get(":version"))
        try:
            token = json.loads(payload)["authToken"]
        except (ValueError, KeyError, TypeError):
            self._error("CONNECT payload %r" % payload)
            token = None
        with self._lock:
            self.connects.append(token)
            ok = token == self.svcuid and not self.reject_connect
            if ok:
                self.accepted += 1
        writer.write(rpc_frame(CONNECT_ACK, FLAG_ACCEPTED if ok else 0, 0))
        await writer.drain()
        if not ok:
            return
        last_stream = 0
        while True:
            headers, payload = await read_frame(reader)
            mtype, sid = headers.get(":message-type"), headers.get(":stream-id", 0)
            if mtype == PING:
                writer.write(rpc_frame(PING_RESPONSE, 0, 0, payload=payload))
                continue
            if mtype != APPLICATION_MESSAGE or sid <= 0:
                self._error("unexpected message %r" % headers)
                writer.write(rpc_frame(PROTOCOL_ERROR, 0, 0, payload=b"unexpected message"))
                return
            if sid != last_stream + 1:
                self._error("stream id %d after %d (must increase by one)" % (sid, last_stream))
            last_stream = max(last_stream, sid)
            writer.write(self._answer(sid, headers, payload))
            await writer.drain()

    def _answer(self, sid, headers, payload):
        op = headers.get("operation")
        json_headers = [(":content-type", "application/json")]
        if op not in OPS:
            return rpc_frame(APPLICATION_ERROR, FLAG_TERMINATE, sid, [(":content-type", "text/plain")],
                             b"Unsupported operation")
        req_type, resp_type = OPS[op]
        if headers.get("service-model-type") != req_type:
            self._error("%s with service-model-type %r" % (op, headers.get("service-model-type")))
        if headers.get(":content-type") != "application/json":
            self._error("%s with :content-type %r" % (op, headers.get(":content-type")))
        try:
            body = json.loads(payload)
        except ValueError:
            self._error("%s body is not JSON: %r" % (op, payload))
            body = {}

        def error(shape, message):
            return rpc_frame(APPLICATION_ERROR, FLAG_TERMINATE, sid,
                             json_headers + [("service-model-type", "aws.greengrass#" + shape)],
                             json.dumps({"message": message}).encode())

        def ok(resp=None):
            return rpc_frame(APPLICATION_MESSAGE, FLAG_TERMINATE, sid,
                             json_headers + [("service-model-type", resp_type)],
                             json.dumps(resp or {}).encode())

        with self._lock:
            self.requests.append((time.monotonic(), op, body))
        short = op.split("#")[1]
        if short == "UpdateState":
            if body.get("state") not in ("RUNNING", "ERRORED"):
                return error("InvalidArgumentsError", "state %r" % body.get("state"))
            probe = None
            if body["state"] == "RUNNING":
                port = self.config.get("port")
                probe = (port, _tcp_connects(port))
            with self._lock:
                self.states.append(body["state"])
                if probe is not None and self.running_probe is None:
                    self.running_probe = probe
            return ok()
        if short == "UpdateConfiguration":
            key_path, ts, value = body.get("keyPath", []), body.get("timestamp"), body.get("valueToMerge")
            if not isinstance(ts, (int, float)) or not isinstance(value, dict) or not isinstance(key_path, list):
                return error("InvalidArgumentsError", "timestamp and valueToMerge are required")
            if abs(ts - time.time()) > 300:
                self._error("UpdateConfiguration timestamp %r is not epoch seconds of now" % ts)
            with self._lock:
                node = self.config
                for k in key_path:
                    node = node.setdefault(k, {})
                node.update(value)
            return ok()
        if short == "PutComponentMetric":
            metrics = body.get("metrics")
            if not metrics:
                return error("InvalidArgumentsError", "Null or Empty list of metrics found in PutComponentMetricRequest")
            for m in metrics:
                name, value = m.get("name") or "", m.get("value")
                if not name or len(name.encode()) > 32 or not m.get("unit") or not isinstance(value, (int, float)) \
                        or value < 0:
                    return error("InvalidArgumentsError", "Invalid argument found in PutComponentMetricRequest")
            with self._lock:
                self.metric_reports.append(metrics)
            return ok()
        # ValidateAuthorizationToken
        token = body.get("token")
        with self._lock:
            self.validations.append(token)
            valid = token in self.valid_tokens
        if not valid:
            return error("InvalidTokenError", "Invalid token used by stream manager when trying to authorize")
        return ok({"isValid": True})


def _tcp_connects(port):
    try:
        with socket.create_connection(("127.0.0.1", int(port)), timeout=2):
            return True
    except (OSError, TypeError, ValueError):
        return False
