"""The cache's size limit: least recently used entries go first.

What counts is every file of every entry under ``<cache dir>/traces/``
(the rule cache in ``rules/`` holds a few small files and is left out).
After a run stores into the cache, and when ``corr cache list`` looks,
entries are evicted, least recently used first (their ``last-used``
stamp, :meth:`.store.Entry.touch`), until the rest fit.  Never evicted:
the entry the run itself uses, and any entry whose write lock is held (a
run writing it, in this process or another).

An entry is removed by renaming its folder to a ``.trash-<pid>-...`` name
beside it, lock held, then deleting that: a reader sees the whole entry or
none of it, and its memory-mapped files stay valid (see :mod:`.store`).
Trash left by a process killed mid-delete is removed by the next pass.
"""

from __future__ import annotations

import os
import shutil

from ..processes import alive
from .settings import entries_directory
from .store import Entry

TRASH_PREFIX = ".trash-"


class EntryUse:
    """One entry's folder, size and last use, as eviction weighs it."""

    __slots__ = ("folder", "size", "last_used_ns")

    def __init__(self, folder: str, size: int, last_used_ns: int):
        self.folder, self.size, self.last_used_ns = folder, size, last_used_ns


def entry_folders(directory: str) -> list[str]:
    """The entry folders under the cache ``directory`` (not trash, not temporary)."""
    root = entries_directory(directory)
    try:
        names = sorted(os.listdir(root))
    except OSError:
        return []
    return [os.path.join(root, n) for n in names
            if not n.startswith(".") and os.path.isdir(os.path.join(root, n))]


def usage(directory: str) -> list[EntryUse]:
    """Every entry's size and last use, least recently used first."""
    out = []
    for folder in entry_folders(directory):
        entry = Entry(folder)
        out.append(EntryUse(folder, entry.size(), entry.last_used_ns()))
    out.sort(key=lambda e: (e.last_used_ns, e.folder))
    return out


def enforce(directory: str | None, limit: int, keep=()) -> list[str]:
    """Evict least recently used entries until the rest take at most ``limit``
    bytes; never those in ``keep`` (folders) nor locked ones.  The folders
    evicted; never raises (a folder that cannot be removed is left)."""
    if directory is None:
        return []
    _empty_trash(directory)
    entries = usage(directory)
    total = sum(e.size for e in entries)
    if total <= limit:
        return []
    kept = {os.path.realpath(k) for k in keep}
    evicted = []
    for use in entries:
        if total <= limit:
            break
        if os.path.realpath(use.folder) in kept:
            continue
        removed = remove_entry(use.folder)
        if removed is None:
            continue                     # being written: not ours to remove
        total -= use.size
        if removed:
            evicted.append(use.folder)
    return evicted


def remove_entry(folder: str, force: bool = False) -> bool | None:
    """Remove an entry folder: True if removed, False if it was already gone, None
    if a writer holds its lock (unless ``force``: then removed all the same)."""
    entry = Entry(folder)
    try:
        locked = entry.try_lock(create=False)
    except FileNotFoundError:
        return False
    except OSError:
        locked = False
    if not locked and not force:
        return None
    try:
        trash = os.path.join(os.path.dirname(folder),
                             f"{TRASH_PREFIX}{os.getpid()}-{os.urandom(4).hex()}")
        try:
            os.rename(folder, trash)
        except FileNotFoundError:
            return False
        except OSError:
            return None
    finally:
        entry.unlock()
    shutil.rmtree(trash, ignore_errors=True)
    return True


def _empty_trash(directory: str) -> None:
    """Remove what evictions of processes gone left behind."""
    root = entries_directory(directory)
    try:
        names = os.listdir(root)
    except OSError:
        return
    for name in names:
        if not name.startswith(TRASH_PREFIX):
            continue
        try:
            pid = int(name[len(TRASH_PREFIX):].split("-", 1)[0])
        except ValueError:
            pid = 0
        if pid != os.getpid() and (pid <= 0 or not alive(pid)):
            shutil.rmtree(os.path.join(root, name), ignore_errors=True)
