"""The shipped rules' blame on exact scenarios: wakeup.yaml explains the
woken thread's wait (not the waker's), and every slow interval is
analysed by default (``--blame-limit`` still caps it)."""

from __future__ import annotations

from pathlib import Path

import pytest

import corr.api as api
from corr.testing import Scenario

RULES = Path(__file__).resolve().parent.parent / "rules"


def test_wakeup_blames_the_woken_thread(tmp_path):
    s = Scenario(cpus=2)
    a = s.thread(tid=101, pid=101, comm="sleeper")
    b = s.thread(tid=102, pid=102, comm="hog")
    c = s.thread(tid=103, pid=103, comm="waker")
    s.run(cpu=0, thread=a, at=0)
    s.run(cpu=1, thread=c, at=0)
    s.block(a, at=1_000, next=b)
    s.wakeup(a, by=c, at=2_000, target_cpu=0)
    s.run(cpu=0, thread=a, at=5_000)          # the hog held CPU 0 until then
    s.write(tmp_path / "t", end=6_000)
    base = s.ns_from_origin(0)
    result = api.run(str(RULES / "wakeup.yaml"), [tmp_path / "t"],
                     overrides=["wakeup.threshold=1us"])
    r = result.rule("wakeup").to_dict()
    assert r["blame"]["slow"] == r["blame"]["analysed"] == 1
    (iv,) = r["intervals"]
    assert (iv["blamed_tid"], iv["blamed_comm"]) == (101, "sleeper")
    assert (iv["start_ns"] - base, iv["end_ns"] - base) == (2_000, 5_000)
    assert [(p["kind"], p["by"], p["ns"]) for p in iv["breakdown"]] == [
        ("preempted", "hog (102)", 3_000)]
    assert [(x["tid"], x["state"], x["start_ns"] - base, x["end_ns"] - base)
            for x in iv["critical_path"]] == [(101, "PREEMPTED", 2_000, 5_000)]
    edges = {(e["from"], e["to"]): (e["ns"], e["count"]) for e in r["blame"]["edges"]}
    assert edges == {("tid:101", "tid:102"): (3_000, 1)}


@pytest.fixture(scope="module")
def many_sleeps(tmp_path_factory):
    """1,200 sleeps of 2 us each, every one ended by the same waker."""
    s = Scenario(cpus=2)
    a = s.thread(tid=101, pid=101, comm="sleeper")
    w = s.thread(tid=102, pid=102, comm="waker")
    s.run(cpu=0, thread=a, at=0)
    s.run(cpu=1, thread=w, at=0)
    for k in range(1_200):
        t = 1_000 + k * 5_000
        s.block(a, at=t)
        s.wakeup(a, by=w, at=t + 2_000, target_cpu=0)
        s.run(cpu=0, thread=a, at=t + 2_000 + 100)
    path = tmp_path_factory.mktemp("many") / "trace"
    s.write(path, end=1_000 + 1_200 * 5_000)
    return path


@pytest.mark.parametrize("limit, analysed", [(None, 1_200), (0, 1_200), (5, 5)])
def test_every_slow_interval_is_analysed_by_default(many_sleeps, limit, analysed):
    result = api.run(str(RULES / "offcpu.yaml"), [many_sleeps],
                     overrides=["offcpu.threshold=1us"], blame_limit=limit)
    blame = result.rule("offcpu").to_dict(with_intervals=False)["blame"]
    assert (blame["slow"], blame["analysed"], blame["unattributed"]) == (1_200, analysed, 0)
    edges = {(e["from"], e["to"]): (e["ns"], e["count"]) for e in blame["edges"]}
    assert edges == {("tid:101", "tid:102"): (analysed * 2_000, analysed),
                     ("tid:101", "res:waiting for a CPU"): (analysed * 100, analysed)}
