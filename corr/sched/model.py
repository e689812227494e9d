"""The scheduler model: what each thread and each CPU was doing, when.

Built lazily from a :class:`~corr.sched.log.SchedLog`: the event columns
are indexed by thread once (numpy argsorts), and a thread's timeline is
walked in Python only when an analysis asks for it, so the cost follows
the slow intervals analysed, not the trace.

With the C extension built, every timeline is made at once by
:mod:`corr.sched.store` (one pass over all threads' events) and a thread's
segments are read from its columns; ``native=False`` keeps the reference
Python walk below, which the tests compare it with.

A thread is ``running`` (on a CPU), ``runnable`` (preempted, or woken and
waiting for a CPU), ``blocked`` (switched out asleep; the wakeup that ends
it names its source) or ``exited``; before its first event it is
``unknown``, except that a thread whose first event is a wakeup was
blocked since the trace began.  A wakeup's source is the interrupt context
it happened in (hard IRQ, softirq, hrtimer) if any, else the thread
running on the waking CPU -- never a thread an interrupt merely
interrupted.
"""

from __future__ import annotations

import bisect
from typing import NamedTuple

import numpy as np

from . import store as _store
from .events import (ANY_IRQ_ID, ANY_SOFTIRQ_ID, FLAG_HARDIRQ, FLAG_NMI, FLAG_SOFTIRQ, IRQ,
                     NMI_ID, SOFTIRQ, WAKEUP, WAKEUP_NEW)
from .log import SchedLog

RUNNING, RUNNABLE, BLOCKED, EXITED, UNKNOWN = "running", "runnable", "blocked", "exited", "unknown"
SOFTIRQ_NAMES = ("HI", "TIMER", "NET_TX", "NET_RX", "BLOCK", "IRQ_POLL", "TASKLET", "SCHED",
                 "HRTIMER", "RCU")
OPEN_END = 2 ** 62
_DEAD = 16 | 32          # TASK_DEAD states: EXIT_DEAD (X), EXIT_ZOMBIE (Z)


class Source(NamedTuple):
    """What woke a thread: ``kind`` is thread, irq, softirq, hrtimer or unknown."""

    kind: str
    id: int | None = None          # tid, IRQ number, softirq vector, hrtimer function
    name: str | None = None        # IRQ name, softirq vector name

    def label(self, names=None) -> str:
        if self.kind == "thread":
            comm = names(self.id) if names else None
            return f"{comm or 'tid'} ({self.id})" if comm else f"tid {self.id}"
        if self.kind == "irq":
            if self.id is None or self.id < 0:        # known from perf's flags alone
                return "NMI" if self.id == NMI_ID else "hard IRQ"
            return f"IRQ {self.id} ({self.name})" if self.name else f"IRQ {self.id}"
        if self.kind == "softirq":
            if self.name is None and (self.id is None or self.id < 0):
                return "softirq"
            return f"softirq {self.name or self.id}"
        if self.kind == "hrtimer":
            return "timer"
        return "unknown"


UNKNOWN_SOURCE = Source("unknown")


def flagged_source(flags: int) -> Source | None:
    """The interrupt context perf's ``common_flags`` says a wakeup ran in (None: a task)."""
    if flags < 0:
        return None
    if flags & FLAG_NMI:
        return Source("irq", NMI_ID)
    if flags & FLAG_HARDIRQ:          # innermost: a hard IRQ can interrupt a softirq
        return Source("irq", ANY_IRQ_ID)
    if flags & FLAG_SOFTIRQ:
        return Source("softirq", ANY_SOFTIRQ_ID)
    return None


class Segment(NamedTuple):
    """A stretch of one thread's life in one state."""

    start: int
    end: int
    state: str
    cpu: int | None = None        # running: where; runnable: where it waits
    source: Source | None = None  # blocked: what woke it (None: never woken)
    reason: str | None = None     # runnable: "preempted", "woken" or "new"


def runnable_state(prev_state: int) -> bool:
    """``sched_switch``'s ``prev_state`` says the thread stays runnable (preempted).

    0 is TASK_RUNNING; a preemption is reported as TASK_REPORT_MAX (256 on
    recent kernels, 1024-4096 on older ones), with no sleep bit set.
    """
    return prev_state == 0 or (prev_state > 0 and prev_state & 0xFF == 0)


class SchedModel:
    """Thread timelines, CPU occupancy and interrupt contexts of a trace."""

    def __init__(self, log: SchedLog, begin_ns: int | None, end_ns: int | None,
                 names=None, native: bool | None = None):
        self.log = log
        self.native = _store.available() if native is None else native
        self._store: _store.TimelineStore | None = None
        self.begin_ns = begin_ns if begin_ns is not None else 0
        self.end_ns = end_ns if end_ns is not None else self.begin_ns
        self.name_at = names or (lambda tid, ts=None: None)
        self._timelines: dict[int, list[Segment]] = {}
        self._starts: dict[int, list[int]] = {}
        self._by_tid: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
        self._cpus: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None
        self._contexts: dict[int, dict[str, np.ndarray]] | None = None

    @classmethod
    def from_store(cls, store: "_store.TimelineStore | None", log: SchedLog,
                   begin_ns: int | None, end_ns: int | None, names=None) -> "SchedModel":
        """A C model over a timeline store built before (``TimelineStore.from_records``),
        ``log`` a released log with its facts (``SchedLog.from_facts``): the event
        columns are not needed again (None: a log without scheduling events)."""
        model = cls(log, begin_ns, end_ns, names=names, native=True)
        model._store = store
        return model

    @property
    def available(self) -> bool:
        """Whether the trace had scheduling events at all."""
        return self.log.has_scheduling

    # -- indexes ---------------------------------------------------------------------
    def _rows_of(self, kind: str, column: str, tid: int) -> np.ndarray:
        """Rows of ``kind`` whose ``column`` is ``tid`` (stream order)."""
        index = self._by_tid.get((kind, column))
        if index is None:
            values = self.log.table(kind)[column]
            order = np.argsort(values, kind="stable")
            index = self._by_tid[(kind, column)] = (values[order], order)
        values, order = index
        lo, hi = np.searchsorted(values, [tid, tid + 1])
        return order[lo:hi]

    # -- thread timelines ----------------------------------------------------------------
    @property
    def store(self) -> _store.TimelineStore:
        """Every thread's timeline as columns (the C model; built on first use)."""
        if self._store is None:
            self._store = _store.TimelineStore(self.log, self.begin_ns)
        return self._store

    def build_store(self) -> None:
        """Build the store now and release the log's columns (``SchedLog.release``) as
        soon as the build has read them: only the Python reference reads them again."""
        if self._store is None:
            self._store = _store.TimelineStore(self.log, self.begin_ns, release=self.log.release)
        self.log.release()

    def timeline(self, tid: int) -> list[Segment]:
        """The thread's segments, covering the trace from its beginning to its end."""
        found = self._timelines.get(tid)
        if found is None:
            found = self._timelines[tid] = (self._stored_timeline(tid) if self.native
                                            else self._build_timeline(tid))
            self._starts[tid] = [seg.start for seg in found]
        return found

    def _stored_timeline(self, tid: int, first: int | None = None,
                         last: int | None = None) -> list[Segment]:
        """The thread's segments (rows ``first:last`` of the store) as Segments."""
        st = self.store
        rows = st.rows(tid)
        if rows is None:
            return [Segment(self.begin_ns, OPEN_END, UNKNOWN)]
        lo, hi = rows if first is None else (first, last)
        states, reasons = _store.STATE_NAMES, _store.REASON_NAMES
        found = st.segment_rows(lo, hi)
        return [Segment(start, end, states[state], None if cpu == _store.NO_CPU else cpu,
                        self._source(kind, ident), reasons[reason])
                for start, end, state, cpu, kind, ident, reason in zip(
                    *(found[name].tolist() for name in (
                        "start", "end", "state", "cpu", "src_kind", "src_id", "reason")))]

    def _source(self, kind: int, ident: int) -> Source | None:
        """A stored source code as a Source."""
        if kind == _store.SRC_NONE:
            return None
        if kind == _store.SRC_THREAD:
            return Source("thread", ident)
        if kind == _store.SRC_UNKNOWN:
            return UNKNOWN_SOURCE
        return self._context_source(kind - 1, ident)

    def segment_index(self, tid: int, at: int) -> int:
        """Index of the thread's segment that contains ``at`` (or the first one)."""
        self.timeline(tid)
        return max(bisect.bisect_right(self._starts[tid], at) - 1, 0)

    def _events_of(self, tid: int) -> list[tuple]:
        """(seq, ts, what, a, b) for every event that changes the thread's state."""
        log = self.log
        events: list[tuple] = []

        def take(kind, column, what, a=None, b=None):
            rows = self._rows_of(kind, column, tid)
            if not len(rows):
                return
            t = log.table(kind)
            n = len(rows)
            events.extend(zip(t["seq"][rows].tolist(), t["ts"][rows].tolist(),
                              what if isinstance(what, list) else [what] * n,
                              t[a][rows].tolist() if a else [None] * n,
                              (rows.tolist() if b == "row" else t[b][rows].tolist()) if b
                              else [None] * n))

        take("switch", "prev_tid", "out", "cpu", "prev_state")
        take("switch", "next_tid", "in", "cpu")
        # With sched_waking (emitted by the waker, in its context) the wake is
        # the waking; sched_wakeup (on the target CPU) then only completes a
        # wake that began before the thread was off its CPU.
        rows = self._rows_of("wakeup", "tid", tid)
        if len(rows):
            late = WAKEUP if log.has_waking else None
            kinds = log.table("wakeup")["kind"][rows].tolist()
            take("wakeup", "tid", ["new" if k == WAKEUP_NEW else "wakeup" if k == late else "wake"
                                   for k in kinds], "target_cpu", "row")
        take("fork", "child_tid", "fork")
        take("exit", "tid", "exit")
        events.sort()
        return events

    def _build_timeline(self, tid: int) -> list[Segment]:
        segments: list[Segment] = []
        state, since, cpu, source, reason = UNKNOWN, self.begin_ns, None, None, None
        exiting = False          # sched_process_exit seen: its next switch-out is its last
        early = None             # a waking that came while the thread was still on its CPU
        completing = False       # blocked by an early waking: sched_wakeup ends it

        def close(at):
            if at > since or not segments or state == BLOCKED:
                segments.append(Segment(since, at, state, cpu, source, reason))

        for seq, ts, what, a, b in self._events_of(tid):
            if what == "in":
                close(ts)
                state, since, cpu, source, reason = RUNNING, ts, a, None, None
                early, completing = None, False
            elif what == "out":
                if state in (RUNNABLE, BLOCKED):
                    # Switched out without a switch-in since: lost events, so
                    # what it did since the last thing seen is unknown.
                    state, source, reason = UNKNOWN, None, None
                close(ts)
                since, cpu, source = ts, a, None
                if exiting or b & _DEAD:
                    exiting = False
                    state, reason = EXITED, None
                elif runnable_state(b):
                    state, reason = RUNNABLE, "preempted"
                else:
                    state, reason = BLOCKED, None
                    if early is not None:          # woken while switching out
                        source, completing = self.source_of(early), True
                early = None
            elif what in ("wake", "new"):
                if state == RUNNING:
                    # A waking while it still runs ends the sleep that follows
                    # only if its sched_wakeup comes after that switch-out.
                    if what == "wake" and self.log.early_wakes:
                        early = b
                elif state in (BLOCKED, UNKNOWN, EXITED) or (state == RUNNABLE and reason == "new"):
                    wake_source = self.source_of(b)
                    if state in (UNKNOWN, EXITED) and what == "wake":
                        # Woken: it was asleep since the trace (or its life) began.
                        state = BLOCKED
                    if state == BLOCKED and not completing:
                        source = wake_source
                    close(ts)
                    state, since, cpu = RUNNABLE, ts, (a if a >= 0 else cpu)
                    source, reason = None, "woken" if what == "wake" else "new"
                    completing = False
            elif what == "wakeup":                 # sched_wakeup when sched_waking exists
                if state == RUNNING:
                    early = None                   # completed while it ran: no sleep's wake
                if state == BLOCKED and completing:
                    close(ts)
                    state, since, source, reason = RUNNABLE, ts, None, "woken"
                    completing = False
                if state == RUNNABLE and a >= 0:
                    cpu = a                        # the CPU it is queued on
            elif what == "exit":
                exiting = True
            elif what == "fork":                # a new thread (maybe a reused tid)
                close(ts)
                state, since, cpu, source, reason = RUNNABLE, ts, None, None, "new"
        close(OPEN_END)          # the last state lasts as long as anyone asks
        # Empty segments go, except a sleep woken at the very ns it began:
        # it still says who woke the thread.
        return [s for s in segments if s.end > s.start or s.source is not None] or segments[-1:]

    def segments(self, tid: int, start: int, end: int) -> list[Segment]:
        """The thread's segments clipped to ``[start, end]``, tiling it exactly."""
        if self.native and tid not in self._timelines:
            candidates = self._stored_range(tid, start, end)     # only those it needs
        else:
            timeline = self.timeline(tid)
            candidates = timeline[self.segment_index(tid, start):]
        out = []
        for seg in candidates:
            if seg.start >= end:
                break
            if seg.end <= start or seg.end <= seg.start:
                continue
            out.append(seg._replace(start=max(seg.start, start), end=min(seg.end, end)))
        if not out:
            return [Segment(start, end, UNKNOWN)] if end > start else []
        if out[0].start > start:
            out.insert(0, Segment(start, out[0].start, UNKNOWN))
        if out[-1].end < end:
            out.append(Segment(out[-1].end, end, UNKNOWN))
        return out

    def _stored_range(self, tid: int, start: int, end: int, after: int = 0) -> list[Segment]:
        """The stored segments from the one containing ``start`` to the last before
        ``end``, and ``after`` more."""
        rows = self.store.rows(tid)
        if rows is None:
            return self._stored_timeline(tid)
        lo, hi = rows
        first = max(self.store.search(lo, hi, start, "right") - lo - 1, 0)
        last = min(self.store.search(lo, hi, end, "left") - lo + after, hi - lo)
        return self._stored_timeline(tid, lo + first, lo + max(last, first + 1))

    def running_cpu_after(self, tid: int, at: int) -> int | None:
        """The CPU of the thread's running segment starting at ``at`` (None: none does)."""
        if self.native and tid not in self._timelines:
            candidates = self._stored_range(tid, at, at + 1, after=1)   # and the next one
        else:
            candidates = self.timeline(tid)[self.segment_index(tid, at):]
        for later in candidates:
            if later.start >= at and later.state == RUNNING:
                return later.cpu
            if later.start > at:
                break
        return None

    # -- wakeup sources ----------------------------------------------------------------
    def source_of(self, wakeup_row: int) -> Source:
        """The source of one wakeup event: its interrupt context, else the waking thread."""
        wk = self.log.table("wakeup")
        seq, cpu = int(wk["seq"][wakeup_row]), int(wk["cpu"][wakeup_row])
        context = self.context_at(cpu, seq)
        if context is not None:
            return context
        flagged = flagged_source(int(wk["flags"][wakeup_row]))
        if flagged is not None:
            return flagged
        waker = int(wk["waker"][wakeup_row])
        if waker < 0:
            waker = self.running_at(cpu, seq)
        if waker is None or waker <= 0:
            return UNKNOWN_SOURCE          # the idle task, outside any traced interrupt
        return Source("thread", waker)

    def context_at(self, cpu: int, seq: int, max_back: int = 256) -> Source | None:
        """The innermost interrupt context open on ``cpu`` just before event ``seq``.

        Per CPU, the nesting depth after each entry/exit is a cumulative sum;
        less its running minimum (a trace can begin inside a handler), it is
        0 exactly when no context is open, so most questions end there.  In
        a context, the innermost open entry is the last one that reached the
        current depth.
        """
        mine = self._context_tables().get(cpu)
        if mine is None:
            return None
        seqs, level, depth, codes, ids = mine
        i = int(np.searchsorted(seqs, seq)) - 1
        if i < 0 or level[i] <= 0:
            return None
        here = depth[i]
        for j in range(i, max(-1, i - max_back), -1):
            if codes[j] > 0 and depth[j] == here:
                return self._context_source(codes[j], ids[j])
        return None

    def _context_tables(self) -> dict:
        if self._contexts is None:
            ctx = self.log.table("context")
            self._contexts = {}
            for c in np.unique(ctx["cpu"]):
                mine = ctx["cpu"] == c
                codes = ctx["code"][mine]
                depth, level = context_levels(codes)
                self._contexts[int(c)] = (ctx["seq"][mine], level, depth.tolist(),
                                          codes.tolist(), ctx["id"][mine].tolist())
        return self._contexts

    def _context_source(self, code: int, ident: int) -> Source:
        if ident < 0 and code in (IRQ, SOFTIRQ):     # from perf's flags: which one is unknown
            return Source("irq" if code == IRQ else "softirq", ident)
        if code == IRQ:
            return Source("irq", ident, self.log.irq_names.get(ident))
        if code == SOFTIRQ:
            name = SOFTIRQ_NAMES[ident] if 0 <= ident < len(SOFTIRQ_NAMES) else None
            return Source("softirq", ident, name)
        return Source("hrtimer", ident)

    # -- CPUs ------------------------------------------------------------------------------
    def _cpu_tables(self):
        if self._cpus is None and self.native:
            cpus, off, ts, next_tid, prev_tid, seq = self.store.switches
            self._cpus = {int(c): (seq[off[k]:off[k + 1]], ts[off[k]:off[k + 1]],
                                   next_tid[off[k]:off[k + 1]], prev_tid[off[k]:off[k + 1]])
                          for k, c in enumerate(cpus)}
        if self._cpus is None:
            sw = self.log.table("switch")
            self._cpus = {}
            for c in np.unique(sw["cpu"]):
                mine = sw["cpu"] == c
                self._cpus[int(c)] = (sw["seq"][mine], sw["ts"][mine], sw["next_tid"][mine],
                                      sw["prev_tid"][mine])
        return self._cpus

    def running_at(self, cpu: int, seq: int) -> int | None:
        """The thread on ``cpu`` just before event ``seq`` (None: unknown yet)."""
        tables = self._cpu_tables().get(cpu)
        if tables is None:
            return None
        seqs, _, next_tid, _ = tables
        i = int(np.searchsorted(seqs, seq)) - 1
        return int(next_tid[i]) if i >= 0 else None

    def occupants(self, cpu: int, start: int, end: int) -> list[tuple[int | None, int]]:
        """Who ran on ``cpu`` during ``[start, end]``: ``(tid, ns)`` in time order."""
        tables = self._cpu_tables().get(cpu)
        if tables is None or end <= start:
            return [(None, end - start)] if end > start else []
        _, ts, next_tid, prev_tid = tables
        i = int(np.searchsorted(ts, start, side="right")) - 1
        current = int(next_tid[i]) if i >= 0 else (int(prev_tid[0]) if len(prev_tid) else None)
        out, at = [], start
        j = i + 1
        while j < len(ts) and ts[j] < end:
            if ts[j] > at:
                out.append((current, int(ts[j]) - at))
                at = int(ts[j])
            current = int(next_tid[j])
            j += 1
        out.append((current, end - at))
        return out


def context_levels(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One CPU's interrupt-context entries and exits (codes: + entry, - exit), in
    order: the nesting depth after each, and the level (depth less its running
    minimum, for a trace that begins inside a handler): 0 exactly when no context
    is open (:meth:`SchedModel.context_at`; ``corr.sched.window`` trims there)."""
    depth = np.cumsum(np.sign(codes))
    return depth, depth - np.minimum(np.minimum.accumulate(depth), 0)


def tile_check(segments, start: int, end: int) -> bool:
    """Whether segments (with ``start``/``end``) tile ``[start, end]`` exactly."""
    at = start
    for s in segments:
        if s.start != at or s.end < s.start:
            return False
        at = s.end
    return at == end


__all__ = ["SchedModel", "Segment", "Source", "runnable_state", "tile_check", "context_levels",
           "RUNNING", "RUNNABLE", "BLOCKED", "EXITED", "UNKNOWN"]
