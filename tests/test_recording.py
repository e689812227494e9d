"""Real recordings of examples/llserver: LTTng-UST through a real lttng-sessiond,
kernel scheduling and syscalls through perf on CLOCK_MONOTONIC.

``test_record_llserver_end_to_end`` records a fresh trace with
``examples/llserver/record.sh`` (needs root, lttng and perf); the other tests
check the trace committed in ``examples/llserver/trace``.  Everything is
checked with the ``babeltrace2`` CLI, independently of corr.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "llserver"
COMMITTED = EXAMPLE / "trace"
UST_SUBDIR = Path("ust") / "uid" / "0" / "64-bit"

CORE_EVENTS = [
    "llserver:packet_received",
    "llserver:process_start",
    "llserver:process_end",
    "llserver:lock_wait",
    "llserver:lock_hold",
    "llserver:logging_io",
    "llserver:queue_snapshot",
    "llserver:backlog_trigger",
]

# "[ts] host name: { packet ctx }, { event ctx }, { payload }" (host only in UST)
_NAME = re.compile(r"^\[[^\]]*\] (?:\S+ )?([\w]+:[\w]+): ")
_UST_CTX = re.compile(r"\}, \{ vtid = (\d+), vpid = (\d+), procname = \"([^\"]*)\" \}")
_PERF_TID = re.compile(r"perf_tid = (-?\d+), perf_pid = (-?\d+)")


def _babeltrace2(path: Path) -> list[str]:
    """Decode one trace with the babeltrace2 CLI; fail on any error."""
    proc = subprocess.run(["babeltrace2", "--no-delta", str(path)], capture_output=True,
                          text=True, errors="replace", timeout=300)
    assert proc.returncode == 0, f"babeltrace2 {path} failed:\n{proc.stderr[-3000:]}"
    lines = proc.stdout.splitlines()
    assert lines, f"babeltrace2 decoded no event in {path}"
    return lines


def _names(lines: list[str]) -> Counter:
    counts: Counter = Counter()
    for line in lines:
        m = _NAME.match(line)
        if m:
            counts[m.group(1)] += 1
    return counts


def _workload_ids(recording_txt: Path) -> dict[str, int]:
    """pid and per-role tids, as llserver printed them (record.sh keeps them)."""
    text = recording_txt.read_text()
    m = re.search(r"llserver pid=(\d+) producer=(\d+) consumer=(\d+) logger=(\d+) "
                  r"monitor=(\d+) cpuhog=(-?\d+)", text)
    assert m, f"no llserver summary in {recording_txt}:\n{text}"
    keys = ["pid", "producer", "consumer", "logger", "monitor", "cpuhog"]
    return dict(zip(keys, map(int, m.groups())))


def _check_ust(ust: Path, ids: dict[str, int] | None) -> Counter:
    lines = _babeltrace2(ust)
    names = _names(lines)
    for name in CORE_EVENTS:
        assert names[name] >= 1, f"no {name} in {ust}: {dict(names)}"
    procnames: dict[str, set[int]] = {}
    for line in lines:
        if " llserver:" not in line:
            continue
        m = _UST_CTX.search(line)
        assert m, f"llserver event without vtid/vpid/procname contexts: {line}"
        vtid, vpid, procname = int(m.group(1)), int(m.group(2)), m.group(3)
        procnames.setdefault(procname, set()).add(vtid)
        if ids is not None:
            assert vpid == ids["pid"], line
    for role in ("producer", "consumer", "logger", "monitor"):
        assert role in procnames, f"no UST event from the {role} thread: {sorted(procnames)}"
        if ids is not None:
            assert procnames[role] == {ids[role]}, (role, procnames[role], ids)
    return names


def _check_kernel(kernel: Path, ids: dict[str, int] | None) -> Counter:
    lines = _babeltrace2(kernel)
    names = _names(lines)
    assert names["sched:sched_switch"] > 0, dict(names)
    assert names["sched:sched_waking"] + names["sched:sched_wakeup"] > 0, dict(names)
    syscall_tids: Counter = Counter()
    for line in lines:
        if "raw_syscalls:sys_enter:" in line:
            m = _PERF_TID.search(line)
            assert m, line
            tid, pid = int(m.group(1)), int(m.group(2))
            if ids is not None:
                # The comm filter keeps syscalls of llserver's threads only.
                assert pid == ids["pid"], f"syscall of another process: {line}"
            syscall_tids[tid] += 1
    assert syscall_tids, f"no raw_syscalls:sys_enter in {kernel}"
    if ids is not None:
        for role in ("producer", "consumer", "logger", "monitor"):
            assert syscall_tids[ids[role]] > 0, f"no syscall of the {role} thread"
        consumer_in = [line for line in lines if "sched:sched_switch:" in line
                       and f"next_pid = {ids['consumer']}," in line]
        assert consumer_in, "the consumer is never switched in"
    return names


@pytest.mark.recording
def test_record_llserver_end_to_end(recording):
    out, proc, log = recording.out, recording.proc, recording.log
    # No daemon of ours survives, success or not.
    m = re.search(r"lttng-sessiond running \(pid (\d+)\)", proc.stdout)
    assert m, log
    assert int(m.group(1)) not in recording.after, f"lttng-sessiond {m.group(1)} still running\n{log}"
    assert set(recording.after) <= set(recording.before), \
        f"lttng daemons left running: {recording.after}\n{log}"
    assert proc.returncode == 0, log

    kernel, ust = out / "kernel", out / UST_SUBDIR
    assert (kernel / "metadata").is_file(), log
    assert (ust / "metadata").is_file(), log
    assert not list(out.rglob("perf.data*")), "perf.data left behind"
    ids = _workload_ids(out / "recording.txt")
    ust_names = _check_ust(ust, ids)
    kernel_names = _check_kernel(kernel, ids)
    # 800 ms at 600 packets/s; every packet is received and processed.
    assert ust_names["llserver:packet_received"] == ust_names["llserver:process_end"] >= 400
    assert kernel_names["raw_syscalls:sys_enter"] > 0


def test_committed_trace_decodes():
    assert COMMITTED.is_dir(), f"{COMMITTED} is missing"
    if shutil.which("babeltrace2") is None:
        pytest.fail("the babeltrace2 CLI is needed (Debian package babeltrace2)")
    ids = _workload_ids(COMMITTED / "recording.txt")
    ust_names = _check_ust(COMMITTED / UST_SUBDIR, ids)
    assert ust_names["llserver:backlog_trigger"] >= 1
    _check_kernel(COMMITTED / "kernel", ids)


def test_committed_trace_is_small():
    total = sum(f.stat().st_size for f in COMMITTED.rglob("*") if f.is_file())
    assert total < 5 * 1024 * 1024, f"{COMMITTED} holds {total} bytes"
