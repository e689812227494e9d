"""Intervals explained as they are decided (corr.stream, the callbacks of corr.run).

A stream builds its scheduling model from the events read so far, kept to
what the entries still waiting can need (corr/sched/window.py).  Its
explanations must be the run's: the same breakdown, critical path and blamed
thread for every interval the run explains, on every trace we have, with the
window trimmed as often as it can be; and the window must not keep the trace.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import corr
from corr.sched import window
from corr.testing.generate import generate_kernel_trace

from conftest import EXPLANATION, READABLE, explained_rows, interval_identity, shared_trace

ROOT = Path(__file__).resolve().parent.parent
OFFCPU = ROOT / "rules" / "offcpu.yaml"
LLSERVER = ROOT / "rules" / "llserver.yaml"
EXAMPLE = ROOT / "examples" / "llserver" / "trace"

SYSCALLS_BLAMED = """\
version: 1
rules:
  - name: syscalls
    entry: {event: "syscall_entry_*", key: {tid: $tid}}
    exit: {event: "syscall_exit_*", key: {tid: $tid}}
    match: last
    threshold: 50us
    timeout: 5ms
    blame: entry
"""


def _run_explained(rules, traces, overrides=()) -> dict:
    """Every interval the run explains (no blame limit): identity -> its row."""
    return explained_rows(corr.run(rules, traces, overrides, cache=False, blame_limit=0))


def _compare(rules, traces, overrides=()) -> tuple[int, int]:
    """Stream and run over the same traces: every streamed interval the run explains
    has the run's explanation, every one it does not is unexplained.  (Compared,
    streamed.)"""
    want = _run_explained(rules, traces, overrides)
    compared = streamed = 0
    for iv in corr.stream(rules, traces, overrides, cache=False):
        streamed += 1
        got = iv.to_dict()
        row = want.get(interval_identity(iv.rule, got))
        if row is None:
            assert not iv.explained, (iv.rule, iv.status, iv.start_ns)
            continue
        assert {k: got[k] for k in EXPLANATION} == {k: row[k] for k in EXPLANATION}, (
            iv.rule, iv.start_ns, iv.end_ns)
        compared += 1
    # Nothing the run explains over the threshold is missing from the stream.
    assert compared == len(want)
    return compared, streamed


@pytest.fixture
def trim_always(monkeypatch):
    """The window trimmed after every batch that grew it at all."""
    monkeypatch.setattr(window, "TRIM_ROWS", 1)


@pytest.mark.parametrize("name", READABLE + ["hello-lost"])
def test_a_stream_explains_every_shared_trace_as_the_run(name, trim_always, tmp_path):
    trace = shared_trace(name)
    rules = tmp_path / "syscalls.yaml"
    rules.write_text(SYSCALLS_BLAMED)
    for rule_file in (OFFCPU, rules):
        compared, streamed = _compare(rule_file, [trace])
        assert streamed >= compared


def test_a_stream_explains_the_example_as_the_run(trim_always):
    compared, _ = _compare(LLSERVER, [EXAMPLE])
    assert compared > 10


def test_the_python_model_explains_a_stream_as_the_c_one(monkeypatch, trim_always):
    trace = shared_trace("many-threads")
    with_c = [iv.to_dict() for iv in corr.stream(OFFCPU, [trace], cache=False)]
    monkeypatch.setenv("CORR_SCHED", "python")
    reference = [iv.to_dict() for iv in corr.stream(OFFCPU, [trace], cache=False)]
    assert sum("breakdown" in d for d in with_c) > 100
    assert reference == with_c


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), cpus=st.integers(1, 4), threads=st.integers(2, 40))
def test_windows_trimmed_at_every_batch_explain_generated_traces_as_the_run(
        seed, cpus, threads, tmp_path_factory, monkeypatch):
    monkeypatch.setattr(window, "TRIM_ROWS", 1)
    path = tmp_path_factory.mktemp("gen") / "trace"
    generate_kernel_trace(path, events=120_000, cpus=cpus, threads=threads, seed=seed,
                          packet_events=4_000)
    # Every off-CPU interval explained, down to the shortest.
    compared, _ = _compare(OFFCPU, [path], {"offcpu.threshold": 0})
    assert compared > 0


def test_the_window_keeps_what_is_waiting_not_the_trace(monkeypatch, tmp_path):
    """On a generated trace, the stream's window ends holding a small part of the
    scheduling events read, although every slow interval was explained."""
    kept = []
    trim = window.SchedWindow.trim

    def watched(self, horizon):
        trim(self, horizon)
        kept.append(self.rows())

    monkeypatch.setattr(window.SchedWindow, "trim", watched)
    monkeypatch.setattr(window, "TRIM_ROWS", 4096)
    path = tmp_path / "trace"
    generated = generate_kernel_trace(path, events=600_000, cpus=4, threads=200, seed=3)
    explained = sum(iv.explained for iv in corr.stream(OFFCPU, [path], cache=False))
    switches = generated.counts["sched_switch"]
    assert explained > 1000
    # What each trim kept (what the entries waiting then needed, and each thread's
    # events since its last switch-in) is a small part of the switches alone.
    assert len(kept) >= 5
    assert max(kept) < switches / 20, (max(kept), switches)


def test_callbacks_of_a_run_get_the_explanation_of_its_result():
    explained = []
    result = corr.run(OFFCPU, [shared_trace("many-threads")], cache=False, blame_limit=0,
                      on_interval=explained.append)
    rows = explained_rows(result)
    got = {interval_identity(iv.rule, iv.to_dict()): iv.to_dict() for iv in explained if iv.explained}
    assert got.keys() == rows.keys() and len(got) > 100
    for identity, row in rows.items():
        assert {k: got[identity][k] for k in EXPLANATION} == {k: row[k] for k in EXPLANATION}


def test_a_stream_asked_not_to_explain_gives_the_same_intervals_unexplained():
    trace = shared_trace("many-threads")
    explained = [iv.to_dict() for iv in corr.stream(OFFCPU, [trace], cache=False)]
    plain = [iv.to_dict() for iv in corr.stream(OFFCPU, [trace], cache=False, explain=False)]
    # An explained row calls each thread by one name, as a run's rows do (a renamed
    # thread's exit_comm may differ from the name at the exit).
    drop = set(EXPLANATION) | {"renamed", "comm", "exit_comm"}
    assert sum("breakdown" in d for d in explained) > 100
    assert not any("breakdown" in d for d in plain)
    assert ([{k: v for k, v in d.items() if k not in drop} for d in plain]
            == [{k: v for k, v in d.items() if k not in drop} for d in explained])
