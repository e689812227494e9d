"""corr on traces whose every event is known: the scenario writer's.

Counts and discarded events are checked against babeltrace2 and against
what the scenario declared; the three readers must agree; the current
thread derived from the sched_switch history must equal the one a `tid`
context records.
"""

from __future__ import annotations

import json

import bt2
import pytest

import corr
from conftest import babeltrace2_counts, run_corr
from test_reader_differential import assert_readers_agree
from test_scenario import build_full_scenario, ns
from test_recording import COMMITTED

from corr.testing import generate_kernel_trace


@pytest.fixture(scope="module")
def full_session(tmp_path_factory):
    path = tmp_path_factory.mktemp("scenario") / "session"
    written = build_full_scenario().write(path)
    return written


def _bt2_discards(path):
    """Discarded-events messages as bt2's public API reports them."""
    out = []
    for msg in bt2.TraceCollectionMessageIterator(str(path)):
        if isinstance(msg, bt2._DiscardedEventsMessageConst):
            out.append((msg.count, msg.beginning_default_clock_snapshot.ns_from_origin,
                        msg.end_default_clock_snapshot.ns_from_origin))
    return out


def test_inspect_counts_and_discards_of_a_scenario(full_session):
    got = json.loads(run_corr("inspect", "--json", full_session.root).stdout)
    expected = {}
    for half in (full_session.kernel, full_session.ust):
        counts, rc = babeltrace2_counts(half)
        assert rc == 0
        expected.update(counts)
    assert {c["name"]: c["count"] for c in got["event_classes"] if c["count"]} == expected
    assert got["events"] == sum(expected.values())
    # The scenario lost 12 events on CPU 0 between t=1500 and t=3000.
    assert got["discarded_events"] == 12
    [discard] = got["discards"]
    assert discard["cpu"] == 0 and discard["count"] == 12 and discard["kind"] == "events"
    assert [(12, discard["begin_ns"], discard["end_ns"])] == _bt2_discards(full_session.kernel)
    assert discard["begin_ns"] == ns(1_500) and discard["end_ns"] == ns(3_000)


def test_text_inspect_shows_the_loss(full_session):
    out = run_corr("inspect", full_session.root).stdout
    assert "lost 12 events on cpu 0" in out


def test_readers_agree_on_a_scenario(full_session):
    events = assert_readers_agree(full_session.root)
    assert any(name == "llserver:process_start" for _, name, _, _ in events)


def test_readers_agree_on_a_generated_trace(tmp_path):
    generated = generate_kernel_trace(tmp_path / "gen", events=20_000, cpus=4, threads=50, seed=3)
    events = assert_readers_agree(generated.path)
    assert len(events) == 20_000
    counts, rc = babeltrace2_counts(generated.path)
    got = json.loads(run_corr("inspect", "--json", generated.path).stdout)
    assert {c["name"]: c["count"] for c in got["event_classes"] if c["count"]} == dict(counts)


def test_readers_agree_on_the_committed_recording():
    events = assert_readers_agree(COMMITTED)
    assert {"sched:sched_switch", "raw_syscalls:sys_enter", "llserver:process_end"} <= {
        name for _, name, _, _ in events}


def _scenario_tids(tmp_path, name, with_context):
    ctx = ("tid",) if with_context else ()
    written = build_full_scenario(kernel_context=ctx).write(tmp_path / name)
    out = []
    for batch in corr.events(written.kernel, {"*": ["ctx.tid"]}):
        for ts, ev, cpu, f in batch.events():
            out.append((ts, ev, cpu, f["ctx.tid"]))
    return out


def test_derived_tid_equals_the_tid_context(tmp_path):
    with_context = _scenario_tids(tmp_path, "ctx", True)
    derived = _scenario_tids(tmp_path, "derived", False)
    assert len(derived) == len(with_context) > 20
    assert derived == with_context


def test_several_paths_merge_in_time_order(tmp_path):
    """Two traces given at once: one stream, ordered, every event of both."""
    a = generate_kernel_trace(tmp_path / "a", events=3_000, cpus=2, threads=10, seed=1).path
    b = generate_kernel_trace(tmp_path / "b", events=2_000, cpus=2, threads=10, seed=2).path
    ts = [t for batch in corr.events([a, b], {"*": ()}) for t in batch.ts]
    assert len(ts) == 5_000
    assert ts == sorted(ts)
    got = json.loads(run_corr("inspect", "--json", a, b).stdout)
    assert got["events"] == 5_000 and len(got["traces"]) == 2


def test_per_pid_ust_buffers_are_found(tmp_path):
    s = build_full_scenario(ust_buffering="pid")
    written = s.write(tmp_path / "session")
    assert "/ust/pid/" in str(written.ust)
    got = json.loads(run_corr("inspect", "--json", written.root).stdout)
    names = {c["name"] for c in got["event_classes"] if c["count"]}
    assert "llserver:process_start" in names and "sched_switch" in names


def test_explicit_clock_offset_shifts_one_trace(full_session):
    plain = json.loads(run_corr("inspect", "--json", full_session.kernel).stdout)
    shifted = json.loads(run_corr("inspect", "--json", "--clock-offset",
                                  f"{full_session.kernel}=-1000", full_session.kernel).stdout)
    assert shifted["begin_ns"] == plain["begin_ns"] - 1000
    assert shifted["end_ns"] == plain["end_ns"] - 1000
    assert "--clock-offset" in shifted["traces"][0]["alignment"]
