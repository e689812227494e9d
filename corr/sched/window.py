"""The scheduling events a stream keeps: what explaining what is still to come needs.

A run builds its scheduling model once, after the pass, from every event.
A stream (``corr.stream``, the callbacks of ``corr.run``) explains each
interval as the pass decides it, so it builds a model from the events seen
so far, again and again; and it must not hold the whole trace.  What an
interval ``[start, end]`` decided from now on can need is every thread's
state from ``start`` on, and ``start`` is never before the earliest entry
still waiting (the *horizon*).  Each thread's state at the horizon follows
from its events since its last switch-in before it (a switch-in settles
every part of the state the model keeps), so those are kept for every
thread, and everything from the horizon on; the rest goes.  Interrupt
contexts (read by the Python model only) are kept from the last moment
before the horizon when none was open on their CPU.

The model over the kept events answers for ``[start, end]`` from the
horizon on exactly what the model over the whole trace answers, up to
``end`` (tests/test_stream_explained.py compares them).
"""

from __future__ import annotations

import numpy as np

from .log import SchedLog
from .model import SchedModel, context_levels

# Trim once the kept events have grown by this many since the last trim, and by
# half again as many as were kept then: the work of a trim is paid for by the
# rows it could drop.
TRIM_ROWS = 1 << 16


class SchedWindow:
    """A :class:`SchedLog` kept to what explanations from a horizon on need."""

    def __init__(self) -> None:
        self.log = SchedLog()
        self.horizon: int | None = None    # no explanation starts before it
        self._kept = 0                      # rows kept by the last trim

    def add_batch(self, batch, class_name, first_seq: int) -> None:
        """As :meth:`SchedLog.add_batch`."""
        self.log.add_batch(batch, class_name, first_seq)

    def rows(self) -> int:
        """How many events the window holds."""
        return sum(self.log.count(kind) for kind in _KINDS)

    def model(self, begin_ns: int | None, end_ns: int | None, names=None) -> SchedModel:
        """A model over the events kept (built afresh: the log grows between calls)."""
        return SchedModel(self.log, begin_ns, end_ns, names=names)

    def due(self) -> bool:
        """Whether a trim would be worth its work now."""
        rows = self.rows()
        return rows - self._kept >= TRIM_ROWS and rows >= 1.5 * self._kept

    def trim(self, horizon: int) -> None:
        """Drop what no explanation from ``horizon`` on needs (``horizon`` never goes back)."""
        if self.horizon is not None and horizon <= self.horizon:
            self._kept = self.rows()
            return
        self.horizon = horizon
        log = self.log
        switch = log.table("switch")
        needs = _Needs(switch, horizon)
        keep = {"switch": (switch["ts"] >= horizon) | needs(switch["prev_tid"], switch["seq"])
                | needs(switch["next_tid"], switch["seq"])}
        for kind, column in (("wakeup", "tid"), ("fork", "child_tid"), ("exit", "tid"),
                             ("migrate", "tid")):
            t = log.table(kind)
            keep[kind] = (t["ts"] >= horizon) | needs(t[column], t["seq"])
        keep["context"] = _open_contexts(log.table("context"), horizon)
        log.keep_rows(keep)
        self._kept = self.rows()


_KINDS = ("switch", "wakeup", "fork", "exit", "migrate", "context")


class _Needs:
    """Whether a thread's event is at or after its last switch-in before the horizon
    (a thread never switched in before it: every event of it)."""

    def __init__(self, switch: dict, horizon: int):
        before = switch["ts"] < horizon
        tids, seqs = switch["next_tid"][before], switch["seq"][before]
        # The last switch-in of each thread: its first occurrence from the end.
        distinct, first_from_end = np.unique(tids[::-1], return_index=True)
        self.tids = distinct.astype(np.int64)
        self.last_in = seqs[::-1][first_from_end]

    def __call__(self, tids: np.ndarray, seqs: np.ndarray) -> np.ndarray:
        if not len(self.tids):
            return np.ones(len(tids), dtype=bool)
        at = np.searchsorted(self.tids, tids)
        clipped = np.minimum(at, len(self.tids) - 1)
        known = self.tids[clipped] == tids
        return ~known | (seqs >= self.last_in[clipped])


def _open_contexts(context: dict, horizon: int) -> np.ndarray:
    """The interrupt-context rows to keep: per CPU, those after the last one before
    the horizon at which no context was open (nesting level 0); all of a CPU that
    had none."""
    keep = context["ts"] >= horizon
    cpus = context["cpu"]
    for cpu in np.unique(cpus[~keep]):
        mine = np.flatnonzero(cpus == cpu)
        _, level = context_levels(context["code"][mine])
        before = context["ts"][mine] < horizon
        closed = np.flatnonzero((level == 0) & before)
        if len(closed):
            keep[mine[closed[-1] + 1:]] = True
        else:
            keep[mine] = True
    return keep


__all__ = ["SchedWindow", "TRIM_ROWS"]
