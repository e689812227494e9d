"""One trace set's cache entry on disk: data files, a manifest, a lock.

Data files (Arrow IPC) are written to temporary names (``.tmp-<pid>-...``)
and renamed into place; the manifest, written last and atomically, lists
every file with its length and CRC-32, and holds a checksum of itself.
So a reader trusts nothing that is not in a manifest, and checks the
files it reads against it first:

- a writer that died half-way left temporary files (removed by the next
  writer once their process is gone) and no new manifest: the old entry,
  or none, stands;
- a flipped byte or a truncated file fails its length or CRC: the entry is
  rebuilt;
- writers take an exclusive ``fcntl`` lock on the entry (without waiting:
  a run that finds it taken just does not store); readers need no lock,
  since files are never changed in place, only replaced;
- an entry evicted or cleared (:mod:`.limit`) is renamed away whole, then
  deleted: a reader finds the manifest and its files, or neither.  A file
  gone under a reader whose manifest changed or went is :class:`EntryGone`,
  a miss; files it already mapped stay readable (Linux keeps an unlinked
  file's pages while they are mapped).

Each use (read or write) stamps the ``last-used`` file's mtime, set
explicitly (atime cannot be relied on: ``noatime`` mounts never update it),
for the least-recently-used eviction.
"""

from __future__ import annotations

import errno
import fcntl
import json
import mmap
import os
import tempfile
import time
import zlib

from ..processes import alive

MANIFEST = "manifest.json"
LOCK = ".lock"
LAST_USED = "last-used"
TEMP_PREFIX = ".tmp-"


class EntryError(Exception):
    """An entry that cannot be trusted (corrupt, truncated, stale) or written."""


class EntryGone(EntryError):
    """The entry was removed or replaced while read (another run evicted, cleared or
    grew it): a miss, not damage; read its manifest again."""


def crc_of(path: str) -> tuple[int, int]:
    """(length, CRC-32) of a file, read in 16 MB chunks."""
    with open(path, "rb") as f:
        return crc_of_file(f)


def crc_of_file(f) -> tuple[int, int]:
    """(length, CRC-32) of an open file from its start, read in 16 MB chunks into one
    buffer."""
    crc, size, at = 0, 0, 0
    buffer = bytearray(1 << 24)
    view = memoryview(buffer)
    while True:
        got = os.preadv(f.fileno(), [view], at)
        if not got:
            return size, crc
        size += got
        at += got
        crc = zlib.crc32(view[:got], crc)


def _body_crc(body: dict) -> int:
    return zlib.crc32(json.dumps(body, sort_keys=True).encode())


class Entry:
    """The folder of one trace set's entry."""

    def __init__(self, folder: str):
        self.folder = folder
        self._lock_fd: int | None = None

    def path(self, name: str) -> str:
        return os.path.join(self.folder, name)

    # -- reading ---------------------------------------------------------------------------
    def manifest(self) -> dict | None:
        """The manifest's body; None if there is none; EntryError if it is corrupt."""
        try:
            with open(self.path(MANIFEST), "rb") as f:
                stored = json.loads(f.read())
        except (FileNotFoundError, NotADirectoryError):
            return None
        except (OSError, ValueError) as exc:
            raise EntryError(f"unreadable manifest: {exc}") from None
        if not isinstance(stored, dict) or "body" not in stored or \
                stored.get("crc") != _body_crc(stored["body"]):
            raise EntryError("manifest checksum mismatch")
        return stored["body"]

    def open_arrow(self, manifest: dict, name: str):
        """An Arrow IPC file of the entry, memory-mapped, after its length and CRC check."""
        import pyarrow as pa
        expected = manifest["files"].get(name)
        if expected is None:
            raise EntryError(f"{name} is not in the manifest")
        try:
            # Checked with reads, then mapped from the same open file: a check through
            # the mapping would map every page of it (a kept model is hundreds of MB;
            # the reader needs the pages it reads).
            with open(self.path(name), "rb") as f:
                if crc_of_file(f) != tuple(expected):
                    raise EntryError(f"{name}: length or checksum mismatch")
                if not expected[0]:
                    raise EntryError(f"{name}: empty")
                data = pa.py_buffer(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ))
            return pa.ipc.open_file(data)
        except FileNotFoundError as exc:
            if self._replaced(manifest):
                raise EntryGone(f"{name}: removed while read") from None
            raise EntryError(f"{name}: {exc}") from None
        except (OSError, pa.ArrowException) as exc:
            raise EntryError(f"{name}: {exc}") from None

    def _replaced(self, manifest: dict) -> bool:
        """Is ``manifest`` no longer the entry's (removed, or a newer one committed)?"""
        try:
            return self.manifest() != manifest
        except EntryError:
            return True

    # -- use ---------------------------------------------------------------------------------
    def touch(self) -> None:
        """Stamp the entry as used now; nothing if it is gone or not writable."""
        now = time.time_ns()
        try:
            fd = os.open(self.path(LAST_USED), os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                os.utime(fd, ns=(now, now))
            finally:
                os.close(fd)
        except OSError:
            pass

    def last_used_ns(self) -> int:
        """When the entry was last used: its stamp, else its manifest's or folder's mtime."""
        for name in (LAST_USED, MANIFEST, ""):
            try:
                return os.stat(self.path(name) if name else self.folder).st_mtime_ns
            except OSError:
                continue
        return 0

    # -- writing ---------------------------------------------------------------------------
    def try_lock(self, create: bool = True) -> bool:
        """Take the entry's write lock if free (creating the folder unless not
        ``create``: then FileNotFoundError if it is gone); False if taken.

        The lock is held on the ``.lock`` file now in the folder: one opened
        before the folder was evicted (renamed away) is not the entry's any more.
        """
        if create:
            os.makedirs(self.folder, mode=0o700, exist_ok=True)
        fd = os.open(self.path(LOCK), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            held, now = os.fstat(fd), os.stat(self.path(LOCK))
        except FileNotFoundError:
            os.close(fd)
            if create:
                return False             # evicted right now: another run's turn
            raise
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                return False
            raise
        if (held.st_dev, held.st_ino) != (now.st_dev, now.st_ino):
            os.close(fd)
            return False
        self._lock_fd = fd
        return True

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)            # closing releases the flock
            self._lock_fd = None

    def temp(self, suffix: str = ".arrow") -> str:
        fd, path = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-", suffix=suffix,
                                    dir=self.folder)
        os.close(fd)
        return path

    def commit(self, body: dict, renames: dict[str, str]) -> None:
        """Rename ``{final name: temp path}`` into place, then write ``body`` as the
        manifest (its ``files`` must list them); remove what it no longer lists.
        Call with the lock held."""
        for final, temp in renames.items():
            os.replace(temp, self.path(final))
        tmp = self.temp(".json")
        # No fsync: after a crash a manifest may name files that never
        # reached the disk, and their lengths and CRCs, checked on every
        # read, then reject the entry.  Syncing would cost the first run a
        # flush of every file written (0.2 s on a 5M-event trace).
        with open(tmp, "w") as f:
            json.dump({"body": body, "crc": _body_crc(body)}, f, sort_keys=True)
        os.replace(tmp, self.path(MANIFEST))
        self.sweep(set(body["files"]))

    def sweep(self, keep: set[str]) -> None:
        """Remove files the manifest does not list, and dead writers' temporary files."""
        for name in os.listdir(self.folder):
            if name in keep or name in (MANIFEST, LOCK, LAST_USED):
                continue
            if name.startswith(TEMP_PREFIX) and _writer_alive(name):
                continue
            try:
                os.unlink(self.path(name))
            except OSError:
                pass

    def discard(self) -> None:
        """Forget the entry (corrupt or stale): its manifest first, then its files."""
        try:
            os.unlink(self.path(MANIFEST))
        except FileNotFoundError:
            pass
        self.sweep(set())

    def size(self) -> int:
        """Bytes of every file in the folder (0 if it is gone)."""
        total = 0
        try:
            names = os.listdir(self.folder)
        except OSError:
            return 0
        for name in names:
            try:
                total += os.stat(self.path(name)).st_size
            except OSError:
                pass
        return total

    def age(self) -> float:
        try:
            return time.time() - os.stat(self.path(MANIFEST)).st_mtime
        except OSError:
            return 0.0


def _writer_alive(name: str) -> bool:
    """Is the process that owns this temporary file still running?"""
    try:
        pid = int(name[len(TEMP_PREFIX):].split("-", 1)[0])
    except ValueError:
        return False
    return pid == os.getpid() or alive(pid)
