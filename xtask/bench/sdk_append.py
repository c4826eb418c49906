"""P1 of `cargo xtask bench`: the official Python SDK appending synchronously.

One StreamManagerClient, one File stream (flushOnWrite false unless --flush 1, 1 GiB max,
16 MiB segments, OverwriteOldestData), then `append_message` of 512-byte payloads in a loop for a fixed time,
as AWS's own stream manager benchmark does. Prints `RESULT <appends> <seconds>`.
Run by xtask against the daemon and against sm-bench's no-op server (the client's ceiling),
and for P7's W1 and W2 rows of the official SDK.
"""

import argparse
import time

from stream_manager import (
    MessageStreamDefinition,
    Persistence,
    ResourceNotFoundException,
    StrategyOnFull,
    StreamManagerClient,
)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--flush", type=int, default=0, help="1: a flushOnWrite stream (P7's W1)")
    a = p.parse_args()
    client = StreamManagerClient(host="127.0.0.1", port=a.port, connect_timeout=10, request_timeout=60)
    name = "p1"
    # A later round against the same server starts from a fresh stream.
    try:
        client.delete_message_stream(name)
    except ResourceNotFoundException:
        pass
    client.create_message_stream(MessageStreamDefinition(
        name=name,
        max_size=1 << 30,
        stream_segment_size=16 << 20,
        strategy_on_full=StrategyOnFull.OverwriteOldestData,
        persistence=Persistence.File,
        flush_on_write=bool(a.flush),
    ))
    payload = b"x" * a.size
    for _ in range(a.warmup):
        client.append_message(name, payload)
    n = 0
    start = time.perf_counter()
    deadline = start + a.seconds
    while True:
        # Check the clock every 64 appends: the loop is what is measured, not the clock.
        for _ in range(64):
            client.append_message(name, payload)
        n += 64
        if time.perf_counter() >= deadline:
            break
    elapsed = time.perf_counter() - start
    client.close()
    print("RESULT %d %.6f" % (n, elapsed), flush=True)


if __name__ == "__main__":
    main()
