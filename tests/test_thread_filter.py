"""Thread filters (-p/--pid, -t/--tid, --comm; corr.api.ThreadFilter), on exact scenarios.

Two processes run system calls of known durations: ``web`` (pid 100: threads
100 ``web``, 101 ``web-io``, and 102 ``web-2`` it forks as a thread) and
``db`` (pid 200).  Filtering keeps exactly the intervals of the matching
threads, and every statistic, group, accounting line and export is computed
over those only.  Times are scenario ns.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

import corr.api
from conftest import one_line_error, run_corr, shared_trace
from corr.api import ThreadFilter
from corr.errors import UsageError
from corr.testing import Scenario
from test_engine_scenarios import assert_conserved, assert_stats, stats_of

ROOT = Path(__file__).resolve().parents[1]

CALLS = """\
version: 1
rules:
  - name: calls
    entry: {event: "syscall_entry_*", key: {tid: $tid}}
    exit: {event: "syscall_exit_*", key: {tid: $tid}}
    group_by: [entry.$syscall]
    threshold: 600ns
"""
BLAMED_CALLS = CALLS + "    blame: entry\n"

# (tid, syscall, start, end) of every call in the scenario.
CALLS_MADE = [
    (100, "read", 100, 1_100), (100, "getpid", 2_000, 2_050),
    (101, "read", 300, 3_300),
    (200, "read", 400, 900), (200, "write", 1_000, 9_000),
    (102, "write", 4_000, 6_000),
]


def two_processes(*, statedump: bool = True, kernel_context=()) -> Scenario:
    s = Scenario(cpus=4, kernel_context=kernel_context)
    web = s.thread(tid=100, pid=100, comm="web")
    io = s.thread(tid=101, pid=100, comm="web-io")
    db = s.thread(tid=200, pid=200, comm="db")
    for cpu, thread in enumerate((web, io, db)):
        s.run(cpu=cpu, thread=thread, at=0)
    if statedump:
        s.statedump(at=10, cpu=3, threads=[web, io, db])
    web2 = s.fork(web, child_tid=102, at=3_000, comm="web-2", thread=True, target_cpu=3)
    s.run(cpu=3, thread=web2, at=3_500)
    threads = {100: web, 101: io, 200: db, 102: web2}
    for tid, name, start, end in CALLS_MADE:
        s.syscall(threads[tid], name, at=start, until=end)
    return s


@pytest.fixture(scope="module")
def traces(tmp_path_factory):
    """The scenario with and without a state dump, and the rule files."""
    root = tmp_path_factory.mktemp("filters")
    (root / "calls.yaml").write_text(CALLS)
    (root / "blamed.yaml").write_text(BLAMED_CALLS)
    s = two_processes()
    return {"s": s, "trace": s.write(root / "trace", end=10_000).root,
            "bare": two_processes(statedump=False).write(root / "bare", end=10_000).root,
            "pidctx": two_processes(statedump=False, kernel_context=("tid", "pid"))
            .write(root / "pidctx", end=10_000).root,
            "calls": root / "calls.yaml", "blamed": root / "blamed.yaml"}


def spans(rule) -> list[tuple]:
    """(tid, start, end) of a rule's intervals (RuleResult or JSON), in scenario time."""
    rows = rule.selected_intervals(all_intervals=True) if hasattr(rule, "intervals") \
        else rule["intervals"]
    base = two_processes().ns_from_origin(0)
    return sorted((r["tid"], r["start_ns"] - base, r["end_ns"] - base) for r in rows)


def expected(*tids) -> list[tuple]:
    return sorted((tid, start, end) for tid, _, start, end in CALLS_MADE if tid in tids)


def run_calls(traces, flt=None, rules="calls", trace="trace", **kwargs):
    return corr.api.run(traces[rules], [traces[trace]], filter=flt, **kwargs).rule("calls")


# -- which intervals -------------------------------------------------------------------

@pytest.mark.parametrize("flt, tids", [
    (None, (100, 101, 102, 200)),
    (ThreadFilter(tids=(101,)), (101,)),
    (ThreadFilter(tids=(100, 200)), (100, 200)),                  # one kind: OR
    (ThreadFilter(pids=(100,)), (100, 101, 102)),                 # state dump and fork
    (ThreadFilter(pids=(200,)), (200,)),
    (ThreadFilter(pids=(300,)), ()),
    (ThreadFilter(comms=("web",)), (100,)),
    (ThreadFilter(comms=("web*",)), (100, 101, 102)),             # a glob
    (ThreadFilter(comms=("web", "d?")), (100, 200)),
    (ThreadFilter(comms=("WEB",)), ()),                           # case-sensitive
    (ThreadFilter(pids=(100,), comms=("*io",)), (101,)),          # kinds: AND
    (ThreadFilter(pids=(200,), comms=("web*",)), ()),
    (ThreadFilter(tids=(100, 101), comms=("db", "web-io")), (101,)),
])
def test_filter_keeps_the_matching_threads(traces, flt, tids):
    assert spans(run_calls(traces, flt)) == expected(*tids)


def test_statistics_groups_and_accounting_cover_the_kept_intervals(traces):
    rule = run_calls(traces, ThreadFilter(comms=("web*",)))
    # web 1_000 and 50, web-io 3_000, web-2 2_000; threshold 600 ns.
    assert_stats(rule.stats, stats_of([1_000, 50, 3_000, 2_000], over_threshold=3, p50=1_000,
                                      p90=3_000, p99=3_000, dropped=0))
    assert {g["key"]: g["stats"]["count"] for g in rule.groups} == {"read": 2, "getpid": 1,
                                                                     "write": 1}
    assert rule.outcomes == {"entries": 4, "complete": 4, "late": 0, "timeouts": 0,
                             "incomplete": 0, "dropped": 0, "dropped_reasons": {},
                             "exits_without_entry": 0, "expression_errors": {},
                             "filtered_out": 2}
    assert_conserved(rule.outcomes)
    # A group no kept interval is in is gone (db's only write is not web's).
    web = run_calls(traces, ThreadFilter(comms=("web",)))
    assert [g["key"] for g in web.groups] == ["getpid", "read"]
    assert [row["group"] for row in web.selected_intervals(all_intervals=True)] == [
        "read", "getpid"]
    assert [iv["duration_ns"] for iv in web.selected_intervals()] == [1_000]


def test_nothing_kept(traces):
    rule = run_calls(traces, ThreadFilter(pids=(300,)))
    assert rule.stats["count"] == 0 and rule.groups == [] and rule.outcomes["entries"] == 0
    assert rule.outcomes["filtered_out"] == 6


def test_an_empty_filter_is_no_filter(traces):
    result = corr.api.run(traces["calls"], [traces["trace"]], filter=ThreadFilter())
    assert result.thread_filter is None and result.warnings == []
    assert "filtered_out" not in result.rule("calls").outcomes


def test_the_result_says_it_is_filtered(traces):
    result = corr.api.run(traces["calls"], [traces["trace"]],
                          filter=ThreadFilter(pids=(100,), comms=("web*",)))
    assert result.thread_filter == ThreadFilter(pids=(100,), comms=("web*",))
    assert result.to_dict()["thread_filter"] == {"pids": [100], "tids": [], "comms": ["web*"]}
    assert result.warnings == [
        "thread filter --pid 100 --comm 'web*': only the intervals of matching threads are "
        "reported (calls 4 of 6); entries the matching dropped are not counted"]


# -- where a thread's process comes from ------------------------------------------------

def test_pid_without_a_state_dump(traces):
    # The fork tells 102's process; nothing tells 101's: only the main thread matches.
    assert spans(run_calls(traces, ThreadFilter(pids=(100,)), trace="bare")) == expected(100, 102)
    result = corr.api.run(traces["calls"], [traces["bare"]], filter=ThreadFilter(pids=(101,)))
    assert spans(result.rule("calls")) == expected(101)


def test_pid_from_the_pid_context(traces):
    assert spans(run_calls(traces, ThreadFilter(pids=(100,)), trace="pidctx")) == \
        expected(100, 101, 102)


def test_pid_from_the_vpid_context_of_user_space_events(tmp_path):
    s = Scenario(cpus=2)
    a = s.thread(tid=101, pid=100, comm="app")
    b = s.thread(tid=201, pid=200, comm="app")
    s.run(cpu=0, thread=a, at=0)
    s.run(cpu=1, thread=b, at=0)
    for n, (thread, start, end) in enumerate([(a, 100, 700), (b, 200, 1_200)], start=1):
        s.ust(thread, "app:start", at=start, seqno=n)
        s.ust(thread, "app:end", at=end, seqno=n)
    trace = s.write(tmp_path / "trace").root
    rules = tmp_path / "app.yaml"
    rules.write_text("version: 1\nrules:\n  - name: req\n"
                     "    entry: {event: 'app:start', key: [seqno]}\n"
                     "    exit: {event: 'app:end', key: [seqno]}\n")
    found = corr.api.run(rules, [trace], filter=ThreadFilter(pids=(100,))).rule("req")
    assert [(r["tid"], r["duration_ns"]) for r in found.selected_intervals(True)] == [(101, 600)]


# -- the explained thread: the blame: thread, not the entry's --------------------------

WAKE = """\
version: 1
rules:
  - name: wake
    entry: {event: ["sched_waking|sched_wakeup"], key: {tid: tid}}
    exit: {event: sched_switch, key: {tid: next_tid}}
    cancel: [{event: sched_switch, key: {tid: prev_tid}}]
    match: first
    threshold: 1ns
    blame: tid
"""


@pytest.fixture(scope="module")
def wakes(tmp_path_factory):
    root = tmp_path_factory.mktemp("wakes")
    s = Scenario(cpus=2)
    waker = s.thread(tid=301, pid=300, comm="waker")
    sleeper = s.thread(tid=302, pid=300, comm="sleeper")
    s.run(cpu=0, thread=waker, at=0)
    s.run(cpu=1, thread=sleeper, at=0)
    s.statedump(at=10)
    s.block(sleeper, at=100, state="S")
    s.wakeup(sleeper, by=waker, at=1_000)              # the waker's event, the sleeper's wait
    s.run(cpu=1, thread=sleeper, at=1_400)
    s.block(waker, at=2_000, state="S")
    s.wakeup(waker, by=sleeper, at=2_500)
    s.run(cpu=0, thread=waker, at=2_800)
    (root / "wake.yaml").write_text(WAKE)
    return s, s.write(root / "trace", end=3_000).root, root / "wake.yaml"


@pytest.mark.parametrize("flt, expected_waits", [
    (ThreadFilter(comms=("sleeper",)), [(302, 301, 1_000, 1_400)]),
    (ThreadFilter(comms=("waker",)), [(301, 302, 2_500, 2_800)]),
    (ThreadFilter(tids=(301,)), [(301, 302, 2_500, 2_800)]),
    (ThreadFilter(pids=(300,)), [(301, 302, 2_500, 2_800), (302, 301, 1_000, 1_400)]),
])
def test_the_blamed_thread_is_the_one_filtered(wakes, flt, expected_waits):
    s, trace, rules = wakes

    def waits(rows):
        return sorted((r["key"], r["tid"], r["start_ns"] - s.ns_from_origin(0),
                       r["end_ns"] - s.ns_from_origin(0)) for r in rows)
    run = corr.api.run(rules, [trace], filter=flt).rule("wake")
    assert waits(run.selected_intervals(True)) == expected_waits
    assert all(iv["blamed_tid"] == iv["key"] for iv in run.selected_intervals())
    # A tuning session (no scheduling join, its matching cached) keeps the same ones.
    for _ in range(2):
        session = corr.api.tune(rules, [trace], filter=flt)
        assert waits(session.rule("wake").result.selected_intervals(True)) == expected_waits


# -- the cache of matched intervals is never filtered -------------------------------------

def test_cache_serves_filtered_and_unfiltered_runs_alike(traces, tmp_path, monkeypatch):
    import corr.engine.runner
    cache = tmp_path / "cache"
    everything = spans(run_calls(traces, cache=cache))           # stores the tables
    with monkeypatch.context() as patched:                      # read back, not matched
        patched.setattr(corr.engine.runner, "Engine", None)
        assert spans(run_calls(traces, ThreadFilter(comms=("db",)), cache=cache)) == \
            expected(200)
        assert spans(run_calls(traces, cache=cache)) == everything
    assert spans(run_calls(traces, ThreadFilter(pids=(100,)), cache=cache)) == \
        expected(100, 101, 102)
    assert spans(run_calls(traces, cache=cache)) == everything == expected(100, 101, 102, 200)
    assert spans(run_calls(traces, ThreadFilter(comms=("db",)), cache=False)) == expected(200)


# -- every output format ----------------------------------------------------------------

def cli(traces, *args, rules="blamed"):
    proc = run_corr("run", "--no-progress", traces[rules], traces["trace"], *args)
    assert proc.returncode == 0, proc.stderr
    return proc


def test_json(traces):
    doc = json.loads(cli(traces, "--format", "json", "--all-intervals", "--comm", "web").stdout)
    (rule,) = doc["rules"]
    assert doc["thread_filter"] == {"pids": [], "tids": [], "comms": ["web"]}
    assert spans(rule) == expected(100)
    assert rule["stats"]["count"] == 2 and rule["blame"]["analysed"] == 1
    assert [n["tid"] for n in rule["blame"]["nodes"] if n["kind"] == "thread"] == [100]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_interval_tables(traces, tmp_path, suffix):
    out = tmp_path / f"calls{suffix}"
    cli(traces, "-o", out, "-p", "200")
    if suffix == ".csv":
        with open(out) as f:
            rows = list(csv.DictReader(f))
    else:
        import pyarrow.parquet as pq
        rows = pq.read_table(out).to_pylist()
    assert sorted(int(r["tid"]) for r in rows) == [200, 200]


def test_blame_exports_show_only_the_kept_threads(traces, tmp_path):
    folded = cli(traces, "--format", "folded", "--comm", "web*").stdout
    stacks = {line.split(";")[1] for line in folded.splitlines()}
    assert stacks == {"web (100)", "web-io (101)", "web-2 (102)"}
    for name in ("graph.dot", "graph.graphml", "paths.trace.json", "report.html"):
        cli(traces, "-o", tmp_path / name, "--tid", "101")
        text = (tmp_path / name).read_text()
        assert "web-io" in text, name
        assert "db" not in text.replace("web-io", "") or name.endswith(".html"), name
        assert "db (200)" not in text and "web (100)" not in text, name
    html = (tmp_path / "report.html").read_text()
    assert "--tid 101" in html                  # the report says it is filtered


def test_text(traces):
    out = cli(traces, "--comm", "db", rules="calls").stdout
    assert "thread filter --comm db" in out
    assert "entries 2 = complete 2" in out
    assert " web" not in out


def test_tune(traces):
    out = run_corr("tune", "--no-progress", traces["calls"], traces["trace"], "-t", "101",
                   "--groups", "0")
    assert out.returncode == 0, out.stderr
    assert "rule calls — 1 intervals" in out.stdout


def test_interactive_tuning_shows_the_filter(traces):
    from rich.console import Console

    from corr.cli.tune_interactive import TuneApp
    session = corr.api.tune(traces["calls"], [traces["trace"]], filter=ThreadFilter(tids=(101,)))
    assert session.thread_filter == ThreadFilter(tids=(101,))
    console = Console(width=120, record=True, file=io.StringIO())
    console.print(TuneApp(session).view())
    screen = console.export_text()
    assert "threads: --tid 101" in screen and "rule calls — 1 intervals" in screen


# -- bad values ---------------------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    (["-p", "abc"], "corr: argument -p/--pid: 'abc': not a pid"),
    (["--pid", "0"], "corr: argument -p/--pid: '0': not a pid"),
    (["-t", "1.5"], "corr: argument -t/--tid: '1.5': not a tid"),
    (["--tid", "99999999999"], "corr: argument -t/--tid: '99999999999': not a tid"),
    (["--comm", ""], "corr: argument --comm: '': a thread name or a glob"),
])
@pytest.mark.parametrize("command", ["run", "tune"])
def test_bad_values_end_in_one_line(traces, command, args, message):
    proc = run_corr(command, traces["calls"], traces["trace"], *args)
    assert one_line_error(proc).startswith(message)
    assert proc.stdout == ""


def test_bad_values_in_the_api():
    with pytest.raises(UsageError, match="pid 'abc'"):
        ThreadFilter(pids=("abc",))
    with pytest.raises(UsageError, match="tid -1"):
        ThreadFilter(tids=(-1,))
    with pytest.raises(UsageError, match="comm ''"):
        ThreadFilter(comms=("",))
    with pytest.raises(TypeError, match="ThreadFilter"):
        corr.api.run(ROOT / "rules" / "syscalls.yaml", [ROOT / "examples"], filter={"pids": [1]})
    assert ThreadFilter(pids=5, comms="wget") == ThreadFilter(pids=(5,), comms=("wget",))
    assert ThreadFilter(pids=["7", 7]).pids == (7,)


# -- the wget trace: why was wget slow? -------------------------------------------------

@pytest.mark.shared
def test_why_was_wget_slow():
    trace = shared_trace("wget-k-20180802-115043")
    doc = json.loads(run_corr("run", "--format", "json", "--no-progress",
                              ROOT / "rules" / "offcpu.yaml", trace, "--comm", "wget").stdout)
    (rule,) = doc["rules"]
    slow = rule["intervals"]
    assert {iv["tid"] for iv in slow} == {iv["blamed_tid"] for iv in slow} == {12243}
    assert [iv["duration_ns"] for iv in slow[:3]] == [171_584_219, 16_289_949, 10_767_237]
    assert all(iv["breakdown"] for iv in slow)
    assert slow[0]["breakdown"][0]["kind"] == "blocked"
    assert rule["stats"]["count"] == 17
    # The thread was lttng-record-tr before its exec: --tid has that interval too.
    by_tid = json.loads(run_corr("run", "--format", "json", "--no-progress", "--all-intervals",
                                 ROOT / "rules" / "offcpu.yaml", trace, "-t", "12243").stdout)
    assert len(by_tid["rules"][0]["intervals"]) == 19
    text = run_corr("run", "--no-progress", ROOT / "rules" / "offcpu.yaml", trace,
                    "--comm", "wget").stdout
    assert "wget (12243)" in text and "java" not in text


@pytest.mark.shared
def test_a_pid_filter_learns_processes_in_a_parallel_read_too():
    """Decode workers started before the engine decode its whole projection, process
    ids included: pid 851 of many-threads is a process of two threads with
    off-CPU intervals (its state dump says so), in a serial read and in a
    parallel one alike.  The workers once decoded without the pid fields, and
    a parallel run kept one of the two threads."""
    trace = shared_trace("many-threads")
    runs = {}
    for jobs in ("1", "2"):
        proc = run_corr("run", "--format", "json", "--no-progress", "--no-cache", "--all-intervals",
                        ROOT / "rules" / "offcpu.yaml", trace, "--pid", "851",
                        env={"CORR_JOBS": jobs, "CORR_SERVER": "off"})
        assert proc.returncode == 0, proc.stderr
        doc = json.loads(proc.stdout)
        assert not any("tell no thread's process" in w for w in doc["warnings"]), doc["warnings"]
        runs[jobs] = doc["rules"][0]["intervals"]
    assert len({iv["tid"] for iv in runs["1"]}) == 2 and len(runs["1"]) == 14
    assert runs["2"] == runs["1"]
