"""The decode cache: a re-run from it against the first run.

For each trace, ``corr run rules/syscalls.yaml`` (text output) as a user
runs it: without the cache, the first run on an empty cache (decodes,
matches, stores), a re-run and a threshold re-run (``--set
syscalls.threshold=...``), re-runs best of ``--repeat``.  The commands are
timed cold (each a new process that imports everything: ``CORR_SERVER=off``)
and served (handed to a resident server, corr's default once a command has
started one); a session's usual shape, a cold first run then served
re-runs, is shown too.  Then the same in one process (``corr.api.run``
twice, as ``corr tune --interactive`` does).
Target: the re-run under 10% of the first run's wall time.

    python benchmarks/bench_cache.py [--repeat 3] [--events 5000000] [TRACE...]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from common import COLD, ROOT, best_of, measure, resident_server, trace_arguments

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


def commands(run: list[str], repeat: int, env: dict) -> tuple[float, float, float, float]:
    """No cache, first run (stores), re-run, threshold re-run: wall seconds."""
    plain, _, _ = best_of([*run, "--no-cache"], repeat, env)
    with tempfile.TemporaryDirectory() as cache:
        first, _, _ = measure([*run, "--cache-dir", cache], env)
        again, _, _ = best_of([*run, "--cache-dir", cache], repeat, env)
        tuned, _, _ = best_of([*run, "--cache-dir", cache, "--set", "syscalls.threshold=50us"],
                              repeat, env)
    return plain, first, again, tuned


def main() -> int:
    args = trace_arguments(__doc__.split("\n")[0])
    corr = str(Path(sys.executable).parent / "corr")
    verdicts = []
    with resident_server() as served:
        for trace in args.traces:
            run = [corr, "run", "--no-progress", RULES, str(trace)]
            cold = commands(run, args.repeat, COLD)
            warm = commands(run, args.repeat, served)
            with tempfile.TemporaryDirectory() as cache:
                out = subprocess.run([sys.executable, "-c", IN_PROCESS, RULES, str(trace), cache],
                                     capture_output=True, text=True, check=True,
                                     env={**os.environ, **COLD}).stdout
                lib_first, lib_again, lib_tuned = json.loads(out)
            print(f"\n{trace}  (re-runs best of {args.repeat})")
            print(f"  {'':40} {'wall s':>8} {'/ first':>8}  target")
            rows = []
            for mode, (plain, first, again, tuned) in (("cold", cold), ("served", warm)):
                rows += [(f"CLI {mode}, no cache", plain, None),
                         (f"CLI {mode}, first run (stores)", first, None),
                         (f"CLI {mode}, re-run", again, first),
                         (f"CLI {mode}, threshold re-run", tuned, first)]
            rows += [("session: served re-run / cold first", warm[2], cold[1]),
                     ("library, first run (stores)", lib_first, None),
                     ("library, re-run", lib_again, lib_first),
                     ("library, threshold re-run", lib_tuned, lib_first)]
            for label, wall, base in rows:
                if base is None:
                    print(f"  {label:40} {wall:8.3f}")
                    continue
                ratio = wall / base
                ok = ratio < TARGET
                verdicts.append((f"{trace.name}: {label}", ok))
                print(f"  {label:40} {wall:8.3f} {ratio:8.1%}  < {TARGET:.0%}: "
                      f"{'ok' if ok else 'MISSED'}", flush=True)
    print()
    for label, ok in verdicts:
        print(f"{'holds ' if ok else 'MISSED'}  {label}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
