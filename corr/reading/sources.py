"""Finding the CTF traces behind the paths a user gives.

A path may be one CTF trace folder (it holds a ``metadata`` file), an LTTng
session folder (``kernel/`` and ``ust/uid/<uid>/64-bit/`` or per-pid
buffers below it), or any folder with traces somewhere below; several
paths may be given.  Each trace found becomes one :class:`TraceInfo`.
"""

from __future__ import annotations

import os
import stat

from ..errors import TraceError
from ..paths import PathError, display, kind, lower_first, walk
from .traceinfo import TraceInfo


def find_trace_dirs(path: str | os.PathLike) -> list[str]:
    """The CTF trace folders at or below ``path``, in a stable order.

    Symbolic links to folders are followed, each folder searched once, and
    at most :data:`corr.paths.MAX_FOLDERS` of them (``/proc/self`` links to
    the whole file system).
    """
    p = os.fspath(path)
    try:
        mode = os.stat(p).st_mode
    except FileNotFoundError:
        raise TraceError(display(p), "no such file or directory") from None
    except OSError as exc:
        raise TraceError(display(p), f"cannot read: {lower_first(exc.strerror or str(exc))}") from None
    if stat.S_ISREG(mode):
        if os.path.basename(p) == "metadata":
            return [_checked(os.path.dirname(p) or ".")]
        raise TraceError(display(p), "not a CTF trace: a trace is a folder holding a "
                                     "'metadata' file")
    if not stat.S_ISDIR(mode):
        raise TraceError(display(p), f"{kind(mode)}, not a trace folder")
    metadata = os.path.join(p, "metadata")
    if os.path.lexists(metadata) and not os.path.isdir(metadata):
        return [_checked(p)]
    found: list[str] = []
    try:
        for root, dirs, files in walk(p):
            if "metadata" in files:
                found.append(_checked(root))
                dirs.clear()          # a trace's own sub-folders (index/) hold no traces
    except PathError as exc:
        raise TraceError(exc.path, exc.cause) from None
    if not found:
        raise TraceError(display(p), "no CTF trace found (no folder below it holds a "
                                     "'metadata' file)")
    return found


def _checked(folder: str) -> str:
    """``folder``, a trace folder, once it is known babeltrace2 can be given it: a
    UTF-8 path, and regular files only (a FIFO or a device there would be waited
    on or read forever by the decoder)."""
    try:
        folder.encode("utf-8")
    except UnicodeEncodeError:
        raise TraceError(display(folder), "not a UTF-8 path (babeltrace2 opens UTF-8 "
                                          "paths only): rename it, or give a symbolic "
                                          "link to it with a UTF-8 name") from None
    for sub in (folder, os.path.join(folder, "index")):
        try:
            entries = list(os.scandir(sub))
        except OSError:
            continue
        for entry in entries:
            try:
                st = entry.stat()
            except OSError:
                continue                              # a dangling link: the decoder says
            if st.st_dev in pseudo_file_systems():
                raise TraceError(display(entry.path), "a file of /proc or /sys (read, it may "
                                                      "wait or never end), not a trace file")
            if stat.S_ISREG(st.st_mode) or (stat.S_ISDIR(st.st_mode) and sub == folder):
                continue
            raise TraceError(display(entry.path), f"{kind(st.st_mode)}: a trace folder holds "
                                                  f"regular files only")
    return folder


_PSEUDO: set[int] | None = None


def pseudo_file_systems() -> set[int]:
    """The devices of /proc and /sys, whose files look regular but may block
    (``/proc/kmsg``) or never end."""
    global _PSEUDO
    if _PSEUDO is None:
        _PSEUDO = set()
        for top in ("/proc", "/sys"):
            try:
                _PSEUDO.add(os.stat(top).st_dev)
            except OSError:
                pass
    return _PSEUDO


def discover(paths: list[str | os.PathLike]) -> list[TraceInfo]:
    """One TraceInfo per distinct trace folder under ``paths``."""
    if not paths:
        raise TraceError("", "no trace path given")
    seen: set[str] = set()
    traces: list[TraceInfo] = []
    for path in paths:
        for d in find_trace_dirs(path):
            real = os.path.realpath(d)
            if real in seen:
                continue
            seen.add(real)
            traces.append(TraceInfo(index=len(traces), path=d))
    return traces


def trace_files(path: str) -> list[list]:
    """Every file under a trace folder: ``[relative path, size, mtime_ns]``, sorted."""
    out = []
    for root, dirs, files in walk(path):
        for name in files:
            full = os.path.join(root, name)
            st = os.stat(full)
            out.append([os.path.relpath(full, path), st.st_size, st.st_mtime_ns])
    return out
