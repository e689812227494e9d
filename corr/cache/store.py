"""One trace set's cache entry on disk: data files, a manifest, a lock.

Data files (Arrow IPC) are written to temporary names (``.tmp-<pid>-...``)
and renamed into place; the manifest, written last and atomically, lists
every file with its length and CRC-32, and is sealed: a keyed BLAKE2b of it
under a key of the cache's own (``traces.key`` beside the ``traces``
folder, made on the first store, readable by its user alone).  So a
reader trusts nothing that is not in a sealed manifest, and checks the
files it reads against it first:

- a writer that died half-way left temporary files (removed by the next
  writer once their process is gone) and no new manifest: the old entry,
  or none, stands;
- a flipped byte or a truncated file fails its length or CRC: the entry is
  rebuilt; so is one whose checksums were recomputed by anything that does
  not hold the key (its seal fails), and one whose manifest or files do
  not fit what reads them (:mod:`.shape`: a buggy entry);
- only regular files are opened: a FIFO, device, folder or symlink where an
  entry's file should be is damage (opened without waiting, never followed);
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
from . import keys
from .keys import TEMP_PREFIX, remove_any

MANIFEST = "manifest.json"
LOCK = ".lock"
LAST_USED = "last-used"
KEY = "traces.key"               # the seal's key, beside the folder of every entry
MAX_MANIFEST = 64 << 20


class EntryError(Exception):
    """An entry that cannot be trusted (corrupt, truncated, stale) or written."""


class EntryGone(EntryError):
    """The entry was removed or replaced while read (another run evicted, cleared or
    grew it): a miss, not damage; read its manifest again."""


class NotRegular(EntryError, keys.NotRegular):
    """Something other than a regular file where an entry's file should be."""


def open_regular(path: str, flags: int = os.O_RDONLY) -> int:
    """:func:`.keys.open_regular`, its refusal an EntryError too."""
    try:
        return keys.open_regular(path, flags)
    except keys.NotRegular as exc:
        raise NotRegular(str(exc)) from None


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


def seal(body: dict, key: bytes) -> str:
    """The manifest's seal (:mod:`.keys`)."""
    return keys.seal(json.dumps(body, sort_keys=True).encode(), key)


def read_key(folder: str) -> bytes | None:
    """The key of the entries of the cache in ``folder``; None if none or bad."""
    return keys.read_key(os.path.join(folder, KEY))


class Entry:
    """The folder of one trace set's entry."""

    def __init__(self, folder: str):
        self.folder = folder
        self._lock_fd: int | None = None

    def path(self, name: str) -> str:
        return os.path.join(self.folder, name)

    @property
    def keys_folder(self) -> str:
        """Where the seal's key is kept: the cache's folder (the entries' parent's)."""
        return os.path.dirname(os.path.dirname(self.folder))

    # -- reading ---------------------------------------------------------------------------
    def manifest(self) -> dict | None:
        """The manifest's body; None if there is none (or one of a format before
        manifests were sealed: stale); EntryError if it is corrupt, not sealed by
        this cache's key, or not of the shape the readers expect."""
        from .identity import FORMAT
        from .shape import check_manifest
        try:
            fd = open_regular(self.path(MANIFEST))
            with os.fdopen(fd, "rb") as f:
                data = f.read(MAX_MANIFEST + 1)
            if len(data) > MAX_MANIFEST:
                raise EntryError("manifest too large")
            stored = json.loads(data)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except (OSError, ValueError, RecursionError) as exc:
            raise EntryError(f"unreadable manifest: {exc}") from None
        if isinstance(stored, dict) and "body" in stored and "crc" in stored \
                and "seal" not in stored:
            return None                  # format 3 and before: stale, quietly rebuilt
        if not isinstance(stored, dict) or "body" not in stored or \
                not isinstance(stored.get("seal"), str) or not keys.verifies(
                    json.dumps(stored["body"], sort_keys=True).encode(),
                    read_key(self.keys_folder), stored["seal"]):
            raise EntryError("manifest checksum mismatch")
        body = stored["body"]
        if isinstance(body, dict) and isinstance(body.get("identity"), dict) and \
                body["identity"].get("format") != FORMAT:
            return None                  # of another format: stale, quietly rebuilt
        check_manifest(body)
        return body

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
            with os.fdopen(open_regular(self.path(name)), "rb") as f:
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
        except (OSError, ValueError, pa.ArrowException) as exc:
            raise EntryError(f"{name}: {exc}") from None

    def read_table(self, manifest: dict, name: str):
        """A whole Arrow file of the entry, checked (see :meth:`open_arrow`), as a Table
        whose buffers, offsets and strings are valid (read later, a row at a time, bad
        ones would fail mid-run); EntryError if it does not parse."""
        import pyarrow as pa
        reader = self.open_arrow(manifest, name)
        try:
            table = reader.read_all()
            # Full: offsets within their buffers, strings UTF-8.  Only text columns
            # cost anything (measured: 40 ms a million strings).
            table.validate(full=True)
        except (OSError, ValueError, pa.ArrowException) as exc:
            raise EntryError(f"{name}: {exc}") from None
        return table

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
            fd = open_regular(self.path(LAST_USED), os.O_WRONLY | os.O_CREAT)
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
                return os.lstat(self.path(name) if name else self.folder).st_mtime_ns
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
        try:
            fd = open_regular(self.path(LOCK), os.O_RDWR | os.O_CREAT)
        except NotRegular:
            remove_any(self.path(LOCK))             # planted there: never ours
            fd = open_regular(self.path(LOCK), os.O_RDWR | os.O_CREAT)
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
        key = keys.make_key(os.path.join(self.keys_folder, KEY))
        if key is None:
            raise EntryError("the cache's key cannot be kept")
        for final, temp in renames.items():
            if os.path.isdir(self.path(final)) and not os.path.islink(self.path(final)):
                remove_any(self.path(final))        # a folder planted there
            os.replace(temp, self.path(final))
        tmp = self.temp(".json")
        # No fsync: after a crash a manifest may name files that never
        # reached the disk, and their lengths and CRCs, checked on every
        # read, then reject the entry.  Syncing would cost the first run a
        # flush of every file written (0.2 s on a 5M-event trace).
        with open(tmp, "w") as f:
            json.dump({"body": body, "seal": seal(body, key)}, f, sort_keys=True)
        if os.path.isdir(self.path(MANIFEST)) and not os.path.islink(self.path(MANIFEST)):
            remove_any(self.path(MANIFEST))
        os.replace(tmp, self.path(MANIFEST))
        self.sweep(set(body["files"]))

    def sweep(self, keep: set[str]) -> None:
        """Remove files the manifest does not list, and dead writers' temporary files."""
        for name in os.listdir(self.folder):
            if name in keep or name in (MANIFEST, LOCK, LAST_USED):
                continue
            if name.startswith(TEMP_PREFIX) and _writer_alive(name):
                continue
            remove_any(self.path(name))

    def discard(self) -> None:
        """Forget the entry (corrupt or stale): its manifest first, then its files."""
        remove_any(self.path(MANIFEST))
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
                total += os.lstat(self.path(name)).st_size
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
