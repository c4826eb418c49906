"""One client shared by many threads (scenario 4) and many clients on one
stream (scenario 5)."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from stream_manager import MessageStreamDefinition, ReadMessagesOptions, StrategyOnFull
from stream_manager.exceptions import NotEnoughMessagesException


def make(client, name, **kw):
    kw.setdefault("strategy_on_full", StrategyOnFull.RejectNewData)
    client.create_message_stream(MessageStreamDefinition(name=name, **kw))


def read_all(client, name, count):
    msgs = client.read_messages(name, ReadMessagesOptions(
        desired_start_sequence_number=0, min_message_count=count, max_message_count=count))
    assert len(msgs) == count
    return msgs


def check_appends(client, name, results, expected_total):
    """results: list of (seq, payload). Sequence numbers unique and contiguous
    0..N-1, and each number holds exactly the payload its append got."""
    seqs = sorted(s for s, _ in results)
    assert len(results) == expected_total
    assert seqs == list(range(expected_total)), "sequence numbers must be unique and contiguous"
    by_seq = dict(results)
    msgs = read_all(client, name, expected_total)
    for m in msgs:
        assert m.payload == by_seq[m.sequence_number], "seq %d holds the wrong payload" % m.sequence_number
    assert client.describe_message_stream(name).storage_status.newest_sequence_number == expected_total - 1


def test_shared_client_many_threads(client):
    threads, per_thread = 8, 200
    make(client, "shared")

    def worker(t):
        out = []
        for i in range(per_thread):
            payload = b"t%02d-i%03d-" % (t, i) + bytes([t, i % 256]) * 10
            out.append((client.append_message("shared", payload), payload))
        return out

    with ThreadPoolExecutor(threads) as ex:
        per = list(ex.map(worker, range(threads), timeout=120))
    for out in per:
        own = [s for s, _ in out]
        assert own == sorted(own), "one thread's sequential appends must get increasing numbers"
    check_appends(client, "shared", [r for out in per for r in out], threads * per_thread)


def test_pending_long_poll_does_not_delay_appends_on_same_client(client):
    make(client, "lp-target")
    make(client, "busy")
    read_result = {}

    def long_poll():
        t0 = time.monotonic()
        try:
            read_result["value"] = client.read_messages("lp-target", ReadMessagesOptions(
                min_message_count=100_000, max_message_count=100_000, read_timeout_millis=5000))
        except Exception as e:  # noqa: BLE001
            read_result["error"] = e
        read_result["elapsed"] = time.monotonic() - t0

    reader = threading.Thread(target=long_poll, daemon=True)
    reader.start()
    time.sleep(0.3)

    latencies = []
    lock = threading.Lock()

    def appender(t):
        for i in range(50):
            t0 = time.monotonic()
            client.append_message("busy" if i % 2 else "lp-target", b"%d-%d" % (t, i))
            with lock:
                latencies.append(time.monotonic() - t0)

    t_start = time.monotonic()
    with ThreadPoolExecutor(4) as ex:
        list(ex.map(appender, range(4), timeout=60))
    appends_took = time.monotonic() - t_start
    assert reader.is_alive(), "the long-poll read must still be pending (it needs 100000 messages)"
    assert len(latencies) == 200
    assert max(latencies) < 1.0, "an append waited %.2f s behind the pending read" % max(latencies)
    assert appends_took < 4.0

    reader.join(15)
    assert not reader.is_alive(), "long-poll read never came back"
    assert isinstance(read_result.get("error"), NotEnoughMessagesException), read_result
    assert 5.0 - 0.02 <= read_result["elapsed"] <= 7.0


def test_long_poll_on_shared_client_woken_by_same_client(client):
    make(client, "self-wake")
    box = {}

    def reader():
        t0 = time.monotonic()
        box["msgs"] = client.read_messages("self-wake", ReadMessagesOptions(
            min_message_count=5, max_message_count=5, read_timeout_millis=10_000))
        box["elapsed"] = time.monotonic() - t0

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    time.sleep(0.3)
    for i in range(5):
        client.append_message("self-wake", b"m%d" % i)
    t.join(12)
    assert not t.is_alive()
    assert [m.payload for m in box["msgs"]] == [b"m%d" % i for i in range(5)]
    assert box["elapsed"] < 3.0


def test_many_clients_one_stream(daemon):
    n_clients, per_client = 6, 100
    setup = daemon.client()
    make(setup, "crowd")
    clients = [daemon.client() for _ in range(n_clients)]

    def worker(k):
        c = clients[k]
        out = []
        for i in range(per_client):
            payload = b"c%d-%d" % (k, i)
            out.append((c.append_message("crowd", payload), payload))
        return out

    with ThreadPoolExecutor(n_clients) as ex:
        per = list(ex.map(worker, range(n_clients), timeout=120))
    check_appends(setup, "crowd", [r for out in per for r in out], n_clients * per_client)


def test_many_clients_many_streams_interleaved(daemon):
    """Per-stream numbering is independent: 4 clients x 3 streams."""
    setup = daemon.client()
    streams = ["s0", "s1", "s2"]
    for s in streams:
        make(setup, s)
    clients = [daemon.client() for _ in range(4)]

    def worker(k):
        out = []
        for i in range(60):
            s = streams[(i + k) % 3]
            out.append((s, clients[k].append_message(s, b"%d-%d" % (k, i))))
        return out

    with ThreadPoolExecutor(4) as ex:
        per = list(ex.map(worker, range(4), timeout=60))
    for s in streams:
        seqs = sorted(q for out in per for (st, q) in out if st == s)
        assert seqs == list(range(len(seqs))) and len(seqs) == 80
