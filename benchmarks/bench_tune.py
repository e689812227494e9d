"""``corr tune``: trying thresholds is instant; a tuning run costs no more than ``corr run``.

1. A sweep of 100 thresholds over 1M intervals (a lognormal bulk with a
   slow mode), each step what the interactive session redraws: the count
   flagged, the candidate table and the histogram.  Target: under 1 s.
2. ``corr tune rules/syscalls.yaml`` and ``corr run`` on a trace (default
   many-threads), best of ``--repeat``, each a new process (``cold``) and
   handed to a resident server (``served``), both with the decode cache.

    python benchmarks/bench_tune.py [--repeat 3] [--intervals 1000000] [TRACE...]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path


from common import COLD, ROOT, best_of, resident_server

SWEEP_TARGET_S = 1.0
THRESHOLDS = 100


def sweep(intervals: int) -> bool:
    import numpy as np            # here: a child forked after it would count its pages
    from corr.analyses.tuning import Distribution

    rng = np.random.default_rng(1)
    slow = intervals // 100
    durations = np.concatenate([rng.lognormal(math.log(20_000), 0.5, intervals - slow),
                                rng.lognormal(math.log(5_000_000), 0.5, slow)]).astype(np.int64)
    t0 = time.perf_counter()
    distribution = Distribution(None, durations, np.arange(intervals), result=None)
    suggestion = distribution.suggestion
    built = time.perf_counter() - t0
    thresholds = np.geomspace(1_000, 100_000_000, THRESHOLDS).astype(np.int64)
    t0 = time.perf_counter()
    for threshold in thresholds:
        distribution.flagged(int(threshold))
        distribution.candidates(int(threshold))
        distribution.histogram()
    swept = time.perf_counter() - t0
    ok = swept < SWEEP_TARGET_S
    print(f"{intervals:,} intervals: sorted, indexed and suggestion ({suggestion.ns:,} ns) in "
          f"{built:.3f} s (once per run)")
    print(f"sweep of {THRESHOLDS} thresholds (count, candidates, histogram each): {swept:.3f} s "
          f"({1e3 * swept / THRESHOLDS:.2f} ms a step)  < {SWEEP_TARGET_S} s: "
          f"{'ok' if ok else 'MISSED'}")
    return ok


def tune_run(trace: Path, repeat: int) -> None:
    corr = str(Path(sys.executable).parent / "corr")
    rules = str(ROOT / "rules" / "syscalls.yaml")
    print(f"\n{trace}  (best of {repeat})")
    print(f"  {'':44} {'wall s':>8} {'peak MB':>8}")
    with resident_server() as served:
        for command in ("run", "tune"):
            for mode, env in (("cold", COLD), ("served", served)):
                wall, rss, _ = best_of([corr, command, "--no-progress", rules, str(trace)],
                                       repeat, env)
                label = f"corr {command} rules/syscalls.yaml ({mode})"
                print(f"  {label:44} {wall:8.3f} {rss:8.1f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("traces", nargs="*")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--intervals", type=int, default=1_000_000)
    args = ap.parse_args()
    # The commands first: forked from this process before it imports numpy, their
    # peak RSS is their own (a fork's starts at its parent's).
    for trace in [Path(t) for t in args.traces] or [ROOT.parent / "shared" / "traces" / "many-threads"]:
        tune_run(trace, args.repeat)
    return 0 if sweep(args.intervals) else 1


if __name__ == "__main__":
    sys.exit(main())
