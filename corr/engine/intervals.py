"""Intervals: what a rule's matcher produces, stored column-wise.

A trace can yield millions of intervals; one Python object each would not
fit the memory target, so a table keeps integer columns in ``array('q')``
(8 bytes a value) and the rest in lists.  Rows are built by the matcher
and read by statistics and renderers.
"""

from __future__ import annotations

from array import array

# Status codes (the ``status`` column) and their names.
COMPLETE, LATE, TIMEOUT, INCOMPLETE = range(4)
STATUS_NAMES = ("complete", "late", "timeout", "incomplete")

NONE_INT = -(2 ** 31)          # an absent tid or cpu in their 32-bit columns


class IntervalTable:
    """The intervals of one rule, in the order they were closed."""

    # (column, array type): times in 64 bits, thread ids, CPUs and groups in
    # 32, the status in 8 -- about 40 bytes an interval with the rest.
    INT_COLUMNS = (("start_ns", "q"), ("end_ns", "q"), ("status", "b"), ("entry_tid", "i"),
                   ("entry_cpu", "i"), ("exit_tid", "i"), ("exit_cpu", "i"), ("group", "i"))
    OBJECT_COLUMNS = ("entry_comm", "exit_comm")

    def __init__(self, key_names: list[str], field_names: tuple = ()):
        self.key_names = key_names
        self.field_names = tuple(field_names)
        # One list per kept field: a dict per interval would cost ~200 bytes.
        self.fields = {name: [] for name in self.field_names}
        for name, typecode in self.INT_COLUMNS:
            setattr(self, name, array(typecode))
        for name in self.OBJECT_COLUMNS:
            setattr(self, name, [])
        # Keys are most often one integer (a tid, a seqno): 8 bytes in an
        # array instead of a 28-byte int object; a list once any is not.
        self.key: array | list = array("q")
        self.lossy: array = array("b")       # overlaps a discarded-events range

    @classmethod
    def adopt(cls, key_names: list[str], field_names: tuple, take) -> "IntervalTable":
        """A table from finished columns, ``take(name)`` handing each over:
        bytes for the integer ones, lists for the rest."""
        table = cls(key_names, field_names)
        for name, _ in cls.INT_COLUMNS:
            getattr(table, name).frombytes(take(name))
        for name in cls.OBJECT_COLUMNS:
            setattr(table, name, take(name))
        key = take("key")
        if isinstance(key, bytes):
            table.key.frombytes(key)
        else:
            table.key = key
        table.fields = dict(zip(table.field_names, take("fields")))
        table.lossy = array("b", bytes(len(table)))
        return table

    def __len__(self) -> int:
        return len(self.start_ns)

    def append(self, start, end, status, key, entry_tid, entry_cpu, entry_comm,
               exit_tid, exit_cpu, exit_comm, fields, group) -> None:
        self.start_ns.append(start)
        self.end_ns.append(end)
        self.status.append(status)
        keys = self.key
        if type(keys) is array and (type(key) is not int or not -2 ** 63 <= key < 2 ** 63):
            keys = self.key = list(keys)
        keys.append(key)
        self.entry_tid.append(NONE_INT if entry_tid is None else entry_tid)
        self.entry_cpu.append(NONE_INT if entry_cpu is None else entry_cpu)
        self.entry_comm.append(entry_comm)
        self.exit_tid.append(NONE_INT if exit_tid is None else exit_tid)
        self.exit_cpu.append(NONE_INT if exit_cpu is None else exit_cpu)
        self.exit_comm.append(exit_comm)
        if fields is not None:
            for column, value in zip(self.fields.values(), fields):
                column.append(value)
        self.group.append(group)
        self.lossy.append(0)

    def row(self, i: int) -> dict:
        """One interval as a plain dict (for renderers and tests)."""
        def opt(v):
            return None if v == NONE_INT else v
        key = self.key[i]
        return {
            "start_ns": self.start_ns[i],
            "end_ns": self.end_ns[i],
            "duration_ns": self.end_ns[i] - self.start_ns[i],
            "status": STATUS_NAMES[self.status[i]],
            "key": dict(zip(self.key_names, key)) if isinstance(key, tuple) else key,
            "tid": opt(self.entry_tid[i]),
            "cpu": opt(self.entry_cpu[i]),
            "comm": self.entry_comm[i],
            "exit_tid": opt(self.exit_tid[i]),
            "exit_cpu": opt(self.exit_cpu[i]),
            "exit_comm": self.exit_comm[i],
            "fields": {name: column[i] for name, column in self.fields.items()},
            "lossy": bool(self.lossy[i]),
        }

    def durations(self):
        """Durations of every row as an int64 numpy array."""
        import numpy as np
        return (np.frombuffer(self.end_ns, dtype=np.int64)
                - np.frombuffer(self.start_ns, dtype=np.int64))

    def statuses(self):
        import numpy as np
        return np.frombuffer(self.status, dtype=np.int8)

    def measured(self):
        """Where the intervals statistics count are: complete and late ones (a bool mask)."""
        statuses = self.statuses()
        return (statuses == COMPLETE) | (statuses == LATE)

    def mark_lossy(self, ranges: list[tuple[int, int]]) -> int:
        """Flag the intervals that overlap one of the ``(begin, end)`` ranges."""
        if not ranges or not len(self):
            return 0
        import numpy as np
        start = np.frombuffer(self.start_ns, dtype=np.int64)
        end = np.frombuffer(self.end_ns, dtype=np.int64)
        hit = np.zeros(len(self), dtype=bool)
        for begin, stop in ranges:
            hit |= (start <= stop) & (end >= begin)
        lossy = np.frombuffer(self.lossy, dtype=np.int8)
        lossy[hit] = 1
        return int(hit.sum())
