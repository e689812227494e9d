"""Read speed of corr against babeltrace2, in one run, on the same traces.

For each trace: wall time and peak RSS of

- ``babeltrace2 -c sink.utils.dummy TRACE`` (the C floor for a bt2 reader);
- babeltrace2 on the halves of the trace's stream files at once (the floor
  for a decode split over two processes, as corr's parallel reader does);
- a full decode to columns (every class, every field);
- a decode projected to the scheduling events (``sched_*``, every field);
- the same projected decode, normalised (canonical names, ctx.tid);

each corr decode in one process (``CORR_JOBS=1``) and with one worker
process per CPU (``CORR_JOBS=<CPUs>``, see corr/reading/parallel.py).
Each command runs in its own process (start-up included, as for
babeltrace2); the best of ``--repeat`` runs (10) is kept.  Peak RSS counts
the whole process tree (workers included), sampled in one more run.
Targets: full decode within 3x of babeltrace2, projected within 1.6x,
peak RSS under 300 MB.

    python benchmarks/bench_read.py [--repeat 10] [--events 5000000] [TRACE...]

With no TRACE: ../shared/traces/many-threads and a generated kernel trace of
``--events`` events (cached in benchmarks/.data).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from common import RSS_LIMIT_MB, ROOT, babeltrace2, best_of, default_traces

HERE = Path(__file__).resolve().parent
WORKER = HERE / "decode_worker.py"
TARGETS = {"full": 3.0, "sched": 1.6}
MODES = (("full", "corr full decode to columns"),
         ("sched", "corr decode projected to sched_*"),
         ("canonical-sched", "corr projected + normalised"))


def bench(trace: Path, repeat: int, jobs: int) -> list[dict]:
    ref_wall, ref_rss = babeltrace2(trace, repeat)
    rows = [dict(what="babeltrace2 -c sink.utils.dummy", wall=ref_wall, rss=ref_rss,
                 events=None, target=None)]
    halves = babeltrace2_halves(trace, repeat, jobs)
    if halves:
        rows.append(dict(what=f"babeltrace2, {jobs} parts at once", wall=halves[0],
                         rss=halves[1], events=None, target=None))
    for mode, label in MODES:
        for n in sorted({1, jobs}):
            wall, rss, out = best_of([sys.executable, str(WORKER), mode, str(trace)], repeat,
                                     env={"CORR_JOBS": str(n)})
            rows.append(dict(what=label if n == 1 else f"  ... {n} worker processes",
                             wall=wall, rss=rss, events=int(out), target=TARGETS.get(mode)))
    for r in rows:
        r["ratio"] = r["wall"] / ref_wall
    return rows


def babeltrace2_halves(trace: Path, repeat: int, jobs: int) -> tuple[float, float] | None:
    """babeltrace2 on corr's groups of stream files, one process each, all at once."""
    sys.path.insert(0, str(ROOT))
    from corr.reading import groups

    plan = groups.plan(str(trace), jobs) if jobs > 1 else None
    if not plan:
        return None
    dirs = [groups.make_group_dir(str(trace), files) for files in plan]
    try:
        script = " ".join(f"babeltrace2 -c sink.utils.dummy {d} &" for d in dirs) + " wait"
        wall, rss, _ = best_of(["sh", "-c", script], repeat)
        return wall, rss
    finally:
        for d in dirs:
            shutil.rmtree(d, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("traces", nargs="*")
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--events", type=int, default=5_000_000)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                    help="worker processes of the parallel rows (default: the CPUs)")
    args = ap.parse_args()
    traces = [Path(t) for t in args.traces] or default_traces(args.events)
    failed = False
    for trace in traces:
        print(f"\n{trace}  (best of {args.repeat})")
        print(f"  {'':36} {'wall s':>8} {'x bt2':>6} {'peak MB':>8} {'events':>10}  target")
        for r in bench(trace, args.repeat, max(args.jobs, 1)):
            verdict = ""
            if r["target"]:
                ok = r["ratio"] <= r["target"] and r["rss"] < RSS_LIMIT_MB
                failed |= not ok
                verdict = f"<= {r['target']}x, < {RSS_LIMIT_MB} MB: {'ok' if ok else 'MISSED'}"
            events = f"{r['events']:,}" if r["events"] is not None else ""
            print(f"  {r['what']:36} {r['wall']:8.3f} {r['ratio']:6.2f} {r['rss']:8.1f} "
                  f"{events:>10}  {verdict}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
