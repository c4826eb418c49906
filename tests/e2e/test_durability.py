"""Damage the daemon must survive without a human (issue 3): a bit flip in a sealed segment
(skipped, reported once in the log and in describe's storageStatus.corruptRecords), odd files
in the store, and a full disk (a real one: a small tmpfs, which needs root to mount)."""

import os
import signal
import uuid
from pathlib import Path

from stream_manager import (
    MessageStreamDefinition,
    Persistence,
    ReadMessagesOptions,
    StrategyOnFull,
)

from rawclient import ST_SUCCESS, ST_UNKNOWN_FAILURE


def make(client, name, segment=1024, flush=False, max_size=None):
    client.create_message_stream(MessageStreamDefinition(
        name=name, strategy_on_full=StrategyOnFull.RejectNewData, persistence=Persistence.File,
        flush_on_write=flush, stream_segment_size=segment, max_size=max_size))


def read_all(client, name, start=0, n=1000):
    return client.read_messages(name, ReadMessagesOptions(
        desired_start_sequence_number=start, min_message_count=1, max_message_count=n,
        read_timeout_millis=0))


def segment_files(daemon, name):
    (folder,) = daemon.stream_dirs(name)
    return sorted(folder.glob("*.log"))


def test_bit_flip_in_sealed_segment_is_skipped_and_reported_once(daemon):
    c = daemon.client()
    make(c, "flip")
    make(c, "other")
    payloads = [b"payload-%03d-" % i + bytes(range(60)) for i in range(40)]
    for p in payloads:
        c.append_message("flip", p)
    c.append_message("other", b"untouched")
    segs = segment_files(daemon, "flip")
    assert len(segs) >= 3, "1 KiB segments roll over"
    victim = segs[1]
    base = int(victim.stem)
    daemon.restart()  # kill -9; the files are complete in the page cache
    data = bytearray(victim.read_bytes())
    data[16 + 30] ^= 0x04  # a payload byte of the segment's first record
    victim.write_bytes(bytes(data))
    daemon.restart()

    c = daemon.client()
    raw = daemon.raw()
    st = raw.describe("flip")["messageStreamInfo"]["storageStatus"]
    assert "corruptRecords" not in st, "sealed segments are not read at start-up"
    msgs = read_all(c, "flip")
    seqs = [m.sequence_number for m in msgs]
    assert base not in seqs and len(seqs) == len(payloads) - 1, "only the damaged record is skipped"
    for m in msgs:
        assert m.payload == payloads[m.sequence_number]
    # Reported in describe (an extra key the SDKs ignore) ...
    st = raw.describe("flip")["messageStreamInfo"]["storageStatus"]
    assert st["corruptRecords"] == 1
    assert c.describe_message_stream("flip").storage_status.newest_sequence_number == len(payloads) - 1
    # ... and once in the log, however often it is read.
    read_all(c, "flip")
    read_all(c, "flip", start=base)
    assert daemon.stderr_text().count("damaged records found") == 1
    # The rest of the store is served and the stream goes on.
    assert [m.payload for m in read_all(c, "other")] == [b"untouched"]
    assert c.append_message("flip", b"next") == len(payloads)


def test_flush_on_write_tail_is_allocated_ahead_and_cut_at_a_clean_stop(daemon):
    """A flushOnWrite segment is allocated ahead of its appends (zeros after the records);
    after kill -9 start-up reads the zeros as the end of the log (logged at info) and the
    numbering goes on; SIGTERM cuts the zeros off, so the file ends with its last record."""
    c = daemon.client()
    make(c, "fow", segment=1 << 20, flush=True)
    payloads = [b"durable-%02d" % i for i in range(5)]
    for p in payloads:
        c.append_message("fow", p)
    (seg,) = segment_files(daemon, "fow")
    records = 16 + sum(24 + len(p) for p in payloads)
    assert seg.stat().st_size == 1 << 20, "allocated one step (the segment size) ahead"
    daemon.restart()  # kill -9
    c = daemon.client()
    assert [m.payload for m in read_all(c, "fow")] == payloads
    assert "zeros after the last record" in daemon.stderr_text()
    assert "truncating a torn tail" not in daemon.stderr_text()
    assert c.append_message("fow", b"next") == len(payloads)
    daemon.restart(sig=signal.SIGTERM)
    assert seg.stat().st_size == records + 24 + len(b"next"), "a clean stop cuts the zeros"
    c = daemon.client()
    assert [m.payload for m in read_all(c, "fow")] == payloads + [b"next"]
    assert "zeros after the last record" not in daemon.stderr_text()


def test_odd_files_are_warned_about_not_fatal(daemon):
    c = daemon.client()
    make(c, "odd")
    make(c, "nosegments")
    for i in range(30):
        c.append_message("odd", b"m%02d-" % i + b"x" * 100)
    segs = segment_files(daemon, "odd")
    folder = segs[0].parent
    daemon.kill()
    segs[1].write_bytes(b"")  # a zero-length sealed segment
    (folder / "stray.bin").write_bytes(b"\x00" * 10)
    (folder / "tail.ckpt").write_bytes(os.urandom(52))
    (daemon.store_root / "empty-folder").mkdir()
    for f in segment_files(daemon, "nosegments"):
        f.unlink()
    daemon.start()
    c = daemon.client()
    assert sorted(c.list_streams()) == ["nosegments", "odd"]
    lost = int(segs[2].stem) - int(segs[1].stem)
    assert len(read_all(c, "odd")) == 30 - lost
    st = daemon.raw().describe("odd")["messageStreamInfo"]["storageStatus"]
    assert st["corruptRecords"] == lost, "the missing records are reported"
    assert c.append_message("odd", b"more") == 30
    assert c.append_message("nosegments", b"first") == 0
    log = daemon.stderr_text()
    assert "unknown file" in log and "stray.bin" in log
    assert "too short" in log


def test_disk_full_answers_an_error_and_recovers_when_space_returns(daemon_factory, small_disk):
    d = daemon_factory(start=False, label="full")
    d.store_root = small_disk / "store"
    d.store_root.mkdir()
    d.start()
    c = d.client()
    make(c, "main", segment=64 * 1024, flush=True, max_size=1 << 30)
    make(c, "filler", segment=64 * 1024, max_size=1 << 30)
    chunk = os.urandom(32 * 1024)
    for _ in range(20):
        c.append_message("filler", chunk)
    raw = d.raw()
    acked = []
    failure = None
    for i in range(2000):
        p = b"main-%d-" % i + os.urandom(2000)
        resp = raw.append("main", p)
        if resp["status"] == ST_SUCCESS:
            assert resp["sequenceNumber"] == len(acked)
            acked.append(p)
        else:
            failure = resp
            break
    assert failure is not None, "a 2 MiB disk fills up"
    assert failure["status"] == ST_UNKNOWN_FAILURE
    assert "no space left" in failure.get("errorMessage", "").lower(), failure
    # Still failing cleanly, still serving everything acknowledged.
    assert raw.append("main", b"x" * 3000)["status"] == ST_UNKNOWN_FAILURE
    assert [m.payload for m in read_all(c, "main")] == acked
    # Space comes back: appends succeed and continue the numbering.
    c.delete_message_stream("filler")
    resp = raw.append("main", b"after")
    assert resp["status"] == ST_SUCCESS and resp["sequenceNumber"] == len(acked), resp
    acked.append(b"after")
    d.restart()
    c = d.client()
    assert [m.payload for m in read_all(c, "main")] == acked
    assert c.append_message("main", b"restart" + uuid.uuid4().bytes) == len(acked)
