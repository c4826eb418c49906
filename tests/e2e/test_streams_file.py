"""Declared streams (``--streams-file``), end to end.

The daemon reads a YAML (or JSON) file of stream definitions in the wire shape at start-up
and on SIGHUP; the official SDK describes what it created, and the HTTP sink of
``httpsink.py`` receives what a declared export sends.  A bad file stops the start (exit
status not 0, the error naming file, line and field on stderr) and is ignored on SIGHUP
(logged; nothing changes).  ``prune: true`` deletes every stream the file does not list.
"""

import json
import signal
import time

from stream_manager import ExportFormat, Persistence, StrategyOnFull
from stream_manager import MessageStreamDefinition, ResourceNotFoundException

NO_PROXY_ENV = {k: None for k in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy",
                                  "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy")}
FAST = ("--exporter-retry-base-ms", "50", "--exporter-http-timeout-ms", "1000")


def wait_for(pred, timeout, what, ctx=lambda: ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out waiting for %s\n%s" % (what, ctx()))


def telemetry_yaml(sink_url, max_size=1048576, extra=""):
    return f"""\
# Declared streams of this device.
streams:
  - name: telemetry
    strategyOnFull: OverwriteOldestData
    persistence: File
    maxSize: {max_size}
    streamSegmentSize: 65536
    exportDefinition:
      http:
        - identifier: to-sink
          uri: {sink_url}
          exportFormat: JSON_BATCHED
          batchSize: 10
  - name: scratch
    strategyOnFull: 0
    persistence: 1
{extra}"""


def start(daemon_factory, path, *extra):
    return daemon_factory(extra_args=FAST + ("--streams-file", str(path)) + extra, env=NO_PROXY_ENV)


def test_streams_file_creates_streams_that_export(daemon_factory, http_sink, tmp_path):
    f = tmp_path / "streams.yaml"
    f.write_text(telemetry_yaml(http_sink.url("/in")))
    d = start(daemon_factory, f)
    c = d.client()
    assert sorted(c.list_streams()) == ["scratch", "telemetry"]
    t = c.describe_message_stream("telemetry").definition
    assert t.strategy_on_full == StrategyOnFull.OverwriteOldestData
    assert t.persistence == Persistence.File
    assert (t.max_size, t.stream_segment_size) == (1048576, 65536)
    http = t.export_definition.http[0]
    assert (http.identifier, http.uri) == ("to-sink", http_sink.url("/in"))
    assert http.export_format == ExportFormat.JSON_BATCHED
    assert http.batch_size == 10
    s = c.describe_message_stream("scratch").definition
    assert s.strategy_on_full == StrategyOnFull.RejectNewData
    assert s.persistence == Persistence.Memory

    for i in range(5):
        c.append_message("telemetry", b"m%d" % i)
    wait_for(lambda: http_sink.seqs("/in") == [0, 1, 2, 3, 4], 15, "the declared export to deliver",
             lambda: http_sink.summary())

    # A restart with the same file changes nothing: the data and the export's position stay.
    d.restart(sig=signal.SIGTERM)
    c = d.client()
    info = c.describe_message_stream("telemetry")
    assert info.storage_status.newest_sequence_number == 4
    # scratch is a Memory stream: created again; telemetry is unchanged.
    assert "created=1 updated=0 unchanged=1 deleted=0" in d.stderr_text(), d.stderr_text()
    assert http_sink.seqs("/in") == [0, 1, 2, 3, 4]


def test_json_file_with_describe_output_pasted(daemon_factory, tmp_path):
    # A definition as `smctl describe --json` prints it (enums as numbers, defaults filled).
    definition = {"name": "pasted", "maxSize": 268435456, "streamSegmentSize": 16777216,
                  "strategyOnFull": 1, "persistence": 0, "flushOnWrite": False,
                  "exportDefinition": {"http": [], "iotAnalytics": [], "kinesis": [],
                                       "IotSitewise": [], "s3TaskExecutor": []}}
    f = tmp_path / "streams.json"
    f.write_text(json.dumps({"streams": [definition]}, indent=2))
    d = start(daemon_factory, f)
    got = d.client().describe_message_stream("pasted").definition
    assert got.strategy_on_full == StrategyOnFull.OverwriteOldestData
    assert got.max_size == 268435456


def test_sighup_applies_a_changed_file_and_leaves_other_streams(daemon_factory, http_sink, tmp_path):
    f = tmp_path / "streams.yaml"
    f.write_text(telemetry_yaml(http_sink.url("/in")))
    d = start(daemon_factory, f)
    c = d.client()
    c.create_message_stream(MessageStreamDefinition(name="by-sdk",
                                                    strategy_on_full=StrategyOnFull.RejectNewData))
    c.append_message("telemetry", b"before")

    f.write_text(telemetry_yaml(http_sink.url("/in"), max_size=2097152, extra="""\
  - name: added
    strategyOnFull: RejectNewData
    timeToLiveMillis: 3600000
"""))
    d.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "added" in c.list_streams(), 10, "the new stream", d.log_tail)
    wait_for(lambda: c.describe_message_stream("telemetry").definition.max_size == 2097152, 10,
             "the update", d.log_tail)
    assert c.describe_message_stream("added").definition.time_to_live_millis == 3600000
    assert "by-sdk" in c.list_streams(), "without prune, other streams are left alone"
    assert c.read_messages("telemetry")[0].payload == b"before", "an update keeps the data"
    assert d.alive()


def test_bad_file_at_start_up_refuses_to_start(daemon_factory, tmp_path):
    f = tmp_path / "streams.yaml"
    f.write_text("streams:\n  - name: a\n    strategyOnFull: OverwriteOldestData\n    maxsize: 4096\n")
    d = daemon_factory(extra_args=("--streams-file", str(f)), start=False)
    port_file = d.run_dir / "port"
    p = d.spawn(d.command(port_file))
    rc = p.wait(timeout=20)
    err = d.stderr_text()
    assert rc != 0
    assert f"{f}:4: streams[0].maxsize: unknown key" in err, err
    assert not port_file.exists()

    # A value the SDK refuses, with the line of its key.
    f.write_text("streams:\n  - name: a\n    strategyOnFull: 1\n    timeToLiveMillis: 5\n")
    p = d.spawn(d.command(port_file))
    assert p.wait(timeout=20) != 0
    assert f"{f}:4: streams[0] (\"a\"): timeToLiveMillis" in d.stderr_text(), d.stderr_text()

    # A file that cannot be read.
    missing = tmp_path / "missing.yaml"
    p = d.spawn(d.command(port_file, extra_args=("--streams-file", str(missing))))
    assert p.wait(timeout=20) != 0
    assert f"cannot read the streams file {missing}" in d.stderr_text(), d.stderr_text()


def test_an_update_the_store_refuses_stops_the_start_and_changes_nothing(daemon_factory, tmp_path):
    f = tmp_path / "streams.yaml"
    f.write_text("streams:\n  - name: a\n    strategyOnFull: 1\n  - name: b\n    strategyOnFull: 1\n")
    d = start(daemon_factory, f)
    d.client().append_message("a", b"x")
    d.kill()
    # `a` cannot become a Memory stream; `c` must not be created either.
    f.write_text("streams:\n  - name: c\n    strategyOnFull: 1\n"
                 "  - name: a\n    strategyOnFull: 1\n    persistence: Memory\n")
    port_file = d.run_dir / "port-bad"
    p = d.spawn(d.command(port_file))
    assert p.wait(timeout=20) != 0
    err = d.stderr_text()
    assert f"{f}:4: stream \"a\": cannot be updated: persistence cannot be updated" in err, err
    f.write_text("streams:\n  - name: a\n    strategyOnFull: 1\n")
    d.start()
    assert sorted(d.client().list_streams()) == ["a", "b"]


def test_bad_file_on_sighup_keeps_what_it_has(daemon_factory, http_sink, tmp_path):
    f = tmp_path / "streams.yaml"
    f.write_text(telemetry_yaml(http_sink.url("/in")))
    d = start(daemon_factory, f)
    c = d.client()
    before = {n: c.describe_message_stream(n).definition.max_size for n in c.list_streams()}
    # A broken file that also asks to prune everything but one new stream.
    f.write_text("prune: true\nstreams:\n  - name: only\n    strategyOnFull: [\n")
    d.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "streams file not applied" in d.stderr_text(), 10, "the error in the log",
             d.log_tail)
    line = [l for l in d.stderr_text().splitlines() if "streams file not applied" in l][0]
    assert str(f) in line and "the streams are kept as they were" in line, line
    assert d.alive()
    assert {n: c.describe_message_stream(n).definition.max_size for n in c.list_streams()} == before


def test_prune_deletes_exactly_the_streams_the_file_does_not_list(daemon_factory, tmp_path):
    f = tmp_path / "streams.yaml"
    f.write_text("prune: true\nstreams:\n  - name: a\n    strategyOnFull: 1\n"
                 "  - name: b\n    strategyOnFull: 1\n")
    d = start(daemon_factory, f)
    c = d.client()
    c.create_message_stream(MessageStreamDefinition(name="by-sdk",
                                                    strategy_on_full=StrategyOnFull.RejectNewData))
    c.append_message("a", b"kept")
    f.write_text("prune: true\nstreams:\n  - name: a\n    strategyOnFull: 1\n")
    d.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: sorted(c.list_streams()) == ["a"], 10, "b and by-sdk pruned", d.log_tail)
    assert c.read_messages("a")[0].payload == b"kept"
    try:
        c.describe_message_stream("b")
        raise AssertionError("b still exists")
    except ResourceNotFoundException:
        pass
    assert "deleting a stream the file does not list (prune: true)" in d.stderr_text()

    # prune: true with an empty list is refused: nothing is deleted.
    f.write_text("prune: true\nstreams: []\n")
    d.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "would delete every stream" in d.stderr_text(), 10, "the refusal", d.log_tail)
    assert c.list_streams() == ["a"]
    # Without prune, a file that no longer lists `a` leaves it alone.
    f.write_text("streams: []\n")
    d.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: d.stderr_text().count("streams file applied") >= 3, 10, "the reload", d.log_tail)
    assert c.list_streams() == ["a"]


def test_sighup_without_a_streams_file_is_logged_and_harmless(daemon_factory):
    # `systemctl reload` sends SIGHUP whatever the configuration: it must never stop the daemon.
    d = daemon_factory()
    d.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "no streams file is configured" in d.stderr_text(), 10, "the log line",
             d.log_tail)
    assert d.alive()
    assert d.client().list_streams() == []
