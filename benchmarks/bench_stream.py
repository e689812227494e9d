"""corr.stream's memory and time: explained intervals as they come, over a large trace.

For each generated kernel trace (``common.generated_trace``, default 20M
events) and each rule file (``rules/offcpu.yaml``, ``rules/syscalls.yaml``):
babeltrace2's time (``sink.utils.dummy``) in the same run, then a new
process that iterates ``corr.stream(RULES, TRACE, cache=False)`` to the end,
counting the intervals and how many came explained; its wall time, the ratio
to babeltrace2 and its peak memory (PSS summed over its process tree: the
decode workers too, ``common.measure``).

Target (issue 17): a 20M-event trace streams in under 300 MB
(``common.RSS_LIMIT_MB``).  Misses are printed; ``--check`` makes them the
exit status.

    python benchmarks/bench_stream.py [--sizes 20000000] [--rules offcpu syscalls]
                                      [--repeat 1] [--check]
"""

from __future__ import annotations

import argparse
import json
import sys

from common import COLD, RSS_LIMIT_MB, ROOT, babeltrace2, generated_trace, measure

RULES = ("offcpu", "syscalls")

# What the measured process runs: the stream to its end, and what it handed out.
CONSUMER = """
import json, sys
import corr
count = explained = 0
with corr.stream(sys.argv[1], sys.argv[2], cache=False) as intervals:
    for interval in intervals:
        count += 1
        explained += interval.explained
print(json.dumps({"intervals": count, "explained": explained}))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[20_000_000])
    ap.add_argument("--rules", nargs="+", choices=RULES, default=list(RULES))
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = ap.parse_args()
    missed = []
    print(f"{'events':>12} {'rules':<10} {'babeltrace2 s':>13} {'stream s':>9} {'x bt2':>6} "
          f"{'peak MB':>8} {'intervals':>10} {'explained':>10}")
    for size in sorted(args.sizes):
        trace = generated_trace(size)
        bt2, _ = babeltrace2(trace, args.repeat)
        for name in args.rules:
            rules = str(ROOT / "rules" / f"{name}.yaml")
            cmd = [sys.executable, "-c", CONSUMER, rules, str(trace)]
            runs = [measure(cmd, COLD, tree_rss=True) for _ in range(args.repeat)]
            wall, peak = min(r[0] for r in runs), max(r[1] for r in runs)
            counts = json.loads(runs[0][2].splitlines()[-1])
            print(f"{size:>12,} {name:<10} {bt2:>13.2f} {wall:>9.2f} {wall / bt2:>6.1f} "
                  f"{peak:>8.0f} {counts['intervals']:>10,} {counts['explained']:>10,}",
                  flush=True)
            if peak >= RSS_LIMIT_MB:
                missed.append(f"{size:,} events, {name}: peak {peak:.0f} MB "
                              f"(target < {RSS_LIMIT_MB} MB)")
    for line in missed:
        print(f"missed: {line}")
    return 1 if missed and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
