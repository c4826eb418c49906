"""P9 of `cargo xtask bench`: a Kinesis export fed at 3x its stream's capacity.

The destination is the end-to-end suite's ``FakeAws`` (``tests/e2e/awsfakes.py``) with one
stream of 2 shards and Kinesis's per-shard write limits enforced (1,000 records and 1 MiB a
second per shard, a token bucket holding a second's worth; a record over its shard's budget
fails on its own with ``ProvisionedThroughputExceededException``; records go to the shard of
their ``ExplicitHashKey``, or of the MD5 of their partition key). It checks every request's
SigV4 signature and shape as in the suite.

Two cases, each with a fresh daemon at its default settings: ``ListShards`` allowed (the
daemon paces by the shard map) and refused with ``AccessDeniedException`` (it paces from the
throttling answers). ``sm-bench feed`` appends 100 B records at 6,000 a second (3x the
stream's 2,000) for the run; the figures are the records the stream accepted per second over
the whole feed (the start included) and over its second half, and the share of the records
sent that a shard refused. Prints one JSON object.
"""

import argparse
import collections
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from awsfakes import FakeAws  # noqa: E402
from impaired import Daemon, definition  # noqa: E402

KEY, SECRET = "AKIAP8BENCH", "p8-secret"   # the keys impaired.Daemon gives the daemon
SHARDS = 2
CAPACITY = SHARDS * 1000.0
FEED_RATE = 3 * CAPACITY
SIZE = 100


def window(reqs, t0, t1):
    """Records sent, accepted and refused by a shard in PutRecords calls that arrived in [t0, t1)."""
    sent = accepted = 0
    for r in reqs:
        if t0 <= r.time < t1:
            sent += len(r.records)
            accepted += sum(r.accepted)
    return sent, accepted


def run_case(binary, sm_bench, allowed, seconds):
    fake = FakeAws()
    daemon = None
    try:
        fake.add_key(KEY, SECRET)
        fake.add_kinesis_stream("paced", shards=SHARDS)
        fake.configure_kinesis(shard_limits=True, list_shards_allowed=allowed)
        daemon = Daemon(binary, fake.port)
        daemon.client.create_message_stream(definition("feed", kinesis="paced", batch=None))
        port = open(os.path.join(daemon.dir, "port")).read().strip()
        t0 = time.monotonic()
        out = subprocess.run([sm_bench, "feed", "--port", port, "--stream", "feed", "--rate", str(FEED_RATE),
                              "--seconds", str(seconds), "--size", str(SIZE)],
                             capture_output=True, text=True, timeout=seconds + 120)
        t1 = time.monotonic()
        if out.returncode != 0:
            raise RuntimeError("sm-bench feed failed: %s" % out.stderr.strip()[-500:])
        fed = json.loads(out.stdout.strip().splitlines()[-1])
        reqs = fake.kinesis_requests()
        sent, accepted = window(reqs, t0, t1)
        half = t0 + (t1 - t0) / 2
        sent2, accepted2 = window(reqs, half, t1)
        with fake._lock:
            per_shard = collections.Counter(r.shard for r in fake.kinesis.accepted.get("paced", []))
            throttled = sum(1 for r in reqs if t0 <= r.time < t1 for ok in r.accepted if not ok)
            lists = collections.Counter(c.outcome for c in fake.kinesis.list_calls)
        return {
            "fed": fed["acked"] / (t1 - t0),
            "seconds": t1 - t0,
            "rate": accepted / (t1 - t0),
            "rate_second_half": accepted2 / (t1 - half),
            "sent": sent,
            "accepted": accepted,
            "throttled": throttled,
            "throttled_share": throttled / max(1, sent),
            "throttled_share_second_half": (sent2 - accepted2) / max(1, sent2),
            "calls": sum(1 for r in reqs if t0 <= r.time < t1),
            "per_shard": [per_shard[k] for k in sorted(per_shard)],
            "list_shards": dict(lists),
            "protocol_errors": fake.protocol_errors[:3],
        }
    finally:
        if daemon is not None:
            daemon.stop()
        fake.stop()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--binary", required=True)
    p.add_argument("--sm-bench", required=True)
    p.add_argument("--quick", action="store_true")
    a = p.parse_args()
    seconds = 10 if a.quick else 60
    out = {"capacity": CAPACITY, "feed_rate": FEED_RATE, "size": SIZE, "seconds": seconds, "cases": {}}
    for name, allowed in (("listshards", True), ("adaptive", False)):
        out["cases"][name] = run_case(a.binary, a.sm_bench, allowed, seconds)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
