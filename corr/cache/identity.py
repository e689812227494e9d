"""What a cache entry is keyed by: the traces' identity, corr's code, the projection.

An entry's folder is named after the trace folders (real paths) and their
clock offsets; what it holds is valid only for the identity recorded in
its manifest: every file's path, size and mtime_ns, the bt2 version,
corr's cache format and a fingerprint of the code that decodes,
normalises and matches.  A touched trace or a changed corr therefore
never meets a stale entry: the identity differs and the entry is rebuilt.
"""

from __future__ import annotations

import json
import os
import zlib

from ..reading.projection import ALL, Projection
from ..reading.sources import trace_files

FORMAT = 4                       # bump when what an entry holds changes shape (2: events_ns,
                                 # 3: passes, scheduling models and analyses, 4: sealed)
# The code whose output an entry's columns and interval tables are; the scheduling
# model and the analyses (kept per entry, keyed by their own code) add theirs.
ENTRY_CODE = ("reading", "normalise", "engine", "cache")

_fingerprints: dict[tuple, str] = {}


def code_fingerprint(subs: tuple[str, ...] = ENTRY_CODE) -> str:
    """Sizes and mtimes of the modules of corr's ``subs`` packages (cheap: stats only)."""
    found = _fingerprints.get(subs)
    if found is None:
        package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        parts = []
        for sub in subs:
            folder = os.path.join(package, sub)
            for name in sorted(os.listdir(folder)):
                if name.endswith((".py", ".so", ".c")):
                    st = os.stat(os.path.join(folder, name))
                    parts.append(f"{sub}/{name}:{st.st_size}:{st.st_mtime_ns}")
        found = _fingerprints[subs] = f"{zlib.crc32(chr(10).join(parts).encode()):08x}"
    return found


def entry_folder(directory: str, traceset) -> str:
    """Where a trace set's entry lives in the cache ``directory``."""
    from .settings import entries_directory
    return os.path.join(entries_directory(directory), entry_name(traceset))


def entry_name(traceset) -> str:
    """The folder name of a trace set's entry: its traces and their clock offsets."""
    key = json.dumps([[os.path.realpath(t.path), t.offset_ns] for t in traceset.traces])
    return short_hash(key)


def short_hash(text: str) -> str:
    """16 hex digits naming ``text`` (an entry's folder, a rule's table)."""
    data = text.encode()
    return f"{zlib.crc32(data):08x}{zlib.adler32(data):08x}"


def identity(traceset) -> dict:
    """Everything the cached columns depend on besides the projection."""
    import bt2
    from .. import __version__
    return {
        "format": FORMAT, "corr": __version__, "code": code_fingerprint(),
        "bt2": bt2.__version__,
        "traces": [{"path": os.path.realpath(t.path), "offset_ns": t.offset_ns,
                    "files": trace_files(t.path)} for t in traceset.traces],
    }


# -- projections, as JSON and compared ---------------------------------------------------

def projection_to_json(projection: Projection):
    """A canonical, JSON-able form: ``"*"`` for everything, else sorted ``[glob, fields]``."""
    if projection.everything:
        return ALL
    merged: dict[str, object] = {}
    for glob, fields in projection.wanted:
        before = merged.get(glob)
        if before == ALL or fields == ALL:
            merged[glob] = ALL
        else:
            merged[glob] = (before or frozenset()) | fields
    return [[g, f if f == ALL else sorted(f)] for g, f in sorted(merged.items())]


def projection_from_json(value) -> Projection:
    if value == ALL:
        return Projection.all()
    return Projection.of({g: f for g, f in value})


def union(a: Projection, b: Projection) -> Projection:
    return projection_from_json(projection_to_json(a.union(b)))


def covers(have, need, names) -> bool:
    """Does ``have`` decode every class and field ``need`` does, over ``names``?"""
    for name in names:
        wanted = need.fields_for(name)
        if wanted is None:
            continue
        held = have.fields_for(name)
        if held is None or (held != ALL and (wanted == ALL or not wanted <= held)):
            return False
    return True


def missing(have, need, names) -> Projection:
    """What to decode so that ``have`` + it covers ``need``: each class not
    covered, with the fields of both (its cached columns are replaced)."""
    out: dict[str, object] = {}
    for name in names:
        wanted = need.fields_for(name)
        if wanted is None:
            continue
        held = have.fields_for(name)
        if held is not None and (held == ALL or (wanted != ALL and wanted <= held)):
            continue
        out[name] = ALL if ALL in (held, wanted) else (held or frozenset()) | wanted
    return Projection.of(out)


def summary(projection_json) -> str:
    """A short description for ``corr cache list``."""
    if projection_json == ALL:
        return "every class"
    globs = [g for g, _ in projection_json]
    shown = ", ".join(globs[:4])
    return shown + (f" (+{len(globs) - 4})" if len(globs) > 4 else "")
