"""A live session's clock (corr.engine.matcher.Matcher.announce_due): timeouts
announced while no event comes are the ones the recorded trace's pass times out,
each once, and the final table is the same.

Two Python matchers are fed the same random entries and exits; one is also told,
between events, that the clock passed a time no later than the next event (as the
relay's inactivity beacons say).  Offline, ``take_expired`` hands out an entry
when an event (or the end) passes its deadline; live, as soon as the clock does.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from corr.engine.matcher import Matcher

STEP = st.tuples(st.sampled_from(["in", "out"]), st.integers(0, 40),
                 st.sampled_from([0, 1, 2, 3]),
                 st.one_of(st.none(), st.integers(0, 40)))     # a quiet tick before it, at gap-x


def _table(m):
    table = m.intervals
    return [table.row(i) for i in range(len(table))]


def _feed(m, steps, tail, live):
    handed, t = [], 0
    m.watch_expired()
    for kind, gap, key, quiet in steps:
        if live and quiet is not None:
            m.announce_due(t + min(quiet, gap))          # no later than the next event
            handed += m.take_expired()
        t += gap
        (m.entry if kind == "in" else m.exit)(t, key, 7, 0, "p", None)
        handed += m.take_expired()
    m.finish(t + tail)
    handed += m.take_expired()
    return handed


@settings(max_examples=400, deadline=None)
@given(st.lists(STEP, max_size=60), st.sampled_from(["nest", "fifo", "first", "last"]),
       st.integers(1, 60), st.integers(0, 80))
def test_announced_timeouts_are_the_offline_ones_once_and_the_table_is_the_same(
        steps, match, timeout, tail):
    offline = Matcher("r", ["k"], match, timeout)
    live = Matcher("r", ["k"], match, timeout)
    offline_handed = _feed(offline, steps, tail, live=False)
    live_handed = _feed(live, steps, tail, live=True)
    assert sorted(live_handed, key=repr) == sorted(offline_handed, key=repr)
    assert _table(live) == _table(offline)


def test_an_entry_is_announced_when_the_clock_passes_its_deadline_not_before():
    m = Matcher("r", ["k"], "nest", 10)
    m.watch_expired()
    m.entry(100, "a", 7, 0, "p", None)
    m.announce_due(110)                    # the deadline itself: not passed yet
    assert m.take_expired() == []
    m.announce_due(111)
    assert m.take_expired() == [(100, "a", 7, 0, "p", None)]
    m.announce_due(500)                    # once only
    assert m.take_expired() == []
    m.exit(600, "a", 7, 0, "p", None)      # late: the event passes the deadline, no second hand-out
    assert m.take_expired() == []
    m.finish(700)
    assert [(r["status"], r["duration_ns"]) for r in _table(m)] == [("late", 500)]
