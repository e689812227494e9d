"""corr run -o report.html: one self-contained page, its content exact on
scenarios with known ground truth, every trace string escaped, and a
page headless Chromium draws without a console message."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from bs4 import BeautifulSoup

import corr.api as api
from corr.render import html_report
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
