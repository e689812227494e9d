"""Every thread's timeline at once, as columns (built by ``_native.c``).

The reference state machine (``SchedModel._build_timeline``) walks one
thread's events in Python when asked; on a large trace with hundreds of
thousands of intervals to explain, every thread gets asked.  Here all
state-changing events go into one table sorted by (tid, seq), the C
state machine runs over it once, and the wakeup rows that ended sleeps are
resolved to their sources column-wise (numpy searchsorted per CPU).

Columns: ``tids`` (sorted) and ``off`` index the segments of each thread
(``off[i]:off[i+1]``); per segment ``start``, ``end``, ``state``,
``cpu`` (``NO_CPU`` for none), ``src_kind``/``src_id`` (what woke a
sleep; ``-1``: never woken) and ``reason``.
"""

from __future__ import annotations


import numpy as np

from .events import (ANY_IRQ_ID, ANY_SOFTIRQ_ID, FLAG_HARDIRQ, FLAG_NMI, FLAG_SOFTIRQ, IRQ,
                     NMI_ID, SOFTIRQ, WAKEUP, WAKEUP_NEW)
from .log import SchedLog

try:
    from . import _native
except ImportError:            # not built: the Python reference serves
    _native = None

NO_CPU = np.iinfo(np.int64).min
OPEN_END = 2 ** 62
# Event codes, in the order the reference's tuple sort puts same-seq events.
E_EXIT, E_FORK, E_IN, E_NEW, E_OUT, E_WAKE, E_WAKEUP = range(7)
STATE_NAMES = ("running", "runnable", "blocked", "exited", "unknown")
REASON_NAMES = (None, "preempted", "woken", "new")
# Source kinds (src_kind): the same codes the C analysis uses.
SRC_NONE, SRC_THREAD, SRC_IRQ, SRC_SOFTIRQ, SRC_HRTIMER, SRC_UNKNOWN = -1, 1, 2, 3, 4, 5
MAX_BACK = 256          # how far back an open interrupt entry is looked for


def available() -> bool:
    """Whether the C model was built and not switched off (see corr.accelerators)."""
    from ..accelerators import enabled
    return _native is not None and enabled("sched")


class ContextIndex:
    """Per CPU, the innermost interrupt context open before any event.

    Per CPU, the nesting depth after each entry/exit is a cumulative sum;
    less its running minimum (a trace can begin inside a handler), it is 0
    exactly when no context is open.  In a context, the innermost open
    entry is the last entry that reached the current depth: entries sorted
    by (depth, position) answer that with one searchsorted.
    """

    def __init__(self, log: SchedLog):
        ctx = log.table("context")
        self.cpus: dict[int, tuple] = {}
        for c in np.unique(ctx["cpu"]):
            mine = np.flatnonzero(ctx["cpu"] == c)
            codes = ctx["code"][mine]
            depth = np.cumsum(np.sign(codes))
            level = depth - np.minimum(np.minimum.accumulate(depth), 0)
            entries = np.flatnonzero(codes > 0)
            span = len(codes) + 1
            keys = depth[entries] * span + entries
            order = np.argsort(keys, kind="stable")
            self.cpus[int(c)] = (ctx["seq"][mine], level, depth, codes, ctx["id"][mine],
                                 keys[order], entries[order], span)

    def lookup(self, cpu: np.ndarray, seq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(code, id) of the context open before each (cpu, seq); code 0: none."""
        code = np.zeros(len(seq), dtype=np.int64)
        ident = np.zeros(len(seq), dtype=np.int64)
        for c, (seqs, level, depth, codes, ids, keys, entries, span) in self.cpus.items():
            rows = np.flatnonzero(cpu == c)
            if not len(rows):
                continue
            i = np.searchsorted(seqs, seq[rows]) - 1
            inside = i >= 0
            inside[inside] = level[i[inside]] > 0
            rows, i = rows[inside], i[inside]
            pos = np.searchsorted(keys, depth[i] * span + i, side="right") - 1
            j = entries[np.maximum(pos, 0)]
            found = (pos >= 0) & (depth[j] == depth[i]) & (j > i - MAX_BACK)
            code[rows[found]] = codes[j[found]]
            ident[rows[found]] = ids[j[found]]
        return code, ident


def _cpu_switches(log: SchedLog):
    """Switches grouped by CPU: (cpus, offsets, ts, next_tid, prev_tid, seq)."""
    sw = log.table("switch")
    order = np.argsort(sw["cpu"], kind="stable")
    cpus_sorted = sw["cpu"][order]
    cpus = np.unique(cpus_sorted)
    off = np.searchsorted(cpus_sorted, np.append(cpus, np.iinfo(np.int64).max)).astype(np.int64)
    return (cpus.astype(np.int64), off, sw["ts"][order], sw["next_tid"][order].astype(np.int64),
            sw["prev_tid"][order].astype(np.int64), sw["seq"][order])


def _flagged_contexts(flags: np.ndarray, code: np.ndarray, ident: np.ndarray) -> None:
    """Wakeups outside any recorded interrupt whose perf ``common_flags`` say they
    ran in one: a hard IRQ, an NMI or a softirq (ids ANY_IRQ_ID...), in place
    (``model.flagged_source``, column-wise)."""
    free = (code == 0) & (flags >= 0)
    if not free.any():
        return
    nmi = free & ((flags & FLAG_NMI) != 0)
    hard = free & ~nmi & ((flags & FLAG_HARDIRQ) != 0)
    soft = free & ~nmi & ~hard & ((flags & FLAG_SOFTIRQ) != 0)
    code[nmi | hard], code[soft] = IRQ, SOFTIRQ
    ident[nmi], ident[hard], ident[soft] = NMI_ID, ANY_IRQ_ID, ANY_SOFTIRQ_ID


def wakeup_sources(log: SchedLog, rows: np.ndarray, contexts: ContextIndex,
                   switches) -> tuple[np.ndarray, np.ndarray]:
    """(src_kind, src_id) of wakeup rows: SchedModel.source_of, column-wise."""
    wk = log.table("wakeup")
    seq, cpu = wk["seq"][rows], wk["cpu"][rows]
    code, ident = contexts.lookup(cpu, seq)
    _flagged_contexts(wk["flags"][rows], code, ident)
    kind = np.where(code > 0, code + 1, SRC_THREAD).astype(np.int8)   # IRQ 1 -> 2 ...
    waker = wk["waker"][rows].copy()
    missing = np.flatnonzero((code == 0) & (waker < 0))
    if len(missing):
        waker[missing] = -1
        cpus, off, _, next_tid, _, seqs = switches
        for k, c in enumerate(cpus):
            mine = missing[cpu[missing] == c]
            if not len(mine):
                continue
            lo, hi = off[k], off[k + 1]
            i = np.searchsorted(seqs[lo:hi], seq[mine]) - 1
            ok = i >= 0
            waker[mine[ok]] = next_tid[lo:hi][i[ok]]
    thread = code == 0
    kind[thread & (waker <= 0)] = SRC_UNKNOWN
    src_id = np.where(thread, np.where(waker > 0, waker, 0), ident)
    return kind, src_id


class TimelineStore:
    """All thread timelines of a log, built in one pass."""

    def __init__(self, log: SchedLog, begin_ns: int):
        self.begin_ns = begin_ns
        events = _thread_events(log)
        # At most one segment per event, plus a first and a last per thread.
        n = len(events[0]) + 2 * (np.count_nonzero(np.diff(events[0])) + 1) + 1
        out = (np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, np.int64),
               np.empty(n, np.int8), np.empty(n, np.int64), np.empty(n, np.int64),
               np.empty(n, np.int8))
        count = _native.timelines(*events, begin_ns, *out, log.early_wakes)
        del events
        tid, self.start, self.end, self.state, self.cpu, wake, self.reason = (
            column[:count] for column in out)
        # Segments come grouped by thread, in tid order: the index is where tid changes.
        first = np.concatenate(([0], np.flatnonzero(tid[1:] != tid[:-1]) + 1)) if count else \
            np.zeros(0, np.int64)
        self.tids = tid[first].copy()
        self.off = np.append(first, count).astype(np.int64)
        self.switches = _cpu_switches(log)
        self._switch_threads = None
        self.src_kind = np.full(count, SRC_NONE, dtype=np.int8)
        self.src_id = np.zeros(count, dtype=np.int64)
        woken = np.flatnonzero(wake >= 0)
        if len(woken):
            kind, ident = wakeup_sources(log, wake[woken], ContextIndex(log), self.switches)
            self.src_kind[woken], self.src_id[woken] = kind, ident

    # What a store is made of (``from_columns`` takes them back): per segment, per
    # thread, and the switches by CPU (``_cpu_switches``' tuple).
    COLUMNS = ("tids", "off", "start", "end", "state", "cpu", "src_kind", "src_id", "reason")

    @classmethod
    def from_columns(cls, begin_ns: int, columns: dict, switches: tuple) -> "TimelineStore":
        """A store built before, from its columns (``COLUMNS``) and switches: no log is
        read (the decode cache keeps them between runs)."""
        self = cls.__new__(cls)
        self.begin_ns = begin_ns
        for name in cls.COLUMNS:
            setattr(self, name, columns[name])
        self.switches = tuple(switches)
        self._switch_threads = None
        return self

    @property
    def switch_threads(self) -> tuple[np.ndarray, np.ndarray]:
        """The switches' next and previous threads as indexes into ``tids`` (found once:
        every chunk of explained intervals reads them)."""
        if self._switch_threads is None:
            _, _, _, next_tid, prev_tid, _ = self.switches
            self._switch_threads = (np.searchsorted(self.tids, next_tid),
                                    np.searchsorted(self.tids, prev_tid))
        return self._switch_threads

    def rows(self, tid: int) -> tuple[int, int] | None:
        """The segment range of a thread (None: no events)."""
        i = int(np.searchsorted(self.tids, tid))
        if i < len(self.tids) and self.tids[i] == tid:
            return int(self.off[i]), int(self.off[i + 1])
        return None


def _by_tid_seq_code(tid: np.ndarray, seq: np.ndarray, code: np.ndarray) -> np.ndarray:
    """The order of events by (tid, seq, code): one argsort of a packed key
    (tids of 22 bits, as Linux's pid_max, seqs of 31), else a lexsort."""
    if len(tid) and (tid.min() >= -1 and tid.max() < 2 ** 22 - 1
                     and seq.min() >= 0 and seq.max() < 2 ** 31):
        key = ((tid.astype(np.int64) + 1) << 34) | (seq.astype(np.int64) << 3) | code
        return np.argsort(key)
    return np.lexsort((code, seq, tid))


def _thread_events(log: SchedLog):
    """Every state-changing event per thread: (tid, ts, code, a, b), by (tid, seq, code);
    tid, a and b int32 or int64.

    The order is found from (tid, seq, code) alone; then each column is
    gathered in that order one at a time, so that few copies are alive at once.
    """
    sources = []           # (table, tid column, code, a column, b column)
    sources.append(("switch", "prev_tid", E_OUT, "cpu", "prev_state"))
    sources.append(("switch", "next_tid", E_IN, "cpu", None))
    kinds = log.table("wakeup")["kind"]
    late = WAKEUP if log.has_waking else -1
    wake_codes = np.where(kinds == WAKEUP_NEW, E_NEW,
                          np.where(kinds == late, E_WAKEUP, E_WAKE)).astype(np.int8)
    sources.append(("wakeup", "tid", wake_codes, "target_cpu", "row"))
    sources.append(("fork", "child_tid", E_FORK, None, None))
    sources.append(("exit", "tid", E_EXIT, None, None))
    sources = [s for s in sources if len(log.table(s[0])["seq"])]
    if not sources:
        empty = np.zeros(0, np.int64)
        return empty, empty, np.zeros(0, np.int8), empty, empty

    def gather(column_of, dtype=None):
        """One column over the sources; ``dtype`` None: the narrowest that holds its
        pieces (the log keeps tids and CPUs as int32 unless a value needs more)."""
        pieces = [column_of(*s) for s in sources]
        return np.concatenate(pieces).astype(dtype or np.result_type(*pieces), copy=False)

    def codes(table, tid_column, code, a, b):
        n = len(log.table(table)["seq"])
        return code if isinstance(code, np.ndarray) else np.full(n, code, dtype=np.int8)

    def column(name):
        def of(table, tid_column, code, a, b):
            t = log.table(table)
            wanted = {"tid": tid_column, "a": a, "b": b}.get(name, name)
            n = len(t["seq"])
            if wanted == "row":
                return np.arange(n, dtype=np.int32 if n < 2 ** 31 else np.int64)
            return t[wanted] if wanted else np.zeros(n, np.int32)
        return of

    order = _by_tid_seq_code(gather(column("tid")), gather(column("seq"), np.int64),
                             gather(codes, np.int8))
    # tid, a and b as narrow as they come (the C timelines reads 32 or 64 bits):
    # on a 5M-event trace, 18 MB less at the model's peak.
    return tuple(gather(of, dtype)[order] for of, dtype in (
        (column("tid"), None), (column("ts"), np.int64), (codes, np.int8),
        (column("a"), None), (column("b"), None)))
