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


def write(path: str, arrays: dict[str, pa.Array]) -> None:
    """``arrays`` (name -> Arrow array) as one IPC file at ``path``; a write that
    fails leaves no file there."""
    columns = [pa.LargeListArray.from_arrays(pa.array([0, len(a)], pa.int64()), a)
               for a in arrays.values()]
    batch = pa.record_batch(columns, names=list(arrays))
    try:
        with pa.ipc.new_file(path, batch.schema) as writer:
            writer.write_batch(batch)
    except BaseException:
        try:
            os.unlink(path)
        except OSError:
            pass
        raise


def read(entry, manifest: dict, name: str) -> dict[str, pa.Array]:
    """The arrays of the entry's file ``name`` (checked against the manifest first)."""
    table = entry.open_arrow(manifest, name).read_all()
    if table.num_rows != 1:
        raise ValueError(f"{name}: {table.num_rows} rows, 1 expected")
    return {column: table.column(column).chunk(0).flatten() for column in table.column_names}


def numpy(array: pa.Array, dtype=None) -> np.ndarray:
    """A numeric array as numpy (of ``dtype`` if given): a view of the mapped file when
    stored in that type (read-only: the C model only reads it)."""
    out = numpy_of(array)
    return out if dtype is None or out.dtype == dtype else out.astype(dtype)
