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
TID = "ctx.tid"
THREAD_CONTEXTS = (TID, "ctx.vtid")
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
        context; every batch must be given, in order (the CPUs' threads are state)."""
        kernels: dict[int, tuple[list, list]] = {}
        for cid, cols in batch.classes.items():
            info = registry[cid]
            if info.trace in self.sources:
                if not any(c in cols.fields for c in THREAD_CONTEXTS):
                    kernels.setdefault(self.sources[info.trace].index, ([], []))[1].append(cid)
            elif info.trace in self.current and (info.name == SWITCH or TID in cols.fields):
                kernels.setdefault(info.trace, ([], []))[0].append(cid)
        out: dict[int, list] = {}
        for kernel, (evidence, targets) in kernels.items():
            out.update(self._derive(batch, registry, kernel, evidence, targets))
        return out

    def _derive(self, batch, registry, kernel: int, evidence: list, targets: list) -> dict:
        """The targets' threads: on each CPU, the thread of the kernel's last event
        before (a switch's ``next_tid``, any other event's ``ctx.tid``: a switch-in
        the kernel trace lost is then seen at the thread's next event)."""
        import numpy as np

        n = len(batch.class_ids)
        class_ids = int64_array(batch.class_ids, n)
        wanted = np.zeros(int(class_ids.max()) + 1, dtype=bool)
        wanted[evidence + targets] = True
        sel = np.flatnonzero(wanted[class_ids])                 # positions, in time order
        by_class = np.argsort(class_ids[sel], kind="stable")    # each class's in time order
        cpu_at = np.full(n, -1, dtype=np.int64)
        next_at = np.zeros(n, dtype=np.int64)
        prev_at = np.zeros(n, dtype=np.int64)
        is_evidence = np.zeros(n, dtype=bool)
        rows_of, at = {}, 0
        for cid in sorted(evidence + targets):
            cols = batch.classes[cid]
            rows = rows_of[cid] = sel[by_class[at:at + len(cols.cpu)]]
            at += len(cols.cpu)
            cpu_at[rows] = _ints(cols.cpu)
            if cid in targets:
                continue
            is_evidence[rows] = True
            if registry[cid].name == SWITCH:
                next_at[rows] = _ints(cols.fields["next_tid"])
                prev_at[rows] = _ints(cols.fields["prev_tid"])
            else:                 # it ran in ctx.tid: before and after it
                next_at[rows] = prev_at[rows] = tids = _ints(cols.fields[TID])
                cpu_at[rows[tids < 0]] = -1
        known = sel[cpu_at[sel] >= 0]
        tid_at = np.full(n, MISSING, dtype=np.int64)
        tid_at[known] = running_tids(cpu_at[known], is_evidence[known], next_at[known],
                                     prev_at[known].__getitem__, self.current[kernel])
        bounds = self.bounds[kernel]
        ts = int64_array(batch.ts, n) if bounds is not None and targets else None
        out = {}
        for cid in targets:
            rows = rows_of[cid]
            values = tid_at[rows]
            if ts is not None:
                t = ts[rows]
                values[(t < bounds[0]) | (t > bounds[1])] = MISSING
            out[cid] = (IntColumn.of(values) if not (values == MISSING).any()
                        else [None if v == MISSING else v for v in values.tolist()])
        return out


def _ints(column):
    """A column of CPUs or thread ids as int64, -1 where an event has none."""
    try:
        return int64_array(column)
    except (TypeError, ValueError):
        import numpy as np
        return np.fromiter((-1 if c is None else c for c in column), np.int64, len(column))


def no_thread_reason(trace) -> str:
    """Why an entry of ``trace`` whose thread key part is null is dropped."""
    return NO_VTID if is_ust(trace) else NO_KERNEL_TID


def evidence_projection(traces) -> dict[str, frozenset]:
    """``ctx.tid`` of every event of the kernel traces that give threads to a UST
    trace recorded without vtid, when the kernel trace records it on each event
    (perf's ``perf_tid``): each says which thread ran on its CPU, which a lost
    switch-in would otherwise hide (LTTng kernel traces derive it from the
    switches themselves, so they have nothing to add)."""
    out: dict[str, frozenset] = {}
    for ust in traces:
        if not is_ust(ust) or records_threads(ust):
            continue
        kernel = kernel_source(traces, ust)
        if kernel is None:
            continue
        d = dialects.detect(kernel.env, kernel.class_names)
        if d.name != "perf":
            continue
        for raw in kernel.class_names:
            name = dialects.canonical_name(d, raw)
            for pattern in ([name] if name is not None
                            else ["syscall_entry_*", "syscall_exit_*"]):
                out[pattern] = frozenset({TID})
    return out
