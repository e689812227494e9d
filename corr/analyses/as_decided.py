"""Intervals explained as the pass decides them: for streams and callbacks.

A run explains its slow intervals after the pass, over the whole trace's
scheduling model.  ``corr.stream`` and the callbacks of ``corr.run`` hand
each interval out as soon as it is decided; its breakdown and critical path
need only the scheduling events up to its end, which the pass has read by
then.  :class:`Explainer` keeps them in a :class:`~corr.sched.window.SchedWindow`
(what the entries still waiting may need, not the whole trace), builds a
model over them when a batch decided something to explain, and fills each
decided row as a run fills its result rows (the same C walk, or the Python
references without it).

One difference from a run, said in docs/library.md: a thread waiting for a
CPU at the very end of an interval is counted as preempted by whoever ran on
the CPU it ran on next; a run knows that CPU from the rest of the trace, a
stream from the events read so far (else the CPU it was queued on).
"""

from __future__ import annotations

import numpy as np

from ..engine.intervals import NONE_INT
from ..sched.window import SchedWindow
from . import bulk
from .scheduling import LazyAnalyses, explain, names_thread


class Explainer:
    """Fills decided interval rows with their scheduling explanation."""

    def __init__(self, rules, matchers, threads):
        self.rules = rules
        self.matchers = matchers
        self.threads = threads                   # the pass's ThreadNames (with history)
        self.window = SchedWindow()
        self.begin_ns: int | None = None
        self._model = None

    @property
    def wanted(self) -> list[int]:
        """The indexes of the rules whose intervals are explained (``blame:``)."""
        return [i for i, rule in enumerate(self.rules) if rule.blame]

    def add_batch(self, batch, class_name, first_seq: int) -> None:
        """A batch's scheduling events, before its walk decides anything (the decisions
        of the batches before were all handed out: what no interval still to be decided
        can need goes first)."""
        if self.begin_ns is None and batch.ts:
            self.begin_ns = batch.ts[0]
        if self.window.due():
            starts = [self.matchers[i].oldest_waiting() for i in self.wanted]
            self.window.trim(min((s for s in starts if s is not None), default=batch.ts[0]))
        self.window.add_batch(batch, class_name, first_seq)
        self._model = None

    def __call__(self, decided: list[tuple[int, dict]], now: int | None) -> None:
        """Fill ``(rule index, row)`` pairs in place: the rows of rules with ``blame:``
        get ``blamed_tid``, ``blamed_comm``, ``breakdown`` and ``critical_path`` (as a
        run's result rows); ``now``: the last event read."""
        by_rule: dict[int, list[dict]] = {}
        for i, row in decided:
            blame = self.rules[i].blame
            if not blame or row["status"] not in self.rules[i].report:
                continue
            tid = blamed_tid(row, blame)
            if tid is None or tid <= 0 or tid == NONE_INT:
                continue
            by_rule.setdefault(i, []).append((tid, row))
        if not by_rule or not self.window.log.has_scheduling:
            return
        if self._model is None:     # one model for a batch's decisions, chunk after chunk
            self._model = self.window.model(self.begin_ns, now, names=self.threads.name_at)
        model = self._model
        for pairs in by_rule.values():
            tids = [tid for tid, _ in pairs]
            rows = [row for _, row in pairs]
            fill(model, tids, rows, self.threads)



def fill(model, tids: list[int], rows: list[dict], threads) -> None:
    """Each row (with ``start_ns``, ``end_ns``) filled with the explanation of thread
    ``tids[k]`` over its bounds, as a run's result rows are."""
    if bulk.available(model):
        starts = [row["start_ns"] for row in rows]
        ends = [row["end_ns"] for row in rows]
        lazy = LazyAnalyses(model, np.arange(len(rows)), np.asarray(tids, dtype=np.int64),
                            starts, ends, threads)
        for _ in lazy.filled(list(range(len(rows))), rows, threads):
            pass
        return
    for tid, row in zip(tids, rows):
        row.update(explain(model, tid, row["start_ns"], row["end_ns"]).to_dict())
        if threads is not None:
            threads.one_name_per_thread(row)


def blamed_tid(row: dict, blame: str) -> int | None:
    """The thread whose time a row's interval is explained for (as
    :func:`~corr.analyses.scheduling.blamed_tids` reads a table)."""
    if blame == "entry":
        return row["tid"]
    if blame == "exit":
        return row["exit_tid"] if row["exit_tid"] is not None else row["tid"]
    key = row["key"]
    value = key.get(blame) if isinstance(key, dict) else key
    return value if names_thread(value) else None


__all__ = ["Explainer", "fill", "blamed_tid"]
