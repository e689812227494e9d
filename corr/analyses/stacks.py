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

from typing import NamedTuple

import numpy as np

from ..sched.model import RUNNING
from .bulk import available
from .critical_path import critical_path
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
        if kind != "blocked" or (woken, a, b) in seen:
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
                   threads=None) -> list[IntervalStacks]:
    """:func:`attribute` of many intervals at once: their critical paths' waits and
    off-CPU time from the C walk (``_native.explain``), the switch-outs and wakeups
    looked up in the log together, each chain's frames named once per thread."""
    from .bulk import B_THREAD, Explained, Names, _Labels
    tids, starts, ends = (np.ascontiguousarray(c, dtype=np.int64) for c in (tids, starts, ends))
    names = Names(model, threads)
    # A thread never renamed is named once: only ``threads`` says which were renamed.
    name_at = names.at if threads is not None else model.name_at
    done = Explained(model, names, tids, starts, ends, want=7)
    wait_off, w_tid, w_kind, w_id, w_start, w_end = done.waits_raw
    switched = log.switch_outs(tids, starts, ends).tolist()
    found = log.wakeups_of(w_tid, w_start, w_end)
    table = log.wakeup_table()
    # Each wait's wakeup row (ts, seq, woken, waker, chain, kind); junk where none found.
    wakeups = table[np.maximum(found, 0)].tolist() if len(table) else [None] * len(found)
    found = found.tolist()
    part_off, part_key, part_ns = done.parts_raw
    running = np.asarray([kind == "on_cpu" for kind, _, _ in done.label_keys] + [False])
    # Each interval's off-CPU ns: its parts but on_cpu (they add up to the interval).
    summed = np.concatenate(([0], np.cumsum(np.where(running[part_key], 0, part_ns))))
    off_ns = (summed[part_off[1:]] - summed[part_off[:-1]]).tolist()
    w_tid, w_kind, w_id, w_start, w_end = (c.tolist() for c in (w_tid, w_kind, w_id, w_start,
                                                                 w_end))
    wait_off = wait_off.tolist()
    # Each interval: its switch-out's chain, and its wakeups (the wait, the log's row),
    # the blamed thread's own first, then in time order.
    rows = []
    used: set = set()                          # (tid, chain id) whose frames are shown
    for i, tid in enumerate(tids.tolist()):
        if switched[i] > 0:
            used.add((tid, switched[i]))
        picked = []
        seen = set()
        for w in range(wait_off[i], wait_off[i + 1]):
            key = (w_tid[w], w_start[w], w_end[w])
            if found[w] < 0 or key in seen:
                continue
            seen.add(key)
            wakeup = wakeups[w]
            picked.append((w_tid[w] != tid, wakeup[0], w, wakeup))
            if wakeup[4]:
                used.add((wakeup[3], wakeup[4]))
        picked.sort(key=lambda p: p[:2])
        rows.append(picked)
    symbols.learn(log.representatives(used))
    labels = _Labels(model)
    frames: dict = {}

    def named(chain_id: int, tid: int):
        key = (chain_id, tid)
        got = frames.get(key)
        if got is None:
            chain = log.chains[chain_id]
            kernel, user = symbols.frames(chain, tid) if chain else ([], [])
            lines = symbols.user_lines(chain, tid) if chain else ()
            got = frames[key] = (tuple(kernel), tuple(user), lines)
        return got

    # Each waking thread's name at its wakeup, all at once (where ``threads`` says
    # which threads were renamed); else one by one.
    shown = [(w, wakeup[0]) for picked in rows for _, _, w, wakeup in picked
             if w_kind[w] == B_THREAD]
    if threads is not None and shown:
        waits, times = zip(*shown)
        named_at = dict(zip(waits, names.at_many([w_id[w] for w in waits], times)))
    else:
        named_at = {w: name_at(w_id[w], at) for w, at in shown}
    out = []
    for i, (tid, start) in enumerate(zip(tids.tolist(), starts.tolist())):
        kernel, user, lines = named(switched[i], tid) if switched[i] > 0 else ((), (), ())
        wakers = []
        for _, at, w, (_, _, woken, by, waker_chain, _) in rows[i]:
            if w_kind[w] == B_THREAD:
                on = w_id[w]
                who = f"{named_at[w] or 'tid'} ({on})"
                wk, wu, wl = named(waker_chain, by) if waker_chain else ((), (), ())
            else:                       # an interrupt, a timer: its label; not its user stack
                who = labels.of(w_kind[w], w_id[w])
                wk, wu, wl = named(waker_chain, by)[0] if waker_chain else (), (), ()
            wakers.append(WakerStack(at, woken, by, who, wk, wu, wl))
        out.append(IntervalStacks(tid, name_at(tid, start), kernel, user, tuple(wakers),
                                  off_ns[i], lines))
    return out


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
        found = attribute_many(model, log, symbols, tids, starts, ends, threads)
        return dict(zip(indexes.tolist(), found))
    return {i: attribute(model, log, symbols, tid, s, e)
            for i, tid, s, e in zip(indexes.tolist(), tids.tolist(), starts.tolist(),
                                    ends.tolist())}
