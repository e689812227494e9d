"""Code stacks' cost: ``corr run`` on a ``perf record -g`` recording, against babeltrace2.

On one recording with call chains on every event (docs/stacks.md), each its own
process, best of ``--repeat``, without the decode cache:

- ``babeltrace2 -c sink.utils.dummy`` (decodes every field, the chains too);
- ``corr run rules/offcpu.yaml``: stacks not asked for, so the chains are never
  decoded: the target is what bench_rules.py asks of offcpu (1.5x babeltrace2);
- ``corr run`` of the same rule with ``stacks: true``: chains decoded, kept,
  attributed and named from the perf.data beside the trace: within 2x (issue 18).

Without a recording given, one is made (as root) of examples/pingpong with
``perf record -a -g`` on the scheduling events, ``--rounds`` rounds (about
four events a round), kept in benchmarks/.data/stacks-ROUNDS/.

    python benchmarks/bench_stacks.py [--repeat 3] [--rounds 250000] [RECORDING]
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path

from common import COLD, CORR, HERE, ROOT, RSS_LIMIT_MB, babeltrace2, best_of

TARGETS = {"offcpu.yaml (stacks not asked)": 1.5, "offcpu + stacks: true": 2.0}


def recording(rounds: int) -> Path:
    """benchmarks/.data/stacks-ROUNDS: perf.data and kernel/ of a pingpong run, made once."""
    folder = HERE / ".data" / f"stacks-{rounds}"
    if (folder / "kernel" / "metadata").exists() and (folder / "perf.data").exists():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    print(f"recording pingpong ({rounds:,} rounds, perf -g) in {folder} ...", flush=True)
    script = (f'here="{ROOT}/examples/pingpong"; . "{ROOT}/examples/record-common.sh"; '
              f'record_example pingpong x -g "${{SCHED_EVENTS[@]}}" -- "{folder}" '
              f'--rounds {rounds} --sleep-every 50 --sleep-us 100')
    subprocess.run(["bash", "-c", script], check=True)
    return folder


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("recording", nargs="?", help="a folder holding kernel/ and perf.data")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=250_000)
    args = ap.parse_args()
    folder = Path(args.recording) if args.recording else recording(args.rounds)
    trace = folder / "kernel"
    rules = ROOT / "rules" / "offcpu.yaml"
    with tempfile.TemporaryDirectory() as tmp:
        stacks = Path(tmp) / "offcpu-stacks.yaml"
        stacks.write_text(rules.read_text().replace("blame: entry", "blame: entry\n    stacks: true"))
        ref_wall, ref_rss = babeltrace2(trace, args.repeat)
        print(f"\n{trace}  (best of {args.repeat})")
        print(f"  {'':44} {'wall s':>8} {'x bt2':>6} {'peak MB':>8}  target")
        print(f"  {'babeltrace2 -c sink.utils.dummy':44} {ref_wall:8.3f} {1:6.2f} {ref_rss:8.1f}")
        failed = False
        for label, path in (("offcpu.yaml (stacks not asked)", rules),
                            ("offcpu + stacks: true", stacks)):
            wall, rss, _ = best_of([CORR, "run", "--no-progress", "--no-cache", str(path),
                                    str(trace)], args.repeat, COLD)
            ok = wall / ref_wall <= TARGETS[label] and rss < RSS_LIMIT_MB
            failed |= not ok
            print(f"  {label:44} {wall:8.3f} {wall / ref_wall:6.2f} {rss:8.1f}  "
                  f"{TARGETS[label]}x, {RSS_LIMIT_MB} MB {'ok' if ok else 'MISSED'}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
