"""What must hold of blame on every trace we have, whatever it holds.

Over every readable trace in ../shared/traces and the bundled recording,
``rules/offcpu.yaml`` (every sleep over 1 us explained) and
``rules/wakeup.yaml`` (every scheduling delay) must give:

* no thread blocked on itself: no blame edge from a thread to itself, no
  breakdown blaming the interval's own thread, no critical path where a
  thread waits on itself;
* no blame total above the time it explains: per waiting thread, its
  outgoing edges add up to at most the time it was not running (blocked,
  runnable or unknown) over the trace, from the scheduler model's own
  timeline; and no edge longer than the trace;
* breakdowns that add up to their interval, and critical paths that tile it.

The recordings that tests make (tests/test_blame_recordings.py) are checked
with the same function.
"""

from __future__ import annotations

import functools
from collections import defaultdict

import pytest

import corr.api as api
from corr.engine.runner import Engine
from corr.reading import open_traces
from corr.rules.model import RuleSet
from corr.sched.model import RUNNING, SchedModel

from conftest import EXAMPLE_TRACE, READABLE, ROOT, shared_trace

RULES = {"offcpu": ("offcpu.yaml", "offcpu.threshold=1us"),
         "wakeup": ("wakeup.yaml", "wakeup.threshold=0ns")}
CHECKED_ONE_BY_ONE = 300         # the slowest intervals whose breakdown and path are read


def _trace(name):
    return EXAMPLE_TRACE if name == "llserver-example" else shared_trace(name)


@functools.lru_cache(maxsize=None)
def off_cpu_time(trace: str):
    """(tid -> ns it was not running over the trace, the trace's length), from the
    scheduler model's timelines (the Python reference's)."""
    engine = Engine(open_traces([trace]), RuleSet("none", 1, []), scheduling=True).run()
    model = SchedModel(engine.sched_log, engine.begin_ns, engine.end_ns, native=False)
    begin, end = engine.begin_ns, engine.end_ns

    @functools.lru_cache(maxsize=None)
    def not_running(tid):
        return sum(s.end - s.start for s in model.segments(tid, begin, end)
                   if s.state != RUNNING)
    return not_running, end - begin


def assert_blame_invariants(trace, rule: str) -> None:
    """The invariants above, for one rule file of RULES over one trace."""
    path, override = RULES[rule]
    result = api.run(str(ROOT / "rules" / path), [trace], overrides=[override], cache=False)
    r = result.rule(rule)
    analysis = r.analysis
    assert analysis is not None and analysis.available, analysis and analysis.reason
    graph = analysis.graph
    assert analysis.slow > 0 and graph.edges, "nothing explained: the check would be vacuous"
    not_running, trace_ns = off_cpu_time(str(trace))

    outgoing = defaultdict(int)
    for (u, v), data in graph.edges.items():
        assert u != v, f"{graph.nodes[u]['label']} blamed on itself"
        assert 0 < data["ns"] <= trace_ns and data["count"] >= 1
        outgoing[graph.nodes[u]["tid"]] += data["ns"]
    for tid, ns in outgoing.items():
        assert ns <= not_running(tid), (
            f"tid {tid}: {ns} ns of blame, not running for {not_running(tid)} ns")

    for index in list(analysis.intervals)[:CHECKED_ONE_BY_ONE]:
        found = analysis.intervals[index]
        start, end = r.intervals.start_ns[index], r.intervals.end_ns[index]
        assert sum(p.ns for p in found.breakdown) == end - start
        assert not any(p.kind == "blocked" and p.tid == found.tid for p in found.breakdown)
        at = start
        for seg in found.critical_path:
            assert seg.start_ns == at and seg.end_ns > seg.start_ns
            assert seg.tid not in seg.via, "a thread on its own waker chain"
            at = seg.end_ns
        assert at == end


# Every trace with scheduling events (the UST ones have none); flipping-endianness
# has switches but no wakeups.
SCHEDULING = [n for n in READABLE if n not in ("context-switches-ust", "php-u-20180813-150550")]
CASES = [(name, rule) for name in SCHEDULING + ["llserver-example"] for rule in sorted(RULES)
         if (name, rule) != ("flipping-endianness", "wakeup")]


@pytest.mark.parametrize("name,rule", CASES)
def test_blame_invariants(name, rule):
    assert_blame_invariants(_trace(name), rule)
