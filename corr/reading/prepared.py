"""Trace sources parsed ahead of their use: a trace's metadata parsed once, not per graph.

Creating babeltrace2's ``src.ctf.fs`` parses the trace's metadata and
indexes its packets: 35-55 ms for many-threads' 300 KB of TSDL, a fifth
of babeltrace2's whole run over it.  Every graph over the trace pays it,
so every decode worker did.  A source made before the workers fork is
theirs to share (each connects only its own streams' ports, see
:func:`groups.port_groups`), and the resident server keeps the sources of
the traces its commands read, so that a served command over a trace seen
before parses nothing at all.

A source is valid for the files it was made from: their paths, sizes and
mtimes are compared before each use, and a trace that changed is parsed
again.  A graph runs once: the decode that runs it claims it, and the source
is forgotten; workers forked before that each claim their own copy.  The
server never runs one, so every command it forks gets the sources fresh.

Making a source runs libbabeltrace2 over the trace's metadata, which can
abort or hang on a malformed one: a forked child makes it first
(:func:`containment.call`), and only a trace it made a source of is parsed
here (the resident server, between commands: it must outlive bad traces).
"""

from __future__ import annotations

import os

from .groups import bt2_path
from .sources import trace_files

# The most sources a process keeps.  A server keeps only those of the traces its
# last command read: a source costs memory (many-threads' 300 KB of TSDL: 17 MB),
# which every served command's measure counts.
KEPT = 4

_sources: dict[str, "PreparedSource"] = {}     # bt2 path -> source, least recent first
_read: list[str] = []                          # traces decoded by this process (bt2 paths)


class PreparedSource:
    """A graph holding one trace's ``src.ctf.fs`` and nothing else yet."""

    def __init__(self, path: str):
        import bt2

        from .graph import add_source
        self.path = key(path)
        self.files = trace_files(self.path)
        self.graph = bt2.Graph()
        self.src = add_source(self.graph, self.path)
        self.port_names = list(self.src.output_ports)
        self.claimed = False

    def fresh(self) -> bool:
        """Whether the trace's files are still the ones this source was made from."""
        try:
            return trace_files(self.path) == self.files
        except OSError:
            return False

    def claim(self) -> bool:
        """Take the graph for a decode; False if a decode (here or before a fork) has."""
        if self.claimed:
            return False
        self.claimed = True
        if _sources.get(self.path) is self:
            del _sources[self.path]
        return True


def source_for(path: str, make: bool = False) -> PreparedSource | None:
    """The trace's prepared source if one is kept and still fresh; with ``make``,
    one made now otherwise (None if the trace cannot be opened: the decode says why)."""
    name = key(path)
    source = _sources.get(name)
    if source is not None and source.fresh():
        return source
    _sources.pop(name, None)
    if not make:
        return None
    return _make(name)


def prepare(paths) -> list[str]:
    """Keep the sources of ``paths`` (the traces a command read: the server, between
    commands), made now unless kept and fresh, and no other; those made."""
    paths = list(paths)[-KEPT:]
    wanted = {key(path) for path in paths}
    for name in [n for n in _sources if n not in wanted]:
        del _sources[name]
    made = []
    for path in paths:
        name = key(path)
        if source_for(name) is not None:                # kept and fresh
            _sources[name] = _sources.pop(name)        # the most recent now
        elif _make(name) is not None:
            made.append(name)
    return made


def key(path) -> str:
    """A trace's name here: its path as babeltrace2 names it (absolute, lexical)."""
    return bt2_path(os.fspath(path))


def _make(name: str) -> PreparedSource | None:
    from ..errors import CorrError
    from .containment import DecoderDied, DecoderStalled, call
    try:
        files = trace_files(name)
        call(_try_source, name)                 # aborts and hangs happen there
        if trace_files(name) != files:          # not the trace the child parsed
            return None
        source = PreparedSource(name)
    except (CorrError, OSError, DecoderDied, DecoderStalled):
        return None
    _sources[name] = source
    while len(_sources) > KEPT:
        del _sources[next(iter(_sources))]
    return source


def _try_source(name: str) -> None:
    """Make (in a child) the source :func:`_make` will keep."""
    PreparedSource(name)


def kept() -> list[str]:
    """The traces whose sources are kept, least recently used first."""
    return list(_sources)


def note_read(path: str) -> None:
    """Remember that this process decoded the trace at ``path`` to its end, without an
    error (for :func:`traces_read`)."""
    name = key(path)
    if name not in _read:
        _read.append(name)


def note_unsafe(path: str) -> None:
    """The trace at ``path`` made babeltrace2 abort or stall: no server should parse it."""
    name = key(path)
    if name in _read:
        _read.remove(name)
    _sources.pop(name, None)


def traces_read() -> list[str]:
    """The traces this process decoded to their end, as absolute paths: what a server may
    prepare."""
    return list(_read)
