"""Intervals handed to the library's callbacks as the pass decides them.

latency_tracker calls back as it goes: a slow interval at its exit, a
timeout when it expires.  The pass here is batch by batch, so the
decisions of a batch are gathered after its walk and handed out sorted by
the trace time at which each was decided:

- a complete or late interval at its exit (``end_ns``);
- a timeout at its deadline (entry + timeout): the open entries whose
  deadline passed are expired at the end of each batch (before the next
  batch's events, as an event after the deadline would), so a timeout is
  never handed out after a decision that came later in the trace;
- an incomplete interval at the end of the trace (``end_ns`` too).

Ties: timeouts before intervals, then the rules' order, then each rule's
table order.  Only the intervals over their rule's threshold go to
``on_interval`` (a rule without a threshold: every one); a late interval
comes after the ``on_timeout`` of its entry, since its exit is after its
deadline.  With an ``explain`` hook (:class:`corr.analyses.as_decided.Explainer`),
the intervals of rules with ``blame:`` are explained before they are handed
out, from the scheduling events read so far.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .intervals import STATUS_NAMES, TIMEOUT
from .interval import Interval
from .matcher import group_function, hashable
from .result import plain_value

Callback = Callable[[Interval], Any]

# Decisions explained and made Interval objects at a time.
CHUNK = 512

# Sort ranks of the two kinds at the same trace time.
_TIMEOUT_RANK, _INTERVAL_RANK = 0, 1


class Decisions:
    """What one pass decided, handed to ``on_interval`` and ``on_timeout`` in order."""

    def __init__(self, rules, matchers, on_interval: Callback | None,
                 on_timeout: Callback | None, name_of=None, explain=None,
                 keep_decided: bool = True, defer: bool = False):
        self.rules = rules
        # (decided [(rule index, row)], last event's ns) -> None: fills the rows in place.
        self.explain = explain
        self.now: int | None = None             # the last event's ns
        # False (a stream): the matchers' tables forget what was handed out.
        self.keep_decided = keep_decided
        # With ``defer`` (a stream), decisions wait here for take_deferred() instead of
        # being handed to the callbacks, which are then not called.
        self.deferred: list | None = [] if defer else None
        self.matchers = matchers
        self.on_interval = on_interval
        self.on_timeout = on_timeout
        self.name_of = name_of                 # (tid, cpu) -> name, for unnamed entries
        self.seen = [0] * len(matchers)        # rows of each table already looked at
        self.handed = 0                        # callbacks made
        self.failed = False                    # a callback raised
        for m in matchers:
            if on_timeout is not None:
                m.watch_expired()
        self._groups = [_group_getter(m) for m in matchers]

    def after_batch(self, last_ts: int | None, quiet_ns: int | None = None) -> None:
        """The batch ended at ``last_ts``: expire what is due and hand out its decisions.

        ``quiet_ns``: a live source's clock (:mod:`corr.reading.live`), no event before
        it to come: the entries whose deadline is before it are handed to ``on_timeout``
        now, although they time out for the table only when an event passes their
        deadline (the final result is that of the recorded trace)."""
        if last_ts is not None:
            self.now = last_ts
        for m in self.matchers:
            if last_ts is not None:
                m.expire(last_ts)
            if quiet_ns is not None and (last_ts is None or quiet_ns > last_ts):
                m.announce_due(quiet_ns)
        self._hand_out()

    def at_end(self, end_ts: int) -> None:
        """Before the matchers' ``finish``: the timeouts due by the end of the trace."""
        self.now = end_ts
        for m in self.matchers:
            m.expire(end_ts, True)
        self._hand_out()

    def after_finish(self) -> None:
        """After the matchers' ``finish``: the incomplete intervals."""
        self._hand_out()

    def _hand_out(self) -> None:
        found: list = []
        if self.on_timeout is not None:
            for i, m in enumerate(self.matchers):
                for n, entry in enumerate(m.take_expired()):
                    found.append((entry[0] + m.timeout_ns, _TIMEOUT_RANK, i, n,
                                  self._timeout_row(i, entry)))
        for i, m in enumerate(self.matchers):
            table = m.table_so_far()
            first, last = self.seen[i], len(table)
            self.seen[i] = last
            if self.on_interval is None or first == last or self.rules[i].is_count:
                continue                      # a count rule's events are counted, not handed out
            threshold = self.rules[i].threshold_ns
            at = list(range(first, last))
            rows = table.rows(at)
            values = list(m.groups) if _grouped(m) else None
            groups = table.groups_at(at) if values is not None else None
            for n, row in enumerate(rows):
                if row["status"] == "timeout":
                    continue                  # handed to on_timeout at its deadline
                if threshold is not None and row["duration_ns"] <= threshold:
                    continue
                row["group"] = plain_value(values[groups[n]]) if values is not None else None
                found.append((row["end_ns"], _INTERVAL_RANK, i, at[n], row))
        found.sort(key=lambda d: d[:4])
        if not self.keep_decided:
            for i, m in enumerate(self.matchers):
                m.forget_decided()
                self.seen[i] = 0
        ready = [(rank, i, row) for _, rank, i, _, row in found]
        if self.deferred is not None:
            self.deferred.extend(ready)
            return
        for rank, interval in self._intervals(ready):
            self._call(self.on_timeout if rank == _TIMEOUT_RANK else self.on_interval, interval)

    def take_deferred(self):
        """The decisions held since the last call (``defer``), as Interval objects in
        order, explained a chunk at a time as they are read."""
        ready, self.deferred = self.deferred, []
        for _, interval in self._intervals(ready):
            self.handed += 1
            yield interval

    def _intervals(self, ready: list):
        """(rank, Interval) for the ``(rank, rule index, row)`` decisions, explained a
        chunk at a time: only a chunk's explanations (critical paths of tens of
        segments each) are alive beyond what the caller keeps."""
        for lo in range(0, len(ready), CHUNK):
            chunk = ready[lo:lo + CHUNK]
            if self.explain is not None:
                self.explain([(i, row) for _, i, row in chunk], self.now)
            for rank, i, row in chunk:
                yield rank, Interval._adopt(self.rules[i].name, row)

    def _call(self, callback: Callback, interval: Interval) -> None:
        try:
            callback(interval)
        except BaseException:
            self.failed = True
            raise
        self.handed += 1

    def _timeout_row(self, i: int, entry: tuple) -> dict:
        """An entry whose deadline passed, as the table would hold it had no exit come."""
        m = self.matchers[i]
        ts, key, tid, cpu, comm, values = entry
        if comm is None and tid is not None and self.name_of is not None:
            comm = self.name_of(tid, cpu)
        timeout = m.timeout_ns
        fields = {name: (None if side != 0 or values is None else values[at])
                  for name, (side, at) in zip(m.field_names, m.field_sources)}
        key_names = m.key_names
        group = self._groups[i]
        return {
            "start_ns": ts, "end_ns": ts + timeout, "duration_ns": timeout,
            "status": STATUS_NAMES[TIMEOUT],
            "key": dict(zip(key_names, key)) if isinstance(key, tuple) else key,
            "tid": tid, "cpu": cpu, "comm": comm,
            "exit_tid": None, "exit_cpu": None, "exit_comm": None,
            "fields": fields, "lossy": False,
            "group": None if group is None else plain_value(
                hashable(group(values, None, key, timeout))),
        }


def _group_getter(matcher):
    spec = getattr(matcher, "group_spec", None)
    return None if spec is None else group_function(spec)


def _grouped(matcher) -> bool:
    """Whether the rule has ``group_by`` (else every interval is in group None)."""
    return getattr(matcher, "group_spec", None) is not None


__all__ = ["Decisions", "Callback"]
