#!/usr/bin/env python3
"""The long fuzz campaign: thousands of seeded cases, and the table of docs/reliability.md.

    .venv/bin/python scripts/fuzz.py --cases 2000 --seed 1 --kinds traces,rules --served both

``--cases`` mutants of each kind asked for (``traces``, ``rules``; ``rules`` also
runs every hand-made nasty rule file, ``hostile`` the hostile-string traces);
each case runs ``corr inspect`` and ``corr run rules/offcpu.yaml --format
json`` (and ``-o``) on a trace mutant, or ``corr check`` and ``corr run`` on a
rule-file mutant, in-process and/or through a resident server, and
babeltrace2 on each trace mutant.  ``--failures FILE`` writes the failing
cases as recipes (the format of tests/fuzz/regressions.json).  The harness
lives in tests/fuzz/, shared with tests/test_fuzz.py.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fuzz import campaign  # noqa: E402
from fuzz.recipes import (SMALL_TRACE_BASES, TRACE_BASES, load_regressions,  # noqa: E402
                          save_recipes)

MODES = {"off": ("off",), "served": ("served",), "both": ("off", "served")}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--cases", type=int, default=200, help="mutants of each kind")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--kinds", default="traces,rules,hostile",
                        help="comma-separated: traces, rules, hostile")
    parser.add_argument("--served", choices=sorted(MODES), default="both",
                        help="run corr in-process (off), through a server, or both")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=30, help="seconds per command")
    parser.add_argument("--small", action="store_true",
                        help="only the small traces (not many-threads)")
    parser.add_argument("--no-babeltrace2", action="store_true")
    parser.add_argument("--failures", type=Path, help="write the failing recipes here (JSON)")
    parser.add_argument("--recipes", type=Path,
                        help="run the recipes of this file (e.g. tests/fuzz/regressions.json) "
                             "instead of generating cases")
    parser.add_argument("--quiet", action="store_true", help="no line per failing case")
    args = parser.parse_args(argv)

    kinds = set(args.kinds.split(",")) if not args.recipes else set()
    recipes = load_regressions(args.recipes) if args.recipes else []
    if "traces" in kinds:
        bases = SMALL_TRACE_BASES if args.small else TRACE_BASES
        recipes += campaign.trace_recipes(args.cases, args.seed, bases)
    if "rules" in kinds:
        recipes += campaign.rule_recipes(args.cases, args.seed) + campaign.handmade_recipes()
    if "hostile" in kinds:
        recipes += campaign.hostile_recipes()
    modes = MODES[args.served]
    tasks = [(r, modes, args.timeout, not args.no_babeltrace2) for r in recipes]
    started = time.monotonic()

    def progress(done, total, result):
        if result.problems or result.error:
            if not args.quiet:
                print(campaign.describe(result), flush=True)
        if done % 50 == 0 or done == total:
            print(f"# {done}/{total} cases, {time.monotonic() - started:.0f} s",
                  file=sys.stderr, flush=True)

    results = campaign.run_all(tasks, args.processes, "served" in modes, progress)
    print()
    print(f"seed {args.seed}, {len(results)} cases, modes {'+'.join(modes)}, "
          f"{time.monotonic() - started:.0f} s on {args.processes} processes")
    print(campaign.table(results))
    failing = [r.recipe for r in results if r.problems]
    if args.failures:
        save_recipes(failing, args.failures,
                     f"failing cases of scripts/fuzz.py --seed {args.seed} --kinds {args.kinds}")
        print(f"{len(failing)} failing recipes written to {args.failures}")
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())
