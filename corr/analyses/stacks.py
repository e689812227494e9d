"""Which code blocked, and which code woke it: stacks for the slow intervals.

For each analysed interval of a rule with ``stacks: true``, the blamed
thread's call chain at its switch-out (where it went to sleep), and for
each wakeup on the interval's critical path (the blamed thread's own, and
those of the threads the path went through) the waker's chain at the
wakeup -- offwaketime's view, followed along the whole path.  Frames are
text from :mod:`.symbols`, user frames with their source lines where debug
info has them; see docs/stacks.md.
"""

from __future__ import annotations

from collections.abc import Mapping, ValuesView
from typing import NamedTuple

import numpy as np

from ..sched.model import RUNNING
from .bulk import B_THREAD, available
from .critical_path import MAX_DEPTH, NOT_WOKEN, critical_path
from .symbols import Symbolizer


class WakerStack(NamedTuple):
    """One wakeup on a critical path and the waker's code at it (frames innermost first)."""

    at_ns: int
    woken_tid: int
    waker_tid: int            # the thread the waking ran in (-1: unknown)
    waker: str                # who woke: "comm (tid)", or the interrupt's label
    kernel: tuple
    user: tuple
    user_lines: tuple = ()    # each user frame's source line (or None); () when none has one

    def to_dict(self) -> dict:
        return {"at_ns": self.at_ns, "woken_tid": self.woken_tid, "waker_tid": self.waker_tid,
                "waker": self.waker,
                "waker_stack": stack_dict(self.kernel, self.user, self.user_lines)}


class IntervalStacks(NamedTuple):
    """The blamed thread's code at its switch-out, and the wakeups of its critical path
    (the blamed thread's own first, then in time order)."""

    tid: int
    comm: str | None          # the blamed thread's name at the interval's start
    kernel: tuple
    user: tuple
    wakers: tuple             # WakerStack...
    off_cpu_ns: int           # the interval's time the thread was not running: the weight
    user_lines: tuple = ()    # each user frame's source line (or None); () when none has one

    def to_dict(self, own_wakeups: bool = False) -> dict:
        """As JSON has it; ``own_wakeups``: of the wakeups, only the blamed thread's
        last own one (what the text shows)."""
        own = self.own_waker() if own_wakeups else None
        return {"stack": stack_dict(self.kernel, self.user, self.user_lines),
                "off_cpu_ns": self.off_cpu_ns,
                "wakeups": ([own.to_dict()] if own else []) if own_wakeups
                else [w.to_dict() for w in self.wakers]}

    def own_waker(self) -> WakerStack | None:
        """The wakeup that ended the blamed thread's last wait (offwaketime's waker)."""
        own = [w for w in self.wakers if w.woken_tid == self.tid]
        return own[-1] if own else None


def stack_dict(kernel, user, user_lines) -> dict:
    """A stack in JSON: its frames, and ``user_lines`` when debug info gave any."""
    found = {"kernel": list(kernel), "user": list(user)}
    if user_lines:
        found["user_lines"] = list(user_lines)
    return found


def attribute(model, log, symbols: Symbolizer, tid: int, start: int, end: int) -> IntervalStacks:
    """The stacks of one interval of ``tid`` over ``[start, end]``."""
    chain = log.switch_out(tid, start, end)
    kernel, user = symbols.frames(chain, tid) if chain else ([], [])
    lines = symbols.user_lines(chain, tid) if chain else ()
    waits: list = []
    critical_path(model, tid, start, end, waits=waits)
    wakers = []
    seen = set()
    for woken, on, kind, a, b in waits:
        # A wait the model says no wakeup ended has no waker's code, whatever the log holds.
        if kind != "blocked" or on == NOT_WOKEN or (woken, a, b) in seen:
            continue
        seen.add((woken, a, b))
        found = log.wakeup(woken, a, b)
        if found is None:
            continue
        at, by, waker_chain = found
        if isinstance(on, str):                       # an interrupt, a timer: its label
            who = on
        else:
            name = model.name_at(on, at)
            who = f"{name or 'tid'} ({on})"
        wk, wu = symbols.frames(waker_chain, by) if waker_chain else ([], [])
        wl = symbols.user_lines(waker_chain, by) if waker_chain else ()
        if isinstance(on, str):
            wu, wl = [], ()  # the user stack of the task the interrupt came upon: not the waker's
        wakers.append(WakerStack(at, woken, by, who, tuple(wk), tuple(wu), wl))
    wakers.sort(key=lambda w: (w.woken_tid != tid, w.at_ns))
    off_cpu = sum(seg.end - seg.start for seg in model.segments(tid, start, end)
                  if seg.state != RUNNING)
    return IntervalStacks(tid, model.name_at(tid, start), tuple(kernel), tuple(user),
                          tuple(wakers), off_cpu, lines)


def attribute_many(model, log, symbols: Symbolizer, tids, starts, ends,
                   threads=None, own_only: bool = False,
                   own: "StackTable | None" = None) -> "StackTable":
    """:func:`attribute` of many intervals at once: their critical paths' waits and
    off-CPU time from the C walk (``_native.explain``), the switch-outs and wakeups
    looked up in the log together, the wakeups picked and ordered as columns; each
    interval's IntervalStacks made when read (:class:`StackTable`, numbered as
    ``tids``).  ``own_only``: the waits of the blamed threads themselves, the walk
    following no waker (what ``row(k, own_only=True)`` reads, the same as the whole
    path's table gives it: the slowest intervals' paths meet 10^5 wakeups).  ``own``:
    that table of the same intervals, whose switch-outs and off-CPU times are taken
    again (the log then reads only its wakeups: :meth:`StackLog.forget_switches`)."""
    from .bulk import B_NOT_WOKEN, Explained, Names
    tids, starts, ends = (np.ascontiguousarray(c, dtype=np.int64) for c in (tids, starts, ends))
    names = Names(model, threads)
    done = Explained(model, names, tids, starts, ends,                # not the paths
                     max_depth=0 if own_only else MAX_DEPTH, want=5 if own is None else 4)
    wait_off, w_tid, w_kind, w_id, w_start, w_end = done.waits_raw
    if own is None:
        switch_rows = log.switch_outs(tids, starts, ends)
        switches = log.switch_table()
        # Each switch-out's chain id and time (-1: none).
        picked = switches[np.maximum(switch_rows, 0)] if len(switches) else \
            np.zeros((len(tids), switches.shape[1]), dtype=np.int64)
        switched, switch_ts = (np.where(switch_rows >= 0, picked[:, c], -1) for c in (3, 0))
        part_off, part_key, part_ns = done.parts_raw
        running = np.asarray([kind == "on_cpu" for kind, _, _ in done.label_keys] + [False])
        # Each interval's off-CPU ns: its parts but on_cpu (they add up to the interval).
        summed = np.concatenate(([0], np.cumsum(np.where(running[part_key], 0, part_ns))))
        off_ns = summed[part_off[1:]] - summed[part_off[:-1]]
    else:
        switched, switch_ts, off_ns = own._switched, own._switch_ts, np.asarray(own._off_ns)
    found = log.wakeups_of(w_tid, w_start, w_end)
    # Each interval's wakeups: a wait the walk met more than once counted once, one
    # without a wakeup in the log or not woken in the model left out; the blamed
    # thread's own first, then in time order (then as met).
    interval = np.repeat(np.arange(len(tids)), np.diff(wait_off))
    met = np.arange(len(found))
    order = np.lexsort((met, w_end, w_start, w_tid, interval))
    again = np.zeros(len(order), dtype=bool)
    if len(order):
        same = np.ones(len(order) - 1, dtype=bool)
        for column in (interval, w_tid, w_start, w_end):
            sorted_column = column[order]
            same &= sorted_column[1:] == sorted_column[:-1]
        again[order[1:]] = same
    kept = np.flatnonzero(~again & (found >= 0) & (w_kind != B_NOT_WOKEN))
    at, woken, by, chain = log.wakeup_rows(found[kept])
    foreign = w_tid[kept] != tids[interval[kept]]
    picked = np.lexsort((kept, at, foreign, interval[kept]))
    kept, at, woken, by, chain = (c[picked] for c in (kept, at, woken, by, chain))
    waker_off = np.searchsorted(interval[kept], np.arange(len(tids) + 1))
    stacks = StackTable(model, log, symbols, names, threads is not None,
                        tids, starts, switched, switch_ts, off_ns, waker_off, at, woken, by,
                        chain, w_kind[kept], w_id[kept])
    # The frames of every chain shown named at once, each chain of each thread from
    # its first event shown.
    shown = switched >= 0
    symbols.learn(log.first_events(np.concatenate((switch_ts[shown], at)),
                                   np.concatenate((tids[shown], by)),
                                   np.concatenate((switched[shown], chain))))
    return stacks


class StackTable:
    """The stacks of many intervals (:func:`attribute_many`) as columns: each
    interval's IntervalStacks made when read, its frames named once per chain and
    thread.  A text report reads the few it shows; JSON, folded and the flame graph
    read them all (:meth:`rows`, the wakers' names looked up together)."""

    def __init__(self, model, log, symbols, names, bulk_names: bool, tids, starts, switched,
                 switch_ts, off_ns, waker_off, at, woken, by, chain, kind, ident) -> None:
        """Per interval: its switch-out's chain id and time (-1: none), off-CPU ns and
        first wakeup row (``waker_off``); per wakeup row, ``at`` to ``ident``."""
        from .bulk import _Labels
        self._symbols, self._names = symbols, names
        self._chains = log.chains            # not the log's tables: they are not read again
        # Only the pass's ThreadNames say which threads were renamed: without them every
        # name is looked up by time.
        self._name_at = names.at if bulk_names else model.name_at
        self._bulk_names = bulk_names
        self._labels = _Labels(model)
        self._tids, self._starts, self._switched = tids.tolist(), starts.tolist(), switched
        self._switch_ts = switch_ts
        self._off_ns = off_ns.tolist()
        self._waker_off = waker_off.tolist()
        self._wakers = (at, woken, by, chain, kind, ident)
        self._frames: dict = {}
        self._stack_dicts: dict = {}

    def __len__(self) -> int:
        return len(self._tids)

    def row(self, k: int, own_only: bool = False) -> IntervalStacks:
        """Interval k's stacks (k: its place in the intervals given); ``own_only``: of
        its wakeups, only the one :meth:`IntervalStacks.own_waker` gives."""
        lo, hi = self._bounds(k, own_only)
        return self._made(k, self._waker_names(lo, hi), lo, hi)

    def dict_of(self, k: int, own_only: bool = False, shared: bool = False) -> dict:
        """``row(k, own_only).to_dict(own_only)``, made without the objects.  With
        ``shared`` (for a row encoded at once and let go: a JSON document repeats a
        waker's stack at each of its wakeups, 248,066 on a path through busy threads),
        each (chain, thread) stack's dict is made once and the rows share it; else each
        row has its own, which its reader may change."""
        lo, hi = self._bounds(k, own_only)
        names = self._waker_names(lo, hi)
        wakeups = []
        made = self._stack_dict
        cache = self._stack_dicts if shared else None
        for name, at, woken, by, chain, kind, ident in zip(
                names, *(c[lo:hi].tolist() for c in self._wakers)):
            thread = kind == B_THREAD
            stack = (cache.get((chain, by, thread)) if cache is not None else None) or made(
                chain, by, thread, cache)
            wakeups.append({"at_ns": at, "woken_tid": woken, "waker_tid": by,
                            "waker": self._who(name, kind, ident), "waker_stack": stack})
        switched = int(self._switched[k])
        return {"stack": made(max(switched, 0), self._tids[k], True, cache),
                "off_cpu_ns": self._off_ns[k], "wakeups": wakeups}

    def _stack_dict(self, chain_id: int, tid: int, user: bool, cache: dict | None) -> dict:
        """A chain's frames in ``tid`` as JSON has them (``user``: with its user frames,
        which an interrupt's are not); kept in ``cache`` when given."""
        found = stack_dict(*self._frames_in(chain_id, tid, user))
        if cache is not None:
            cache[(chain_id, tid, user)] = found
        return found

    def user_stacks(self):
        """Each distinct (user frames, their source lines) of the stacks and of the
        wakers that are threads (an interrupt's user frames are not its own), in the
        order ``rows()`` first meets them: each interval's own, then its wakers'."""
        _, _, by, chain, kind, _ = self._wakers
        n, off = len(self._tids), np.asarray(self._waker_off, dtype=np.int64)
        interval = np.repeat(np.arange(n), np.diff(off))
        thread = kind == B_THREAD
        # Where rows() meets each: interval k's stack at off[k] + k, its wakeup j after.
        place = np.concatenate((off[:-1] + np.arange(n),
                                (np.arange(len(kind)) + interval + 1)[thread]))
        chains = np.concatenate((np.maximum(np.asarray(self._switched, dtype=np.int64), 0),
                                 chain[thread].astype(np.int64)))
        tids = np.concatenate((np.asarray(self._tids, dtype=np.int64),
                               by[thread].astype(np.int64)))
        order = np.argsort(place, kind="stable")
        chains, tids = chains[order], tids[order]
        seen = set()
        for chain_id, tid in zip(chains.tolist(), tids.tolist()):
            if chain_id > 0 and (chain_id, tid) not in seen:
                seen.add((chain_id, tid))
                _, user, lines = self._named(chain_id, tid)
                yield user, lines

    def _bounds(self, k: int, own_only: bool) -> tuple[int, int]:
        """Interval k's wakeup rows; ``own_only``: only its own last one's."""
        lo, hi = self._waker_off[k], self._waker_off[k + 1]
        if own_only:        # the blamed thread's own wakeups come first: the last of them
            woken = self._wakers[1][lo:hi]
            own = int(np.argmax(woken != self._tids[k])) if len(woken) else 0
            if len(woken) and woken[own] == self._tids[k]:
                own = len(woken)
            lo, hi = (lo + own - 1, lo + own) if own else (lo, lo)
        return lo, hi

    def rows(self):
        """Every interval's stacks, in order."""
        lo, hi = self._waker_off[0], self._waker_off[-1]
        names = self._waker_names(lo, hi)
        for k in range(len(self._tids)):
            a, b = self._waker_off[k], self._waker_off[k + 1]
            yield self._made(k, names[a - lo:b - lo], a, b)

    def _waker_names(self, lo: int, hi: int) -> list:
        """The name of each thread that woke, rows ``lo:hi``, at its wakeup (None for
        the rest: an interrupt's label is made apart)."""
        at, _, _, _, kind, ident = (c[lo:hi] for c in self._wakers)
        threads = np.flatnonzero(kind == B_THREAD)
        out: list = [None] * (hi - lo)
        if self._bulk_names:
            found = self._names.at_many(ident[threads], at[threads])
        else:
            found = [self._name_at(t, a) for t, a in zip(ident[threads].tolist(),
                                                        at[threads].tolist())]
        for place, name in zip(threads.tolist(), found):
            out[place] = name
        return out

    def _named(self, chain_id: int, tid: int) -> tuple:
        """A chain's (kernel, user, user lines) frames in ``tid``, named once."""
        key = (chain_id, tid)
        got = self._frames.get(key)
        if got is None:
            chain, symbols = self._chains[chain_id], self._symbols
            kernel, user = symbols.frames(chain, tid) if chain else ([], [])
            lines = symbols.user_lines(chain, tid) if chain else ()
            got = self._frames[key] = (tuple(kernel), tuple(user), lines)
        return got

    def _made(self, k: int, names: list, lo: int, hi: int) -> IntervalStacks:
        """Interval k's stacks, with the wakeups of rows ``lo:hi`` (named ``names``)."""
        tid, switched = self._tids[k], int(self._switched[k])
        kernel, user, lines = self._frames_in(max(switched, 0), tid, True)
        wakers = []
        for name, at, woken, by, chain, kind, ident in zip(
                names, *(c[lo:hi].tolist() for c in self._wakers)):
            wk, wu, wl = self._frames_in(chain, by, kind == B_THREAD)
            wakers.append(WakerStack(at, woken, by, self._who(name, kind, ident), wk, wu, wl))
        return IntervalStacks(tid, self._name_at(tid, self._starts[k]), kernel, user,
                              tuple(wakers), self._off_ns[k], lines)

    def _frames_in(self, chain_id: int, tid: int, user: bool) -> tuple:
        """A chain's (kernel, user, user lines) frames in ``tid`` (none for chain 0);
        without ``user``, its kernel frames only: an interrupt's or a timer's, not the
        user stack of the task it came upon."""
        kernel, frames, lines = self._named(chain_id, tid) if chain_id else ((), (), ())
        return (kernel, frames, lines) if user else (kernel, (), ())

    def _who(self, name, kind: int, ident: int) -> str:
        """Who woke: a thread as "comm (tid)", else the interrupt's or timer's label."""
        return f"{name or 'tid'} ({ident})" if kind == B_THREAD else self._labels.of(kind, ident)


class IntervalStackMap(Mapping):
    """Interval index -> IntervalStacks of a rule's analysed intervals, read from a
    :class:`StackTable` (what ``RuleAnalysis.stacks`` holds).

    Each interval's own waker (:meth:`own`, what text, folded stacks and the flame
    graph show) is read from a table of the blamed threads' own waits; the whole
    critical paths' wakeups are attributed when first read (``whole``, a StackTable
    or what makes it), which JSON and a library reader of every row do.
    """

    def __init__(self, indexes: list, table: StackTable, whole=None) -> None:
        """``table``: the intervals' stacks (of their own waits only, when ``whole``
        is given: a StackTable of the whole paths, or a callable that makes it)."""
        self._row = {index: k for k, index in enumerate(indexes)}
        self._own = table
        self._whole = table if whole is None else whole

    @property
    def _table(self) -> StackTable:
        """The whole paths' table, made on first use."""
        if not isinstance(self._whole, StackTable):
            self._whole = self._whole()
        return self._whole

    def __getitem__(self, index: int) -> IntervalStacks:
        return self._table.row(self._row[index])

    def own(self, index: int) -> IntervalStacks | None:
        """The stacks of interval ``index`` with only its own waker's (what
        ``IntervalStacks.to_dict(own_wakeups=True)`` keeps), None when not analysed:
        a path through busy threads meets 10^5 wakeups."""
        k = self._row.get(index)
        return None if k is None else self._own.row(k, own_only=True)

    def user_stacks(self):
        """Each distinct (user frames, their source lines) of the intervals' stacks and
        of their threads' wakers (what ``values()`` holds, each once)."""
        return self._table.user_stacks()

    def dict_of(self, index: int, own_wakeups: bool = False,
                shared: bool = False) -> dict | None:
        """``self[index].to_dict(own_wakeups)`` (None when not analysed), made as
        :meth:`StackTable.dict_of` makes it (``shared``: its stacks' dicts shared with
        other rows'): what the rows carry."""
        k = self._row.get(index)
        if k is None:
            return None
        return (self._own if own_wakeups else self._table).dict_of(k, own_wakeups, shared)

    def __iter__(self):
        return iter(self._row)

    def __len__(self) -> int:
        return len(self._row)

    def values(self):
        return _Values(self)


class _Values(ValuesView):
    def __iter__(self):
        return self._mapping._table.rows()


NO_CHAINS = ("rule {rule}: stacks: true, but no trace records call chains on its switches "
             "and wakeups (perf record -g, or LTTng's callstack-kernel / callstack-user "
             "contexts: docs/stacks.md); its stacks are empty")


def attribute_rules(rule_results, model, log, symbols: Symbolizer, threads=None) -> list[str]:
    """Each analysed interval's stacks, on ``analysis.stacks`` (interval index ->
    IntervalStacks) of every rule with ``stacks: true``; the warnings to give.
    ``threads``: the pass's ThreadNames (which threads were renamed, and when)."""
    warnings = [NO_CHAINS.format(rule=r.rule.name) for r in rule_results
                if r.rule.stacks and r.rule.blame and not log.sources]
    native = available(model)
    if not native:
        symbols.learn(log.representatives())
    for result in rule_results:
        analysis = result.analysis
        if not result.rule.stacks or analysis is None or not analysis.available:
            continue
        analysis.stacks = _attributed(result, model, log, symbols, native, threads)
        analysis.stack_sources = list(symbols.sources)     # once learned: what named them
    if native:
        # What the whole paths' wakeups read when first asked for: the wakeups, their
        # lookups (about 37 bytes a wakeup, held until then by the rules' stacks).
        log.forget_switches()
    return warnings


def _attributed(result, model, log, symbols: Symbolizer, native: bool, threads=None) -> dict:
    """One rule's analysed intervals' stacks: interval index -> IntervalStacks."""
    from .scheduling import blamed_tids
    analysis = result.analysis
    indexes = np.fromiter(iter(analysis.intervals), dtype=np.int64)
    if not len(indexes):
        return {}
    table = result.intervals
    tids = blamed_tids(result, analysis.blame)[indexes]
    starts = table.ints_at("start_ns", indexes)
    ends = starts + table.durations()[indexes]
    if native:
        own = attribute_many(model, log, symbols, tids, starts, ends, threads, own_only=True)
        return IntervalStackMap(indexes.tolist(), own, lambda: attribute_many(
            model, log, symbols, tids, starts, ends, threads, own=own))
    return {i: attribute(model, log, symbols, tid, s, e)
            for i, tid, s, e in zip(indexes.tolist(), tids.tolist(), starts.tolist(),
                                    ends.tolist())}
