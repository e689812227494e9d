"""``corr run`` with the shipped syscall and wakeup rules against babeltrace2.

For each trace: wall time and peak RSS of ``babeltrace2 -c sink.utils.dummy``
and of ``corr run rules/syscalls.yaml`` and ``rules/wakeup.yaml`` (text
output, as a user runs it, without the decode cache), each its own
process, best of ``--repeat``.
Target: within 2x of babeltrace2, peak RSS under 300 MB.

    python benchmarks/bench_rules.py [--repeat 3] [--events 5000000] [TRACE...]
"""

from __future__ import annotations

import sys
from pathlib import Path

from common import RSS_LIMIT_MB, ROOT, babeltrace2, best_of, trace_arguments

TARGET = 2.0
RULES = ("syscalls", "wakeup")


def main() -> int:
    args = trace_arguments(__doc__.split("\n")[0])
    traces = args.traces
    corr = str(Path(sys.executable).parent / "corr")
    failed = False
    for trace in traces:
        ref_wall, ref_rss = babeltrace2(trace, args.repeat)
        print(f"\n{trace}  (best of {args.repeat})")
        print(f"  {'':36} {'wall s':>8} {'x bt2':>6} {'peak MB':>8}  target")
        print(f"  {'babeltrace2 -c sink.utils.dummy':36} {ref_wall:8.3f} {1:6.2f} {ref_rss:8.1f}")
        for rule in RULES:
            # --no-cache: every run decodes (the decode cache is bench_cache.py's).
            wall, rss, _ = best_of([corr, "run", "--no-progress", "--no-cache",
                                    str(ROOT / "rules" / f"{rule}.yaml"), str(trace)], args.repeat)
            ok = wall / ref_wall <= TARGET and rss < RSS_LIMIT_MB
            failed |= not ok
            print(f"  {'corr run rules/' + rule + '.yaml':36} {wall:8.3f} {wall / ref_wall:6.2f} "
                  f"{rss:8.1f}  <= {TARGET}x, < {RSS_LIMIT_MB} MB: {'ok' if ok else 'MISSED'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
