"""The scheduling join: each slow interval of a rule with ``blame:``, explained.

For every interval over the rule's threshold, the blamed thread (the
entry's, the exit's, or the one a key part names) gets a breakdown and a
critical path; the rule gets a blame graph over all of them and a
differential view against a sample of its fast intervals.  The results
are attached to the rule's result object; renderers only read them.

Every slow interval is analysed by default.  With the C model the totals
(blame graph, differential) come from ``corr.analyses.bulk`` in one call,
and an interval's own breakdown and critical path are computed when a
renderer reads it (text shows the top N; JSON and exports read them all),
so memory does not grow with the number of slow intervals.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from . import bulk
from ..engine.intervals import NONE_INT
from ..sched.events import INTERRUPT_NOTES
from ..sched.model import SchedModel
from .blame import BlameGraph, differential
from .critical_path import breakdown, critical_path

FAST_SAMPLE = 200          # fast intervals whose breakdown the differential view uses
DEFAULT_LIMIT = 0          # slow intervals analysed per rule, slowest first (0: all)


class IntervalAnalysis:
    """One interval's breakdown and critical path."""

    __slots__ = ("tid", "comm", "breakdown", "critical_path")

    def __init__(self, tid, comm, parts, path):
        self.tid = tid                  # the blamed thread
        self.comm = comm
        self.breakdown = parts
        self.critical_path = path

    def to_dict(self) -> dict:
        return {"blamed_tid": self.tid, "blamed_comm": self.comm,
                "breakdown": [p.as_dict() for p in self.breakdown],
                "critical_path": [s.as_dict() for s in self.critical_path]}


class LazyAnalyses(Mapping):
    """Interval index -> IntervalAnalysis, each computed when read (not kept)."""

    def __init__(self, model: SchedModel, indexes: np.ndarray, tids, start, end):
        self.model = model
        self._order = indexes                               # slowest first
        self._sorted = np.sort(indexes)
        self._tids, self._start, self._end = tids, start, end

    def __getitem__(self, i: int) -> IntervalAnalysis:
        if i not in self:
            raise KeyError(i)
        return explain(self.model, int(self._tids[i]), int(self._start[i]), int(self._end[i]))

    def __contains__(self, i) -> bool:
        k = int(np.searchsorted(self._sorted, i))
        return k < len(self._sorted) and self._sorted[k] == i

    def __iter__(self):
        return iter(self._order.tolist())

    def __len__(self) -> int:
        return len(self._order)


def explain(model: SchedModel, tid: int, start: int, end: int,
            waits: list | None = None) -> IntervalAnalysis:
    """One interval's breakdown and critical path (the Python references); with
    ``waits``, the blame-graph edges of both appended to it."""
    path = critical_path(model, tid, start, end, waits=waits)
    parts = breakdown(model, tid, start, end, waits=waits)
    return IntervalAnalysis(tid, model.name_at(tid, start), parts, path)


class RuleAnalysis:
    """What the scheduling join found for one rule."""

    def __init__(self, blame: str, available: bool, reason: str | None = None):
        self.blame = blame
        self.available = available
        self.reason = reason                     # why nothing could be said
        self.intervals: dict[int, IntervalAnalysis] = {}   # interval index -> analysis
        self.graph: BlameGraph | None = None
        self.differential: list[dict] = []
        self.unattributed = 0                    # slow intervals with no thread to blame
        self.slow = 0                            # intervals over the threshold (complete, late)
        self.limit = 0                           # at most this many analysed (0: all)
        self.caveats: list[str] = []             # what the traces cannot tell
        self.threads = None                      # the pass's ThreadNames (names over time)

    def to_dict(self) -> dict:
        if not self.available:
            return {"blame": self.blame, "available": False, "reason": self.reason}
        out = {"blame": self.blame, "available": True, "slow": self.slow,
               "analysed": len(self.intervals), "limit": self.limit,
               "unattributed": self.unattributed}
        if self.caveats:
            out["caveats"] = self.caveats
        out.update(self.graph.to_dict() if self.graph else {"nodes": [], "edges": []})
        out["differential"] = self.differential
        return out


def blamed_tids(rule_result, blame: str) -> np.ndarray:
    """The thread id each interval's time is explained for (NONE_INT: none)."""
    table = rule_result.intervals
    if blame == "entry":
        return np.frombuffer(table.entry_tid, dtype=np.int32).astype(np.int64)
    if blame == "exit":
        tids = np.frombuffer(table.exit_tid, dtype=np.int32).astype(np.int64)
        entry = np.frombuffer(table.entry_tid, dtype=np.int32).astype(np.int64)
        return np.where(tids == NONE_INT, entry, tids)     # no exit (timeout): the entry's
    names = table.key_names
    index = names.index(blame)
    keys = table.key
    values = [k if len(names) == 1 else (k[index] if isinstance(k, tuple) else None)
              for k in keys]
    return np.asarray([v if isinstance(v, int) else NONE_INT for v in values], dtype=np.int64)


def analyse(rule_result, model: SchedModel, limit: int = DEFAULT_LIMIT,
            threads=None) -> RuleAnalysis:
    """The breakdowns, critical paths and blame graph of one rule's slow intervals.

    The ``limit`` slowest are analysed (all with 0): a trace can hold
    hundreds of thousands of slow intervals, and the slowest are the ones
    a person reads; the result says how many there were.  ``threads``: the
    pass's :class:`~corr.engine.threads.ThreadNames`, with which each
    interval read calls every thread by its name at the interval's start.
    """
    blame = rule_result.rule.blame
    if not model.available:
        return RuleAnalysis(blame, False, "the traces have no scheduling events (sched_switch)")
    out = RuleAnalysis(blame, True)
    if model.log.interrupt_evidence == "none":
        out.caveats.append(INTERRUPT_NOTES["none"])
    out.threads = threads
    out.graph = BlameGraph(model.name_at)
    table = rule_result.intervals
    if not len(table):
        return out
    tids = blamed_tids(rule_result, blame)
    start = np.frombuffer(table.start_ns, dtype=np.int64)
    end = np.frombuffer(table.end_ns, dtype=np.int64)
    durations = end - start
    threshold = rule_result.threshold_ns
    slow = (np.flatnonzero(rule_result.over_threshold()) if threshold is not None
            else np.arange(len(table)))
    slow_parts = []
    out.slow, out.limit = len(slow), limit
    chosen = slow[np.argsort(-durations[slow], kind="stable")]
    if limit:
        chosen = chosen[:limit]
    attributed = (tids[chosen] != NONE_INT) & (tids[chosen] > 0)
    out.unattributed = int(len(chosen) - np.count_nonzero(attributed))
    chosen = chosen[attributed]
    if bulk.available(model):
        found = bulk.totals(model, tids[chosen], start[chosen], end[chosen])
        out.intervals = LazyAnalyses(model, chosen, tids, start, end)
        out.graph.add_totals(list(dict.fromkeys(tids[chosen].tolist())), found.edges,
                             len(chosen))
        slow_parts = [(int(durations[chosen].sum()), found.parts)] if len(chosen) else []
    else:
        for i in chosen:
            waits: list = []
            found = explain(model, int(tids[i]), int(start[i]), int(end[i]), waits)
            out.intervals[int(i)] = found
            out.graph.add(found.tid, waits)
            slow_parts.append((int(durations[i]), found.breakdown))
        out.graph.finish()
    out.differential = differential(slow_parts, _fast_breakdowns(rule_result, model, tids,
                                                                 start, end, durations),
                                    model.name_at)
    return out


def _fast_breakdowns(rule_result, model, tids, start, end, durations) -> list:
    """Breakdowns of an even sample of the complete intervals under the threshold."""
    threshold = rule_result.threshold_ns
    if threshold is None:
        return []
    fast = np.flatnonzero((durations <= threshold) & rule_result.intervals.measured()
                          & (tids > 0))
    if len(fast) > FAST_SAMPLE:
        fast = fast[np.linspace(0, len(fast) - 1, FAST_SAMPLE).astype(np.int64)]
    fast = fast[durations[fast] > 0]
    if bulk.available(model):
        found = bulk.totals(model, tids[fast], start[fast], end[fast], with_edges=False)
        return [(int(durations[fast].sum()), found.parts)] if len(fast) else []
    return [(int(durations[i]), breakdown(model, int(tids[i]), int(start[i]), int(end[i])))
            for i in fast if durations[i] > 0]
