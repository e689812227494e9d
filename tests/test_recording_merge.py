"""corr reads a real kernel+user recording as one time-ordered stream.

The user half is LTTng-UST (``monotonic`` + an epoch offset), the kernel
half perf CTF (``perf_clock``, offset 0): babeltrace2 refuses to merge
them, corr aligns them.  If the alignment is right, every UST event of a
thread lies inside a stretch where the kernel says that thread runs on
that CPU.
"""

from __future__ import annotations

import json
from bisect import bisect_left
from collections import defaultdict

import pytest

import corr
from corr.sched.model import runnable_state
from conftest import babeltrace2_counts, run_corr
from test_recording import COMMITTED, UST_SUBDIR


def check_ust_events_inside_their_thread_runs(trace) -> int:
    """Each UST event of thread V on CPU C at t: the kernel events on C just
    before and just after t are V's (perf stamps each with the running tid),
    and the next ``sched_switch`` on C switches V out.

    One exception, which the tracer makes, not the alignment: LTTng-UST reads
    the CPU, then the clock.  A thread preempted between the two and resumed
    on another CPU stamps its event with the first CPU and a time when it
    no longer ran there: the kernel's last event on C before it is V's
    preemption.  Those are left out, and must stay rare."""
    # cpu -> [(ts, tid running up to the event, tid running after it, switched-out
    #          tid, its prev_state)]
    kernel = defaultdict(list)
    ust = []                            # (ts, cpu, vtid)
    last_ts = None
    for batch in corr.events(trace, {"sched_*": ["prev_tid", "next_tid", "prev_state",
                                                 "ctx.tid"],
                                     "syscall_*": ["ctx.tid"],
                                     "llserver:*": ["ctx.vtid"]}):
        for ts, name, cpu, f in batch.events():
            assert last_ts is None or ts >= last_ts, "merged stream goes back in time"
            last_ts = ts
            if name.startswith("llserver:"):
                ust.append((ts, cpu, f["ctx.vtid"]))
            else:
                switch = name == "sched_switch"
                kernel[cpu].append((ts, f["ctx.tid"], f["next_tid"] if switch else f["ctx.tid"],
                                    f["prev_tid"] if switch else None,
                                    f["prev_state"] if switch else None))
    assert ust and kernel
    # This kernel does not trace switches out of the idle task on some CPUs
    # (examples/llserver/README.md): there a thread can start running right
    # after a switch *to* idle, with no kernel event of its own yet.
    idle_switch_out_missing = {cpu for cpu, evs in kernel.items()
                               if not any(e[3] == 0 for e in evs)}
    checked = moved = 0
    times_of = {cpu: [e[0] for e in events] for cpu, events in kernel.items()}
    for ts, cpu, vtid in ust:
        events = kernel[cpu]
        i = bisect_left(times_of[cpu], ts)
        if i == len(events) or i == 0:
            continue                    # before the first or after the last kernel event
        before, after = events[i - 1], events[i]
        if before[3] == vtid and before[2] != vtid and runnable_state(before[4]):
            moved += 1                  # preempted inside the tracepoint (above)
            continue
        assert before[2] == vtid or (before[2] == 0 and cpu in idle_switch_out_missing), \
            f"UST event of {vtid} at {ts} on cpu {cpu} follows {before}"
        assert after[1] == vtid, f"UST event of {vtid} at {ts} on cpu {cpu} precedes {after}"
        next_switch = next(e for e in events[i:] + [(None, None, None, vtid, None)]
                           if e[3] is not None)
        assert next_switch[3] == vtid, f"{vtid} at {ts} on cpu {cpu}: next switch out {next_switch}"
        checked += 1
    assert checked > len(ust) * 0.9 and moved <= len(ust) * 0.01, (checked, moved, len(ust))
    return checked


def test_committed_recording_merges_in_order():
    assert check_ust_events_inside_their_thread_runs(COMMITTED) > 4000


@pytest.mark.recording
def test_fresh_recording_merges_in_order(recording):
    assert recording.proc.returncode == 0, recording.log
    assert check_ust_events_inside_their_thread_runs(recording.out) > 1000


def _counts_equal_babeltrace2(session):
    got = json.loads(run_corr("inspect", "--json", session).stdout)
    expected = {}
    for half in (session / "kernel", session / UST_SUBDIR):
        counts, rc = babeltrace2_counts(half)
        assert rc == 0
        expected.update(counts)
    assert {c["name"]: c["count"] for c in got["event_classes"] if c["count"]} == expected
    assert got["events"] == sum(expected.values())
    aligned = [t for t in got["traces"] if "perf_clock" in t["alignment"]]
    assert len(aligned) == 1 and aligned[0]["offset_ns"] > 0


def test_committed_recording_counts_equal_babeltrace2():
    _counts_equal_babeltrace2(COMMITTED)


@pytest.mark.recording
def test_fresh_recording_counts_equal_babeltrace2(recording):
    assert recording.proc.returncode == 0, recording.log
    _counts_equal_babeltrace2(recording.out)


@pytest.mark.recording
def test_readers_agree_on_the_fresh_recording(recording):
    from test_reader_differential import assert_readers_agree
    assert recording.proc.returncode == 0, recording.log
    assert len(assert_readers_agree(recording.out)) > 5000
