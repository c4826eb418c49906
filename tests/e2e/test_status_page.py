"""The status page (``GET /`` of the metrics address) in a real headless Chromium.

Debian's ``chromium`` (``.ci/run`` installs it) loads the page from the daemon, runs its
script and dumps the DOM (``--dump-dom`` after a virtual-time budget); the test checks that a
stream and the exports it created are shown with their lag and last error, that the page
loads nothing but itself and ``status.json``, and that the rate plot changes as the history
fills (the daemon samples its counters every 5 s).  A screenshot is taken too; with
``SM_STATUS_SCREENSHOT=PATH`` it is kept there (how ``docs/status-page.png`` was made).
"""

import json
import os
import re
import shutil
import subprocess
import time
import urllib.request
from html.parser import HTMLParser

from stream_manager import (
    ExportDefinition,
    HTTPConfig,
    MessageStreamDefinition,
    StrategyOnFull,
)

from test_metrics import METRICS, start
from test_export_http import wait_until

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--mute-audio"]


def chromium(tmp_path, *args):
    assert CHROMIUM, "Debian's chromium is needed (apt-get install chromium; .ci/run does it)"
    profile = tmp_path / ("chromium-profile-%d" % time.monotonic_ns())
    out = subprocess.run([CHROMIUM, *FLAGS, "--user-data-dir=%s" % profile, *args],
                         capture_output=True, timeout=120)
    shutil.rmtree(profile, ignore_errors=True)
    return out


def dom(tmp_path, url):
    out = chromium(tmp_path, "--virtual-time-budget=3000", "--dump-dom", url)
    html = out.stdout.decode("utf-8", "replace")
    assert "<html" in html, out.stderr.decode("utf-8", "replace")[-2000:]
    return html


class Cells(HTMLParser):
    """Text of the cells of each table row by table id, and the plot's polyline points."""

    def __init__(self):
        super().__init__()
        self.tables, self.lines, self.ids = {}, {}, {}
        self._table = self._row = self._cell = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self._table = self.tables.setdefault(a.get("id"), [])
        elif tag == "tr" and self._table is not None:
            self._row = []
            self._table.append(self._row)
        elif tag in ("td", "th") and self._row is not None:
            self._cell = ""
        elif tag == "polyline":
            self.lines[a.get("id")] = a.get("points", "")
        if "id" in a:
            self.ids[a["id"]] = ""
            self._id = a["id"]
        else:
            self._id = getattr(self, "_id", None) if tag in ("b", "span") else None

    def handle_endtag(self, tag):
        self._id = None
        if tag in ("td", "th") and self._cell is not None:
            self._row.append(self._cell.strip())
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data
        if getattr(self, "_id", None) in self.ids:
            self.ids[self._id] += data


def parse(html):
    p = Cells()
    p.feed(html)
    return p


def status_json(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/status.json" % port, timeout=10) as r:
        return json.loads(r.read())


def test_status_page_in_chromium(daemon_factory, http_sink, tmp_path):
    d = start(daemon_factory, *METRICS)
    c = d.client()
    c.create_message_stream(MessageStreamDefinition(
        name="telemetry", strategy_on_full=StrategyOnFull.OverwriteOldestData,
        export_definition=ExportDefinition(http=[HTTPConfig(identifier="to-sink", uri=http_sink.url("/in"))])))
    c.create_message_stream(MessageStreamDefinition(
        name="broken", strategy_on_full=StrategyOnFull.OverwriteOldestData,
        export_definition=ExportDefinition(http=[HTTPConfig(identifier="nowhere", uri="http://127.0.0.1:1/")])))
    for i in range(30):
        c.append_message("telemetry", b"m%d" % i)
    c.append_message("broken", b"x")
    wait_until(lambda: http_sink.accepted_count("/in") == 30, 15, "the export to deliver")
    url = "http://127.0.0.1:%d/" % d.metrics_port

    # The page as served: self-contained.
    with urllib.request.urlopen(url, timeout=10) as r:
        assert r.headers["Content-Type"] == "text/html; charset=utf-8"
        page = r.read().decode()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page), "the page loads nothing from elsewhere"

    first = parse(dom(tmp_path, url))
    streams = {r[0]: r for r in first.tables["streams"][1:]}
    assert set(streams) == {"telemetry", "broken"}, first.tables
    assert streams["telemetry"][2] == "30" and streams["telemetry"][4] == "29", streams
    exports = {r[1]: r for r in first.tables["exports"][1:]}
    assert exports["http:to-sink"][0] == "telemetry"
    assert exports["http:to-sink"][3] == "0" and exports["http:to-sink"][5] == "30", exports
    assert exports["http:nowhere"][3] == "1", exports
    assert "127.0.0.1:1" in exports["http:nowhere"][8], exports
    assert first.ids["health"].strip() in ("ok", "degraded"), first.ids

    # The plot fills as the daemon samples (every 5 s): the appends line changes once a
    # sample with new appends is in the history.
    before = first.lines["appends-line"]
    points = len(status_json(d.metrics_port)["history"]["points"])
    for i in range(50):
        c.append_message("telemetry", b"more%d" % i)
    wait_until(lambda: any(p[1] > 0 for p in status_json(d.metrics_port)["history"]["points"][points:]),
               20, "a new sample with appends")
    second = parse(dom(tmp_path, url))
    after = second.lines["appends-line"]
    assert after != before and after.count(",") >= 1, (before, after)
    assert float(second.ids["now-appends"].strip()) >= 0.0

    shot = os.environ.get("SM_STATUS_SCREENSHOT") or str(tmp_path / "status.png")
    chromium(tmp_path, "--virtual-time-budget=3000", "--hide-scrollbars", "--window-size=1280,900",
             "--screenshot=%s" % shot, url)
    with open(shot, "rb") as f:
        png = f.read()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
