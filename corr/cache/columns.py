"""Decoded columns <-> Arrow arrays, exactly or not at all.

A column must come back as the same Python values: ints stay ints (not
floats), ``None`` stays ``None``.  Only columns of one Python type (plus
``None``) are stored: ints (int64, or uint64 above it), floats, strings,
bytes, bools.  Anything else (lists, dicts, variants of mixed types) makes
the decode not cacheable, and the run goes on without storing it.
"""

from __future__ import annotations

import pyarrow as pa

from ..reading.batch import RawInts

_TYPES = {int: None, float: pa.float64(), str: pa.string(), bytes: pa.binary(), bool: pa.bool_()}
_NUMPY_FAST = (pa.types.is_integer, pa.types.is_floating, pa.types.is_boolean)


class NotCacheable(Exception):
    """A column Arrow cannot give back exactly."""


def to_arrow(values) -> pa.Array:
    """One column as an Arrow array that gives back the same values."""
    if isinstance(values, RawInts):
        import numpy as np
        return pa.array(np.frombuffer(values, dtype=np.dtype(values.code)))
    array = getattr(values, "array", None)          # a merged IntColumn: its numpy array
    if array is not None:
        return pa.array(array)
    kinds = set(map(type, values))
    kinds.discard(type(None))
    if not kinds:
        return pa.nulls(len(values))
    if len(kinds) > 1 or next(iter(kinds)) not in _TYPES:
        raise NotCacheable(f"a column of {sorted(k.__name__ for k in kinds)}")
    kind = next(iter(kinds))
    try:
        if kind is int:
            try:
                return pa.array(values, type=pa.int64())
            except (OverflowError, pa.ArrowException):
                return pa.array(values, type=pa.uint64())
        return pa.array(values, type=_TYPES[kind])
    except (OverflowError, pa.ArrowException) as exc:
        raise NotCacheable(str(exc)) from None


def unify(pieces: list[pa.Array]) -> pa.Array:
    """Pieces of one column as one array of one type (all-null pieces take it)."""
    types = {p.type for p in pieces if not pa.types.is_null(p.type)}
    if len(types) > 1:
        if types == {pa.int64(), pa.uint64()}:
            try:
                return pa.concat_arrays([p.cast(pa.int64()) if not pa.types.is_null(p.type)
                                         else pa.nulls(len(p), pa.int64()) for p in pieces])
            except pa.ArrowException:
                pass
        raise NotCacheable(f"a column of types {sorted(map(str, types))}")
    target = types.pop() if types else pa.null()
    return pa.concat_arrays([p if p.type == target else pa.nulls(len(p), target) for p in pieces])


def to_list(array) -> list:
    """An Arrow array (or chunked array) back into Python values."""
    if array.null_count == 0:
        if array.type in _NUMPY_TYPES:
            return numpy_of(array).tolist()
        if any(check(array.type) for check in _NUMPY_FAST):
            return array.to_numpy().tolist()
    return array.to_pylist()


def _numpy_types() -> dict:
    import numpy as np
    return {pa.int8(): np.int8, pa.int16(): np.int16, pa.int32(): np.int32,
            pa.int64(): np.int64, pa.uint8(): np.uint8, pa.uint16(): np.uint16,
            pa.uint32(): np.uint32, pa.uint64(): np.uint64, pa.float32(): np.float32,
            pa.float64(): np.float64}


_NUMPY_TYPES = _numpy_types()


def numpy_of(array):
    """A numeric Arrow array (or chunked array) without nulls as a numpy array, read
    from its data buffer: a view of it for one chunk (of a memory-mapped file: its
    pages).  Not ``to_numpy``: pyarrow imports pandas for it (0.3-0.4 s of a
    command that re-runs from the cache)."""
    import numpy as np
    if isinstance(array, pa.ChunkedArray):
        chunks = [numpy_of(c) for c in array.chunks]
        if len(chunks) == 1:
            return chunks[0]
        return np.concatenate(chunks) if chunks else \
            np.zeros(0, dtype=_NUMPY_TYPES[array.type])
    dtype = np.dtype(_NUMPY_TYPES[array.type])
    if array.null_count:
        raise ValueError("nulls in a numeric column")
    if not len(array):
        return np.zeros(0, dtype=dtype)
    return np.frombuffer(array.buffers()[1], dtype=dtype, count=len(array),
                         offset=array.offset * dtype.itemsize)
