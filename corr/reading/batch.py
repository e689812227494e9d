"""Columnar event batches: the unit passed from readers to every later stage.

A batch holds a run of events in time order.  Its layout is chosen for a
Python consumer that walks events in order *and* for columnar engines:

* ``ts`` and ``class_ids`` are parallel lists in time order: event ``i`` has
  timestamp ``ts[i]`` and belongs to class ``class_ids[i]``;
* each class present has a :class:`ClassColumns` with one list per decoded
  field (``cpu`` plus the projected payload/context fields); row ``r`` of a
  class is its ``r``-th event in the batch.

Plain lists are what the per-event matching engine reads fastest;
:meth:`EventBatch.to_arrow` gives an Arrow record batch per class for the
decode cache and columnar analyses.
"""

from __future__ import annotations

import struct
from array import array
from collections import namedtuple
from collections.abc import Iterator

FieldInfo = namedtuple("FieldInfo", "name type")
FieldInfo.__doc__ = """A decodable field of an event class: its column name and type
("int", "enum", "float", "str", "bool", "list", "dict", "option", "variant")."""

Discard = namedtuple("Discard", "kind count begin_ns end_ns cpu trace stream")
Discard.__doc__ = """Events or packets ("events"/"packets") the tracer lost on one stream;
``count`` is None when the trace does not say."""


class EventClassInfo:
    """An event class as the reader saw it in a trace's metadata."""

    __slots__ = ("id", "name", "trace", "fields", "raw_name")

    def __init__(self, id: int, name: str, trace: int, fields: tuple = (),
                 raw_name: str | None = None):
        self.id = id                # unique across all traces of one read
        self.name = name            # as in the trace, or canonical after normalising
        self.trace = trace          # index of the trace in the read
        self.fields = tuple(fields)
        self.raw_name = raw_name or name

    def __repr__(self) -> str:
        return f"EventClassInfo({self.id}, {self.name!r}, trace={self.trace})"

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]


_WORDS = {"q": struct.Struct("=q"), "Q": struct.Struct("=Q")}


class RawInts(bytearray):
    """A column of 64-bit integers as raw machine words: a parallel worker's.

    The C decoder appends words without making int objects, and the worker
    sends the bytes as they are.  ``code`` is the ``array`` typecode ("q"
    signed, "Q" unsigned); ``len`` and indexing count values, not bytes.
    """

    def __init__(self, code: str = "q"):
        super().__init__()
        self.code = code

    def __len__(self) -> int:
        return bytearray.__len__(self) >> 3

    def __getitem__(self, i: int) -> int:
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError("RawInts index out of range")
        return _WORDS[self.code].unpack_from(self, i * 8)[0]

    def append(self, value: int) -> None:
        self.extend(_WORDS[self.code].pack(value))

    def tolist(self) -> list[int]:
        return array(self.code, self).tolist()

    def empty(self) -> "RawInts":
        return RawInts(self.code)


class IntColumn(list):
    """A merged column of integers: the list the engine walks, and the numpy array
    it was made from (``array``).

    The parent of parallel workers merges their columns as numpy arrays,
    then hands the engine lists; the stages that read columns as arrays
    (the scheduling log, ``where`` filters, the normaliser) take ``array``
    instead of converting the list back: on a 5M-event trace, ~0.4 s.
    Like every batch column after the merge, it is never changed in place.
    """

    __slots__ = ("array",)

    @classmethod
    def of(cls, array) -> "IntColumn":
        column = cls(array.tolist())
        column.array = array
        return column


class Interned:
    """A column of integer arrays as a parallel worker sends it: each distinct value
    once (``uniques``) and each row's index into them (``ids``, numpy).  A call
    chain recorded on every event repeats a few thousand values a million times:
    sent so, it is neither pickled nor parsed again per event.  Sliced as the
    merge slices a worker's columns."""

    __slots__ = ("uniques", "ids")

    def __init__(self, uniques: list, ids) -> None:
        self.uniques, self.ids = uniques, ids

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, rows: slice) -> "Interned":
        return Interned(self.uniques, self.ids[rows])


class InternedColumn(list):
    """A merged column of :class:`Interned` pieces: the list the engine walks (its rows
    share the distinct values' objects: columns are never changed in place), and
    ``uniques`` and ``ids`` for a reader that wants each distinct value once (the
    call chains of code stacks, :mod:`corr.sched.stacks`)."""

    __slots__ = ("uniques", "ids")

    @classmethod
    def of(cls, uniques: list, ids) -> "InternedColumn":
        column = cls(map(uniques.__getitem__, ids.tolist()))
        column.uniques, column.ids = uniques, ids
        return column


def interned(pieces: list, gather=None) -> InternedColumn:
    """Interned pieces end to end (their values numbered anew), rows in ``gather``
    order (None: as joined)."""
    import numpy as np
    # The pieces sliced from one worker's part share its values: each part's values
    # are numbered once, only those its pieces use (a slice uses a few of its part's
    # values, and every later reader walks them all), in the part's order.
    numbered: dict[int, np.ndarray] = {}
    uniques: list = []
    for piece in pieces:
        if id(piece.uniques) in numbered:
            continue
        same = [p.ids for p in pieces if p.uniques is piece.uniques]
        used = np.zeros(len(piece.uniques), dtype=bool)
        for ids in same:
            used[ids] = True
        kept = np.flatnonzero(used)
        number = np.full(len(piece.uniques), -1, dtype=np.int64)
        number[kept] = np.arange(len(uniques), len(uniques) + len(kept))
        numbered[id(piece.uniques)] = number
        uniques.extend(map(piece.uniques.__getitem__, kept.tolist()))
    joined = (np.concatenate([numbered[id(p.uniques)][p.ids] for p in pieces]) if pieces
              else np.zeros(0, dtype=np.int64))
    return InternedColumn.of(uniques, joined if gather is None else joined[gather])


def int64_array(values, count: int | None = None):
    """A column as an int64 numpy array: an IntColumn's own array or a RawInts' words
    (no copy), else converted (``TypeError``/``ValueError`` for values that are not ints)."""
    import numpy as np
    array = getattr(values, "array", None)
    if array is not None and array.dtype == np.int64:
        return array
    if isinstance(values, RawInts) and values.code == "q":
        return np.frombuffer(values, dtype=np.int64)
    return np.fromiter(values, np.int64, len(values) if count is None else count)


class ClassColumns:
    """The decoded columns of one event class within one batch."""

    __slots__ = ("info", "cpu", "fields")

    def __init__(self, info: EventClassInfo, field_names: list[str],
                 raw: dict[str, str] | None = None):
        self.info = info
        self.cpu: list[int | None] = []
        self.fields: dict[str, list] = {name: RawInts(raw[name]) if raw and name in raw else []
                                        for name in field_names}

    def fresh(self) -> "ClassColumns":
        """Empty columns of the same names and kinds (lists or RawInts)."""
        out = ClassColumns.__new__(ClassColumns)
        out.info = self.info
        out.cpu = []
        out.fields = {k: v.empty() if isinstance(v, RawInts) else [] for k, v in self.fields.items()}
        return out

    def __len__(self) -> int:
        return len(self.cpu)

    def slice(self, start: int, stop: int) -> "ClassColumns":
        out = ClassColumns.__new__(ClassColumns)
        out.info = self.info
        out.cpu = self.cpu[start:stop]
        out.fields = {k: v[start:stop] for k, v in self.fields.items()}
        return out

    def extend(self, other: "ClassColumns") -> None:
        self.cpu.extend(other.cpu)
        for k, v in self.fields.items():
            v.extend(other.fields[k])


class MuxKeys:
    """Where each event and discard of a batch stands in babeltrace2's muxing order.

    Only a parallel reader's worker fills these (see :mod:`parallel`): the
    parent merges several workers' streams and needs them to order equal
    timestamps as the muxer does.  ``streams[i]`` is the tag of event
    ``i``'s stream (an index into the builder's ``stream_table``);
    ``discards[j]`` is the muxer's timestamp of discard ``j``.
    """

    __slots__ = ("streams", "discards")

    def __init__(self, streams: list | None = None, discards: list | None = None):
        self.streams = streams if streams is not None else []
        self.discards = discards if discards is not None else []


class EventBatch:
    """A time-ordered run of events, stored column-wise per class."""

    __slots__ = ("ts", "class_ids", "classes", "discards", "mux", "quiet_ns")

    def __init__(self, ts: list[int] | None = None, class_ids: list[int] | None = None,
                 classes: dict[int, ClassColumns] | None = None,
                 discards: list[Discard] | None = None, mux: MuxKeys | None = None,
                 quiet_ns: int | None = None):
        self.ts = ts if ts is not None else []
        self.class_ids = class_ids if class_ids is not None else []
        self.classes = classes if classes is not None else {}
        self.discards = discards if discards is not None else []
        self.mux = mux              # None except in a parallel reader's worker
        # A live source's clock (corr.reading.live): no event before it will follow.
        self.quiet_ns = quiet_ns

    def __len__(self) -> int:
        return len(self.ts)

    def rows(self) -> Iterator[tuple[int, int, int]]:
        """Yield ``(timestamp, class_id, row)`` in time order."""
        counters: dict[int, int] = {}
        for t, cid in zip(self.ts, self.class_ids):
            r = counters.get(cid, 0)
            counters[cid] = r + 1
            yield t, cid, r

    def events(self) -> Iterator[tuple[int, str, int | None, dict[str, object]]]:
        """Yield ``(timestamp, class name, cpu, {field: value})`` in time order.

        Convenient and slow: for tests and small traces, not hot paths.
        """
        for t, cid, r in self.rows():
            cols = self.classes[cid]
            yield t, cols.info.name, cols.cpu[r], {k: v[r] for k, v in cols.fields.items()}

    def class_ts(self, class_id: int):
        """Timestamps of one class's rows, as an int64 numpy array."""
        import numpy as np    # not at import time: a start-up cost most runs never need

        ts = np.asarray(self.ts, dtype=np.int64)
        ids = np.asarray(self.class_ids, dtype=np.int64)
        return ts[ids == class_id]

    def to_arrow(self, class_id: int):
        """One class's rows as a ``pyarrow.RecordBatch`` (ts, cpu, fields)."""
        import pyarrow as pa

        cols = self.classes[class_id]
        arrays = {"ts": pa.array(self.class_ts(class_id), type=pa.int64()),
                  "cpu": pa.array(cols.cpu, type=pa.int64())}
        for name, values in cols.fields.items():
            arrays[name] = pa.array(values)
        return pa.RecordBatch.from_pydict(arrays)
