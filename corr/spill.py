"""Room on disk for what a large trace would otherwise keep in memory.

Two shapes: :class:`SpillFile`, sealed chunks of columns read back a
chunk at a time (interval tables, the scheduling log), and
:class:`MappedColumns`, columns written once and then read in place
through a read-only mapping (the timeline store), whose pages the reader
hands back with :meth:`MappedColumns.release_pages` so that what stays
resident is what it reads now, not all it has read.

Both live in an unlinked temporary file: only this process's descriptor
keeps it, so nothing is left behind whatever ends the process.  A
failure to write is an ``OSError``; callers keep their data in memory
then (and warn), as without a budget.
"""

from __future__ import annotations

import mmap
import os
import pickle
import tempfile
from collections.abc import Mapping

import numpy as np

SPILL_ROWS_ENV = "CORR_SPILL_ROWS"
DEFAULT_SPILL_ROWS = 1 << 18     # about 25 MB of interval rows in memory per table, at most


def spill_rows() -> int:
    """Rows a table keeps in memory before it seals them into its spill file
    (``CORR_SPILL_ROWS``; tests force a tiny budget with it)."""
    try:
        return max(1, int(os.environ.get(SPILL_ROWS_ENV, "")))
    except ValueError:
        return DEFAULT_SPILL_ROWS


def kept_in_memory(doing: str, exc: OSError, kept: str, stacklevel: int = 2) -> None:
    """Warn (a CacheWarning, never an error) that there was no room on disk for
    what ``doing`` says, and that ``kept`` stays in memory instead."""
    import warnings

    from .cache.settings import CacheWarning
    warnings.warn(CacheWarning(
        f"cannot {doing} {tempfile.gettempdir()}: {exc.strerror or exc}; {kept} kept in "
        "memory"), stacklevel=stacklevel + 1)


def _unlinked(prefix: str):
    fd, path = tempfile.mkstemp(prefix=prefix)
    os.unlink(path)
    return os.fdopen(fd, "w+b")


class SpillFile:
    """Sealed chunks (a dict of columns each), each column pickled on its own, so that
    a reader of some columns unpickles only those (a table's numbers are read
    without the strings and field values beside them)."""

    def __init__(self, prefix: str = "corr-intervals-"):
        self.file = _unlinked(prefix)
        self.places: list[dict[str, tuple[int, int]]] = []  # per chunk, (offset, length) a column
        self.first_rows: list[int] = [0]            # the first row of each chunk, then the end
        self._last: SpilledChunk | None = None      # the chunk read last, with what it loaded

    def add(self, columns: dict, rows: int) -> None:
        """One more chunk; recorded only once all of it is written (a failed write
        leaves the chunks before it readable)."""
        offset = self.file.seek(0, os.SEEK_END)
        places = {}
        for name, values in columns.items():
            data = pickle.dumps(values, protocol=pickle.HIGHEST_PROTOCOL)
            self.file.write(data)
            places[name] = (offset, len(data))
            offset += len(data)
        self.file.flush()
        self.places.append(places)
        self.first_rows.append(self.first_rows[-1] + rows)

    @property
    def rows(self) -> int:
        return self.first_rows[-1]

    def chunk(self, k: int) -> "SpilledChunk":
        """Chunk ``k``'s columns, each read when first asked for (the last chunk is kept
        with what was read of it)."""
        if self._last is None or self._last.k != k:
            self._last = SpilledChunk(self, k)
        return self._last

    def column(self, k: int, name: str):
        offset, length = self.places[k][name]
        data = os.pread(self.file.fileno(), length, offset)
        if len(data) != length:
            raise OSError(f"a spill file ended {length - len(data)} bytes early")
        return pickle.loads(data)

    def close(self) -> None:
        self.file.close()


class SpilledChunk(Mapping):
    """One sealed chunk's columns by name, each unpickled on first use."""

    def __init__(self, spill: SpillFile, k: int):
        self.spill, self.k = spill, k
        self.loaded: dict = {}

    def __getitem__(self, name: str):
        if name not in self.loaded:
            self.loaded[name] = self.spill.column(self.k, name)
        return self.loaded[name]

    def __iter__(self):
        return iter(self.spill.places[self.k])

    def __len__(self) -> int:
        return len(self.spill.places[self.k])


class MappedColumns:
    """Typed columns appended piece by piece, then mapped read-only as arrays.

    ``append`` writes each column's pieces to a region of its own (regions
    are reserved on first use, ``capacity`` values each, and the file grows
    sparsely); ``arrays()`` maps the file once and gives each column as a
    NumPy view of its region.

    A piece is written in a thread while the caller makes the next one (the
    store's build left a core idle while it wrote): one write at most is
    behind, and what it raised is raised by the next ``append``, ``flush``
    or ``arrays``, and by every one after (the file lacks that piece for
    good).  The caller must not change a piece once appended.
    """

    def __init__(self, dtypes: dict, capacity: int, prefix: str = "corr-columns-"):
        self.dtypes = {name: np.dtype(t) for name, t in dtypes.items()}
        self.capacity = capacity
        self.file = _unlinked(prefix)
        self.sizes = dict.fromkeys(self.dtypes, 0)
        self.base: dict[str, int] = {}
        at = 0
        for name, dtype in self.dtypes.items():
            self.base[name] = at
            at += -(-capacity * dtype.itemsize // mmap.PAGESIZE) * mmap.PAGESIZE
        self.length = max(at, mmap.PAGESIZE)
        self.file.truncate(self.length)
        self._map: mmap.mmap | None = None
        self._behind = None             # the write in flight (a Future), if any
        self._failed: BaseException | None = None     # what a write raised, for good

    def append(self, name: str, values: np.ndarray) -> None:
        dtype = self.dtypes[name]
        values = np.ascontiguousarray(values, dtype=dtype)
        n = self.sizes[name]
        if n + len(values) > self.capacity:
            raise ValueError(f"column {name}: more than the {self.capacity} values reserved")
        self.flush()
        from .background import in_background
        data, offset = memoryview(values.view(np.uint8)), self.base[name] + n * dtype.itemsize
        self._behind = in_background(lambda: self._write(data, offset), "corr-column-writes")
        self.sizes[name] = n + len(values)

    def _write(self, data: memoryview, offset: int) -> None:
        fd = self.file.fileno()
        while len(data):
            written = os.pwrite(fd, data, offset)
            data, offset = data[written:], offset + written

    def flush(self) -> None:
        """Wait for the write behind: the file then holds every piece appended, or
        what a write raised is raised here (and at every call after)."""
        if self._behind is not None:
            behind, self._behind = self._behind, None
            self._failed = behind.exception()
        if self._failed is not None:
            raise self._failed.with_traceback(None)

    def arrays(self) -> dict[str, np.ndarray]:
        """Every column as a read-only array over the mapping."""
        self.flush()
        if self._map is None:
            self._map = mmap.mmap(self.file.fileno(), self.length, prot=mmap.PROT_READ)
            # A walk reads a record here and there: no read-ahead, no fault-around.  A
            # large folio of the page cache is still mapped whole on a read (measured:
            # these change nothing to that; the walks count what they map instead).
            for advice in ("MADV_NOHUGEPAGE", "MADV_RANDOM"):
                if hasattr(mmap, advice):
                    self._map.madvise(getattr(mmap, advice))
        return {name: np.frombuffer(self._map, dtype=dtype, count=self.sizes[name],
                                    offset=self.base[name])
                for name, dtype in self.dtypes.items()}

    def whole(self) -> np.ndarray:
        """The whole mapping as bytes (read-only; mapped first if it was not)."""
        self.arrays()
        return np.frombuffer(self._map, dtype=np.uint8)

    def close(self) -> None:
        """Close the file (once the write behind is done: a failed one is of no more
        use); the mapping goes with the last array over it."""
        if self._behind is not None:
            self._behind.exception()
            self._behind = None
        if self._map is not None:
            try:
                self._map.close()
            except BufferError:       # arrays still read it: unmapped when they go
                pass
        self.file.close()

    def release_pages(self) -> None:
        """Drop this process's hold on the pages read so far (they stay in the page
        cache; the next read maps them again)."""
        if self._map is not None:
            self._map.madvise(mmap.MADV_DONTNEED)
