"""Messages between a parallel reader's workers and its parent, over a pipe.

A message is a pickled header whose integer columns travel out of band:
raw 64-bit words (the C decoder's :class:`~corr.reading.batch.RawInts`, or
an ``array('q')`` made from a list) written as they are and read by the
parent into one ``bytearray``, where numpy views them without a copy.
Measured per value (docs/performance.md): pickled lists cost the parent
~21 ns to load, raw words ~14 ns (their ``tolist``); only other values
(strings, lists, None, floats) are pickled.

Framing: ``<header length, buffer count>``, the buffer lengths, then the
header and each buffer, each padded to 8 bytes (so numpy's views are aligned).
"""

from __future__ import annotations

import os
import pickle
import struct
from array import array

from .batch import RawInts

_PREFIX = struct.Struct("<QI")
_IOV_MAX = 1024
_PAD = 8
# Column kinds in a header.
ARRAY, OBJECTS, INTERNED = "a", "o", "i"


def int_column(values, signed_only: bool = False):
    """``(ARRAY, typecode, buffer)`` for RawInts or a list of ints, else ``(OBJECTS, list)``."""
    if isinstance(values, RawInts):
        return (ARRAY, values.code, pickle.PickleBuffer(values))
    for code in ("q",) if signed_only else ("q", "Q"):
        try:
            return (ARRAY, code, pickle.PickleBuffer(array(code, values)))
        except (TypeError, OverflowError):
            continue
    return (OBJECTS, values)


def column(values, type_name: str | None):
    """How one column travels: integer fields as arrays, arrays of integers each
    distinct value once (:func:`interned_column`), the rest pickled."""
    if isinstance(values, RawInts) or type_name in ("int", "enum") or type_name is None:
        return int_column(values)
    if type_name == "list":
        return interned_column(values)
    return (OBJECTS, values)


def interned_column(values):
    """``(INTERNED, distinct values, ids)`` of a column of lists of integers (or
    None); ``(OBJECTS, values)`` when a value holds anything but ints (floats and
    bools compare equal across types and signs: ``[-0.0] == [0.0]``, ``[True] ==
    [1]``; structures are not hashable).  In C where the reader's accelerator is
    built (``_fastsink.intern_lists``: a million call chains a worker, 0.1 s of
    Python), for lists of ints and None; else :func:`interned_column_python`."""
    from .native_sink import _fastsink
    if _fastsink is not None:
        found = _fastsink.intern_lists(values)
        if found is not None:
            return (INTERNED, found[0], pickle.PickleBuffer(found[1]))
    return interned_column_python(values)


def interned_column_python(values):
    """:func:`interned_column` in Python, its reference."""
    index: dict = {}
    same: dict = {}             # id(value) -> its index: the C decoder repeats its objects
    uniques: list = []
    ids = array("q")
    try:
        for value in values:
            found = same.get(id(value))
            if found is None:
                key = tuple(value) if value is not None else None
                if key is not None and not all(type(v) is int for v in key):
                    return (OBJECTS, values)
                found = index.get(key)
                if found is None:
                    found = index[key] = len(uniques)
                    uniques.append(value)
                same[id(value)] = found
            ids.append(found)
    except TypeError:
        return (OBJECTS, values)
    return (INTERNED, uniques, pickle.PickleBuffer(ids))


def encode(header) -> list:
    """One message as the byte chunks to write (arrays not copied)."""
    buffers: list[pickle.PickleBuffer] = []
    data = pickle.dumps(header, protocol=5, buffer_callback=buffers.append)
    views = [b.raw() for b in buffers]
    parts = [_PREFIX.pack(len(data), len(views)),
             struct.pack(f"<{len(views)}Q", *(len(v) for v in views))]
    for chunk in (data, *views):
        parts.append(chunk)
        if len(chunk) % _PAD:
            parts.append(bytes(_PAD - len(chunk) % _PAD))
    return parts


def write(fd: int, parts: list) -> None:
    """Write an encoded message: one ``writev`` (one release of the GIL) unless it is cut short."""
    views = [memoryview(p).cast("B") for p in parts]
    while views:
        n = os.writev(fd, views[:_IOV_MAX])
        while views and n >= len(views[0]):
            n -= len(views[0])
            views.pop(0)
        if n:
            views[0] = views[0][n:]


def send(fd: int, header) -> None:
    """Write one message (blocking until the reader has room for it)."""
    write(fd, encode(header))


class Receiver:
    """Reads a worker's messages from its pipe."""

    def __init__(self, fd: int):
        self.fd = fd
        self._file = open(fd, "rb", buffering=0, closefd=False)

    def _read_exact(self, n: int, wait=None) -> memoryview | None:
        view = memoryview(bytearray(n))
        got = 0
        while got < n:
            if wait is not None:
                wait(self.fd)
            k = self._file.readinto(view[got:])
            if not k:
                return None
            got += k
        return view

    def recv(self, wait=None):
        """The next message, or None when the worker closed its end.

        ``wait(fd)``: called before each read, returns when the pipe has data
        (a watchdog: it raises when the worker makes no progress)."""
        prefix = self._read_exact(_PREFIX.size, wait)
        if prefix is None:
            return None
        header_len, count = _PREFIX.unpack(prefix)
        raw = self._read_exact(8 * count, wait) if count else b""
        if raw is None:
            return None
        lengths = struct.unpack(f"<{count}Q", raw)
        padded = [n + (-n % _PAD) for n in lengths]
        at = header_len + (-header_len % _PAD)
        body = self._read_exact(at + sum(padded), wait)
        if body is None:
            return None
        buffers = []
        for n, p in zip(lengths, padded):
            buffers.append(body[at:at + n])
            at += p
        return pickle.loads(body[:header_len], buffers=buffers)
