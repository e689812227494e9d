"""Thread names (``comm``) as the trace tells them, followed over time.

Kernel events carry a thread id but not its name; the name comes from the
scheduling events that mention it (``sched_switch`` names both threads,
``sched_process_fork`` the child, ``sched_wakeup`` the woken one) and from
LTTng's state dump.  The latest name wins, so a thread renamed by ``exec``
is called by its new name from its next switch on.
"""

from __future__ import annotations

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
    """tid -> the name it had last."""

    def __init__(self) -> None:
        self.names: dict[int, str] = {}

    def columns_pairs(self, class_name: str, cols):
        """The ``(tid column, name column)`` pairs a class names threads with, or None."""
        pairs = NAMING_EVENTS.get(class_name)
        if not pairs:
            return None
        lists = [(cols.fields.get(t), cols.fields.get(n)) for t, n in pairs]
        lists = tuple((t, n) for t, n in lists if t is not None and n is not None)
        return lists or None

    def updater(self, pairs):
        """A function ``(row) -> None`` that learns the names of one row."""
        names = self.names

        def learn(row: int) -> None:
            for tids, comms in pairs:
                tid = tids[row]
                if tid:            # tid 0 is the idle task: swapper/N on every CPU
                    names[tid] = comms[row]
        return learn

    def name(self, tid, cpu=None):
        """The thread's name; the idle task (tid 0, one per CPU) is swapper/N."""
        if tid == 0:
            return None if cpu is None else f"swapper/{cpu}"
        return self.names.get(tid)
