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
compares them).

Each interval's own breakdown and critical path come from ``_native.explain``,
a chunk of intervals per call (:class:`Explained`): columns of codes, named
here (tests/test_explain_native.py compares them with the references).
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from ..encoded import EncodedJSON
from ..engine.threads import label
from ..reading.groups import usable_cpus
from ..sched.model import SOFTIRQ_NAMES, SchedModel, Source
from ..sched.store import _native
from .critical_path import CPU_WAIT, MAX_DEPTH, NOT_WOKEN, STATES, Part, PathSegment, wait_state

PART_KINDS = ("on_cpu", "preempted", "blocked", "unknown")
WAIT_KINDS = ((1, "preempted"), (2, "unknown"), (4, "blocked"))
# The kinds of wait an edge's bit set names, for every bit set.
_KIND_SETS = tuple(frozenset(name for bit, name in WAIT_KINDS if k & bit) for k in range(8))
# What a part names or a wait is on, by the C codes (1: a thread).
B_NONE, B_THREAD, B_IRQ, B_SOFTIRQ, B_HRTIMER, B_UNKNOWN, B_NOT_WOKEN, B_CPU_WAIT, B_EXITED = \
    range(9)
_FIXED_LABELS = {B_HRTIMER: "timer", B_UNKNOWN: "unknown", B_NOT_WOKEN: NOT_WOKEN,
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
        *st.switch_threads, np.ascontiguousarray(tids, dtype=np.int64), starts,
        np.ascontiguousarray(ends, dtype=np.int64), max_depth, with_edges, threads,
        min_per_thread, walk, log_limit, *st.layout(), st.mappings() or None)
    st.release_pages()        # a mapped store: what the walk read is not needed again
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


# explain's flags: parts tied on (ns, kind), a renamed thread among the parts, on the path.
F_TIES, F_RENAMED_PARTS, F_RENAMED_PATH = 1, 2, 4
F_RENAMED = F_RENAMED_PARTS | F_RENAMED_PATH
_new = tuple.__new__
_I64 = np.dtype(np.int64)
# A path segment's JSON from its state's name to its start (path_json's ``states``).
_STATE_JSON = [name.encode() + b'","start_ns":' for name in STATES]


def _person_json(tid: int, comm) -> bytes:
    """A path segment's JSON up to its state's name, for ``_native.path_json``
    (``orjson.JSONEncodeError`` for a name orjson does not encode)."""
    import orjson
    return orjson.dumps({"tid": tid, "comm": comm})[:-1] + b',"state":"'



class Names:
    """Thread names for many intervals, each thread's looked up once.

    Most threads have one name whatever the time.  The renamed ones (two
    names or more in the pass's history, ``threads``: the ThreadNames behind
    ``model.name_at``) are named by time: C is given the times their names
    begin (``ren_*``), and says which of its names (epoch) a part calls one
    by.  Without ``threads``, names are taken not to change.
    """

    def __init__(self, model: SchedModel, threads=None):
        self.model = model
        self.name_at = model.name_at
        self.renamed: dict[int, tuple[list, list]] = {}
        history = getattr(threads, "history", None)
        if history:
            for tid, n in Counter(tid for _, tid, _ in history).items():
                if n > 1:
                    self.renamed[tid] = threads.names_over_time(tid)
        tids = sorted(self.renamed)
        times = [self.renamed[t][0] for t in tids]
        self.ren = (np.asarray(tids, dtype=np.int64),
                    np.cumsum([0] + [len(t) for t in times], dtype=np.int64),
                    np.asarray([x for t in times for x in t], dtype=np.int64))
        self._one: dict = {}
        self._parts: dict = {}
        self._labels = _Labels(model)
        self.waits = _wait_states(model)

    def at(self, tid: int, ts: int):
        """``model.name_at(tid, ts)``, a thread that is never renamed looked up once."""
        found = self._one.get(tid, self)
        if found is self:
            if tid in self.renamed:
                return self.name_at(tid, ts)
            found = self._one[tid] = self.name_at(tid, ts)
        return found

    def at_many(self, tids, times) -> list:
        """:meth:`at` of each (tid, time), a thread at a time: a renamed thread's
        names found by one search of its names' times for all its times."""
        tids = np.asarray(tids, dtype=np.int64)
        times = np.asarray(times, dtype=np.int64)
        out: list = [None] * len(tids)
        order = np.argsort(tids, kind="stable")
        edges = np.flatnonzero(np.diff(tids[order])) + 1
        for rows in np.split(order, edges) if len(order) else ():
            tid = int(tids[rows[0]])
            renamed = self.renamed.get(tid)
            if renamed is None:
                name = self.at(tid, int(times[rows[0]]))
                for r in rows.tolist():
                    out[r] = name
                continue
            begins, names = renamed
            k = np.searchsorted(np.asarray(begins, dtype=np.int64), times[rows], "right") - 1
            for r, j in zip(rows.tolist(), np.maximum(k, 0).tolist()):
                out[r] = names[j]
        return out

    def part(self, key: tuple) -> tuple:
        """(kind, by, tid) of a part key from C: (kind, by kind, by id, name epoch)."""
        found = self._parts.get(key)
        if found is None:
            kind, by_kind, by_id, epoch = key
            if by_kind == B_THREAD:
                renamed = self.renamed.get(by_id)
                name = renamed[1][epoch] if renamed else self.at(by_id, None)
                found = (PART_KINDS[kind], label(by_id, name), by_id)
            else:
                found = (PART_KINDS[kind], self._labels.of(by_kind, by_id), None)
            self._parts[key] = found
        return found


def _wait_states(model: SchedModel) -> tuple:
    """critical_path.wait_state as tables for C: per source kind (-1..5), the IRQs that
    are IPIs, per softirq vector (the state's index in STATES)."""
    from ..sched import store
    kinds = [STATES.index(wait_state(None if k == store.SRC_NONE else
                                     Source("thread", 1) if k == store.SRC_THREAD else
                                     model._source(k, -1)))
             for k in range(-1, 6)]
    ipi = sorted(i for i in model.log.irq_names
                 if i >= 0 and wait_state(model._source(store.SRC_IRQ, i)) == "IPI")
    softirq = [STATES.index(wait_state(model._source(store.SRC_SOFTIRQ, v)))
               for v in range(len(SOFTIRQ_NAMES))]
    return (np.asarray(kinds, dtype=np.int8), np.asarray(ipi, dtype=np.int64),
            np.asarray(softirq, dtype=np.int8))


class Explained:
    """A chunk of intervals explained in C (``_native.explain``): each one's breakdown
    parts and critical-path segments as columns, read as Parts and PathSegments
    (the references' objects) or straight as the dicts of a result row.

    ``want``: what to explain at once (1 breakdowns, 2 paths, 3 both); the
    other comes with a second call for the chunk when first read (the
    folded stacks read only the paths).  With 4, ``waits_raw``: the
    waits the paths met (wait_off per interval, then the waiting tid, what
    woke it as a B_* kind and id, start, end), the code stacks' wakeups.
    """

    def __init__(self, model: SchedModel, names: Names, tids, starts, ends,
                 max_depth: int = MAX_DEPTH, want: int = 3):
        self.model, self.names, self.max_depth = model, names, max_depth
        self._intervals = tuple(np.ascontiguousarray(c, dtype=np.int64)
                                for c in (tids, starts, ends))
        self.flags: list[int] | None = None
        self.parts_raw = self.path_raw = self.waits_raw = None
        self.part_off = None
        self._via_chains: list[tuple] | None = None
        self._sparse = False
        self._explain(want)

    def _explain(self, want: int) -> None:
        st, names = self.model.store, self.names
        cpus, cpu_off, sw_ts, sw_next, sw_prev, _ = st.switches
        raw = _native.explain(
            st.tids, st.off, st.start, st.end, st.state, st.cpu, st.src_kind, st.src_id,
            self.model.begin_ns, cpus, cpu_off, sw_ts, sw_next, sw_prev, *st.switch_threads,
            *names.ren, *names.waits, *self._intervals, self.max_depth, want, *st.layout(),
            st.mappings() or None)
        (keys, part_off, part_key, part_ns, flags, seg_off, seg_tid, seg_state, seg_start,
         seg_end, seg_chain, chain_off, chain_tids, *waits) = (np.frombuffer(b, dtype=_I64)
                                                               for b in raw)
        flags = flags.tolist()
        self.flags = flags if self.flags is None else [a | b for a, b in zip(self.flags, flags)]
        if want & 1:
            part = names.part
            self.label_keys = [part(tuple(k)) for k in keys.reshape(-1, 4).tolist()]
            self.parts_raw = (part_off, part_key, part_ns)
            self.part_off = None
        if want & 2:
            self.path_raw = (seg_off, seg_tid, seg_state, seg_start, seg_end, seg_chain,
                             chain_off, chain_tids)
            self._via_chains = None
        if want & 4:
            self.waits_raw = tuple(waits)

    def _part_lists(self) -> None:
        """The breakdowns' columns as lists, for the Python objects read one by one."""
        if self.parts_raw is None:
            self._explain(1)
        if self.part_off is None:
            self.part_off, self.part_key, self.part_ns = (c.tolist() for c in self.parts_raw)

    def _paths(self) -> tuple:
        """The chunk's path columns (``path_raw``), asked of C the first time."""
        if self.path_raw is None:
            self._explain(2)
        return self.path_raw

    def _vias(self) -> list[tuple]:
        """Each via chain of the chunk's paths as a tuple of tids, made once."""
        if self._via_chains is None:
            *_, chain_off, chain_tids = self._paths()
            off, tids = chain_off.tolist(), chain_tids.tolist()
            self._via_chains = [tuple(tids[a:b]) for a, b in zip(off, off[1:])]
        return self._via_chains

    def _one_parts(self, k: int):
        """Interval k's (part key, ns) lists: from the chunk's lists, or, once the chunk
        is :meth:`encoded` (only the odd interval is read one by one), from its columns."""
        if self.part_off is None and self._sparse:
            off, key, ns = self.parts_raw
            lo, hi = int(off[k]), int(off[k + 1])
            return key[lo:hi].tolist(), ns[lo:hi].tolist()
        self._part_lists()
        lo, hi = self.part_off[k], self.part_off[k + 1]
        return self.part_key[lo:hi], self.part_ns[lo:hi]

    def _labelled(self, k: int):
        """Interval k's parts as ((kind, by, tid), ns), in the references' order."""
        keys, ns = self._one_parts(k)
        found = zip(map(self.label_keys.__getitem__, keys), ns)
        if self.flags[k] & (F_TIES | F_RENAMED_PARTS):
            # A tie is broken by label; a renamed thread's names may meet again.
            totals: dict = {}
            for what, ns in found:
                totals[what] = totals.get(what, 0) + ns
            found = sorted(totals.items(), key=lambda p: (-p[1], p[0][0], p[0][1] or ""))
        return found

    def parts(self, k: int) -> list[Part]:
        """Interval k's breakdown, as critical_path.breakdown gives it."""
        return [_new(Part, (kind, by, tid, ns)) for (kind, by, tid), ns in self._labelled(k)]

    def part_dicts(self, k: int) -> list[dict]:
        """The same as ``Part.as_dict`` gives them."""
        return [{"kind": kind, "by": by, "tid": tid, "ns": ns}
                for (kind, by, tid), ns in self._labelled(k)]

    def segments(self, k: int, limit: int | None = None):
        """Interval k's path as (tid, state index, start, end, via) rows (its first
        ``limit``), from the chunk's columns (only this interval's made Python
        objects: a chunk's paths through busy threads are millions of segments)."""
        off, tid, state, start, end, chain, chain_off, chain_tids = self._paths()
        lo, hi = int(off[k]), int(off[k + 1])
        if limit is not None:
            hi = min(hi, lo + limit)
        chains = chain[lo:hi].tolist()
        if self._via_chains is None and 8 * len(chains) < len(chain_off):
            # A few segments of a chunk with many via chains (a text report's first
            # rows): only theirs made tuples.
            tids = chain_tids
            vias = {c: tuple(tids[chain_off[c]:chain_off[c + 1]].tolist()) for c in set(chains)}
        else:
            vias = self._vias()
        return zip(tid[lo:hi].tolist(), state[lo:hi].tolist(), start[lo:hi].tolist(),
                   end[lo:hi].tolist(), map(vias.__getitem__, chains))

    def path_length(self, k: int) -> int:
        """How many segments interval k's path has."""
        off = self._paths()[0]
        return int(off[k + 1] - off[k])

    def path(self, k: int) -> list[PathSegment]:
        """Interval k's critical path, as critical_path.critical_path gives it."""
        at = self.names.at
        return [_new(PathSegment, (tid, at(tid, a), STATES[s], a, b, via))
                for tid, s, a, b, via in self.segments(k)]

    def path_dicts(self, k: int, named_at: int | None = None,
                   limit: int | None = None) -> list[dict]:
        """The same as ``PathSegment.as_dict`` gives them (the first ``limit``); with
        ``named_at``, every thread called by its name at that time, looked up once a
        thread (a path through two renamed threads has 10^5 segments or more)."""
        at = self.names.at
        if named_at is not None:
            names = {tid: at(tid, named_at) for tid in self.path_tids(k)}
            at = lambda tid, _: names[tid]
        return [{"tid": tid, "comm": at(tid, a), "state": STATES[s], "start_ns": a,
                 "end_ns": b, "via": list(via)} for tid, s, a, b, via in self.segments(k, limit)]

    def path_tids(self, k: int) -> list[int]:
        """The threads interval k's path goes through, in the order it meets them."""
        off, tid = self._paths()[:2]
        seg = tid[int(off[k]):int(off[k + 1])]
        found, first = np.unique(seg, return_index=True)
        return found[np.argsort(first)].tolist()

    def path_json(self, k: int, named_at: int) -> bytes | None:
        """Interval k's path as JSON (``orjson.dumps`` of :meth:`path_dicts` with
        ``named_at``), written in C: a path through renamed threads, called by their
        names at the interval's start; None where a name is not what orjson encodes."""
        import orjson
        off, tid, state, start, end, chain, chain_off, chain_tids = self._paths()
        lo, hi = int(off[k]), int(off[k + 1])
        tids, who = np.unique(tid[lo:hi], return_inverse=True)
        at = self.names.at
        try:
            people = [_person_json(t, at(t, named_at)) for t in tids.tolist()]
        except orjson.JSONEncodeError:
            return None
        return _native.path_json(np.asarray([0, hi - lo], dtype=np.int64),
                                 who.astype(np.int64), state[lo:hi], start[lo:hi], end[lo:hi],
                                 chain[lo:hi], chain_off, chain_tids, people, _STATE_JSON)[0]

    def encoded(self) -> tuple[list, list] | None:
        """Every interval's breakdown and critical path as JSON (``orjson.dumps`` of
        :meth:`part_dicts` and :meth:`path_dicts`), put together in C; right only
        for intervals without ``F_TIES`` or ``F_RENAMED`` (their parts are sorted
        again, their threads named by time, in Python).  None when a name is not
        what orjson encodes (a lone surrogate): the dicts are written then."""
        import orjson
        if self.parts_raw is None:
            self._explain(1)
        self._sparse = True
        seg_off, seg_tid, seg_state, *rest = self._paths()
        # Each thread named as path_dicts first names it: at its first segment's start.
        tids, first, who = np.unique(seg_tid, return_index=True, return_inverse=True)
        at, dumps = self.names.at, orjson.dumps
        try:
            labels = [dumps({"kind": kind, "by": by, "tid": tid})[:-1] + b',"ns":'
                      for kind, by, tid in self.label_keys]
            people = [_person_json(tid, at(tid, start))
                      for tid, start in zip(tids.tolist(), rest[0][first].tolist())]
        except orjson.JSONEncodeError:
            return None
        return (_native.parts_json(*self.parts_raw, labels),
                _native.path_json(seg_off, who.astype(np.int64), seg_state, *rest, people,
                                  _STATE_JSON))
