"""Every error status the server produces, as the SDK surfaces it (scenario 2).

3 InvalidRequest, 5 ResourceNotFound, 13 NotEnoughMessages, 17 UpdateNotAllowed
here; 18 UnknownOperation and 4 RequestPayloadTooLarge in test_raw_protocol.py /
test_robustness.py (the SDK cannot send those); 2 Unauthorized in test_auth.py.
"""

import time

import pytest
from stream_manager import (
    MessageStreamDefinition,
    Persistence,
    ReadMessagesOptions,
    StrategyOnFull,
)
from stream_manager.data import ResponseStatusCode
from stream_manager.exceptions import (
    InvalidRequestException,
    NotEnoughMessagesException,
    ResourceNotFoundException,
    UpdateNotAllowedException,
)


def make(client, name, **kw):
    kw.setdefault("strategy_on_full", StrategyOnFull.RejectNewData)
    client.create_message_stream(MessageStreamDefinition(name=name, **kw))


def test_create_existing_name_is_invalid_request(client):
    make(client, "dup")
    client.append_message("dup", b"keep me")
    with pytest.raises(InvalidRequestException) as ei:
        make(client, "dup", strategy_on_full=StrategyOnFull.OverwriteOldestData)
    e = ei.value
    assert not isinstance(e, UpdateNotAllowedException)
    assert e.status == ResponseStatusCode.InvalidRequest
    assert "already exists" in (e.message or "").lower(), e.message
    assert e.request_id, "the SDK copies requestId from the response"
    # the existing stream is untouched
    info = client.describe_message_stream("dup")
    assert info.definition.strategy_on_full == StrategyOnFull.RejectNewData
    assert client.read_messages("dup")[0].payload == b"keep me"


MISSING_OPS = {
    "append": lambda c: c.append_message("nope", b"x"),
    "read": lambda c: c.read_messages("nope"),
    "read_long_poll": lambda c: c.read_messages(
        "nope", ReadMessagesOptions(min_message_count=1, max_message_count=1, read_timeout_millis=5000)),
    "describe": lambda c: c.describe_message_stream("nope"),
    "update": lambda c: c.update_message_stream(
        MessageStreamDefinition(name="nope", strategy_on_full=StrategyOnFull.RejectNewData)),
    "delete": lambda c: c.delete_message_stream("nope"),
}


@pytest.mark.parametrize("op", sorted(MISSING_OPS))
def test_missing_stream_is_resource_not_found(client, op):
    make(client, "exists")
    t0 = time.monotonic()
    with pytest.raises(ResourceNotFoundException) as ei:
        MISSING_OPS[op](client)
    assert ei.value.status == ResponseStatusCode.ResourceNotFound
    assert time.monotonic() - t0 < 2.0, "a missing stream is an immediate error, even for a long-poll read"
    assert client.list_streams() == ["exists"], "an op on a missing stream must not create it"


def test_delete_twice(client):
    make(client, "once")
    client.delete_message_stream("once")
    with pytest.raises(ResourceNotFoundException):
        client.delete_message_stream("once")


def test_not_enough_messages_immediately_with_zero_timeout(client):
    make(client, "few")
    client.append_message("few", b"a")
    client.append_message("few", b"b")
    t0 = time.monotonic()
    with pytest.raises(NotEnoughMessagesException) as ei:
        client.read_messages("few", ReadMessagesOptions(min_message_count=3, max_message_count=3,
                                                        read_timeout_millis=0))
    assert time.monotonic() - t0 < 1.0, "readTimeoutMillis 0 must not wait"
    assert ei.value.status == ResponseStatusCode.NotEnoughMessages
    # start beyond the newest
    with pytest.raises(NotEnoughMessagesException):
        client.read_messages("few", ReadMessagesOptions(desired_start_sequence_number=2))
    with pytest.raises(NotEnoughMessagesException):
        client.read_messages("few", ReadMessagesOptions(desired_start_sequence_number=1000))


def test_update_changing_persistence_not_allowed(client):
    make(client, "file-stream", persistence=Persistence.File)
    make(client, "mem-stream", persistence=Persistence.Memory)
    with pytest.raises(UpdateNotAllowedException) as ei:
        client.update_message_stream(MessageStreamDefinition(
            name="file-stream", strategy_on_full=StrategyOnFull.RejectNewData, persistence=Persistence.Memory))
    assert ei.value.status == ResponseStatusCode.UpdateNotAllowed
    with pytest.raises(UpdateNotAllowedException):
        client.update_message_stream(MessageStreamDefinition(
            name="mem-stream", strategy_on_full=StrategyOnFull.RejectNewData, persistence=Persistence.File))
    assert client.describe_message_stream("file-stream").definition.persistence == Persistence.File
    assert client.describe_message_stream("mem-stream").definition.persistence == Persistence.Memory
    # keeping the same persistence is fine
    client.update_message_stream(MessageStreamDefinition(
        name="file-stream", strategy_on_full=StrategyOnFull.OverwriteOldestData, persistence=Persistence.File))
    assert (client.describe_message_stream("file-stream").definition.strategy_on_full
            == StrategyOnFull.OverwriteOldestData)


def test_update_max_size_below_stored_bytes_not_allowed(client):
    make(client, "sized", max_size=1024 * 1024, stream_segment_size=1024)
    for i in range(40):
        client.append_message("sized", bytes([i]) * 300)
    total = client.describe_message_stream("sized").storage_status.total_bytes
    assert total > 12_000
    new_max = 4096
    assert 1024 <= new_max < total
    with pytest.raises(UpdateNotAllowedException) as ei:
        client.update_message_stream(MessageStreamDefinition(
            name="sized", max_size=new_max, stream_segment_size=1024,
            strategy_on_full=StrategyOnFull.RejectNewData))
    assert ei.value.status == ResponseStatusCode.UpdateNotAllowed
    info = client.describe_message_stream("sized")
    assert info.definition.max_size == 1024 * 1024, "a refused update must change nothing"
    assert info.storage_status.newest_sequence_number == 39
    assert info.storage_status.oldest_sequence_number == 0
    # growing is fine
    client.update_message_stream(MessageStreamDefinition(
        name="sized", max_size=2 * 1024 * 1024, stream_segment_size=1024,
        strategy_on_full=StrategyOnFull.RejectNewData))
    assert client.describe_message_stream("sized").definition.max_size == 2 * 1024 * 1024


def test_update_max_size_below_segment_size_not_allowed(client):
    make(client, "seg")
    with pytest.raises(UpdateNotAllowedException) as ei:
        client.update_message_stream(MessageStreamDefinition(
            name="seg", max_size=1024 * 1024, stream_segment_size=16 * 1024 * 1024,
            strategy_on_full=StrategyOnFull.RejectNewData))
    assert ei.value.status == ResponseStatusCode.UpdateNotAllowed
    assert client.describe_message_stream("seg").definition.max_size == 268435456
