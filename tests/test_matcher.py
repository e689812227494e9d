"""The matcher's semantics, exactly, and its conservation of entries."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from corr.engine.intervals import STATUS_NAMES
from corr.engine.matcher import Matcher


def _rows(m: Matcher):
    return [(r["start_ns"], r["end_ns"], r["status"], r["key"])
            for r in (m.intervals.row(i) for i in range(len(m.intervals)))]


def _feed(m: Matcher, events, end):
    for kind, ts, key in events:
        if kind == "in":
            m.entry(ts, key, None, None, None, None)
        elif kind == "out":
            m.exit(ts, key, None, None, None, None)
        else:
            m.cancel(ts, key, "exit")
    m.finish(end)
    return m


def test_nest_pairs_the_innermost():
    m = _feed(Matcher("r", ["k"], "nest"),
              [("in", 0, 1), ("in", 10, 1), ("out", 15, 1), ("out", 30, 1)], 100)
    assert _rows(m) == [(10, 15, "complete", 1), (0, 30, "complete", 1)]


def test_fifo_pairs_the_oldest():
    m = _feed(Matcher("r", ["k"], "fifo"),
              [("in", 0, 1), ("in", 10, 1), ("out", 15, 1), ("out", 30, 1)], 100)
    assert _rows(m) == [(0, 15, "complete", 1), (10, 30, "complete", 1)]


def test_first_ignores_later_entries():
    m = _feed(Matcher("r", ["k"], "first"),
              [("in", 0, 1), ("in", 10, 1), ("out", 15, 1)], 100)
    assert _rows(m) == [(0, 15, "complete", 1)]
    assert m.outcome_counts()["dropped_reasons"] == {
        "ignored: its key was already open (match: first)": 1}


def test_last_replaces_the_open_entry():
    m = _feed(Matcher("r", ["k"], "last"),
              [("in", 0, 1), ("in", 10, 1), ("out", 15, 1)], 100)
    assert _rows(m) == [(10, 15, "complete", 1)]
    assert m.outcome_counts()["dropped"] == 1


def test_keys_are_independent():
    m = _feed(Matcher("r", ["k"], "nest"),
              [("in", 0, "a"), ("in", 5, "b"), ("out", 7, "a"), ("out", 9, "b"), ("out", 11, "c")], 20)
    assert _rows(m) == [(0, 7, "complete", "a"), (5, 9, "complete", "b")]
    assert m.outcome_counts()["exits_without_entry"] == 1


def test_timeout_late_and_incomplete():
    m = _feed(Matcher("r", ["k"], "nest", timeout_ns=100),
              [("in", 0, 1),        # no exit: times out at 100
               ("in", 10, 2), ("out", 150, 2),      # exit after its deadline (110): late
               ("in", 20, 3), ("out", 120, 3),      # exactly at its deadline: complete
               ("in", 400, 4)],     # still open at the end, deadline after it: incomplete
              450)
    assert sorted(_rows(m)) == [(0, 100, "timeout", 1), (10, 150, "late", 2),
                                (20, 120, "complete", 3), (400, 450, "incomplete", 4)]
    counts = m.outcome_counts()
    assert (counts["complete"], counts["late"], counts["timeouts"], counts["incomplete"]) == (1, 1, 1, 1)


def test_deadline_before_trace_end_is_a_timeout():
    m = _feed(Matcher("r", ["k"], "last", timeout_ns=50), [("in", 0, 1)], 50)
    assert _rows(m) == [(0, 50, "timeout", 1)]


def test_first_reopens_after_a_timeout():
    m = _feed(Matcher("r", ["k"], "first", timeout_ns=10),
              [("in", 0, 1), ("in", 20, 1), ("out", 25, 1)], 30)
    assert sorted(_rows(m)) == [(0, 10, "timeout", 1), (20, 25, "complete", 1)]


def test_cancel_drops_open_entries():
    m = _feed(Matcher("r", ["k"], "nest"),
              [("in", 0, 1), ("in", 1, 1), ("cancel", 5, 1), ("out", 6, 1)], 10)
    assert _rows(m) == []
    counts = m.outcome_counts()
    assert counts["dropped_reasons"] == {"cancelled by exit": 2}
    assert counts["exits_without_entry"] == 1


def test_pair_filter_and_groups():
    m = Matcher("r", ["k"], "nest", pair_filter=lambda e, x, d: d < 50,
                grouper=lambda e, x, key, d: key % 2)
    _feed(m, [("in", 0, 1), ("out", 10, 1), ("in", 0, 2), ("out", 60, 2), ("in", 70, 3),
              ("out", 80, 3)], 100)
    assert _rows(m) == [(0, 10, "complete", 1), (70, 80, "complete", 3)]
    assert m.groups == {1: 0}
    assert m.outcome_counts()["dropped_reasons"] == {"filtered out by the rule's where": 1}


events = st.lists(st.tuples(st.sampled_from(["in", "in", "out", "out", "cancel"]),
                            st.integers(0, 30), st.integers(0, 3)), max_size=80)


@settings(max_examples=300, deadline=None)
@given(events, st.sampled_from(["nest", "fifo", "first", "last"]),
       st.one_of(st.none(), st.integers(1, 60)), st.integers(0, 80))
def test_every_entry_is_accounted_for(steps, match, timeout, tail):
    # Turn gaps into a non-decreasing timeline.
    t = 0
    timeline = []
    for kind, gap, key in steps:
        t += gap
        timeline.append((kind, t, key))
    m = _feed(Matcher("r", ["k"], match, timeout_ns=timeout), timeline, t + tail)
    c = m.outcome_counts()
    assert c["entries"] == sum(1 for k, _, _ in timeline if k == "in")
    assert c["entries"] == c["complete"] + c["late"] + c["timeouts"] + c["incomplete"] + c["dropped"]
    exits = sum(1 for k, _, _ in timeline if k == "out")
    assert c["complete"] + c["late"] + c["exits_without_entry"] == exits
    for i in range(len(m.intervals)):
        row = m.intervals.row(i)
        assert row["duration_ns"] >= 0
        if timeout is not None and row["status"] == "complete":
            assert row["duration_ns"] <= timeout
        if row["status"] == "late":
            assert row["duration_ns"] > timeout
        if row["status"] == "timeout":
            assert row["duration_ns"] == timeout
    assert set(STATUS_NAMES) >= {m.intervals.row(i)["status"] for i in range(len(m.intervals))}
