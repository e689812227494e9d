"""The caches' seals: only what corr wrote with the user's own key verifies.

A checksum catches damage; it does not catch damage whose checksum was
recomputed (a tool that rewrites a file and fixes its CRC, a crafted
entry).  Each cache (the decode cache's entries, the rule cache's pickles)
keeps a random key in a file of its folder, readable by its user alone,
made by its first write; what it stores is sealed with a keyed BLAKE2b of
it, and nothing that does not verify is parsed (for the rule cache: never
unpickled).  Someone who can read the key can forge an entry, as they can
edit the user's other files: the seal is against damage and tools, not
against the user's own account.

Files here are opened as regular files only (:func:`open_regular`): a FIFO,
device, folder or symlink where a cache file should be is never waited on
nor followed.
"""

from __future__ import annotations

import os
import stat

try:                  # what hashlib.blake2b is, without hashlib's 3 ms of OpenSSL set-up
    from _blake2 import blake2b
except ImportError:   # another Python than CPython
    from hashlib import blake2b

KEY_SIZE = 32
TEMP_PREFIX = ".tmp-"


class NotRegular(OSError):
    """Something other than a regular file where a cache's file should be."""


def open_regular(path: str, flags: int = os.O_RDONLY, mode: int = 0o600) -> int:
    """A descriptor of ``path`` if it is a regular file: never waits (a FIFO), never
    follows a symlink; NotRegular for anything else."""
    fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, mode)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotRegular(f"{os.path.basename(path)}: not a regular file")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_regular(path: str, limit: int) -> bytes:
    """A regular file's bytes, at most ``limit`` + 1 of them; OSError if not one."""
    with os.fdopen(open_regular(path), "rb") as f:
        return f.read(limit + 1)


def remove_any(path: str) -> None:
    """Remove what is at ``path``, a folder included; nothing if it cannot be."""
    try:
        if stat.S_ISDIR(os.lstat(path).st_mode):
            import shutil
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)
    except OSError:
        pass


SEAL_SIZE = 64                   # hex digits


def seal(data: bytes, key: bytes) -> str:
    """The seal of ``data`` (hex): what only a holder of ``key`` can make."""
    return blake2b(data, key=key, digest_size=32).hexdigest()


def verifies(data: bytes, key: bytes | None, mark: str) -> bool:
    """Is ``mark`` the seal of ``data`` under ``key`` (None: no key, nothing verifies)?"""
    import hmac
    return key is not None and mark.isascii() and hmac.compare_digest(mark, seal(data, key))


def read_key(path: str) -> bytes | None:
    """The key kept at ``path``; None if there is none, or not a good one."""
    try:
        key = read_regular(path, KEY_SIZE)
    except OSError:
        return None
    return key if len(key) == KEY_SIZE else None


def make_key(path: str) -> bytes | None:
    """The key kept at ``path``, made now if there is none (or a bad one: what it sealed
    no longer verifies, and is rebuilt); None if it cannot be kept.  Made under a
    temporary name, then linked into place: runs making one at once agree on one."""
    import tempfile
    key = read_key(path)
    if key is not None:
        return key
    try:
        fd, temp = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-",
                                    dir=os.path.dirname(path))
    except OSError:
        return None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(os.urandom(KEY_SIZE))
        try:
            os.link(temp, path)
        except FileExistsError:
            if read_key(path) is None:
                remove_any(path)                   # damaged or planted: replaced
                os.replace(temp, path)
    except OSError:
        return None
    finally:
        remove_any(temp)
    return read_key(path)
