"""Kill -9 fault injection against the real binary (`cargo xtask crash --cycles N`).

Each cycle starts the daemon on the same store, checks the crash-consistency contract of
ARCHITECTURE.md against everything acknowledged so far, runs concurrent appenders (raw
protocol, one connection each) on a flushOnWrite stream and a buffered one for a random
time, and SIGKILLs the daemon in the middle of it.  Every ``--power-loss-every`` cycles the
killed store is also copied and damaged the way a power loss can (the buffered stream's last
segment cut anywhere or given garbage; the flushOnWrite stream's cut only after its last
acknowledged record, since that one was fsynced), and a second daemon must recover the copy
to a gap-free prefix.

Checks, per stream, after every restart:
* every acknowledged append is readable with its exact payload (kill -9 loses nothing, with
  or without flushOnWrite);
* sequence numbers are contiguous from 0; every payload served is well-formed (it carries its
  own checksum), so no corrupt record is served; an unacknowledged append may or may not be
  there;
* the next append continues after the newest message.

Prints the counts and exits 1 if anything acknowledged was lost or anything corrupt served.
"""

import argparse
import hashlib
import os
import random
import shutil
import signal
import struct
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from conftest import Daemon  # noqa: E402
from rawclient import RawClient  # noqa: E402

STREAMS = {"flush": True, "buffered": False}
WRITERS_PER_STREAM = 4
SEGMENT = 64 * 1024
RECORD_HEADER = 24
SEGMENT_HEADER = 16


def make_payload(stream, writer, cycle, i, rnd):
    body = b"%s|%d|%d|%d|" % (stream.encode(), writer, cycle, i) + rnd.randbytes(rnd.randint(1, 300))
    return body + hashlib.blake2b(body, digest_size=8).digest()


def well_formed(payload):
    return len(payload) > 8 and hashlib.blake2b(payload[:-8], digest_size=8).digest() == payload[-8:]


class Model:
    def __init__(self):
        self.acked = {s: {} for s in STREAMS}  # seq -> payload
        self.verified = {s: 0 for s in STREAMS}  # seqs below are checked
        self.lock = threading.Lock()
        self.counts = {"acked": 0, "recovered": 0, "lost": 0, "corrupt": 0, "unacked_kept": 0}


def read_range(raw, stream, start, end):
    """Messages start..end-1 (fewer if the stream ends earlier)."""
    out = []
    while start < end:
        resp = raw.read(stream, {"desiredStartSequenceNumber": start, "minMessageCount": 1,
                                 "maxMessageCount": min(end - start, 5000), "readTimeoutMillis": 0},
                        timeout=30)
        if resp["status"] != 0:
            break
        msgs = resp["messages"]
        if not msgs:
            break
        out.extend(msgs)
        start = msgs[-1]["sequenceNumber"] + 1
    return out


def verify(daemon, model, label, prefix_only=False):
    """Checks the contract on a running daemon; returns a list of problems."""
    problems = []
    raw = daemon.raw(timeout=30)
    for stream, flush in STREAMS.items():
        info = raw.describe(stream)
        assert info["status"] == 0, info
        st = info["messageStreamInfo"]["storageStatus"]
        oldest, newest = st["oldestSequenceNumber"], st["newestSequenceNumber"]
        acked = model.acked[stream]
        top = max(acked) + 1 if acked else 0
        must_have = top if (flush or not prefix_only) else 0
        if oldest != 0:
            problems.append("%s %s: oldest is %d, not 0" % (label, stream, oldest))
        if newest + 1 < must_have:
            problems.append("%s %s: newest %d but %d acknowledged" % (label, stream, newest, top))
        # Power loss damages only the last segment: re-read the records before it too, but
        # not the whole history (older segments were checked on earlier cycles).
        start = max(0, model.verified[stream] - 5000) if prefix_only else model.verified[stream]
        msgs = read_range(raw, stream, start, newest + 1)
        seen = set()
        for k, m in enumerate(msgs):
            seq, payload = m["sequenceNumber"], m["payload"]
            seen.add(seq)
            if seq != start + k:
                problems.append("%s %s: gap before %d" % (label, stream, seq))
                model.counts["corrupt"] += 1
                break
            if not well_formed(payload):
                problems.append("%s %s: corrupt payload at %d" % (label, stream, seq))
                model.counts["corrupt"] += 1
            elif seq in acked and acked[seq] != payload:
                problems.append("%s %s: seq %d holds another payload" % (label, stream, seq))
                model.counts["lost"] += 1
            elif seq not in acked:
                model.counts["unacked_kept"] += 1
        lost = [s for s in acked if s >= start and s not in seen and (s < must_have)]
        if lost:
            problems.append("%s %s: %d acknowledged lost (first %d)" % (label, stream, len(lost), min(lost)))
            model.counts["lost"] += len(lost)
        if not prefix_only:
            model.counts["recovered"] += len([s for s in acked if s >= start and s in seen])
            # Unacknowledged records that survived become part of the history.
            for m in msgs:
                acked.setdefault(m["sequenceNumber"], m["payload"])
            model.verified[stream] = newest + 1
        nxt = raw.append(stream, make_payload(stream, 99, -1, newest + 1, random.Random(newest)))
        if nxt.get("sequenceNumber") != newest + 1:
            problems.append("%s %s: next append got %r, expected %d" % (label, stream, nxt, newest + 1))
        elif not prefix_only:
            acked[newest + 1] = make_payload(stream, 99, -1, newest + 1, random.Random(newest))
            model.verified[stream] = newest + 2
    raw.close()
    return problems


def writer(port, stream, w, cycle, model, stop, seed):
    rnd = random.Random(seed)
    try:
        raw = RawClient(port, timeout=10)
        raw.handshake()
    except Exception:  # noqa: BLE001 - the daemon may already be gone
        return
    i = 0
    while not stop.is_set():
        p = make_payload(stream, w, cycle, i, rnd)
        try:
            resp = raw.append(stream, p)
        except Exception:  # noqa: BLE001 - killed mid-request: not acknowledged
            break
        if resp.get("status") == 0:
            with model.lock:
                model.acked[stream][resp["sequenceNumber"]] = p
                model.counts["acked"] += 1
        i += 1
    raw.close()


def records(path):
    """(seq, start, end) of the good records of a segment file."""
    data = Path(path).read_bytes()
    out, at = [], SEGMENT_HEADER
    while at + RECORD_HEADER <= len(data):
        length, _crc, seq = struct.unpack_from("<IIQ", data, at)
        end = at + RECORD_HEADER + length
        if length == 0 or end > len(data):
            break
        out.append((seq, at, end))
        at = end
    return out


def stream_folder(root, name):
    for d in Path(root).iterdir():
        j = d / "stream.json"
        if j.exists() and ('"name": "%s"' % name) in j.read_text():
            return d
    raise AssertionError("no folder for %s" % name)


def power_loss(binary, store, model, rnd, workdir, cycle):
    """Damage a copy of the killed store like a power loss, recover it, check a prefix."""
    base = Path(workdir) / ("power-%d" % cycle)
    shutil.copytree(store, base / "store")
    for stream, flush in STREAMS.items():
        segs = sorted(stream_folder(base / "store", stream).glob("*.log"))
        if not segs:
            continue
        last = segs[-1]
        size = last.stat().st_size
        floor = SEGMENT_HEADER
        if flush:
            acked = model.acked[stream]
            for seq, _start, end in records(last):
                if seq in acked:
                    floor = max(floor, end)
        cut = rnd.randint(min(floor, size), size)
        with open(last, "r+b") as f:
            f.truncate(cut)
            if rnd.random() < 0.5:
                f.seek(cut)
                f.write(rnd.randbytes(rnd.randint(1, 200)))
    d = Daemon(binary, base, label="power-loss")
    try:
        d.start()
        return verify(d, model, "power-loss cycle %d" % cycle, prefix_only=True)
    finally:
        d.shutdown()
        shutil.rmtree(base, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", required=True)
    ap.add_argument("--cycles", type=int, default=50)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--power-loss-every", type=int, default=5)
    ap.add_argument("--max-run", type=float, default=0.8, help="longest appending phase, s")
    ap.add_argument("--max-minutes", type=float, default=None,
                    help="stop (and report) after this long, whatever --cycles says")
    args = ap.parse_args()
    # A SIGTERM (e.g. from `timeout`) still reports what was checked so far.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rnd = random.Random(seed)
    print("crash: seed %d, %d cycles" % (seed, args.cycles), flush=True)
    workdir = tempfile.mkdtemp(prefix="sm-crash-")
    model = Model()
    problems = []
    restart_ms = []
    t_start = time.monotonic()
    d = Daemon(args.binary, Path(workdir) / "main", label="crash")
    cycle = -1
    try:
        d.start()
        raw = d.raw()
        for name, flush in STREAMS.items():
            resp = raw.create({"name": name, "maxSize": 1 << 40, "streamSegmentSize": SEGMENT,
                               "strategyOnFull": 1, "persistence": 0, "flushOnWrite": flush})
            assert resp["status"] == 0, resp
        raw.close()
        for cycle in range(args.cycles):
            stop = threading.Event()
            threads = [threading.Thread(target=writer, args=(d.port, s, w, cycle, model, stop, rnd.random()),
                                        daemon=True)
                       for s in STREAMS for w in range(WRITERS_PER_STREAM)]
            for t in threads:
                t.start()
            time.sleep(rnd.uniform(0.05, args.max_run))
            d.proc.send_signal(signal.SIGKILL)
            d.proc.wait(10)
            stop.set()
            for t in threads:
                t.join(30)
            if args.power_loss_every and cycle % args.power_loss_every == args.power_loss_every - 1:
                problems += power_loss(args.binary, d.store_root, model, rnd, workdir, cycle)
            t0 = time.monotonic()
            d.start()
            restart_ms.append((time.monotonic() - t0) * 1000)
            problems += verify(d, model, "cycle %d" % cycle)
            if problems:
                break
            if cycle % 50 == 49:
                report(model, cycle, restart_ms, t_start, seed, "progress")
            if args.max_minutes and time.monotonic() - t_start > args.max_minutes * 60:
                print("crash: stopping after %.1f minutes (--max-minutes)" % args.max_minutes, flush=True)
                break
    finally:
        d.shutdown()
        if not problems:
            shutil.rmtree(workdir, ignore_errors=True)
        report(model, cycle, restart_ms, t_start, seed, "done")
        for p in problems[:20]:
            print("crash: PROBLEM: " + p, flush=True)
    if problems:
        print("crash: store kept in %s" % workdir, flush=True)
        sys.exit(1)


def report(model, cycle, restart_ms, t_start, seed, what):
    c = model.counts
    ms = sorted(restart_ms)
    print("crash: %s: cycles=%d acked=%d recovered=%d lost=%d corrupt=%d unacked_kept=%d "
          "restart_ms_median=%.0f restart_ms_max=%.0f seconds=%.0f seed=%d"
          % (what, cycle + 1, c["acked"], c["recovered"], c["lost"], c["corrupt"], c["unacked_kept"],
             ms[len(ms) // 2] if ms else 0, max(ms or [0]), time.monotonic() - t_start, seed),
          flush=True)


if __name__ == "__main__":
    main()
