"""The thread of a user-space event recorded without a ``vtid`` context.

An LTTng-UST session records the emitting thread only when asked to
(``lttng add-context -u -t vtid``); many do not (Valkey's documented
session, ``enable-event -u -a``).  Its events still carry the CPU they were
recorded on (``cpu_id``, in the packet context).  When a kernel trace of the
same host was recorded beside it (LTTng or perf, on the aligned clock), the
thread is the one that CPU was running at the event's time: the ``next_tid``
of the CPU's last ``sched_switch`` before it, as :mod:`.normaliser` derives
``ctx.tid`` for kernel events.

This needs the traces *merged*: the kernel's switches up to a UST event's
timestamp come from another trace, whose batches the merge interleaves
with the UST trace's only after both were normalised.  So it is done on
the merged, time-ordered stream, by :class:`UstThreads`, one batch after
another, carrying each CPU's current thread across batches; the engine
applies it after the decode cache too, so cached columns never hold a
thread that depends on which other traces were read with them.
"""

from __future__ import annotations

import os

from ..reading.batch import IntColumn, int64_array
from . import dialects
from .normaliser import MISSING, running_tids

SWITCH = "sched_switch"
THREAD_CONTEXTS = ("ctx.tid", "ctx.vtid")
VTID_COMMAND = "lttng add-context -u -t vtid"
# Why an entry whose thread key part is null is dropped, by the domain of its trace.
NO_VTID = "no thread id (vtid context missing)"
NO_KERNEL_TID = "no thread id (before its CPU's first sched_switch)"


def is_ust(trace) -> bool:
    return dialects.detect(trace.env, trace.class_names).name == "lttng-ust"


def records_threads(trace) -> bool:
    """Whether a UST trace's metadata declares a ``vtid`` context (read from its text:
    known before decoding; the metadata of a UST trace is a few kB)."""
    try:
        with open(os.path.join(trace.path, "metadata"), "rb") as f:
            return b"vtid" in f.read()
    except OSError:
        return True                   # cannot tell: warn about nothing


def _host(trace):
    return trace.env.get("hostname")


def kernel_source(traces, ust) -> object | None:
    """The kernel trace whose switches give ``ust``'s threads: same host (when both
    say), with ``sched_switch`` events; None when there is none."""
    for t in traces:
        d = dialects.detect(t.env, t.class_names)
        if not d.kernel or (_host(t) and _host(ust) and _host(t) != _host(ust)):
            continue
        if any(SWITCH in dialects.possible_names(d, raw) for raw in t.class_names):
            return t
    return None


class UstThreads:
    """Per merged batch, the derived thread column of each UST class without one."""

    def __init__(self, sources: dict[int, object]):
        self.sources = sources                                  # UST trace -> kernel trace
        self.current = {k.index: {} for k in sources.values()}  # kernel trace -> CPU -> tid
        # A kernel trace says nothing outside its own time range (aligned clock).
        self.bounds = {k.index: (None if k.range_ns is None else
                                 (k.range_ns[0] + k.offset_ns, k.range_ns[1] + k.offset_ns))
                       for k in sources.values()}

    @classmethod
    def of(cls, traceset) -> "UstThreads | None":
        """For the UST traces of ``traceset`` that a kernel trace can give threads; None
        when there are none."""
        sources = {}
        for t in traceset.traces:
            if is_ust(t):
                k = kernel_source(traceset.traces, t)
                if k is not None:
                    sources[t.index] = k
        return cls(sources) if sources else None

    def columns(self, batch, registry) -> dict[int, list]:
        """``{class id: thread column}`` for the batch's UST classes that have no thread
        context; every batch must be given, in order (the switches are state)."""
        switches, targets = {}, {}
        for cid, cols in batch.classes.items():
            info = registry[cid]
            if info.trace in self.sources:
                if not any(c in cols.fields for c in THREAD_CONTEXTS):
                    targets.setdefault(self.sources[info.trace].index, []).append(cid)
            elif info.name == SWITCH and info.trace in self.current:
                switches.setdefault(info.trace, []).append(cid)
        out: dict[int, list] = {}
        class_ids = None
        for kernel in self.current:
            found, wanted = switches.get(kernel, []), targets.get(kernel, [])
            if not found and not wanted:
                continue
            if class_ids is None:
                class_ids = int64_array(batch.class_ids)
            out.update(self._derive(batch, class_ids, kernel, found, wanted))
        return out

    def _derive(self, batch, class_ids, kernel: int, switch_ids: list, target_ids: list) -> dict:
        import numpy as np

        parts, cpus, nexts, prevs, kinds = [], [], [], [], []
        for cid in switch_ids + target_ids:
            cols = batch.classes[cid]
            parts.append(np.flatnonzero(class_ids == cid))
            cpus.append(_cpus(cols.cpu))
            is_switch = cid in switch_ids
            n = len(cols.cpu)
            nexts.append(int64_array(cols.fields["next_tid"], n) if is_switch
                         else np.zeros(n, dtype=np.int64))
            prevs.append(int64_array(cols.fields["prev_tid"], n) if is_switch
                         else np.zeros(n, dtype=np.int64))
            kinds.append(np.full(n, is_switch))
        positions = np.concatenate(parts)
        order = np.argsort(positions, kind="stable")             # the batch's (time) order
        cpu_all = np.concatenate(cpus)[order]
        is_switch = np.concatenate(kinds)[order]
        next_at = np.concatenate(nexts)[order]
        prev_at = np.concatenate(prevs)[order]
        known = cpu_all >= 0
        tids = np.full(len(order), MISSING, dtype=np.int64)
        tids[known] = running_tids(cpu_all[known], is_switch[known], next_at[known],
                                   prev_at[known].__getitem__, self.current[kernel])
        back = np.empty_like(order)
        back[order] = np.arange(len(order))
        bounds = self.bounds[kernel]
        ts = int64_array(batch.ts) if bounds is not None else None
        out, at = {}, sum(len(p) for p in parts[:len(switch_ids)])
        for cid, where in zip(target_ids, parts[len(switch_ids):]):
            values = tids[back[at:at + len(where)]]
            at += len(where)
            if bounds is not None:
                t = ts[where]
                values[(t < bounds[0]) | (t > bounds[1])] = MISSING
            out[cid] = (IntColumn.of(values) if not (values == MISSING).any()
                        else [None if v == MISSING else v for v in values.tolist()])
        return out


def _cpus(column):
    """A CPU column as int64, -1 where an event has none."""
    try:
        return int64_array(column)
    except (TypeError, ValueError):
        import numpy as np
        return np.fromiter((-1 if c is None else c for c in column), np.int64, len(column))


def no_thread_reason(trace) -> str:
    """Why an entry of ``trace`` whose thread key part is null is dropped."""
    return NO_VTID if is_ust(trace) else NO_KERNEL_TID
