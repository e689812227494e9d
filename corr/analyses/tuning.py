"""Threshold tuning: each rule's latency distribution, and what a threshold would flag.

A :class:`TuningSession` is built once from a run without the scheduling
join.  Each rule (and each group of a rule with ``group_by``) keeps its
measured durations sorted, so every question a tuning session asks (how
many intervals does this threshold flag, which bucket, which percentile) is
a ``numpy.searchsorted``: moving a threshold costs microseconds, not a run.

Conventions, shared with ``corr run``:

- the durations are those the statistics count: complete and late intervals;
- a threshold flags the intervals *strictly longer* than it
  (``stats.over_threshold``);
- percentiles are nearest-rank (:func:`corr.engine.stats.nearest_rank`).

The suggested threshold is the knee of the tail (see :func:`suggest` and
docs/tuning.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..engine.filters import ThreadFilter
from ..engine.intervals import reported
from ..engine.stats import nearest_rank

PERCENTILES = (("p50", 50.0), ("p90", 90.0), ("p95", 95.0), ("p99", 99.0), ("p99.9", 99.9))
CANDIDATE_PERCENTILES = ("p90", "p95", "p99", "p99.9")
KNEE_METHOD = "widest log-gap past the knee of the log-duration CDF"

# Histogram bucket edges: the 1-2-5 series (1us, 2us, 5us, 10us...), nearly
# even on a log scale and readable as labels.
_BUCKET_MANTISSAS = (1, 2, 5)
# One arrow-key step of a threshold: the R10 preferred numbers (ISO 3), ten
# even log-steps per decade, each a round value to write in a rule file.
_STEP_MANTISSAS = (1.0, 1.25, 1.6, 2.0, 2.5, 3.15, 4.0, 5.0, 6.3, 8.0)
_MAX_DECADE = 12            # 1000 s: longer than any interval a trace holds


def _series(mantissas) -> np.ndarray:
    values = {round(m * 10 ** e) for e in range(_MAX_DECADE + 1) for m in mantissas}
    return np.array(sorted(v for v in values if v >= 1), dtype=np.int64)


# The last edge closes the bucket of anything longer than the series.
BUCKET_EDGES = np.append(_series(_BUCKET_MANTISSAS), np.iinfo(np.int64).max)
THRESHOLD_STEPS = _series(_STEP_MANTISSAS)


@dataclass(frozen=True)
class Bucket:
    """Durations in ``[low_ns, high_ns)``."""

    low_ns: int
    high_ns: int
    count: int


@dataclass(frozen=True)
class Candidate:
    """A threshold worth considering, and how many intervals it flags."""

    name: str
    ns: int | None
    flagged: int
    method: str | None = None


@dataclass(frozen=True)
class Suggestion:
    ns: int
    method: str


def step_up(ns: int | None) -> int:
    """The next threshold of the R10 series above ``ns``."""
    if ns is None:
        return int(THRESHOLD_STEPS[0])
    i = int(np.searchsorted(THRESHOLD_STEPS, ns, side="right"))
    return int(THRESHOLD_STEPS[min(i, len(THRESHOLD_STEPS) - 1)])


def step_down(ns: int | None) -> int:
    """The next threshold of the R10 series below ``ns`` (0 below the first)."""
    if not ns:
        return 0
    i = int(np.searchsorted(THRESHOLD_STEPS, ns, side="left"))
    return int(THRESHOLD_STEPS[i - 1]) if i > 0 else 0


def flagged_counts(sorted_ns: np.ndarray, thresholds) -> np.ndarray:
    """How many of ``sorted_ns`` each threshold flags (strictly longer than it)."""
    thresholds = np.asarray(thresholds, dtype=np.int64)
    return len(sorted_ns) - np.searchsorted(sorted_ns, thresholds, side="right")


def histogram(sorted_ns: np.ndarray) -> list[Bucket]:
    """Counts per 1-2-5 bucket, from the bucket of the shortest to that of the longest."""
    n = len(sorted_ns)
    if n == 0:
        return []
    edges = BUCKET_EDGES
    if sorted_ns[0] < edges[0]:
        edges = np.concatenate(([0], edges))
    first = max(0, int(np.searchsorted(edges, sorted_ns[0], side="right")) - 1)
    last = int(np.searchsorted(edges, sorted_ns[-1], side="right"))   # the edge above the max
    edges = edges[first:last + 1]
    starts = np.searchsorted(sorted_ns, edges, side="left")
    counts = np.diff(starts)
    return [Bucket(int(edges[i]), int(edges[i + 1]), int(counts[i])) for i in range(len(counts))]


def suggest(sorted_ns: np.ndarray) -> Suggestion | None:
    """The threshold that separates the bulk of the distribution from its tail.

    1. The knee: Kneedle (Satopää et al., 2011) on the upper half of the
       empirical CDF plotted over log-duration.  Between the median and the
       maximum, both axes scaled to [0, 1], the knee is the interval where
       the CDF stands farthest above the straight line from the median to
       the maximum: where the bulk ends and the long, thin tail begins.
    2. The split: from the knee up to the p99.9, the widest gap on the log
       scale between two consecutive durations.  The knee of a bulk with a
       tail of its own (a lognormal mode) lies inside that tail; the gap
       between two modes is wider than any gap inside either, so the split
       moves there.  Stopping at the p99.9 keeps the sparse extreme top (a
       few isolated outliers far apart) from always winning.

    The suggestion flags exactly the intervals longer than the split.  Its
    value is the roundest duration (fewest significant digits) near the
    geometric middle of the gap, neither glued to the bulk nor to the tail.
    """
    n = len(sorted_ns)
    if n == 0:
        return None
    top = int(sorted_ns[-1])
    median_index = max(1, math.ceil(n / 2)) - 1
    log_ns = np.log(np.maximum(sorted_ns[median_index:], 1).astype(np.float64))
    span = log_ns[-1] - log_ns[0]
    if span <= 0:
        return Suggestion(top, f"{KNEE_METHOD} (no tail: the max)")
    cdf = np.arange(median_index + 1, n + 1, dtype=np.float64) / n
    cdf_low = cdf[0]
    x = (log_ns - log_ns[0]) / span
    y = (cdf - cdf_low) / (1.0 - cdf_low) if cdf_low < 1.0 else np.ones_like(cdf)
    knee = int(np.argmax(y - x))                          # in log_ns
    p999 = max(1, math.ceil(99.9 / 100.0 * n)) - 1 - median_index
    last = min(max(knee, p999), len(log_ns) - 2)
    if last < knee:
        return Suggestion(top, f"{KNEE_METHOD} (no tail: the max)")
    gaps = np.diff(log_ns[knee:last + 2])
    split = median_index + knee + int(np.argmax(gaps))
    below, above = int(sorted_ns[split]), int(sorted_ns[split + 1])
    return Suggestion(_roundest_between(below, above), KNEE_METHOD)


def _roundest_between(low: int, high: int) -> int:
    """A round value in ``[low, high)``, near their geometric middle."""
    middle = math.sqrt(max(low, 1) * high)
    for digits in range(1, 20):
        scale = 10 ** (math.floor(math.log10(middle)) - digits + 1)
        value = int(round(middle / scale) * scale) if scale >= 1 else int(round(middle))
        if low <= value < high:
            return value
    return low


class Distribution:
    """The measured durations of one rule or one group, sorted, with their intervals."""

    def __init__(self, label: str | None, durations: np.ndarray, intervals: np.ndarray, result):
        order = np.argsort(durations, kind="stable")
        self.label = label                    # None for the whole rule, else the group's value
        self.sorted_ns = durations[order]
        self.intervals = intervals[order]     # interval-table rows, in the same order
        self.result = result                  # the RuleResult the rows belong to
        self._suggestion = None

    @property
    def count(self) -> int:
        return len(self.sorted_ns)

    def flagged(self, threshold_ns: int | None) -> int:
        if threshold_ns is None:
            return 0
        return int(flagged_counts(self.sorted_ns, threshold_ns))

    def percentiles(self) -> dict[str, int | None]:
        """p50, p90, p95, p99, p99.9 (nearest rank) and max."""
        out = {name: nearest_rank(self.sorted_ns, p) for name, p in PERCENTILES}
        out["max"] = int(self.sorted_ns[-1]) if self.count else None
        return out

    def histogram(self) -> list[Bucket]:
        return histogram(self.sorted_ns)

    @property
    def suggestion(self) -> Suggestion | None:
        if self._suggestion is None:
            self._suggestion = suggest(self.sorted_ns)
        return self._suggestion

    def candidates(self, current_ns: int | None) -> list[Candidate]:
        """p90 ... p99.9, max, the current threshold and the suggested one."""
        points = self.percentiles()
        out = [Candidate(name, points[name], self.flagged(points[name]))
               for name in (*CANDIDATE_PERCENTILES, "max")]
        out.append(Candidate("current", current_ns, self.flagged(current_ns)))
        s = self.suggestion
        if s is not None:
            out.append(Candidate("suggested", s.ns, self.flagged(s.ns), s.method))
        return out

    def slowest(self, threshold_ns: int | None, limit: int) -> list[dict]:
        """The ``limit`` longest intervals the threshold flags, longest first."""
        n = min(limit, self.flagged(threshold_ns)) if threshold_ns is not None else min(limit, self.count)
        rows = self.intervals[::-1][:n]
        return [self.result.interval(int(i)) for i in rows]


class RuleTuning:
    """One rule: its current threshold, its distribution and its groups' (most frequent first)."""

    def __init__(self, result, file_values: dict[str, int | None]):
        self.result = result
        self.rule = result.rule
        self.name = result.name
        self.file_values = file_values      # threshold and timeout, as the rule file says
        # The intervals that may be slow (the rule's ``report:``; complete and late by
        # default): what ``corr run``'s ``> thr`` counts of a threshold.
        rows = np.nonzero(reported(result.intervals.statuses(), result.report))[0]
        durations = result.intervals.durations()[rows]
        self.overall = Distribution(None, durations, rows, result)
        self.groups: list[Distribution] = []
        if self.rule.group_by:
            groups = np.frombuffer(result.intervals.group, dtype=np.int32)[rows]
            for index in np.unique(groups):
                mine = groups == index
                label = _group_label(result.group_values[index])
                self.groups.append(Distribution(label, durations[mine], rows[mine], result))
            self.groups.sort(key=lambda d: (-d.count, d.label))

    @property
    def threshold_ns(self) -> int | None:
        return self.rule.threshold_ns

    @threshold_ns.setter
    def threshold_ns(self, ns: int | None) -> None:
        self.rule.threshold_ns = ns
        self.result.threshold_ns = ns

    def changes(self) -> dict[str, int | None]:
        """Threshold and timeout, where they differ from the rule file."""
        now = {"threshold": self.rule.threshold_ns, "timeout": self.rule.timeout_ns}
        return {key: ns for key, ns in now.items() if ns != self.file_values.get(key)}

    def distributions(self, group_limit: int | None = None) -> list[Distribution]:
        """The whole rule, then its most frequent groups."""
        groups = self.groups if group_limit is None else self.groups[:group_limit]
        return [self.overall, *groups]


def _group_label(value) -> str:
    from ..text import group_label
    return group_label(value)


class TuningSession:
    """Every rule's distribution over a run, and the thresholds being tried."""

    def __init__(self, ruleset, run_result, file_values: dict[str, dict[str, int | None]]):
        """``file_values``: per rule, its threshold and timeout as the file says them."""
        self.ruleset = ruleset
        self.run = run_result                 # events, warnings, stopped: as corr run has them
        # A count rule has no durations, hence no threshold to tune.
        self.rules = [RuleTuning(result, file_values[result.name]) for result in run_result.rules
                      if not result.rule.is_count]

    @property
    def thread_filter(self) -> ThreadFilter | None:
        """The run's :class:`~corr.engine.filters.ThreadFilter`: the distributions are
        those of its threads' intervals (None: every thread's)."""
        return self.run.thread_filter

    def rule(self, name: str) -> RuleTuning:
        for tuning in self.rules:
            if tuning.name == name:
                return tuning
        raise KeyError(name)

    def set(self, assignments: list[str]) -> None:
        """Apply ``RULE.threshold=VALUE`` assignments (checked, as ``corr run --set``)."""
        from ..errors import OverrideError
        from ..rules import apply_overrides
        for assignment in assignments:
            attribute = assignment.partition("=")[0].rpartition(".")[2].strip()
            if attribute == "timeout":
                raise OverrideError("assignments:", assignment,
                                    "a timeout changes the pairing: give it before the run "
                                    "(corr.tune(overrides=...))")
        apply_overrides(self.ruleset, assignments, argument="assignments:")
        for tuning in self.rules:
            tuning.result.threshold_ns = tuning.rule.threshold_ns

    def set_threshold(self, name: str, ns: int | None) -> None:
        self.rule(name).threshold_ns = ns

    def thresholds(self) -> dict[str, int | None]:
        return {tuning.name: tuning.threshold_ns for tuning in self.rules}

    def changes(self) -> dict[str, dict[str, int | None]]:
        """Per rule, the thresholds (and timeouts) that differ from the rule file's."""
        return {t.name: t.changes() for t in self.rules if t.changes()}

    def write(self, path: str) -> dict[str, dict[str, int | None]]:
        """Save the rule file with the current values (comments and layout kept)."""
        from ..rules.writer import write_rule_file
        changes = self.changes()
        write_rule_file(self.ruleset, path, changes)
        return changes
