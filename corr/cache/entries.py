"""The entries in a cache folder: listed and cleared (``corr cache list|clear``)."""

from __future__ import annotations

import os
import shutil

from .identity import summary
from .settings import entries_directory
from .store import Entry, EntryError


class EntrySummary:
    """One entry as ``corr cache list`` shows it."""

    def __init__(self, folder: str, traces: list[str], projection: str, size: int,
                 age_s: float, rules: int, valid: bool):
        self.folder, self.traces, self.projection = folder, traces, projection
        self.size, self.age_s, self.rules, self.valid = size, age_s, rules, valid

    def to_dict(self) -> dict:
        return dict(vars(self))


def list_entries(directory: str | None) -> list[EntrySummary]:
    """Every entry under ``directory`` (None: the cache is off), oldest last."""
    if directory is None:
        return []
    root = entries_directory(directory)
    try:
        names = sorted(os.listdir(root))
    except OSError:
        return []
    out = []
    for name in names:
        entry = Entry(os.path.join(root, name))
        try:
            body = entry.manifest()
        except EntryError:
            body = None
        valid = body is not None
        out.append(EntrySummary(
            entry.folder, body.get("traces", []) if valid else [],
            summary(body["projection"]) if valid else "(no valid manifest)",
            entry.size(), entry.age(), len(body.get("rules", {})) if valid else 0, valid))
    out.sort(key=lambda e: e.age_s)
    return out


def clear_entries(directory: str | None, traces=None) -> list[str]:
    """Remove every entry, or those holding one of ``traces`` (paths); the folders removed."""
    wanted = None if not traces else {os.path.realpath(p) for p in traces}
    removed = []
    for found in list_entries(directory):
        if wanted is not None and not wanted.intersection(os.path.realpath(p) for p in found.traces):
            continue
        shutil.rmtree(found.folder, ignore_errors=True)
        removed.append(found.folder)
    return removed
