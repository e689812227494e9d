"""The call chains of switch-outs and wakeups, kept for rules with ``stacks: true``.

A perf trace recorded with ``-g`` carries ``perf_callchain`` on every event
(the dialect names it ``callchain``): the kernel frames behind
PERF_CONTEXT_KERNEL, then the user frames behind PERF_CONTEXT_USER, the
innermost frame first.  An LTTng kernel trace carries the same as two
contexts, ``callstack_kernel`` and ``callstack_user``.  Both become one
:class:`Chain` (kernel frames, user frames; innermost first), interned: a
thread blocks in a handful of places, so the log holds a few integers an
event and each distinct chain once.

Only the switch-outs (the blocked thread's chain at the moment it slept)
and the wakeups (the waker's chain as it woke it) are kept; see
docs/stacks.md.
"""

from __future__ import annotations

import bisect
from typing import NamedTuple

import numpy as np

from ..reading.batch import InternedColumn, int64_array
from .events import (CALLCHAIN, CALLSTACK_KERNEL, CALLSTACK_USER, SWITCH, WAKEUP,
                     WAKEUP_CLASSES, WAKING)
from .log import _ints

# perf's callchain context markers (linux/perf_event.h), as unsigned 64-bit values:
# every value from PERF_CONTEXT_MAX up is a marker, not an address.
PERF_CONTEXT_KERNEL = 0xFFFF_FFFF_FFFF_FF80
PERF_CONTEXT_USER = 0xFFFF_FFFF_FFFF_FE00
PERF_CONTEXT_MAX = 0xFFFF_FFFF_FFFF_F001       # (u64)-4095
_MASK = (1 << 64) - 1
SWITCH_ROWS, WAKEUP_ROWS = 4, 6      # columns of the log's tables (StackLog)


class Chain(NamedTuple):
    """One call chain: kernel and user return addresses, innermost first."""

    kernel: tuple
    user: tuple

    def __bool__(self) -> bool:
        return bool(self.kernel or self.user)


def from_perf(values) -> Chain:
    """A chain from perf's ``perf_callchain``: frames sorted into the section their
    last marker opened (frames before any marker are kernel ones when the first is a
    kernel address); other markers (guest, hypervisor) end a section."""
    kernel: list[int] = []
    user: list[int] = []
    target = None
    for value in values:
        value &= _MASK                 # a signed reading of the same bits
        if value >= PERF_CONTEXT_MAX:
            target = (kernel if value == PERF_CONTEXT_KERNEL
                      else user if value == PERF_CONTEXT_USER else None)
            continue
        if target is None:
            if kernel or user or value < 1 << 63:
                continue
            target = kernel
        target.append(value)
    return Chain(tuple(kernel), tuple(user))


def from_lttng(kernel, user) -> Chain:
    """A chain from LTTng's ``callstack_kernel`` / ``callstack_user`` contexts
    (lttng-modules ends a user stack it could not finish with ULONG_MAX)."""
    kernel = tuple(v & _MASK for v in kernel or ())
    user = tuple(v & _MASK for v in user or ())
    while user and user[-1] == _MASK:
        user = user[:-1]
    return Chain(kernel, user)


class StackLog:
    """Per switch-out and per wakeup, the id of its call chain (``chains[id]``).

    Kept as columns, a batch's arrays at a time (:meth:`switch_table`,
    :meth:`wakeup_table`); as rows, ``switches``: (ts, seq, switched-out tid,
    chain id) in stream order; ``wakeups``: (ts, seq, woken tid, waker tid,
    chain id, kind): kind is WAKEUP_CLASSES' code (sched_waking, fired in the
    waker, is preferred to sched_wakeup, which may fire on the woken thread's CPU).
    """

    def __init__(self) -> None:
        self.chains: list[Chain] = [Chain((), ())]     # id 0: no chain recorded
        self._ids: dict[Chain, int] = {self.chains[0]: 0}
        # A recorded chain as read (its values as a tuple) -> its id: most events
        # repeat a chain seen before, which is then neither parsed nor interned again.
        self._raw_perf: dict[tuple, int] = {}
        self._raw_lttng: dict[tuple, int] = {}
        # Row width -> the tables of switch-outs (SWITCH_ROWS wide) and of wakeups
        # (WAKEUP_ROWS), a batch's at a time until joined (prepare_in_background).
        self._pieces: dict[int, list[np.ndarray]] = {SWITCH_ROWS: [], WAKEUP_ROWS: []}
        self.sources: set[str] = set()      # "perf", "lttng": what the chains came from
        self._by_woken: dict[int, tuple[list, list]] | None = None
        self._by_switch: dict[int, tuple[list, list]] | None = None
        self._prepared = None       # _Lookups, or a Future of them (prepare_in_background)
        self._narrow = None         # (ts, woken, waker, chain) once forget_switches ran

    def intern(self, chain: Chain) -> int:
        found = self._ids.get(chain)
        if found is None:
            found = self._ids[chain] = len(self.chains)
            self.chains.append(chain)
        return found

    def add_batch(self, batch, class_name, first_seq: int) -> None:
        """The chains of the batch's switch-outs and wakeups; ``class_name(cid)`` names
        a class (as ``SchedLog.add_batch``)."""
        self.settle()                 # (a table being sorted is not grown under it)
        class_ids = ts = None
        for cid, cols in batch.classes.items():
            name = class_name(cid)
            if name != SWITCH and name not in WAKEUP_CLASSES or not len(cols):
                continue
            chains = self._chains_of(cols.fields, len(cols))
            chained = chains is not None
            if not chained:
                if name != "sched_wakeup":
                    continue
                # Read without its chain beside a sched_waking (events.stack_projection):
                # kept to find the sched_waking of a wakeup that ended a sleep the
                # waking came before (the thread still ran; try_to_wake_up waited).
                chains = np.zeros(len(cols), dtype=np.int64)
            # Columns as plain ints whatever they came as (lists, merged IntColumns,
            # a parallel worker's raw words), as the scheduling log reads them.
            if class_ids is None:
                class_ids = int64_array(batch.class_ids)
                ts = int64_array(batch.ts)
            rows = np.flatnonzero(class_ids == cid)
            f = cols.fields
            if name == SWITCH:
                self._pieces[SWITCH_ROWS].append(np.column_stack(
                    (ts[rows], rows + first_seq, _ints(f["prev_tid"]), chains)))
            else:
                # The thread it ran in; unknown for a chainless one, which may have run
                # in the interrupt that delivered a remote wakeup.
                waker = f.get("ctx.tid") if chained else None
                wakers = _ints(waker) if waker is not None else np.full(len(rows), -1)
                self._pieces[WAKEUP_ROWS].append(np.column_stack(
                    (ts[rows], rows + first_seq, _ints(f["tid"]), wakers, chains,
                     np.full(len(rows), WAKEUP_CLASSES[name]))).astype(np.int64))
        self._by_woken = self._by_switch = self._prepared = None

    def _chains_of(self, fields: dict, n: int) -> np.ndarray | None:
        if CALLCHAIN in fields:
            self.sources.add("perf")
            column = fields[CALLCHAIN]
            seen = self._raw_perf

            def chain_id(values) -> int:
                key = tuple(values) if values else ()
                found = seen.get(key)
                if found is None:
                    found = seen[key] = self.intern(from_perf(key))
                return found
            if isinstance(column, InternedColumn):       # each distinct chain once
                return np.asarray([chain_id(v) for v in column.uniques],
                                  dtype=np.int64)[column.ids]
            return np.asarray([chain_id(v) for v in column], dtype=np.int64)
        kernel, user = fields.get(CALLSTACK_KERNEL), fields.get(CALLSTACK_USER)
        if kernel is None and user is None:
            return None
        self.sources.add("lttng")
        kernel = kernel if kernel is not None else [()] * n
        user = user if user is not None else [()] * n
        seen, out = self._raw_lttng, []
        for k, u in zip(kernel, user):
            key = (tuple(k) if k else (), tuple(u) if u else ())
            found = seen.get(key)
            if found is None:
                found = seen[key] = self.intern(from_lttng(*key))
            out.append(found)
        return np.asarray(out, dtype=np.int64)

    def switch_table(self) -> np.ndarray:
        """Every switch-out kept, (n, 4): ts, seq, switched-out tid, chain id."""
        self.settle()
        return self._table(SWITCH_ROWS)

    def wakeup_table(self) -> np.ndarray:
        """Every wakeup kept, (n, 6): ts, seq, woken tid, waker tid, chain id, kind."""
        self.settle()
        return self._table(WAKEUP_ROWS)

    def _table(self, width: int) -> np.ndarray:
        """The pieces of one width (SWITCH_ROWS, WAKEUP_ROWS) joined once, kept so."""
        pieces = self._pieces[width]
        if pieces is None:
            raise RuntimeError("the log's tables were let go (forget_switches)")
        if len(pieces) != 1:
            pieces[:] = [np.concatenate(pieces) if pieces
                         else np.zeros((0, width), dtype=np.int64)]
        return pieces[0]

    @property
    def switches(self) -> list[tuple]:
        return list(map(tuple, self.switch_table().tolist()))

    @property
    def wakeups(self) -> list[tuple]:
        return list(map(tuple, self.wakeup_table().tolist()))

    def __len__(self) -> int:
        return len(self.switch_table()) + len(self.wakeup_table())

    def representatives(self):
        """:meth:`events`, only the first of each chain in each thread: enough for a
        symbol source joined on events, which names a chain's addresses once."""
        switches, wakeups = self.switch_table(), self.wakeup_table()
        return self.first_events(np.concatenate((switches[:, 0], wakeups[:, 0])),
                                 np.concatenate((switches[:, 2], wakeups[:, 3])),
                                 np.concatenate((switches[:, 3], wakeups[:, 4])))

    def first_events(self, ts, tids, chain_ids) -> list[tuple]:
        """Of events (ns, tid, chain id), the first of each chain (but none) in each
        thread, in time order, as (ns, tid, chain) like :meth:`events`."""
        keep = chain_ids != 0
        ts, tids, chain_ids = ts[keep], tids[keep], chain_ids[keep]
        order = np.lexsort((ts, chain_ids, tids))
        by_thread, by_chain = tids[order], chain_ids[order]
        first = order[np.concatenate(([True], (by_thread[1:] != by_thread[:-1])
                                      | (by_chain[1:] != by_chain[:-1])))] if len(order) else order
        first = first[np.argsort(ts[first], kind="stable")]
        chains = self.chains
        return [(t, tid, chains[c]) for t, tid, c in zip(ts[first].tolist(), tids[first].tolist(),
                                                          chain_ids[first].tolist())]

    def events(self):
        """(ns, tid whose chain it is, chain) of every event kept: the switched-out
        thread's, the waker's (what a symbol source is joined on)."""
        chains = self.chains
        for ts, tid, chain in self.switch_table()[:, [0, 2, 3]].tolist():
            yield ts, tid, chains[chain]
        for ts, by, chain in self.wakeup_table()[:, [0, 3, 4]].tolist():
            yield ts, by, chains[chain]

    def _in_order(self) -> list[tuple]:
        """The wakeups in stream order (``add_batch`` adds a batch's class by class)."""
        return sorted(self.wakeups, key=lambda w: w[1])

    # -- looking up ----------------------------------------------------------------
    def switch_out(self, tid: int, start: int, end: int) -> Chain | None:
        """The chain of ``tid``'s first switch-out in ``[start, end]`` (an off-CPU
        interval starts at it), else of its last one before ``start``."""
        if self._by_switch is None:
            self._by_switch = _index((tid, (ts, chain)) for ts, _, tid, chain in self.switches)
        found = self._by_switch.get(tid)
        if found is None:
            return None
        times, chains = found
        k = bisect.bisect_left(times, start)
        if k < len(times) and times[k] <= end:
            return self.chains[chains[k]]
        return self.chains[chains[k - 1]] if k else None

    def wakeup(self, tid: int, start: int, end: int) -> tuple[int, int, Chain] | None:
        """The last wakeup of ``tid`` in ``[start, end]``, its sched_waking when it has
        one: (at, waker tid, chain).  That sched_waking is the last in the window, or,
        for a sched_wakeup alone in it, the one just before it (a sleep woken early,
        while the thread still ran: its waking came before the switch-out)."""
        if self._by_woken is None:
            self._by_woken = _index((tid, (ts, (by, chain, kind)))
                                    for ts, _, tid, by, chain, kind in self._in_order())
        found = self._by_woken.get(tid)
        if found is None:
            return None
        times, values = found
        k = bisect.bisect_right(times, end) - 1
        if k < 0 or times[k] < start:
            return None
        j = k
        while j >= 0 and times[j] >= start and values[j][2] != WAKING:
            j -= 1
        if j >= 0 and times[j] >= start:
            k = j
        elif j == k - 1 >= 0 and values[j][2] == WAKING and values[k][2] == WAKEUP:
            k = j
        by, chain, _ = values[k]
        return times[k], by, self.chains[chain]


    # -- looking up many at once (what switch_out and wakeup do, one call for all) ----
    def prepare_in_background(self) -> None:
        """Sort the tables for :meth:`switch_outs` and :meth:`wakeups_of` in a thread
        (once the pass is over: beside the model's building, whose writes to its file
        leave the interpreter free).  The tables are joined here, first: the pieces
        they leave are given back before the model's peak, not during it."""
        from ..background import in_background
        switches, wakeups = self._table(SWITCH_ROWS), self._table(WAKEUP_ROWS)
        self._prepared = in_background(lambda: _sorted(switches, wakeups),
                                       "corr-stack-lookups")

    def _lookups(self) -> "_Lookups":
        if self._prepared is None:
            self._prepared = _sorted(self._table(SWITCH_ROWS), self._table(WAKEUP_ROWS))
        self.settle()
        return self._prepared

    def forget_switches(self) -> None:
        """Let the switch-outs and their lookups go: their stacks attributed, what reads
        the log later (the whole critical paths' wakeups, attributed when first read)
        reads only the wakeups (:meth:`wakeups_of`, :meth:`wakeup_rows`), kept in
        narrower columns.  Reading the switch-outs or the wakeup table again is an
        error."""
        lookups = self._lookups()
        table = self._table(WAKEUP_ROWS)
        narrow = np.iinfo(np.int32)
        fits = not len(table) or (narrow.min <= table[:, 2:5].min()
                                  and table[:, 2:5].max() <= narrow.max)
        columns = (table[:, 0].copy(),
                   *(table[:, c].astype(np.int32 if fits else np.int64) for c in (2, 3, 4)))
        self._narrow = columns
        lookups.wakeups.read_from(columns[1], columns[0])
        self._prepared = lookups._replace(switches=None)
        self._pieces = {SWITCH_ROWS: None, WAKEUP_ROWS: None}
        self._by_switch = self._by_woken = None
        self._ids = self._raw_perf = self._raw_lttng = None     # no chain comes now

    def wakeup_rows(self, rows) -> tuple:
        """Of the wakeups at ``rows`` (indexes into :attr:`wakeups`): their times, woken
        threads, wakers and chain ids, as int64 columns."""
        if self._narrow is not None:
            return tuple(c[rows].astype(np.int64) for c in self._narrow)
        found = self.wakeup_table()[rows]
        return found[:, 0], found[:, 2], found[:, 3], found[:, 4]

    def settle(self) -> None:
        """Wait for :meth:`prepare_in_background`'s thread (what it raised raised here)."""
        if self._prepared is not None and not isinstance(self._prepared, _Lookups):
            pending, self._prepared = self._prepared, None
            self._prepared = pending.result()

    def switch_outs(self, tids, starts, ends) -> np.ndarray:
        """:meth:`switch_out` of each interval, as indexes into :attr:`switches`
        (-1: none)."""
        table = self.switch_table()
        tids, starts, ends = (np.asarray(c, dtype=np.int64) for c in (tids, starts, ends))
        if not len(table):
            return np.full(len(tids), -1, dtype=np.int64)
        rows = self._lookups().switches.asking(starts)
        first = rows.first_from(tids, starts)                   # first at or after start
        inside = first >= 0
        inside[inside] = table[first[inside], 0] <= ends[inside]
        return np.where(inside, first, rows.last_before(tids, starts))

    def wakeups_of(self, woken, starts, ends) -> np.ndarray:
        """:meth:`wakeup` of each (woken tid, start, end), as indexes into
        :attr:`wakeups` (-1: none)."""
        count = len(self._narrow[0]) if self._narrow is not None else len(self.wakeup_table())
        woken, starts, ends = (np.asarray(c, dtype=np.int64) for c in (woken, starts, ends))
        if not count:
            return np.full(len(woken), -1, dtype=np.int64)
        lookups = self._lookups()
        rows, kinds, waking = lookups.wakeups.asking(ends), lookups.kinds, lookups.waking
        last = rows.place_to(woken, ends)              # the last wakeup up to the end
        ok = last >= 0
        ok[ok] = rows.time_at(last[ok]) >= starts[ok]          # a wakeup in the window
        waking_at = np.full(len(last), -1, dtype=np.int64)
        waking_at[ok] = waking[last[ok]]
        use = waking_at >= 0
        at = waking_at[use]
        # Its thread's, and in the window, or just before a sched_wakeup alone in it.
        paired = (at == last[use] - 1) & (kinds[last[use]] == WAKEUP)
        use[use] = (rows.tid_at(at) == woken[use]) & ((rows.time_at(at) >= starts[use]) | paired)
        last = np.where(use, waking_at, last)
        return np.where(ok, rows.order[np.maximum(last, 0)], -1).astype(np.int64)


class _Lookups(NamedTuple):
    """A log's tables sorted for the searches: switch-outs and wakeups by thread and
    time, each sorted wakeup's kind and the place of the last sched_waking up to it."""

    switches: "ThreadTimes"
    wakeups: "ThreadTimes"
    kinds: np.ndarray
    waking: np.ndarray


def _sorted(switches, wakeups) -> _Lookups:
    """The lookups of these tables (the log's, joined: a thread sorts them apart from it)."""
    by_thread = ThreadTimes(wakeups[:, 2], wakeups[:, 0], wakeups[:, 1])
    kinds = wakeups[by_thread.order, 5].astype(np.int8)
    # Each sorted place's last sched_waking up to it (its thread's when the thread is
    # the same): a sched_waking in the wait wins over the sched_wakeup after it.
    waking = np.maximum.accumulate(np.where(kinds == WAKING, np.arange(
        len(kinds), dtype=by_thread.order.dtype), -1).astype(by_thread.order.dtype))
    return _Lookups(ThreadTimes(switches[:, 2], switches[:, 0], switches[:, 1]),
                    by_thread, kinds, waking)


def thread_time_order(tids, times, seqs) -> np.ndarray:
    """``np.lexsort((seqs, times, tids))``."""
    return _by_thread_and_time(tids, times, seqs)[0]


def _by_thread_and_time(tids, times, seqs) -> tuple:
    """:func:`thread_time_order`, and the threads and times in that order.  A log's
    times do not go back in stream order (``seqs``), so it is the order by thread and
    stream position: the store's radix sort (``by_thread_seq_code``), checked, else
    the lexsort."""
    from .store import by_thread_seq_code
    order = by_thread_seq_code(tids, seqs, np.zeros(len(tids), dtype=np.int8))
    by_thread, by_time = tids[order], times[order]
    if ((by_time[1:] < by_time[:-1]) & (by_thread[1:] == by_thread[:-1])).any():
        order = np.lexsort((seqs, times, tids))
        by_thread, by_time = tids[order], times[order]
    return order, by_thread, by_time


class ThreadTimes:
    """A log's entries (thread, time, stream position) sorted by thread, then time, then
    position, for finding each thread's entry nearest a time, many at once: one
    search over the thread and the time as one key.  The thread is numbered among
    the log's; the time counted from just before the log's first (a time asked outside
    the log's span taken to just outside it), or, where threads and span would not
    fit 62 bits, numbered by its place among the log's times and the times the searches
    will ask (:meth:`asking`)."""

    def __init__(self, tids, times, seqs) -> None:
        order, by_thread, by_time = _by_thread_and_time(tids, times, seqs)
        # Kept small: the order, the keys, the threads; the rest read from the log's
        # columns (prepared beside the model's building, at its peak of memory).
        self.order = order.astype(np.int32) if len(order) < 1 << 31 else order
        self._logged = (tids, times)
        self._tids = by_thread[np.concatenate(([True], by_thread[1:] != by_thread[:-1]))
                               if len(by_thread) else []]
        self._low = int(times.min()) - 1 if len(times) else 0
        self._high = int(times.max()) + 1 if len(times) else 0
        self._times, self._shift = None, (self._high - self._low).bit_length()
        self._ranked = ((len(self._tids) + 1) << self._shift >= 1 << 62
                        or self._low < -(1 << 63) or self._high >= 1 << 63)
        self.keys = None if self._ranked else self._key(by_thread, by_time)

    def read_from(self, tids, times) -> None:
        """Read the log's threads and times from these columns (the same values, kept
        apart from the table they were sorted from)."""
        self._logged = (tids, times)

    def asking(self, asked_times) -> "ThreadTimes":
        """Ready to search ``asked_times``: only the keying by ranks depends on them."""
        if self._ranked:
            # Sorted, repeats kept: a value's first place numbers it (np.unique hashes
            # large values, ten times slower than sorting them).
            tids, times = self._logged
            self._times = np.sort(np.concatenate((times, asked_times)))
            self._shift = max(1, len(self._times).bit_length())
            self.keys = self._key(tids[self.order], times[self.order])
        return self

    def tid_at(self, places) -> np.ndarray:
        """The thread of each sorted place."""
        return self._logged[0][self.order[places]]

    def time_at(self, places) -> np.ndarray:
        """The time of each sorted place."""
        return self._logged[1][self.order[places]]

    def _key(self, tids, times) -> np.ndarray:
        """Threads the log lacks get a neighbour's number: the searches check the thread."""
        thread = np.searchsorted(self._tids, tids) << self._shift
        if self._times is None:
            return thread | (np.clip(times, self._low, self._high) - self._low)
        return thread | np.searchsorted(self._times, times)

    def _places(self, k, tids) -> np.ndarray:
        """Sorted places ``k``, -1 where none or another thread's."""
        ok = (k >= 0) & (k < len(self.keys))
        ok[ok] = self.tid_at(k[ok]) == tids[ok]
        return np.where(ok, k, -1)

    def _of(self, k, tids) -> np.ndarray:
        """The log's rows at sorted places ``k``, -1 where none or another thread's."""
        k = self._places(k, tids)
        return np.where(k >= 0, self.order[np.maximum(k, 0)], -1).astype(np.int64)

    def place_to(self, tids, times) -> np.ndarray:
        """Each thread's last entry at or before its time (the last in stream order),
        as its place in the sorted log (``order``, ``tids``, ``times``)."""
        return self._places(np.searchsorted(self.keys, self._key(tids, times), "right") - 1,
                            tids)

    def last_before(self, tids, times) -> np.ndarray:
        """Each thread's last entry before its time."""
        return self._of(np.searchsorted(self.keys, self._key(tids, times), "left") - 1, tids)

    def first_from(self, tids, times) -> np.ndarray:
        """Each thread's first entry at or after its time."""
        return self._of(np.searchsorted(self.keys, self._key(tids, times), "left"), tids)


def _index(pairs) -> dict[int, tuple[list, list]]:
    """tid -> (times, values) in time order (the log is in stream order)."""
    out: dict[int, tuple[list, list]] = {}
    for tid, (ts, value) in pairs:
        found = out.get(tid)
        if found is None:
            found = out[tid] = ([], [])
        found[0].append(ts)
        found[1].append(value)
    return out
