"""corr as a library: what ``import corr`` gives, typed; inputs never changed; errors in
the API's words; Interval and the Arrow table of a rule's intervals; the callbacks.

The callbacks are checked against the returned result (the same pass, both the C and
the Python matcher): every interval over its rule's threshold reaches ``on_interval``
once, in the trace-time order of its decision; and on a scenario whose times are
known, ``on_timeout`` comes at entry + timeout, before the late exit of that entry.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
import typing
from pathlib import Path

import pyarrow as pa
import pytest

import corr
from conftest import (EXAMPLE_TRACE, EXPLANATION, explained_rows, interval_identity, run_corr,
                      shared_trace)
from corr.rules import load_rules
from corr.testing import Scenario

ROOT = Path(__file__).resolve().parents[1]
LLSERVER = ROOT / "rules" / "llserver.yaml"
OFFCPU = ROOT / "rules" / "offcpu.yaml"
SYSCALLS = ROOT / "rules" / "syscalls.yaml"

API = ("run", "stream", "tune", "check", "inspect", "events", "write", "record")


# -- 1. what import corr gives, typed --------------------------------------------------------

def test_import_corr_gives_the_api_and_its_types():
    for name in (*API, "RunResult", "RuleResult", "Interval", "Recording", "CorrError",
                 "UsageError", "OverrideError", "RuleError", "TraceError", "TraceDecodeError"):
        assert name in corr.__all__
        assert getattr(corr, name) is not None
    assert corr.run is corr.api.run
    assert corr.Interval.__module__ == "corr.engine.interval"


def _fresh(script: str):
    out = subprocess.run([sys.executable, "-c", "import json, sys, typing\n" + script],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def test_import_corr_stays_cheap():
    assert _fresh("import corr\n"
                  "print(json.dumps([m for m in ('numpy', 'bt2', 'pyarrow', 'corr.api',"
                  " 'corr.engine') if m in sys.modules]))") == []
    # The command line's import of corr.api stays as cheap: its annotations' types wait.
    assert _fresh("import corr.api\n"
                  "print(json.dumps([m for m in ('numpy', 'bt2', 'corr.engine')"
                  " if m in sys.modules]))") == []


def test_type_hints_of_corr_api_itself_once_resolved():
    assert _fresh("import corr.api\n"
                  "corr.api.resolve_annotations()\n"
                  "print(json.dumps(typing.get_type_hints(corr.api.run)['return'].__name__))"
                  ) == "RunResult"


@pytest.mark.parametrize("name", [n for n in corr.__all__ if n != "__version__"])
def test_every_public_name_has_resolvable_type_hints(name):
    value = getattr(corr, name)
    if not (callable(value) or isinstance(value, type)):
        return                         # STATUS_NAMES: a tuple, nothing to annotate
    hints = typing.get_type_hints(value)
    if not isinstance(value, type):
        assert "return" in hints, f"{name} has no return annotation"


def _public_methods(cls):
    for name, member in vars(cls).items():
        if name.startswith("_"):
            continue
        function = member.fget if isinstance(member, property) else member
        function = getattr(function, "__func__", function)          # class and static methods
        if callable(function) and hasattr(function, "__code__"):
            yield name, function


@pytest.mark.parametrize("name", [n for n in corr.__all__ if isinstance(getattr(corr, n), type)])
def test_every_public_method_is_annotated(name):
    cls = getattr(corr, name)
    for method, function in _public_methods(cls):
        hints = typing.get_type_hints(function)
        assert "return" in hints, f"{name}.{method} has no return annotation"


def test_the_api_functions_say_what_they_return():
    assert typing.get_type_hints(corr.run)["return"] is corr.RunResult
    assert typing.get_type_hints(corr.tune)["return"] is corr.TuningSession
    assert typing.get_type_hints(corr.write)["return"] is str


def test_py_typed_is_shipped():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "py.typed" in data["tool"]["setuptools"]["package-data"]["corr"]
    import importlib.resources
    assert importlib.resources.files("corr").joinpath("py.typed").is_file()


# -- 2. inputs never changed; overrides; errors ------------------------------------------------

def _state(ruleset):
    return ([(r.name, r.threshold_ns, r.timeout_ns) for r in ruleset.rules], ruleset.text,
            [(n, dict(node)) for n, node in _document_rules(ruleset)])


def _document_rules(ruleset):
    return [(node["name"], {k: node.get(k) for k in ("threshold", "timeout")})
            for node in ruleset.document["rules"]]


@pytest.mark.parametrize("overrides", [
    ["processing.threshold=50ms", "queue_delay.timeout=3s"],
    {"processing.threshold": "50ms", "queue_delay.timeout": "3s"},
    {"processing.threshold": 50_000_000, "queue_delay.timeout": 3_000_000_000},
])
def test_a_given_rule_set_is_never_changed(overrides):
    ruleset = load_rules(LLSERVER, cache=False)
    before = _state(ruleset)
    assert before[0][1] == ("processing", 2_000_000, 1_000_000_000)
    result = corr.run(ruleset, [EXAMPLE_TRACE], overrides=overrides, cache=False)
    assert _state(ruleset) == before
    assert result.rule("processing").threshold_ns == 50_000_000
    assert result.rule("queue_delay").rule.timeout_ns == 3_000_000_000
    # A second run without overrides sees the file's values.
    again = corr.run(ruleset, [EXAMPLE_TRACE], cache=False)
    assert again.rule("processing").threshold_ns == 2_000_000


def test_tune_leaves_the_given_rule_set_alone():
    ruleset = load_rules(LLSERVER, cache=False)
    before = _state(ruleset)
    session = corr.tune(ruleset, [EXAMPLE_TRACE], overrides={"lock_wait.threshold": "7ms"},
                        cache=False)
    assert _state(ruleset) == before
    assert session.rule("lock_wait").rule.threshold_ns == 7_000_000


@pytest.mark.parametrize("overrides, message", [
    (["nope.threshold=1ms"], "overrides: nope.threshold=1ms: no rule 'nope' (rules: syscalls)"),
    ({"syscalls.threshold": "abc"},
     "overrides: syscalls.threshold=abc: 'abc' is not a duration (e.g. 250us, 1ms, 2s)"),
    ({"syscalls.match": "fifo"},
     "overrides: syscalls.match=fifo: cannot set 'match' (only threshold and timeout)"),
])
def test_api_errors_speak_of_its_arguments(overrides, message):
    with pytest.raises(corr.OverrideError) as caught:
        corr.run(SYSCALLS, [EXAMPLE_TRACE], overrides=overrides, cache=False)
    assert str(caught.value) == message
    assert "--set" not in str(caught.value)


def test_overrides_of_the_wrong_type_are_refused():
    with pytest.raises(TypeError, match="overrides: expected a list"):
        corr.run(SYSCALLS, [EXAMPLE_TRACE], overrides="syscalls.threshold=1ms")
    with pytest.raises(TypeError, match=r"overrides\['syscalls.threshold'\]"):
        corr.run(SYSCALLS, [EXAMPLE_TRACE], overrides={"syscalls.threshold": 1.5})


def test_the_cli_keeps_its_set_wording():
    proc = run_corr("run", "--no-progress", "--set", "nope.threshold=1ms", SYSCALLS,
                    EXAMPLE_TRACE)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "corr: --set nope.threshold=1ms: no rule 'nope' (rules: syscalls)"


# -- 3. Interval and the Arrow table ------------------------------------------------------------

@pytest.fixture(scope="module")
def example_runs():
    return {rules.name: corr.run(rules, [EXAMPLE_TRACE], cache=False)
            for rules in (LLSERVER, OFFCPU)}


@pytest.mark.parametrize("rules", ["llserver.yaml", "offcpu.yaml"])
def test_interval_to_dict_is_the_json_output_s_interval(example_runs, rules):
    import io
    result = example_runs[rules]
    buffer = io.BytesIO()
    corr.write(result, "json", stream=buffer)
    doc = json.loads(buffer.getvalue())
    compared = 0
    for rule_doc in doc["rules"]:
        objects = list(result.interval_objects(rule_doc["name"]))
        assert [iv.to_dict() for iv in objects] == rule_doc["intervals"]
        assert all(iv.rule == rule_doc["name"] for iv in objects)
        compared += len(objects)
    assert compared > 100
    explained = [iv for r in result.rules if r.rule.blame
                 for iv in result.interval_objects(r.name)]
    assert explained and all(iv.breakdown is not None for iv in explained)


def test_an_interval_is_immutable(example_runs):
    iv = next(example_runs["offcpu.yaml"].interval_objects("offcpu", top=1))
    with pytest.raises(AttributeError):
        iv.duration_ns = 1                                  # type: ignore[misc]
    with pytest.raises(TypeError):
        iv.fields["x"] = 1                                  # type: ignore[index]
    assert isinstance(iv.breakdown, tuple)
    assert iv.status in corr.STATUS_NAMES


@pytest.mark.parametrize("rules, rule", [("llserver.yaml", "processing"),
                                         ("llserver.yaml", "queue_delay"),
                                         ("offcpu.yaml", "offcpu")])
def test_intervals_table_has_every_interval_typed(example_runs, rules, rule, tmp_path):
    result = example_runs[rules]
    table = result.intervals(rule)
    r = result.rule(rule)
    assert isinstance(table, pa.Table)
    assert table.num_rows == len(r.intervals)
    for column in ("start_ns", "end_ns", "duration_ns", "tid"):
        assert table.schema.field(column).type == pa.int64()
    assert table.schema.field("status").type == pa.string()
    rows = r.intervals.rows(range(len(r.intervals)))
    assert table.column("start_ns").to_pylist() == [row["start_ns"] for row in rows]
    assert table.column("duration_ns").to_pylist() == [row["duration_ns"] for row in rows]
    assert table.column("status").to_pylist() == [row["status"] for row in rows]
    for name in r.intervals.field_names:
        assert table.column(f"fields.{name}").to_pylist() == [row["fields"][name] for row in rows]
    # The Parquet output holds the same rows, in the same types.
    import pyarrow.parquet as pq
    corr.write(result, tmp_path / "out.parquet")
    written = pq.read_table(tmp_path / "out.parquet").flatten()
    mine = written.filter(pa.compute.equal(written.column("rule"), rule))
    for column in table.column_names:
        assert mine.column(column).to_pylist() == table.column(column).to_pylist(), column


def test_intervals_table_to_pandas_when_installed(example_runs):
    pd = pytest.importorskip("pandas")
    frame = example_runs["offcpu.yaml"].intervals("offcpu").to_pandas()
    assert isinstance(frame, pd.DataFrame) and len(frame) > 0


# -- 4. callbacks -----------------------------------------------------------------------------

def _rows(r) -> list[dict]:
    """Every interval of a rule result as its dict, with its group, unexplained."""
    return [r.interval(i, explained=False) for i in range(len(r.intervals))]


def _expected_decisions(result) -> list[tuple]:
    """The result's intervals over their rule's threshold (complete, late, incomplete),
    in decision order: by end (the exit, or the trace's end), then rule, then table row."""
    found = []
    for index, r in enumerate(result.rules):
        for n, row in enumerate(_rows(r)):
            if row["status"] == "timeout":
                continue
            if r.threshold_ns is not None and row["duration_ns"] <= r.threshold_ns:
                continue
            found.append((row["end_ns"], index, n, interval_identity(r.name, row),
                          {k: row[k] for k in ("tid", "exit_tid", "fields", "group")}))
    return sorted(found, key=lambda f: f[:3])


def _run_with_callbacks(rules, traces, **kwargs):
    seen = []
    result = corr.run(rules, traces, cache=False,
                      on_interval=lambda iv: seen.append(("interval", iv)),
                      on_timeout=lambda iv: seen.append(("timeout", iv)), **kwargs)
    return result, seen


def _check_callbacks(result, seen):
    intervals = [iv for kind, iv in seen if kind == "interval"]
    got = [interval_identity(iv.rule, iv.to_dict()) for iv in intervals]
    expected = _expected_decisions(result)
    assert got == [e[3] for e in expected]
    assert [{k: iv.to_dict()[k] for k in ("tid", "exit_tid", "fields", "group")}
            for iv in intervals] == [e[4] for e in expected]
    # A timeout's entry side is its final interval's (a timeout, or late).
    final = {(r.name, row["start_ns"], json.dumps(row["key"])): row for r in result.rules
             for row in _rows(r) if row["status"] in ("timeout", "late")}
    for kind, iv in seen:
        if kind == "timeout":
            row = final[(iv.rule, iv.start_ns, json.dumps(iv.to_dict()["key"]))]
            assert (iv.tid, iv.to_dict()["group"]) == (row["tid"], row["group"])
    _check_explained(result, intervals)
    # Decision times never go back, across rules and batches.
    times = [iv.end_ns for kind, iv in seen]
    assert times == sorted(times)
    # Every timeout of the result (status timeout or late) was announced once.
    announced = sorted((iv.rule, iv.start_ns) for kind, iv in seen if kind == "timeout")
    want = sorted((r.name, row["start_ns"]) for r in result.rules for row in _rows(r)
                  if row["status"] in ("timeout", "late"))
    assert announced == want
    return len(got)


def _check_explained(result, intervals) -> int:
    """Each interval a callback had is explained as the result explains it: those of
    rules with blame whose end the trace tells (complete, late), with the result's
    breakdown and critical path; the others not at all.  How many were compared."""
    rules = {r.name: r for r in result.rules}
    rows = explained_rows(result)
    compared = 0
    for iv in intervals:
        r = rules[iv.rule]
        if not r.rule.blame or iv.status not in ("complete", "late") or iv.tid is None:
            assert iv.breakdown is None and iv.critical_path is None
            continue
        got = iv.to_dict()
        assert iv.explained and got["breakdown"] and got["critical_path"]
        want = rows.get(interval_identity(iv.rule, got))
        if want is not None:
            assert {k: got[k] for k in EXPLANATION} == {k: want[k] for k in EXPLANATION}
            compared += 1
    return compared


@pytest.fixture(params=["c", "python"])
def engine(request, monkeypatch):
    if request.param == "python":
        monkeypatch.setenv("CORR_ENGINE", "python")
    else:
        monkeypatch.delenv("CORR_ENGINE", raising=False)
        from corr.engine import core
        if not core.available():
            pytest.skip("the C core is not built")
    return request.param


def test_callbacks_get_the_same_intervals_from_both_matchers(monkeypatch):
    from corr.engine import core
    if not core.available():
        pytest.skip("the C core is not built")
    overrides = {"syscalls.threshold": "100us", "syscalls.timeout": "2ms"}
    _, fast = _run_with_callbacks(SYSCALLS, [shared_trace("many-threads")], overrides=overrides)
    monkeypatch.setenv("CORR_ENGINE", "python")
    _, reference = _run_with_callbacks(SYSCALLS, [shared_trace("many-threads")],
                                       overrides=overrides)
    assert len(fast) > 100 and fast == reference


@pytest.mark.parametrize("rules", [LLSERVER, OFFCPU])
def test_callbacks_on_the_example_equal_the_result(engine, rules):
    result, seen = _run_with_callbacks(rules, [EXAMPLE_TRACE])
    assert _check_callbacks(result, seen) > 10


@pytest.mark.parametrize("trace, rules, overrides", [
    ("many-threads", SYSCALLS, {"syscalls.threshold": "100us"}),
    # Timeouts that expire in one batch and are late in a later one.
    ("many-threads", SYSCALLS, {"syscalls.threshold": "100us", "syscalls.timeout": "2ms"}),
    ("many-threads", OFFCPU, {}),
    ("wget-k-20180802-115043", SYSCALLS, {"syscalls.threshold": "100us",
                                          "syscalls.timeout": "5ms"}),
])
def test_callbacks_on_shared_traces_equal_the_result(engine, trace, rules, overrides):
    result, seen = _run_with_callbacks(rules, [shared_trace(trace)], overrides=overrides)
    assert _check_callbacks(result, seen) > 10
    if "syscalls.timeout" in overrides:
        assert sum(kind == "timeout" for kind, _ in seen) > 10


# A timeout no later event of its rule reveals: only the end of its batch does.
SPARSE_RULES = """\
version: 1
rules:
  - name: syscalls
    entry: {event: "syscall_entry_*", key: {tid: $tid}}
    exit: {event: "syscall_exit_*", key: {tid: $tid}}
    match: last
    threshold: 100us
  - name: first-fork
    entry: {event: sched_process_fork, key: {tid: child_tid}, where: child_tid == 2673}
    exit: {event: sched_process_exit, key: {tid: tid}, where: tid == -1}
    threshold: 1us
    timeout: 1ms
"""


def test_a_timeout_is_announced_in_order_when_nothing_of_its_rule_follows(engine, tmp_path):
    rules = tmp_path / "sparse.yaml"
    rules.write_text(SPARSE_RULES)
    result, seen = _run_with_callbacks(rules, [shared_trace("many-threads")])
    (timeout,) = [iv for kind, iv in seen if kind == "timeout"]
    assert (timeout.rule, timeout.key, timeout.duration_ns) == ("first-fork", 2673, 1_000_000)
    _check_callbacks(result, seen)       # its place among the syscalls' decisions


STATUS_RULES = """\
version: 1
rules:
  - name: req
    entry: {event: "app:start", key: [seqno], fields: [seqno]}
    exit: {event: "app:end", key: [seqno]}
    threshold: 1us
    timeout: 2us
"""


def test_a_timeout_is_announced_at_its_deadline_before_the_late_exit(engine, tmp_path):
    s = Scenario(cpus=1)
    a = s.thread(tid=101, pid=100, comm="app")
    s.run(cpu=0, thread=a, at=0)
    s.ust(a, "app:start", at=100, seqno=1)
    s.ust(a, "app:end", at=600, seqno=1)            # complete, 500: under the threshold
    s.ust(a, "app:start", at=1_000, seqno=2)
    s.ust(a, "app:end", at=4_000, seqno=2)          # its deadline 3_000 passed: late
    s.ust(a, "app:start", at=5_000, seqno=3)        # never ends: timeout at 7_000
    s.ust(a, "app:start", at=8_000, seqno=5)
    s.ust(a, "app:end", at=10_000, seqno=5)         # complete, 2_000
    s.ust(a, "app:start", at=11_000, seqno=4)       # open at the end (12_500): incomplete
    s.ust(a, "app:end", at=12_500, seqno=99)
    trace = s.write(tmp_path / "trace").root
    rules = tmp_path / "rules.yaml"
    rules.write_text(STATUS_RULES)
    result, seen = _run_with_callbacks(rules, [trace])
    t = s.ns_from_origin
    assert [(kind, iv.status, iv.key, iv.start_ns, iv.end_ns) for kind, iv in seen] == [
        ("timeout", "timeout", 2, t(1_000), t(3_000)),
        ("interval", "late", 2, t(1_000), t(4_000)),
        ("timeout", "timeout", 3, t(5_000), t(7_000)),
        ("interval", "complete", 5, t(8_000), t(10_000)),
        ("interval", "incomplete", 4, t(11_000), t(12_500)),
    ]
    timeout = seen[0][1]
    assert (timeout.tid, timeout.comm, dict(timeout.fields)) == (101, "app", {"seqno": 2})
    assert timeout.duration_ns == 2_000 and timeout.exit_tid is None
    _check_callbacks(result, seen)


class Stop(Exception):
    pass


def test_a_raising_callback_stops_the_run_with_what_was_decided(engine):
    calls = []

    def third_stops(interval):
        calls.append(interval)
        if len(calls) == 3:
            raise Stop("enough")

    with pytest.raises(Stop) as caught:
        corr.run(LLSERVER, [EXAMPLE_TRACE], cache=False, on_interval=third_stops)
    assert len(calls) == 3
    partial = caught.value.partial
    assert isinstance(partial, corr.RunResult)
    assert "Stop: enough" in partial.stopped["cause"]
    whole = corr.run(LLSERVER, [EXAMPLE_TRACE], cache=False)
    # What was decided before the stop is a prefix of each rule's table.
    for r, full in zip(partial.rules, whole.rules):
        n = len(r.intervals)
        assert r.intervals.rows(range(n)) == full.intervals.rows(range(n))
    decided = {(iv.rule, iv.start_ns) for iv in calls}
    kept = {(r.name, row["start_ns"]) for r in partial.rules
            for row in r.intervals.rows(range(len(r.intervals)))}
    assert decided <= kept


def _children() -> set[int]:
    me = str(os.getpid())
    found = set()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == me and fields[0] != "Z":
            found.add(int(pid))
    return found


def test_a_raising_callback_leaves_no_decode_worker(monkeypatch):
    trace = shared_trace("many-threads")
    monkeypatch.setenv("CORR_JOBS", "2")          # decoded by worker processes
    before = _children()

    def stop(interval):
        assert _children() - before, "no decode worker ran: nothing is tested"
        raise Stop("first")

    # The exception is kept (its traceback holds the pass's frames), as a caller
    # reading its ``partial`` would keep it.
    with pytest.raises(Stop) as caught:
        corr.run(SYSCALLS, [trace], cache=False, on_interval=stop,
                 overrides={"syscalls.threshold": "10us"})
    assert caught.value.__traceback__ is not None
    assert _children() <= before         # stopped and reaped before the exception came out


def test_callbacks_are_not_taken_with_a_filter():
    with pytest.raises(corr.UsageError, match="on_interval, on_timeout: not with filter="):
        corr.run(SYSCALLS, [EXAMPLE_TRACE], on_interval=print,
                 filter=corr.ThreadFilter(tids=[1]))


# -- 6. stream ---------------------------------------------------------------------------------

@pytest.mark.parametrize("trace, rules, overrides", [
    (EXAMPLE_TRACE, LLSERVER, {}),
    ("many-threads", SYSCALLS, {"syscalls.threshold": "100us", "syscalls.timeout": "2ms"}),
])
def test_stream_gives_what_the_callbacks_get_in_their_order(engine, trace, rules, overrides):
    trace = shared_trace(trace) if isinstance(trace, str) else trace
    result, seen = _run_with_callbacks(rules, [trace], overrides=overrides)
    streamed = corr.stream(rules, [trace], overrides=overrides, timeouts=True, cache=False)
    assert isinstance(streamed, corr.IntervalStream)
    got = list(streamed)
    assert got == [iv for _, iv in seen]
    assert len(got) > 10 and streamed.stopped is None
    without = list(corr.stream(rules, [trace], overrides=overrides, cache=False))
    assert without == [iv for kind, iv in seen if kind == "interval"]


def test_stream_hands_intervals_out_during_the_pass():
    progress = []
    streamed = corr.stream(SYSCALLS, [shared_trace("many-threads")], cache=False,
                           overrides={"syscalls.threshold": "100us"},
                           progress=lambda events, fraction: progress.append(events))
    first = next(streamed)
    at_first = list(progress)
    rest = list(streamed)
    assert first.rule == "syscalls" and rest
    assert at_first and at_first[-1] < progress[-1]        # before the trace was read


def test_stream_errors_come_from_the_call():
    with pytest.raises(corr.OverrideError, match="^overrides: nope.threshold=1ms"):
        corr.stream(SYSCALLS, [EXAMPLE_TRACE], overrides=["nope.threshold=1ms"])


def test_closing_a_stream_stops_its_decode_workers(monkeypatch):
    trace = shared_trace("many-threads")
    monkeypatch.setenv("CORR_JOBS", "2")
    before = _children()
    with corr.stream(SYSCALLS, [trace], cache=False,
                     overrides={"syscalls.threshold": "10us"}) as streamed:
        next(streamed)
        assert _children() - before, "no decode worker ran: nothing is tested"
    assert _children() <= before
    assert list(streamed) == []
