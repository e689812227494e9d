"""Paths a user names, checked before corr opens or searches them.

A rule file, a trace's metadata or a stream that is a FIFO, a device or a
socket could make corr wait forever (a FIFO nobody writes to) or read
forever (``/dev/zero``); a search below a folder that follows symbolic
links could walk the whole file system (``/proc/self/root``).  These
helpers say what such a path is, in one line, instead: regular files are
read with a bound, so are pipes (``<(generate-rules)``) with bounded waits
for their other end, and anything else is refused.
"""

from __future__ import annotations

import errno
import os
import select
import stat
import tempfile
import time

from .errors import CorrError

# A pipe's writer that sends nothing for this long is taken to be stuck.
PIPE_IDLE_S = 30.0
# How long a FIFO may wait for its other end (a reader or writer started beside
# corr, `corr run -o fifo & consumer < fifo`) before nobody is taken to come.
FIFO_PEER_WAIT_S = 10.0
_PEER_POLL_S = 0.02
# Folders searched below one path before the search gives up (a link to "/").
MAX_FOLDERS = 10_000


class PathError(CorrError):
    """A path corr cannot use: ``cause`` says why (the message names the path)."""

    def __init__(self, path, cause: str):
        self.path = display(path)
        self.cause = cause
        super().__init__(f"{self.path}: {cause}")


def display(path) -> str:
    """``path`` as messages show it: bytes that are not UTF-8 as ``\\xff`` escapes."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def kind(mode: int) -> str:
    """What a file of ``mode`` is, in words ("a named pipe (FIFO)")."""
    if stat.S_ISREG(mode):
        return "a regular file"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def read_bounded(path, limit: int, what: str = "file") -> bytes:
    """The bytes of the regular file or pipe at ``path``, at most ``limit`` of them.

    Anything else (a device, a socket, a folder) raises :class:`PathError`, as
    do a FIFO with no writer for :data:`FIFO_PEER_WAIT_S`, a writer idle for
    :data:`PIPE_IDLE_S`, a file that would block (``/proc/kmsg``) and one
    longer than ``limit`` (``what`` names it: "rule file").
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise PathError(path, f"cannot read: {lower_first(exc.strerror or str(exc))}") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISREG(mode):
            return _read_regular(fd, path, limit, what)
        if stat.S_ISFIFO(mode):
            return _read_pipe(fd, path, limit, what)
        if stat.S_ISDIR(mode):
            raise PathError(path, "cannot read: is a directory")    # as open() says
        raise PathError(path, f"{kind(mode)}, not a {what}")
    finally:
        os.close(fd)


def _read_regular(fd: int, path, limit: int, what: str) -> bytes:
    chunks, size = [], 0
    while True:
        try:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
        except BlockingIOError:
            raise PathError(path, f"reading it would wait (not a {what} that can be read "
                                  f"at once)") from None
        except OSError as exc:
            raise PathError(path, f"cannot read: {lower_first(exc.strerror or str(exc))}") from None
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise PathError(path, f"longer than {limit:,} bytes: too large for a {what}")


def _read_pipe(fd: int, path, limit: int, what: str) -> bytes:
    """A pipe's bytes until its writer closes it.  A FIFO opened without blocking
    reads end-of-file while nobody holds it open for writing: a writer is waited
    for :data:`FIFO_PEER_WAIT_S`, its bytes :data:`PIPE_IDLE_S` each."""
    chunks, size, first = [], 0, True
    deadline = time.monotonic() + FIFO_PEER_WAIT_S
    while True:
        try:
            chunk = os.read(fd, min(1 << 16, limit + 1 - size))
        except BlockingIOError:
            ready, _, _ = select.select([fd], [], [], PIPE_IDLE_S)
            if not ready:
                raise PathError(path, f"{kind(stat.S_IFIFO)} whose writer sent nothing for "
                                      f"{PIPE_IDLE_S:g} s") from None
            first = False
            continue
        if not chunk:
            if first and time.monotonic() < deadline:
                time.sleep(_PEER_POLL_S)        # no writer yet
                continue
            if first:
                raise PathError(path, f"{kind(stat.S_IFIFO)} that nobody writes to "
                                      f"(waited {FIFO_PEER_WAIT_S:g} s)")
            return b"".join(chunks)
        first = False
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise PathError(path, f"longer than {limit:,} bytes: too large for a {what}")


def open_for_writing(path: str) -> int:
    """A descriptor writing into the existing file at ``path`` (a device, a FIFO, a
    terminal; a temporary file) as it is: never truncated, never replaced.  A FIFO
    is waited on for a reader :data:`FIFO_PEER_WAIT_S` at most."""
    deadline = time.monotonic() + FIFO_PEER_WAIT_S
    while True:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            break
        except OSError as exc:
            if exc.errno != errno.ENXIO:
                raise
            mode = _mode(path)
            if mode is None or not stat.S_ISFIFO(mode):
                raise PathError(path, f"{kind(mode or 0)}, which cannot be written") from None
            if time.monotonic() >= deadline:
                raise PathError(path, f"{kind(mode)} that nobody reads from (waited "
                                      f"{FIFO_PEER_WAIT_S:g} s)") from None
            time.sleep(_PEER_POLL_S)            # no reader yet
    os.set_blocking(fd, True)
    return fd


def atomic_write(path: str, write) -> None:
    """``write(tmp)`` a file beside ``path``, then rename it into place; on any failure
    the temporary file goes and ``path`` is left as it was.

    A symbolic link is followed (the file it names is replaced, the link kept); a
    path that is not a regular file (``/dev/null``, a FIFO, a terminal) is written
    directly, as there is no file to keep there (and a device must not be replaced
    by one)."""
    if os.path.islink(path) and os.path.isfile(os.path.realpath(path)):
        path = os.path.realpath(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None and stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, "Is a directory", path)
    if mode is not None and not stat.S_ISREG(mode):
        held = open_for_writing(path)    # a FIFO with no reader: refused, not waited on
        try:
            write(path)
        finally:
            os.close(held)
        return
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".corr-", dir=directory)
    os.close(fd)
    try:
        write(tmp)
        # mkstemp makes the file private; the output gets the usual mode.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _mode(path) -> int | None:
    try:
        return os.stat(path).st_mode
    except OSError:
        return None


def walk(top: str, limit: int = MAX_FOLDERS):
    """``os.walk(top, followlinks=True)``, each folder once and at most ``limit`` of them.

    Symbolic links to folders are followed (a folder of links to trace folders
    is searched as if it held them), but a folder already searched is not
    searched again (a link back up ends there), and a search that reaches
    ``limit`` folders (a link to ``/``, ``/proc/self``) raises PathError.
    The caller may prune ``dirs`` in place, as with os.walk.
    """
    seen: set[tuple[int, int]] = set()
    pending = [top]
    count = 0
    while pending:
        root = pending.pop()
        try:
            st = os.stat(root)
        except OSError:
            continue
        key = (st.st_dev, st.st_ino)
        if key in seen or not stat.S_ISDIR(st.st_mode):
            continue
        seen.add(key)
        count += 1
        if count > limit:
            raise PathError(top, f"more than {limit:,} folders below it (searching stopped; "
                                 f"give the trace folders themselves)")
        try:
            entries = list(os.scandir(root))
        except OSError:
            continue
        dirs, files = [], []
        for entry in entries:
            try:
                is_dir = entry.is_dir()          # follows a link
            except OSError:
                is_dir = False
            (dirs if is_dir else files).append(entry.name)
        dirs.sort()
        files.sort()
        yield root, dirs, files
        pending.extend(os.path.join(root, d) for d in reversed(dirs))


def lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]
