"""What the benchmark scripts share: timing a command, finding the traces."""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RSS_LIMIT_MB = 300


CORR = str(Path(sys.executable).parent / "corr")
# How corr's commands run: each in a new process (start-up included), or
# handed to a resident server started before the first (corr/server).
COLD = {"CORR_SERVER": "off"}


def measure(cmd: list[str], env: dict | None = None,
            tree_rss: bool = False) -> tuple[float, float, str]:
    """Wall seconds, peak memory in MB, and stdout of one command.

    Peak memory is ``wait4``'s ``ru_maxrss`` (the command's own peak RSS)
    or, with ``tree_rss``, the larger of that and the peak, sampled every
    5 ms, of the proportional set sizes (PSS) summed over the command's
    process tree: its decode workers and, for a command a resident server
    runs, the server and its children.  PSS splits a page shared by N
    processes (forked workers share their parent's pages, a served command
    the server's) N ways, so the sum counts each page of memory once; a sum
    of RSS would count it N times.
    """
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            env=None if env is None else {**os.environ, **env})
    sampler = _TreeSampler(proc.pid, server_pid(env)) if tree_rss else None
    out = proc.stdout.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    peak_kb = usage.ru_maxrss
    if sampler is not None:
        peak_kb = max(peak_kb, sampler.stop())
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"{' '.join(cmd)} failed with {code}")
    return wall, peak_kb / 1024, out.strip()


class _TreeSampler:
    """Samples the summed PSS of a process and its descendants (and a server's) from a thread."""

    def __init__(self, pid: int, server: int | None = None):
        self.pid, self.server = pid, server
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            kb = tree_pss_kb(self.pid)
            if self.server is not None:
                kb += tree_pss_kb(self.server)
            self.peak_kb = max(self.peak_kb, kb)
            self._stop.wait(0.005)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak_kb


def children(pid: int) -> list[int]:
    try:
        out = []
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out.extend(int(c) for c in f.read().split())
        return out
    except (FileNotFoundError, ProcessLookupError):
        return []


def server_pid(env: dict | None) -> int | None:
    """The resident server a command run with ``env`` goes to, if any (see :func:`resident_server`)."""
    folder = (env or {}).get("XDG_RUNTIME_DIR")
    if not folder or (env or {}).get("CORR_SERVER") == "off":
        return None
    for status in (Path(folder) / "corr").glob("server-*.pid"):
        return json.loads(status.read_text())["pid"]
    return None


@contextlib.contextmanager
def resident_server():
    """The environment of commands served by a resident server of their own, started first."""
    with tempfile.TemporaryDirectory(prefix="corr-bench-") as runtime:
        os.chmod(runtime, 0o700)
        env = {"CORR_SERVER": "auto", "XDG_RUNTIME_DIR": runtime}
        subprocess.run([CORR, "server", "start"], env={**os.environ, **env}, check=True,
                       stdout=subprocess.DEVNULL)
        try:
            yield env
        finally:
            subprocess.run([CORR, "server", "stop"], env={**os.environ, **env},
                           stdout=subprocess.DEVNULL)


_KCMP = {"x86_64": 312, "aarch64": 272}.get(os.uname().machine)
_libc = ctypes.CDLL(None, use_errno=True)


def same_memory(a: int, b: int) -> bool:
    """Whether processes ``a`` and ``b`` share one address space (``kcmp``'s
    KCMP_VM): a child between ``vfork`` and ``exec`` (how ``subprocess`` starts
    a program such as addr2line) shows its parent's memory as its own.  False where
    kcmp is refused (a seccomp filter, no ptrace right): such a child counts twice."""
    return _KCMP is not None and _libc.syscall(_KCMP, a, b, 1, 0, 0) == 0


def tree_pss_kb(pid: int) -> int:
    """PSS of ``pid`` and all its descendants, in kB (0 for processes gone),
    each address space counted once."""
    total, stack = 0, [(pid, None)]
    while stack:
        p, parent = stack.pop()
        try:
            if parent is None or not same_memory(parent, p):
                with open(f"/proc/{p}/smaps_rollup") as f:
                    total += next((int(line.split()[1]) for line in f
                                   if line.startswith("Pss:")), 0)
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        stack.extend((c, p) for c in children(p))
    return total


def best_of(cmd: list[str], repeat: int, env: dict | None = None) -> tuple[float, float, str]:
    """Best wall time of ``repeat`` runs, and the peak memory of one more (sampled) run."""
    runs = [measure(cmd, env) for _ in range(repeat)]
    _, rss, _ = measure(cmd, env, tree_rss=True)
    return min(r[0] for r in runs), max(rss, *(r[1] for r in runs)), runs[0][2]


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


def trace_arguments(description: str, **extra) -> argparse.Namespace:
    """The benchmarks' shared options: TRACE..., --repeat, --events (a generated trace's size)."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("traces", nargs="*")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--events", type=int, default=5_000_000)
    for flag, options in extra.items():
        ap.add_argument(flag, **options)
    args = ap.parse_args()
    args.traces = [Path(t) for t in args.traces] or default_traces(args.events)
    return args


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
