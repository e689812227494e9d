"""The entries in a cache folder: listed and cleared (``corr cache list|clear``)."""

from __future__ import annotations

import os
import time

from .identity import summary
from .limit import enforce, entry_folders, remove_entry
from .store import Entry, EntryError


class EntrySummary:
    """One entry as ``corr cache list`` shows it (``age_s``: since it was stored,
    ``used_s``: since it was last read or written)."""

    def __init__(self, folder: str, traces: list[str], projection: str, size: int,
                 age_s: float, rules: int, valid: bool, used_s: float = 0.0):
        self.folder, self.traces, self.projection = folder, traces, projection
        self.size, self.age_s, self.rules, self.valid = size, age_s, rules, valid
        self.used_s = used_s

    def to_dict(self) -> dict:
        return dict(vars(self))


def list_entries(directory: str | None, limit: int | None = None) -> list[EntrySummary]:
    """Every entry under ``directory`` (None: the cache is off), the most recently
    used first (the last is the next evicted); with a ``limit``, those beyond it
    are evicted first."""
    if directory is None:
        return []
    if limit is not None:
        enforce(directory, limit)
    out = []
    now = time.time_ns()
    for folder in entry_folders(directory):
        entry = Entry(folder)
        try:
            body = entry.manifest()
        except EntryError:
            body = None
        valid = body is not None
        out.append(EntrySummary(
            entry.folder, body.get("traces", []) if valid else [],
            summary(body["projection"]) if valid else "(no valid manifest)",
            entry.size(), entry.age(), len(body.get("rules", {})) if valid else 0, valid,
            max(0, now - entry.last_used_ns()) / 1e9))
    out.sort(key=lambda e: (e.used_s, e.folder))
    return out


def clear_entries(directory: str | None, traces=None) -> list[str]:
    """Remove every entry, or those holding one of ``traces`` (paths); the folders removed."""
    wanted = None if not traces else {os.path.realpath(p) for p in traces}
    removed = []
    for found in list_entries(directory):
        if wanted is not None and not wanted.intersection(os.path.realpath(p) for p in found.traces):
            continue
        if remove_entry(found.folder, force=True):
            removed.append(found.folder)
    return removed
