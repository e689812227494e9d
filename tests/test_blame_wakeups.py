"""Who woke a sleeping thread: interrupts known from flags or events, early wakes, races.

Exact scenarios, each read by the C model and by the Python reference.
Kernel events carry a ``tid`` context, as perf's ``perf_tid`` does: the
thread a wakeup was emitted in, which is the task an interrupt
interrupted, never the one to blame.
"""

from __future__ import annotations

import json

import pytest

from corr.analyses import bulk
from corr.sched.store import available as native_available
from corr.testing import Scenario
from test_sched_scenarios import Analysed

from conftest import ROOT, run_corr

MODELS = [pytest.param(False, id="python")] + (
    [pytest.param(True, id="c")] if native_available() else [])
TIMER_FN = 0xFFFFFFFF81234560


def timer_sleeper_beside_busy(*, flags: bool, recorded: bool) -> Scenario:
    """sleeper (101) sleeps 1,000-5,050 until a timer interrupt on CPU 0, where
    busy (102) runs; woken, it waits for busy to give up the CPU until 5,200."""
    s = Scenario(cpus=1, kernel_context=("tid",), irq_flags=flags)
    sleeper = s.thread(tid=101, comm="sleeper")
    busy = s.thread(tid=102, comm="busy")
    s.run(cpu=0, thread=sleeper, at=0)
    s.block(sleeper, at=1_000, state="S", next=busy)
    s.wakeup(sleeper, by=s.hrtimer(cpu=0, at=5_000, until=5_100, function=TIMER_FN,
                                   recorded=recorded), at=5_050)
    s.preempt(busy, by=sleeper, at=5_200)
    return s


@pytest.mark.parametrize("native", MODELS)
def test_a_hard_irq_flagged_wake_is_not_blamed_on_the_interrupted_task(tmp_path, native):
    t = Analysed(timer_sleeper_beside_busy(flags=True, recorded=False), tmp_path / "t",
                 end=7_000, native=native)
    assert t.breakdown(101, 0, 6_000) == [
        ("blocked", "hard IRQ", 4_050),
        ("on_cpu", None, 1_800),
        ("preempted", "busy (102)", 150),        # preemption by it is still reported
    ]
    assert t.path(101, 0, 6_000) == [
        (101, "sleeper", "RUNNING", 0, 1_000),
        (101, "sleeper", "INTERRUPTED", 1_000, 5_050),
        (101, "sleeper", "PREEMPTED", 5_050, 5_200),
        (101, "sleeper", "RUNNING", 5_200, 6_000),
    ]


def test_without_flags_or_irq_events_the_interrupted_task_is_all_there_is(tmp_path):
    """The limit docs/scheduling.md states: nothing tells the interrupt apart."""
    t = Analysed(timer_sleeper_beside_busy(flags=False, recorded=False), tmp_path / "t",
                 end=7_000)
    assert t.model.log.interrupt_evidence == "none"
    assert ("blocked", "busy (102)", 4_050) in t.breakdown(101, 0, 6_000)


@pytest.mark.parametrize("native", MODELS)
def test_recorded_interrupt_events_name_the_interrupt_over_the_flags(tmp_path, native):
    t = Analysed(timer_sleeper_beside_busy(flags=True, recorded=True), tmp_path / "t",
                 end=7_000, native=native)
    assert t.breakdown(101, 0, 6_000) == [
        ("blocked", "timer", 4_050),
        ("on_cpu", None, 1_800),
        ("preempted", "busy (102)", 150),
    ]
    assert [seg[2] for seg in t.path(101, 0, 6_000)] == [
        "RUNNING", "TIMER", "PREEMPTED", "RUNNING"]


def disk_write_woken_through_a_kworker(*, recorded: bool) -> Scenario:
    """writer (101) sleeps in fdatasync on CPU 1 until kworker (104) wakes it; the
    kworker was woken by the BLOCK softirq, which ran on CPU 0 inside python (103)."""
    s = Scenario(cpus=2, kernel_context=("tid",), irq_flags=True)
    writer = s.thread(tid=101, comm="writer")
    python = s.thread(tid=103, comm="python")
    kworker = s.thread(tid=104, comm="kworker/1:1H")
    s.run(cpu=1, thread=kworker, at=0)
    s.block(kworker, at=100, state="I")
    s.run(cpu=1, thread=writer, at=200)
    s.run(cpu=0, thread=python, at=0)
    s.block(writer, at=1_000, state="D")
    s.wakeup(kworker, by=s.softirq(cpu=0, vec="BLOCK", at=3_000, until=3_200,
                                   recorded=recorded), at=3_100, target_cpu=1)
    s.run(cpu=1, thread=kworker, at=3_300)
    s.wakeup(writer, by=kworker, at=3_500)
    s.block(kworker, at=3_600, state="I", next=writer)
    return s


@pytest.mark.parametrize("native", MODELS)
def test_a_softirq_flagged_wake_ends_the_path_at_the_softirq(tmp_path, native):
    t = Analysed(disk_write_woken_through_a_kworker(recorded=False), tmp_path / "t",
                 end=5_000, native=native)
    assert t.path(101, 500, 4_000) == [
        (101, "writer", "RUNNING", 500, 1_000),
        (104, "kworker/1:1H", "INTERRUPTED", 1_000, 3_100),
        (104, "kworker/1:1H", "PREEMPTED", 3_100, 3_300),
        (104, "kworker/1:1H", "RUNNING", 3_300, 3_500),
        (101, "writer", "PREEMPTED", 3_500, 3_600),
        (101, "writer", "RUNNING", 3_600, 4_000),
    ]
    # With the softirq's events recorded, it is named: the disk.
    t = Analysed(disk_write_woken_through_a_kworker(recorded=True), tmp_path / "r",
                 end=5_000, native=native)
    assert [seg[2] for seg in t.path(101, 500, 4_000)][1] == "BLOCK_DEVICE"


@pytest.mark.skipif(not native_available(), reason="the bulk totals are the C model's")
def test_bulk_totals_blame_the_interrupt_too(tmp_path):
    t = Analysed(disk_write_woken_through_a_kworker(recorded=False), tmp_path / "t",
                 end=5_000, native=True)
    found = bulk.totals(t.model, [101], [t.base + 500], [t.base + 4_000], threads=1)
    edges = {(w, on): (ns, count, sorted(kinds)) for w, on, ns, count, kinds in found.edges}
    # writer: blocked on the kworker 1,000-3,500, then kept off CPU 1 by it until 3,600.
    assert edges == {(101, 104): (2_600, 1, ["blocked", "preempted"]),
                     (104, "softirq"): (2_100, 1, ["blocked"])}


def early_wake_then_sleep() -> Scenario:
    """manager (101) is woken by a timer while it still runs (a wake for nothing:
    no IRQ events, no flags, so the waker reads as itself); 11 ns later it sleeps
    for real until worker (102) wakes it."""
    s = Scenario(cpus=2, kernel_context=("tid",))
    manager = s.thread(tid=101, comm="manager")
    worker = s.thread(tid=102, comm="worker")
    s.run(cpu=0, thread=manager, at=0)
    s.run(cpu=1, thread=worker, at=0)
    s.wakeup(manager, by=s.hrtimer(cpu=0, at=1_990, until=2_010, function=TIMER_FN,
                                   recorded=False), at=2_000, running=True)
    s.block(manager, at=2_011, state="S")
    s.wakeup(manager, by=worker, at=5_000, target_cpu=0)
    s.run(cpu=0, thread=manager, at=5_100)
    return s


@pytest.mark.parametrize("native", MODELS)
def test_an_early_wake_of_a_running_thread_belongs_to_no_later_sleep(tmp_path, native):
    t = Analysed(early_wake_then_sleep(), tmp_path / "t", end=7_000, native=native)
    assert t.breakdown(101, 0, 6_000) == [
        ("blocked", "worker (102)", 2_989),
        ("on_cpu", None, 2_911),
        ("preempted", None, 100),
    ]
    assert all(seg[0] != 101 or seg[2] != "BLOCKED" for seg in t.path(101, 0, 6_000))


def waking_while_switching_out() -> Scenario:
    """waker (102) wakes target (101) on CPU 1 at 1,000 while target is still
    switching out (asleep at 1,100); the sched_wakeup comes at 1,200, after the
    switch-out, and target runs at 1,500."""
    s = Scenario(cpus=2, kernel_context=("tid",))
    target = s.thread(tid=101, comm="target")
    waker = s.thread(tid=102, comm="waker")
    s.run(cpu=1, thread=target, at=0)
    s.run(cpu=0, thread=waker, at=0)
    s.wakeup(target, by=waker, at=1_000, running=True, wakeup_at=1_200)
    s.block(target, at=1_100, state="S")
    s.run(cpu=1, thread=target, at=1_500)
    return s


@pytest.mark.parametrize("native", MODELS)
def test_a_waking_during_the_switch_out_ends_that_sleep(tmp_path, native):
    t = Analysed(waking_while_switching_out(), tmp_path / "t", end=3_000, native=native)
    assert t.breakdown(101, 0, 2_000) == [
        ("blocked", "waker (102)", 100),
        ("on_cpu", None, 1_600),
        ("preempted", None, 300),
    ]


def test_wakeup_rule_measures_the_race_from_the_sched_wakeup(tmp_path):
    """As lttng-schedstats does: the latency runs from the sched_wakeup that came
    after the switch-out, 1,200 to 1,500."""
    written = waking_while_switching_out().write(tmp_path / "t", end=3_000)
    proc = run_corr("run", ROOT / "rules" / "wakeup.yaml", written.root, "--format", "json",
                    "--no-cache", "--set", "wakeup.threshold=0ns")
    assert proc.returncode == 0, proc.stderr
    rule = json.loads(proc.stdout)["rules"][0]
    assert [(i["key"], i["duration_ns"]) for i in rule["intervals"]
            if i["status"] == "complete"] == [(101, 300)]


@pytest.mark.parametrize("flags,recorded,note", [
    (False, False, "wakeups in interrupts cannot be told apart: no IRQ events and no "
                   "common_flags"),
    (True, False, "wakeups in interrupts: from perf's common_flags"),
    (True, True, "wakeups in interrupts: from IRQ, softirq and hrtimer events"),
])
def test_inspect_says_how_wakeups_in_interrupts_are_told(tmp_path, flags, recorded, note):
    written = timer_sleeper_beside_busy(flags=flags, recorded=recorded).write(tmp_path / "t",
                                                                              end=7_000)
    proc = run_corr("inspect", "--json", written.root)
    assert proc.returncode == 0, proc.stderr
    notes = json.loads(proc.stdout)["traces"][0]["dialect_notes"]
    assert [n for n in notes if n.startswith("wakeups in interrupts")] == [
        next(n for n in notes if n.startswith(note))]


def test_check_and_run_warn_when_interrupts_cannot_be_told(tmp_path):
    blind = timer_sleeper_beside_busy(flags=False, recorded=False).write(tmp_path / "b",
                                                                         end=7_000)
    flagged = timer_sleeper_beside_busy(flags=True, recorded=False).write(tmp_path / "f",
                                                                          end=7_000)
    rules = ROOT / "rules" / "offcpu.yaml"
    proc = run_corr("check", rules, blind.root)
    assert proc.returncode == 0
    assert (f"rule offcpu: blame: {blind.root}: wakeups in interrupts cannot be told apart"
            in proc.stdout + proc.stderr)
    proc = run_corr("check", rules, flagged.root)
    assert proc.returncode == 0 and "cannot be told apart" not in proc.stdout + proc.stderr
    for root, caveat in ((blind.root, True), (flagged.root, False)):
        proc = run_corr("run", rules, root, "--format", "json", "--no-cache",
                        "--set", "offcpu.threshold=1us")
        blame = json.loads(proc.stdout)["rules"][0]["blame"]
        assert ("caveats" in blame) is caveat
        text = run_corr("run", rules, root, "--no-cache", "--set", "offcpu.threshold=1us").stdout
        assert ("note: wakeups in interrupts cannot be told apart" in text) is caveat
