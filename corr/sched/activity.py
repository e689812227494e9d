"""System calls kept for rules with ``activity: true``, and the pass's kernel activity
indexed for reading per interval (docs/scheduling.md, *Kernel activity per interval*).

The scheduling log keeps switches, wakeups, interrupt contexts and migrations;
system calls are kept here, only when a rule asks: per ``syscall_entry_*`` /
``syscall_exit_*`` event a few integers (time, position, thread, entry or exit,
the call's name interned).  :class:`ActivityIndex` pairs them into calls, and
the interrupt contexts into spans per CPU, column-wise, before the scheduling
log's columns are released.
"""

from __future__ import annotations

import numpy as np

from ..reading.batch import int64_array
from .events import IRQ, MIGRATE, SOFTIRQ
from .log import _ints, _Table

ENTRY_PREFIX, EXIT_PREFIX = "syscall_entry_", "syscall_exit_"
_COLUMNS = ("ts", "seq", "tid", "code", "name")


class SyscallLog:
    """``syscall_entry_<name>`` (code 1) and ``syscall_exit_<name>`` (code -1) events of
    a pass, column-wise; ``names[i]`` is the name of id ``i``."""

    def __init__(self) -> None:
        self._table = _Table(_COLUMNS)
        self.names: list[str] = []
        self._ids: dict[str, int] = {}

    def _id(self, name: str) -> int:
        found = self._ids.get(name)
        if found is None:
            found = self._ids[name] = len(self.names)
            self.names.append(name)
        return found

    def add_batch(self, batch, class_name, first_seq: int) -> None:
        """Copy the batch's system call events; ``class_name(cid)`` names a class."""
        pieces = []
        class_ids = None
        for cid, cols in batch.classes.items():
            name = class_name(cid)
            if name.startswith(ENTRY_PREFIX):
                code, call = 1, name[len(ENTRY_PREFIX):]
            elif name.startswith(EXIT_PREFIX):
                code, call = -1, name[len(EXIT_PREFIX):]
            else:
                continue
            if not len(cols):
                continue
            if class_ids is None:
                class_ids = int64_array(batch.class_ids)
                ts_all = int64_array(batch.ts)
            rows = np.flatnonzero(class_ids == cid)
            tids = cols.fields.get("ctx.tid")
            n = len(rows)
            pieces.append({"ts": ts_all[rows], "seq": rows + first_seq,
                           "tid": _ints(tids) if tids is not None else np.full(n, -1),
                           "code": np.full(n, code, dtype=np.int8),
                           "name": np.full(n, self._id(call), dtype=np.int32)})
        if not pieces:
            return
        columns = {c: np.concatenate([p[c] for p in pieces]) for c in _COLUMNS}
        order = np.argsort(columns["seq"], kind="stable")
        self._table.append({c: v[order] for c, v in columns.items()})

    def __len__(self) -> int:
        return len(self._table)

    def columns(self) -> dict[str, np.ndarray]:
        return self._table.whole()


def pair(group: np.ndarray, seq: np.ndarray, code: np.ndarray, begin: int | None = None,
         end: int | None = None):
    """Entries (code > 0) and exits (code < 0) paired within each ``group`` value (a
    thread, a CPU), in ``seq`` order: an entry whose next event of its group is an exit
    is one span.  With ``begin``, a group's first event being an exit is a span from
    ``begin`` (it was open when the trace began); with ``end``, a group's last event
    being an entry is one to ``end`` (still open at the end, or never returned).
    Anything else unpaired (an entry followed by an entry, an exit by an exit: lost
    events) is left out.  Returns (rows of the entries or -1, rows of the exits or -1),
    sorted by (group, seq)."""
    in_order = len(seq) < 2 or bool(np.all(seq[1:] >= seq[:-1]))   # logs are, in stream order
    order = np.argsort(group, kind="stable") if in_order else np.lexsort((seq, group))
    g, c = group[order], code[order]
    n = len(order)
    if not n:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    first = np.ones(n, dtype=bool)
    first[1:] = g[1:] != g[:-1]
    last = np.ones(n, dtype=bool)
    last[:-1] = first[1:]
    entry = c > 0
    paired = np.zeros(n, dtype=bool)
    paired[:-1] = entry[:-1] & ~last[:-1] & (c[1:] < 0)
    opens = paired                 # each span found at its first event: in (group, seq) order
    if end is not None:
        opens = opens | (entry & last)
    if begin is not None:
        opens = opens | (~entry & first)
    at = np.flatnonzero(opens)
    entries = np.where(entry[at], order[at], -1)
    exit_at = np.where(entry[at], np.where(paired[at], at + 1, -1), at)
    exits = np.where(exit_at >= 0, order[np.maximum(exit_at, 0)], -1)
    return entries, exits


class Spans:
    """Non-overlapping spans per group (a thread's calls, a CPU's IRQs of one kind),
    sorted by (group, start): within a group the ends are sorted too, so the spans
    meeting a window are found by two binary searches."""

    def __init__(self, group, start, end, ident):
        self.group, self.start, self.end, self.ident = group, start, end, ident
        groups, first = np.unique(group, return_index=True)
        bounds = np.append(first, len(group)).tolist()
        self._where = {g: (bounds[k], bounds[k + 1]) for k, g in enumerate(groups.tolist())}

    def meeting(self, key: int, windows) -> list[tuple[int, int, int]]:
        """``key``'s spans that overlap the windows (sorted, disjoint (a, b) pairs), and
        its instants in them: (row, id, ns of the span in the window), a row meeting two
        windows twice.  Windows hold few spans: numpy finds where, Python walks them."""
        lo, hi = self._where.get(key, (0, 0))
        if lo == hi or not windows:
            return []
        ends, starts = self.end[lo:hi], self.start[lo:hi]
        if len(windows) == 1:          # most: one stretch, one run (no list made into an array)
            firsts = [int(ends.searchsorted(windows[0][0], "left"))]
            lasts = [int(starts.searchsorted(windows[0][1], "left"))]
        else:
            firsts = ends.searchsorted([a for a, _ in windows], "left").tolist()
            lasts = starts.searchsorted([b for _, b in windows], "left").tolist()
        out = []
        for (a, b), first, last in zip(windows, firsts, lasts):
            if last <= first:
                continue
            for row, (s, e, ident) in enumerate(zip(starts[first:last].tolist(),
                                                    ends[first:last].tolist(),
                                                    self.ident[lo + first:lo + last].tolist()),
                                                lo + first):
                # An instant (a migration) at ``a`` counts; a span ending at ``a`` does not.
                if e > a or s == e:
                    out.append((row, ident, min(e, b) - max(s, a)))
        return out


def _spans(group, ts, entries, exits, ident, begin: int, end: int) -> Spans:
    start = np.where(entries >= 0, ts[np.maximum(entries, 0)], begin)
    stop = np.where(exits >= 0, ts[np.maximum(exits, 0)], end)
    rows = np.where(entries >= 0, entries, exits)
    return Spans(group[rows].astype(np.int64), start.astype(np.int64), stop.astype(np.int64),
                 ident[rows].astype(np.int64))


class ActivityIndex:
    """System calls per thread, IRQs and softirqs per CPU, migrations per thread, each
    sorted for window reads.  Built from the logs before the scheduling log is released.

    A call open when the trace began counts from its beginning, one still open at its
    end to its end (``exit_group``); an interrupt's entry or exit alone is left out."""

    def __init__(self, syscalls: SyscallLog | None, sched_log, begin: int, end: int,
                 recorded: dict[str, bool]):
        self.recorded = recorded          # syscalls, irqs, softirqs, migrations: in the traces
        self.begin, self.end = begin, end
        self.syscall_names: list[str] = list(syscalls.names) if syscalls is not None else []
        cols = syscalls.columns() if syscalls is not None else None
        if cols is not None and len(cols["ts"]):
            tid = cols["tid"].astype(np.int64)
            entries, exits = pair(tid, cols["seq"], cols["code"], begin, end)
            self.calls = _spans(tid, cols["ts"], entries, exits, cols["name"], begin, end)
        else:
            self.calls = _empty()
        self.irq_names = dict(sched_log.irq_names)
        context = sched_log.table("context") if sched_log.count("context") else None
        self.irqs = self.softirqs = _empty()
        if context is not None:
            code = context["code"].astype(np.int64)
            for kind in (IRQ, SOFTIRQ):
                mine = np.flatnonzero(np.abs(code) == kind)
                cpu = context["cpu"][mine].astype(np.int64)
                entries, exits = pair(cpu, context["seq"][mine], code[mine])
                spans = _spans(cpu, context["ts"][mine], entries, exits, context["id"][mine],
                               begin, end)
                if kind == IRQ:
                    self.irqs = spans
                else:
                    self.softirqs = spans
        self.migrations = None
        if MIGRATE in sched_log.classes_seen:
            migrate = sched_log.table("migrate")
            order = np.lexsort((migrate["ts"], migrate["tid"]))
            tid = migrate["tid"][order].astype(np.int64)
            ts = migrate["ts"][order].astype(np.int64)
            self.migrations = Spans(tid, ts, ts, np.zeros(len(ts), dtype=np.int64))


def _empty() -> Spans:
    none = np.zeros(0, dtype=np.int64)
    return Spans(none, none, none, none)

