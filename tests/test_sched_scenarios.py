"""The scheduling model, breakdowns and critical paths on exact scenarios.

Each scenario is a small system written as a real CTF trace; the expected
breakdown and critical path follow from what the scenario says happened,
to the nanosecond (times below are scenario times).
"""

from __future__ import annotations

import pytest

from corr.analyses.critical_path import breakdown, critical_path
from corr.engine.runner import Engine
from corr.reading import open_traces
from corr.rules.model import RuleSet
from corr.sched.model import SchedModel, tile_check
from corr.testing import Scenario


class Analysed:
    """A scenario's trace read with the scheduling model; times in scenario ns."""

    def __init__(self, scenario: Scenario, path, end: int | None = None):
        scenario.write(path, end=end)
        engine = Engine(open_traces([path]), RuleSet(str(path), 1, []), scheduling=True).run()
        self.base = scenario.ns_from_origin(0)
        self.model = SchedModel(engine.sched_log, engine.begin_ns, engine.end_ns,
                                names=engine.thread_names.name_at)

    def path(self, tid, start, end):
        segments = critical_path(self.model, tid, self.base + start, self.base + end)
        assert tile_check([_Span(s.start_ns, s.end_ns) for s in segments],
                          self.base + start, self.base + end)
        return [(s.tid, s.comm, s.state, s.start_ns - self.base, s.end_ns - self.base)
                for s in segments]

    def breakdown(self, tid, start, end):
        parts = breakdown(self.model, tid, self.base + start, self.base + end)
        assert sum(p.ns for p in parts) == end - start
        return sorted((p.kind, p.by, p.ns) for p in parts)


class _Span:
    def __init__(self, start, end):
        self.start, self.end = start, end


def test_a_blocked_on_b_blocked_on_the_disk(tmp_path):
    s = Scenario(cpus=2)
    a = s.thread(tid=101, pid=101, comm="client")
    b = s.thread(tid=102, pid=102, comm="server")
    s.run(cpu=0, thread=a, at=0)
    s.run(cpu=1, thread=b, at=0)
    s.block(a, at=1_000, state="S")
    s.block(b, at=2_000, state="D")
    s.wakeup(b, by=s.softirq(cpu=1, vec="BLOCK", at=5_000, until=5_500), at=5_200)
    s.run(cpu=1, thread=b, at=6_000)
    s.wakeup(a, by=b, at=7_000)
    s.run(cpu=0, thread=a, at=8_000)
    t = Analysed(s, tmp_path / "t", end=10_000)
    assert t.path(101, 500, 9_000) == [
        (101, "client", "RUNNING", 500, 1_000),
        (102, "server", "RUNNING", 1_000, 2_000),
        (102, "server", "BLOCK_DEVICE", 2_000, 5_200),
        (102, "server", "PREEMPTED", 5_200, 6_000),
        (102, "server", "RUNNING", 6_000, 7_000),
        (101, "client", "PREEMPTED", 7_000, 8_000),
        (101, "client", "RUNNING", 8_000, 9_000),
    ]
    assert t.breakdown(101, 500, 9_000) == [
        ("blocked", "server (102)", 6_000),
        ("on_cpu", None, 1_500),
        ("preempted", None, 1_000),
    ]
