"""The decode cache: a trace set's decoded columns (and matched intervals), kept.

A tuning session runs the same rules over the same traces again and again;
the first run stores what it decoded as Arrow IPC files in
``$XDG_CACHE_HOME/corr/traces/<entry>/`` and later runs read them back
(memory-mapped) instead of decoding.  See docs/performance.md for the
design; :mod:`.settings` for where it lives, :mod:`.store` for how entries
stay trustworthy, :mod:`.decoded` and :mod:`.intervals` for what is kept.
"""

from __future__ import annotations

from .settings import CacheWarning, default_directory, resolve

__all__ = ["CacheWarning", "default_directory", "resolve", "open_cache", "event_source",
           "list_entries", "clear_entries", "has_entry"]


def open_cache(cache, traceset):
    """The trace set's entry for this run (a :class:`~.decoded.TraceCache`), or None
    when the cache is off (``cache``: see :func:`.settings.resolve`)."""
    directory = resolve(cache)
    if directory is None:
        return None
    from .decoded import TraceCache, warn
    try:
        return TraceCache(directory, traceset)
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
    return directory is not None and os.path.exists(
        os.path.join(entry_folder(directory, traceset), MANIFEST))


def event_source(traceset, projection, cache=None, started=None, reader: str = "auto"):
    """What the engine reads batches from: the normaliser, through ``cache`` if given.

    ``started``: a Canonical of ``projection`` whose decode already began,
    used wherever the run decodes the whole projection.  ``reader``: the bt2
    reader that decodes (see :func:`corr.reading.graph.choose_sink`).
    """
    if cache is None:
        if started is not None:
            return started
        from ..normalise import Canonical
        return Canonical(traceset, projection, reader=reader)
    return cache.events(projection, started, reader)


def list_entries(cache=None):
    from .entries import list_entries as run
    return run(resolve(True if cache is None else cache))


def clear_entries(cache=None, traces=None):
    from .entries import clear_entries as run
    return run(resolve(True if cache is None else cache), traces)
