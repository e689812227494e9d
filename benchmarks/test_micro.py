"""Micro-benchmarks (pytest-benchmark): the engine's parts in isolation.

    .venv/bin/python -m pytest benchmarks/test_micro.py --benchmark-only

Not part of `make test` (tests/ only): numbers, not verdicts.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from corr.engine.matcher import Matcher
from corr.reading import Projection, open_traces

MANY_THREADS = Path(__file__).resolve().parents[2] / "shared" / "traces" / "many-threads"


def _pairs(n: int):
    events = []
    for i in range(n):
        events.append((2 * i, i % 512, True))
        events.append((2 * i + 1, i % 512, False))
    return events


@pytest.mark.parametrize("match", ["nest", "last"])
def test_matcher_throughput(benchmark, match):
    events = _pairs(100_000)

    def run():
        m = Matcher("bench", ["k"], match, timeout_ns=1_000)
        for ts, key, is_entry in events:
            if is_entry:
                m.entry(ts, key, None, None, None, None)
            else:
                m.exit(ts, key, None, None, None, None)
        m.finish(events[-1][0])
        return m

    m = benchmark(run)
    assert m.outcome_counts()["complete"] == 100_000


@pytest.mark.skipif(not MANY_THREADS.exists(), reason="../shared/traces absent")
@pytest.mark.parametrize("projection", ["all", "sched"])
def test_decode_many_threads(benchmark, projection):
    proj = Projection.all() if projection == "all" else Projection.of({"sched_*": "*"})

    def run():
        return sum(len(b) for b in open_traces(MANY_THREADS).batches(proj))

    assert benchmark(run) > 0
