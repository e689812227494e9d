"""Pairing one rule's entries and exits: the latency_tracker, offline.

An entry opens an interval under its key; an exit with the same key closes
one, chosen by the rule's ``match`` policy.  Open entries live in a dict by
key (never a scan).  With one timeout per rule and entries arriving in time
order, deadlines arrive in order too: a FIFO of deadlines is already
sorted, and firing the due ones costs a look at its head.  Matched entries
leave their deadline behind (lazy deletion); the FIFO is compacted when
those outnumber the live ones, so memory stays bounded by what is open.  Every entry ends in exactly one outcome:
complete, late (its exit came after the timeout), timeout (no exit at all),
incomplete (still open at the end of the trace) or dropped, with a reason.
"""

from __future__ import annotations

from collections import Counter, deque

from .intervals import COMPLETE, INCOMPLETE, LATE, TIMEOUT, IntervalTable

NO_DEADLINE = 2 ** 63


class ExpressionErrors:
    """How often each of a rule's expressions gave null because of an error (``'+' of a
    string and a number``, ``division by zero``): one ``Env.note`` per expression.

    Expressions are evaluated in Python whichever matcher pairs (keys and
    filters column-wise before the walk, pair filters and groups called by
    the C core), so both matchers count them here alike.
    """

    def __init__(self):
        self.counts: Counter = Counter()

    def noter(self, expression):
        """The ``Env.note`` for ``expression``: counts ``TEXT: REASON``."""
        from ..text import shown
        counts, text = self.counts, shown(expression.text, 80)

        def note(reason: str) -> None:
            counts[f"{text}: {reason}"] += 1
        return note


# An open entry is a list (cheaper to make than an object, and mutable):
# [ts, seq, key, tid, cpu, comm, values, deadline, timed out, steps seen], made in
# entry(); steps seen is None until a step of a rule with ``steps`` (corr.engine.sequence).
TS, SEQ, KEY, TID, CPU, COMM, VALUES, DEADLINE, TIMED_OUT, STEPS = range(10)
# What decided_values() returns for an entry that its steps drop.
DROPPED = object()


class Matcher:
    """One rule's state while the trace is walked in time order."""

    def __init__(self, name: str, key_names: list[str], match: str = "nest",
                 timeout_ns: int | None = None, pair_filter=None, grouper=None,
                 field_names: tuple = (), entry_names: tuple = (), exit_names: tuple = ()):
        self.name = name
        self.key_names = key_names
        self.match = match
        self.timeout_ns = timeout_ns
        self.pair_filter = pair_filter        # (entry values, exit values, duration) -> bool
        self.grouper = grouper                # (entry values, exit values, key, duration) -> group
        # Entry and exit values are tuples, in the order of these names.
        self.entry_names = tuple(entry_names)
        self.exit_names = tuple(exit_names)
        self.field_names = tuple(field_names)  # values copied onto intervals, exit's first
        self._field_sources = [
            (1, self.exit_names.index(n)) if n in self.exit_names else
            (0, self.entry_names.index(n)) if n in self.entry_names else (None, None)
            for n in self.field_names]
        self.intervals = IntervalTable(key_names, self.field_names)
        # (tid, cpu) -> thread name, for events that came without one.
        self.name_of = None
        # Group value -> index; without group_by every interval is in group 0.
        self.groups: dict[object, int] = {} if grouper is not None else {None: 0}
        self.entries = 0
        self.dropped: Counter = Counter()
        self.problems = ExpressionErrors()
        self.unmatched_exits = 0
        self._seq = 0
        self._open: dict = {}                 # key -> open entry (first/last) or a list/deque of them
        self._timed_out: dict = {}            # key -> [open entries], awaiting a late exit
        self._deadlines: deque = deque()      # (deadline, seq), in order; some already matched
        self._by_seq: dict[int, list] = {}   # entries whose deadline is still to come
        self.next_deadline = NO_DEADLINE
        self._single = match in ("first", "last")
        # With watch_expired(): each entry that timed out since take_expired().
        self._expired: list | None = None
        # Entries announced by announce_due() (seqs), still open: not announced again.
        self._announced: set[int] = set()

    @property
    def group_spec(self):
        """The rule's group function (None without ``group_by``), as the C core's spec."""
        return self.grouper

    @property
    def field_sources(self) -> list:
        """Per kept field, ``(side, index)`` in the captured values (side 0: the entry)."""
        return self._field_sources

    def table_so_far(self) -> IntervalTable:
        """The intervals recorded so far (during the pass, for the library's callbacks)."""
        return self.intervals

    def settle_decided(self) -> None:
        """Nothing to do: :attr:`intervals` is always what was recorded so far."""

    def oldest_waiting(self, timed_out: bool = True) -> int | None:
        """The earliest start of the entries still waiting: open ones, and with
        ``timed_out`` those timed out awaiting a late exit (None: none).  What an
        explanation of the intervals still to be decided may need of the past
        (:mod:`corr.sched.window`)."""
        starts = [e[TS] for pending in self._open.values()
                  for e in ([pending] if self._single else pending)]
        if timed_out:
            starts.extend(e[TS] for waiting in self._timed_out.values() for e in waiting)
        return min(starts, default=None)

    def forget_decided(self) -> None:
        """Drop the intervals recorded so far: a stream has handed them out and keeps
        nothing of them (counts of entries and drops stay)."""
        self.intervals = IntervalTable(self.key_names, self.field_names)

    def watch_expired(self) -> None:
        """Keep ``(ts, key, tid, cpu, comm, values)`` of every entry that times out from now."""
        if self._expired is None:
            self._expired = []

    def take_expired(self) -> list:
        """The entries that timed out since the last call (see :meth:`watch_expired`)."""
        found = self._expired or []
        if self._expired is not None:
            self._expired = []
        return found

    def announce_due(self, now: int) -> None:
        """A live source's clock passed ``now`` with no event: hand the entries whose
        deadline is before it to :meth:`take_expired` now, leaving them open.

        They time out for the table only when an event (or the end) passes their
        deadline, as in a pass over the recorded trace, so the final result is the
        offline one; :meth:`expire` does not hand them out a second time.
        """
        if self._expired is None:
            return
        by_seq, announced = self._by_seq, self._announced
        for deadline, seq in self._deadlines:
            if deadline >= now:
                break
            e = by_seq.get(seq)
            if e is None or seq in announced:
                continue
            announced.add(seq)
            self._expired.append((e[TS], e[KEY], e[TID], e[CPU], e[COMM], e[VALUES]))

    # -- entries -------------------------------------------------------------
    def entry(self, ts, key, tid, cpu, comm, values) -> None:
        self.entries += 1
        if self.next_deadline < ts:
            self.expire(ts)
        seq = self._seq = self._seq + 1
        timeout = self.timeout_ns
        deadline = NO_DEADLINE if timeout is None else ts + timeout
        e = [ts, seq, key, tid, cpu, comm, values, deadline, False, None]
        opened = self._open
        if self._single:
            old = opened.get(key)
            if old is not None:
                if self.match == "first":
                    self.dropped["ignored: its key was already open (match: first)"] += 1
                    return
                self.dropped["replaced by a newer entry with the same key (match: last)"] += 1
                self._forget_deadline(old)
            opened[key] = e
        else:
            pending = opened.get(key)
            if pending is None:
                pending = opened[key] = [] if self.match == "nest" else deque()
            pending.append(e)
        if timeout is not None:
            self._deadlines.append((deadline, seq))
            self._by_seq[seq] = e
            if deadline < self.next_deadline:
                self.next_deadline = deadline

    def drop(self, reason: str, count: int = 1) -> None:
        """``count`` entries refused before pairing (their thread is unknown, say):
        counted as entries, dropped with ``reason``."""
        self.entries += count
        self.dropped[reason] += count

    # -- exits -----------------------------------------------------------------
    def exit(self, ts, key, tid, cpu, comm, values) -> None:
        if self.next_deadline < ts:
            self.expire(ts)
        e = self._open.pop(key, None) if self._single else self._take_open(key)
        if e is None:
            e = self._take_timed_out(key)
            if e is None:
                self.unmatched_exits += 1
                return
        elif e[DEADLINE] != NO_DEADLINE:
            self._forget_deadline(e)
        entry_values = e[VALUES]
        start = e[TS]
        duration = ts - start
        if self.sequence:
            values = self.decided_values(e, values)
            if values is DROPPED:
                return
        if self.pair_filter is not None and not self.pair_filter(entry_values, values, duration):
            self.dropped["filtered out by the rule's where"] += 1
            return
        group = 0 if self.grouper is None else self._group_of(entry_values, values, key, duration)
        name_of = self.name_of
        if name_of is not None:
            if comm is None and tid is not None:
                comm = name_of(tid, cpu)
            entry_comm = e[COMM]
            if entry_comm is None and e[TID] is not None:
                entry_comm = e[COMM] = name_of(e[TID], e[CPU])
        self.intervals.append(start, ts, LATE if e[TIMED_OUT] else COMPLETE, key,
                              e[TID], e[CPU], e[COMM], tid, cpu, comm,
                              self._fields(entry_values, values) if self.field_names else None,
                              group)

    def _take_open(self, key):
        opened = self._open
        if self._single:
            return opened.pop(key, None)
        pending = opened.get(key)
        if not pending:
            return None
        e = pending.pop() if self.match == "nest" else pending.popleft()
        if not pending:
            del opened[key]
        return e

    def _take_timed_out(self, key):
        waiting = self._timed_out.get(key)
        if not waiting:
            return None
        e = waiting.pop(0 if self.match == "fifo" else -1)
        if not waiting:
            del self._timed_out[key]
        return e

    # -- spans ------------------------------------------------------------------
    def span(self, ts, key, tid, cpu, comm, values, duration) -> None:
        """One event that carries its own duration: the interval ends at it."""
        self.entries += 1
        # NaN, an infinity or beyond int64 is no duration either (as in the C core).
        if not isinstance(duration, (int, float)) or not 0 <= duration < 2**63:
            self.dropped["its duration is missing or negative"] += 1
            return
        duration = int(duration)
        if self.pair_filter is not None and not self.pair_filter(values, values, duration):
            self.dropped["filtered out by the rule's where"] += 1
            return
        group = self._group_of(values, values, key, duration)
        if comm is None and tid is not None and self.name_of is not None:
            comm = self.name_of(tid, cpu)
        self.intervals.append(ts - duration, ts, COMPLETE, key, tid, cpu, comm, tid, cpu, comm,
                              self._fields(values, values), group)

    # -- cancel -----------------------------------------------------------------
    def cancel(self, ts, key, reason: str) -> None:
        """Drop every entry open under ``key`` (a thread exited, say)."""
        if self.next_deadline < ts:
            self.expire(ts)
        found = self._open.pop(key, None)
        if found is not None:
            entries = [found] if self._single else list(found)
            for e in entries:
                self._forget_deadline(e)
            self.dropped[f"cancelled by {reason}"] += len(entries)
        # Timed-out entries can no longer be late: they stay timeouts.
        for e in self._timed_out.pop(key, ()):
            self._record_timeout(e)

    # -- time -------------------------------------------------------------------
    def expire(self, now: int, inclusive: bool = False) -> None:
        """Time out every open entry whose deadline is before ``now``."""
        deadlines = self._deadlines
        by_seq = self._by_seq
        while deadlines and (deadlines[0][0] < now or (inclusive and deadlines[0][0] == now)):
            _, seq = deadlines.popleft()
            e = by_seq.pop(seq, None)
            if e is None:
                continue                  # matched or dropped since
            self._remove_open(e)
            e[TIMED_OUT] = True
            if self._announced and seq in self._announced:
                self._announced.discard(seq)
            elif self._expired is not None:
                self._expired.append((e[TS], e[KEY], e[TID], e[CPU], e[COMM], e[VALUES]))
            self._timed_out.setdefault(e[KEY], []).append(e)
        self.next_deadline = deadlines[0][0] if deadlines else NO_DEADLINE

    def _remove_open(self, e: list) -> None:
        opened = self._open
        key = e[KEY]
        if self._single:
            if opened.get(key) is e:
                del opened[key]
            return
        pending = opened.get(key)
        if pending is not None:
            for i, other in enumerate(pending):
                if other is e:
                    del pending[i]
                    break
            if not pending:
                del opened[key]

    def _forget_deadline(self, e: list) -> None:
        if e[DEADLINE] != NO_DEADLINE and not e[TIMED_OUT]:
            by_seq = self._by_seq
            by_seq.pop(e[SEQ], None)
            deadlines = self._deadlines
            if len(deadlines) > 2 * len(by_seq) + 1024:     # mostly matched ones: compact
                self._deadlines = deque(d for d in deadlines if d[1] in by_seq)

    def drain(self) -> None:
        """Between batches: nothing to do (the table seals its own chunks as rows come)."""

    def finish(self, end_ts: int) -> None:
        """The trace ended at ``end_ts``: settle every entry still waiting."""
        self.expire(end_ts, inclusive=True)
        for waiting in self._timed_out.values():
            for e in waiting:
                self._record_timeout(e)
        self._timed_out.clear()
        for pending in self._open.values():
            for e in ([pending] if self._single else pending):
                values = self.decided_values(e, None) if self.sequence else None
                if values is DROPPED:
                    continue
                self._name_entry(e)
                end = max(end_ts, e[TS])
                self.intervals.append(e[TS], end, INCOMPLETE, e[KEY], e[TID], e[CPU], e[COMM],
                                      None, None, None, self._fields(e[VALUES], values),
                                      self._group_of(e[VALUES], values, e[KEY], end - e[TS]))
        self._open.clear()
        self._deadlines = deque()

        self._by_seq.clear()
        self.next_deadline = NO_DEADLINE

    def _name_entry(self, e: list) -> None:
        if e[COMM] is None and e[TID] is not None and self.name_of is not None:
            e[COMM] = self.name_of(e[TID], e[CPU])

    def _record_timeout(self, e: list) -> None:
        values = self.decided_values(e, None) if self.sequence else None
        if values is DROPPED:
            return
        self._name_entry(e)
        self.intervals.append(e[TS], e[TS] + self.timeout_ns, TIMEOUT, e[KEY], e[TID], e[CPU],
                              e[COMM], None, None, None, self._fields(e[VALUES], values),
                              self._group_of(e[VALUES], values, e[KEY], self.timeout_ns))

    # A rule with steps (corr.engine.sequence.SequenceMatcher) checks them and
    # appends their captures to the exit's values when an entry is decided.
    sequence = False

    def decided_values(self, e: list, exit_values):
        """The exit-side values of ``e``'s interval, or :data:`DROPPED`."""
        return exit_values

    # -- helpers -------------------------------------------------------------------
    def _group_of(self, entry_values, exit_values, key, duration) -> int:
        if self.grouper is None:
            return 0
        value = self.grouper(entry_values, exit_values, key, duration)
        try:
            index = self.groups.get(value)
        except TypeError:                      # an array or structure field (as the C core)
            value = hashable(value)
            index = self.groups.get(value)
        if index is None:
            index = self.groups[value] = len(self.groups)
        return index

    def _fields(self, entry_values, exit_values):
        """The rule's kept fields, as a tuple in ``field_names`` order."""
        if not self.field_names:
            return None
        sides = (entry_values, exit_values)
        return tuple(None if side is None or sides[side] is None else sides[side][i]
                     for side, i in self._field_sources)

    # -- accounting ------------------------------------------------------------------
    def outcome_counts(self) -> dict:
        """Entries and what became of them; the parts add up to ``entries``."""
        return outcome_counts(self.intervals, self.entries, self.dropped, self.unmatched_exits,
                              self.problems.counts)


def pair_function(spec):
    """A pair filter spec as a callable ``(entry values, exit values, duration)``.

    A tuple ``(side, i, side, j)`` compares two captured values (side 0 is
    the entry, 1 the exit) with the expression language's rule that an
    absent value is unequal to everything; a callable is used as it is.
    """
    if spec is None or callable(spec):
        return spec
    sa, ia, sb, ib = spec

    def equal(entry_values, exit_values, duration):
        both = (entry_values, exit_values)
        a, b = both[sa], both[sb]
        if a is None or b is None:
            return False
        a, b = a[ia], b[ib]
        return a is not None and b is not None and a == b
    return equal


def hashable(value):
    """``value`` with the lists and dicts of a trace's array or structure fields as
    tuples (a dict as its (name, value) pairs), so that it can be a key or a group."""
    if isinstance(value, (list, tuple)):
        return tuple(hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple((k, hashable(v)) for k, v in value.items())
    return value


def group_function(spec):
    """A group spec as a callable ``(entry values, exit values, key, duration)``."""
    if spec is None or callable(spec):
        return spec
    if spec == ("key",):
        return lambda e, x, key, d: key
    kind, i = spec
    if kind == "key":
        return lambda e, x, key, d: key[i]
    if kind == "entry":
        return lambda e, x, key, d: None if e is None else e[i]
    return lambda e, x, key, d: None if x is None else x[i]


def outcome_counts(intervals: IntervalTable, entries: int, dropped: dict, unmatched: int,
                   expression_errors: dict) -> dict:
    """A matcher's accounting, from its interval table and counters.  ``expression_errors``
    (:class:`ExpressionErrors`): evaluations that gave null because of an error, by
    expression and reason; what they dropped is among the other outcomes (a ``where``
    that was false, a key or group that is null)."""
    import numpy as np
    counts = np.zeros(4, dtype=np.int64)
    for _, _, statuses, _ in intervals.pieces():      # a piece at a time: no copy of them all
        if len(statuses):
            counts += np.bincount(statuses, minlength=4)[:4]
    return {
        "entries": entries,
        "complete": int(counts[COMPLETE]),
        "late": int(counts[LATE]),
        "timeouts": int(counts[TIMEOUT]),
        "incomplete": int(counts[INCOMPLETE]),
        "dropped": int(sum(dropped.values())),
        "dropped_reasons": dict(dropped),
        "exits_without_entry": unmatched,
        "expression_errors": dict(expression_errors),
    }
