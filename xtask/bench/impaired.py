#!/usr/bin/env python3
"""P8 of `cargo xtask bench`: the daemon's exports over an impaired link.

The run makes a network namespace and a veth pair (addresses in 10.213.0.0/16, only inside
them), starts the destinations inside the namespace (an HTTP sink and a Kinesis endpoint that
count every record they get, and a TCP discard port for the reference transfer), and puts the
impairments on the link: `tc tbf` for the rate, nftables `numgen random` for packet loss, the
link down for an outage. This kernel has no `netem`, so the added round trip comes from a
delaying relay on the host (each direction's bytes held for half the round trip), which the
daemon's requests and the reference transfer both go through. Everything is removed at the end.

Measured, in one run (the figures are JSON on stdout, one object):
  (ref) a plain TCP transfer through the relay and the link: the link's goodput;
  (a)   an HTTP export (JSON_BATCHED, 500 per batch) of a backlog at 1 Mbit/s, 200 ms added
        round trip, 2% loss: its goodput (request bytes delivered per second) against (ref);
  (b)   an outage with appends going on: the time to drain the backlog after the link is back,
        against the time the link needs to carry it;
  (c)   50 ms added round trip, no rate limit, 30% of the calls answered 500, at the default
        retry settings: HTTP (batch 100) and Kinesis (batch 500) throughput against fault-free;
  (d)   records lost and duplicated, counted by the destinations.

Usage: impaired.py --binary PATH [--quick]      (as root; needs ip, tc and nft)
       impaired.py --serve PORT_BASE             (the destinations, run inside the namespace)
Without root, namespaces or the tools, prints {"skipped": "why"}.
"""

import argparse
import base64
import collections
import json
import os
import queue
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOST_IP, NS_IP = "10.213.%d.1", "10.213.%d.2"


# ---------------------------------------------------------------------------------------------
# the destinations (inside the namespace)
# ---------------------------------------------------------------------------------------------

class Counts:
    def __init__(self):
        self.lock = threading.Lock()
        self.seen = collections.defaultdict(collections.Counter)  # name -> seq -> times
        self.bytes = collections.Counter()                        # name -> request body bytes accepted
        self.last = {}                                            # name -> time of the last new record
        self.fail_rate = 0.0
        self.tcp_bytes = 0
        self.rng = random.Random(8)

    def stats(self):
        with self.lock:
            return {"tcp_bytes": self.tcp_bytes, "streams": {
                n: {"unique": len(c), "records": sum(c.values()), "bytes": self.bytes[n], "last": self.last.get(n, 0)}
                for n, c in self.seen.items()}}


class Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def answer(self, status, body=b""):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        c = self.server.counts
        if self.path.startswith("/ctl?fail="):
            with c.lock:
                c.fail_rate = float(self.path.split("=", 1)[1])
            return self.answer(200, b"{}")
        self.answer(200, json.dumps(c.stats()).encode())

    def do_POST(self):
        c = self.server.counts
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if (self.headers.get("X-Amz-Target") or "").endswith("ListShards"):
            # A map of 16 shards (no shard limits here): the link, not the pacing, is measured.
            width = 2 ** 128 // 16
            return self.answer(200, json.dumps({"Shards": [
                {"ShardId": "shardId-%012d" % i, "HashKeyRange": {
                    "StartingHashKey": str(i * width), "EndingHashKey": str((i + 1) * width - 1)},
                 "SequenceNumberRange": {"StartingSequenceNumber": "1"}} for i in range(16)]}).encode())
        with c.lock:
            fail = c.rng.random() < c.fail_rate
        if fail:
            return self.answer(500, b'{"__type":"InternalFailure","message":"injected"}')
        target = self.headers.get("X-Amz-Target") or ""
        if target.endswith("PutRecords"):
            doc = json.loads(body)
            name = "kinesis:" + doc["StreamName"]
            seqs = [int(base64.b64decode(r["Data"]).split(b":", 1)[0]) for r in doc["Records"]]
            reply = json.dumps({"FailedRecordCount": 0, "Records": [
                {"SequenceNumber": "1", "ShardId": "shardId-000000000000"} for _ in seqs]}).encode()
        else:
            name = "http:" + self.path
            seqs = [m["sequenceNumber"] for m in json.loads(body)]
            reply = b""
        now = time.monotonic()
        with c.lock:
            counter = c.seen[name]
            if any(s not in counter for s in seqs):
                c.last[name] = now
            counter.update(seqs)
            c.bytes[name] += len(body)
        self.answer(200, reply)


def discard(sock, counts):
    while True:
        conn, _ = sock.accept()

        def drain(conn=conn):
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                with counts.lock:
                    counts.tcp_bytes += len(data)
        threading.Thread(target=drain, daemon=True).start()


def serve(ip, base):
    counts = Counts()
    http = ThreadingHTTPServer((ip, base), Sink)
    http.counts = counts
    tcp = socket.create_server((ip, base + 1))
    threading.Thread(target=discard, args=(tcp, counts), daemon=True).start()
    print("ready", flush=True)
    http.serve_forever()


# ---------------------------------------------------------------------------------------------
# the link (host)
# ---------------------------------------------------------------------------------------------

def run(*args, check=True):
    r = subprocess.run(args, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(args), r.stderr.strip()))
    return r


class Link:
    """A namespace, a veth pair, and the impairments on it."""

    def __init__(self):
        self.n = random.randint(1, 250)
        self.ns = "smb8-%d" % os.getpid()
        self.host_if, self.ns_if = "smb8h%d" % self.n, "smb8n%d" % self.n
        self.host_ip, self.ns_ip = HOST_IP % self.n, NS_IP % self.n
        run("ip", "netns", "add", self.ns)
        try:
            run("ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if)
            run("ip", "link", "set", self.ns_if, "netns", self.ns)
            run("ip", "addr", "add", self.host_ip + "/30", "dev", self.host_if)
            run("ip", "link", "set", self.host_if, "up")
            self.ns_run("ip", "addr", "add", self.ns_ip + "/30", "dev", self.ns_if)
            self.ns_run("ip", "link", "set", self.ns_if, "up")
            self.ns_run("ip", "link", "set", "lo", "up")
        except Exception:
            self.remove()
            raise

    def ns_run(self, *args, check=True):
        return run("ip", "netns", "exec", self.ns, *args, check=check)

    def shape(self, rate_kbit, loss_percent):
        """Rate-limit both directions with tbf; drop loss_percent of the packets entering the
        namespace (the data direction) at random."""
        self.clear()
        for cmd in (["tc"], ["ip", "netns", "exec", self.ns, "tc"]):
            dev = self.host_if if cmd == ["tc"] else self.ns_if
            run(*cmd, "qdisc", "add", "dev", dev, "root", "tbf", "rate", "%dkbit" % rate_kbit,
                "burst", "32kbit", "latency", "400ms")
        if loss_percent:
            rules = ("table inet smb8 {\n chain in {\n  type filter hook input priority 0;\n"
                     "  numgen random mod 100 < %d drop\n }\n}\n" % loss_percent)
            r = subprocess.run(["ip", "netns", "exec", self.ns, "nft", "-f", "-"], input=rules,
                               capture_output=True, text=True)
            if r.returncode != 0:
                raise RuntimeError("nft: %s" % r.stderr.strip())

    def clear(self):
        run("tc", "qdisc", "del", "dev", self.host_if, "root", check=False)
        self.ns_run("tc", "qdisc", "del", "dev", self.ns_if, "root", check=False)
        self.ns_run("nft", "delete", "table", "inet", "smb8", check=False)

    def up(self, up):
        run("ip", "link", "set", self.host_if, "up" if up else "down")
        if up:
            run("ip", "addr", "replace", self.host_ip + "/30", "dev", self.host_if)

    def remove(self):
        run("ip", "link", "del", self.host_if, check=False)
        run("ip", "netns", "del", self.ns, check=False)


class Relay:
    """Holds each direction's bytes for half the round trip, then passes them on (a bounded
    queue per direction, so the sender is held back rather than buffered without end)."""

    def __init__(self, target):
        self.target = target
        self.rtt = 0.0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._connect, args=(conn,), daemon=True).start()

    def _connect(self, conn):
        try:
            up = socket.create_connection(self.target, timeout=5)
            up.settimeout(None)
        except OSError:
            conn.close()
            return
        for a, b in ((conn, up), (up, conn)):
            # Room for the bytes of half a round trip at a few MB/s, no more: the sender is
            # held back by the link, as it would be without the relay.
            q = queue.Queue(maxsize=8)
            threading.Thread(target=self._read, args=(a, q), daemon=True).start()
            threading.Thread(target=self._write, args=(b, q), daemon=True).start()

    def _read(self, s, q):
        try:
            while True:
                data = s.recv(16384)
                q.put((time.monotonic() + self.rtt / 2, data))
                if not data:
                    return
        except OSError:
            q.put((0, b""))

    @staticmethod
    def _write(s, q):
        try:
            while True:
                due, data = q.get()
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                if not data:
                    s.shutdown(socket.SHUT_WR)
                    return
                s.sendall(data)
        except OSError:
            pass


# ---------------------------------------------------------------------------------------------
# the daemon
# ---------------------------------------------------------------------------------------------

class Daemon:
    def __init__(self, binary, kinesis_port):
        self.dir = tempfile.mkdtemp(prefix="smb8-")
        port_file = os.path.join(self.dir, "port")
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("AWS_") and k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")}
        env.update(AWS_ACCESS_KEY_ID="AKIAP8BENCH", AWS_SECRET_ACCESS_KEY="p8-secret", AWS_REGION="us-east-1",
                   AWS_ENDPOINT_URL_KINESIS="http://127.0.0.1:%d" % kinesis_port, HOME=self.dir)
        self.log = open(os.path.join(self.dir, "log"), "w")
        self.proc = subprocess.Popen([binary, "--store-root", os.path.join(self.dir, "store"), "--port", "0",
                                      "--port-file", port_file], env=env, stderr=self.log)
        deadline = time.time() + 20
        while not os.path.exists(port_file):
            if time.time() > deadline or self.proc.poll() is not None:
                raise RuntimeError("the daemon did not start")
            time.sleep(0.05)
        from stream_manager import StreamManagerClient
        self.client = StreamManagerClient(port=int(open(port_file).read()))

    def stop(self):
        self.client.close()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.log.close()
        if os.environ.get("P8_KEEP_LOGS"):
            shutil.copy(os.path.join(self.dir, "log"), os.environ["P8_KEEP_LOGS"] + "-%d.log" % self.proc.pid)
        shutil.rmtree(self.dir, ignore_errors=True)


def definition(name, http_url=None, kinesis=None, batch=500, disabled=False):
    from stream_manager import (ExportDefinition, ExportFormat, HTTPConfig, KinesisConfig, MessageStreamDefinition,
                                StrategyOnFull)
    exports = ExportDefinition(
        http=[HTTPConfig(identifier="x", uri=http_url, export_format=ExportFormat.JSON_BATCHED, batch_size=batch,
                         disabled=disabled)] if http_url else [],
        kinesis=[KinesisConfig(identifier="x", kinesis_stream_name=kinesis, batch_size=batch,
                               disabled=disabled)] if kinesis else [])
    return MessageStreamDefinition(name=name, strategy_on_full=StrategyOnFull.RejectNewData, max_size=1 << 30,
                                   export_definition=exports)


def stats(link, base):
    r = link.ns_run("python3", "-c", "import urllib.request,sys;print(urllib.request.urlopen("
                    "'http://%s:%d/stats').read().decode())" % (link.ns_ip, base))
    return json.loads(r.stdout)


def control(link, base, fail):
    link.ns_run("python3", "-c", "import urllib.request;urllib.request.urlopen('http://%s:%d/ctl?fail=%s')" % (
        link.ns_ip, base, fail))


def wait_records(link, base, key, n, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s = stats(link, base)["streams"].get(key)
        if s and s["unique"] >= n:
            return s
        time.sleep(0.2)
    raise RuntimeError("%s: not all %d records arrived within %d s: %r" % (key, n, timeout, stats(link, base)))


def payload(seq, size):
    head = b"%d:" % seq
    return head + b"p" * max(0, size - len(head))


# ---------------------------------------------------------------------------------------------
# the measurements
# ---------------------------------------------------------------------------------------------

def reference(link, relay, base, seconds):
    before = stats(link, base)["tcp_bytes"]
    s = socket.create_connection(("127.0.0.1", relay.port))
    chunk = b"\0" * 65536
    end = time.monotonic() + seconds
    t0 = time.monotonic()
    s.settimeout(1.0)
    while time.monotonic() < end:
        try:
            s.send(chunk)
        except socket.timeout:
            pass
    moved = stats(link, base)["tcp_bytes"] - before
    elapsed = time.monotonic() - t0
    s.close()
    # What is still on its way must not share the link with the next measurement.
    last = -1
    while last != stats(link, base)["tcp_bytes"]:
        last = stats(link, base)["tcp_bytes"]
        time.sleep(0.5)
    return moved / elapsed


def backlog_run(binary, link, relay, base, name, n, size, timeout):
    """Append n messages with the export disabled, enable it, time the delivery."""
    d = Daemon(binary, relay.port)
    try:
        url = "http://127.0.0.1:%d/%s" % (relay.port, name)
        d.client.create_message_stream(definition(name, http_url=url, disabled=True))
        for i in range(n):
            d.client.append_message(name, payload(i, size))
        t0 = time.monotonic()
        d.client.update_message_stream(definition(name, http_url=url))
        s = wait_records(link, base, "http:/" + name, n, timeout)
        return time.monotonic() - t0, s
    finally:
        d.stop()


def outage_run(binary, link, relay, base, name, rate, size, warm, outage, timeout):
    """Appends at `rate` per second; the link goes down for `outage` seconds; time to catch up."""
    d = Daemon(binary, relay.port)
    sent = [0]
    stop = threading.Event()
    try:
        url = "http://127.0.0.1:%d/%s" % (relay.port, name)
        d.client.create_message_stream(definition(name, http_url=url))

        def feed():
            t0 = time.monotonic()
            while not stop.is_set():
                due = t0 + sent[0] / rate
                if time.monotonic() < due:
                    time.sleep(min(0.05, due - time.monotonic()))
                    continue
                d.client.append_message(name, payload(sent[0], size))
                sent[0] += 1
        feeder = threading.Thread(target=feed, daemon=True)
        feeder.start()
        time.sleep(warm)
        link.up(False)
        time.sleep(outage)
        link.up(True)
        t_up = time.monotonic()
        target = sent[0]
        got = stats(link, base)["streams"].get("http:/" + name)
        backlog = target - (got["unique"] if got else 0)
        wait_records(link, base, "http:/" + name, target, timeout)
        return time.monotonic() - t_up, backlog, target
    finally:
        stop.set()
        d.stop()


def fault_run(binary, link, relay, base, kind, n, size, batch, fail, timeout):
    control(link, base, fail)
    d = Daemon(binary, relay.port)
    name = "%s-%d" % (kind, int(fail * 100))
    try:
        url = "http://127.0.0.1:%d/%s" % (relay.port, name)
        spec = dict(http_url=url) if kind == "http" else dict(kinesis=name)
        d.client.create_message_stream(definition(name, batch=batch, disabled=True, **spec))
        for i in range(n):
            d.client.append_message(name, payload(i, size))
        t0 = time.monotonic()
        d.client.update_message_stream(definition(name, batch=batch, **spec))
        key = ("http:/" if kind == "http" else "kinesis:") + name
        s = wait_records(link, base, key, n, timeout)
        return time.monotonic() - t0, s
    finally:
        d.stop()
        control(link, base, 0.0)


def measure(binary, quick):
    out = {}
    link = Link()
    server = None
    try:
        base = 8080
        server = subprocess.Popen(["ip", "netns", "exec", link.ns, sys.executable, __file__, "--serve", link.ns_ip,
                                   str(base)], stdout=subprocess.PIPE, text=True)
        if server.stdout.readline().strip() != "ready":
            raise RuntimeError("the destinations did not start")
        http_relay = Relay((link.ns_ip, base))
        tcp_relay = Relay((link.ns_ip, base + 1))

        # (ref) and (a): 1 Mbit/s, 200 ms added round trip, 2% loss.
        link.shape(1000, 2)
        for r in (http_relay, tcp_relay):
            r.rtt = 0.2
        out["ref_bytes_per_s"] = reference(link, tcp_relay, base, 5 if quick else 20)
        n = 600 if quick else 6000
        secs, s = backlog_run(binary, link, http_relay, base, "a", n, 1000, 600)
        out["a"] = {"seconds": secs, "records": n, "bytes": s["bytes"], "bytes_per_s": s["bytes"] / secs,
                    "payload_bytes_per_s": n * 1000 / secs, "dups": s["records"] - s["unique"]}

        # (b): the same link; appends go on through an outage.
        rate, size = 20, 1000
        outage = 10 if quick else 600
        drain, backlog, total = outage_run(binary, link, http_relay, base, "b", rate, size, 5 if quick else 10,
                                           outage, 600 if quick else 1800)
        bytes_per_record = out["a"]["bytes"] / n
        link_seconds = backlog * bytes_per_record / max(1.0, out["ref_bytes_per_s"] - rate * bytes_per_record)
        s = stats(link, base)["streams"]["http:/b"]
        out["b"] = {"outage_s": outage, "backlog": backlog, "drain_s": drain, "link_s": link_seconds,
                    "records": total, "dups": s["records"] - s["unique"]}

        # (c): no rate limit, 50 ms added round trip, 30% of the calls answered 500.
        link.clear()
        for r in (http_relay, tcp_relay):
            r.rtt = 0.05
        out["c"] = {}
        for kind, n, batch in (("http", 3000 if quick else 20000, 100), ("kinesis", 5000 if quick else 50000, 500)):
            clean, s0 = fault_run(binary, link, http_relay, base, kind, n, 200, batch, 0.0, 600)
            flaky, s1 = fault_run(binary, link, http_relay, base, kind, n, 200, batch, 0.3, 1200)
            out["c"][kind] = {"records": n, "clean_s": clean, "flaky_s": flaky, "ratio": clean / flaky,
                              "dups": (s0["records"] - s0["unique"]) + (s1["records"] - s1["unique"])}

        # (d): the destinations' counts.
        final = stats(link, base)["streams"]
        out["d"] = {k: {"unique": v["unique"], "duplicates": v["records"] - v["unique"]} for k, v in final.items()}
        return out
    finally:
        if server is not None:
            server.kill()
        link.remove()


def preflight():
    if os.geteuid() != 0:
        return "not root: network namespaces need CAP_NET_ADMIN"
    for tool in ("ip", "tc"):
        if shutil.which(tool) is None:
            return "%s is missing (Debian's iproute2)" % tool
    if shutil.which("nft") is None:
        r = subprocess.run(["apt-get", "install", "-y", "-qq", "nftables"], capture_output=True, text=True)
        if shutil.which("nft") is None:
            return "nft is missing and could not be installed (Debian's nftables): %s" % r.stderr.strip()[-200:]
    probe = "smb8-probe-%d" % os.getpid()
    r = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if r.returncode != 0:
        return "cannot make a network namespace: %s" % r.stderr.strip()
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--binary")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--serve", nargs=2, metavar=("IP", "PORT"))
    a = p.parse_args()
    if a.serve:
        serve(a.serve[0], int(a.serve[1]))
        return
    why = preflight()
    if why:
        print(json.dumps({"skipped": why}))
        return
    print(json.dumps(measure(a.binary, a.quick)))


if __name__ == "__main__":
    main()
