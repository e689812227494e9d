"""What a new user tripped on, on the shared wget trace: where ``start`` counts from (the
traces' first event, as ``corr inspect`` says), a thread's two names, what "over the
threshold" counts, whose thread a row names."""

from __future__ import annotations

import json

import pytest

import corr
import corr.api
from conftest import EXAMPLE_TRACE, ROOT, run_corr, shared_trace

OFFCPU = ROOT / "rules" / "offcpu.yaml"
SYSCALLS = ROOT / "rules" / "syscalls.yaml"
WAKEUP_RULES = ROOT / "rules" / "wakeup.yaml"
# Its first event; its four streams' first packet opens 0.575 s before (lttng start).
WGET_BEGIN_NS = 1_533_225_044_093_074_246
WGET_EXEC_NS = 1_533_225_044_183_337_099       # 12243 first seen as wget (it was lttng-record-tr)

LLSERVER = ROOT / "rules" / "llserver.yaml"
EXAMPLE_BEGIN_NS = 1_795_359_491_272_954_449
# PHP's execute_entry/exit, and the same with a rule on LTTng-UST's state dump, which
# comes 33 ms before the first execute: the first *decoded* event differs (the slowest
# execute would read +0.000000 s counted from it with the first file), the trace's
# beginning does not.
EXECUTE = """\
version: 1
rules:
  - name: execute
    entry: {event: "ust_php:execute_entry", key: {tid: $tid}}
    exit: {event: "ust_php:execute_exit", key: {tid: $tid}}
    threshold: 1ms
"""
WITH_STATEDUMP = EXECUTE + """\
  - name: statedump
    entry: {event: "lttng_ust_statedump:start", key: {tid: $tid}}
    exit: {event: "lttng_ust_statedump:end", key: {tid: $tid}}
    threshold: 1ms
"""
PHP_BEGIN_NS = 1_534_187_150_124_498_456        # its first event (its packets open 23.6 ms before)

# wakeup.yaml's shape: the entry (sched_wakeup) is emitted by the waker, the rule
# explains the woken thread (the key's tid).
WAKEUP = """\
version: 1
rules:
  - name: wakeup
    entry: {event: sched_wakeup, key: {tid: tid}}
    exit: {event: sched_switch, key: {tid: next_tid}}
    cancel:
      - {event: sched_switch, key: {tid: prev_tid}}
    threshold: 500us
    blame: tid
"""


@pytest.fixture(scope="module")
def wget():
    return shared_trace("wget-k-20180802-115043")


def json_run(*args) -> dict:
    proc = run_corr("run", "--format", "json", *args)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def text_run(*args) -> str:
    proc = run_corr("run", *args)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_start_counts_from_the_traces_beginning_whatever_the_rules_decode(wget, tmp_path):
    php = shared_trace("php-u-20180813-150550")
    (tmp_path / "a.yaml").write_text(EXECUTE)
    (tmp_path / "b.yaml").write_text(WITH_STATEDUMP)
    a, b = (corr.api.run(tmp_path / name, [php]) for name in ("a.yaml", "b.yaml"))
    assert b.begin_ns < a.begin_ns                        # different first decoded events
    assert a.trace_begin_ns == b.trace_begin_ns == PHP_BEGIN_NS == corr.inspect([php]).begin_ns
    slowest = a.rule("execute").selected_intervals()[0]
    assert slowest["start_ns"] - PHP_BEGIN_NS == 32_876_973
    row = "+0.032877 s │ 1.178 ms │ complete │ 29077 │ 29077 │"
    assert row in text_run(tmp_path / "a.yaml", php, "--top", "1")
    assert row in text_run(tmp_path / "b.yaml", php, "--top", "1")
    # corr inspect's begin: the first event of any class, also where the example's
    # (kernel and UST halves, two clocks) first packet begins.
    run = corr.api.run(LLSERVER, [EXAMPLE_TRACE])
    assert run.trace_begin_ns == corr.inspect([EXAMPLE_TRACE]).begin_ns == EXAMPLE_BEGIN_NS
    # The wget trace's packets begin 0.575 s before its first event, which offcpu.yaml
    # does not decode.
    assert corr.api.run(OFFCPU, [wget]).trace_begin_ns == WGET_BEGIN_NS


# First and last event of any class, on the common time base (corr inspect --json's
# begin_ns and end_ns).
SPANS = {
    "wget-k-20180802-115043": (WGET_BEGIN_NS, 1_533_225_044_395_844_050),
    "php-u-20180813-150550": (PHP_BEGIN_NS, 1_534_187_150_158_557_714),
    "many-threads": (1_457_113_582_794_565_804, 1_457_113_583_227_228_162),
    "bug446190": (1_412_670_961_211_260_539, 1_412_670_967_217_750_839),
    "example": (EXAMPLE_BEGIN_NS, 1_795_359_492_831_505_629),
}
# Each run: rules, reader, CORR_JOBS, cache; in this order on one cache folder:
# recorded cold in workers, grown by another projection, the interval tables read back,
# the columns read back (blame), then without the cache in workers.
RUNS = [(SYSCALLS, "c", "2", True), (WAKEUP_RULES, "native", "1", True),
        (SYSCALLS, "public", "1", True), (WAKEUP_RULES, "c", "1", True),
        (WAKEUP_RULES, "public", "2", False), (SYSCALLS, "native", "2", False)]


@pytest.mark.parametrize("name", list(SPANS))
def test_a_run_begins_and_ends_where_corr_inspect_says(name, tmp_path):
    """``begin_ns``/``end_ns`` of ``corr run --format json``: the traces' first and last
    event whatever the rules decode, whichever reader, decoded in workers or read from
    the cache."""
    trace = EXAMPLE_TRACE if name == "example" else shared_trace(name)
    proc = run_corr("inspect", "--json", trace)
    inspected = json.loads(proc.stdout)
    assert (inspected["begin_ns"], inspected["end_ns"]) == SPANS[name]
    for rules, reader, jobs, cached in RUNS:
        proc = run_corr("run", rules, trace, "--format", "json", "--reader", reader,
                        *(() if cached else ("--no-cache",)),
                        env={"CORR_JOBS": jobs, "CORR_CACHE_DIR": str(tmp_path)})
        assert proc.returncode == 0, proc.stderr
        doc = json.loads(proc.stdout)
        assert (doc["begin_ns"], doc["end_ns"]) == SPANS[name], (rules.name, reader, jobs)
        assert min(t["begin_ns"] for t in doc["traces"]) == SPANS[name][0]
        assert max(t["end_ns"] for t in doc["traces"]) == SPANS[name][1]
def test_the_html_report_starts_where_corr_inspect_says(tmp_path):
    report = tmp_path / "r.html"
    assert run_corr("run", "-o", report, LLSERVER, EXAMPLE_TRACE).returncode == 0
    html = " ".join(report.read_text().split())
    assert "<dt>trace start</dt><dd>2026-11-22 14:58:11.272954449 UTC</dd>" in html
    assert '<td class="num">+1.136433 s</td><td class="num">29.989 ms</td>' in html


def test_one_name_per_thread_in_an_interval_and_when_it_changed(wget):
    doc = json_run(OFFCPU, wget)
    intervals = doc["rules"][0]["intervals"]
    # code (3906) blocked on 12243 while it was still lttng-record-tr, until its exec.
    code = next(iv for iv in intervals if iv["blamed_tid"] == 3906
                and iv["duration_ns"] == 235_873_163)
    assert code["breakdown"][0]["by"] == "lttng-record-tr (12243)"
    assert {s["comm"] for s in code["critical_path"] if s["tid"] == 12243} == {"lttng-record-tr"}
    assert code["renamed"] == [{"tid": 12243, "comm": "lttng-record-tr", "was": None,
                                "until_ns": None, "then": "wget", "from_ns": WGET_EXEC_NS}]
    # wget's own interval, after the exec: one name, wget, and what it was before.
    own = next(iv for iv in intervals if iv["tid"] == 12243)
    assert (own["comm"], own["blamed_comm"]) == ("wget", "wget")
    assert {s["comm"] for s in own["critical_path"] if s["tid"] == 12243} == {"wget"}
    assert own["renamed"][0] == {"tid": 12243, "comm": "wget", "was": "lttng-record-tr",
                                 "until_ns": WGET_EXEC_NS, "then": None, "from_ns": None}
    text = text_run(OFFCPU, wget, "--top", "40")
    assert "12243 │ wget (was lttng-record-tr until +0.090263 s) │" in text
    assert "blocked: lttng-record-tr (12243, renamed wget at +0.090263 s)" in text
    assert "  +0.114838 s  171.584 ms  wget (12243, was lttng-record-tr until +0.090263 s)" in text
    explained = text[text.index("where the time of the slowest went"):text.index("blame over")]
    assert "wget (12243)" not in explained and "lttng-record-tr (12243)" not in explained


def test_over_the_threshold_means_one_thing_everywhere(wget, tmp_path):
    doc = json_run(OFFCPU, wget)
    (rule,) = doc["rules"]
    assert rule["stats"]["over_threshold"] == rule["blame"]["slow"] == 380
    assert rule["blame"]["analysed"] == len(rule["intervals"]) == 380
    assert {iv["status"] for iv in rule["intervals"]} == {"complete"}
    assert rule["outcomes"]["incomplete"] == 72
    text = text_run(OFFCPU, wget)
    assert "69 more ran past 1.000 ms with no end in the trace (69 incomplete): not counted " \
           "over the threshold" in text
    assert "blame over 380 slow intervals" in text
    report = tmp_path / "r.html"
    assert run_corr("run", "-o", report, OFFCPU, wget).returncode == 0
    html = report.read_text()
    assert "380 over the threshold" in html
    assert "over the 380 analysed of 380 slow" in " ".join(html.split())
    assert "69 more ran past 1.000 ms with no end in the trace" in html


def test_a_rule_explaining_another_thread_than_its_entrys_shows_both(wget, tmp_path):
    rules = tmp_path / "wakeup.yaml"
    rules.write_text(WAKEUP)
    text = text_run(rules, wget, "--top", "3")
    assert "key   ┃   tid ┃ comm         ┃ entry thread" in text
    assert ("+0.013682 s │ 31.175 ms │ complete │ 28    │    28 │ ksoftirqd/3  │ "
            "lttng-sessiond (879)") in text
    doc = json_run(rules, wget)
    first = doc["rules"][0]["intervals"][0]
    assert (first["key"], first["blamed_tid"], first["blamed_comm"]) == (28, 28, "ksoftirqd/3")
    assert (first["tid"], first["comm"]) == (879, "lttng-sessiond")      # the entry's: the waker
    report = tmp_path / "r.html"
    assert run_corr("run", "-o", report, rules, wget).returncode == 0
    html = report.read_text()
    assert "<th>entry thread</th>" in html
    assert ('<td class="key">ksoftirqd/3 (28)</td> <td class="key">lttng-sessiond (879)</td>'
            in " ".join(html.split()))
    # A rule about its entry's thread keeps one thread column.
    assert "entry thread" not in text_run(OFFCPU, wget, "--top", "3")
