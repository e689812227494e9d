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


def label(tid: int, comm: str | None) -> str:
    """A thread as every output names it: ``comm (tid)``, or ``tid N`` without a name."""
    return f"{comm} ({tid})" if comm else f"tid {tid}"


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

    def names_at(self, tids, times) -> list:
        """``[name_at(tid, ts) ...]`` for many threads and times, a thread with one name
        in the history looked up once (most threads: a run's CSV asks for every row's)."""
        if self.history is None:
            names = self.names
            return [None if tid == 0 else names.get(tid) for tid in tids]
        index, name_at = self._index(), self.name_at
        one = {tid: found[1][0] for tid, found in index.items() if len(found[0]) == 1}
        absent = object()
        out = []
        for tid, ts in zip(tids, times):
            name = absent if tid == 0 or ts is None else one.get(tid, absent)
            out.append(name_at(tid, ts) if name is absent else name)
        return out

    def names_over_time(self, tid: int) -> tuple[list, list] | None:
        """The thread's (times, names), each name from its time on (None: never named,
        or no history kept)."""
        return None if self.history is None else self._index().get(tid)

    def renamed(self, tid: int, at: int) -> dict | None:
        """How the thread's name changed around ``at``, if it ever did: ``{"tid", "comm"
        (its name at ``at``), "was", "until_ns" (the name before, and when the trace
        first named it ``comm``), "then", "from_ns" (the next name, from when)}``, the
        sides without a change None; None for a thread the trace gives one name."""
        if tid == 0 or self.history is None:
            return None
        found = self._index().get(tid)
        if not found or len(found[0]) < 2:
            return None
        times, values = found
        i = max(bisect.bisect_right(times, at) - 1, 0)
        out = {"tid": tid, "comm": values[i], "was": None, "until_ns": None,
               "then": None, "from_ns": None}
        if i > 0:
            out.update(was=values[i - 1], until_ns=times[i])
        if i + 1 < len(times):
            out.update(then=values[i + 1], from_ns=times[i + 1])
        return out

    def one_name_per_thread(self, interval: dict, path_tids: list | None = None) -> dict:
        """``interval`` (a result row with its breakdown and critical path) with every
        thread it names called by the name it had at the interval's start, and
        ``renamed``: the changes of those whose name changed (see :meth:`renamed`).
        ``path_tids``: a critical path written already (JSON, its threads so named),
        the threads it goes through in the order it meets them."""
        at = interval["start_ns"]
        tids: dict[int, str | None] = {}         # each thread named, and its name at ``at``

        def name(tid):
            if tid is None or tid <= 0:
                return None
            found = tids.get(tid, tids)
            if found is tids:
                found = tids[tid] = self.name_at(tid, at)
            return found

        for tid_key, comm_key in (("tid", "comm"), ("exit_tid", "exit_comm"),
                                  ("blamed_tid", "blamed_comm")):
            comm = name(interval.get(tid_key))
            if comm is not None:
                interval[comm_key] = comm
        parts: dict[tuple, dict] = {}
        for part in interval.get("breakdown", ()):
            if part.get("tid") is not None:
                part["by"] = label(part["tid"], name(part["tid"]))
            same = parts.get((part["kind"], part["by"], part.get("tid")))
            if same is None:
                parts[(part["kind"], part["by"], part.get("tid"))] = part
            else:                       # one part, once named twice
                same["ns"] += part["ns"]
        if "breakdown" in interval:
            interval["breakdown"] = sorted(parts.values(),
                                           key=lambda p: (-p["ns"], p["kind"], p["by"] or ""))
        if path_tids is not None:
            for tid in path_tids:
                name(tid)
        else:
            for segment in interval.get("critical_path", ()):
                comm = name(segment["tid"])
                if comm is not None:
                    segment["comm"] = comm
        interval["renamed"] = [r for r in map(lambda tid: self.renamed(tid, at), tids) if r]
        return interval

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
