"""Many intervals explained at once, in C: the totals a rule's blame needs.

A rule can have hundreds of thousands of slow intervals (every syscall
over 1 ms of a busy trace).  Their breakdowns and critical paths are not
kept one by one: ``_native.analyse`` walks them over the timeline store
and adds up, per breakdown part, the ns (the differential view) and, per
blame-graph edge (a thread, what it waited on), the union of the stretches
it covered (each ns once), the number of intervals and the kinds of wait.
The union is kept as one growing range per edge; ranges that do not meet
it go to a log, merged when it grows, and in a walk in time order a range
that ends before the current interval began is final and leaves it.  The
same semantics as the Python references ``breakdown`` and ``critical_path`` (tests/test_sched_native.py
compares them); one interval's own breakdown and path are computed by
those references when a renderer asks for it.
"""

from __future__ import annotations

import numpy as np

from ..engine.threads import label
from ..reading.groups import usable_cpus
from ..sched.model import SOFTIRQ_NAMES, SchedModel, Source
from ..sched.store import _native
from .critical_path import CPU_WAIT, MAX_DEPTH, Part

PART_KINDS = ("on_cpu", "preempted", "blocked", "unknown")
WAIT_KINDS = ((1, "preempted"), (2, "unknown"), (4, "blocked"))
# The kinds of wait an edge's bit set names, for every bit set.
_KIND_SETS = tuple(frozenset(name for bit, name in WAIT_KINDS if k & bit) for k in range(8))
# What a part names or a wait is on, by the C codes (1: a thread).
B_NONE, B_THREAD, B_IRQ, B_SOFTIRQ, B_HRTIMER, B_UNKNOWN, B_NOT_WOKEN, B_CPU_WAIT, B_EXITED = \
    range(9)
_FIXED_LABELS = {B_HRTIMER: "timer", B_UNKNOWN: "unknown", B_NOT_WOKEN: "not woken in the trace",
                 B_CPU_WAIT: CPU_WAIT, B_EXITED: "exited"}


class Totals:
    """Breakdown parts and blame-graph edges added up over many intervals."""

    def __init__(self, parts: list[Part], edges: list[tuple]):
        self.parts = parts      # Part(kind, by, tid, ns), ns summed over the intervals
        self.edges = edges      # (waiter tid, tid or resource label, ns, intervals, kinds)


def totals(model: SchedModel, tids: np.ndarray, starts: np.ndarray, ends: np.ndarray,
           with_edges: bool = True, max_depth: int = MAX_DEPTH, threads: int | None = None,
           min_per_thread: int = 2048, in_time_order: bool = True,
           log_limit: int = 65536) -> Totals:
    """The added-up breakdowns (and blame edges) of the intervals ``(tid, start, end)``.

    Parts and edges are listed in the order a walk of the intervals as given
    first meets them.  The walk itself goes in time order (``in_time_order``):
    the slowest intervals, the order a rule hands them in, lie all over the
    trace, and a walk by duration misses the cache on every timeline it reads.
    With ``threads`` (default: the CPUs this process may use) the intervals
    are split among that many threads, each at least ``min_per_thread``
    intervals: the totals are the same, in the same order.
    """
    if threads is None:
        threads = usable_cpus()
    starts = np.ascontiguousarray(starts, dtype=np.int64)
    walk = np.argsort(starts, kind="stable") if in_time_order else None
    st = model.store
    cpus, cpu_off, sw_ts, sw_next, sw_prev, _ = st.switches
    parts, edges = _native.analyse(
        st.tids, st.off, st.start, st.end, st.state, st.cpu, st.src_kind, st.src_id,
        model.begin_ns, cpus, cpu_off, sw_ts, sw_next, sw_prev,
        np.searchsorted(st.tids, sw_next), np.searchsorted(st.tids, sw_prev),
        np.ascontiguousarray(tids, dtype=np.int64), starts,
        np.ascontiguousarray(ends, dtype=np.int64), max_depth, with_edges, threads,
        min_per_thread, walk, log_limit)
    label = _Labels(model)
    return Totals(
        [Part(PART_KINDS[kind], label.of(by_kind, by_id), by_id if by_kind == B_THREAD else None,
              ns) for kind, by_kind, by_id, ns in parts],
        [(waiter, on_id if on_kind == B_THREAD else label.of(on_kind, on_id), ns, count,
          _KIND_SETS[kinds])
         for waiter, on_kind, on_id, ns, count, kinds in edges])


class _Labels:
    """Names of what the C codes designate, as the Python analyses write them."""

    def __init__(self, model: SchedModel):
        self.model = model

    def of(self, kind: int, ident: int) -> str | None:
        if kind == B_NONE:
            return None
        if kind == B_THREAD:
            return label(ident, self.model.name_at(ident))
        if kind in _FIXED_LABELS:
            return _FIXED_LABELS[kind]
        if kind == B_IRQ:
            return Source("irq", ident, self.model.log.irq_names.get(ident)).label()
        name = SOFTIRQ_NAMES[ident] if 0 <= ident < len(SOFTIRQ_NAMES) else None
        return Source("softirq", ident, name).label()


def available(model: SchedModel) -> bool:
    """Whether ``totals`` can run: the C extension, and a model using it."""
    return _native is not None and model.native
