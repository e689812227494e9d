"""Intervals: what a rule's matcher produces, stored column-wise.

A trace can yield millions of intervals; one Python object each would not
fit the memory target, so a table keeps integer columns in ``array('q')``
(8 bytes a value) and the rest in lists.  Rows are built by the matcher
and read by statistics and renderers.

A table's memory does not grow with the trace either: once it holds
``spill_rows()`` rows in memory, those rows are *sealed* -- pickled, as one
chunk, into a temporary file of its own that is unlinked at once (nothing
is left behind, whatever ends the process) -- and only their durations,
statuses and loss marks stay in memory (6 bytes an interval, 10 for a
chunk with a duration past 4.29 s: exact statistics need every duration).  Rows are read back a chunk at a time;
a whole column asked for by name is put together on demand.  Spilled or
not, a table reads the same (tests/test_interval_spill.py).
"""

from __future__ import annotations

import sys
from array import array

from ..rules.model import DEFAULT_REPORT, STATUS_NAMES
from ..spill import SPILL_ROWS_ENV, SpillFile, kept_in_memory, spill_rows  # noqa: F401

# Status codes (the ``status`` column), in the order of STATUS_NAMES.
COMPLETE, LATE, TIMEOUT, INCOMPLETE = range(4)

NONE_INT = -(2 ** 31)          # an absent tid or cpu in their 32-bit columns


def measured(statuses):
    """Where the statuses are complete or late (a bool mask): the intervals statistics
    count, whose end the trace tells."""
    return (statuses == COMPLETE) | (statuses == LATE)


def reported(statuses, report=DEFAULT_REPORT):
    """Where the statuses are among the status names ``report`` (a rule's ``report:``,
    a bool mask): the intervals that may be slow, listed among the slowest and
    blamed.  The default is :func:`measured`."""
    if tuple(report) == DEFAULT_REPORT:
        return measured(statuses)
    import numpy as np
    return np.isin(statuses, [STATUS_NAMES.index(name) for name in report])

# The budget and the spill file are shared with the scheduling log (corr/spill.py).
_Spill = SpillFile


def _compact(durations):
    """A sealed chunk's durations as kept for the statistics: in 32 bits when they all
    fit (durations under 4.29 s, most chunks: 15 million syscalls kept 120 MB of
    them in 64), else as they are."""
    import numpy as np
    if len(durations) and durations.min() >= 0 and durations.max() < 2 ** 32:
        return durations.astype(np.uint32)
    return durations


class IntervalTable:
    """The intervals of one rule, in the order they were closed."""

    # (column, array type): times in 64 bits, thread ids, CPUs and groups in
    # 32, the status in 8 -- about 40 bytes an interval with the rest.
    INT_COLUMNS = (("start_ns", "q"), ("end_ns", "q"), ("status", "b"), ("entry_tid", "i"),
                   ("entry_cpu", "i"), ("exit_tid", "i"), ("exit_cpu", "i"), ("group", "i"))
    OBJECT_COLUMNS = ("entry_comm", "exit_comm")
    _TYPECODES = dict(INT_COLUMNS)

    def __init__(self, key_names: list[str], field_names: tuple = ()):
        self.key_names = key_names
        self.field_names = tuple(field_names)
        # The rows not sealed yet (all of them, in a table that never spilled).
        # One list per kept field: a dict per interval would cost ~200 bytes.
        # Keys are most often one integer (a tid, a seqno): 8 bytes in an
        # array instead of a 28-byte int object; a list once any is not.
        self._tail: dict = {}
        self._clear_tail()
        self.lossy: array = array("b")       # every row's: overlaps a discarded-events range
        self._spill: _Spill | None = None
        self._limit = spill_rows()
        # Of the sealed rows, what statistics read: durations and statuses.
        self._sealed_durations: list = []
        self._sealed_statuses: list = []

    def _clear_tail(self) -> None:
        tail = self._tail
        for name, typecode in self.INT_COLUMNS:
            tail[name] = array(typecode)
        for name in self.OBJECT_COLUMNS:
            tail[name] = []
        tail["key"] = array("q")
        tail["fields"] = {name: [] for name in self.field_names}

    @classmethod
    def adopt(cls, key_names: list[str], field_names: tuple, take) -> "IntervalTable":
        """A table from finished columns, ``take(name)`` handing each over:
        bytes for the integer ones, lists for the rest."""
        table = cls(key_names, field_names)
        table.absorb(take)
        return table

    def absorb(self, take) -> None:
        """Rows appended from columns ``take(name)`` hands over (as for :meth:`adopt`):
        a matcher's intervals a batch of them at a time."""
        tail = self._tail
        added = None
        for name, _ in self.INT_COLUMNS:
            column = tail[name]
            before = len(column)
            column.frombytes(take(name))
            added = len(column) - before
        for name in self.OBJECT_COLUMNS:
            tail[name].extend(take(name))
        key = take("key")
        keys = tail["key"]
        if isinstance(key, bytes) and type(keys) is array:
            keys.frombytes(key)
        else:
            if type(keys) is array:
                keys = tail["key"] = keys.tolist()
            keys.extend(array("q", key).tolist() if isinstance(key, bytes) else key)
        for column, values in zip(tail["fields"].values(), take("fields")):
            column.extend(values)
        self.lossy.frombytes(bytes(added or 0))
        self._seal_if_full()

    def __len__(self) -> int:
        sealed = self._spill.rows if self._spill is not None else 0
        return sealed + len(self._tail["start_ns"])

    def append(self, start, end, status, key, entry_tid, entry_cpu, entry_comm,
               exit_tid, exit_cpu, exit_comm, fields, group) -> None:
        tail = self._tail
        tail["start_ns"].append(start)
        tail["end_ns"].append(end)
        tail["status"].append(status)
        keys = tail["key"]
        if type(keys) is array and (type(key) is not int or not -2 ** 63 <= key < 2 ** 63):
            keys = tail["key"] = list(keys)
        keys.append(key)
        tail["entry_tid"].append(NONE_INT if entry_tid is None else entry_tid)
        tail["entry_cpu"].append(NONE_INT if entry_cpu is None else entry_cpu)
        tail["entry_comm"].append(entry_comm)
        tail["exit_tid"].append(NONE_INT if exit_tid is None else exit_tid)
        tail["exit_cpu"].append(NONE_INT if exit_cpu is None else exit_cpu)
        tail["exit_comm"].append(exit_comm)
        if fields is not None:
            for column, value in zip(tail["fields"].values(), fields):
                column.append(value)
        tail["group"].append(group)
        self.lossy.append(0)
        if len(tail["start_ns"]) >= self._limit:
            self._seal_if_full()

    # -- spilling ---------------------------------------------------------------------------

    @property
    def spilled(self) -> bool:
        """Whether some rows are sealed in the spill file."""
        return self._spill is not None

    def _seal_if_full(self) -> None:
        """Seal the rows in memory, a chunk of ``spill_rows()`` at a time, once there are that many."""
        import numpy as np
        tail = self._tail
        if len(tail["start_ns"]) < self._limit:
            return
        while len(tail["start_ns"]) >= self._limit:
            n = self._limit
            chunk = {name: column[:n] for name, column in tail.items() if name != "fields"}
            chunk["fields"] = {name: column[:n] for name, column in tail["fields"].items()}
            try:
                if self._spill is None:
                    self._spill = _Spill()
                self._spill.add(chunk, n)
            except OSError as exc:      # no room for it: the rows stay in memory, as before
                self._limit = sys.maxsize
                kept_in_memory("spill interval rows to", exc, "they are", stacklevel=2)
                return
            start = np.frombuffer(chunk["start_ns"], dtype=np.int64)
            self._sealed_durations.append(_compact(np.frombuffer(chunk["end_ns"], dtype=np.int64)
                                                   - start))
            self._sealed_statuses.append(np.frombuffer(chunk["status"], dtype=np.int8).copy())
            for name, column in list(tail.items()):
                if name == "fields":
                    for values in column.values():
                        del values[:n]
                else:
                    del column[:n]
        from .memory import release_freed_memory
        release_freed_memory()           # the sealed rows' objects: back to the system

    def chunks(self):
        """``(first row, columns)`` of every sealed chunk, then of the rows in memory
        (the decode cache writes a table so, a chunk at a time)."""
        if self._spill is not None:
            for k in range(len(self._spill.places)):
                yield self._spill.first_rows[k], self._spill.chunk(k)
        yield len(self) - len(self._tail["start_ns"]), self._tail

    def _whole(self, name: str):
        """Column ``name`` over every row, put together from the chunks."""
        if self._spill is None:
            return self._tail[name]
        if name == "fields":
            return {f: [v for _, c in self.chunks() for v in c["fields"][f]]
                    for f in self.field_names}
        if name in self._TYPECODES:
            out = array(self._TYPECODES[name])
            for _, columns in self.chunks():
                out.frombytes(columns[name].tobytes())
            return out
        parts = [columns[name] for _, columns in self.chunks()]
        if name == "key" and all(type(p) is array for p in parts):
            out = array("q")
            for p in parts:
                out.frombytes(p.tobytes())
            return out
        return [v for p in parts for v in p]

    def _set_whole(self, name: str, value) -> None:
        """Replace column ``name`` over every row (the rows come back into memory first)."""
        if self._spill is not None:
            self._unspill()
        self._tail[name] = value

    def _unspill(self) -> None:
        whole = {name: self._whole(name) for name in self._tail}
        self._spill.close()
        self._spill = None
        self._sealed_durations, self._sealed_statuses = [], []
        self._tail = whole

    def __getstate__(self):
        """Pickled whole: a spill file does not travel."""
        state = dict(self.__dict__)
        if self._spill is not None:
            state["_tail"] = {name: self._whole(name) for name in self._tail}
            state.update(_spill=None, _sealed_durations=[], _sealed_statuses=[])
        return state

    def row(self, i: int) -> dict:
        """One interval as a plain dict (for renderers and tests)."""
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        first, columns = self._chunk_of(i)
        return self._row(columns, i - first, first)

    def rows(self, indexes) -> list[dict]:
        """The rows at ``indexes`` (any order), each chunk read once."""
        if self._spill is None:
            indexes = [int(i) for i in indexes]
            tail = self._taken(self._tail, indexes)
            return [self._row(tail, i, 0) for i in indexes]
        return self._gather(indexes, self._row)

    @staticmethod
    def _taken(columns: dict, indexes: list[int]) -> dict:
        """``columns`` with each column that can ``take_values`` (a table read back from the
        cache: Arrow arrays, converted to Python values only as read) replaced by the
        values at ``indexes``: a renderer walking every row, slowest first, converts
        them a chunk at a time, not each column whole."""
        def taken(column):
            take = getattr(column, "take_values", None)
            return dict(zip(indexes, take(indexes))) if take is not None else column
        out = {name: taken(column) for name, column in columns.items() if name != "fields"}
        out["fields"] = {name: taken(column) for name, column in columns["fields"].items()}
        return out

    def groups_at(self, indexes) -> list[int]:
        """The group numbers of the rows at ``indexes`` (any order), each chunk read once."""
        return self._gather(indexes, lambda columns, i, first: columns["group"][i])

    def gather(self, indexes) -> "IntervalTable":
        """A table in memory of the rows at ``indexes``, in that order, each chunk read
        once: what a renderer walks, slowest first, from a table that spilled."""
        import numpy as np
        at = np.asarray(indexes, dtype=np.int64)
        n = len(at)
        ints = {name: np.empty(n, dtype=np.dtype(typecode)) for name, typecode in
                self.INT_COLUMNS}
        objects = {name: [None] * n for name in self.OBJECT_COLUMNS}
        fields = {name: [None] * n for name in self.field_names}
        keys: list = [None] * n
        int_keys = True
        for columns, _, positions, local in self._by_chunk(at):
            for name, typecode in self.INT_COLUMNS:
                ints[name][positions] = np.frombuffer(columns[name],
                                                      dtype=np.dtype(typecode))[local]
            local, positions = local.tolist(), positions.tolist()
            for name in self.OBJECT_COLUMNS:
                source, target = columns[name], objects[name]
                for p, i in zip(positions, local):
                    target[p] = source[i]
            for name, source in columns["fields"].items():
                target = fields[name]
                for p, i in zip(positions, local):
                    target[p] = source[i]
            source = columns["key"]
            int_keys &= type(source) is array
            for p, i in zip(positions, local):
                keys[p] = source[i]

        def take(name):
            if name in ints:
                return ints[name].tobytes()
            if name == "key":
                return np.asarray(keys, dtype=np.int64).tobytes() if int_keys else keys
            if name == "fields":
                return [fields[f] for f in self.field_names]
            return objects[name]
        out = IntervalTable(self.key_names, self.field_names)
        out._limit = n + 1                       # noqa: SLF001 -- it was asked for in memory
        out.absorb(take)
        out.lossy = array("b", np.frombuffer(self.lossy, dtype=np.int8)[at].tobytes())
        return out

    def ints_at(self, name: str, indexes):
        """Integer column ``name`` at the rows ``indexes`` (any order), as a numpy array;
        each chunk read once, no other column put together."""
        import numpy as np
        typecode = self._TYPECODES[name]
        at = np.asarray(indexes, dtype=np.int64)
        out = np.empty(len(at), dtype=np.dtype(typecode))
        for columns, _, positions, local in self._by_chunk(at):
            out[positions] = np.frombuffer(columns[name], dtype=np.dtype(typecode))[local]
        return out

    def _gather(self, indexes, read) -> list:
        """``read(chunk's columns, row in the chunk, chunk's first row)`` for every index."""
        if self._spill is None:
            return [read(self._tail, int(i), 0) for i in indexes]
        import numpy as np
        at = np.asarray([int(i) for i in indexes], dtype=np.int64)
        out: list = [None] * len(at)
        for columns, first, positions, local in self._by_chunk(at):
            for j, i in zip(positions.tolist(), local.tolist()):
                out[j] = read(columns, i, first)
        return out

    def _by_chunk(self, at):
        """For each chunk holding some of the rows ``at`` (an int64 array), once: ``(its
        columns, its first row, the positions in at of its rows, their rows in it)``."""
        import numpy as np
        spill = self._spill
        bounds = np.asarray(spill.first_rows if spill is not None else [0], dtype=np.int64)
        which = np.searchsorted(bounds, at, side="right") - 1
        order = np.argsort(which, kind="stable")
        cuts = np.searchsorted(which[order], np.arange(len(bounds) + 1))
        for k in range(len(bounds)):
            positions = order[cuts[k]:cuts[k + 1]]
            if not len(positions):
                continue
            columns = spill.chunk(k) if spill is not None and k < len(spill.places) \
                else self._tail
            yield columns, int(bounds[k]), positions, at[positions] - bounds[k]

    def _chunk_of(self, i: int):
        spill = self._spill
        if spill is None or i >= spill.rows:
            return (spill.rows if spill is not None else 0), self._tail
        import bisect
        k = bisect.bisect_right(spill.first_rows, i) - 1
        return spill.first_rows[k], spill.chunk(k)

    def _row(self, c: dict, i: int, first: int) -> dict:
        """Row ``i`` of chunk ``c``, whose first row is the table's row ``first``."""
        def opt(v):
            return None if v == NONE_INT else v
        key = c["key"][i]
        start, end = c["start_ns"][i], c["end_ns"][i]
        return {
            "start_ns": start,
            "end_ns": end,
            "duration_ns": end - start,
            "status": STATUS_NAMES[c["status"][i]],
            "key": dict(zip(self.key_names, key)) if isinstance(key, tuple) else key,
            "tid": opt(c["entry_tid"][i]),
            "cpu": opt(c["entry_cpu"][i]),
            "comm": c["entry_comm"][i],
            "exit_tid": opt(c["exit_tid"][i]),
            "exit_cpu": opt(c["exit_cpu"][i]),
            "exit_comm": c["exit_comm"][i],
            "fields": {name: column[i] for name, column in c["fields"].items()},
            "lossy": bool(self.lossy[first + i]),
        }

    def durations(self):
        """Durations of every row as an int64 numpy array."""
        import numpy as np
        tail = self._tail
        recent = (np.frombuffer(tail["end_ns"], dtype=np.int64)
                  - np.frombuffer(tail["start_ns"], dtype=np.int64))
        if not self._spill:
            return recent
        # Straight from the sealed chunks' arrays: putting those together first, to be
        # kept, would hold the sealed durations twice while it is done.
        return np.concatenate(self._sealed_durations + [recent], dtype=np.int64)

    def pieces(self, columns: tuple = ()):
        """``(first row, durations, statuses, {name: values})`` of each sealed chunk, then
        of the rows in memory: the durations (int64, or uint32 where a sealed chunk's
        all fit: see ``_compact``) and statuses as kept in memory, the
        integer ``columns`` read from the spill a chunk at a time (numpy arrays
        each).  What a pass over millions of intervals reads instead of whole
        columns (statistics, groups, the slowest rows)."""
        import numpy as np

        def ints(values, name):
            return np.frombuffer(values, dtype=np.dtype(self._TYPECODES[name]))
        if self._spill is not None:
            for k, (durations, statuses) in enumerate(zip(self._sealed_durations,
                                                          self._sealed_statuses)):
                yield (self._spill.first_rows[k], durations, statuses,
                       {name: ints(self._spill.column(k, name), name) for name in columns})
        tail = self._tail
        yield (len(self) - len(tail["start_ns"]),
               np.frombuffer(tail["end_ns"], dtype=np.int64)
               - np.frombuffer(tail["start_ns"], dtype=np.int64),
               np.frombuffer(tail["status"], dtype=np.int8),
               {name: ints(tail[name], name) for name in columns})

    def measured_pieces(self):
        """A callable giving, each call, the durations of the complete and late rows (what
        statistics count) a piece at a time: ``stats.summarize_pieces`` reads them
        so, and no copy of every duration is made."""
        def pieces():
            for _, durations, statuses, _ in self.pieces():
                yield durations[measured(statuses)]
        return pieces

    def statuses(self):
        import numpy as np
        recent = np.frombuffer(self._tail["status"], dtype=np.int8)
        return np.concatenate(self._sealed_statuses + [recent]) if self._spill else recent

    def measured(self):
        """Where the intervals statistics count are: complete and late ones (a bool mask)."""
        return measured(self.statuses())

    def mark_lossy(self, ranges: list[tuple[int, int]]) -> int:
        """Flag the intervals that overlap one of the ``(begin, end)`` ranges."""
        if not ranges or not len(self):
            return 0
        import numpy as np
        lossy = np.frombuffer(self.lossy, dtype=np.int8)
        marked = 0
        for first, columns in self.chunks():
            start = np.frombuffer(columns["start_ns"], dtype=np.int64)
            end = np.frombuffer(columns["end_ns"], dtype=np.int64)
            hit = np.zeros(len(start), dtype=bool)
            for begin, stop in ranges:
                hit |= (start <= stop) & (end >= begin)
            lossy[first:first + len(start)][hit] = 1
            marked += int(hit.sum())
        return marked

def _whole_column(name: str):
    """Column ``name`` of every row, as an attribute (whatever was spilled)."""
    return property(lambda table: table._whole(name),
                    lambda table, value: table._set_whole(name, value),
                    doc=f"``{name}`` of every row (put together from the chunks once spilled)")


for _name in (*dict(IntervalTable.INT_COLUMNS), *IntervalTable.OBJECT_COLUMNS, "key", "fields"):
    setattr(IntervalTable, _name, _whole_column(_name))
