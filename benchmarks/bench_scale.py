"""How corr's time and memory grow with the trace: 5M, 20M and 50M events.

For each generated kernel trace (``corr.testing.generate``, made once under
``benchmarks/.data``): babeltrace2's time (``sink.utils.dummy``), then
``corr run`` with ``rules/offcpu.yaml``, ``rules/syscalls.yaml`` and
``rules/wakeup.yaml`` (text output, ``--no-cache``: every run decodes),
``cold`` (a new process, ``CORR_SERVER=off``) and ``served`` (a resident
server started first), each with its wall time, its ratio to babeltrace2,
the peak PSS summed over every corr process (the command, its decode
workers, the server and its children: ``common.measure``), and the time
and memory per million events.

Targets (issue 15), at 20M and 50M events: cold within 1.2x babeltrace2's
time, peak PSS under 300 MB cold and served, time per million events flat
from 5M to 50M (the largest trace's within 1.25x of the smallest's).
Misses are printed; ``--check`` makes them the exit status.

    python benchmarks/bench_scale.py [--sizes 5000000 20000000 50000000]
                                     [--rules offcpu syscalls wakeup] [--modes cold served]
                                     [--repeat 1] [--check]
"""

from __future__ import annotations

import argparse
import contextlib
import sys

from common import (COLD, CORR, RSS_LIMIT_MB, ROOT, generated_trace, measure,
                    resident_server)

SIZES = (5_000_000, 20_000_000, 50_000_000)
RULES = ("offcpu", "syscalls", "wakeup")
MODES = ("cold", "served")
TIME_TARGET = 1.2          # x babeltrace2, cold, at the sizes below
TARGET_FROM = 20_000_000   # the time and memory targets hold from this size on
FLAT = 1.25                # time per Mevent: largest trace / smallest trace


def once(cmd: list[str], repeat: int, env: dict | None) -> tuple[float, float]:
    """Best wall time of ``repeat`` runs, each sampled for its tree's peak PSS (MB)."""
    runs = [measure(cmd, env, tree_rss=True) for _ in range(repeat)]
    return min(r[0] for r in runs), max(r[1] for r in runs)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    ap.add_argument("--rules", nargs="+", choices=RULES, default=list(RULES))
    ap.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = ap.parse_args()
    sizes = sorted(args.sizes)
    missed = []
    per_mevent: dict[tuple, dict[int, float]] = {}
    with contextlib.ExitStack() as stack:
        envs = {"cold": COLD}
        if "served" in args.modes:
            envs["served"] = stack.enter_context(resident_server())
        for size in sizes:
            trace = generated_trace(size)
            mev = size / 1e6
            ref_wall, ref_mb = once(["babeltrace2", "-c", "sink.utils.dummy", str(trace)],
                                    args.repeat, None)
            print(f"\n{trace.name}: {size:,} events (best of {args.repeat})")
            print(f"  {'':38} {'wall s':>8} {'x bt2':>6} {'s/Mev':>6} {'peak MB':>8} "
                  f"{'MB/Mev':>7}  targets")
            print(f"  {'babeltrace2 -c sink.utils.dummy':38} {ref_wall:8.2f} {1:6.2f} "
                  f"{ref_wall / mev:6.3f} {ref_mb:8.1f} {ref_mb / mev:7.1f}", flush=True)
            for rule in args.rules:
                for mode in args.modes:
                    cmd = [CORR, "run", "--no-progress", "--no-cache",
                           str(ROOT / "rules" / f"{rule}.yaml"), str(trace)]
                    wall, mb = once(cmd, args.repeat, envs[mode])
                    per_mevent.setdefault((rule, mode), {})[size] = wall / mev
                    notes = []
                    if size >= TARGET_FROM:
                        if mb >= RSS_LIMIT_MB:
                            notes.append(f"memory MISSED (< {RSS_LIMIT_MB} MB)")
                        if mode == "cold" and wall / ref_wall > TIME_TARGET:
                            notes.append(f"time MISSED (<= {TIME_TARGET}x)")
                        missed += [f"{rule} {mode} {size:,}: {n}" for n in notes]
                        notes = notes or ["ok"]
                    label = f"corr run rules/{rule}.yaml ({mode})"
                    print(f"  {label:38} {wall:8.2f} {wall / ref_wall:6.2f} {wall / mev:6.3f} "
                          f"{mb:8.1f} {mb / mev:7.1f}  {', '.join(notes)}", flush=True)
    if len(sizes) > 1:
        print(f"\ntime per million events, {sizes[-1]:,} against {sizes[0]:,} "
              f"(flat: <= {FLAT}x)")
        for (rule, mode), by_size in per_mevent.items():
            growth = by_size[sizes[-1]] / by_size[sizes[0]]
            ok = growth <= FLAT
            if not ok:
                missed.append(f"{rule} {mode}: time per Mevent grew {growth:.2f}x")
            print(f"  {rule:9} {mode:7} {growth:5.2f}x  {'ok' if ok else 'MISSED'}")
    if missed:
        print("\nmissed:\n  " + "\n  ".join(missed))
    return 1 if (missed and args.check) else 0


if __name__ == "__main__":
    sys.exit(main())
