"""Long-poll reads: wake-up on append, and NotEnoughMessages after the timeout (scenario 3)."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from stream_manager import MessageStreamDefinition, ReadMessagesOptions, StrategyOnFull
from stream_manager.exceptions import NotEnoughMessagesException


def make(client, name, **kw):
    kw.setdefault("strategy_on_full", StrategyOnFull.RejectNewData)
    client.create_message_stream(MessageStreamDefinition(name=name, **kw))


def timed(fn):
    t0 = time.monotonic()
    try:
        return fn(), None, time.monotonic() - t0
    except Exception as e:  # noqa: BLE001 - reported by the caller
        return None, e, time.monotonic() - t0


def test_long_poll_wakes_up_on_append_from_other_client(daemon):
    reader = daemon.client()
    writer = daemon.client()
    make(writer, "lp")
    writer.append_message("lp", b"already-there")
    opts = ReadMessagesOptions(desired_start_sequence_number=0, min_message_count=3, max_message_count=10,
                               read_timeout_millis=10_000)
    with ThreadPoolExecutor(1) as ex:
        fut = ex.submit(timed, lambda: reader.read_messages("lp", opts))
        time.sleep(0.5)
        assert not fut.done(), "read returned before enough messages existed: %r" % (fut.result(),)
        writer.append_message("lp", b"second")
        time.sleep(0.3)
        assert not fut.done(), "read returned with 2 of min 3 messages: %r" % (fut.result(),)
        t_last = time.monotonic()
        writer.append_message("lp", b"third")
        msgs, err, elapsed = fut.result(timeout=15)
        woke_after = time.monotonic() - t_last
    assert err is None, "long-poll read failed: %r" % (err,)
    assert [m.payload for m in msgs] == [b"already-there", b"second", b"third"]
    assert [m.sequence_number for m in msgs] == [0, 1, 2]
    assert elapsed < 5.0, "the read must return as soon as min messages exist, not at the timeout"
    assert woke_after < 1.5, "the read returned %.2f s after the last needed append" % woke_after


def test_long_poll_not_satisfied_by_appends_to_other_stream(daemon):
    """Appends to another stream must not wake (or satisfy) the read."""
    reader = daemon.client()
    writer = daemon.client()
    make(writer, "watched")
    make(writer, "other")
    opts = ReadMessagesOptions(min_message_count=1, max_message_count=1, read_timeout_millis=1500)
    with ThreadPoolExecutor(1) as ex:
        fut = ex.submit(timed, lambda: reader.read_messages("watched", opts))
        time.sleep(0.3)
        for i in range(5):
            writer.append_message("other", b"noise-%d" % i)
        msgs, err, elapsed = fut.result(timeout=10)
    assert isinstance(err, NotEnoughMessagesException), (msgs, err)
    assert elapsed >= 1.5 - 0.02


@pytest.mark.parametrize("timeout_ms", [1000, 2500])
def test_long_poll_times_out_with_not_enough_messages(client, timeout_ms):
    make(client, "slow")
    client.append_message("slow", b"one")
    opts = ReadMessagesOptions(min_message_count=2, max_message_count=2, read_timeout_millis=timeout_ms)
    _, err, elapsed = timed(lambda: client.read_messages("slow", opts))
    assert isinstance(err, NotEnoughMessagesException), err
    assert elapsed >= timeout_ms / 1000 - 0.02, "answered after %.3f s, before the %d ms timeout" % (
        elapsed, timeout_ms)
    assert elapsed <= timeout_ms / 1000 + 2.0, "answered %.3f s after a %d ms timeout" % (elapsed, timeout_ms)


def test_long_poll_times_out_when_not_enough_arrive(daemon):
    """Some appends during the wait, but fewer than minMessageCount: still a timeout."""
    reader = daemon.client()
    writer = daemon.client()
    make(writer, "partial")
    opts = ReadMessagesOptions(min_message_count=5, max_message_count=5, read_timeout_millis=2000)
    with ThreadPoolExecutor(1) as ex:
        fut = ex.submit(timed, lambda: reader.read_messages("partial", opts))
        for i in range(4):
            time.sleep(0.2)
            writer.append_message("partial", b"m%d" % i)
        msgs, err, elapsed = fut.result(timeout=10)
    assert isinstance(err, NotEnoughMessagesException), (msgs, err)
    assert 2.0 - 0.02 <= elapsed <= 4.0
    # and then the data is there for a normal read
    assert len(reader.read_messages("partial", ReadMessagesOptions(min_message_count=4, max_message_count=4))) == 4


def test_many_concurrent_long_polls_all_wake(daemon):
    writer = daemon.client()
    make(writer, "fanout")
    readers = [daemon.client() for _ in range(4)]
    barrier_start = threading.Event()

    def read(c, start):
        barrier_start.wait(5)
        return c.read_messages("fanout", ReadMessagesOptions(
            desired_start_sequence_number=start, min_message_count=1, max_message_count=1,
            read_timeout_millis=10_000))

    with ThreadPoolExecutor(8) as ex:
        futs = [ex.submit(timed, lambda c=c, s=s: read(c, s)) for c in readers for s in (0, 1)]
        barrier_start.set()
        time.sleep(0.5)
        t0 = time.monotonic()
        writer.append_message("fanout", b"zero")
        writer.append_message("fanout", b"one")
        results = [f.result(timeout=15) for f in futs]
        took = time.monotonic() - t0
    for (msgs, err, _), (_, start) in zip(results, [(c, s) for c in readers for s in (0, 1)]):
        assert err is None, err
        assert [m.sequence_number for m in msgs] == [start]
    assert took < 3.0, "all waiting reads must wake promptly"
