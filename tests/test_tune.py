"""``corr tune``: exact distributions, candidates and suggestions; writing thresholds back.

The scenario's intervals have durations chosen by hand, so the histogram
buckets, the nearest-rank percentiles, the counts each candidate flags and
the knee-of-the-tail suggestion are all known exactly.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import corr.api
from conftest import one_line_error, run_corr
from corr.analyses.tuning import (THRESHOLD_STEPS, Bucket, flagged_counts, histogram, step_down,
                                  step_up, suggest)
from corr.errors import UsageError
from corr.rules import load_rules
from corr.rules.writer import updated_text
from corr.testing import Scenario

RULES = """\
# tuning scenario
version: 1
rules:
  - name: req
    entry: {event: "app:start", key: [seqno], fields: [op]}
    exit: {event: "app:end", key: [seqno]}
    group_by: [entry.op]
    threshold: 2us     # the file's threshold
    blame: entry
"""

# (duration ns, op): 16 fast ones of op 0, two fast and the two slow ones of op 1.
DURATIONS = [(d, 0) for d in (1_000, 1_100, 1_200, 1_300, 1_400, 1_500, 1_600, 1_700, 1_800,
                              1_900, 2_300, 2_400, 2_600, 2_800, 3_000, 3_500)]
DURATIONS += [(2_100, 1), (2_200, 1), (200_000, 1), (450_000, 1)]


def tuning_scenario() -> Scenario:
    s = Scenario(cpus=1)
    a = s.thread(tid=101, pid=100, comm="app")
    s.run(cpu=0, thread=a, at=0)
    at = 1_000
    for seqno, (duration, op) in enumerate(DURATIONS, start=1):
        s.ust(a, "app:start", at=at, seqno=seqno, op=op)
        s.ust(a, "app:end", at=at + duration, seqno=seqno)
        at += duration + 1_000
    return s


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tune")
    trace = tuning_scenario().write(tmp / "trace").root
    rules = tmp / "rules.yaml"
    rules.write_text(RULES)
    return rules, trace


@pytest.fixture
def session(files, monkeypatch):
    import corr.analyses.scheduling

    def refuse(*args, **kwargs):
        raise AssertionError("a tuning session must not run the scheduling join")
    monkeypatch.setattr(corr.analyses.scheduling, "analyse", refuse)
    rules, trace = files
    return corr.api.tune(rules, [trace])


def candidates(distribution, threshold):
    return {c.name: (c.ns, c.flagged) for c in distribution.candidates(threshold)}


def test_whole_rule_exactly(session):
    (req,) = session.rules
    assert req.result.analysis is None                   # blame: is there, but not run
    d = req.overall
    assert d.count == 20
    assert [(b.low_ns, b.high_ns, b.count) for b in d.histogram()] == [
        (1_000, 2_000, 10), (2_000, 5_000, 8), (5_000, 10_000, 0), (10_000, 20_000, 0),
        (20_000, 50_000, 0), (50_000, 100_000, 0), (100_000, 200_000, 0), (200_000, 500_000, 2)]
    # Nearest rank over 20 values: p50 is the 10th, p90 the 18th, p95 the 19th, p99 the 20th.
    assert d.percentiles() == {"p50": 1_900, "p90": 3_500, "p95": 200_000, "p99": 450_000,
                               "p99.9": 450_000, "max": 450_000}
    # The knee is 3.5us (the last fast one), and the widest log-gap up to the p99.9 is
    # the one after it; the suggestion is the roundest value near sqrt(3.5us * 200us) =
    # 26.5us in that gap: 30us, which flags the two slow ones.
    assert candidates(d, req.threshold_ns) == {
        "p90": (3_500, 2), "p95": (200_000, 1), "p99": (450_000, 0), "p99.9": (450_000, 0),
        "max": (450_000, 0), "current": (2_000, 10), "suggested": (30_000, 2)}
    assert [row["duration_ns"] for row in d.slowest(2_000, 3)] == [450_000, 200_000, 3_500]


def test_groups_exactly(session):
    (req,) = session.rules
    assert [(g.label, g.count) for g in req.groups] == [("0", 16), ("1", 4)]
    fast, slow = req.groups
    assert [(b.low_ns, b.count) for b in fast.histogram()] == [(1_000, 10), (2_000, 6)]
    assert fast.percentiles() == {"p50": 1_700, "p90": 3_000, "p95": 3_500, "p99": 3_500,
                                  "p99.9": 3_500, "max": 3_500}
    assert slow.percentiles() == {"p50": 2_200, "p90": 450_000, "p95": 450_000,
                                  "p99": 450_000, "p99.9": 450_000, "max": 450_000}
    assert candidates(slow, 2_000)["current"] == (2_000, 4)
    assert slow.suggestion.ns == 20_000                    # between 2.2us and 200us
    assert {row["group"] for row in slow.slowest(None, 10)} == {1}


def test_set_re_evaluates_and_writes(session, files, tmp_path):
    session.set(["req.threshold=150us"])
    (req,) = session.rules
    assert req.threshold_ns == 150_000
    assert candidates(req.overall, req.threshold_ns)["current"] == (150_000, 2)
    out = tmp_path / "tuned.yaml"
    assert session.write(out) == {"req": {"threshold": 150_000}}
    assert out.read_text() == RULES.replace("threshold: 2us", "threshold: 150us")
    assert load_rules(out, cache=False).rule("req").threshold_ns == 150_000
    with pytest.raises(UsageError, match="^assignments: nope.threshold=1ms: no rule 'nope'"):
        session.set(["nope.threshold=1ms"])
    with pytest.raises(UsageError, match="^assignments: req.timeout=1s: a timeout changes"):
        session.set(["req.timeout=1s"])


# -- the suggestion on distributions with a known answer --------------------------------

def test_bimodal_mixture_suggestion_between_the_modes():
    rng = np.random.default_rng(5)
    fast = rng.lognormal(math.log(20_000), 0.3, 9_500)      # ~20us
    slow = rng.lognormal(math.log(5_000_000), 0.3, 500)     # ~5ms
    values = np.sort(np.concatenate([fast, slow]).astype(np.int64))
    s = suggest(values)
    assert fast.max() <= s.ns < slow.min()
    assert int(flagged_counts(values, s.ns)) == 500


@settings(max_examples=60, deadline=None)
@given(fast_low=st.integers(100, 10**6), fast_width=st.floats(1.0, 10.0),
       gap=st.floats(10.0, 1000.0), slow_width=st.floats(1.0, 10.0),
       fast_n=st.integers(200, 2000), slow_share=st.floats(0.01, 0.2), seed=st.integers(0, 99))
def test_suggestion_separates_any_two_separated_modes(fast_low, fast_width, gap, slow_width,
                                                      fast_n, slow_share, seed):
    """Two log-uniform modes at least a decade apart, the slow one at most a fifth."""
    rng = np.random.default_rng(seed)
    slow_n = max(1, int(fast_n * slow_share))
    fast = np.exp(rng.uniform(0, math.log(fast_width), fast_n)) * fast_low
    slow_low = fast_low * fast_width * gap
    slow = np.exp(rng.uniform(0, math.log(slow_width), slow_n)) * slow_low
    values = np.sort(np.concatenate([fast, slow]).astype(np.int64))
    s = suggest(values)
    assert fast.astype(np.int64).max() <= s.ns < slow.astype(np.int64).min()


def test_suggestion_of_a_constant_is_the_max():
    assert suggest(np.full(10, 7_000, dtype=np.int64)).ns == 7_000
    assert suggest(np.array([], dtype=np.int64)) is None


# -- invariants ----------------------------------------------------------------------------

durations = st.lists(st.integers(0, 10**10), min_size=0, max_size=200)


@given(durations, st.lists(st.integers(0, 10**10), min_size=1, max_size=20))
def test_flagged_counts_are_brute_force_and_monotone(values, thresholds):
    sorted_ns = np.sort(np.array(values, dtype=np.int64))
    thresholds = sorted(thresholds)
    got = flagged_counts(sorted_ns, thresholds).tolist()
    assert got == [sum(v > t for v in values) for t in thresholds]
    assert got == sorted(got, reverse=True)


@given(durations)
def test_histogram_counts_every_value_once(values):
    sorted_ns = np.sort(np.array(values, dtype=np.int64))
    buckets = histogram(sorted_ns)
    assert sum(b.count for b in buckets) == len(values)
    for b in buckets:
        assert b.count == sum(b.low_ns <= v < b.high_ns for v in values)
    assert all(a.high_ns == b.low_ns for a, b in zip(buckets, buckets[1:]))
    if values:
        assert buckets[0].count > 0 and buckets[-1].count > 0


@given(st.integers(0, 10**12))
def test_steps_are_the_neighbouring_r10_values(ns):
    up, down = step_up(ns), step_down(ns)
    assert down < ns < up or (ns == 0 and down == 0) or ns >= THRESHOLD_STEPS[-1]
    assert step_up(2_000_000) == 2_500_000 and step_down(2_000_000) == 1_600_000


def test_bucket_is_a_value():
    assert Bucket(1, 2, 3) == Bucket(1, 2, 3)


# -- writing a rule file back ------------------------------------------------------------

ROUND_TRIP = """\
# Rules for the round trip.   Odd spacing, on purpose.
version: 1
rules:
  - name: first            # comment after the name
    description: 'single quoted: stays'
    entry: {event: "a:in", key: [seqno]}
    exit:  {event: "a:out", key: [seqno]}
    threshold: "2ms"       # quoted, with a comment
    timeout: 1s

  # a comment between rules
  - name: second
    entry:
      event: b:in
      key: {tid: $tid}
    exit:
      event: b:out
      key: {tid: $tid}
    threshold: 500us
    match: last
  - name: third
    entry: {event: c:in, key: [seqno]}
    exit: {event: c:out, key: [seqno]}
"""


def test_round_trip_changes_only_the_value():
    out = updated_text(ROUND_TRIP, "r.yaml", {"first": {"threshold": 2_500_000}})
    assert out == ROUND_TRIP.replace('threshold: "2ms"', 'threshold: "2.5ms"')
    out = updated_text(ROUND_TRIP, "r.yaml", {"second": {"threshold": 1_000_000, "timeout": 2_000}})
    assert out == ROUND_TRIP.replace("threshold: 500us",
                                     "threshold: 1ms").replace(
        "  - name: second\n", "  - name: second\n    timeout: 2us\n")


def test_round_trip_adds_a_missing_threshold_and_loads(tmp_path):
    out = updated_text(ROUND_TRIP, "r.yaml", {"third": {"threshold": 1_250}})
    assert out == ROUND_TRIP.replace("  - name: third\n", "  - name: third\n    threshold: 1.25us\n")
    path = tmp_path / "r.yaml"
    path.write_text(out)
    ruleset = load_rules(path, cache=False)
    assert [r.threshold_ns for r in ruleset.rules] == [2_000_000, 500_000, 1_250]


# -- the command line ------------------------------------------------------------------------

def test_cli_prints_every_table(files):
    rules, trace = files
    proc = run_corr("tune", "--no-progress", rules, trace)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "rule req — 20 intervals, threshold 2us" in out
    assert "group 0" in out and "group 1" in out
    assert "◀ threshold 2us" in out
    assert "p50 1.9us  p90 3.5us  p95 200us  p99 450us  p99.9 450us  max 450us" in out
    assert "widest log-gap past the knee of the log-duration CDF" in out


def test_cli_set_and_write(files, tmp_path):
    rules, trace = files
    out = tmp_path / "tuned.yaml"
    proc = run_corr("tune", "--no-progress", "--set", "req.threshold=30us", "--write", out,
                    rules, trace)
    assert proc.returncode == 0, proc.stderr
    assert "threshold 30us (file: 2us)" in proc.stdout
    assert f"wrote {out} (req.threshold=30us)" in proc.stderr
    assert load_rules(out, cache=False).rule("req").threshold_ns == 30_000
    assert Path(rules).read_text() == RULES                  # the original is untouched


@pytest.mark.parametrize("args, needles", [
    (["--set", "req.threshold=fast"], ["--set req.threshold=fast", "not a duration"]),
    (["--set", "nope.threshold=1ms"], ["no rule 'nope' (rules: req)"]),
    (["--set", "req.colour=1ms"], ["cannot set 'colour'"]),
    (["--write", "/nonexistent-dir/tuned.yaml", "--set", "req.threshold=1ms"],
     ["/nonexistent-dir/tuned.yaml: cannot write: no such file or directory"]),
    (["--groups", "-1"], ["--groups -1: must be 0 or more"]),
])
def test_cli_bad_input_is_one_line(files, args, needles):
    rules, trace = files
    one_line_error(run_corr("tune", "--no-progress", *args, rules, trace), *needles)


def test_cli_interactive_needs_a_terminal(files):
    rules, trace = files
    one_line_error(run_corr("tune", "-i", rules, trace), "--interactive needs a terminal")
