"""Read speed of corr against babeltrace2, in one run, on the same traces.

For each trace: wall time and peak RSS of

- ``babeltrace2 -c sink.utils.dummy TRACE`` (the C floor for a bt2 reader);
- a full decode to columns (every class, every field);
- a decode projected to the scheduling events (``sched_*``, every field);
- the same projected decode, normalised (canonical names, ctx.tid).

Each command runs in its own process (start-up included, as for
babeltrace2); the best of ``--repeat`` runs (10) is kept.  Targets: full decode
within 3x of babeltrace2, projected within 1.6x, peak RSS under 300 MB.

    python benchmarks/bench_read.py [--repeat 10] [--events 5000000] [TRACE...]

With no TRACE: ../shared/traces/many-threads and a generated kernel trace of
``--events`` events (cached in benchmarks/.data).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORKER = HERE / "decode_worker.py"
TARGETS = {"full": 3.0, "sched": 1.6}
RSS_LIMIT_MB = 300


def measure(cmd: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MB, and stdout of one command."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = proc.stdout.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed with {proc.returncode}")
    return wall, usage.ru_maxrss / 1024, out.strip()


def best_of(cmd: list[str], repeat: int) -> tuple[float, float, str]:
    runs = [measure(cmd) for _ in range(repeat)]
    return min(r[0] for r in runs), max(r[1] for r in runs), runs[0][2]


def generated_trace(events: int) -> Path:
    path = HERE / ".data" / f"kernel-{events}"
    if not (path / "metadata").exists():
        sys.path.insert(0, str(ROOT))
        from corr.testing.generate import generate_kernel_trace
        print(f"generating {events:,} events in {path} ...", flush=True)
        g = generate_kernel_trace(path, events=events, cpus=4, threads=200, seed=1)
        print(f"  {g.events:,} events in {g.seconds:.1f} s", flush=True)
    return path


def bench(trace: Path, repeat: int) -> list[dict]:
    rows = []
    py = sys.executable
    ref_wall, ref_rss, _ = best_of(["babeltrace2", "-c", "sink.utils.dummy", str(trace)], repeat)
    rows.append(dict(what="babeltrace2 -c sink.utils.dummy", wall=ref_wall, rss=ref_rss,
                     ratio=1.0, events=None, target=None))
    for mode, label in (("full", "corr full decode to columns"),
                        ("sched", "corr decode projected to sched_*"),
                        ("canonical-sched", "corr projected + normalised")):
        wall, rss, out = best_of([py, str(WORKER), mode, str(trace)], repeat)
        rows.append(dict(what=label, wall=wall, rss=rss, ratio=wall / ref_wall,
                         events=int(out), target=TARGETS.get(mode)))
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("traces", nargs="*")
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--events", type=int, default=5_000_000)
    args = ap.parse_args()
    traces = [Path(t) for t in args.traces]
    if not traces:
        shared = ROOT.parent / "shared" / "traces" / "many-threads"
        if shared.exists():
            traces.append(shared)
        traces.append(generated_trace(args.events))
    failed = False
    for trace in traces:
        print(f"\n{trace}  (best of {args.repeat})")
        print(f"  {'':36} {'wall s':>8} {'x bt2':>6} {'peak MB':>8} {'events':>10}  target")
        for r in bench(trace, args.repeat):
            verdict = ""
            if r["target"]:
                ok = r["ratio"] <= r["target"] and r["rss"] < RSS_LIMIT_MB
                failed |= not ok
                verdict = f"<= {r['target']}x, < {RSS_LIMIT_MB} MB: {'ok' if ok else 'MISSED'}"
            events = f"{r['events']:,}" if r["events"] is not None else ""
            print(f"  {r['what']:36} {r['wall']:8.3f} {r['ratio']:6.2f} {r['rss']:8.1f} "
                  f"{events:>10}  {verdict}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
