"""Rules with steps (docs/rules.md, "Sequences") against the same pairs without them.

Two rule files over the same kernel events: ``pairs`` (each system call, and
each thread's life from its fork to its exit) and ``sequences`` (the same
pairs, the system calls with a step for the thread's switch-out, grouped by
the state it left in, and the lives with a wakeup step and a ``must``
step: it was switched in).  Each is run by ``corr run --no-cache``
(``cold``: a new process; ``served``: handed to a resident server), best of
``--repeat``, and in this process as the engine's pass alone
(``corr.api.run``, best of ``--repeat``).  Target: sequences within 1.5x of
pairs.  The C core matches rules with steps as it does the others, so the
engine-only ratio is what the steps cost.

    python benchmarks/bench_sequences.py [--repeat 3] [--events 5000000] [TRACE...]
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
import time
from pathlib import Path

from common import COLD, CORR, best_of, resident_server, trace_arguments

TARGET = 1.5

PAIRS = """\
version: 1
rules:
  - name: syscalls
    entry: {event: syscall_entry_*, key: {tid: $tid}}
    exit: {event: syscall_exit_*, key: {tid: $tid}, fields: [ret]}
    match: last
    cancel: [{event: sched_process_exit, key: {tid: tid}}]
    where: entry.$syscall == exit.$syscall
    group_by: [entry.$syscall]
    timeout: 10s
  - name: lives
    entry: {event: sched_process_fork, key: {tid: child_tid}}
    exit: {event: sched_process_exit, key: {tid: tid}}
"""

STEPS = """\
    steps:
      - {name: off, event: sched_switch, key: {tid: prev_tid}, fields: [prev_state]}
    group_by: [entry.$syscall, steps.off.prev_state]
"""

LIFE_STEPS = """\
    steps:
      - {name: woken, event: sched_wakeup, key: {tid: tid}, fields: [target_cpu]}
      - {name: ran, event: sched_switch, key: {tid: next_tid}, occurs: must}
"""

SEQUENCES = (PAIRS.replace("    group_by: [entry.$syscall]\n", STEPS)
             .replace("    exit: {event: sched_process_exit, key: {tid: tid}}\n",
                      "    exit: {event: sched_process_exit, key: {tid: tid}}\n" + LIFE_STEPS))


def engine_pass(rules: Path, trace: Path, repeat: int) -> float:
    """Best wall time of the library's run (no decode cache): the pass without start-up."""
    import corr.api
    best = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        corr.api.run(rules, [trace], cache=False)
        elapsed = time.perf_counter() - t0
        best = elapsed if best is None else min(best, elapsed)
    return best


def main() -> int:
    args = trace_arguments(__doc__.split("\n")[0])
    failed = False
    with tempfile.TemporaryDirectory(prefix="corr-seq-") as tmp, contextlib.ExitStack() as stack:
        files = {}
        for name, text in (("pairs", PAIRS), ("sequences", SEQUENCES)):
            files[name] = Path(tmp) / f"{name}.yaml"
            files[name].write_text(text)
        envs = {"cold": COLD, "served": stack.enter_context(resident_server())}
        for trace in args.traces:
            print(f"\n{trace}  (best of {args.repeat})")
            print(f"  {'':28} {'pairs s':>8} {'steps s':>8} {'ratio':>6}  target")
            for mode, env in envs.items():
                walls = [best_of([CORR, "run", "--no-progress", "--no-cache", str(files[name]),
                                  str(trace)], args.repeat, env)[0] for name in files]
                failed |= _line(f"corr run ({mode})", *walls)
            walls = [engine_pass(files[name], trace, args.repeat) for name in files]
            failed |= _line("corr.api.run (engine pass)", *walls)
    return 1 if failed else 0


def _line(label: str, pairs: float, steps: float) -> bool:
    ratio = steps / pairs
    print(f"  {label:28} {pairs:8.3f} {steps:8.3f} {ratio:6.2f}  <= {TARGET}x: "
          f"{'ok' if ratio <= TARGET else 'MISSED'}", flush=True)
    return ratio > TARGET


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(main())
