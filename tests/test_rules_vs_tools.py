"""The shipped syscall and wakeup rules against independent tools, on real traces.

``rules/syscalls.yaml`` and ``rules/wakeup.yaml`` are run with their
statistics split per thread (``group_by`` rewritten, nothing else changed)
and every group is compared exactly (count, min and max equal; mean and
sample standard deviation within 1e-6 relative) with:

* lttng-analyses (Debian's ``python3-lttnganalyses``):
  ``lttng-syscallstats-mi`` and ``lttng-schedstats-mi --per-tid``, on every
  kernel trace.  It reads the tracer's version from a folder named
  ``kernel`` (else fails with ``'State' object has no attribute
  'tracer_version'``), so each trace is copied into one first;
* a reference written here from bt2's documented Python API and plain
  Python, sharing nothing with corr's reader, normaliser or engine, itself
  checked against lttng-analyses.

The reference's semantics:

* the thread of an event is the one its CPU last switched in
  (``sched_switch.next_tid``); before a CPU's first switch, that switch's
  ``prev_tid`` (none of these traces has a ``tid`` context);
* system calls: ``syscall_entry_<name>``/``syscall_exit_<name>``, or the
  old (lttng-modules 2.5) ``sys_<name>`` entries with one ``exit_syscall``
  that closes the thread's open call; a thread is in one call at a time, so
  a new entry replaces an unfinished one; an exit without an open call
  (a clone child's return, a call entered before tracing) is ignored, and
  ``sched_process_exit`` drops the thread's open call (``exit``,
  ``exit_group``);
* scheduling latency: from a thread's first wakeup (``sched_waking``,
  ``sched_wakeup`` or ``sched_wakeup_new``) to its next ``sched_switch``
  in; later wakeups while one is pending are ignored, and the pending one
  is dropped if the thread is switched out first.  So a ``sched_waking``
  that came while the thread was still switching out asleep is dropped at
  the switch-out, and its ``sched_wakeup``, after it, opens the wait (as
  lttng-analyses, which ignores the wakeups of a thread still on a CPU);
* statistics: count, min, max, mean and the sample (n-1) standard
  deviation, none for a single interval.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path

import bt2
import pytest
from ruamel.yaml import YAML

from conftest import ROOT, run_corr, shared_trace

pytestmark = pytest.mark.shared

WGET = ["wget-k-20180802-115043", "wget-k-20180802-115406"]
REFERENCE_TRACES = ["many-threads", "bug446190", *WGET]
RTOL = 1e-6

# Lower bounds on what each comparison covers: (groups, intervals).  The
# traces hold a little more; the bounds keep a comparison from passing on
# nearly nothing.
MINIMUM = {
    ("syscalls", "many-threads"): (16_000, 70_000),
    ("syscalls", "bug446190"): (150, 1_800),
    ("syscalls", "wget-k-20180802-115043"): (300, 7_100),
    ("syscalls", "wget-k-20180802-115406"): (240, 4_100),
    ("wakeup", "many-threads"): (390, 6_600),
    ("wakeup", "bug446190"): (25, 540),
    ("wakeup", "wget-k-20180802-115043"): (70, 1_350),
    ("wakeup", "wget-k-20180802-115406"): (50, 850),
}

# The shipped rules, regrouped per thread to match the tools' tables.
PER_THREAD = {
    "syscalls": ["entry.$tid", "entry.$syscall"],
    "wakeup": ["tid"],
}


# -- the reference ---------------------------------------------------------------
SWITCH = "sched_switch"
PROCESS_EXIT = "sched_process_exit"
WAKEUPS = ("sched_waking", "sched_wakeup", "sched_wakeup_new")
OLD_EXIT = "exit_syscall"
NEW_ENTRY, NEW_EXIT, OLD_ENTRY = "syscall_entry_", "syscall_exit_", "sys_"


def summarise(durations: list[int]) -> dict:
    n = len(durations)
    mean = math.fsum(durations) / n
    stdev = (math.sqrt(math.fsum((d - mean) ** 2 for d in durations) / (n - 1))
             if n > 1 else None)
    return {"count": n, "min": min(durations), "max": max(durations),
            "mean": mean, "stdev": stdev}


class Reference:
    """Per-thread syscall and wakeup statistics of one trace, from bt2 alone."""

    def __init__(self, path: Path):
        self.class_names: set[str] = set()
        self.discarded = 0
        self.no_argument_calls: set[str] = set()
        self.events = self._read(path)
        self.syscall_durations, self.syscall_counts = self._syscalls()
        self.wakeup_durations, self.wakeup_counts = self._wakeups()

    def _read(self, path: Path) -> list[tuple]:
        """(ns, name, cpu, fields) of the events the statistics need, in time order."""
        events = []
        for msg in bt2.TraceCollectionMessageIterator(str(path)):
            if isinstance(msg, bt2._StreamBeginningMessageConst):
                self.class_names.update(ec.name for ec in msg.stream.cls.values())
                continue
            if isinstance(msg, bt2._DiscardedEventsMessageConst):
                self.discarded += 1
                continue
            if not isinstance(msg, bt2._EventMessageConst):
                continue
            event = msg.event
            name = event.name
            if name == SWITCH:
                payload = event.payload_field
                fields = (int(payload["prev_tid"]), int(payload["next_tid"]))
            elif name == PROCESS_EXIT or name in WAKEUPS:
                fields = (int(event.payload_field["tid"]),)
            elif name.startswith((NEW_ENTRY, OLD_ENTRY)):
                payload = event.payload_field
                if payload is None or len(payload) == 0:
                    self.no_argument_calls.add(self._call(name))
                fields = ()
            elif name.startswith(NEW_EXIT) or name == OLD_EXIT:
                fields = ()
            else:
                continue
            events.append((msg.default_clock_snapshot.ns_from_origin, name,
                           int(event.packet.context_field["cpu_id"]), fields))
        return events

    @staticmethod
    def _call(entry_name: str) -> str:
        if entry_name.startswith(NEW_ENTRY):
            return entry_name[len(NEW_ENTRY):]
        return entry_name[len(OLD_ENTRY):]

    def _with_threads(self):
        """The events, each with the thread its CPU was running."""
        running: dict[int, int] = {}
        for _, name, cpu, fields in self.events:          # first pass
            if name == SWITCH and cpu not in running:
                running[cpu] = fields[0]
        for ts, name, cpu, fields in self.events:
            tid = running.get(cpu)
            if name == SWITCH:
                running[cpu] = fields[1]
            yield ts, name, fields, tid

    def _syscalls(self):
        open_call: dict[int, tuple[str, int]] = {}      # tid -> (syscall, entry ns)
        durations: dict[tuple, list[int]] = defaultdict(list)
        counts: dict[str, int] = defaultdict(int)
        for ts, name, fields, tid in self._with_threads():
            if name.startswith((NEW_ENTRY, OLD_ENTRY)):
                counts["entries"] += 1
                if tid in open_call:
                    counts["replaced"] += 1
                open_call[tid] = (self._call(name), ts)
            elif name.startswith(NEW_EXIT) or name == OLD_EXIT:
                opened = open_call.pop(tid, None)
                if opened is None:
                    counts["exits_without_entry"] += 1
                elif name != OLD_EXIT and name[len(NEW_EXIT):] != opened[0]:
                    counts["mismatched_exits"] += 1              # events were lost
                else:
                    durations[(tid, opened[0])].append(ts - opened[1])
            elif name == PROCESS_EXIT:
                if open_call.pop(fields[0], None) is not None:
                    counts["cancelled"] += 1
        counts["open_at_end"] = len(open_call)
        return dict(durations), dict(counts)

    def _wakeups(self):
        opening = set(WAKEUPS)
        pending: dict[int, int] = {}                     # tid -> first wakeup ns
        durations: dict[int, list[int]] = defaultdict(list)
        counts: dict[str, int] = defaultdict(int)
        for ts, name, _, fields in self.events:
            if name in opening:
                counts["wakeups"] += 1
                pending.setdefault(fields[0], ts)
            elif name == SWITCH:
                prev_tid, next_tid = fields
                if pending.pop(prev_tid, None) is not None:
                    counts["switched_out_first"] += 1
                woken = pending.pop(next_tid, None)
                if woken is not None:
                    durations[next_tid].append(ts - woken)
        counts["pending_at_end"] = len(pending)
        return dict(durations), dict(counts)

    def groups(self, rule: str) -> dict:
        durations = self.syscall_durations if rule == "syscalls" else self.wakeup_durations
        return {key: summarise(d) for key, d in durations.items()}

    def overall(self, rule: str) -> dict:
        durations = self.syscall_durations if rule == "syscalls" else self.wakeup_durations
        return summarise([d for ds in durations.values() for d in ds])


# -- the tools ---------------------------------------------------------------------
def _corr_stats(stats: dict) -> dict:
    return {"count": stats["count"], "min": stats["min_ns"], "max": stats["max_ns"],
            "mean": stats["mean_ns"], "stdev": stats["stdev_ns"]}


def run_rules_per_thread(rule: str, trace: Path, workdir: Path) -> dict:
    """The shipped rule file, grouped per thread, through ``corr run --format json``."""
    yaml = YAML()
    doc = yaml.load((ROOT / "rules" / f"{rule}.yaml").read_text())
    assert len(doc["rules"]) == 1 and doc["rules"][0]["name"] == rule
    doc["rules"][0]["group_by"] = PER_THREAD[rule]
    rules = workdir / f"{rule}-per-thread.yaml"
    with rules.open("w") as f:
        yaml.dump(doc, f)
    proc = run_corr("run", "--format", "json", rules, trace)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    [out] = result["rules"]
    groups = {}
    for g in out["groups"]:
        # A group holding only incomplete intervals has no statistics.
        if g["stats"]["count"]:
            key = tuple(g["key"]) if isinstance(g["key"], list) else g["key"]
            groups[key] = _corr_stats(g["stats"])
    return {"groups": groups, "overall": _corr_stats(out["stats"]),
            "outcomes": out["outcomes"], "discarded": result["discarded_events"]}


def _tool(name: str) -> str:
    exe = shutil.which(name)
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} (python3-lttnganalyses) is missing in CI")
        pytest.skip(f"{name} (python3-lttnganalyses) not installed")
    return exe


def _mi_stats(cells: list[dict]) -> dict:
    count, lo, mean, hi, stdev = (c.get("value") for c in cells[:5])
    return {"count": count, "min": lo, "max": hi, "mean": mean, "stdev": stdev}


def lttng_analyses(rule: str, trace: Path, workdir: Path) -> dict:
    """Per-thread statistics from lttng-analyses' machine interface."""
    # It reads the tracer's version from a folder named "kernel", and follows no link.
    session = workdir / "session"
    if not session.exists():
        shutil.copytree(trace, session / "kernel")
    if rule == "syscalls":
        cmd = [_tool("lttng-syscallstats-mi"), str(session)]
    else:
        cmd = [_tool("lttng-schedstats-mi"), "--per-tid", str(session)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    groups = {}
    for table in json.loads(proc.stdout)["results"]:
        if rule == "syscalls":
            # One table per thread: "System call statistics [comm (pid, TID: n)]".
            title = table["class"].get("title", "") if isinstance(table["class"], dict) else ""
            m = re.search(r"TID: (\d+)\)\]$", title)
            if m is None:
                continue
            tid = int(m.group(1))
            for row in table["data"]:
                groups[(tid, row[0]["name"])] = _mi_stats(row[1:])
        else:
            for row in table["data"]:
                groups[row[0]["tid"]] = _mi_stats(row[1:])
    return groups


# -- comparing ---------------------------------------------------------------------
def _close(a, b) -> bool:
    return abs(a - b) <= RTOL * max(abs(a), abs(b), 1.0)


def stats_differ(ref: dict, got: dict, *, stdev_optional_upto: int = 1) -> str | None:
    """Why two statistics differ, or None.  ``ref`` may omit the stdev of
    groups of up to ``stdev_optional_upto`` intervals (lttng-analyses does)."""
    for k in ("count", "min", "max"):
        if ref[k] != got[k]:
            return f"{k} {ref[k]} != {got[k]}"
    if not _close(ref["mean"], got["mean"]):
        return f"mean {ref['mean']} != {got['mean']}"
    if got["count"] == 1:
        if got["stdev"] is not None:
            return f"stdev of one interval is {got['stdev']}, not none"
    elif got["stdev"] is None:
        return "no stdev"
    if ref["stdev"] is None:
        if ref["count"] > stdev_optional_upto:
            return f"the reference has no stdev for {ref['count']} intervals"
    elif got["stdev"] is None or not _close(ref["stdev"], got["stdev"]):
        return f"stdev {ref['stdev']} != {got['stdev']}"
    return None


def assert_same_groups(ref: dict, got: dict, what: str, **kw) -> None:
    problems = []
    for key in sorted(set(ref) | set(got), key=str):
        if key not in ref:
            problems.append(f"{key}: only in corr {got[key]}")
        elif key not in got:
            problems.append(f"{key}: missing from corr, reference {ref[key]}")
        else:
            why = stats_differ(ref[key], got[key], **kw)
            if why:
                problems.append(f"{key}: {why}: reference {ref[key]}, corr {got[key]}")
    assert not problems, (f"{what}: {len(problems)} of {len(set(ref) | set(got))} groups "
                          "differ:\n" + "\n".join(problems[:20]))


def assert_covers(rule: str, trace: str, groups: dict) -> None:
    min_groups, min_intervals = MINIMUM[(rule, trace)]
    assert len(groups) >= min_groups
    assert sum(s["count"] for s in groups.values()) >= min_intervals


# -- fixtures: each trace read, each tool run, once per module -----------------------
@pytest.fixture(scope="module")
def reference():
    cache: dict[str, Reference] = {}

    def get(name: str) -> Reference:
        path = shared_trace(name)
        if name not in cache:
            cache[name] = Reference(path)
        return cache[name]
    return get


@pytest.fixture(scope="module")
def corr_per_thread(tmp_path_factory):
    cache: dict[tuple, dict] = {}

    def get(rule: str, name: str) -> dict:
        path = shared_trace(name)
        if (rule, name) not in cache:
            cache[(rule, name)] = run_rules_per_thread(rule, path, tmp_path_factory.mktemp(rule))
        return cache[(rule, name)]
    return get


@pytest.fixture(scope="module")
def analyses(tmp_path_factory):
    cache: dict[tuple, dict] = {}

    def get(rule: str, name: str) -> dict:
        path = shared_trace(name)
        if (rule, name) not in cache:
            cache[(rule, name)] = lttng_analyses(rule, path, tmp_path_factory.mktemp(name))
        return cache[(rule, name)]
    return get


# -- the tests -----------------------------------------------------------------------
RULES = ["syscalls", "wakeup"]


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("trace", REFERENCE_TRACES)
def test_corr_equals_lttng_analyses(rule, trace, corr_per_thread, analyses):
    theirs = analyses(rule, trace)
    ours = corr_per_thread(rule, trace)
    assert ours["discarded"] == 0
    assert_covers(rule, trace, theirs)
    # lttng-analyses leaves the stdev of two intervals out too.
    assert_same_groups(theirs, ours["groups"], f"{rule} on {trace} vs lttng-analyses",
                       stdev_optional_upto=2)
    total = sum(s["count"] for s in theirs.values())
    assert sum(s["count"] for s in ours["groups"].values()) == total
    assert ours["overall"]["count"] == total


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("trace", REFERENCE_TRACES)
def test_corr_equals_reference(rule, trace, corr_per_thread, reference):
    ref = reference(trace)
    assert ref.discarded == 0, "the reference does not model lost events"
    expected = ref.groups(rule)
    ours = corr_per_thread(rule, trace)
    assert_covers(rule, trace, expected)
    assert_same_groups(expected, ours["groups"], f"{rule} on {trace} vs the reference")
    # The totals over all groups, and the rule's statistics over all intervals.
    total = sum(s["count"] for s in expected.values())
    assert sum(s["count"] for s in ours["groups"].values()) == total
    why = stats_differ(ref.overall(rule), ours["overall"])
    assert why is None, f"{rule} on {trace}, all intervals: {why}"
    outcomes = ours["outcomes"]
    assert outcomes["complete"] + outcomes["late"] == total
    if rule == "syscalls":
        counts = ref.syscall_counts
        assert outcomes["entries"] == counts["entries"]
        assert outcomes["incomplete"] + outcomes["timeouts"] == counts["open_at_end"]
        # Calls without arguments (getuid, gettid...) are among those compared.
        assert any(call in ref.no_argument_calls for _, call in expected)
    else:
        assert outcomes["entries"] == ref.wakeup_counts["wakeups"]


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("trace", REFERENCE_TRACES)
def test_reference_equals_lttng_analyses(rule, trace, reference, analyses):
    """The reference is itself right where lttng-analyses can read the trace."""
    theirs = analyses(rule, trace)
    ref = reference(trace)
    assert_same_groups(theirs, ref.groups(rule), f"reference {rule} on {trace} vs lttng-analyses",
                       stdev_optional_upto=2)


def test_the_traces_exercise_the_hard_cases(reference):
    """What the comparisons above cover, so that they cannot pass vacuously."""
    many, old = reference("many-threads"), reference("bug446190")
    # many-threads: every clone returns twice (the child's return has no
    # entry) and every thread ends in syscall_entry_exit, which never returns.
    assert many.syscall_counts["exits_without_entry"] >= 8_000
    assert many.syscall_counts["cancelled"] >= 8_000
    assert "sched_waking" in many.class_names
    assert many.wakeup_counts["switched_out_first"] >= 100
    # bug446190: the old naming, and wakeups from sched_wakeup only.
    assert "exit_syscall" in old.class_names and "sched_waking" not in old.class_names
    assert {"clone", "execve"} <= {call for _, call in old.syscall_durations}
    assert old.syscall_counts["exits_without_entry"] >= 2
    assert old.syscall_counts.get("mismatched_exits", 0) == 0
    assert old.no_argument_calls >= {"getuid", "geteuid", "getgid", "getegid"}
