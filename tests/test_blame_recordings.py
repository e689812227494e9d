"""corr's blame on two real perf recordings that have no interrupt events.

Both are recorded at test time as users record with perf (``examples/*/
record.sh``): scheduling events, for ``workers`` also system calls, and no
IRQ, softirq or hrtimer events.  Only the tracepoints' ``common_flags``
(0x08 hard IRQ, 0x10 softirq, 0x40 NMI) then tell a wakeup done in an
interrupt from one done by the task the interrupt happened to interrupt.

- ``examples/timersleep``: a thread sleeping 2 ms in ``nanosleep()`` 300
  times on CPU 0 beside a busy process on CPU 0.  The hrtimer interrupt wakes
  it, mostly while the busy process runs: the busy process is never its
  waker, but it is the thread the woken sleeper waits for (preempted).
- ``examples/workers``: a manager and three workers sharing a mutex and two
  condition variables; each round, the first worker to take the mutex
  writes a file and ``fdatasync()``s it holding the mutex, while the other
  workers wait for the mutex.  Their waits lead through the lock holder,
  whose own wait for the disk is woken by an interrupt or a kernel thread,
  never blamed on a bystander.

What really happened is read from the recordings with babeltrace2, not with
corr: every ``sched_waking`` with its flags and the thread it ran in
(``perf_tid``), every ``sched_switch``, every ``fdatasync``.  corr runs as a
user runs it: ``corr run rules/offcpu.yaml KERNEL --format json``, every
off-CPU interval explained (threshold 0).
"""

from __future__ import annotations

import bisect
import json
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import ROOT, record_example, run_checked, run_corr
from test_blame_invariants import assert_blame_invariants

pytestmark = pytest.mark.recording

SLEEPS, ROUNDS, WORKERS = 300, 30, 3
IN_INTERRUPT = 0x08 | 0x10 | 0x40      # common_flags: hard IRQ, softirq, NMI
RACE_NS = 100_000                      # a wakeup may come just before the switch-out
FDATASYNC = 75                         # x86_64


# ----------------------------------------------------------------- the truth
_LINE = re.compile(r"^\[(\d+)\] (\S+): \{ cpu_id = (\d+) \}, \{ (.*) \}$")
_FIELD = re.compile(r'(\w+) = ("(?:[^"\\]|\\.)*"|[-\w]+)')


def ctf_events(kernel: Path) -> list[dict]:
    """The trace as babeltrace2 prints it: ts (ns: perf's clock counts ns from 0),
    name, cpu, and every scalar field of the event."""
    events = []
    for line in run_checked(["babeltrace2", "--clock-cycles", "--no-delta", kernel]).splitlines():
        m = _LINE.match(line)
        assert m, f"unexpected babeltrace2 line: {line!r}"
        event = {k: v[1:-1] if v.startswith('"') else int(v, 0) for k, v in _FIELD.findall(m[4])}
        event.update(ts=int(m[1]), name=m[2], cpu=int(m[3]))
        events.append(event)
    return events


@dataclass(frozen=True)
class Wake:
    ts: int
    waker: int            # the thread sched_waking ran in (perf_tid)
    flags: int            # common_flags

    @property
    def in_interrupt(self) -> bool:
        return bool(self.flags & IN_INTERRUPT)

    @property
    def by_thread(self) -> int | None:
        """The thread that woke: none when an interrupt (or the idle task) did."""
        return None if self.in_interrupt or self.waker == 0 else self.waker


@dataclass
class Recording:
    kernel: Path
    ids: dict             # name -> pid or tid, as the program printed them
    events: list
    intervals: list       # corr's off-CPU intervals (JSON), every thread

    def __post_init__(self):
        self.wakes: dict = defaultdict(list)        # woken tid -> [Wake], in time order
        for e in self.events:
            if e["name"] == "sched:sched_waking":
                self.wakes[e["pid"]].append(Wake(e["ts"], e["perf_tid"], e["common_flags"]))

    def ending_wake(self, interval) -> Wake | None:
        """The last sched_waking of the interval's thread before it ran again."""
        wakes = self.wakes[interval["blamed_tid"]]
        i = bisect.bisect_right([w.ts for w in wakes], interval["end_ns"])
        if i and wakes[i - 1].ts >= interval["start_ns"] - RACE_NS:
            return wakes[i - 1]
        return None

    def of(self, tid: int) -> list:
        return [i for i in self.intervals if i["blamed_tid"] == tid]

    def held_by(self, tid: int) -> dict:
        """ts of each switch-in of tid -> (the thread that held the CPU until
        then, since when), where the CPU's switches agree on it (a switch lost
        by perf leaves two threads claiming the CPU: left out)."""
        last, held = {}, {}
        for e in (e for e in self.events if e["name"] == "sched:sched_switch"):
            before = last.get(e["cpu"])
            if e["next_pid"] == tid and before and before["next_pid"] == e["prev_pid"]:
                held[e["ts"]] = (e["prev_pid"], before["ts"])
            last[e["cpu"]] = e
        return held


def program_ids(name: str, text: str) -> dict:
    """The ids the program printed: "NAME: pid P sleeper T busy B ..." and
    "workers: worker W tid T wrote K" lines."""
    ids = {}
    for line in re.findall(rf"^{name}: (.*)$", text, re.M):
        worker = re.fullmatch(r"worker (\d+) tid (\d+) wrote \d+", line)
        if worker:
            ids[f"worker-{worker[1]}"] = int(worker[2])
            continue
        words = line.split()
        ids.update({k: int(v) for k, v in zip(words[::2], words[1::2])
                    if k in ("pid", "sleeper", "busy", "manager")})
    return ids


def record(name: str, tmp_path_factory, *args) -> Recording:
    outdir = tmp_path_factory.mktemp(name)
    ids = program_ids(name, record_example(name, outdir, *args))
    kernel = outdir / "kernel"
    proc = run_corr("run", ROOT / "rules" / "offcpu.yaml", kernel, "--format", "json",
                    "--set", "offcpu.threshold=0ns")
    assert proc.returncode == 0, proc.stderr
    rule = json.loads(proc.stdout)["rules"][0]
    assert rule["blame"]["analysed"] == rule["blame"]["slow"], rule["blame"]
    return Recording(kernel, ids, ctf_events(kernel), rule["intervals"])


@pytest.fixture(scope="module")
def timersleep(tmp_path_factory) -> Recording:
    return record("timersleep", tmp_path_factory, "--sleeps", SLEEPS, "--sleep-us", 2000,
                  "--cpu", 0)


@pytest.fixture(scope="module")
def workers(tmp_path_factory) -> Recording:
    return record("workers", tmp_path_factory, "--workers", WORKERS, "--rounds", ROUNDS)


@pytest.fixture(params=["timersleep", "workers"])
def any_recording(request) -> Recording:
    return request.getfixturevalue(request.param)


def program_threads(rec: Recording) -> set[int]:
    return {tid for name, tid in rec.ids.items() if name != "pid"}


def blocked_on(interval) -> set:
    """The threads a breakdown says the interval was blocked on (None: no thread)."""
    return {p["tid"] for p in interval["breakdown"] if p["kind"] == "blocked"}


def spans_lost_events(interval) -> bool:
    """An unknown stretch inside: perf lost events there, so the interval may hold
    two sleeps (each with its own waker), of which the trace shows one end."""
    return any(p["kind"] == "unknown" for p in interval["breakdown"])


def fdatasyncs(rec: Recording) -> list[tuple[int, int, int]]:
    """(tid, enter ts, exit ts) of every fdatasync."""
    entered, calls = {}, []
    for e in rec.events:
        if e["name"] == "raw_syscalls:sys_enter" and e["id"] == FDATASYNC:
            entered[e["perf_tid"]] = e["ts"]
        elif e["name"] == "raw_syscalls:sys_exit" and e["id"] == FDATASYNC:
            calls.append((e["perf_tid"], entered.pop(e["perf_tid"]), e["ts"]))
    return calls


# ------------------------------------------------------- the recordings hold it
def test_the_sleeper_is_woken_in_the_hard_irq_of_the_busy_process(timersleep):
    rec = timersleep
    sleeps = rec.of(rec.ids["sleeper"])
    wakes = [rec.ending_wake(i) for i in sleeps]
    assert len(sleeps) >= SLEEPS * 9 // 10     # (a switch lost by perf merges two)
    assert sum(w is not None and w.flags & 0x08 for w in wakes) >= len(sleeps) * 9 // 10
    in_busy = sum(w is not None and w.flags & 0x08 and w.waker == rec.ids["busy"] for w in wakes)
    assert in_busy >= SLEEPS // 4, f"only {in_busy} timer wakeups interrupted the busy process"


def test_each_round_syncs_while_the_other_workers_wait(workers):
    rec = workers
    syncs = fdatasyncs(rec)
    assert len(syncs) == ROUNDS
    workers_ = {rec.ids[f"worker-{w}"] for w in range(WORKERS)}
    assert {tid for tid, _, _ in syncs} <= workers_
    # They wait for the disk (on a loaded host, perf may lose a wake, or the data
    # may already be on its way: most, not all).
    slept = [enter for tid, enter, exit_ in syncs
             if any(w.ts < exit_ for w in rec.wakes[tid] if w.ts > enter)]
    assert len(slept) >= ROUNDS * 0.9, f"only {len(slept)} of {len(syncs)} fdatasyncs slept"
    # Most rounds have workers waiting for the lock (under load, some round's
    # others may all still be waiting for a CPU when its fdatasync returns).
    assert len({exit_ for _, exit_, _ in lock_waits(rec)}) >= ROUNDS // 2


# ----------------------------------------------------------------- corr's blame
def test_wakers_are_what_woke_and_never_the_thread_itself(any_recording):
    """Each interval is blocked on the thread that ran its ending sched_waking,
    or on no thread when that ran in an interrupt (or in the idle task);
    never on itself, and no critical path names a thread as its own waker."""
    rec = any_recording
    wrong, lossy = [], 0
    ours = [i for i in rec.intervals if i["blamed_tid"] in program_threads(rec)]
    for interval in ours:
        tid, named = interval["blamed_tid"], blocked_on(interval) - {None}
        wake = rec.ending_wake(interval)
        lost = spans_lost_events(interval)
        lossy += lost
        if tid in named:
            wrong.append(f"blocked on itself: {interval}")
        elif wake is not None and not lost and named - {wake.by_thread}:
            wrong.append(f"blocked on {named}, woken by {wake}: {interval['breakdown']}")
        wrong += [f"{seg} waits on itself" for seg in interval["critical_path"]
                  if seg["tid"] in seg["via"]]
    assert not wrong, f"{len(wrong)} wrong wakers, e.g.:\n" + "\n".join(wrong[:8])
    assert lossy <= len(ours) * 0.05, f"{lossy} of {len(ours)} intervals span lost events"


@pytest.mark.parametrize("rule", ["offcpu", "wakeup"])
def test_blame_invariants_hold(any_recording, rule):
    """As on every shared trace: nothing blamed on itself, no thread's blame above
    its time off CPU, breakdowns and paths that add up."""
    assert_blame_invariants(any_recording.kernel, rule)


def test_the_busy_process_never_woke_the_sleeper(timersleep):
    rec = timersleep
    busy = rec.ids["busy"]
    wrong = [i for i in rec.of(rec.ids["sleeper"])
             if busy in blocked_on(i) or any(seg["tid"] == busy for seg in i["critical_path"])]
    assert not wrong, (f"{len(wrong)} sleeps blamed on the busy process, e.g. "
                       f"{wrong[0]['breakdown']} {wrong[0]['critical_path'][:4]}")


def test_preemption_by_the_busy_process_is_reported(timersleep):
    """A sleep woken while the busy process held the CPU, until it switched
    to the sleeper, was spent partly waiting for it: corr names it in a
    preempted part."""
    rec = timersleep
    busy = rec.ids["busy"]
    held = rec.held_by(rec.ids["sleeper"])
    after_busy = [i for i in rec.of(rec.ids["sleeper"])
                  if i["end_ns"] in held and held[i["end_ns"]][0] == busy
                  and rec.ending_wake(i) and rec.ending_wake(i).ts > held[i["end_ns"]][1]]
    assert len(after_busy) >= SLEEPS // 4
    missing = [i["breakdown"] for i in after_busy
               if not any(p["kind"] == "preempted" and p["tid"] == busy for p in i["breakdown"])]
    assert not missing, f"{len(missing)} of {len(after_busy)} without the busy process: {missing[:3]}"


def lock_waits(rec: Recording, lost: set | None = None) -> list[tuple[int, int, dict]]:
    """(the holder, its fdatasync's return, a waiter's interval) for each worker
    asleep when a holder's fdatasync returned and woken after it (the trace's
    sched_waking says when): it waits for the mutex the holder still holds.  A
    worker the manager's broadcast woke before, still waiting for a CPU when
    the fdatasync returned, was not waiting for the lock; an interval spanning
    events perf lost may hold both waits, and is left out (``lost``, a set,
    gets the fdatasync returns whose rounds lost one so)."""
    found = []
    for holder, _, exit_ in fdatasyncs(rec):
        for w in range(WORKERS):
            tid = rec.ids[f"worker-{w}"]
            for i in rec.of(tid):
                if tid == holder or not i["start_ns"] < exit_ < i["end_ns"]:
                    continue
                if spans_lost_events(i):
                    if lost is not None:
                        lost.add(exit_)
                elif rec.ending_wake(i) is None or rec.ending_wake(i).ts > exit_:
                    found.append((holder, exit_, i))
    return found


def test_lock_waiters_wait_on_the_holder(workers):
    """Blocked on a worker that held the mutex (the holder, or a waiter the
    holder woke first), with the critical path leading into the holder."""
    rec = workers
    lost: set = set()
    waits = lock_waits(rec, lost)
    workers_ = {rec.ids[f"worker-{w}"] for w in range(WORKERS)}
    wrong = [(holder, i["blamed_tid"], i["breakdown"]) for holder, _, i in waits
             if not blocked_on(i) or not blocked_on(i) <= workers_ - {i["blamed_tid"]}]
    assert not wrong, f"{len(wrong)} of {len(waits)} lock waits not on a worker: {wrong[:3]}"
    # In every round with lock waiters, the holder's unlock woke one of them; but
    # in a round where a waiter's sleep spans events perf lost, that sleep, left
    # out, may be the one the holder woke (its waiter then woke the others).
    rounds = {exit_ for _, exit_, _ in waits} - lost
    assert len(rounds) >= ROUNDS // 2, f"{len(lost)} rounds lost events"
    direct = {exit_ for holder, exit_, i in waits if holder in blocked_on(i)} - lost
    assert direct == rounds, f"{len(rounds - direct)} of {len(rounds)} rounds: nobody on the holder"
    unled = [(holder, i["critical_path"]) for holder, _, i in waits
             if not any(seg["tid"] == holder for seg in i["critical_path"])]
    assert not unled, f"{len(unled)} of {len(waits)} paths miss the holder, e.g. {unled[0]}"


def test_the_disk_leg_is_not_blamed_on_a_bystander(workers):
    """The holder's sleeps in fdatasync: woken in an interrupt (no thread
    named) or by the kernel thread that ran the wake, never by a thread the
    interrupt happened to interrupt."""
    rec = workers
    checked, wrong = 0, []
    for holder, enter, exit_ in fdatasyncs(rec):
        for interval in rec.of(holder):
            if not enter <= interval["start_ns"] < interval["end_ns"] <= exit_:
                continue
            checked += 1
            wake = rec.ending_wake(interval)
            # No sched_waking recorded for it (perf lost it): no thread may be named.
            if blocked_on(interval) - {None} - {wake.by_thread if wake else None}:
                wrong.append((wake, interval["breakdown"]))
    assert checked >= ROUNDS
    assert not wrong, f"{len(wrong)} of {checked} disk waits blamed wrongly: {wrong[:3]}"
