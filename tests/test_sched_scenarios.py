"""The scheduling model, breakdowns and critical paths on exact scenarios.

Each scenario is a small system written as a real CTF trace; the expected
breakdown and critical path follow from what the scenario says happened,
to the nanosecond (times below are scenario times).
"""

from __future__ import annotations

from corr.analyses.critical_path import breakdown, critical_path
from corr.engine.runner import Engine
from corr.reading import open_traces
from corr.rules.model import RuleSet
from corr.sched.model import SchedModel, tile_check
from corr.testing import Scenario


class Analysed:
    """A scenario's trace read with the scheduling model; times in scenario ns."""

    def __init__(self, scenario: Scenario, path, end: int | None = None,
                 native: bool | None = None):
        scenario.write(path, end=end)
        engine = Engine(open_traces([path]), RuleSet(str(path), 1, []), scheduling=True).run()
        self.base = scenario.ns_from_origin(0)
        self.model = SchedModel(engine.sched_log, engine.begin_ns, engine.end_ns,
                                names=engine.thread_names.name_at, native=native)

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


def chain_to_the_disk() -> Scenario:
    """client (101) waits on server (102), which waits on the disk (BLOCK softirq)."""
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
    return s


def test_a_blocked_on_b_blocked_on_the_disk(tmp_path):
    t = Analysed(chain_to_the_disk(), tmp_path / "t", end=10_000)
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


def test_preemption_by_a_higher_priority_thread(tmp_path):
    s = Scenario(cpus=1)
    a = s.thread(tid=101, pid=101, comm="worker")
    hi = s.thread(tid=103, pid=103, comm="urgent", prio=-10)
    s.run(cpu=0, thread=a, at=0)
    s.wakeup(hi, by=a, at=900)
    s.preempt(a, by=hi, at=1_000)
    s.block(hi, at=3_000, next=a)
    t = Analysed(s, tmp_path / "t", end=5_000)
    assert t.path(101, 0, 4_000) == [
        (101, "worker", "RUNNING", 0, 1_000),
        (101, "worker", "PREEMPTED", 1_000, 3_000),
        (101, "worker", "RUNNING", 3_000, 4_000),
    ]
    assert t.breakdown(101, 0, 4_000) == [
        ("on_cpu", None, 2_000),
        ("preempted", "urgent (103)", 2_000),
    ]


def test_a_timer_sleep(tmp_path):
    s = Scenario(cpus=1)
    a = s.thread(tid=101, pid=101, comm="sleeper")
    s.run(cpu=0, thread=a, at=0)
    s.block(a, at=1_000, state="S")
    s.wakeup(a, by=s.hrtimer(cpu=0, at=5_000, until=5_100, function=0xffffffff81234560),
             at=5_050)
    s.run(cpu=0, thread=a, at=5_200)
    t = Analysed(s, tmp_path / "t", end=7_000)
    assert t.path(101, 0, 6_000) == [
        (101, "sleeper", "RUNNING", 0, 1_000),
        (101, "sleeper", "TIMER", 1_000, 5_050),
        (101, "sleeper", "PREEMPTED", 5_050, 5_200),
        (101, "sleeper", "RUNNING", 5_200, 6_000),
    ]
    assert t.breakdown(101, 0, 6_000) == [
        ("blocked", "timer", 4_050),
        ("on_cpu", None, 1_800),
        ("preempted", None, 150),
    ]


def test_a_three_thread_wakeup_chain(tmp_path):
    s = Scenario(cpus=3)
    a = s.thread(tid=101, pid=100, comm="front")
    b = s.thread(tid=102, pid=100, comm="middle")
    c = s.thread(tid=103, pid=100, comm="back")
    for cpu, thread in enumerate((a, b, c)):
        s.run(cpu=cpu, thread=thread, at=0)
    s.block(a, at=1_000)
    s.block(b, at=2_000)
    s.wakeup(b, by=c, at=6_000)           # c works until it hands over
    s.block(c, at=6_500)
    s.run(cpu=1, thread=b, at=6_100)
    s.wakeup(a, by=b, at=8_000)
    s.run(cpu=0, thread=a, at=8_300)
    t = Analysed(s, tmp_path / "t", end=10_000)
    assert t.path(101, 0, 9_000) == [
        (101, "front", "RUNNING", 0, 1_000),
        (102, "middle", "RUNNING", 1_000, 2_000),
        (103, "back", "RUNNING", 2_000, 6_000),
        (102, "middle", "PREEMPTED", 6_000, 6_100),
        (102, "middle", "RUNNING", 6_100, 8_000),
        (101, "front", "PREEMPTED", 8_000, 8_300),
        (101, "front", "RUNNING", 8_300, 9_000),
    ]
    assert t.breakdown(101, 0, 9_000) == [
        ("blocked", "middle (102)", 7_000),
        ("on_cpu", None, 1_700),
        ("preempted", None, 300),
    ]


def test_a_wakeup_from_the_network_softirq(tmp_path):
    s = Scenario(cpus=2)
    a = s.thread(tid=101, pid=101, comm="server")
    s.run(cpu=0, thread=a, at=0)
    s.block(a, at=1_000)
    s.wakeup(a, by=s.softirq(cpu=1, vec="NET_RX", at=4_000, until=4_400), at=4_100)
    s.run(cpu=0, thread=a, at=4_500)
    t = Analysed(s, tmp_path / "t", end=6_000)
    assert t.path(101, 0, 5_000) == [
        (101, "server", "RUNNING", 0, 1_000),
        (101, "server", "NETWORK", 1_000, 4_100),
        (101, "server", "PREEMPTED", 4_100, 4_500),
        (101, "server", "RUNNING", 4_500, 5_000),
    ]
    assert ("blocked", "softirq NET_RX", 3_100) in t.breakdown(101, 0, 5_000)


def test_an_irq_interrupting_an_unrelated_thread_is_not_blamed_on_it(tmp_path):
    s = Scenario(cpus=2)
    a = s.thread(tid=101, pid=101, comm="waiter")
    x = s.thread(tid=202, pid=202, comm="bystander")
    s.run(cpu=0, thread=a, at=0)
    s.run(cpu=1, thread=x, at=0)
    s.block(a, at=1_000)
    s.wakeup(a, by=s.irq(cpu=1, irq=42, name="eth0", at=3_000, until=3_200), at=3_100)
    s.run(cpu=0, thread=a, at=3_300)
    t = Analysed(s, tmp_path / "t", end=5_000)
    assert t.path(101, 0, 4_000) == [
        (101, "waiter", "RUNNING", 0, 1_000),
        (101, "waiter", "INTERRUPTED", 1_000, 3_100),
        (101, "waiter", "PREEMPTED", 3_100, 3_300),
        (101, "waiter", "RUNNING", 3_300, 4_000),
    ]
    parts = t.breakdown(101, 0, 4_000)
    assert ("blocked", "IRQ 42 (eth0)", 2_100) in parts
    assert not any(p[1] and "bystander" in p[1] for p in parts)


def test_a_thread_already_blocked_when_the_trace_starts(tmp_path):
    s = Scenario(cpus=2)
    a = s.thread(tid=101, pid=101, comm="sleeper")
    b = s.thread(tid=102, pid=102, comm="waker")
    s.run(cpu=1, thread=b, at=0)
    s.wakeup(a, by=b, at=3_000, target_cpu=0)
    s.run(cpu=0, thread=a, at=3_500)
    t = Analysed(s, tmp_path / "t", end=5_000)
    # Before the trace's first event nothing is known; from it on, the
    # wakeup says the thread was asleep and who ended that.
    assert t.path(101, -1_000, 4_000) == [
        (101, "sleeper", "UNKNOWN", -1_000, 0),
        (102, "waker", "RUNNING", 0, 3_000),
        (101, "sleeper", "PREEMPTED", 3_000, 3_500),
        (101, "sleeper", "RUNNING", 3_500, 4_000),
    ]
    assert t.breakdown(101, -1_000, 4_000) == [
        ("blocked", "waker (102)", 3_000),
        ("on_cpu", None, 500),
        ("preempted", None, 500),
        ("unknown", None, 1_000),
    ]


class _FakeModel:
    """Timelines given directly: tid -> [Segment], for data no scenario can write
    (a wakeup cycle only lost or misattributed events can produce)."""

    def __init__(self, timelines):
        self.timelines = timelines

    def name_at(self, tid, ts=None):
        return f"t{tid}"

    def segments(self, tid, start, end):
        return [seg._replace(start=max(seg.start, start), end=min(seg.end, end))
                for seg in self.timelines[tid] if seg.end > start and seg.start < end]


def test_a_wakeup_cycle_ends(tmp_path):
    from corr.sched.model import Segment, Source
    model = _FakeModel({
        1: [Segment(0, 100, "blocked", source=Source("thread", 2))],
        2: [Segment(0, 50, "running", 0), Segment(50, 100, "blocked", source=Source("thread", 1))],
    })
    assert [(s.tid, s.state, s.start_ns, s.end_ns) for s in critical_path(model, 1, 0, 100)] == [
        (2, "RUNNING", 0, 50), (2, "BLOCKED", 50, 100)]


def test_the_path_is_depth_bounded():
    from corr.sched.model import Segment, Source
    timelines = {tid: [Segment(0, 100, "blocked", source=Source("thread", tid + 1))]
                 for tid in range(1, 40)}
    path = critical_path(_FakeModel(timelines), 1, 0, 100, max_depth=5)
    assert [(s.tid, s.state) for s in path] == [(6, "BLOCKED")]


def test_blame_graph_of_a_chain_to_the_disk(tmp_path):
    from corr.analyses.blame import BlameGraph, differential
    t = Analysed(chain_to_the_disk(), tmp_path / "t", end=10_000)
    start, end = t.base + 500, t.base + 9_000
    graph = BlameGraph(t.model.name_at)
    waits: list = []
    critical_path(t.model, 101, start, end, waits=waits)
    parts = breakdown(t.model, 101, start, end, waits=waits)
    graph.add(101, waits)
    graph.add(101, waits)                  # a second, identical interval: the same time
    graph.finish()
    assert graph.ranking() == [
        ("client (101)", "server (102)", 6_000, 2),
        ("server (102)", "softirq BLOCK", 3_200, 2),
        ("client (101)", "waiting for a CPU", 1_000, 2),
    ]
    fast = breakdown(t.model, 101, t.base + 8_000, t.base + 9_000)     # all on CPU
    rows = {r["part"]: r for r in differential([(8_500, parts)], [(1_000, fast)])}
    assert rows["on_cpu"]["fast_share"] == 1.0
    assert rows["blocked: server (102)"]["slow_share"] == round(6_000 / 8_500, 6)
