"""A destination that answers badly, on purpose (``test_export_defaults.py``).

``BadPeer`` listens on 127.0.0.1 (port 0) and answers every request by the first path segment
of its request line (an AWS call is answered by the peer's ``aws_mode`` instead, since its path
is the service's):

* ``garbage``: bytes that are not HTTP, then the connection is closed;
* ``huge``: ``200`` announcing a body of 5 GB and sending zeros as fast as the socket takes them
  (until the client goes away);
* ``html``: ``200 OK`` with ``Content-Type: text/html`` and a web page (a captive portal);
* ``trickle``: a status line sent one byte a second, never finished;
* ``silent``: reads the request and never answers, holding the connection open.

It counts the connections per mode (``connections(mode)``) and the bytes it managed to send
(``sent(mode)``).
"""

import collections
import socket
import threading
import time


class BadPeer:
    def __init__(self, aws_mode="garbage"):
        self.aws_mode = aws_mode
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self.port = self._sock.getsockname()[1]
        self._lock = threading.Lock()
        self._conns = collections.Counter()
        self._sent = collections.Counter()
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True, name="bad-peer").start()

    def url(self, mode):
        return "http://127.0.0.1:%d/%s" % (self.port, mode)

    @property
    def endpoint(self):
        return "http://127.0.0.1:%d" % self.port

    def connections(self, mode):
        with self._lock:
            return self._conns[mode]

    def sent(self, mode):
        with self._lock:
            return self._sent[mode]

    def stop(self):
        self._stop.set()
        self._sock.close()

    def _accept(self):
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        try:
            head = b""
            while b"\r\n" not in head:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                head += chunk
            path = head.split(b" ", 2)[1].decode(errors="replace")
            first = path.lstrip("/").split("/", 1)[0].split("?", 1)[0]
            mode = first if first in ("garbage", "huge", "html", "trickle", "silent") else self.aws_mode
            with self._lock:
                self._conns[mode] += 1
            getattr(self, "_" + mode)(conn, mode)
        except OSError:
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def _count(self, mode, n):
        with self._lock:
            self._sent[mode] += n

    def _garbage(self, conn, mode):
        data = bytes(range(256)) * 4
        conn.sendall(data)
        self._count(mode, len(data))

    def _huge(self, conn, mode):
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5000000000\r\n\r\n")
        zeros = b"0" * 65536
        while not self._stop.is_set():
            conn.sendall(zeros)
            self._count(mode, len(zeros))

    def _html(self, conn, mode):
        body = b"<html><body><h1>Welcome to the hotel Wi-Fi</h1><form>log in</form></body></html>"
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        self._count(mode, len(body))

    def _trickle(self, conn, mode):
        for b in b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n":
            if self._stop.wait(1.0):
                return
            conn.sendall(bytes([b]))
            self._count(mode, 1)

    def _silent(self, conn, mode):
        conn.settimeout(1.0)
        while not self._stop.is_set():
            try:
                if not conn.recv(4096):
                    return
            except socket.timeout:
                continue


class ResettingRelay:
    """A TCP relay to ``target_port`` on 127.0.0.1 that resets its first ``resets`` connections
    once they have sent something (a link that breaks in the middle of a request), and relays
    every later one both ways."""

    def __init__(self, target_port, resets):
        self.target_port = target_port
        self._left = resets
        self._lock = threading.Lock()
        self.reset_count = 0
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self.port = self._sock.getsockname()[1]
        self.endpoint = "http://127.0.0.1:%d" % self.port
        threading.Thread(target=self._accept, daemon=True, name="relay").start()

    def stop(self):
        self._sock.close()

    def _accept(self):
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        with self._lock:
            reset = self._left > 0
            self._left -= 1 if reset else 0
        if reset:
            try:
                conn.recv(1024)
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            finally:
                conn.close()
                with self._lock:
                    self.reset_count += 1
            return
        up = socket.create_connection(("127.0.0.1", self.target_port))
        for a, b in ((conn, up), (up, conn)):
            threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a, b):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
