"""One switch runs every Python reference; the result is the same as with the C code."""

from __future__ import annotations

from pathlib import Path

import pytest

from corr import accelerators, api
from corr.engine import core
from corr.reading import graph, native_sink
from corr.sched import store

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "llserver" / "trace"


def test_the_switch_turns_every_stage_off(monkeypatch):
    monkeypatch.delenv("CORR_READER", raising=False)
    monkeypatch.setenv("CORR_NATIVE", "off")
    assert not any(accelerators.enabled(stage) for stage in accelerators.STAGES)
    assert not core.available() and not store.available()
    assert graph.choose_sink("auto") is native_sink.NativePythonSink
    monkeypatch.setenv("CORR_NATIVE", "on")
    monkeypatch.setenv("CORR_SCHED", "python")
    assert accelerators.enabled("engine") and not accelerators.enabled("sched")
    with pytest.raises(ValueError):
        accelerators.enabled("render")


@pytest.mark.skipif(not (core.available() and store.available()), reason="C code not built")
def test_the_references_give_the_same_result(monkeypatch):
    import json

    from corr.render import run_json

    def run():
        result = api.run(str(ROOT / "rules" / "offcpu.yaml"), [str(EXAMPLE)], cache=False)
        return json.loads(run_json.render(result))
    accelerated = run()
    monkeypatch.setenv("CORR_NATIVE", "off")
    reference = run()
    assert accelerated["rules"][0]["stats"]["count"] > 0
    assert reference == accelerated

