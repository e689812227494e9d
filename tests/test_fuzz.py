"""A short, deterministic fuzz run: no hang, no abort, no broken output on damaged input.

A few hundred seeded cases (tests/fuzz/: trace mutants of the small shared traces and
of the example recording, rule-file mutants, hand-made nasty rule files, hostile thread
names, and every recipe of tests/fuzz/regressions.json) run once on a pool of two
processes; each case is then one test, which fails with what broke corr's promise
(docs/reliability.md).  Cases alternate between in-process and served runs; the
regressions (and the invalid UTF-8 thread name) run both ways.  scripts/fuzz.py is the
long campaign over the same harness.
"""

from __future__ import annotations

import os

import pytest

from fuzz import campaign
from fuzz.recipes import SHARED_TRACES, SMALL_TRACE_BASES, load_regressions

SEED = 16
TRACE_CASES = 48
RULE_CASES = 32
TIMEOUT_S = 15          # per command: a hang, not a slow run (each takes well under 2 s)


def _cases():
    both = ("off", "served")
    tasks = []
    for i, recipe in enumerate(campaign.trace_recipes(TRACE_CASES, SEED, SMALL_TRACE_BASES)
                               + campaign.rule_recipes(RULE_CASES, SEED)
                               + campaign.handmade_recipes(slow=False)
                               + campaign.hostile_recipes()):
        both_ways = recipe.base == "invalid_utf8"       # where the two paths differed
        tasks.append((recipe, both if both_ways else (both[i % 2],), TIMEOUT_S, False))
    tasks += [(r, both, TIMEOUT_S, False) for r in load_regressions()]
    return tasks


CASES = _cases()


@pytest.fixture(scope="module")
def results():
    if not SHARED_TRACES.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{SHARED_TRACES} is missing in CI")
        pytest.skip(f"{SHARED_TRACES} not present outside CI")
    # three: a case waiting on a stalled decoder leaves its core to the others
    return campaign.run_all(CASES, processes=3, served=True)


@pytest.mark.shared
@pytest.mark.parametrize("index", range(len(CASES)),
                         ids=[task[0].id for task in CASES])
def test_corr_keeps_its_promise_on_bad_input(results, index):
    result = results[index]
    assert not result.error, result.error
    assert result.outcomes, "no command ran"
    assert not result.problems, campaign.describe(result)


def test_recipes_regenerate_the_same_input(tmp_path):
    """A recipe is the whole case: the same recipe gives the same bytes, and the params
    it chose reproduce them (the regressions file stores params)."""
    from fuzz.recipes import Recipe, materialise
    if not SHARED_TRACES.exists():
        pytest.skip("no shared traces")

    def digest(root):
        import hashlib
        h = hashlib.sha256()
        for p in sorted(root.rglob("*")):
            if p.is_file():
                h.update(str(p.relative_to(root)).encode() + p.read_bytes())
        return h.hexdigest()

    for mutator in campaign.TRACE_WEIGHTS:
        first = Recipe("trace", mutator, "context-switches-ust", 7)
        a = materialise(first, tmp_path / f"{mutator}-a")
        again = Recipe("trace", mutator, "context-switches-ust", 7, params=a.params)
        b = materialise(again, tmp_path / f"{mutator}-b")
        assert digest(a.trace) == digest(b.trace), mutator
        assert digest(a.trace) != digest(SHARED_TRACES / "context-switches-ust") or \
            mutator == "delete_file", mutator
