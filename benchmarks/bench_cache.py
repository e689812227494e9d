"""The decode cache: a re-run from it against the first run.

For each trace, ``corr run rules/syscalls.yaml`` (text output) as a user
runs it, each its own process (start-up included): without the cache,
the first run on an empty cache (decodes, matches, stores), and a re-run
(best of ``--repeat``); then the same in one process (``corr.api.run``
twice, as a tuning session does: no start-up, imports already done), and
a threshold re-run (``--set syscalls.threshold=...``).
Target: the re-run under 10% of the first run's wall time.

    python benchmarks/bench_cache.py [--repeat 3] [--events 5000000] [TRACE...]
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from common import ROOT, best_of, trace_arguments, measure

TARGET = 0.10
RULES = str(ROOT / "rules" / "syscalls.yaml")

IN_PROCESS = """
import json, sys, time
import corr.api as api
rules, trace, cache = sys.argv[1:]
times = []
for overrides in ((), (), ("syscalls.threshold=50us",)):
    start = time.perf_counter()
    result = api.run(rules, [trace], overrides=overrides, cache=cache)
    result.rules[0].stats                      # what a renderer computes first
    times.append(time.perf_counter() - start)
print(json.dumps(times))
"""


def main() -> int:
    args = trace_arguments(__doc__.split("\n")[0])
    traces = args.traces
    corr = str(Path(sys.executable).parent / "corr")
    verdicts = []
    for trace in traces:
        run = [corr, "run", "--no-progress", RULES, str(trace)]
        plain, _, _ = best_of([*run, "--no-cache"], args.repeat)
        with tempfile.TemporaryDirectory() as cache:
            first, _, _ = measure([*run, "--cache-dir", cache])
            again, _, _ = best_of([*run, "--cache-dir", cache], args.repeat)
            tuned, _, _ = best_of([*run, "--cache-dir", cache, "--set", "syscalls.threshold=50us"],
                                  args.repeat)
        with tempfile.TemporaryDirectory() as cache:
            out = subprocess.run([sys.executable, "-c", IN_PROCESS, RULES, str(trace), cache],
                                 capture_output=True, text=True, check=True).stdout
            lib_first, lib_again, lib_tuned = json.loads(out)
        print(f"\n{trace}  (re-runs best of {args.repeat})")
        print(f"  {'':34} {'wall s':>8} {'/ first':>8}  target")
        rows = [("CLI, no cache", plain, None), ("CLI, first run (stores)", first, None),
                ("CLI, re-run", again, first), ("CLI, threshold re-run", tuned, first),
                ("library, first run (stores)", lib_first, None),
                ("library, re-run", lib_again, lib_first),
                ("library, threshold re-run", lib_tuned, lib_first)]
        for label, wall, base in rows:
            if base is None:
                print(f"  {label:34} {wall:8.3f}")
                continue
            ratio = wall / base
            ok = ratio < TARGET
            verdicts.append((f"{trace.name}: {label}", ok))
            print(f"  {label:34} {wall:8.3f} {ratio:8.1%}  < {TARGET:.0%}: {'ok' if ok else 'MISSED'}")
    print()
    for label, ok in verdicts:
        print(f"{'holds ' if ok else 'MISSED'}  {label}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
