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
import sys
from pathlib import Path

from common import RSS_LIMIT_MB, babeltrace2, best_of, default_traces

HERE = Path(__file__).resolve().parent
WORKER = HERE / "decode_worker.py"
TARGETS = {"full": 3.0, "sched": 1.6}


def bench(trace: Path, repeat: int) -> list[dict]:
    rows = []
    py = sys.executable
    ref_wall, ref_rss = babeltrace2(trace, repeat)
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
    traces = [Path(t) for t in args.traces] or default_traces(args.events)
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
