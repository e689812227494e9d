"""rules/calcjob.yaml on examples/calcjob: which thread blocks on which (the
calcjob lesson, shared/seeds/003_*).

The program prints every critical section of its job mutex (recording.txt):
who, when it asked for the mutex, got it and let it go (each a pair of clock
reads around the tracepoint), and when it fdatasync()ed its result holding it.
So the truth is known:

- every lock_request/lock_acquired pair is one of those sections, to the
  bracket;
- a worker that asked for the mutex while the other worker held it, before
  the holder's fdatasync began, waited for that holder: corr blames the wait
  on the holder, and the wait's critical path, through the holder, leaves the
  holder's CPU for most of the fdatasync (the disk: the kernel's writeback
  worker, interrupts).

Every thread of the program runs at SCHED_FIFO, so no other process on the
host changes who waits on whom.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import ROOT, assert_small, record_ust_example, run_corr, ust_clock_offset

RULES = ROOT / "rules" / "calcjob.yaml"
COMMITTED = ROOT / "examples" / "calcjob" / "trace"
ROUNDS, WORKERS = 20, 2
COMMITTED_BEHIND = 20     # in the committed recording: a wait behind the disk every round
_SECTION = re.compile(r"calcjob: section tid (\d+) job (-?\d+) request (\d+) (\d+) acquired (\d+) (\d+) "
                      r"release (\d+) (\d+) sync (\d+) (\d+)")


def sections(trace: Path) -> list[dict]:
    text = (trace / "recording.txt").read_text()
    return [dict(zip(("tid", "job", "r0", "r1", "a0", "a1", "s0", "s1", "b", "e"), map(int, m)))
            for m in _SECTION.findall(text)]


def run(trace: Path) -> dict:
    proc = run_corr("run", RULES, trace, "--format", "json", "--all-intervals",
                    "--set", "lock_wait.threshold=0ns")
    assert proc.returncode == 0, proc.stderr
    return {r["name"]: r for r in json.loads(proc.stdout)["rules"]}


def holder_of(wait: dict, log: list[dict]) -> dict | None:
    """The section of another thread that held the mutex all along the wait's
    start, and synced after it: the wait is behind that holder's disk write."""
    for h in log:
        if (h["e"] and h["tid"] != wait["tid"] and h["a1"] <= wait["r0"]
                and wait["r1"] <= h["b"] and h["s1"] <= wait["a0"]):
            return h
    return None


def check(trace: Path) -> int:
    """The checks; the number of waits behind a holder's fdatasync."""
    log, offset, rules = sections(trace), ust_clock_offset(trace), run(trace)
    assert len(log) == ROUNDS * (2 * WORKERS + 1) + 1 + WORKERS

    # Each wait is one of the program's sections, to the bracket.
    waits = sorted(rules["lock_wait"]["intervals"], key=lambda i: (i["tid"], i["start_ns"]))
    assert rules["lock_wait"]["outcomes"]["complete"] == len(waits) == len(log)
    by_thread = sorted(log, key=lambda s: (s["tid"], s["r0"]))
    for interval, s in zip(waits, by_thread):
        assert interval["tid"] == s["tid"]
        assert s["r0"] <= interval["start_ns"] - offset <= s["r1"]
        assert s["a0"] <= interval["end_ns"] - offset <= s["a1"]
    assert rules["lock_hold"]["stats"]["count"] == len(log)
    jobs = ROUNDS * WORKERS
    for name in ("queue_wait", "job"):
        assert rules[name]["outcomes"]["complete"] == rules[name]["outcomes"]["entries"] == jobs

    behind = 0
    for interval, s in zip(waits, by_thread):
        h = holder_of(s, log)
        if h is None:
            continue
        behind += 1
        # Blamed on the holder, and on nothing else.
        blocked = [p for p in interval["breakdown"] if p["kind"] == "blocked"]
        assert {p["tid"] for p in blocked} == {h["tid"]}, interval["breakdown"]
        assert sum(p["ns"] for p in blocked) >= 0.8 * interval["duration_ns"], interval["breakdown"]
        # Through the holder, the disk: during its fdatasync the path is mostly
        # not the holder running.
        b, e = h["b"] + offset, h["e"] + offset
        away = sum(min(seg["end_ns"], e) - max(seg["start_ns"], b) for seg in interval["critical_path"]
                   if min(seg["end_ns"], e) > max(seg["start_ns"], b)
                   and not (seg["tid"] == h["tid"] and seg["state"] == "RUNNING"))
        assert away >= 0.5 * (e - b), interval["critical_path"]
    return behind


def test_committed_recording():
    assert check(COMMITTED) == COMMITTED_BEHIND


def test_committed_recording_is_small():
    assert_small(COMMITTED)


@pytest.mark.recording
def test_fresh_recording(tmp_path):
    record_ust_example("calcjob", tmp_path / "rec")
    # Both workers compute as long, from the same moment, on their own CPUs: in
    # most rounds one asks for the mutex while the other holds it.
    assert check(tmp_path / "rec") >= ROUNDS // 2

