"""``corr run``'s output formats against babeltrace2 and the text report.

For each trace: the wall time of ``babeltrace2 -c sink.utils.dummy``, of
``corr run rules/offcpu.yaml`` printing its text report, and of the same
run writing each format with ``-o`` (every slow interval explained, no
decode cache: each run decodes), best of ``--repeat``, each with its ratio
to babeltrace2's and to the text run's time and its peak memory.  Each
command is timed cold (``CORR_SERVER=off``: a new process importing
everything) and served (handed to a resident server; corr's default from
the second command on).  Then the re-run: a first run into an empty decode
cache (``--cache-dir`` a new folder), and the second run over the same
traces from it; the ratio is the second's wall time over the first's.

Targets, printed beside each figure: JSON, JSON Lines, Chrome trace,
folded stacks, CSV and Parquet within 1.5x babeltrace2; HTML within 3x the
text run; a re-run under 0.1x the first.  A missed target is printed
MISSED; the exit status is 1 only with ``--check`` (of the served runs).

Default traces: ../shared/traces/many-threads and a generated kernel trace
of ``--events`` events (1,000,000: tens of thousands of slow off-CPU
intervals).

    python benchmarks/bench_outputs.py [--repeat 3] [--events 1000000]
        [--formats json jsonl ...] [--modes cold served] [--check] [TRACE...]
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
from pathlib import Path

from common import COLD, CORR, ROOT, babeltrace2, best_of, default_traces, measure, resident_server

sys.path.insert(0, str(ROOT))
from corr.render import formats  # noqa: E402  (the registry: every format and its extension)

RULES = str(ROOT / "rules" / "offcpu.yaml")
MODES = ("cold", "served")
# format: (what its time is compared with, the ratio not to pass)
TARGETS = {"json": ("bt2", 1.5), "jsonl": ("bt2", 1.5), "chrome": ("bt2", 1.5),
           "folded": ("bt2", 1.5), "csv": ("bt2", 1.5), "parquet": ("bt2", 1.5),
           "html": ("text", 3.0)}
RERUN_TARGET = 0.1


def arguments() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("traces", nargs="*")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--events", type=int, default=1_000_000,
                    help="events of the generated trace (default 1,000,000)")
    ap.add_argument("--formats", nargs="+", choices=[f for f in formats.REGISTRY if f != "text"],
                    default=list(TARGETS))
    ap.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    ap.add_argument("--check", action="store_true",
                    help="exit 1 if a served run misses its target")
    args = ap.parse_args()
    args.traces = [Path(t) for t in args.traces] or default_traces(args.events)
    return args


def run_command(trace: Path, fmt: str | None, out_dir: str, cache: str | None = None) -> list[str]:
    cmd = [CORR, "run", "--no-progress", RULES, str(trace)]
    cmd += ["--cache-dir", cache] if cache else ["--no-cache"]
    if fmt is not None:
        cmd += ["-o", str(Path(out_dir) / f"out{formats.extensions_of(fmt)[0]}")]
    return cmd


def timed(cmd: list[str], repeat: int, env: dict) -> tuple[float, float]:
    """Best wall time and peak memory; a served command is run once first, so that the
    server has imported what it asks for (its ``wants``) before it is timed."""
    if env is not COLD:
        measure(cmd, env)
    wall, rss, _ = best_of(cmd, repeat, env)
    return wall, rss


def verdict(ratio: float, target: float, strict: bool = False) -> str:
    ok = ratio < target if strict else ratio <= target
    return "ok" if ok else "MISSED"


def main() -> int:
    args = arguments()
    missed = []
    with contextlib.ExitStack() as stack:
        envs = {"cold": COLD}
        if "served" in args.modes:
            envs["served"] = stack.enter_context(resident_server())
        out_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="corr-outputs-"))
        for trace in args.traces:
            bt2, bt2_rss = babeltrace2(trace, args.repeat)
            print(f"\n{trace}  (rules/offcpu.yaml, best of {args.repeat})")
            print(f"  {'':36} {'wall s':>8} {'x bt2':>6} {'x text':>7} {'peak MB':>8}  target")
            print(f"  {'babeltrace2 -c sink.utils.dummy':36} {bt2:8.3f} {1:6.2f} {'':>7} "
                  f"{bt2_rss:8.1f}")
            text = {}
            for mode in args.modes:
                wall, rss = timed(run_command(trace, None, out_dir), args.repeat, envs[mode])
                text[mode] = wall
                print(f"  {'text (' + mode + ')':36} {wall:8.3f} {wall / bt2:6.2f} {1:7.2f} "
                      f"{rss:8.1f}", flush=True)
            for fmt in args.formats:
                for mode in args.modes:
                    wall, rss = timed(run_command(trace, fmt, out_dir), args.repeat, envs[mode])
                    line = (f"  {fmt + ' (' + mode + ')':36} {wall:8.3f} {wall / bt2:6.2f} "
                            f"{wall / text[mode]:7.2f} {rss:8.1f}")
                    if fmt in TARGETS:
                        against, limit = TARGETS[fmt]
                        ratio = wall / (bt2 if against == "bt2" else text[mode])
                        ok = verdict(ratio, limit)
                        line += f"  <= {limit}x {against}: {ok}"
                        if ok != "ok" and mode == "served":
                            missed.append(f"{trace.name} {fmt}")
                    print(line, flush=True)
            print(f"  re-run from the decode cache (second run / first, --cache-dir a new folder)")
            for fmt in args.formats:
                for mode in args.modes:
                    with tempfile.TemporaryDirectory(prefix="corr-cache-") as cache:
                        first, _, _ = measure(run_command(trace, fmt, out_dir, cache), envs[mode])
                        again = min(measure(run_command(trace, fmt, out_dir, cache),
                                            envs[mode])[0] for _ in range(args.repeat))
                    ratio = again / first
                    ok = verdict(ratio, RERUN_TARGET, strict=True)
                    if ok != "ok" and mode == "served":
                        missed.append(f"{trace.name} {fmt} re-run")
                    print(f"  {fmt + ' (' + mode + ')':36} first {first:7.3f} s, again "
                          f"{again:7.3f} s: {ratio:5.2f}x  < {RERUN_TARGET}x: {ok}", flush=True)
    if missed:
        print(f"\nmissed (served): {', '.join(missed)}")
    return 1 if (missed and args.check) else 0


if __name__ == "__main__":
    sys.exit(main())
