"""Every operation through the official Python SDK (scenario 1) and the
behaviour of describe, read, update and delete that the SDK can observe."""

import time

import pytest
from stream_manager import (
    ExportDefinition,
    IoTSiteWiseConfig,
    KinesisConfig,
    MessageStreamDefinition,
    Persistence,
    ReadMessagesOptions,
    S3ExportTaskExecutorConfig,
    StrategyOnFull,
)
from stream_manager.exceptions import (
    NotEnoughMessagesException,
    ResourceNotFoundException,
)


def now_ms():
    return int(time.time() * 1000)


def kinesis(identifier, stream="kinesis-target", **kw):
    # disabled: no exporter may talk to AWS from this suite
    return KinesisConfig(identifier=identifier, kinesis_stream_name=stream, disabled=True, **kw)


def export_ids(info):
    return sorted(s.export_config_identifier for s in (info.export_statuses or []))


def test_every_operation_round_trip(client):
    """create, list, describe, append, read, update, delete - one after the other."""
    name = "every-op"
    client.create_message_stream(
        MessageStreamDefinition(name=name, strategy_on_full=StrategyOnFull.OverwriteOldestData)
    )
    assert name in client.list_streams()

    info = client.describe_message_stream(name)
    assert info.definition.name == name
    assert info.definition.strategy_on_full == StrategyOnFull.OverwriteOldestData

    payloads = [b"first", b"\x00\x01\x02binary\xff", b"x" * 1000]
    seqs = [client.append_message(name, p) for p in payloads]
    assert seqs == [0, 1, 2]

    msgs = client.read_messages(
        name, ReadMessagesOptions(desired_start_sequence_number=0, min_message_count=3, max_message_count=3)
    )
    assert [m.sequence_number for m in msgs] == [0, 1, 2]
    assert [m.payload for m in msgs] == payloads

    client.update_message_stream(
        MessageStreamDefinition(name=name, max_size=1024 * 1024, stream_segment_size=64 * 1024,
                                strategy_on_full=StrategyOnFull.RejectNewData)
    )
    info = client.describe_message_stream(name)
    assert info.definition.strategy_on_full == StrategyOnFull.RejectNewData
    assert info.definition.max_size == 1024 * 1024
    assert info.definition.stream_segment_size == 64 * 1024
    # data survives an update
    assert client.read_messages(name, ReadMessagesOptions(desired_start_sequence_number=2))[0].payload == payloads[2]

    client.delete_message_stream(name)
    assert name not in client.list_streams()


def test_list_streams_empty_then_all(client):
    assert client.list_streams() == []
    names = ["alpha", "beta", "gamma delta", "x.y-z_1"]
    for n in names:
        client.create_message_stream(MessageStreamDefinition(name=n, strategy_on_full=StrategyOnFull.RejectNewData))
    assert sorted(client.list_streams()) == sorted(names)


def test_describe_fills_server_defaults(client):
    name = "defaults"
    d = MessageStreamDefinition(name=name, strategy_on_full=StrategyOnFull.RejectNewData)
    client.create_message_stream(d)
    info = client.describe_message_stream(name)
    assert info.definition.name == name
    assert info.definition.max_size == 268435456
    assert info.definition.stream_segment_size == 16777216
    assert info.definition.persistence == Persistence.File
    assert info.definition.flush_on_write is False
    assert info.definition.strategy_on_full == StrategyOnFull.RejectNewData
    assert info.definition.time_to_live_millis is None


def test_describe_echoes_given_definition(client):
    name = "given"
    client.create_message_stream(
        MessageStreamDefinition(
            name=name,
            max_size=5 * 1024 * 1024,
            stream_segment_size=1024 * 1024,
            time_to_live_millis=3_600_000,
            strategy_on_full=StrategyOnFull.OverwriteOldestData,
            persistence=Persistence.Memory,
            flush_on_write=True,
        )
    )
    d = client.describe_message_stream(name).definition
    assert d.max_size == 5 * 1024 * 1024
    assert d.stream_segment_size == 1024 * 1024
    assert d.time_to_live_millis == 3_600_000
    assert d.strategy_on_full == StrategyOnFull.OverwriteOldestData
    assert d.persistence == Persistence.Memory
    assert d.flush_on_write is True


def test_storage_status_empty_and_after_appends(client):
    name = "storage"
    client.create_message_stream(MessageStreamDefinition(name=name, strategy_on_full=StrategyOnFull.RejectNewData))
    st = client.describe_message_stream(name).storage_status
    assert st.oldest_sequence_number is not None and st.newest_sequence_number is not None
    assert st.newest_sequence_number == st.oldest_sequence_number - 1, "empty stream: newest must be oldest - 1"
    assert st.total_bytes is not None and st.total_bytes >= 0

    for i in range(3):
        client.append_message(name, b"payload-%d" % i)
    st = client.describe_message_stream(name).storage_status
    assert st.oldest_sequence_number == 0
    assert st.newest_sequence_number == 2
    assert st.total_bytes > 0


def test_append_read_contents_and_ingest_time(client):
    name = "contents"
    client.create_message_stream(MessageStreamDefinition(name=name, strategy_on_full=StrategyOnFull.RejectNewData))
    payloads = [bytes([i]) * (i + 1) for i in range(10)] + [bytes(range(256))]
    before = now_ms()
    seqs = [client.append_message(name, p) for p in payloads]
    after = now_ms()
    assert seqs == list(range(len(payloads)))

    msgs = client.read_messages(
        name, ReadMessagesOptions(min_message_count=len(payloads), max_message_count=len(payloads))
    )
    assert len(msgs) == len(payloads)
    for i, m in enumerate(msgs):
        assert m.stream_name == name
        assert m.sequence_number == i
        assert m.payload == payloads[i]
        assert m.ingest_time is not None
        assert before - 2000 <= m.ingest_time <= after + 2000, "ingestTime must be ms since the epoch, now-ish"
    times = [m.ingest_time for m in msgs]
    assert times == sorted(times), "ingestTime must not go backwards within a stream"


def test_read_defaults_without_options(client):
    """No options: start 0, min 1, max 1, timeout 0."""
    name = "read-defaults"
    client.create_message_stream(MessageStreamDefinition(name=name, strategy_on_full=StrategyOnFull.RejectNewData))
    with pytest.raises(NotEnoughMessagesException):
        client.read_messages(name)
    for i in range(5):
        client.append_message(name, b"m%d" % i)
    msgs = client.read_messages(name)
    assert [(m.sequence_number, m.payload) for m in msgs] == [(0, b"m0")]


def test_read_options_partial(client):
    """ReadMessagesOptions with only a start: one message (max defaults to 1)."""
    name = "read-partial"
    client.create_message_stream(MessageStreamDefinition(name=name, strategy_on_full=StrategyOnFull.RejectNewData))
    for i in range(5):
        client.append_message(name, b"m%d" % i)
    msgs = client.read_messages(name, ReadMessagesOptions(desired_start_sequence_number=3))
    assert [(m.sequence_number, m.payload) for m in msgs] == [(3, b"m3")]


def test_read_returns_between_min_and_max(client):
    name = "read-window"
    client.create_message_stream(MessageStreamDefinition(name=name, strategy_on_full=StrategyOnFull.RejectNewData))
    for i in range(10):
        client.append_message(name, b"m%d" % i)
    # more available than max: exactly max
    msgs = client.read_messages(
        name, ReadMessagesOptions(desired_start_sequence_number=2, min_message_count=1, max_message_count=4)
    )
    assert [m.sequence_number for m in msgs] == [2, 3, 4, 5]
    # fewer than max but at least min: all that is there
    msgs = client.read_messages(
        name, ReadMessagesOptions(desired_start_sequence_number=7, min_message_count=2, max_message_count=100)
    )
    assert [m.sequence_number for m in msgs] == [7, 8, 9]
    # start past the newest, timeout 0
    with pytest.raises(NotEnoughMessagesException):
        client.read_messages(name, ReadMessagesOptions(desired_start_sequence_number=10))
    # reads are not destructive
    assert client.read_messages(name)[0].payload == b"m0"


def test_update_is_full_replace(client):
    """Undefined properties revert to their defaults on update."""
    name = "full-replace"
    client.create_message_stream(
        MessageStreamDefinition(
            name=name,
            max_size=4 * 1024 * 1024,
            stream_segment_size=1024 * 1024,
            time_to_live_millis=3_600_000,
            strategy_on_full=StrategyOnFull.OverwriteOldestData,
            flush_on_write=True,
            export_definition=ExportDefinition(kinesis=[kinesis("k1")]),
        )
    )
    client.update_message_stream(
        MessageStreamDefinition(name=name, strategy_on_full=StrategyOnFull.RejectNewData)
    )
    info = client.describe_message_stream(name)
    d = info.definition
    assert d.strategy_on_full == StrategyOnFull.RejectNewData
    assert d.max_size == 268435456
    assert d.stream_segment_size == 16777216
    assert d.time_to_live_millis is None, "TTL not given on update must revert to no TTL"
    assert d.flush_on_write is False, "flushOnWrite not given on update must revert to false"
    assert not (d.export_definition and d.export_definition.kinesis), "exports not given must be removed"
    assert export_ids(info) == []


def test_update_export_configs_matched_by_identifier(client):
    name = "exports"
    client.create_message_stream(
        MessageStreamDefinition(
            name=name,
            strategy_on_full=StrategyOnFull.OverwriteOldestData,
            export_definition=ExportDefinition(kinesis=[kinesis("k1")]),
        )
    )
    info = client.describe_message_stream(name)
    assert export_ids(info) == ["k1"]
    for s in info.export_statuses:
        assert s.last_exported_sequence_number is not None

    for i in range(3):
        client.append_message(name, b"m%d" % i)

    # add two more (kinesis + sitewise + s3 task executor) and keep k1
    client.update_message_stream(
        MessageStreamDefinition(
            name=name,
            strategy_on_full=StrategyOnFull.OverwriteOldestData,
            export_definition=ExportDefinition(
                kinesis=[kinesis("k1"), kinesis("k2", stream="other-target", batch_size=10)],
                iot_sitewise=[IoTSiteWiseConfig(identifier="sw1", disabled=True)],
                s3_task_executor=[S3ExportTaskExecutorConfig(identifier="s3-1", disabled=True)],
            ),
        )
    )
    info = client.describe_message_stream(name)
    assert export_ids(info) == ["k1", "k2", "s3-1", "sw1"]
    for s in info.export_statuses:
        assert s.last_exported_sequence_number is not None, s
    ed = info.definition.export_definition
    assert sorted(k.identifier for k in ed.kinesis) == ["k1", "k2"]
    k2 = [k for k in ed.kinesis if k.identifier == "k2"][0]
    assert k2.kinesis_stream_name == "other-target"
    assert k2.batch_size == 10
    assert [c.identifier for c in ed.iot_sitewise] == ["sw1"]
    assert [c.identifier for c in ed.s3_task_executor] == ["s3-1"]

    # drop k1 and sw1
    client.update_message_stream(
        MessageStreamDefinition(
            name=name,
            strategy_on_full=StrategyOnFull.OverwriteOldestData,
            export_definition=ExportDefinition(
                kinesis=[kinesis("k2", stream="other-target", batch_size=10)],
                s3_task_executor=[S3ExportTaskExecutorConfig(identifier="s3-1", disabled=True)],
            ),
        )
    )
    info = client.describe_message_stream(name)
    assert export_ids(info) == ["k2", "s3-1"]
    assert [k.identifier for k in info.definition.export_definition.kinesis] == ["k2"]
    # the data is untouched by export changes
    assert client.describe_message_stream(name).storage_status.newest_sequence_number == 2


def test_delete_removes_stream_and_folder(daemon, client):
    name = "to-delete"
    client.create_message_stream(MessageStreamDefinition(name=name, strategy_on_full=StrategyOnFull.RejectNewData))
    client.create_message_stream(MessageStreamDefinition(name="keeper", strategy_on_full=StrategyOnFull.RejectNewData))
    for i in range(20):
        client.append_message(name, b"data-%d" % i)
    client.append_message("keeper", b"keep")
    dirs = daemon.stream_dirs(name)
    assert len(dirs) == 1, "expected exactly one folder whose stream.json names %r, found %r (store: %r)" % (
        name, dirs, sorted(daemon.store_files()))
    assert list(dirs[0].glob("*.log")), "a File stream with data must have *.log segment files"

    client.delete_message_stream(name)
    assert name not in client.list_streams()
    assert "keeper" in client.list_streams()
    assert not dirs[0].exists(), "the stream folder must be deleted from the store root"
    assert daemon.stream_dirs(name) == []
    with pytest.raises(ResourceNotFoundException):
        client.describe_message_stream(name)
    # the other stream is intact
    assert client.read_messages("keeper")[0].payload == b"keep"
    assert len(daemon.stream_dirs("keeper")) == 1


def test_recreate_after_delete_starts_fresh(client):
    name = "reborn"
    client.create_message_stream(MessageStreamDefinition(name=name, strategy_on_full=StrategyOnFull.RejectNewData))
    for i in range(5):
        client.append_message(name, b"old-%d" % i)
    client.delete_message_stream(name)
    client.create_message_stream(MessageStreamDefinition(name=name, strategy_on_full=StrategyOnFull.RejectNewData))
    assert client.append_message(name, b"new") == 0
    msgs = client.read_messages(name, ReadMessagesOptions(min_message_count=1, max_message_count=10))
    assert [(m.sequence_number, m.payload) for m in msgs] == [(0, b"new")]


def test_memory_stream_writes_nothing_to_disk(daemon, client):
    before = daemon.store_files()
    name = "in-memory"
    client.create_message_stream(
        MessageStreamDefinition(name=name, strategy_on_full=StrategyOnFull.OverwriteOldestData,
                                persistence=Persistence.Memory)
    )
    for i in range(50):
        client.append_message(name, b"m%d" % i)
    assert len(client.read_messages(name, ReadMessagesOptions(min_message_count=50, max_message_count=50))) == 50
    assert client.describe_message_stream(name).definition.persistence == Persistence.Memory
    new = daemon.store_files() - before
    assert daemon.stream_dirs(name) == [], "a Memory stream must not have a stream.json on disk"
    assert not [p for p in new if p.endswith(".log")], "a Memory stream must not write segments: %r" % sorted(new)
    assert new == set(), "a Memory stream must write nothing under the store root, found %r" % sorted(new)


def test_stream_names_at_the_edges(daemon, client):
    """Valid but awkward names: '.', '..', spaces and commas, 255 characters.

    The folder name is an escaped form of the stream name: nothing may be
    written outside the store root, and the streams survive a restart."""
    names = [".", "..", "with space, and comma", "-_.", "n" * 255, "N" * 254 + "."]
    for n in names:
        client.create_message_stream(MessageStreamDefinition(name=n, strategy_on_full=StrategyOnFull.RejectNewData))
        assert client.append_message(n, ("payload of %r" % n).encode()) == 0
    assert sorted(client.list_streams()) == sorted(names)
    for n in names:
        assert client.read_messages(n)[0].payload == ("payload of %r" % n).encode()
        assert client.describe_message_stream(n).definition.name == n
        assert len(daemon.stream_dirs(n)) == 1, "no single folder for %r" % n
    # nothing escaped the store root (e.g. '..' writing into its parent)
    assert sorted(p.name for p in daemon.base_dir.iterdir()) == ["run", "store"]

    daemon.restart()
    c2 = daemon.client()
    assert sorted(c2.list_streams()) == sorted(names)
    for n in names:
        assert c2.read_messages(n)[0].payload == ("payload of %r" % n).encode()
        assert c2.append_message(n, b"again") == 1
