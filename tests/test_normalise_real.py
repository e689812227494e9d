"""Normalisation on real third-party traces: dialects, names, derived tids."""

from __future__ import annotations

from collections import Counter, defaultdict

import corr
from corr.normalise import detect
from corr.reading import open_traces

from conftest import babeltrace2_counts, shared_trace


def _dialect(name):
    t = open_traces(shared_trace(name)).traces[0]
    return detect(t.env, t.class_names)


def test_dialects_of_shared_traces():
    assert _dialect("many-threads").name == "lttng-modules"
    assert not _dialect("many-threads").old_syscalls
    assert _dialect("bug446190").old_syscalls
    assert _dialect("wget-k-20180802-115043").name == "lttng-modules"
    assert _dialect("php-u-20180813-150550").name == "lttng-ust"
    assert _dialect("context-switches-ust").name == "lttng-ust"


def test_old_naming_exit_syscall_takes_the_name_of_the_open_entry():
    path = shared_trace("bug446190")
    raw, _ = babeltrace2_counts(path)
    exits = Counter()
    open_by_tid: dict[int, str] = {}
    mismatched = 0
    for batch in corr.events(path, {"syscall_*": ["ctx.tid"], "sched_process_fork": "*"}):
        for _, name, _, f in batch.events():
            if name.startswith("syscall_entry_"):
                open_by_tid[f["ctx.tid"]] = name[len("syscall_entry_"):]
            elif name.startswith("syscall_exit_"):
                exits[name] += 1
                call = name[len("syscall_exit_"):]
                expected = open_by_tid.pop(f["ctx.tid"], None)
                if expected is None:
                    # Entered before the trace began (or a clone child's return).
                    assert call == "unknown" or call in ("clone", "fork", "vfork")
                elif call != expected:
                    mismatched += 1
    # Every raw exit_syscall became exactly one canonical exit.
    assert sum(exits.values()) == raw["exit_syscall"]
    # And the canonical entries are the raw sys_* entries, renamed.
    assert mismatched == 0
    assert exits["syscall_exit_ioctl"] > 0
    assert exits["syscall_exit_unknown"] < sum(exits.values()) // 100


def test_derived_tid_is_the_switched_out_thread_at_each_switch():
    """With no tid context, ctx.tid comes from the CPU's switch history."""
    path = shared_trace("many-threads")
    checked = 0
    for batch in corr.events(path, {"sched_switch": ["prev_tid", "next_tid", "ctx.tid"]}):
        for _, _, _, f in batch.events():
            assert f["ctx.tid"] == f["prev_tid"]
            checked += 1
    assert checked == 28_325


def test_derived_tid_matches_syscall_pairs():
    """A thread's syscall exit is seen on the thread that entered it."""
    path = shared_trace("wget-k-20180802-115043")
    open_by_tid = defaultdict(list)
    pairs = 0
    for batch in corr.events(path, {"syscall_entry_*": ["ctx.tid"], "syscall_exit_*": ["ctx.tid"]}):
        for _, name, _, f in batch.events():
            tid = f["ctx.tid"]
            assert tid is not None
            if name.startswith("syscall_entry_"):
                open_by_tid[tid].append(name[14:])
            elif open_by_tid[tid]:
                assert open_by_tid[tid].pop() == name[13:]
                pairs += 1
    assert pairs > 5000


def test_canonical_names_for_old_softirq_and_hrtimer():
    path = shared_trace("bug446190")
    names = Counter()
    for batch in corr.events(path, {"irq_softirq_*": (), "timer_hrtimer_expire_*": ()}):
        for _, name, _, _ in batch.events():
            names[name] += 1
    raw, _ = babeltrace2_counts(path)
    assert names["irq_softirq_entry"] == raw["softirq_entry"] > 0
    assert names["timer_hrtimer_expire_entry"] == raw["hrtimer_expire_entry"] > 0


def test_raw_names_stay_usable():
    path = shared_trace("bug446190")
    raw, _ = babeltrace2_counts(path)
    got = Counter()
    for batch in corr.events(path, {"softirq_entry": ["vec"]}):
        for _, name, _, f in batch.events():
            got[name] += 1
            assert "vec" in f
    assert got == Counter({"softirq_entry": raw["softirq_entry"]})
