"""The C core matches exactly as the Python matcher does.

Both are fed the same random streams (entries, exits, cancels and spans,
with thread ids, CPUs, names learnt along the way, captured values, every
pair filter and group kind and every match policy); their interval tables,
groups and accounting must be identical.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corr.engine import core
from corr.engine.matcher import Matcher, group_function, pair_function

pytestmark = pytest.mark.skipif(core._core is None, reason="the C core was not built")

PAIRS = [None, (0, 0, 1, 0), (1, 1, 0, 0), lambda e, x, d: d % 3 != 1]
GROUPS = [None, ("key",), ("entry", 0), ("exit", 1), lambda e, x, key, d: (key, d > 20)]
VALUES = st.one_of(st.none(), st.tuples(st.sampled_from([None, 1, 2, "a", 1.0]),
                                        st.sampled_from([None, 0, "b", "c"])))
STEP = st.tuples(st.sampled_from(["in", "in", "out", "out", "cancel", "span", "name"]),
                 st.integers(0, 30),                        # gap
                 st.sampled_from([0, 1, 2, (1, 2), "k"]),   # key
                 st.sampled_from([None, 0, 7, 8]),          # tid
                 st.sampled_from([None, 0, 1]),             # cpu
                 st.sampled_from([None, "proc"]),           # comm
                 VALUES,
                 st.sampled_from([-1, 0, 5, 2.5, None, 40]))  # span duration


def _feed(m, names, steps, end):
    t = 0
    for kind, gap, key, tid, cpu, comm, values, duration in steps:
        t += gap
        _feed_step(m, names, t, kind, key, tid, cpu, comm, values, duration)
    m.finish(t + end)
    return m


def _table(m):
    table = m.intervals
    return [table.row(i) | {"group": table.group[i]} for i in range(len(table))]


@settings(max_examples=400, deadline=None)
@given(st.lists(STEP, max_size=60), st.sampled_from(["nest", "fifo", "first", "last"]),
       st.one_of(st.none(), st.integers(1, 60)), st.integers(0, 80),
       st.integers(0, len(PAIRS) - 1), st.integers(0, len(GROUPS) - 1),
       st.sampled_from([(), ("x",), ("x", "y", "z")]))
def test_core_equals_the_python_matcher(steps, match, timeout, tail, pair, group, fields):
    entry_names, exit_names = ("x", "z"), ("y", "x")
    py_names, c_names = {}, {}
    reference = Matcher("r", ["k"], match, timeout, pair_function(PAIRS[pair]),
                        group_function(GROUPS[group]), fields, entry_names, exit_names)
    reference.name_of = lambda tid, cpu: (None if cpu is None else f"swapper/{cpu}") \
        if tid == 0 else py_names.get(tid)
    fast = core.CoreMatcher("r", ["k"], match, timeout, PAIRS[pair], GROUPS[group], fields,
                            entry_names, exit_names, names=c_names)
    _feed(reference, py_names, steps, tail)
    _feed(fast, c_names, steps, tail)
    assert _table(fast) == _table(reference)
    assert fast.groups == reference.groups
    assert fast.outcome_counts() == reference.outcome_counts()


def test_interval_columns_keep_their_types():
    m = core.CoreMatcher("r", ["k"], "nest", None, None, None, (), (), (), names={})
    m.entry(1, 5, 7, 0, "a", None)
    m.exit(4, 5, 7, 0, None, None)
    m.finish(10)
    assert m.intervals.key.typecode == "q"
    assert m.intervals.row(0)["key"] == 5 and m.intervals.row(0)["comm"] == "a"
    m = core.CoreMatcher("r", ["k"], "nest", None, None, None, (), (), (), names={})
    m.entry(1, 5, None, None, None, None)
    m.entry(2, "s", None, None, None, None)
    m.finish(10)
    assert [m.intervals.row(i)["key"] for i in range(2)] == [5, "s"]


# The library's callbacks (corr.engine.decisions): the entries that time out, taken
# as they do; expiring at a batch's end and reading the table so far change nothing.

def _feed_watched(m, names, steps, end):
    m.watch_expired()
    seen = []
    t = 0
    for n, (kind, gap, key, tid, cpu, comm, values, duration) in enumerate(steps):
        t += gap
        if kind == "name" and tid in (7, 8):     # a batch ends here
            m.expire(t)
        _feed_step(m, names, t, kind, key, tid, cpu, comm, values, duration)
        seen.append((n, m.take_expired(), len(m.table_so_far())))
    m.expire(t + end, True)
    seen.append(("end", m.take_expired()))
    m.finish(t + end)
    seen.append(("finish", m.take_expired(), len(m.table_so_far())))
    return seen


def _feed_step(m, names, t, kind, key, tid, cpu, comm, values, duration):
    if kind == "in":
        m.entry(t, key, tid, cpu, comm, values)
    elif kind == "out":
        m.exit(t, key, tid, cpu, comm, values)
    elif kind == "cancel":
        m.cancel(t, key, "sched_process_exit")
    elif kind == "span":
        m.span(t, key, tid, cpu, comm, values, duration)
    elif tid:
        names[tid] = f"name-{t}"


@settings(max_examples=300, deadline=None)
@given(st.lists(STEP, max_size=60), st.sampled_from(["nest", "fifo", "first", "last"]),
       st.one_of(st.none(), st.integers(1, 60)), st.integers(0, 80),
       st.integers(0, len(GROUPS) - 1))
def test_timed_out_entries_are_taken_alike(steps, match, timeout, tail, group):
    entry_names, exit_names = ("x", "z"), ("y", "x")
    py_names, c_names = {}, {}
    reference = Matcher("r", ["k"], match, timeout, None, group_function(GROUPS[group]),
                        ("x",), entry_names, exit_names)
    reference.name_of = lambda tid, cpu: (None if cpu is None else f"swapper/{cpu}") \
        if tid == 0 else py_names.get(tid)
    fast = core.CoreMatcher("r", ["k"], match, timeout, None, GROUPS[group], ("x",),
                            entry_names, exit_names, names=c_names)
    watched = _feed_watched(reference, py_names, steps, tail)
    assert _feed_watched(fast, c_names, steps, tail) == watched
    assert _table(fast) == _table(reference)
    # Without the watch and the batch-end expiries, the same intervals.
    plain = Matcher("r", ["k"], match, timeout, None, group_function(GROUPS[group]), ("x",),
                    entry_names, exit_names)
    plain_names: dict = {}
    plain.name_of = lambda tid, cpu: (None if cpu is None else f"swapper/{cpu}") \
        if tid == 0 else plain_names.get(tid)
    _feed(plain, plain_names, steps, tail)
    assert _table(plain) == _table(reference)
    # Every entry that timed out was taken once, and ended late or a timeout.
    expired = sum(len(step[1]) for step in watched)
    outcomes = reference.outcome_counts()
    assert expired == outcomes["timeouts"] + outcomes["late"]
