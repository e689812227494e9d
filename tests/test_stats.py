"""Statistics conventions: nearest-rank percentiles, sample stdev, strict threshold."""

from __future__ import annotations

import math
import statistics
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corr.engine import stats
from corr.engine.stats import nearest_rank, summarize


def test_threshold_is_strict():
    assert summarize([5, 10, 15], threshold_ns=10)["over_threshold"] == 1
    assert summarize([5, 10, 15], threshold_ns=9)["over_threshold"] == 2


def test_nearest_rank_percentiles():
    values = list(range(1, 11))           # 1..10
    assert nearest_rank(values, 50) == 5
    assert nearest_rank(values, 90) == 9
    assert nearest_rank(values, 99) == 10
    assert nearest_rank([7], 50) == 7
    assert nearest_rank([], 50) is None


@pytest.mark.parametrize("values", [[3, 1], [1, 2, 3, 4, 100], [10] * 4])
def test_sample_stdev_and_mean(values):
    s = summarize(values)
    assert s["stdev_ns"] == pytest.approx(statistics.stdev(values))
    assert s["mean_ns"] == pytest.approx(statistics.fmean(values))
    assert (s["min_ns"], s["max_ns"], s["count"]) == (min(values), max(values), len(values))


def test_one_value_has_no_stdev():
    assert summarize([42])["stdev_ns"] is None
    assert summarize([])["count"] == 0


def test_the_top_groups_are_the_first_of_all_groups():
    """A text report summarizes only the groups it shows: the same ones, the same figures."""
    from conftest import ROOT, shared_trace

    from corr.api import run
    result = run(ROOT / "rules" / "syscalls.yaml", [shared_trace("many-threads")], cache=False)
    rule = result.rules[0]
    top = rule.top_groups(30)            # before every group is summarized
    assert rule.group_count == len(rule.groups) > 30
    assert top == rule.groups[:30]
    assert rule.top_groups(5) == rule.groups[:5] and rule.top_groups(None) == rule.groups


INT64 = st.integers(-2 ** 63, 2 ** 63 - 1)
VALUES = st.one_of(st.lists(INT64, max_size=60),
                   st.lists(st.integers(0, 10 ** 7), max_size=300),
                   st.lists(st.sampled_from([0, 5, 5, 7, 2 ** 40, 2 ** 62]), max_size=200))


def exact(values: list[int], threshold: int) -> dict:
    """Every figure from its definition, in exact arithmetic, rounded once."""
    ordered = sorted(values)
    n = len(ordered)
    rank = lambda p: ordered[max(1, math.ceil(p / 100 * n)) - 1]          # noqa: E731
    mean = Fraction(sum(ordered), n)
    variance = sum((x - mean) ** 2 for x in ordered) / (n - 1) if n > 1 else None
    return {"count": n, "min_ns": ordered[0], "max_ns": ordered[-1], "mean_ns": float(mean),
            "stdev_ns": math.sqrt(float(variance)) if variance is not None else None,
            "p50_ns": rank(50), "p90_ns": rank(90), "p99_ns": rank(99),
            "over_threshold": sum(x > threshold for x in ordered)}


@settings(max_examples=500, deadline=None)
@given(values=VALUES, cuts=st.lists(st.integers(0, 300), max_size=6),
       threshold=st.integers(-10, 10 ** 7), slice_=st.sampled_from([1, 3, 1 << 18]))
def test_statistics_read_in_pieces_are_the_exact_ones(values, cuts, threshold, slice_):
    """summarize_pieces (no copy of all the values: sums in exact integers, percentiles
    selected in passes) gives every figure's exact value, whatever the pieces and the
    slices a pass reads; summarize (sorted) gives the same."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(stats, "SLICE", slice_)
        _pieces_against_the_definitions(values, cuts, threshold, monkeypatch)


def _pieces_against_the_definitions(values, cuts, threshold, monkeypatch):
    array = np.asarray(values, dtype=np.int64)
    cuts = sorted(min(c, len(values)) for c in cuts)
    pieces = [array[a:b] for a, b in zip([0] + cuts, cuts + [len(values)])]
    got = stats.summarize_pieces(lambda: iter(pieces), threshold)
    if not values:
        assert got["count"] == 0 and got["p50_ns"] is None
        return
    assert got == exact(values, threshold)
    assert stats.summarize(array.copy(), threshold, owned=True) == got
    monkeypatch.setattr(stats, "SORTED_UP_TO", 0)       # selected in passes, one array
    assert stats.summarize(array.copy(), threshold, owned=True) == got


@pytest.mark.parametrize("at_once", [1, 3, 1 << 22])
def test_groups_of_a_spilled_table_are_those_of_the_table_in_memory(at_once, monkeypatch):
    """A rule's groups read a piece at a time (gathered a few groups at a time, or a
    group larger than the budget straight from the pieces) are the groups of the same
    rows kept in memory, figure for figure, in the same order."""
    from conftest import ROOT, shared_trace

    from corr.api import run
    from corr.engine.result import RuleResult
    whole = run(ROOT / "rules" / "syscalls.yaml", [shared_trace("many-threads")],
                cache=False).rules[0]
    monkeypatch.setenv("CORR_SPILL_ROWS", "53")
    monkeypatch.setattr(RuleResult, "GROUP_VALUES_AT_ONCE", at_once)
    spilled = run(ROOT / "rules" / "syscalls.yaml", [shared_trace("many-threads")],
                  cache=False).rules[0]
    assert spilled.intervals.spilled and not whole.intervals.spilled
    assert spilled.group_count > 30
    assert spilled.groups == whole.groups
    assert spilled.top_groups(7) == whole.groups[:7]
    assert spilled.stats == whole.stats
    assert spilled.slowest().tolist() == whole.slowest().tolist()
    for top in (1, 5, 100, 10 ** 6):
        assert spilled.slowest(top=top).tolist() == whole.slowest(top=top).tolist()
