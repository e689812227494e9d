"""`corr inspect --json` counts equal babeltrace2's on real third-party traces."""

from __future__ import annotations

import json

from conftest import babeltrace2_counts, run_corr, shared_trace


def test_counts_equal_babeltrace2(readable_trace):
    expected, rc = babeltrace2_counts(readable_trace)
    assert rc == 0
    proc = run_corr("inspect", "--json", readable_trace)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    assert got["events"] == sum(expected.values())
    seen = {c["name"]: c["count"] for c in got["event_classes"] if c["count"]}
    assert seen == dict(expected)
    assert got["begin_ns"] <= got["end_ns"]
    assert got["stopped"] is None


def test_many_threads_total_is_known():
    proc = run_corr("inspect", "--json", shared_trace("many-threads"))
    got = json.loads(proc.stdout)
    assert got["events"] == 240_644
    switch = next(c for c in got["event_classes"] if c["name"] == "sched_switch")
    assert switch["count"] == 28_325
    assert [f["name"] for f in switch["fields"]] == [
        "prev_comm", "prev_tid", "prev_prio", "prev_state", "next_comm", "next_tid", "next_prio"]
    assert got["traces"][0]["cpus"] == list(range(8))
    assert got["traces"][0]["tracer"] == "lttng-modules 2.8.0"


def test_hello_lost_reports_events_before_the_error():
    path = shared_trace("hello-lost")
    expected, rc = babeltrace2_counts(path)
    assert rc != 0 and sum(expected.values()) == 38
    proc = run_corr("inspect", "--json", path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"corr: {path}")
    assert "timestamps go backwards" in lines[0]
    got = json.loads(proc.stdout)
    assert got["events"] == 38
    assert {c["name"]: c["count"] for c in got["event_classes"] if c["count"]} == dict(expected)
    assert got["stopped"]["events_before"] == 38
    assert got["stopped"]["at_ns"] == got["end_ns"]


def test_text_output_names_dialect_and_stop_point():
    proc = run_corr("inspect", shared_trace("hello-lost"))
    assert proc.returncode == 2
    assert "lttng-ust" in proc.stdout
    assert "decoding stopped" in proc.stdout and "after 38 events" in proc.stdout
