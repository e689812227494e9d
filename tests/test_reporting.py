"""Reporting controls on exact scenarios (docs/rules.md, "Reporting"): ``report:``
(which statuses may be slow), ``min_count:`` (small groups left out of the table)
and ``count:`` rules (instant events counted per group and per window).

The ``report:`` scenario: thread 101's read from 1 to 4 us (complete, 3 us),
thread 103's from 5 to 5.5 us (complete, fast), thread 101's read from 10 us
never ends (timed out at its 8 us deadline, 18 us), thread 104's from 12 us
never ends either (incomplete at the trace's last event, 19.5 us; preempted by
103 from 16 us to 19.5 us).
"""

from __future__ import annotations

import io
import json
import re

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from rich.console import Console

import corr
import corr.api as api
from conftest import run_corr
from corr.analyses.counting import summarize_counts
from corr.render import run_text
from corr.testing import Scenario

READS = """\
version: 1
rules:
  - name: reads
    entry: {{event: syscall_entry_read, key: {{tid: $tid}}}}
    exit: {{event: syscall_exit_read, key: {{tid: $tid}}}}
{threshold}    timeout: 8us
    group_by: entry.$tid
    blame: entry
{more}"""
EVERY_STATUS = "    report: [complete, late, timeout, incomplete]\n"


@pytest.fixture(scope="module")
def reads(tmp_path_factory):
    s = Scenario(cpus=2)
    a = s.thread(tid=101, pid=101, comm="a")
    c = s.thread(tid=103, pid=103, comm="c")
    d = s.thread(tid=104, pid=104, comm="d")
    s.run(cpu=0, thread=a, at=0)
    s.run(cpu=1, thread=c, at=0)
    s.syscall(a, "read", 1_000, 4_000)
    s.syscall(c, "read", 5_000, 5_500)
    s.run(cpu=1, thread=d, at=6_000)
    s.syscall_entry(a, "read", 10_000)
    s.syscall_entry(d, "read", 12_000)
    s.preempt(d, by=c, at=16_000)
    s.run(cpu=1, thread=d, at=19_500)
    path = tmp_path_factory.mktemp("reads") / "trace"
    s.write(path, end=20_000)
    return s, path


def rules_file(tmp_path, more: str = "", threshold: str = "1us"):
    path = tmp_path / "reads.yaml"
    path.write_text(READS.format(threshold=f"    threshold: {threshold}\n" if threshold else "",
                                 more=more))
    return path


def slowest(s, rule: dict) -> list[tuple]:
    base = s.ns_from_origin(0)
    return [(iv["start_ns"] - base, iv["end_ns"] - base, iv["status"], iv["key"],
             [(p["kind"], p["by"], p["ns"]) for p in iv.get("breakdown", ())])
            for iv in rule["intervals"]]


@pytest.fixture(params=["c", "python"])
def engine(request, monkeypatch):
    """Both matchers: the C core and the Python reference (statuses come from them)."""
    if request.param == "python":
        monkeypatch.setenv("CORR_ENGINE", "python")
    return request.param


def test_by_default_only_complete_and_late_intervals_are_slow(reads, tmp_path, engine):
    s, trace = reads
    r = api.run(str(rules_file(tmp_path)), [trace], cache=False).rule("reads").to_dict()
    assert r["report"] == ["complete", "late"]
    assert (r["outcomes"]["complete"], r["outcomes"]["timeouts"], r["outcomes"]["incomplete"]) == (2, 1, 1)
    assert slowest(s, r) == [(1_000, 4_000, "complete", 101, [("on_cpu", None, 3_000)])]
    assert r["stats"]["over_threshold"] == 1
    assert {g["key"]: g["stats"]["over_threshold"] for g in r["groups"]} == {101: 1, 103: 0, 104: 0}
    assert (r["blame"]["slow"], r["blame"]["analysed"]) == (1, 1)
    assert r["blame"]["differential"] == [
        {"part": "on_cpu", "slow_share": 1.0, "fast_share": 1.0, "change": 0.0}]


def test_report_names_the_statuses_that_may_be_slow(reads, tmp_path, engine):
    s, trace = reads
    r = api.run(str(rules_file(tmp_path, EVERY_STATUS)), [trace], cache=False).rule("reads").to_dict()
    assert r["report"] == ["complete", "late", "timeout", "incomplete"]
    assert slowest(s, r) == [
        (10_000, 18_000, "timeout", 101, [("on_cpu", None, 8_000)]),
        (12_000, 19_500, "incomplete", 104, [("on_cpu", None, 4_000),
                                             ("preempted", "c (103)", 3_500)]),
        (1_000, 4_000, "complete", 101, [("on_cpu", None, 3_000)])]
    assert r["stats"]["over_threshold"] == 3
    # The statistics of durations stay those of the intervals whose end the trace tells.
    assert (r["stats"]["count"], r["stats"]["max_ns"]) == (2, 3_000)
    assert {g["key"]: g["stats"]["over_threshold"] for g in r["groups"]} == {101: 2, 103: 0, 104: 1}
    assert (r["blame"]["slow"], r["blame"]["analysed"]) == (3, 3)
    edges = {(e["from"], e["to"]): (e["ns"], e["count"]) for e in r["blame"]["edges"]}
    assert edges == {("tid:104", "tid:103"): (3_500, 1)}
    # Slow: 3.5 us preempted of 18.5 us; fast (103's complete read): none.
    diff = {d["part"]: (d["slow_share"], d["fast_share"]) for d in r["blame"]["differential"]}
    assert diff == {"on_cpu": (round(15_000 / 18_500, 6), 1.0),          # shares to 6 places
                    "preempted: c (103)": (round(3_500 / 18_500, 6), 0.0)}


@pytest.mark.parametrize("more, flagged", [("", 1), (EVERY_STATUS, 3),
                                           ("    report: [incomplete]\n", 1)])
def test_tune_flags_what_run_counts_over_the_threshold(reads, tmp_path, more, flagged):
    _, trace = reads
    rules = str(rules_file(tmp_path, more))
    over = api.run(rules, [trace], cache=False).rule("reads").to_dict()["stats"]["over_threshold"]
    session = api.tune(rules, [trace], cache=False)
    tuning = session.rule("reads")
    current = [c for c in tuning.overall.candidates(1_000) if c.name == "current"]
    assert over == flagged and current[0].flagged == flagged


def test_report_incomplete_only(reads, tmp_path):
    s, trace = reads
    r = api.run(str(rules_file(tmp_path, "    report: [incomplete]\n")), [trace],
                cache=False).rule("reads").to_dict()
    assert [row[:4] for row in slowest(s, r)] == [(12_000, 19_500, "incomplete", 104)]
    assert r["stats"]["over_threshold"] == 1


def test_without_a_threshold_the_slowest_keep_to_the_reported_statuses(reads, tmp_path):
    s, trace = reads
    rules = rules_file(tmp_path, threshold="")
    r = api.run(str(rules), [trace], cache=False).rule("reads").to_dict()
    assert [row[:4] for row in slowest(s, r)] == [(1_000, 4_000, "complete", 101),
                                                   (5_000, 5_500, "complete", 103)]
    assert (r["blame"]["slow"], r["blame"]["analysed"]) == (2, 2)
    everything = api.run(str(rules), [trace], cache=False).rule("reads")
    assert len(everything.selected_intervals(all_intervals=True)) == 4


def _text(result) -> str:
    out = io.StringIO()
    run_text.render(result, Console(file=out, width=200, no_color=True))
    return out.getvalue()


def html_page(tmp_path, rules, trace) -> str:
    """``corr run -o report.html``'s page."""
    html = tmp_path / "report.html"
    proc = run_corr("run", "--no-progress", "-o", html, rules, trace)
    assert proc.returncode == 0, proc.stderr
    return html.read_text()


def test_text_says_what_is_reported(reads, tmp_path):
    _, trace = reads
    default = _text(api.run(str(rules_file(tmp_path)), [trace], cache=False))
    assert ("2 more ran past 1.000 us with no end in the trace (1 timed out, 1 incomplete): "
            "not counted over the threshold") in default
    assert "reports" not in default
    every = _text(api.run(str(rules_file(tmp_path, EVERY_STATUS)), [trace], cache=False))
    assert "reports complete, late, timeout, incomplete" in every
    assert "no end in the trace" not in every
    slow_rows = [line for line in every.splitlines() if line.startswith("+0.0000") and "│" in line]
    assert [next(s for s in ("timeout", "incomplete", "complete") if s in line)
            for line in slow_rows] == ["timeout", "incomplete", "complete"]


def test_html_and_cli_json_follow_report(reads, tmp_path):
    _, trace = reads
    rules = rules_file(tmp_path, EVERY_STATUS)
    page = html_page(tmp_path, rules, trace)
    assert "reports complete, late, timeout, incomplete" in page
    assert page.count(">incomplete<") >= 1 and page.count(">timeout<") >= 1
    proc = run_corr("run", "--format", "json", "--no-progress", rules, trace)
    (r,) = json.loads(proc.stdout)["rules"]
    assert [iv["status"] for iv in r["intervals"]] == ["timeout", "incomplete", "complete"]


def test_a_stream_explains_the_reported_statuses(reads, tmp_path):
    _, trace = reads
    for more, explained in (("", {"complete"}), (EVERY_STATUS, {"complete", "incomplete", "timeout"})):
        got = {iv.status: iv.explained
               for iv in corr.stream(rules_file(tmp_path, more), [trace], cache=False, timeouts=True)}
        assert got == {"complete": True, "timeout": "timeout" in explained,
                       "incomplete": "incomplete" in explained}


def test_report_is_checked(tmp_path):
    assert_refused(rules_file(tmp_path, "    report: [complete, slow]\n"), "report")


def assert_refused(rules, message: str) -> None:
    """``corr check`` refuses ``rules`` in one line saying ``message`` (exit code 2)."""
    proc = run_corr("check", rules)
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr


# -- min_count ----------------------------------------------------------------------------

GROUPED = """\
version: 1
rules:
  - name: calls
    entry: {{event: "syscall_entry_*", key: {{tid: $tid}}}}
    exit: {{event: "syscall_exit_*", key: {{tid: $tid}}}}
    threshold: 1us
    group_by: entry.$tid
{more}"""


@pytest.fixture(scope="module")
def grouped(tmp_path_factory):
    """Thread 101 makes 3 calls of 2 us, 102 two of 500 ns, 103 one of 3 us and one
    left open at the end (incomplete: not counted)."""
    s = Scenario(cpus=3)
    threads = [s.thread(tid=t, pid=t, comm=f"t{t}") for t in (101, 102, 103)]
    for cpu, t in enumerate(threads):
        s.run(cpu=cpu, thread=t, at=0)
    for k in range(3):
        s.syscall(threads[0], "read", 1_000 + k * 5_000, 3_000 + k * 5_000)
    for k in range(2):
        s.syscall(threads[1], "write", 1_000 + k * 5_000, 1_500 + k * 5_000)
    s.syscall(threads[2], "read", 1_000, 4_000)
    s.syscall_entry(threads[2], "read", 10_000)
    path = tmp_path_factory.mktemp("grouped") / "trace"
    s.write(path, end=20_000)
    return path


def _groups(path, tmp_path, more=""):
    rules = tmp_path / "grouped.yaml"
    rules.write_text(GROUPED.format(more=more))
    return rules, api.run(str(rules), [path], cache=False).rule("calls")


@pytest.mark.parametrize("spill", [None, "2"])
@pytest.mark.parametrize("smallest, kept, left_out", [
    (None, [(101, 3), (102, 2), (103, 1)], None),
    (1, [(101, 3), (102, 2), (103, 1)], 0),
    (2, [(101, 3), (102, 2)], 1),
    (3, [(101, 3)], 2),
    (4, [], 3)])
def test_min_count_leaves_small_groups_out(grouped, tmp_path, monkeypatch, engine, spill,
                                           smallest, kept, left_out):
    if spill:
        monkeypatch.setenv("CORR_SPILL_ROWS", spill)    # the groups read a piece at a time
    more = f"    min_count: {smallest}\n" if smallest else ""
    _, r = _groups(grouped, tmp_path, more)
    assert r.intervals.spilled == bool(spill)
    d = r.to_dict()
    assert [(g["key"], g["stats"]["count"]) for g in d["groups"]] == kept
    assert d.get("groups_left_out") == left_out
    assert d["min_count"] == smallest
    assert r.group_count == len(kept)
    assert [(g["key"], g["stats"]["over_threshold"]) for g in d["groups"]] == [
        (t, {101: 3, 102: 0, 103: 1}[t]) for t, _ in kept]
    # The rule's own statistics still count every group's intervals.
    assert d["stats"]["count"] == 6


def test_min_count_in_text_and_html(grouped, tmp_path):
    rules, _ = _groups(grouped, tmp_path, "    min_count: 2\n")
    text = _text(api.run(str(rules), [grouped], cache=False))
    assert "1 group with fewer than 2 intervals left out (min_count)" in text
    group_rows = [line.split("│")[0].strip() for line in text.splitlines()
                  if line[:3] in ("101", "102", "103")]
    assert group_rows == ["101", "102"]
    page = html_page(tmp_path, rules, grouped)
    assert "1 group with fewer than 2 intervals left out (min_count)." in page
    group_rows = re.findall(r'<tr><td class="key">(\d+)</td><td class="num">', page)
    assert group_rows == ["101", "102"]
    rules.write_text(GROUPED.format(more="    min_count: 5\n"))
    text = _text(api.run(str(rules), [grouped], cache=False))
    assert "3 groups with fewer than 5 intervals left out (min_count)" in text


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_min_count_is_checked(tmp_path, value):
    rules = tmp_path / "bad.yaml"
    rules.write_text(GROUPED.format(more=f"    min_count: {value}\n"))
    assert_refused(rules, "min_count")


# -- count rules --------------------------------------------------------------------------

COUNTS = """\
version: 1
rules:
  - name: forced
    count:
      event: app:epoll
      where: event == "FORCED CLOSE"
    group_by: tid
{more}"""


@pytest.fixture(scope="module")
def closes(tmp_path_factory):
    """FORCED CLOSEs of thread 101 at 100, 300 and 2,500 ns, of thread 102 at 900,
    1,000, 1,100 and 1,200 ns; EPOLLINs (not counted) at 0, 400 and 4,000 ns: the
    trace's first and last events."""
    s = Scenario(cpus=2)
    a = s.thread(tid=101, pid=100, comm="wrk0")
    b = s.thread(tid=102, pid=100, comm="wrk1")
    s.ust(a, "app:epoll", at=0, fd=3, event="EPOLLIN")
    for at in (100, 300, 2_500):
        s.ust(a, "app:epoll", at=at, fd=7, event="FORCED CLOSE")
    s.ust(a, "app:epoll", at=400, fd=7, event="EPOLLIN")
    for at in (900, 1_000, 1_100, 1_200):
        s.ust(b, "app:epoll", at=at, cpu=1, fd=8, event="FORCED CLOSE")
    s.ust(b, "app:epoll", at=4_000, cpu=1, fd=8, event="EPOLLIN")
    path = tmp_path_factory.mktemp("closes") / "trace"
    s.write(path, end=4_000)
    return s, path


def _counted(path, tmp_path, more="    window: 1us\n"):
    rules = tmp_path / "counts.yaml"
    rules.write_text(COUNTS.format(more=more))
    result = api.run(str(rules), [path], cache=False)
    return rules, result, result.rule("forced").to_dict()


def _windows(s, counts: dict, per: list[int], busiest: int) -> dict:
    n = sum(per)
    return {"count": n, "window_ns": 1_000, "windows": 4, "max_per_window": max(per),
            "busiest_window_start_ns": s.ns_from_origin(busiest),
            "mean_per_window": n / 4, "max_per_second": max(per) * 1e6,
            "mean_per_second": n / 4 * 1e6}


def test_a_count_rule_counts_per_group_and_window(closes, tmp_path, engine):
    s, path = closes
    _, result, r = _counted(path, tmp_path)
    assert result.trace_begin_ns == s.ns_from_origin(0)
    assert result.trace_end_ns == s.ns_from_origin(4_000)
    assert r["counts"] == {**_windows(s, r["counts"], [3, 3, 1, 0], 0), "per_window": [3, 3, 1, 0]}
    assert [(g["key"], g["counts"]) for g in r["groups"]] == [
        (102, _windows(s, {}, [1, 3, 0, 0], 1_000)),
        (101, _windows(s, {}, [2, 0, 1, 0], 0))]
    assert r["intervals"] == [] and "blame" not in r
    assert r["outcomes"]["complete"] == 7


def test_a_count_rule_without_a_window(closes, tmp_path, engine):
    _, _, r = _counted(closes[1], tmp_path, more="")
    assert r["counts"] == {"count": 7}
    assert [(g["key"], g["counts"]) for g in r["groups"]] == [(102, {"count": 4}),
                                                              (101, {"count": 3})]


def test_a_count_rule_is_the_same_with_both_matchers(closes, tmp_path, monkeypatch):
    rules = tmp_path / "counts.yaml"
    rules.write_text(COUNTS.format(more="    window: 700ns\n    min_count: 4\n"))
    with_c = api.run(str(rules), [closes[1]], cache=False).rule("forced").to_dict(all_intervals=True)
    monkeypatch.setenv("CORR_ENGINE", "python")
    reference = api.run(str(rules), [closes[1]], cache=False).rule("forced").to_dict(all_intervals=True)
    assert with_c == reference
    assert [g["key"] for g in with_c["groups"]] == [102] and with_c["groups_left_out"] == 1
    assert len(with_c["intervals"]) == 7          # --all-intervals lists the events counted


def test_a_count_rule_in_text_html_and_cli_json(closes, tmp_path):
    s, path = closes
    rules, result, _ = _counted(path, tmp_path)
    text = _text(result)
    assert "(count: one event, counted per 1.000 us)" in text
    assert ("7 events; per 1.000 us window: at most 3 (from +0.000000 s), 1.75 on average "
            "over 4 windows (3e+06/s at most, 1.75e+06/s on average)") in text
    rows = [line.split("│") for line in text.splitlines() if line[:3] in ("101", "102")]
    assert [[cell.strip() for cell in row] for row in rows] == [
        ["102", "4", "3", "1", "3e+06", "1e+06"],
        ["101", "3", "2", "0.75", "2e+06", "7.5e+05"]]
    assert "slowest" not in text and "entries" not in text
    page = html_page(tmp_path, rules, path)
    assert "7 events; per 1.000 us window: at most 3" in page
    assert re.findall(r'<tr><td class="key">(\d+)</td><td class="num">(\d+)</td>', page) == [
        ("102", "4"), ("101", "3")]
    assert "over the threshold</span>" not in page.split('id="rule-forced"')[1]
    proc = run_corr("run", "--format", "json", "--no-progress", rules, path)
    (r,) = json.loads(proc.stdout)["rules"]
    assert r["counts"]["per_window"] == [3, 3, 1, 0] and r["counts"]["window_ns"] == 1_000
    assert r["intervals"] == []


def test_a_stream_hands_out_no_counted_event(closes, tmp_path):
    rules, _, _ = _counted(closes[1], tmp_path)
    assert list(corr.stream(rules, [closes[1]], cache=False)) == []


def test_a_count_rule_has_no_threshold_to_set_or_tune(closes, tmp_path):
    rules, _, _ = _counted(closes[1], tmp_path)
    proc = run_corr("run", "--no-progress", "--set", "forced.threshold=1ms", rules, closes[1])
    assert proc.returncode == 2
    assert "'forced' is a count rule: it has no threshold" in proc.stderr
    session = corr.tune(rules, [closes[1]], cache=False)
    assert [t.name for t in session.rules] == []


@pytest.mark.parametrize("more, message", [
    ("    threshold: 1ms\n", "threshold: a count rule counts single events: it has no threshold"),
    ("    window: 0s\n", "window"),
    ("    blame: entry\n", "blame: a count rule counts single events: it has no blame")])
def test_a_count_rule_is_checked(tmp_path, more, message):
    rules = tmp_path / "bad.yaml"
    rules.write_text(COUNTS.format(more=more))
    assert_refused(rules, message)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 10_000), max_size=80), st.integers(0, 5_000),
       st.integers(1, 3_000))
def test_counts_per_window_are_a_plain_tally(offsets, extra, window):
    """summarize_counts against a tally by hand: every event in exactly one window, the
    windows covering the trace from its first to its last event."""
    begin = 1_000_000
    times = np.array(sorted(begin + o for o in offsets), dtype=np.int64)
    end = begin + max(offsets, default=0) + extra
    got = summarize_counts(times, begin, end, window, listed=True)
    windows = max(1, -(-(end - begin) // window))
    tally = [0] * windows
    for t in times.tolist():
        tally[min((t - begin) // window, windows - 1)] += 1
    assert got["per_window"] == tally and got["windows"] == windows
    assert got["count"] == len(offsets) == sum(tally)
    assert got["max_per_window"] == max(tally)
    assert got["busiest_window_start_ns"] == begin + tally.index(max(tally)) * window
    assert got["mean_per_window"] == len(offsets) / windows


def test_tiny_windows_over_a_long_trace_count_only_the_busy_ones():
    """A 1 ns window over 10^15 ns is 10^15 windows: only those with events are
    counted (the first version made an array of every window)."""
    times = np.array([5, 5, 7, 10**15 - 1], dtype=np.int64)
    got = summarize_counts(times, 0, 10**15, 1, listed=True)
    assert got["windows"] == 10**15 and got["per_window"] is None
    assert (got["max_per_window"], got["busiest_window_start_ns"]) == (2, 5)
    assert got["mean_per_window"] == 4 / 10**15
