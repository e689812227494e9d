"""The decode cache: a re-run from it against the first run.

For each trace and rule file (``rules/syscalls.yaml``; ``rules/offcpu.yaml``
and ``rules/wakeup.yaml``, whose ``blame:`` the cache answers from the kept
scheduling model and analyses), ``corr run`` writing each ``--formats``
(text to stdout, JSON to ``-o /dev/null``: the encoding counts, not the
disk) as a user runs it: without the cache, the first run on an empty
cache (decodes, matches, explains, stores), a re-run and a threshold
re-run (``--set RULE.threshold=...``), re-runs best of ``--repeat``.  The
commands are timed cold (each a new process that imports everything:
``CORR_SERVER=off``) and served (handed to a resident server, corr's
default once a command has started one); a session's usual shape, a cold
first run then served re-runs, is shown too.  Then the same in one process
(``corr.api.run`` and ``corr.api.write``, as ``corr tune --interactive``
runs them).
Target: the re-run under 10% of the first run's wall time.

    python benchmarks/bench_cache.py [--repeat 3] [--events 5000000]
        [--rules syscalls offcpu wakeup] [--formats text json] [--modes cold served]
        [TRACE...]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from common import COLD, ROOT, measure, resident_server, trace_arguments

TARGET = 0.10
# rule file: the threshold of its threshold re-run
RULES = {"syscalls": "syscalls.threshold=50us", "offcpu": "offcpu.threshold=2ms",
         "wakeup": "wakeup.threshold=1ms"}
FORMATS = ("text", "json")
MODES = ("cold", "served")

IN_PROCESS = """
import io, json, sys, time
import corr.api as api
rules, trace, cache, fmt, tuned = sys.argv[1:]

class Null(io.RawIOBase):
    def writable(self):
        return True

    def write(self, data):
        return len(data)

times = []
for overrides in ((), (), (tuned,)):
    start = time.perf_counter()
    result = api.run(rules, [trace], overrides=overrides, cache=cache)
    api.write(result, fmt, stream=Null())
    times.append(time.perf_counter() - start)
print(json.dumps(times))
"""


def best(cmd: list[str], repeat: int, env: dict) -> float:
    return min(measure(cmd, env)[0] for _ in range(repeat))


def commands(run: list[str], tuned: str, repeat: int, env: dict) -> tuple[float, ...]:
    """No cache, first run (stores), re-run, threshold re-run: wall seconds."""
    plain = best([*run, "--no-cache"], repeat, env)
    with tempfile.TemporaryDirectory(prefix="corr-cache-") as cache:
        first, _, _ = measure([*run, "--cache-dir", cache], env)
        again = best([*run, "--cache-dir", cache], repeat, env)
        threshold = best([*run, "--cache-dir", cache, "--set", tuned], repeat, env)
    return plain, first, again, threshold


def library(rules: str, trace: Path, fmt: str, tuned: str) -> list[float]:
    """First run, re-run, threshold re-run in one process (each written in ``fmt``)."""
    with tempfile.TemporaryDirectory(prefix="corr-cache-") as cache:
        out = subprocess.run([sys.executable, "-c", IN_PROCESS, rules, str(trace), cache, fmt,
                              tuned], capture_output=True, text=True, check=True,
                             env={**os.environ, **COLD}).stdout
    return json.loads(out)


def main() -> int:
    args = trace_arguments(__doc__.split("\n")[0],
                           **{"--rules": {"nargs": "+", "choices": list(RULES),
                                          "default": list(RULES)},
                              "--formats": {"nargs": "+", "choices": FORMATS,
                                            "default": list(FORMATS)},
                              "--modes": {"nargs": "+", "choices": MODES,
                                          "default": list(MODES)}})
    corr = str(Path(sys.executable).parent / "corr")
    verdicts = []
    with resident_server() as served:
        envs = {"cold": COLD, "served": served}
        for trace in args.traces:
            for name in args.rules:
                rules, tuned = str(ROOT / "rules" / f"{name}.yaml"), RULES[name]
                for fmt in args.formats:
                    run = [corr, "run", "--no-progress", rules, str(trace), "--format", fmt]
                    if fmt != "text":
                        run += ["-o", os.devnull]
                    timed = {mode: commands(run, tuned, args.repeat, envs[mode])
                             for mode in args.modes}
                    lib_first, lib_again, lib_tuned = library(rules, trace, fmt, tuned)
                    print(f"\n{trace}  rules/{name}.yaml, {fmt}  (re-runs best of {args.repeat})")
                    print(f"  {'':40} {'wall s':>8} {'/ first':>8}  target")
                    rows = []
                    for mode, (plain, first, again, threshold) in timed.items():
                        rows += [(f"CLI {mode}, no cache", plain, None),
                                 (f"CLI {mode}, first run (stores)", first, None),
                                 (f"CLI {mode}, re-run", again, first),
                                 (f"CLI {mode}, threshold re-run", threshold, first)]
                    if set(timed) == set(MODES):
                        rows.append(("session: served re-run / cold first", timed["served"][2],
                                     timed["cold"][1]))
                    rows += [("library, first run (stores)", lib_first, None),
                             ("library, re-run", lib_again, lib_first),
                             ("library, threshold re-run", lib_tuned, lib_first)]
                    for label, wall, base in rows:
                        if base is None:
                            print(f"  {label:40} {wall:8.3f}")
                            continue
                        ratio = wall / base
                        ok = ratio < TARGET
                        verdicts.append((f"{trace.name} {name} {fmt}: {label}", ok))
                        print(f"  {label:40} {wall:8.3f} {ratio:8.1%}  < {TARGET:.0%}: "
                              f"{'ok' if ok else 'MISSED'}", flush=True)
    print()
    for label, ok in verdicts:
        print(f"{'holds ' if ok else 'MISSED'}  {label}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
