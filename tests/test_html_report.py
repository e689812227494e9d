"""corr run -o report.html: one self-contained page, its content exact on
scenarios with known ground truth, every trace string escaped, and a
page headless Chromium draws without a console message."""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from bs4 import BeautifulSoup

import corr.api as api
from corr.render import html_charts, html_report
from corr.testing.scenario import Scenario

from conftest import one_line_error, run_corr
from test_sched_scenarios import chain_to_the_disk

RULES = Path(__file__).resolve().parent.parent / "rules" / "offcpu.yaml"
SCRIPT_NAME = "<script>alert(1)</script>"
QUOTES_NAME = "&\"'<>"
# TASK_COMM_LEN allows 15 bytes: thread names that would open tags if unescaped.
WAITER_COMM = "<i>w&\"'</i>"
WAKER_COMM = "<script>alert("
CSP = '<meta http-equiv="Content-Security-Policy"'


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """client (101) waits on server (102), which waits on the disk (BLOCK softirq)."""
    path = tmp_path_factory.mktemp("chain") / "trace"
    chain_to_the_disk().write(path, end=10_000)
    result = api.run(str(RULES), [path], overrides=["offcpu.threshold=1us"])
    html = html_report.render(result)
    return path, html, BeautifulSoup(html, "html.parser")


def _rows(table) -> list[tuple]:
    return [tuple(td.get_text(" ", strip=True) for td in tr.find_all("td"))
            for tr in table.find("tbody").find_all("tr")]


def test_summary_histogram_and_timeline(chain):
    _, _, page = chain
    rule = page.find("section", id="rule-offcpu")
    stats = dict(zip([th.get_text() for th in rule.select("table.stats thead th")],
                     _rows(rule.select_one("table.stats"))[0]))
    assert (stats["count"], stats["min"], stats["max"], stats["> thr"]) == ("2", "4us", "7us", "2")
    assert "2 over the threshold" in rule.select_one(".pills").get_text(" ", strip=True)
    # The histogram: bars, and the dashed threshold line drawn at 1 us.
    histogram = rule.select_one("figure.histogram svg")
    assert histogram.find(id="threshold-0") is not None
    assert "threshold 1.000 us" in histogram.get_text()
    # The timeline: a lane per group (prev_comm), a bar per slow interval.
    timeline = rule.select_one("figure.timeline svg")
    lanes = [t.get_text() for t in timeline.find_all("text")]
    assert "client" in lanes and "server" in lanes
    assert [r[2] for r in _rows(rule.find("h3", string="Slowest intervals").find_next("table"))] \
        == ["7.000 us", "4.000 us"]


def test_breakdown_and_critical_path_of_the_slowest(chain):
    _, _, page = chain
    rule = page.find("section", id="rule-offcpu")
    assert rule.select_one("figure.breakdowns svg") is not None
    slowest = rule.select("details.interval")[0]
    assert slowest.has_attr("open")
    assert "7.000 us" in slowest.summary.get_text() and "client (101)" in slowest.summary.get_text()
    parts, segments = slowest.find_all("table")
    assert _rows(parts) == [("85.7%", "6.000 us", "blocked: server (102)"),
                            ("14.3%", "1.000 us", "waiting for a CPU")]
    assert _rows(segments) == [
        ("+0.000 ms", "1.000 us", "RUNNING", "server (102)"),
        ("+0.001 ms", "3.200 us", "BLOCK_DEVICE", "server (102)"),
        ("+0.004 ms", "800 ns", "PREEMPTED", "server (102)"),
        ("+0.005 ms", "1.000 us", "RUNNING", "server (102)"),
        ("+0.006 ms", "1.000 us", "PREEMPTED", "client (101)"),
    ]
    picture = slowest.select_one("figure.path svg").get_text(" ")
    assert "server (102)" in picture and "client (101)" in picture and "BLOCK_DEVICE" in picture


def test_blame_graph_picture_and_ranking(chain):
    _, _, page = chain
    rule = page.find("section", id="rule-offcpu")
    graph = rule.select_one("figure.graph svg").get_text(" ")
    for label in ("client (101)", "server (102)", "softirq BLOCK", "6us / 1", "3.2us / 2"):
        assert label in graph
    ranking = _rows(rule.select_one("figure.graph").find_next("table"))
    # The server's disk wait lay on both intervals' paths: its 3.2 us count once.
    assert ranking[:2] == [("client (101)", "server (102)", "6.000 us", "1"),
                           ("server (102)", "softirq BLOCK", "3.200 us", "2")]


def test_the_page_loads_nothing(chain):
    _, html, page = chain
    assert not page.find_all(["script", "link", "iframe", "object", "embed", "img"])
    for tag in page.find_all(True):
        for attr in ("src", "href", "xlink:href", "srcset", "action"):
            value = tag.get(attr)
            assert value is None or value.startswith(("#", "data:image/")), (tag.name, attr)
    assert "http://" not in html and "https://" not in html and "@import" not in html
    urls = html.split("url(")[1:]
    assert urls and all(u.startswith("#") for u in urls)
    assert CSP in html and "default-src 'none'" in html


def test_the_same_result_gives_the_same_page(chain):
    _, html, _ = chain
    trace = chain[0]
    again = html_report.render(api.run(str(RULES), [trace], overrides=["offcpu.threshold=1us"]))
    assert again == html


def test_cli_writes_html_from_the_extension_or_the_format(chain, tmp_path):
    trace, _, _ = chain
    for name, extra in (("report.html", ()), ("report.out", ("--format", "html"))):
        out = tmp_path / name
        proc = run_corr("run", RULES, trace, "--set", "offcpu.threshold=1us", "-o", out, *extra)
        assert proc.returncode == 0, proc.stderr
        text = out.read_text()
        assert text.startswith("<!DOCTYPE html>") and 'id="rule-offcpu"' in text
        assert not list(tmp_path.glob(".*"))            # no temporary file left behind
    one_line_error(run_corr("run", RULES, trace, "--format", "html"), "-o FILE")


# -- the charts as SVG ------------------------------------------------------------

SVG = re.compile(r"<svg\b.*?</svg>", re.S)


def _svgs(html: str) -> list[ET.Element]:
    """Every inline SVG of a page, parsed as XML (a syntax error fails)."""
    return [ET.fromstring(svg) for svg in SVG.findall(html)]


def _charts(html: str) -> dict[str, list[ET.Element]]:
    charts: dict = {}
    for svg in _svgs(html):
        charts.setdefault(svg.get("aria-label"), []).append(svg)
    return charts


def test_every_svg_of_the_report_is_well_formed_xml(chain, hostile):
    for html in (chain[1], hostile[1]):
        assert html.count("<svg") == len(SVG.findall(html))
        assert all(svg.tag == "svg" and svg.get("viewBox") for svg in _svgs(html))
    counts = {label: len(svgs) for label, svgs in _charts(chain[1]).items()}
    assert counts == {"latency histogram": 1, "slow intervals in time": 1,
                      "where the time of the slowest intervals went": 1, "critical path": 2,
                      "blame graph": 1}


def _title(element) -> str | None:
    title = element.find("title")
    return title.text if title is not None else None


def test_timeline_bars_lanes_and_colour_scale(chain):
    """One bar per slow interval in its group's lane, the slowest the darkest
    colour of the duration scale, whose gradient the colour bar shows."""
    (timeline,) = _charts(chain[1])["slow intervals in time"]
    bars = {_title(r): r.get("fill") for r in timeline.iter("rect") if _title(r)}
    assert set(bars) == {"client: 7.000 us at +0.000001 s", "server: 4.000 us at +0.000002 s"}
    assert bars["client: 7.000 us at +0.000001 s"] == html_charts.DURATION_SCALE[-1]
    assert bars["server: 4.000 us at +0.000002 s"] not in html_charts.DURATION_SCALE[:1]
    stops = [s.get("stop-color") for s in timeline.iter("stop")]
    assert stops == list(html_charts.DURATION_SCALE)
    ticks = [t.text for t in timeline.iter("text")]
    assert "1us" in ticks and "7us" in ticks            # the colour bar: threshold to slowest


def test_critical_path_in_trace_compass_colours(chain):
    paths = _charts(chain[1])["critical path"]
    bars = {_title(r): r.get("fill") for r in paths[0].iter("rect") if _title(r)}
    assert bars == {
        "RUNNING, server (102): 1.000 us at +0 ns": "#339900",
        "BLOCK_DEVICE, server (102): 3.200 us at +1.000 us": "#6600cc",
        "PREEMPTED, server (102): 800 ns at +4.200 us": "#c86464",
        "RUNNING, server (102): 1.000 us at +5.000 us": "#339900",
        "PREEMPTED, client (101): 1.000 us at +6.000 us": "#c86464",
    }
    legend = [t.text for t in paths[0].iter("text")]
    assert [s for s in html_charts.STATE_COLOURS if s in legend] == \
        ["RUNNING", "PREEMPTED", "BLOCK_DEVICE"]
    lanes = [t.text for t in paths[0].iter("text") if t.get("text-anchor") == "end"]
    assert lanes == ["server (102)", "client (101)"]
    assert {"0", "1us", "7us", "time from the interval's start"} <= set(legend)


def test_breakdown_bars_and_their_legend(chain):
    (chart,) = _charts(chain[1])["where the time of the slowest intervals went"]
    parts = [(_title(r), r.get("fill")) for r in chart.iter("rect") if _title(r)]
    assert parts == [("#1 blocked: server (102): 6.000 us (85.7%)", "#5b8def"),
                     ("#1 waiting for a CPU: 1.000 us (14.3%)", "#c86464"),
                     ("#2 blocked: softirq BLOCK: 3.200 us (80.0%)", "#5b8def"),
                     ("#2 waiting for a CPU: 800 ns (20.0%)", "#c86464")]
    widths = [float(r.get("width")) for r in chart.iter("rect") if _title(r)]
    assert widths[0] / widths[1] == pytest.approx(6.0, rel=0.02)    # 6 us against 1 us
    texts = [t.text for t in chart.iter("text")]
    assert "waiting for a CPU" in texts and "blocked" in texts and "on CPU" not in texts


HISTOGRAM_RULES = """\
version: 1
rules:
  - name: request
    entry:
      event: app:begin
      key: [name]
      fields: [name]
    exit:
      event: app:end
      key: [name]
    match: first
    threshold: 500us
"""
# Known durations: three of 10 us, two of 20 us, one of 1 ms.
REQUESTS = [10_000, 10_000, 10_000, 20_000, 20_000, 1_000_000]


@pytest.fixture(scope="module")
def requests(tmp_path_factory):
    s = Scenario(cpus=1)
    t = s.thread(tid=201, pid=201, comm="srv")
    s.run(cpu=0, thread=t, at=0)
    at = 1_000
    for n, ns in enumerate(REQUESTS):
        s.ust(t, "app:begin", at=at, name=f"r{n}")
        s.ust(t, "app:end", at=at + ns, name=f"r{n}")
        at += ns + 1_000
    tmp = tmp_path_factory.mktemp("requests")
    s.write(tmp / "trace", end=at)
    rules = tmp / "rules.yaml"
    rules.write_text(HISTOGRAM_RULES)
    return html_report.render(api.run(str(rules), [tmp / "trace"]))


def test_histogram_bins_of_known_durations(requests):
    """40 buckets growing geometrically from the shortest (10 us) to the
    longest (1 ms, times 1.0001): 10 us in the first, 20 us in the seventh
    (10 us * 100.01^(6/40) = 19.95 us), 1 ms in the last, red over the threshold."""
    (histogram,) = _charts(requests)["latency histogram"]
    bars = [r for r in histogram.iter("rect") if r.get("data-count")]
    edge = [10_000 * 100.01 ** (i / 40) for i in range(41)]
    assert [(int(r.get("data-count")), int(r.get("data-low-ns")), int(r.get("data-high-ns")))
            for r in bars] == [(3, 10_000, round(edge[1])), (2, round(edge[6]), round(edge[7])),
                               (1, round(edge[39]), 1_000_100)]
    assert (round(edge[1]), round(edge[6]), round(edge[7]), round(edge[39])) == \
        (11_220, 19_953, 22_388, 891_338)
    assert [_title(r) for r in bars] == ["10us to 11.2us: 3 intervals", "20us to 22.4us: 2 intervals",
                                         "891us to 1ms: 1 interval, over the threshold"]
    assert [r.get("fill") for r in bars] == [html_charts.FAST, html_charts.FAST, html_charts.SLOW]
    # A linear count axis (3 against 1 is no reason for a log one): heights in proportion.
    heights = [float(r.get("height")) for r in bars]
    assert heights[0] / heights[2] == pytest.approx(3, rel=0.01)
    assert heights[1] / heights[2] == pytest.approx(2, rel=0.01)
    # Bars left to right, one bucket of a log axis wide each.
    xs = [float(r.get("x")) for r in bars]
    widths = [float(r.get("width")) for r in bars]
    assert xs == sorted(xs) and max(widths) - min(widths) < 0.25
    assert (xs[1] - xs[0]) / widths[0] == pytest.approx(6, rel=0.03)
    texts = [t.text for t in histogram.iter("text")]
    assert {"10us", "100us", "1ms", "intervals", "duration (log scale)",
            "threshold 500.000 us"} <= set(texts)
    line = histogram.find(".//line[@id='threshold-0']")
    # The threshold (500 us) a log step of 0.699 decade right of 100 us's tick.
    tick = {t.text: float(t.get("x")) for t in histogram.iter("text")}
    decade = tick["1ms"] - tick["100us"]
    assert float(line.get("x1")) - tick["100us"] == pytest.approx(decade * math.log10(5), abs=0.3)
    assert line.get("stroke-dasharray")


def test_histogram_counts_turn_logarithmic_when_a_tail_would_vanish():
    """1,000 fast intervals and one slow: the count axis is logarithmic from
    below 1, so that the single slow one still has a visible bar."""
    svg = ET.fromstring(html_charts.histogram(np.array([10_000] * 1000 + [5_000_000]), 1_000_000))
    labels = [t.text for t in svg.iter("text")]
    assert {"1", "10", "100", "1,000"} <= set(labels)
    bars = {int(r.get("data-count")): float(r.get("height")) for r in svg.iter("rect")
            if r.get("data-count")}
    assert bars[1] > 10 and bars[1000] / bars[1] == pytest.approx(
        math.log10(1000 / 0.7) / math.log10(1 / 0.7), rel=0.01)


def test_time_axes_are_labelled_in_units():
    assert html_charts.time_ticks(300e6, 8) == [
        (0, "0"), (50e6, "50ms"), (100e6, "100ms"), (150e6, "150ms"), (200e6, "200ms"),
        (250e6, "250ms"), (300e6, "300ms")]
    assert [t for _, t in html_charts.time_ticks(1.5e9, 8)] == \
        ["0", "0.2s", "0.4s", "0.6s", "0.8s", "1s", "1.2s", "1.4s"]
    assert [t for _, t in html_charts.time_ticks(7_000, 8)] == \
        ["0", "1us", "2us", "3us", "4us", "5us", "6us", "7us"]
    assert [t for _, t in html_charts.time_ticks(12e6, 5)] == \
        ["0", "2.5ms", "5ms", "7.5ms", "10ms"]


def test_chart_text_from_traces_is_escaped():
    """A lane, a path's thread and a blame node named like markup: escaped in
    the SVG text (which parses back to the very name), control characters
    written out (XML forbids them even escaped)."""
    name = "<script>a&b</script>\x01"
    timeline = html_charts.timeline([name], np.array([0]), np.array([0.1]), np.array([0.01]),
                                    np.array([10_000_000]), 1_000_000, 1.0)
    assert "<script>" not in timeline and "&lt;script&gt;a&amp;b&lt;/script&gt;\\x01" in timeline
    assert name.replace("\x01", "\\x01") in [t.text for t in ET.fromstring(timeline).iter("text")]
    path = html_charts.critical_path({"start_ns": 0, "duration_ns": 10, "critical_path": [
        {"tid": 7, "comm": name, "state": "RUNNING", "start_ns": 0, "end_ns": 10, "via": []}]})
    assert "<script>" not in path
    assert f"{name} (7)".replace("\x01", "\\x01") in [t.text for t in ET.fromstring(path).iter("text")]


def test_the_hostile_names_in_the_charts(hostile):
    _, html = hostile
    for svg in SVG.findall(html):
        assert "<script" not in svg and "<i>" not in svg
    texts = [t.text for svg in _svgs(html) for t in svg.iter("text")]
    assert f"{WAITER_COMM} (101)" in texts and f"{WAKER_COMM} (102)" in texts
    assert SCRIPT_NAME in texts and QUOTES_NAME in texts
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&amp;&quot;&#x27;&lt;&gt;" in html


VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}


class _Structure(HTMLParser):
    """Every element closed where it was opened, one html, head and body."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.seen: dict[str, int] = {}
        self.doctype = 0
        self.closed_html = False
        self.after: list[str] = []

    def handle_decl(self, decl):
        self.doctype += 1
        if self.stack or decl.lower() != "doctype html":
            self.problems.append(f"declaration {decl!r}")

    def handle_starttag(self, tag, attrs):
        if "svg" not in self.stack:                   # an SVG's <title> is a tooltip
            self.seen[tag] = self.seen.get(tag, 0) + 1
        if self.closed_html:
            self.problems.append(f"<{tag}> after </html>")
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        if not self.stack or self.stack[0] != "html":
            self.problems.append(f"<{tag}/> outside html")

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()
            self.closed_html = self.closed_html or tag == "html"

    def handle_data(self, data):
        if self.closed_html and data.strip():
            self.after.append(data)


def _structure_problems(html: str) -> list[str]:
    parser = _Structure()
    parser.feed(html)
    parser.close()
    problems = list(parser.problems)
    if parser.stack:
        problems.append(f"unclosed {parser.stack}")
    if parser.doctype != 1 or not html.startswith("<!DOCTYPE html>"):
        problems.append("no doctype first")
    for tag in ("html", "head", "body", "main", "title"):
        if parser.seen.get(tag) != 1:
            problems.append(f"{parser.seen.get(tag, 0)} <{tag}>")
    if not parser.closed_html or parser.after:
        problems.append("the page does not end at </html>")
    return problems


def test_the_structure_check_sees_a_broken_page(chain):
    _, html, _ = chain
    cut = html.index("</svg>")
    assert _structure_problems(html[:cut] + html[cut + 6:])                     # an SVG unclosed
    assert _structure_problems(html[:html.rindex("</section>")])               # cut short
    assert _structure_problems(html.replace("<text ", "<text><text ", 1))
    assert _structure_problems(html + "<p>more</p>")


def test_the_report_is_one_whole_document(chain, hostile, requests):
    for html in (chain[1], hostile[1], requests):
        assert _structure_problems(html) == []
        assert html.rstrip().endswith("</html>")


def test_no_plotting_library_is_imported_for_a_report(chain, tmp_path):
    """The charts are text: writing a report imports neither matplotlib nor networkx."""
    trace = chain[0]
    code = ("import sys, corr.api as api\n"
            "from corr.render import html_report\n"
            f"r = api.run({str(RULES)!r}, [{str(trace)!r}], overrides=['offcpu.threshold=1us'])\n"
            "html = html_report.render(r)\n"
            "assert '<svg' in html\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('matplotlib', 'networkx')))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "CORR_SERVER": "off"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "[]"


# -- escaping --------------------------------------------------------------------

ESCAPE_RULES = """\
version: 1
rules:
  - name: request
    description: a request, begin to end
    entry:
      event: app:begin
      key: [name]
      fields: [name]
    exit:
      event: app:end
      key: [name]
    match: first
    group_by: [entry.name]
    threshold: 1us
    blame: entry
"""


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """Two requests named like markup; the waiting thread's and its waker's
    names too: a page that does not escape them runs a script or breaks."""
    s = Scenario(cpus=2)
    waiter = s.thread(tid=101, pid=101, comm=WAITER_COMM)
    waker = s.thread(tid=102, pid=102, comm=WAKER_COMM)
    s.run(cpu=0, thread=waiter, at=0)
    s.run(cpu=1, thread=waker, at=0)
    s.ust(waiter, "app:begin", at=500, name=SCRIPT_NAME)
    s.block(waiter, at=1_000, state="S")
    s.wakeup(waiter, by=waker, at=4_000)
    s.run(cpu=0, thread=waiter, at=4_500)
    s.ust(waiter, "app:end", at=5_000, name=SCRIPT_NAME)
    s.ust(waiter, "app:begin", at=6_000, name=QUOTES_NAME)
    s.ust(waiter, "app:end", at=9_000, name=QUOTES_NAME)
    tmp = tmp_path_factory.mktemp("hostile")
    s.write(tmp / "trace", end=10_000)
    rules = tmp / "rules.yaml"
    rules.write_text(ESCAPE_RULES)
    result = api.run(str(rules), [tmp / "trace"])
    html = html_report.render(result)
    return tmp, html


def test_trace_strings_never_appear_unescaped(hostile):
    _, html = hostile
    for raw in (SCRIPT_NAME, QUOTES_NAME, WAITER_COMM, WAKER_COMM, "<script", "<i>"):
        assert raw not in html, raw
    page = BeautifulSoup(html, "html.parser")
    assert not page.find_all(["script", "i"])
    groups = _rows(page.find("h3", string="By entry.name").find_next("table"))
    assert {row[0] for row in groups} == {SCRIPT_NAME, QUOTES_NAME}
    text = page.get_text(" ")
    assert f"{WAITER_COMM} (101)" in text and f"{WAKER_COMM} (102)" in text
    graph = page.select_one("figure.graph svg").get_text(" ")
    assert f"{WAITER_COMM} (101)" in graph and f"{WAKER_COMM} (102)" in graph
    lanes = page.select_one("figure.timeline svg").get_text(" ")
    assert SCRIPT_NAME in lanes and QUOTES_NAME in lanes


# -- in a browser ----------------------------------------------------------------

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                  "--enable-logging=stderr", "--v=0"]
# Records what a page's scripts did into the DOM, for --dump-dom to show.
PROBE = ("<script>(function(){var d=document.documentElement;"
         "function note(k){return function(m){d.setAttribute(k,String(m));};}"
         "window.alert=window.confirm=window.prompt=note('data-dialog');"
         "window.onerror=note('data-error');})();</script>")


def _chromium() -> str:
    exe = shutil.which("chromium")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing in CI (scripts/install-system-deps.sh installs it)")
        pytest.skip("chromium not installed (scripts/install-system-deps.sh installs it)")
    return exe


def _browse(page: Path, tmp_path: Path, *args) -> subprocess.CompletedProcess:
    profile = tmp_path / f"profile-{page.stem}"
    proc = subprocess.run([_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args,
                           page.as_uri()], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def _console(proc) -> list[str]:
    """The page's console messages (errors, CSP violations, logs) Chromium logged."""
    return [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]


def test_the_console_check_sees_errors(tmp_path):
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><p>x</p><script>undefined_function()</script>")
    assert any("Uncaught" in line for line in _console(_browse(page, tmp_path, "--dump-dom")))


def test_chromium_draws_the_report_without_a_console_message(chain, tmp_path):
    _, html, _ = chain
    page = tmp_path / "report.html"
    page.write_text(html)
    shot = tmp_path / "shot.png"
    proc = _browse(page, tmp_path, f"--screenshot={shot}", "--window-size=1280,2000")
    assert _console(proc) == []
    from PIL import Image
    pixels = np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3)
    colours = np.unique(pixels, axis=0)
    not_white = (pixels.min(axis=1) < 235).mean()
    assert len(colours) > 200 and not_white > 0.08, (len(colours), not_white)


def test_chromium_runs_no_script_from_trace_strings(hostile, tmp_path):
    """Without the page's Content-Security-Policy (which would block a
    script anyway), so that this tests the escaping alone."""
    _, html = hostile
    head = html.index(CSP)
    html = html[:head] + html[html.index(">", head) + 1:]
    html = html.replace("<head>", "<head>" + PROBE, 1)
    page = tmp_path / "hostile.html"
    page.write_text(html)
    proc = _browse(page, tmp_path, "--dump-dom")
    assert _console(proc) == []
    dom = BeautifulSoup(proc.stdout, "html.parser")
    assert not dom.html.has_attr("data-dialog") and not dom.html.has_attr("data-error")
    assert len(dom.find_all("script")) == 1                  # the probe only
    groups = _rows(dom.find("h3", string="By entry.name").find_next("table"))
    assert {row[0] for row in groups} == {SCRIPT_NAME, QUOTES_NAME}
    assert f"{WAKER_COMM} (102)" in dom.select_one("figure.graph svg").get_text(" ")


def test_a_path_through_many_threads_keeps_its_busiest_lanes():
    """A parent waiting on its children goes through thousands of threads: the
    threads with the most time on the path keep a lane, the others share one."""
    from corr.render import html_charts
    times = {101: 500, 102: 50, 103: 300, 104: 40, 105: 110}       # ns on the path, per thread
    path, at = [], 1_000
    for tid, ns in times.items():
        path.append({"tid": tid, "comm": f"t{tid}", "state": "RUNNING", "start_ns": at,
                     "end_ns": at + ns, "via": []})
        at += ns
    iv = {"start_ns": 1_000, "duration_ns": at - 1_000, "critical_path": path}
    svg = html_charts.critical_path(iv, max_lanes=3)
    assert "t101 (101)" in svg and "t103 (103)" in svg
    assert "3 other threads" in svg
    assert not any(f"t{tid} ({tid})" in svg for tid in (102, 104, 105))
    assert "other threads" not in html_charts.critical_path(iv, max_lanes=5)
