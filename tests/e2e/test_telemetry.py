"""Telemetry counters in describe: bytes appended and bytes uploaded per destination.

The counters sit under ``messageStreamInfo.telemetry`` (a key the SDKs ignore), named after
the reference's telemetry metrics (BytesAppended, BytesUploadedTo<Destination>).
"""

import time

from stream_manager import (
    ExportDefinition,
    ExportFormat,
    HTTPConfig,
    MessageStreamDefinition,
    StrategyOnFull,
)


def wait_for(pred, timeout=15.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def test_bytes_appended_and_uploaded_to_http(daemon, http_sink):
    c = daemon.client()
    c.create_message_stream(MessageStreamDefinition(
        name="t", strategy_on_full=StrategyOnFull.OverwriteOldestData,
        export_definition=ExportDefinition(http=[HTTPConfig(
            identifier="h", uri=http_sink.url("/t"), batch_size=10,
            export_format=ExportFormat.JSON_BATCHED)])))
    c.create_message_stream(MessageStreamDefinition(name="quiet", strategy_on_full=StrategyOnFull.OverwriteOldestData))
    payloads = [b"x" * (i + 1) for i in range(40)]
    for p in payloads:
        c.append_message("t", p)
    c.append_message("quiet", b"12345")
    total = sum(map(len, payloads))
    wait_for(lambda: http_sink.accepted_count("/t") == 40, what="40 messages at the sink")
    raw = daemon.raw()

    def telemetry():
        resp = raw.describe("quiet")
        assert resp["status"] == 0, resp
        return resp["messageStreamInfo"]["telemetry"]

    t = wait_for(lambda: (lambda t: t if t["bytesUploadedToHttp"] == total else None)(telemetry()),
                 what="bytesUploadedToHttp == %d" % total)
    # Daemon-wide: the same counters whichever stream is described.
    assert t["bytesAppended"] == total + 5
    assert t["bytesUploadedToKinesis"] == 0
    assert t["bytesUploadedToS3"] == 0
    assert raw.describe("t")["messageStreamInfo"]["telemetry"] == t
