"""Large payloads (scenario 8) and many streams (scenario 9)."""

import os
from concurrent.futures import ThreadPoolExecutor

import pytest
from stream_manager import MessageStreamDefinition, Persistence, ReadMessagesOptions, StrategyOnFull

MIB = 1024 * 1024


@pytest.mark.parametrize("persistence", [Persistence.File, Persistence.Memory], ids=["file", "memory"])
def test_8_mib_payloads_round_trip(daemon, persistence):
    c = daemon.client(request_timeout=120)
    name = "big"
    c.create_message_stream(MessageStreamDefinition(
        name=name, strategy_on_full=StrategyOnFull.RejectNewData, persistence=persistence))
    big = [os.urandom(8 * MIB), os.urandom(8 * MIB - 1), b"small in between", os.urandom(8 * MIB)]
    for i, p in enumerate(big):
        assert c.append_message(name, p) == i
    # one at a time
    for i, p in enumerate(big):
        m = c.read_messages(name, ReadMessagesOptions(desired_start_sequence_number=i))
        assert len(m) == 1 and m[0].sequence_number == i
        assert len(m[0].payload) == len(p) and m[0].payload == p, "payload %d differs" % i
    # several per response (the server may return fewer than max to bound a frame, never fewer than min)
    got = []
    while len(got) < len(big):
        msgs = c.read_messages(name, ReadMessagesOptions(
            desired_start_sequence_number=len(got), min_message_count=1, max_message_count=4))
        assert msgs and [m.sequence_number for m in msgs] == list(range(len(got), len(got) + len(msgs)))
        got += [m.payload for m in msgs]
    assert got == big
    st = c.describe_message_stream(name).storage_status
    assert st.total_bytes >= sum(len(p) for p in big)


def test_8_mib_payloads_from_parallel_clients(daemon):
    name = "big-parallel"
    setup = daemon.client()
    setup.create_message_stream(MessageStreamDefinition(name=name, strategy_on_full=StrategyOnFull.RejectNewData))
    clients = [daemon.client(request_timeout=120) for _ in range(3)]
    blobs = [os.urandom(8 * MIB) for _ in range(3)]

    with ThreadPoolExecutor(3) as ex:
        seqs = list(ex.map(lambda k: clients[k].append_message(name, blobs[k]), range(3), timeout=120))
    assert sorted(seqs) == [0, 1, 2]
    reader = daemon.client(request_timeout=120)
    for k, s in enumerate(seqs):
        m = reader.read_messages(name, ReadMessagesOptions(desired_start_sequence_number=s))[0]
        assert m.payload == blobs[k]


def test_120_streams(daemon):
    c = daemon.client()
    names = ["stream-%03d" % i for i in range(120)]
    for i, n in enumerate(names):
        c.create_message_stream(MessageStreamDefinition(
            name=n, strategy_on_full=StrategyOnFull.OverwriteOldestData,
            persistence=Persistence.Memory if i % 10 == 0 else Persistence.File,
            stream_segment_size=64 * 1024, max_size=MIB))
    listed = c.list_streams()
    assert len(listed) == 120 and sorted(listed) == names
    for n in names:
        assert c.append_message(n, n.encode()) == 0
    for n in names:
        m = c.read_messages(n)
        assert [(x.sequence_number, x.payload, x.stream_name) for x in m] == [(0, n.encode(), n)]
    file_streams = [n for i, n in enumerate(names) if i % 10 != 0]
    for n in file_streams[:5]:
        assert len(daemon.stream_dirs(n)) == 1

    for n in names:
        c.delete_message_stream(n)
    assert c.list_streams() == []
    leftovers = [p for p in daemon.store_root.rglob("stream.json")]
    assert leftovers == [], "deleted streams left definition files behind: %r" % leftovers
