"""The one write path of every output format: stdout, a stream, or a file.

A file is written to a temporary name beside it and renamed into place
once whole, so a failure part-way (a full disk, Ctrl-C, a bad value) leaves
no partial file and keeps whatever was at that path before; the temporary
file is removed.  Formats write bytes to :attr:`Destination.binary` (or
text to :meth:`Destination.text`) and never open, rename or flush files
themselves.

Text written to files is UTF-8.  The readers decode a trace's bytes that
are not UTF-8 as ``\\xff`` text (:mod:`corr.render.escape`); a string that
still holds them as surrogate escapes (given through the API) is written
with backslash escapes (``\\udcff``), never as a half-written file.
"""

from __future__ import annotations

import errno
import io
import os
from contextlib import contextmanager
from dataclasses import dataclass, fields

from ..errors import UsageError
from ..paths import atomic_write, open_for_writing
from . import formats


@dataclass(frozen=True)
class Options:
    """What ``corr run``'s options tell the formats (each reads those it uses)."""

    top: int = 10                    # text, HTML: the N slowest intervals shown per rule
    all_intervals: bool = False      # JSON, JSON Lines, Chrome trace: under the threshold too
    all_edges: bool = False          # DOT: every blame edge, small ones too
    wakers: bool = False             # folded: "--" and the waker's stack after a code stack

    @classmethod
    def of(cls, **values) -> "Options":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise TypeError(f"unknown output option(s) {', '.join(unknown)} "
                            f"(known: {', '.join(sorted(known))})")
        return cls(**values)


class Destination:
    """Where a format writes: a binary stream, and how to write text to it."""

    def __init__(self, binary, path: str | None = None, text_stream=None):
        self.binary = binary                 # .write(bytes)
        self.path = path                     # the file being written (None: a stream)
        self._text_stream = text_stream      # the caller's own text stream, if any

    @property
    def is_file(self) -> bool:
        return self.path is not None

    def isatty(self) -> bool:
        stream = self._text_stream if self._text_stream is not None else self.binary
        isatty = getattr(stream, "isatty", None)
        return bool(isatty and isatty())

    @contextmanager
    def text(self, newline: str | None = None):
        """A text stream onto the destination: the caller's own text stream (stdout as
        it is set up), or UTF-8 over the binary stream (``newline=""``: as written)."""
        if self._text_stream is not None and newline is None:
            yield self._text_stream
            self._text_stream.flush()
            return
        wrapper = io.TextIOWrapper(_Unclosed(self.binary), encoding="utf-8",
                                   errors="backslashreplace", newline=newline,
                                   write_through=False)
        try:
            yield wrapper
        finally:
            wrapper.flush()
            wrapper.detach()


class _Unclosed(io.RawIOBase):
    """A writable view of a binary stream that a TextIOWrapper may hold and let go
    of without closing it."""

    def __init__(self, binary):
        self._binary = binary

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        written = self._binary.write(data)       # a raw stream may write part of it
        return len(data) if written is None else written


class _TextSink:
    """A binary stream that decodes into a text stream with no bytes layer (StringIO)."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, data) -> int:
        self._stream.write(bytes(data).decode("utf-8"))
        return len(data)

    def flush(self) -> None:
        self._stream.flush()


def check(fmt: str, to_file: bool):
    """The module of format ``fmt`` once it is known it can be written there (before
    a run: a wrong option costs no decoding)."""
    module = formats.module(fmt)
    if module.FILE_ONLY and not to_file:
        raise UsageError(f"--format {fmt} writes a file: give it with -o FILE")
    return module


def write(result, fmt: str, path=None, stream=None, options: Options | None = None) -> str:
    """Write ``result`` in format ``fmt`` to ``path`` (atomically) or ``stream``
    (a text stream, else stdout); return what was written, as "wrote FILE (...)"
    says it."""
    module = check(fmt, path is not None)
    options = options or Options()
    if module.NEEDS_BLAME and not any(r.analysis is not None for r in result.rules):
        raise UsageError(f"--format {fmt}: no rule of {result.rules_path} has blame:, so there "
                         f"is no scheduling analysis to write")
    if path is not None:
        path = os.fspath(path)
        said = []
        atomic_stream(path, lambda binary: said.append(
            module.write(result, Destination(binary, path), options)))
        return said[0] or module.DESCRIPTION
    if stream is None:
        import sys
        stream = sys.stdout
    if stream is None:                       # Python's own stdout when fd 1 is closed
        raise OSError(errno.EBADF, "stdout is closed")
    with _binary_of(stream) as binary:
        text = stream if _is_text(stream) else None
        said = module.write(result, Destination(binary, text_stream=text), options)
    return said or module.DESCRIPTION


@contextmanager
def _binary_of(stream):
    """The bytes layer under a text stream (flushed first, buffered, left open), or the
    stream itself if it takes bytes."""
    if _is_text(stream):
        stream.flush()
        raw = getattr(stream, "buffer", None)
        if raw is None:
            yield _TextSink(stream)
            return
    else:
        raw = stream
    if isinstance(raw, io.RawIOBase):            # unbuffered (a served command's stdout)
        # Over a view that never closes the caller's stream: when a write fails the
        # buffer cannot be flushed, so neither detached, and closing it is all
        # there is left to do.
        buffered = io.BufferedWriter(_Unclosed(raw), 1 << 16)
        try:
            yield buffered
            buffered.flush()
        finally:
            try:
                buffered.close()
            except OSError:
                pass
        return
    yield raw
    raw.flush()


def _is_text(stream) -> bool:
    return isinstance(stream, io.TextIOBase) or hasattr(stream, "encoding")


def _open(tmp: str):
    """The temporary file's stream (a seam for the tests that fail a write part-way).
    Opened without truncating it (mkstemp made it empty; a device or a FIFO has
    nothing to truncate): ext4 flushes a file truncated on open when it is
    closed, 0.08-0.2 s for 250 MB of JSON.  Without creating it: a path that is
    not a regular file is written into as it is (paths.open_for_writing)."""
    return open(open_for_writing(tmp), "wb", buffering=1 << 20)


def atomic_stream(path: str, write) -> None:
    """``write(binary)`` a temporary file beside ``path``, then rename it into place."""
    def into(tmp):
        with _open(tmp) as binary:
            write(binary)
    atomic_write(path, into)

