"""A real proxy server for the proxy tests: ``pproxy`` (PyPI, pinned in requirements.txt).

``PProxy`` runs ``pproxy -l http://127.0.0.1:PORT#USER:PASSWORD --auth 0 -v`` (or
``http+ssl://`` with ``--ssl CERT,KEY`` for an HTTPS proxy) as a process of its own:

* it requires Basic proxy authentication with that user and password (``--auth 0``: every
  request is checked; without it pproxy remembers an authenticated address for 30 days) and
  answers 407 otherwise (logged as ``Unauthorized HTTP from ...``);
* it tunnels CONNECT requests and forwards absolute-form ``http://`` requests; ``-v`` logs
  each proxied connection as ``http <client> -> <target host>:<port>``, which
  ``connections_to(port)`` counts;
* ``stall()``/``resume()`` stop and continue the process (SIGSTOP/SIGCONT: connections hang),
  ``kill()``/``start()`` reset every connection and listen again on the same port.

Processes are SIGKILLed on teardown.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from awsfakes import AWS_FAKES_KEY


def _pproxy_binary():
    return str(Path(sys.executable).parent / "pproxy")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PProxy:
    def __init__(self, log_dir, user=None, password=None, tls=None):
        self.user, self.password, self.tls = user, password, tls
        self.port = _free_port()
        self.scheme = "https" if tls else "http"
        self.log_path = Path(log_dir) / ("pproxy-%d.log" % self.port)
        self.proc = None
        self._log = None

    def url(self, user=None, password=None):
        """The proxy URL, with the given (or its own) credentials percent-encoded."""
        from urllib.parse import quote

        user = self.user if user is None else user
        password = self.password if password is None else password
        auth = "%s:%s@" % (quote(user, safe=""), quote(password, safe="")) if user is not None else ""
        return "%s://%s127.0.0.1:%d" % (self.scheme, auth, self.port)

    def start(self, timeout=15.0):
        listen = "%s://127.0.0.1:%d" % ("http+ssl" if self.tls else "http", self.port)
        if self.user is not None:
            listen += "#%s:%s" % (self.user, self.password)
        cmd = [_pproxy_binary(), "-l", listen, "--auth", "0", "-v"]
        if self.tls:
            cmd += ["--ssl", "%s,%s" % tuple(map(str, self.tls))]
        self._log = open(self.log_path, "ab")
        env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
        env["PYTHONUNBUFFERED"] = "1"
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
                                     env=env)
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return self
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("pproxy did not start (exit code %s):\n%s" % (self.proc.poll(), self.log()))
                time.sleep(0.05)

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def connections_to(self, port):
        """Proxied connections (CONNECT tunnels or forwarded requests) to 127.0.0.1:``port``."""
        return len(re.findall(r"-> 127\.0\.0\.1:%d\b" % port, self.log()))

    def unauthorized(self):
        return self.log().count("Unauthorized")

    def stall(self):
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self):
        self.proc.send_signal(signal.SIGCONT)

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(10)
        if self._log:
            self._log.close()
            self._log = None

    def summary(self):
        return "pproxy at %s (running=%s), log tail:\n%s" % (
            self.url(user=None) if self.user is None else self.url("<user>", "<password>"),
            self.proc is not None and self.proc.poll() is None, self.log()[-3000:])


@pytest.fixture
def pproxy(request, tmp_path):
    """``make(user=None, password=None, tls=None)`` -> a started PProxy (killed on teardown)."""
    made = []

    def make(user=None, password=None, tls=None):
        p = PProxy(tmp_path, user, password, tls).start()
        made.append(p)
        request.node.stash.setdefault(AWS_FAKES_KEY, []).append(p)
        return p

    yield make
    for p in made:
        p.kill()
