"""Thread names (``comm``) as the trace tells them, followed over time.

Kernel events carry a thread id but not its name; the name comes from the
scheduling events that mention it (``sched_switch`` names both threads,
``sched_process_fork`` the child, ``sched_wakeup`` the woken one) and from
LTTng's state dump.  The latest name wins, so a thread renamed by ``exec``
is called by its new name from its next switch on.
"""

from __future__ import annotations

import bisect

# Canonical classes that name threads: class -> [(tid field, name field)].
NAMING_EVENTS = {
    "sched_switch": [("prev_tid", "prev_comm"), ("next_tid", "next_comm")],
    "sched_waking": [("tid", "comm")],
    "sched_wakeup": [("tid", "comm")],
    "sched_wakeup_new": [("tid", "comm")],
    "sched_process_fork": [("child_tid", "child_comm"), ("parent_tid", "parent_comm")],
    "sched_process_exit": [("tid", "comm")],
    "lttng_statedump_process_state": [("tid", "name")],
}


def projection() -> dict[str, frozenset[str]]:
    """What the names need decoded."""
    return {name: frozenset(f for pair in pairs for f in pair) for name, pairs in NAMING_EVENTS.items()}


class ThreadNames:
    """tid -> the name it had last; with ``keep_history``, every change too."""

    def __init__(self, keep_history: bool = False) -> None:
        self.names: dict[int, str] = {}
        # (ts, tid, name) each time a thread got a new name, in time order.
        self.history: list | None = [] if keep_history else None
        self._by_tid: dict | None = None       # the history indexed by tid, once read
        self._indexed = 0                      # history entries the index covers

    def columns_pairs(self, class_name: str, cols):
        """The ``(tid column, name column)`` pairs a class names threads with, or None."""
        pairs = NAMING_EVENTS.get(class_name)
        if not pairs:
            return None
        lists = [(cols.fields.get(t), cols.fields.get(n)) for t, n in pairs]
        lists = tuple((t, n) for t, n in lists if t is not None and n is not None)
        return lists or None

    def updater(self, pairs):
        """A function ``(row, ts) -> None`` that learns the names of one row."""
        names, history = self.names, self.history

        def learn(row: int, ts: int) -> None:
            for tids, comms in pairs:
                tid = tids[row]
                if tid:            # tid 0 is the idle task: swapper/N on every CPU
                    name = comms[row]
                    if history is not None and names.get(tid) != name:
                        history.append((ts, tid, name))
                    names[tid] = name
        return learn

    def name_at(self, tid: int, ts: int | None = None):
        """The thread's name at ``ts`` (its first known name before that), from the history."""
        if tid == 0:
            return None
        if self.history is None or ts is None:
            return self.names.get(tid)
        index = self._index()
        found = index.get(tid)
        if not found:
            return None
        times, values = found
        i = bisect.bisect_right(times, ts) - 1
        return values[max(i, 0)]

    def _index(self):
        """The history by tid; the history only grows (in time order), so only its new
        entries are added (a run asks for names between batches)."""
        if self._by_tid is None:
            self._by_tid, self._indexed = {}, 0
        if self._indexed != len(self.history):
            by_tid = self._by_tid
            for ts, tid, name in self.history[self._indexed:]:
                found = by_tid.get(tid)
                if found is None:
                    found = by_tid[tid] = ([], [])
                found[0].append(ts)
                found[1].append(name)
            self._indexed = len(self.history)
        return self._by_tid

    def name(self, tid, cpu=None):
        """The thread's name; the idle task (tid 0, one per CPU) is swapper/N."""
        if tid == 0:
            return None if cpu is None else f"swapper/{cpu}"
        return self.names.get(tid)
