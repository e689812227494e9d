"""Which code blocked, and which code woke it: stacks for the slow intervals.

For each analysed interval of a rule with ``stacks: true``, the blamed
thread's call chain at its switch-out (where it went to sleep), and for
each wakeup on the interval's critical path (the blamed thread's own, and
those of the threads the path went through) the waker's chain at the
wakeup -- offwaketime's view, followed along the whole path.  Frames are
text from :mod:`.symbols`; see docs/stacks.md.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..sched.model import RUNNING
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

    def to_dict(self) -> dict:
        return {"at_ns": self.at_ns, "woken_tid": self.woken_tid, "waker_tid": self.waker_tid,
                "waker": self.waker,
                "waker_stack": {"kernel": list(self.kernel), "user": list(self.user)}}


class IntervalStacks(NamedTuple):
    """The blamed thread's code at its switch-out, and the wakeups of its critical path
    (the blamed thread's own first, then in time order)."""

    tid: int
    comm: str | None          # the blamed thread's name at the interval's start
    kernel: tuple
    user: tuple
    wakers: tuple             # WakerStack...
    off_cpu_ns: int           # the interval's time the thread was not running: the weight

    def to_dict(self) -> dict:
        return {"stack": {"kernel": list(self.kernel), "user": list(self.user)},
                "off_cpu_ns": self.off_cpu_ns,
                "wakeups": [w.to_dict() for w in self.wakers]}

    def own_waker(self) -> WakerStack | None:
        """The wakeup that ended the blamed thread's last wait (offwaketime's waker)."""
        own = [w for w in self.wakers if w.woken_tid == self.tid]
        return own[-1] if own else None


def attribute(model, log, symbols: Symbolizer, tid: int, start: int, end: int) -> IntervalStacks:
    """The stacks of one interval of ``tid`` over ``[start, end]``."""
    chain = log.switch_out(tid, start, end)
    kernel, user = symbols.frames(chain, tid) if chain else ([], [])
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
        if isinstance(on, str):
            wu = []        # the user stack of the task the interrupt came upon: not the waker's
        wakers.append(WakerStack(at, woken, by, who, tuple(wk), tuple(wu)))
    wakers.sort(key=lambda w: (w.woken_tid != tid, w.at_ns))
    off_cpu = sum(seg.end - seg.start for seg in model.segments(tid, start, end)
                  if seg.state != RUNNING)
    return IntervalStacks(tid, model.name_at(tid, start), tuple(kernel), tuple(user),
                          tuple(wakers), off_cpu)


NO_CHAINS = ("rule {rule}: stacks: true, but no trace records call chains on its switches "
             "and wakeups (perf record -g, or LTTng's callstack-kernel / callstack-user "
             "contexts: docs/stacks.md); its stacks are empty")


def attribute_rules(rule_results, model, log, symbols: Symbolizer) -> list[str]:
    """Each analysed interval's stacks, on ``analysis.stacks`` (interval index ->
    IntervalStacks) of every rule with ``stacks: true``; the warnings to give."""
    from .scheduling import blamed_tids
    warnings = [NO_CHAINS.format(rule=r.rule.name) for r in rule_results
                if r.rule.stacks and r.rule.blame and not log.sources]
    symbols.learn(log.representatives())
    for result in rule_results:
        analysis = result.analysis
        if not result.rule.stacks or analysis is None or not analysis.available:
            continue
        analysis.stack_sources = list(symbols.sources)
        indexes = np.fromiter(iter(analysis.intervals), dtype=np.int64)
        if not len(indexes):
            analysis.stacks = {}
            continue
        table = result.intervals
        tids = blamed_tids(result, analysis.blame)[indexes]
        starts = table.ints_at("start_ns", indexes)
        ends = starts + table.durations()[indexes]
        analysis.stacks = {
            i: attribute(model, log, symbols, tid, s, e)
            for i, tid, s, e in zip(indexes.tolist(), tids.tolist(), starts.tolist(),
                                    ends.tolist())}
    return warnings
