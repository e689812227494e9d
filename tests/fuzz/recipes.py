"""A fuzz case is a recipe, never a copy of a trace: regenerated on the fly in a tmp folder.

A recipe names its kind (``trace``, ``rules``, ``hostile``), its mutator, its base
(a shared trace, the example recording, a rule file of ``rules/``, or a hand-made
case) and its seed.  ``params`` holds what the mutator chose from the seed
(offsets, values): a recipe kept in ``regressions.json`` therefore still
regenerates the same input after the mutators' random choices change.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED_TRACES = ROOT.parent / "shared" / "traces"
EXAMPLE = "llserver-example"
REGRESSIONS = Path(__file__).with_name("regressions.json")

# Every trace a mutator starts from; many-threads (8 MB, 240k events) only in the campaign.
TRACE_BASES = ["bug446190", "wget-k-20180802-115043", "wget-k-20180802-115406",
               "context-switches-ust", "php-u-20180813-150550", "many-threads", EXAMPLE]
# The small ones: each decodes in well under a second.
SMALL_TRACE_BASES = ["bug446190", "context-switches-ust", "php-u-20180813-150550",
                     "wget-k-20180802-115406", EXAMPLE]


@dataclass
class Recipe:
    kind: str                    # "trace", "rules" or "hostile"
    mutator: str
    base: str
    seed: int
    params: dict = field(default_factory=dict)
    note: str = ""               # why a regression recipe is kept (what it found)

    @property
    def id(self) -> str:
        return f"{self.kind}:{self.mutator}:{self.base}:{self.seed}"

    def rng(self) -> random.Random:
        """The recipe's own random numbers: the same for the same recipe, on any machine."""
        return random.Random(self.id)

    def to_json(self) -> dict:
        data = asdict(self)
        if not data["note"]:
            del data["note"]
        return data

    @classmethod
    def from_json(cls, data: dict) -> "Recipe":
        return cls(**data)


@dataclass
class Materialised:
    """What a recipe became: the trace and the rule file the oracle hands to corr."""

    trace: Path
    rules: Path
    params: dict


def trace_base_path(name: str) -> Path:
    if name == EXAMPLE:
        return ROOT / "examples" / "llserver" / "trace"
    return SHARED_TRACES / name


def copy_trace(src: Path, dst: Path) -> Path:
    """A writable copy (the shared traces are read-only); only the bytes, not the modes."""
    for folder, dirs, files in os.walk(src):
        rel = Path(folder).relative_to(src)
        (dst / rel).mkdir(parents=True, exist_ok=True)
        for name in files:
            shutil.copyfile(Path(folder) / name, dst / rel / name)
    return dst


def materialise(recipe: Recipe, workdir: Path) -> Materialised:
    """Regenerate the recipe's input under ``workdir``; ``params`` are filled in if empty."""
    from . import hostile, rule_mutators, trace_mutators
    rng = recipe.rng()
    if recipe.kind == "trace":
        trace = copy_trace(trace_base_path(recipe.base), workdir / "trace")
        params = trace_mutators.MUTATORS[recipe.mutator](trace, rng, recipe.params or None)
        return Materialised(trace, ROOT / "rules" / "offcpu.yaml", params)
    if recipe.kind == "rules":
        rules = workdir / "rules.yaml"
        params = rule_mutators.make(recipe, rules, rng)
        return Materialised(trace_base_path(EXAMPLE), rules, params)
    if recipe.kind == "hostile":
        trace = workdir / "trace"
        params = hostile.write(recipe, trace)
        return Materialised(trace, ROOT / "rules" / "offcpu.yaml", params)
    raise ValueError(f"unknown recipe kind {recipe.kind!r}")


def load_regressions(path: Path = REGRESSIONS) -> list[Recipe]:
    if not path.exists():
        return []
    return [Recipe.from_json(item) for item in json.loads(path.read_text())["recipes"]]


def save_recipes(recipes, path: Path, comment: str) -> None:
    """Write recipes as the regressions file does (one JSON document, stable order)."""
    data = {"comment": comment, "recipes": [r.to_json() for r in recipes]}
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
