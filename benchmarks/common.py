"""What the benchmark scripts share: timing a command, finding the traces."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RSS_LIMIT_MB = 300


def measure(cmd: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MB, and stdout of one command."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = proc.stdout.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"{' '.join(cmd)} failed with {code}")
    return wall, usage.ru_maxrss / 1024, out.strip()


def best_of(cmd: list[str], repeat: int) -> tuple[float, float, str]:
    runs = [measure(cmd) for _ in range(repeat)]
    return min(r[0] for r in runs), max(r[1] for r in runs), runs[0][2]


def generated_trace(events: int) -> Path:
    """A generated kernel trace of ``events`` events, made once and cached."""
    path = HERE / ".data" / f"kernel-{events}"
    if not (path / "metadata").exists():
        sys.path.insert(0, str(ROOT))
        from corr.testing.generate import generate_kernel_trace
        print(f"generating {events:,} events in {path} ...", flush=True)
        g = generate_kernel_trace(path, events=events, cpus=4, threads=200, seed=1)
        print(f"  {g.events:,} events in {g.seconds:.1f} s", flush=True)
    return path


def default_traces(events: int) -> list[Path]:
    traces = []
    shared = ROOT.parent / "shared" / "traces" / "many-threads"
    if shared.exists():
        traces.append(shared)
    traces.append(generated_trace(events))
    return traces


def babeltrace2(trace: Path, repeat: int) -> tuple[float, float]:
    wall, rss, _ = best_of(["babeltrace2", "-c", "sink.utils.dummy", str(trace)], repeat)
    return wall, rss
