"""A cached column that becomes Python values only when it is read.

A threshold re-run reads a rule's interval table back from the cache and
needs its numbers at once (durations, statuses, groups), but the command
names, keys and fields only of the intervals it shows: a few hundred rows
of millions.  Turning a whole string column into Python objects is most of
such a re-run's time, so these columns stay Arrow arrays until read; a
column read row by row more than a little is converted whole, once.
"""

from __future__ import annotations

from collections.abc import Sequence

from .columns import to_list


class ArrowList(Sequence):
    """A read-only list over an Arrow array (or chunked array)."""

    __slots__ = ("_array", "_values", "_reads", "_budget")

    def __init__(self, array):
        self._array = array
        self._values: list | None = None
        self._reads = 0
        self._budget = 64 + len(array) // 64     # single reads before converting it all

    def __len__(self) -> int:
        return len(self._array)

    def __getitem__(self, index):
        values = self._values
        if values is None:
            if isinstance(index, int) and self._reads < self._budget:
                self._reads += 1
                if index < 0:
                    index += len(self._array)
                if not 0 <= index < len(self._array):
                    raise IndexError("ArrowList index out of range")
                return self._array[index].as_py()
            values = self._materialised()
        return values[index]

    def take_values(self, indexes: list[int]) -> list:
        """The values at ``indexes`` (in range), without converting the whole array."""
        if self._values is not None:
            return [self._values[i] for i in indexes]
        import pyarrow as pa
        return to_list(self._array.take(pa.array(indexes, type=pa.int64())))

    def __iter__(self):
        return iter(self._materialised())

    def _materialised(self) -> list:
        if self._values is None:
            self._values = to_list(self._array)
        return self._values

    def __eq__(self, other):
        if isinstance(other, ArrowList):
            other = other._materialised()
        return self._materialised() == other

    __hash__ = None             # a mutable-looking sequence, as list is

    def __repr__(self) -> str:
        return f"ArrowList({len(self)} values)"
