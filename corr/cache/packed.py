"""Arrays of different lengths in one Arrow IPC file, read back without a copy.

A scheduling model is a dozen arrays of five lengths (segments, threads,
CPUs, switches, names), a rule's analysis a few more: one record batch of
one row, each column a list holding one whole array, keeps them in one
file (one CRC, one line of the manifest).  Read back memory-mapped, a
numeric array without nulls is a numpy view of the file's pages.
"""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa

from .columns import numpy_of


class _Sliced:
    """A file the IPC writer writes to, a large buffer a slice at a time, ``release``
    called after each: arrays over a mapped file (a model's store) are read a slice
    at a time, their pages handed back after, never all mapped at once."""

    SLICE = 32 << 20

    def __init__(self, f, release):
        self.f, self.release = f, release
        self.closed = False

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        for at in range(0, len(view), self.SLICE):
            self.f.write(view[at:at + self.SLICE])
            if len(view) > self.SLICE:
                self.release()
        return len(view)

    def flush(self) -> None:
        self.f.flush()

    def close(self) -> None:
        self.f.close()
        self.closed = True


def write(path: str, arrays: dict[str, pa.Array], release=None) -> None:
    """``arrays`` (name -> Arrow array) as one IPC file at ``path``; a write that
    fails leaves no file there.  ``release``: what hands back the pages of arrays
    over a mapped file, called as their bytes are written."""
    columns = [pa.LargeListArray.from_arrays(pa.array([0, len(a)], pa.int64()), a)
               for a in arrays.values()]
    batch = pa.record_batch(columns, names=list(arrays))
    sink = path if release is None else \
        pa.PythonFile(_Sliced(open(path, "wb"), release), mode="w")
    try:
        with pa.ipc.new_file(sink, batch.schema) as writer:
            writer.write_batch(batch)
    except BaseException:
        try:
            os.unlink(path)
        except OSError:
            pass
        raise
    finally:
        if sink is not path:
            sink.close()


def read(entry, manifest: dict, name: str) -> dict[str, pa.Array]:
    """The arrays of the entry's file ``name`` (checked against the manifest first)."""
    from .shape import need
    table = entry.read_table(manifest, name)
    need(table.num_rows == 1 and len(set(table.column_names)) == table.num_columns and
         all(pa.types.is_large_list(t) for t in table.schema.types) and
         all(c.null_count == 0 for c in table.columns), f"{name}: not one row of lists")
    return {column: table.column(column).chunk(0).flatten() for column in table.column_names}


def numpy(array: pa.Array, dtype=None) -> np.ndarray:
    """A numeric array as numpy (of ``dtype`` if given): a view of the mapped file when
    stored in that type (read-only: the C model only reads it)."""
    out = numpy_of(array)
    return out if dtype is None or out.dtype == dtype else out.astype(dtype)
