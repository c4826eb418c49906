"""Durability across restarts: kill -9 (scenario 6) and graceful SIGTERM (scenario 10)."""

import os
import random
import signal
import threading
import time

from stream_manager import (
    ExportDefinition,
    IoTSiteWiseConfig,
    KinesisConfig,
    MessageStreamDefinition,
    Persistence,
    ReadMessagesOptions,
    StrategyOnFull,
)


def payloads_for(tag, n, seed):
    rnd = random.Random(seed)
    return [tag.encode() + b"-%d-" % i + bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 400)))
            for i in range(n)]


def read_all(client, name, count):
    msgs = client.read_messages(name, ReadMessagesOptions(
        desired_start_sequence_number=0, min_message_count=count, max_message_count=count))
    return msgs


def raw_definition(daemon, name):
    r = daemon.raw()
    try:
        resp = r.describe(name)
        assert resp["status"] == 0, resp
        info = resp["messageStreamInfo"]
        ids = sorted(s.get("exportConfigIdentifier") for s in info.get("exportStatuses") or [])
        return info["definition"], ids
    finally:
        r.close()


def create_durability_streams(c):
    c.create_message_stream(MessageStreamDefinition(
        name="durable", strategy_on_full=StrategyOnFull.RejectNewData,
        persistence=Persistence.File, flush_on_write=True,
        max_size=64 * 1024 * 1024, stream_segment_size=1024 * 1024,
        time_to_live_millis=86_400_000,
        export_definition=ExportDefinition(
            kinesis=[KinesisConfig(identifier="kin-1", kinesis_stream_name="target-a", batch_size=20,
                                   batch_interval_millis=60_000, priority=3, start_sequence_number=0,
                                   disabled=True)],
            iot_sitewise=[IoTSiteWiseConfig(identifier="sw-1", batch_size=5, disabled=True)],
        ),
    ))
    c.create_message_stream(MessageStreamDefinition(
        name="buffered", strategy_on_full=StrategyOnFull.OverwriteOldestData,
        persistence=Persistence.File, flush_on_write=False,
        max_size=16 * 1024 * 1024, stream_segment_size=4096,  # many small segments
    ))
    c.create_message_stream(MessageStreamDefinition(
        name="volatile", strategy_on_full=StrategyOnFull.OverwriteOldestData, persistence=Persistence.Memory,
    ))


def test_sigkill_keeps_every_acknowledged_message(daemon):
    n = 300
    c = daemon.client()
    create_durability_streams(c)
    data = {"durable": payloads_for("d", n, 1), "buffered": payloads_for("b", n, 2)}
    for name, ps in data.items():
        for i, p in enumerate(ps):
            assert c.append_message(name, p) == i
    c.append_message("volatile", b"gone after restart")
    defs_before = {name: raw_definition(daemon, name) for name in data}
    assert len(daemon.stream_dirs("buffered")) == 1
    assert len(list(daemon.stream_dirs("buffered")[0].glob("*.log"))) > 1, \
        "4 KiB segments with ~60 KiB of data must roll over into several segment files"

    daemon.kill()  # SIGKILL: no chance to flush anything
    daemon.start()
    c = daemon.client()

    assert sorted(c.list_streams()) == ["buffered", "durable"], "File streams come back, Memory ones do not"
    for name, ps in data.items():
        msgs = read_all(c, name, n)
        assert [m.sequence_number for m in msgs] == list(range(n))
        for m, p in zip(msgs, ps):
            assert m.payload == p, "%s seq %d differs after restart" % (name, m.sequence_number)
            assert m.stream_name == name
        st = c.describe_message_stream(name).storage_status
        assert (st.oldest_sequence_number, st.newest_sequence_number) == (0, n - 1)
        assert st.total_bytes > 0
        assert c.append_message(name, b"after restart") == n, "numbering continues after the last acked message"
        assert raw_definition(daemon, name) == defs_before[name], "definition/export configs must survive"

    info = c.describe_message_stream("durable")
    d = info.definition
    assert d.flush_on_write is True and d.persistence == Persistence.File
    assert d.time_to_live_millis == 86_400_000
    assert d.max_size == 64 * 1024 * 1024 and d.stream_segment_size == 1024 * 1024
    k = d.export_definition.kinesis
    assert [(x.identifier, x.kinesis_stream_name, x.batch_size, x.priority) for x in k] == [
        ("kin-1", "target-a", 20, 3)]
    assert [x.identifier for x in d.export_definition.iot_sitewise] == ["sw-1"]
    assert sorted(s.export_config_identifier for s in info.export_statuses) == ["kin-1", "sw-1"]
    assert c.describe_message_stream("buffered").definition.flush_on_write is False
    # a new stream with the Memory stream's name can be created again
    c.create_message_stream(MessageStreamDefinition(name="volatile", strategy_on_full=StrategyOnFull.RejectNewData))
    assert c.append_message("volatile", b"fresh") == 0


def test_sigkill_during_concurrent_appends(daemon):
    """Kill -9 while appends are in flight: everything acknowledged is there,
    contiguous from 0, and nothing unacknowledged breaks recovery."""
    c = daemon.client(request_timeout=5)
    for name, flush in (("hot-flush", True), ("hot-noflush", False)):
        c.create_message_stream(MessageStreamDefinition(
            name=name, strategy_on_full=StrategyOnFull.RejectNewData, flush_on_write=flush,
            stream_segment_size=8192))
    acked = {"hot-flush": {}, "hot-noflush": {}}
    stop = threading.Event()
    lock = threading.Lock()

    def writer(name, k):
        i = 0
        while not stop.is_set():
            p = b"%s-%d-%d-" % (name.encode(), k, i) + os.urandom(64)
            try:
                seq = c.append_message(name, p)
            except Exception:  # noqa: BLE001 - the daemon is being killed
                return
            with lock:
                acked[name][seq] = p
            i += 1

    threads = [threading.Thread(target=writer, args=(n, k), daemon=True) for n in acked for k in range(2)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and min(len(v) for v in acked.values()) < 200:
        time.sleep(0.05)
    daemon.proc.send_signal(signal.SIGKILL)
    daemon.proc.wait(10)
    stop.set()
    for t in threads:
        t.join(10)
    with lock:
        snapshot = {k: dict(v) for k, v in acked.items()}
    assert all(len(v) >= 200 for v in snapshot.values()), {k: len(v) for k, v in snapshot.items()}

    daemon.start()
    c2 = daemon.client()
    for name, got in snapshot.items():
        st = c2.describe_message_stream(name).storage_status
        assert st.oldest_sequence_number == 0
        assert st.newest_sequence_number >= max(got), "%s lost acknowledged messages" % name
        count = st.newest_sequence_number + 1
        msgs = read_all(c2, name, count)
        assert [m.sequence_number for m in msgs] == list(range(count))
        for m in msgs:
            if m.sequence_number in got:
                assert m.payload == got[m.sequence_number]
        assert c2.append_message(name, b"next") == count


def test_sigterm_is_graceful_and_keeps_data(daemon):
    c = daemon.client()
    c.create_message_stream(MessageStreamDefinition(
        name="graceful", strategy_on_full=StrategyOnFull.OverwriteOldestData, flush_on_write=False))
    ps = payloads_for("g", 500, 3)
    for i, p in enumerate(ps):
        assert c.append_message("graceful", p) == i
    idle = daemon.client()  # a connected client must not hold up the shutdown
    idle.list_streams()

    rc, took = daemon.terminate(timeout=10)
    assert rc == 0, "SIGTERM must exit with code 0 (got %r after %.1f s)" % (rc, took)
    assert took < 5.0, "SIGTERM exit took %.1f s" % took

    daemon.start()
    c = daemon.client()
    msgs = read_all(c, "graceful", 500)
    assert [m.payload for m in msgs] == ps
    assert c.append_message("graceful", b"after") == 500


def test_sigterm_with_pending_long_poll(daemon):
    c = daemon.client()
    c.create_message_stream(MessageStreamDefinition(name="waiting", strategy_on_full=StrategyOnFull.RejectNewData))
    c.append_message("waiting", b"x")
    waiter = daemon.client(request_timeout=40)
    t = threading.Thread(
        target=lambda: _ignore(lambda: waiter.read_messages("waiting", ReadMessagesOptions(
            min_message_count=10, max_message_count=10, read_timeout_millis=30_000))),
        daemon=True)
    t.start()
    time.sleep(0.5)
    rc, took = daemon.terminate(timeout=10)
    assert rc == 0 and took < 5.0, "exit code %r after %.1f s with a pending long-poll read" % (rc, took)
    daemon.start()
    assert daemon.client().read_messages("waiting")[0].payload == b"x"


def _ignore(fn):
    try:
        fn()
    except Exception:  # noqa: BLE001
        pass
