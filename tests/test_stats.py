"""Statistics conventions: nearest-rank percentiles, sample stdev, strict threshold."""

from __future__ import annotations

import statistics

import pytest

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
