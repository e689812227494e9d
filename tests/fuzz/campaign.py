"""Cases from a seed, run on a process pool, summed up in the table of docs/reliability.md."""

from __future__ import annotations

import random
import shutil
import tempfile
from collections import Counter, defaultdict
from multiprocessing import get_context
from pathlib import Path

from . import hostile, oracle, rule_mutators, trace_mutators
from .recipes import TRACE_BASES, Recipe

# How often each trace mutator is drawn (metadata damage is where the decoder hangs).
TRACE_WEIGHTS = {"bit_flip": 4, "overwrite": 3, "truncate_stream": 2, "truncate_metadata": 3,
                 "delete_file": 1, "swap_files": 1, "packet_header": 3, "magic": 1,
                 "metadata_packet_header": 2, "metadata_text": 4}
assert set(TRACE_WEIGHTS) == set(trace_mutators.MUTATORS)


def trace_recipes(n: int, seed: int, bases=TRACE_BASES) -> list[Recipe]:
    rng = random.Random(f"traces/{seed}")
    names = list(TRACE_WEIGHTS)
    return [Recipe("trace", rng.choices(names, [TRACE_WEIGHTS[m] for m in names])[0],
                   rng.choice(bases), rng.randrange(1 << 31)) for _ in range(n)]


def rule_recipes(n: int, seed: int) -> list[Recipe]:
    rng = random.Random(f"rules/{seed}")
    return [Recipe("rules", rng.choices(["value", "text"], [3, 2])[0],
                   rng.choice(rule_mutators.RULE_BASES), rng.randrange(1 << 31))
            for _ in range(n)]


def handmade_recipes(slow: bool = True) -> list[Recipe]:
    return [Recipe("rules", "handmade", name, 0) for name in rule_mutators.HANDMADE
            if slow or name not in rule_mutators.SLOW_HANDMADE]


def hostile_recipes() -> list[Recipe]:
    return [Recipe("hostile", "name", base, 0) for base in hostile.BASES]


# -- the pool ---------------------------------------------------------------------------

_worker: dict = {}


def _init_worker(root: str, served: bool) -> None:
    folder = Path(tempfile.mkdtemp(prefix="worker-", dir=root))
    _worker["folder"] = folder
    _worker["server"] = oracle.Server(folder / "runtime") if served else None
    if served:
        _worker["server"].start(folder)


def _run_one(task):
    index, recipe, modes, timeout, babeltrace2 = task
    workdir = _worker["folder"] / f"case-{index}"
    try:
        return index, oracle.run_case(recipe, workdir, modes=modes, server=_worker["server"],
                                      timeout=timeout, babeltrace2=babeltrace2)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def run_all(tasks, processes: int = 2, served: bool = True, progress=None):
    """Run ``tasks`` ((recipe, modes, timeout, babeltrace2) each); results in task order."""
    root = tempfile.mkdtemp(prefix="corr-fuzz-")
    results = [None] * len(tasks)
    try:
        with get_context("fork").Pool(processes, _init_worker, (root, served),
                                      maxtasksperchild=None) as pool:
            numbered = [(i, *task) for i, task in enumerate(tasks)]
            for done, (i, result) in enumerate(pool.imap_unordered(_run_one, numbered), 1):
                results[i] = result
                if progress:
                    progress(done, len(tasks), result)
            pool.close()
            pool.join()
    finally:
        for runtime in Path(root).glob("worker-*/runtime"):
            oracle.Server(runtime).stop(runtime.parent)
        shutil.rmtree(root, ignore_errors=True)
    return results


# -- the table --------------------------------------------------------------------------

def row_of(result, outcome) -> str:
    kind = result.recipe.kind
    if kind == "trace":
        return ("mutated traces, `corr inspect`" if outcome.command == "inspect"
                else "mutated traces, `corr run` offcpu `--format json` / `-o`")
    if kind == "rules":
        return ("rule files, hand-made" if result.recipe.mutator == "handmade"
                else "rule files, mutated")
    return "hostile strings in a trace (every format)"


def table(results) -> str:
    """The markdown table: per input class, cases tried, clean, problems by kind."""
    tried: dict[str, set] = defaultdict(set)
    bad: dict[str, set] = defaultdict(set)
    kinds: dict[str, Counter] = defaultdict(Counter)
    modes: dict[str, dict] = defaultdict(lambda: defaultdict(Counter))
    bt2: dict[str, Counter] = defaultdict(Counter)
    for i, result in enumerate(results):
        for outcome in result.outcomes:
            row = row_of(result, outcome)
            tried[row].add(i)
            if result.babeltrace2 and row.startswith("mutated traces"):
                bt2[row][(i, result.babeltrace2)] = 1
            for problem in outcome.problems:
                bad[row].add(i)
                if (i, problem) not in modes[row]["seen"]:
                    kinds[row][problem] += 1
                    modes[row]["seen"][(i, problem)] = 1
                modes[row][problem][outcome.mode] += 1
        if result.error:
            tried["harness errors"].add(i)
            bad["harness errors"].add(i)
            kinds["harness errors"][result.error.split(":")[0]] += 1
    lines = ["| input class | tried | clean error or success | problems (cases; commands in-process/served) | babeltrace2 on the same mutants |",
             "|---|---:|---:|---|---|"]
    for row in sorted(tried):
        found = ", ".join(
            f"{kind} {count} ({modes[row][kind]['off']}/{modes[row][kind]['served']})"
            for kind, count in sorted(kinds[row].items(), key=lambda kv: oracle.PROBLEMS.index(
                kv[0]) if kv[0] in oracle.PROBLEMS else 99)) or "none"
        outcome_counts = Counter(outcome for (_, outcome) in bt2[row])
        bt2_text = (", ".join(f"{k} {outcome_counts[k]}" for k in ("hang", "abort", "signal",
                                                                  "error", "ok")
                              if outcome_counts[k]) if outcome_counts else "")
        lines.append(f"| {row} | {len(tried[row]):,} | {len(tried[row]) - len(bad[row]):,} | "
                     f"{found} | {bt2_text} |")
    return "\n".join(lines)


def describe(result) -> str:
    """One failing case on a few lines: its recipe and each bad command's last stderr line."""
    r = result.recipe
    out = [f"{r.id}  params={_short(r.params)}  ({result.seconds:.1f} s)"]
    if result.error:
        out.append(f"    harness: {result.error}")
    for o in result.outcomes:
        if o.problems:
            out.append(f"    [{o.mode}] {o.command}: {', '.join(o.problems)} "
                       f"(exit {o.returncode}) {o.first_line!r}")
    if result.babeltrace2:
        out.append(f"    babeltrace2: {result.babeltrace2}")
    return "\n".join(out)


def _short(params, limit=160) -> str:
    text = repr(params)
    return text if len(text) <= limit else text[:limit] + "...}"
