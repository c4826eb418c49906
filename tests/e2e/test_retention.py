"""Size bounds: OverwriteOldestData and RejectNewData on small streams (scenario 7)."""

import pytest
from stream_manager import MessageStreamDefinition, Persistence, ReadMessagesOptions, StrategyOnFull
from stream_manager.data import ResponseStatusCode
from stream_manager.exceptions import InvalidRequestException

SEGMENT = 1024


@pytest.mark.parametrize("persistence", [Persistence.File, Persistence.Memory], ids=["file", "memory"])
@pytest.mark.parametrize("max_size", [4096, 8192])
def test_overwrite_oldest_data(client, persistence, max_size):
    name = "ring"
    client.create_message_stream(MessageStreamDefinition(
        name=name, max_size=max_size, stream_segment_size=SEGMENT,
        strategy_on_full=StrategyOnFull.OverwriteOldestData, persistence=persistence))
    payloads = {}
    oldest_seen = []
    for i in range(150):
        p = bytes([i % 256]) * 150 + b"#%d" % i
        assert client.append_message(name, p) == i, "appends to an overwrite stream never fail"
        payloads[i] = p
        if i % 10 == 9:
            st = client.describe_message_stream(name).storage_status
            oldest_seen.append(st.oldest_sequence_number)
            assert st.newest_sequence_number == i
            assert st.total_bytes <= max_size + SEGMENT, "totalBytes %d exceeds maxSize %d + one segment" % (
                st.total_bytes, max_size)
    assert oldest_seen == sorted(oldest_seen), "oldestSequenceNumber never goes back"
    st = client.describe_message_stream(name).storage_status
    assert st.oldest_sequence_number > 0, "oldest segments must have been dropped"
    assert st.oldest_sequence_number > 150 - (max_size + SEGMENT) // 150, "too much data kept"
    assert st.newest_sequence_number == 149

    # a read from 0 is clamped to the oldest message
    first = client.read_messages(name, ReadMessagesOptions(desired_start_sequence_number=0))
    assert first[0].sequence_number == st.oldest_sequence_number
    assert first[0].payload == payloads[st.oldest_sequence_number]
    # everything still kept is contiguous and intact
    kept = st.newest_sequence_number - st.oldest_sequence_number + 1
    msgs = client.read_messages(name, ReadMessagesOptions(
        desired_start_sequence_number=0, min_message_count=kept, max_message_count=kept + 10))
    assert [m.sequence_number for m in msgs] == list(range(st.oldest_sequence_number, 150))
    for m in msgs:
        assert m.payload == payloads[m.sequence_number]


@pytest.mark.parametrize("persistence", [Persistence.File, Persistence.Memory], ids=["file", "memory"])
@pytest.mark.parametrize("max_size", [2048, 8192])
def test_reject_new_data(client, persistence, max_size):
    name = "bounded"
    client.create_message_stream(MessageStreamDefinition(
        name=name, max_size=max_size, stream_segment_size=SEGMENT,
        strategy_on_full=StrategyOnFull.RejectNewData, persistence=persistence))
    accepted = []
    rejection = None
    for i in range(200):
        p = bytes([i % 256]) * 200
        try:
            accepted.append((client.append_message(name, p), p))
        except InvalidRequestException as e:
            rejection = e
            break
    assert rejection is not None, "a %d-byte RejectNewData stream accepted 200 x 200 bytes" % max_size
    assert accepted, "the first message must fit"
    assert rejection.status == ResponseStatusCode.InvalidRequest
    assert "full" in (rejection.message or "").lower(), rejection.message
    assert [s for s, _ in accepted] == list(range(len(accepted)))

    st = client.describe_message_stream(name).storage_status
    assert st.oldest_sequence_number == 0, "RejectNewData never drops data"
    assert st.newest_sequence_number == len(accepted) - 1, "a rejected append must write nothing"
    assert st.total_bytes <= max_size + SEGMENT
    # still full, still rejected, still nothing written
    with pytest.raises(InvalidRequestException) as ei:
        client.append_message(name, b"y" * 200)
    assert "full" in (ei.value.message or "").lower()
    st2 = client.describe_message_stream(name).storage_status
    assert st2.newest_sequence_number == st.newest_sequence_number
    assert st2.total_bytes == st.total_bytes
    msgs = client.read_messages(name, ReadMessagesOptions(
        min_message_count=len(accepted), max_message_count=len(accepted) + 5))
    assert [(m.sequence_number, m.payload) for m in msgs] == accepted


def test_switch_reject_to_overwrite_accepts_again(client):
    name = "switch"
    client.create_message_stream(MessageStreamDefinition(
        name=name, max_size=2048, stream_segment_size=SEGMENT, strategy_on_full=StrategyOnFull.RejectNewData))
    n = 0
    with pytest.raises(InvalidRequestException):
        for _ in range(100):
            client.append_message(name, b"z" * 200)
            n += 1
    client.update_message_stream(MessageStreamDefinition(
        name=name, max_size=2048, stream_segment_size=SEGMENT,
        strategy_on_full=StrategyOnFull.OverwriteOldestData))
    for i in range(20):
        assert client.append_message(name, b"w" * 200) == n + i
    st = client.describe_message_stream(name).storage_status
    assert st.oldest_sequence_number > 0
    assert st.total_bytes <= 2048 + SEGMENT


def test_grow_max_size_accepts_again(client):
    name = "grow"
    client.create_message_stream(MessageStreamDefinition(
        name=name, max_size=2048, stream_segment_size=SEGMENT, strategy_on_full=StrategyOnFull.RejectNewData))
    n = 0
    with pytest.raises(InvalidRequestException):
        for _ in range(100):
            client.append_message(name, b"z" * 200)
            n += 1
    client.update_message_stream(MessageStreamDefinition(
        name=name, max_size=64 * 1024, stream_segment_size=SEGMENT, strategy_on_full=StrategyOnFull.RejectNewData))
    assert client.append_message(name, b"fits now") == n
