"""``corr run`` with the shipped rules against babeltrace2.

For each trace: wall time and peak RSS of ``babeltrace2 -c sink.utils.dummy``
and of ``corr run`` on ``rules/syscalls.yaml``, ``rules/wakeup.yaml`` and
``rules/offcpu.yaml`` (text output, as a user runs it, without the decode
cache; with their ``blame:``, every slow interval explained), each its own
process, best of ``--repeat``.  Targets: syscalls and wakeup within 2x of
babeltrace2 (issue 3), offcpu within 1.5x (issue 4); peak memory under 300 MB
(the command's own peak RSS, or its process tree's summed PSS if larger:
see ``common.measure``).

Each command is timed two ways (``--modes``): ``cold``, a new Python
process that imports everything first (``CORR_SERVER=off``: a first
command, or a machine where the server is off), and ``served``, handed by
the client to a resident server that a previous command started (corr's
default from the second command on; corr/server).  The exit status is
that of the served runs.

    python benchmarks/bench_rules.py [--repeat 3] [--events 5000000] [--rules offcpu]
                                     [--modes cold served] [TRACE...]
"""

from __future__ import annotations

import contextlib
import sys

from common import (COLD, CORR, RSS_LIMIT_MB, ROOT, babeltrace2, best_of, resident_server,
                    trace_arguments)

MODES = ("cold", "served")

RULES = {"syscalls": 2.0, "wakeup": 2.0, "offcpu": 1.5}     # rule file: target (x babeltrace2)


def main() -> int:
    args = trace_arguments(__doc__.split("\n")[0],
                           **{"--rules": dict(nargs="+", choices=list(RULES), default=list(RULES)),
                              "--modes": dict(nargs="+", choices=MODES, default=list(MODES))})
    failed = False
    with contextlib.ExitStack() as stack:
        envs = {"cold": COLD}
        if "served" in args.modes:
            envs["served"] = stack.enter_context(resident_server())
        for trace in args.traces:
            ref_wall, ref_rss = babeltrace2(trace, args.repeat)
            print(f"\n{trace}  (best of {args.repeat})")
            print(f"  {'':44} {'wall s':>8} {'x bt2':>6} {'peak MB':>8}  target")
            print(f"  {'babeltrace2 -c sink.utils.dummy':44} {ref_wall:8.3f} {1:6.2f} {ref_rss:8.1f}")
            for rule in args.rules:
                target = RULES[rule]
                for mode in args.modes:
                    # --no-cache: every run decodes (the decode cache is bench_cache.py's).
                    wall, rss, _ = best_of([CORR, "run", "--no-progress", "--no-cache",
                                            str(ROOT / "rules" / f"{rule}.yaml"), str(trace)],
                                           args.repeat, envs[mode])
                    ok = wall / ref_wall <= target and rss < RSS_LIMIT_MB
                    failed |= mode == "served" and not ok
                    label = f"corr run rules/{rule}.yaml ({mode})"
                    print(f"  {label:44} {wall:8.3f} {wall / ref_wall:6.2f} {rss:8.1f}  "
                          f"<= {target}x, < {RSS_LIMIT_MB} MB: {'ok' if ok else 'MISSED'}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
