"""What each wakeup ran in, found as the pass goes (``SchedModel.source_of``,
column-wise and a batch at a time).

A wakeup done in an interrupt is blamed on that interrupt, else on the
thread that did it: its ``ctx.tid``, or the thread running on its CPU.
Both depend only on what came before the wakeup on its CPU, so a batch
needs just a little of the past per CPU: the nesting depth of interrupt
contexts and its running minimum (a trace can begin inside a handler),
the last ``MAX_BACK`` context events (the reference looks no further back
for the entry that opened the innermost context) and the thread last
switched in.  The scheduling log keeps the results beside each wakeup,
so no context event has to be kept for the C model.
"""

from __future__ import annotations

import numpy as np

from .events import (ANY_IRQ_ID, ANY_SOFTIRQ_ID, FLAG_HARDIRQ, FLAG_NMI, FLAG_SOFTIRQ, IRQ,
                     NMI_ID, SOFTIRQ)

MAX_BACK = 256          # how far back an open interrupt entry is looked for
# Source kinds (src_kind): the codes the C analysis uses.
SRC_NONE, SRC_THREAD, SRC_IRQ, SRC_SOFTIRQ, SRC_HRTIMER, SRC_UNKNOWN = -1, 1, 2, 3, 4, 5
_NO_LOW = np.iinfo(np.int64).max


class _CpuContexts:
    """One CPU's recent interrupt entries and exits."""

    __slots__ = ("seq", "level", "depth", "code", "ident", "low")

    def __init__(self):
        empty = np.zeros(0, np.int64)
        self.seq = self.level = self.depth = self.code = self.ident = empty
        self.low = _NO_LOW          # the lowest depth reached so far

    def extend(self, seq, code, ident) -> int:
        """Append a batch's events; the number of rows kept from before them."""
        before = len(self.seq)
        last = int(self.depth[-1]) if before else 0
        depth = last + np.cumsum(np.sign(code))
        low = np.minimum(np.minimum.accumulate(depth), self.low)
        level = depth - np.minimum(low, 0)
        self.low = int(low[-1])
        self.seq = np.concatenate((self.seq, seq))
        self.level = np.concatenate((self.level, level))
        self.depth = np.concatenate((self.depth, depth))
        self.code = np.concatenate((self.code, code))
        self.ident = np.concatenate((self.ident, ident))
        return before

    def lookup(self, seq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(code, id) of the innermost context open just before each ``seq``."""
        code = np.zeros(len(seq), dtype=np.int64)
        ident = np.zeros(len(seq), dtype=np.int64)
        i = np.searchsorted(self.seq, seq) - 1
        inside = i >= 0
        inside[inside] = self.level[i[inside]] > 0
        rows, i = np.flatnonzero(inside), i[inside]
        if not len(rows):
            return code, ident
        depth = self.depth
        entries = np.flatnonzero(self.code > 0)
        span = len(self.code) + 1
        keys = depth[entries] * span + entries
        order = np.argsort(keys, kind="stable")
        keys, entries = keys[order], entries[order]
        pos = np.searchsorted(keys, depth[i] * span + i, side="right") - 1
        j = entries[np.maximum(pos, 0)] if len(entries) else np.zeros(len(i), np.int64)
        found = (pos >= 0) & (depth[j] == depth[i]) & (j > i - MAX_BACK)
        code[rows[found]] = self.code[j[found]]
        ident[rows[found]] = self.ident[j[found]]
        return code, ident

    def keep_last(self) -> None:
        """Forget all but the last MAX_BACK events (all a later lookup can reach)."""
        if len(self.seq) > MAX_BACK:
            for name in ("seq", "level", "depth", "code", "ident"):
                setattr(self, name, getattr(self, name)[-MAX_BACK:].copy())


def flagged_contexts(flags: np.ndarray, code: np.ndarray, ident: np.ndarray) -> None:
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


class WakeupSources:
    """The source of every wakeup, a batch of the log at a time, in stream order."""

    def __init__(self):
        self._contexts: dict[int, _CpuContexts] = {}
        self._running: dict[int, tuple[int, int]] = {}     # cpu -> (seq, tid) last switched in

    def add(self, context: dict | None, switch: dict | None,
            wakeup: dict | None) -> tuple[np.ndarray, np.ndarray]:
        """(src_kind int8, src_id int64) of the batch's wakeups; ``context``, ``switch``
        and ``wakeup`` are the batch's rows of each table, each in stream order."""
        n = len(wakeup["seq"]) if wakeup is not None else 0
        code = np.zeros(n, dtype=np.int64)
        ident = np.zeros(n, dtype=np.int64)
        wk_cpu = wakeup["cpu"] if n else None
        if context is not None and len(context["seq"]):
            for c in np.unique(context["cpu"]).tolist():
                mine = context["cpu"] == c
                self._contexts.setdefault(c, _CpuContexts()).extend(
                    context["seq"][mine], np.asarray(context["code"][mine], np.int64),
                    np.asarray(context["id"][mine], np.int64))
        if n:
            for c, state in self._contexts.items():
                rows = np.flatnonzero(wk_cpu == c)
                if len(rows):
                    code[rows], ident[rows] = state.lookup(wakeup["seq"][rows])
        for state in self._contexts.values():
            state.keep_last()
        running = self._running_before(switch, wakeup) if n else None
        if switch is not None and len(switch["seq"]):
            self._note_switches(switch)
        if not n:
            return np.zeros(0, np.int8), np.zeros(0, np.int64)
        flagged_contexts(np.asarray(wakeup["flags"], np.int64), code, ident)
        kind = np.where(code > 0, code + 1, SRC_THREAD).astype(np.int8)   # IRQ 1 -> 2 ...
        waker = np.array(wakeup["waker"], dtype=np.int64)
        missing = (code == 0) & (waker < 0)
        waker[missing] = running[missing]
        thread = code == 0
        kind[thread & (waker <= 0)] = SRC_UNKNOWN
        src_id = np.where(thread, np.where(waker > 0, waker, 0), ident)
        return kind, src_id

    def _running_before(self, switch, wakeup) -> np.ndarray:
        """The thread switched in last on each wakeup's CPU before it (-1: none yet)."""
        seq, cpu = wakeup["seq"], wakeup["cpu"]
        out = np.full(len(seq), -1, dtype=np.int64)
        cpus = set(np.unique(cpu).tolist())
        for c in cpus:
            rows = np.flatnonzero(cpu == c)
            before = self._running.get(c)
            if switch is not None and len(switch["seq"]):
                mine = switch["cpu"] == c
                seqs, tids = switch["seq"][mine], np.asarray(switch["next_tid"][mine], np.int64)
            else:
                seqs = tids = np.zeros(0, np.int64)
            if before is not None:
                seqs = np.concatenate(([before[0]], seqs))
                tids = np.concatenate(([before[1]], tids))
            i = np.searchsorted(seqs, seq[rows]) - 1
            ok = i >= 0
            out[rows[ok]] = tids[i[ok]]
        return out

    def _note_switches(self, switch) -> None:
        cpu = switch["cpu"]
        for c in np.unique(cpu).tolist():
            last = np.flatnonzero(cpu == c)[-1]
            self._running[c] = (int(switch["seq"][last]), int(switch["next_tid"][last]))
