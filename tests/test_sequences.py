"""Rules with steps (docs/rules.md, "Sequences"): exact intervals from scenarios, the
loader's errors, and by hypothesis the conservation of entries and the steps' captures
against a direct reading of the timeline."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import corr.api
from corr.engine import core
from corr.engine.matcher import Matcher
from corr.engine.sequence import SequenceMatcher
from corr.errors import RuleError
from corr.rules import parse_rules
from corr.testing import Scenario

MUST = "step {} did not happen (occurs: must)"
MUST_NOT = "step {} happened (occurs: must_not)"


@pytest.fixture(params=["core", "python"])
def engine(request, monkeypatch):
    """Every engine test twice: with the C core, and with the Python matchers."""
    if request.param == "python":
        monkeypatch.setenv("CORR_ENGINE", "python")
    elif not core.available():
        pytest.skip("the C core is not built")
    return request.param


def run(tmp_path: Path, s: Scenario, rules: str):
    trace = s.write(tmp_path / "trace").root
    path = tmp_path / "rules.yaml"
    path.write_text(rules)
    return corr.api.run(path, [trace], cache=False)


def rows(s: Scenario, rule, *extra):
    """(start, end, status, key, group, *fields) of every interval, scenario times, by start."""
    out = []
    for r in rule.selected_intervals(all_intervals=True):
        fields = r.get("fields") or {}
        out.append((r["start_ns"] - s.ns_from_origin(0), r["end_ns"] - s.ns_from_origin(0),
                    r["status"], r["key"], r["group"], *(fields.get(f) for f in extra)))
    return sorted(out)


def outcomes(rule) -> dict:
    o = rule.outcomes
    assert o["entries"] == o["complete"] + o["late"] + o["timeouts"] + o["incomplete"] + o["dropped"]
    return {k: o[k] for k in ("entries", "complete", "late", "timeouts", "incomplete",
                              "dropped", "dropped_reasons")}


def connections() -> Scenario:
    """Five connections on fds 3..7, each ended (or not) by a reason event before its close."""
    s = Scenario(cpus=1)
    a = s.thread(tid=101, pid=100, comm="srv")
    s.run(cpu=0, thread=a, at=0)
    s.ust(a, "app:open", at=100, fd=3)
    s.ust(a, "app:why", at=200, fd=3, reason="hangup")
    s.ust(a, "app:close", at=300, fd=3)                 # hangup
    s.ust(a, "app:open", at=400, fd=4)
    s.ust(a, "app:why", at=450, fd=4, reason="hangup")
    s.ust(a, "app:why", at=500, fd=4, reason="timeout")
    s.ust(a, "app:close", at=600, fd=4)                 # two reasons: the last, timeout
    s.ust(a, "app:open", at=700, fd=5)
    s.ust(a, "app:close", at=800, fd=5)                 # no reason
    s.ust(a, "app:open", at=900, fd=6)
    s.ust(a, "app:why", at=5_000, fd=6, reason="late")  # past within (1us) of its entry
    s.ust(a, "app:close", at=5_100, fd=6)
    s.ust(a, "app:why", at=5_200, fd=3, reason="stray")  # fd 3 closed: nobody waits
    s.ust(a, "app:open", at=5_300, fd=7)
    s.ust(a, "app:why", at=5_400, fd=7, reason="hangup")  # never closed: incomplete
    return s


LIFETIME = """\
version: 1
rules:
  - name: life
    entry: {event: "app:open", key: [fd]}
    exit: {event: "app:close", key: [fd]}
    steps:
      - name: why
        event: "app:why"
        key: [fd]
        fields: [reason]
        within: 1us
    group_by: [steps.why.reason]
"""


def test_lifetime_grouped_by_how_it_ended(tmp_path, engine):
    s = connections()
    life = run(tmp_path, s, LIFETIME).rule("life")
    assert rows(s, life, "steps.why.reason") == [
        (100, 300, "complete", 3, "hangup", "hangup"),
        (400, 600, "complete", 4, "timeout", "timeout"),     # the last occurrence
        (700, 800, "complete", 5, None, None),               # may: null when absent
        (900, 5_100, "complete", 6, None, None),             # its reason came too late
        (5_300, 5_400, "incomplete", 7, "hangup", "hangup"),
    ]
    assert outcomes(life) == {"entries": 5, "complete": 4, "late": 0, "timeouts": 0,
                              "incomplete": 1, "dropped": 0, "dropped_reasons": {}}


def test_must_and_must_not_drop_with_a_reason(tmp_path, engine):
    s = connections()
    rules = LIFETIME.replace("        within: 1us\n", "        occurs: must\n")
    life = run(tmp_path, s, rules).rule("life")
    assert [r[:4] for r in rows(s, life)] == [
        (100, 300, "complete", 3), (400, 600, "complete", 4), (900, 5_100, "complete", 6),
        (5_300, 5_400, "incomplete", 7)]
    assert outcomes(life)["dropped_reasons"] == {MUST.format("why"): 1}
    rules = LIFETIME.replace("        within: 1us\n", "        occurs: must_not\n        within: 1us\n")
    life = run(tmp_path / "not", s, rules).rule("life")
    assert [r[:4] for r in rows(s, life)] == [(700, 800, "complete", 5),
                                             (900, 5_100, "complete", 6)]
    assert outcomes(life)["dropped_reasons"] == {MUST_NOT.format("why"): 3}


def test_requests_without_a_response_within_100ms(tmp_path, engine):
    """A request, to the end of its connection, that got no response in its first 100 ms
    (one response at 150 ms counts not; a timeout keeps its steps' verdict)."""
    ms = 1_000_000
    s = Scenario(cpus=1)
    a = s.thread(tid=101, pid=100, comm="srv")
    s.run(cpu=0, thread=a, at=0)
    s.ust(a, "app:request", at=0, id=1)
    s.ust(a, "app:response", at=50 * ms, id=1)        # answered in time
    s.ust(a, "app:done", at=60 * ms, id=1)
    s.ust(a, "app:request", at=100 * ms, id=2)
    s.ust(a, "app:response", at=250 * ms, id=2)       # 150 ms after: too late
    s.ust(a, "app:done", at=260 * ms, id=2)
    s.ust(a, "app:request", at=300 * ms, id=3)
    s.ust(a, "app:done", at=310 * ms, id=3)           # never answered
    s.ust(a, "app:request", at=400 * ms, id=4)        # never done: timeout at 900 ms
    s.ust(a, "app:response", at=420 * ms, id=4)       # answered: dropped all the same
    s.ust(a, "app:request", at=500 * ms, id=5)        # never done nor answered: timeout
    s.ust(a, "app:done", at=1_200 * ms, id=99)
    rules = """\
version: 1
rules:
  - name: unanswered
    entry: {event: "app:request", key: [id]}
    exit: {event: "app:done", key: [id]}
    timeout: 500ms
    steps:
      - name: response
        event: "app:response"
        key: [id]
        occurs: must_not
        within: 100ms
"""
    rule = run(tmp_path, s, rules).rule("unanswered")
    assert [r[:4] for r in rows(s, rule)] == [
        (100 * ms, 260 * ms, "complete", 2), (300 * ms, 310 * ms, "complete", 3),
        (500 * ms, 1_000 * ms, "timeout", 5)]
    assert outcomes(rule) == {"entries": 5, "complete": 2, "late": 0, "timeouts": 1,
                              "incomplete": 0, "dropped": 2,
                              "dropped_reasons": {MUST_NOT.format("response"): 2}}


def test_steps_in_where_and_strictly_between(tmp_path, engine):
    """``where`` reads steps; an event that is also the exit or the entry is no step of
    that interval; a plain rule beside it is matched as before (by the C core)."""
    s = Scenario(cpus=1)
    a = s.thread(tid=101, pid=100, comm="srv")
    s.run(cpu=0, thread=a, at=0)
    s.ust(a, "app:ev", at=100, k=1, what="open", n=0)
    s.ust(a, "app:ev", at=200, k=1, what="mark", n=5)
    s.ust(a, "app:ev", at=300, k=1, what="close", n=7)
    s.ust(a, "app:ev", at=400, k=1, what="open", n=9)
    s.ust(a, "app:ev", at=500, k=1, what="close", n=1)
    s.ust(a, "app:ev", at=600, k=1, what="open", n=8)
    s.ust(a, "app:ev", at=700, k=1, what="mark", n=2)
    s.ust(a, "app:ev", at=800, k=1, what="close", n=0)
    rules = """\
version: 1
rules:
  - name: seq
    entry: {event: "app:ev", key: [k], where: 'what == "open"'}
    exit: {event: "app:ev", key: [k], where: 'what == "close"'}
    steps:
      - name: any
        event: "app:ev"
        key: [k]
        fields: [n, what]
    where: 'steps.any.what == "mark" and steps.any.n > 3'
  - name: plain
    entry: {event: "app:ev", key: [k], where: 'what == "open"'}
    exit: {event: "app:ev", key: [k], where: 'what == "close"'}
"""
    result = run(tmp_path, s, rules)
    seq = result.rule("seq")
    # Between 400 and 500 nothing (the entry and exit events are not steps): null, where
    # false; between 600 and 800 a mark with n 2: where false.
    assert rows(s, seq, "steps.any.n", "steps.any.what") == [
        (100, 300, "complete", 1, None, 5, "mark")]
    assert outcomes(seq)["dropped_reasons"] == {"filtered out by the rule's where": 2}
    assert [r[:4] for r in rows(s, result.rule("plain"))] == [
        (100, 300, "complete", 1), (400, 500, "complete", 1), (600, 800, "complete", 1)]


def test_steps_of_nested_and_timed_out_entries(tmp_path, engine):
    """A step is seen by every entry waiting under its key, timed out ones too (a late
    exit keeps it); a cancel drops the entry and what it saw."""
    s = Scenario(cpus=1)
    a = s.thread(tid=101, pid=100, comm="srv")
    s.run(cpu=0, thread=a, at=0)
    s.ust(a, "app:in", at=100, k=1)
    s.ust(a, "app:in", at=200, k=1)
    s.ust(a, "app:mark", at=300, k=1, n=1)
    s.ust(a, "app:out", at=400, k=1)                 # the inner (200): mark 1
    s.ust(a, "app:mark", at=2_000, k=1, n=2)         # the outer timed out at 1_100: seen
    s.ust(a, "app:out", at=2_100, k=1)               # late, mark 2
    s.ust(a, "app:in", at=3_000, k=2)
    s.ust(a, "app:mark", at=3_100, k=2, n=3)
    s.ust(a, "app:cancel", at=3_200, k=2)
    s.ust(a, "app:out", at=3_300, k=2)               # nothing open
    rules = """\
version: 1
rules:
  - name: r
    entry: {event: "app:in", key: [k]}
    exit: {event: "app:out", key: [k]}
    cancel: [{event: "app:cancel", key: [k]}]
    timeout: 1us
    steps:
      - {name: m, event: "app:mark", key: [k], fields: [n]}
"""
    r = run(tmp_path, s, rules).rule("r")
    assert rows(s, r, "steps.m.n") == [(100, 2_100, "late", 1, None, 2),
                                       (200, 400, "complete", 1, None, 1)]
    assert outcomes(r) == {"entries": 3, "complete": 1, "late": 1, "timeouts": 0,
                           "incomplete": 0, "dropped": 1,
                           "dropped_reasons": {"cancelled by app:cancel": 1}}


@pytest.mark.parametrize("text, needle", [
    ("steps: [{name: a, event: x, key: [k]}]\n    group_by: [steps.b.n]",
     "group_by: steps.b.n names no step (a)"),
    ("steps: [{name: a, event: x, key: [k]}, {name: a, event: y, key: [k]}]",
     "steps[1].name: duplicate step name"),
    ("steps: [{name: a, event: x, key: [j]}]", "steps[0].key: parts (j) differ"),
    ("steps: [{name: a, event: x, key: [k], occurs: maybe}]", "occurs"),
    ("steps: [{name: a, event: x, key: [k], within: soon}]", "within"),
    ("where: 'steps.a > 1'", "needs a step and a field"),
])
def test_bad_steps_are_located_errors(text, needle):
    rules = ("version: 1\nrules:\n  - name: r\n    entry: {event: e, key: [k]}\n"
             f"    exit: {{event: x, key: [k]}}\n    {text}\n")
    with pytest.raises(RuleError) as err:
        parse_rules(rules)
    assert needle in str(err.value)


def test_a_span_rule_has_no_steps():
    with pytest.raises(RuleError, match="a span rule measures single events: it has no steps"):
        parse_rules("version: 1\nrules:\n  - name: s\n    span: {event: e, duration: d}\n"
                    "    steps: [{name: a, event: x, key: [tid]}]\n")


# -- by hypothesis: conservation, and captures as the timeline says -------------------------

timelines = st.lists(st.tuples(st.sampled_from(["in", "in", "out", "out", "step", "step",
                                                "cancel"]),
                               st.integers(0, 30), st.integers(0, 2)), max_size=80)


def _feed(m, timeline, end):
    for pos, (kind, ts, key) in enumerate(timeline):
        if kind == "in":
            m.entry(ts, key, None, None, None, (pos,))
        elif kind == "out":
            m.exit(ts, key, None, None, None, (pos,))
        elif kind == "step":
            if hasattr(m, "step"):
                m.step(ts, key, 0, (pos,))
        else:
            m.cancel(ts, key, "x")
    m.finish(end)
    return m


def _intervals(m):
    return sorted(tuple(m.intervals.row(i)[f] for f in ("start_ns", "end_ns", "status", "key"))
                  + tuple(m.intervals.row(i)["fields"].values())
                  for i in range(len(m.intervals)))


@settings(max_examples=300, deadline=None)
@given(timelines, st.sampled_from(["nest", "fifo", "first", "last"]),
       st.one_of(st.none(), st.integers(1, 60)), st.one_of(st.none(), st.integers(0, 40)),
       st.integers(0, 80))
def test_every_entry_is_accounted_for_and_steps_partition(raw, match, timeout, within, tail):
    t, timeline = 0, []
    for kind, gap, key in raw:
        t += gap
        timeline.append((kind, t, key))

    def sequence(occurs):
        return _feed(SequenceMatcher("r", ["k"], match, timeout, None, None,
                                     ("eid", "xid", "steps.s.pos"), ("eid",), ("xid",),
                                     steps=[("s", occurs, within, 1)],
                                     value_names=("xid", "steps.s.pos")), timeline, t + tail)

    plain = _feed(Matcher("r", ["k"], match, timeout, None, None, ("eid", "xid"), ("eid",),
                          ("xid",)), timeline, t + tail)
    entries = sum(1 for k, _, _ in timeline if k == "in")
    runs = {occurs: sequence(occurs) for occurs in ("may", "must", "must_not")}
    # The C core agrees with its Python reference, interval for interval.
    if core.available():
        for occurs, m in runs.items():
            c = _feed(core.CoreMatcher("r", ["k"], match, timeout, None, None,
                                       ("eid", "xid", "steps.s.pos"), ("eid",), ("xid",),
                                       steps=[("s", occurs, within, 1)],
                                       value_names=("xid", "steps.s.pos")), timeline, t + tail)
            assert _intervals(c) == _intervals(m)
            assert c.outcome_counts() == m.outcome_counts()
    for occurs, m in runs.items():
        c = m.outcome_counts()
        assert c["entries"] == entries
        assert c["entries"] == (c["complete"] + c["late"] + c["timeouts"] + c["incomplete"]
                                + c["dropped"])
        assert c["dropped"] == sum(c["dropped_reasons"].values())
        assert c["exits_without_entry"] == plain.outcome_counts()["exits_without_entry"]
    # ``may`` pairs exactly as without steps; ``must`` and ``must_not`` split those
    # intervals between them, each dropping what the other keeps.
    expected = _intervals(plain)
    may = _intervals(runs["may"])
    assert [row[:6] for row in may] == expected
    must, must_not = _intervals(runs["must"]), _intervals(runs["must_not"])
    assert sorted(must + must_not) == may
    assert all(row[6] is not None for row in must) and all(row[6] is None for row in must_not)
    assert runs["must"].outcome_counts()["dropped"] - plain.outcome_counts()["dropped"] == len(must_not)
    # Each closed interval's capture: the last step event under its key strictly
    # between its entry and its exit, within the limit of the entry.
    for start, _end, status, key, eid, xid, seen in may:
        if xid is None:
            continue
        between = [pos for pos, (kind, ts, k) in enumerate(timeline)
                   if kind == "step" and k == key and eid < pos < xid
                   and (within is None or ts - start <= within)]
        assert seen == (between[-1] if between else None), (status, eid, xid)


def test_steps_are_decoded_and_checked(tmp_path):
    """A step's events are in the projection with what the rule reads of them, and
    ``check`` names a field they lack."""
    from corr.engine.checks import check_against_traces
    from corr.engine.plan import projection_for
    from corr.reading import open_traces
    rules = parse_rules(LIFETIME.replace("    group_by: [steps.why.reason]\n",
                                         "    group_by: [steps.why.reason]\n"
                                         "    where: steps.why.code > 1\n"))
    wanted = dict(projection_for(rules).wanted)
    assert {"fd", "reason", "code"} <= set(wanted["app:why"])
    trace = connections().write(tmp_path / "trace").root
    warnings = check_against_traces(rules, open_traces([trace]))
    assert any("step events 'app:why' have no field 'code'" in w for w in warnings)
