"""The column-wise derivation of ctx.tid equals the event-by-event walk."""

from __future__ import annotations

import pytest

import corr
from corr.normalise.normaliser import TraceNormaliser
from corr.testing import generate_kernel_trace

from conftest import shared_trace

PROJECTION = {"syscall_*": ["ctx.tid"], "sched_switch": ["prev_tid", "next_tid", "ctx.tid"],
              "sched_waking": ["tid", "ctx.tid"], "irq_*": ["ctx.tid"]}


def _events(path, batch_size):
    return [e for b in corr.events(path, PROJECTION, batch_size=batch_size) for e in b.events()]


@pytest.fixture(params=["many-threads", "generated"])
def trace(request, tmp_path):
    if request.param == "generated":
        return generate_kernel_trace(tmp_path / "gen", events=30_000, cpus=4, threads=40,
                                     seed=5).path
    return shared_trace(request.param)


@pytest.mark.parametrize("batch_size", [1000, 32768])
def test_columnwise_tids_equal_the_walk(trace, batch_size, monkeypatch):
    fast = _events(trace, batch_size)
    monkeypatch.setattr(TraceNormaliser, "_with_derived_tids", lambda self, batch, maps: None)
    walked = _events(trace, batch_size)
    assert len(fast) == len(walked) > 1000
    assert fast == walked
    assert sum(1 for *_, f in fast if f.get("ctx.tid") is not None) > len(fast) * 0.9
