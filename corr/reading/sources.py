"""Finding the CTF traces behind the paths a user gives.

A path may be one CTF trace folder (it holds a ``metadata`` file), an LTTng
session folder (``kernel/`` and ``ust/uid/<uid>/64-bit/`` or per-pid
buffers below it), or any folder with traces somewhere below; several
paths may be given.  Each trace found becomes one :class:`TraceInfo`.
"""

from __future__ import annotations

import os

from ..errors import TraceError
from .traceinfo import TraceInfo


def find_trace_dirs(path: str | os.PathLike) -> list[str]:
    """The CTF trace folders at or below ``path``, in a stable order."""
    p = os.fspath(path)
    if not os.path.exists(p):
        raise TraceError(p, "no such file or directory")
    if os.path.isfile(p):
        if os.path.basename(p) == "metadata":
            return [os.path.dirname(p) or "."]
        raise TraceError(p, "not a CTF trace: a trace is a folder holding a 'metadata' file")
    if os.path.isfile(os.path.join(p, "metadata")):
        return [p]
    found: list[str] = []
    for root, dirs, files in os.walk(p, followlinks=True):
        dirs.sort()
        if "metadata" in files:
            found.append(root)
            dirs.clear()          # a trace's own sub-folders (index/) hold no traces
    if not found:
        raise TraceError(p, "no CTF trace found (no folder below it holds a 'metadata' file)")
    return found


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
    for root, dirs, files in os.walk(path, followlinks=True):
        dirs.sort()
        for name in sorted(files):
            full = os.path.join(root, name)
            st = os.stat(full)
            out.append([os.path.relpath(full, path), st.st_size, st.st_mtime_ns])
    return out
