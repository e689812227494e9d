"""The decode cache: a trace set's decoded columns (and matched intervals), kept.

A tuning session runs the same rules over the same traces again and again;
the first run stores what it decoded as Arrow IPC files in
``$XDG_CACHE_HOME/corr/traces/<entry>/`` and later runs read them back
(memory-mapped) instead of decoding.  See docs/performance.md for the
design; :mod:`.settings` for where it lives, :mod:`.store` for how entries
stay trustworthy, :mod:`.decoded` and :mod:`.intervals` for what is kept,
:mod:`.limit` for the size limit (least recently used entries go first).
"""

from __future__ import annotations

from .settings import (DEFAULT_SIZE, CacheSettings, CacheWarning, default_directory, parse_size,
                       resolve, resolve_size)

__all__ = ["CacheSettings", "CacheWarning", "DEFAULT_SIZE", "default_directory", "parse_size",
           "resolve", "resolve_size", "open_cache", "event_source", "list_entries",
           "clear_entries", "has_entry"]


def open_cache(cache, traceset):
    """The trace set's entry for this run (a :class:`~.decoded.TraceCache`), or None
    when the cache is off (``cache``: see :func:`.settings.resolve`; its size limit:
    :func:`.settings.resolve_size`, a bad one a UsageError)."""
    directory = resolve(cache)
    if directory is None or traceset.live is not None:
        return None                 # a live session has no files to key an entry on
    limit = resolve_size(cache)
    from .decoded import TraceCache, warn
    try:
        return TraceCache(directory, traceset, limit)
    except OSError as exc:
        warn(f"cache: cannot read the traces' identity ({exc}); decoding without a cache")
        return None


def has_entry(cache, traceset) -> bool:
    """Whether the cache (``cache`` as for :func:`.settings.resolve`) holds an entry
    for these traces, without reading it (nor importing what reads it)."""
    import os

    from .identity import entry_folder
    from .store import MANIFEST
    directory = resolve(cache)
    if traceset.live is not None:
        return False
    return directory is not None and os.path.exists(
        os.path.join(entry_folder(directory, traceset), MANIFEST))


def event_source(traceset, projection, cache=None, started=None, reader: str = "auto",
                 batch_size: int | None = None):
    """What the engine reads batches from: the normaliser, through ``cache`` if given.

    ``started``: a Canonical of ``projection`` whose decode already began,
    used wherever the run decodes the whole projection.  ``reader``: the bt2
    reader that decodes (see :func:`corr.reading.graph.choose_sink`).
    ``batch_size``: events a decoded batch (None: the reader's default).
    """
    if started is not None and not _same(started.projection, projection):
        started.close()         # decoding what the engine does not want: never used
        started = None
    if cache is None:
        if started is not None:
            return started
        from ..normalise import Canonical
        return Canonical(traceset, projection, batch_size, reader=reader)
    return cache.events(projection, started, reader, batch_size)


def _same(a, b) -> bool:
    """Whether two projections decode the same classes and fields."""
    return a.everything == b.everything and dict(a.wanted) == dict(b.wanted)


def list_entries(cache=None):
    """The entries (:class:`~.entries.EntrySummary`), most recently used first,
    after evicting what is beyond the size limit."""
    from .entries import list_entries as run
    cache = True if cache is None else cache
    return run(resolve(cache), resolve_size(cache))


def clear_entries(cache=None, traces=None):
    from .entries import clear_entries as run
    return run(resolve(True if cache is None else cache), traces)
