"""Where the resident server listens, and whether it may be trusted.

The socket lives in a folder only this user can enter
(``$XDG_RUNTIME_DIR/corr``, else ``/tmp/corr-UID``), and its name carries
a key of the code that would answer: corr's own files (sizes and mtimes),
the Python executable and version, and the package folders on ``sys.path``
(whose mtimes change when a package is installed, upgraded or removed).  A client
whose code differs therefore never reaches a server running older code: it
looks for a socket of another name.

Imported by the client on every ``corr`` command: standard library only,
stats only.
"""

from __future__ import annotations

import os
import stat
import sys
import zlib

PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def mode() -> str:
    """``auto`` (use a running server, start one after a run) or ``off`` (``CORR_SERVER``)."""
    value = os.environ.get("CORR_SERVER", "auto").strip().lower()
    return "off" if value in ("off", "0", "no", "false") else "auto"


def runtime_folder() -> str:
    """The per-user folder of the sockets (not created here)."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    if base and os.path.isabs(base):
        return os.path.join(base, "corr")
    return os.path.join("/tmp", f"corr-{os.getuid()}")


def private_folder(create: bool) -> str | None:
    """The runtime folder if it is ours and closed to others, else None.

    With ``create`` a missing folder is made (mode 0700).  A folder owned
    by another user, reachable by others or a symbolic link is refused: a
    socket there could be someone else's.
    """
    folder = runtime_folder()
    if create:
        try:
            os.makedirs(os.path.dirname(folder), exist_ok=True)
            os.mkdir(folder, 0o700)
        except FileExistsError:
            pass
        except OSError:
            return None
    try:
        st = os.lstat(folder)
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        return None
    return folder


def code_key(package: str = PACKAGE) -> str:
    """A short hash of the code a server would run (see the module docstring)."""
    parts = [sys.executable, sys.version, os.path.realpath(package)]
    files, _ = code_paths(package)
    for path in files:
        st = os.stat(path)
        parts.append(f"{os.path.relpath(path, package)}:{st.st_size}:{st.st_mtime_ns}")
    for entry in package_folders():
        try:
            parts.append(f"{entry}:{os.stat(entry or '.').st_mtime_ns}")
        except OSError:
            parts.append(entry)
    return f"{zlib.crc32(chr(10).join(parts).encode()):08x}"


def code_paths(package: str = PACKAGE) -> tuple[list[str], list[str]]:
    """corr's ``.py`` and ``.so`` files, and the folders that hold them."""
    files, folders = [], []
    for root, dirs, names in os.walk(package):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        folders.append(root)
        files += [os.path.join(root, n) for n in sorted(names) if n.endswith((".py", ".so"))]
    return files, folders


def package_folders() -> list[str]:
    """The package folders on ``sys.path``: their mtimes change when a package is installed."""
    return [entry for entry in sys.path          # not the script's folder or the working directory
            if entry.endswith(("site-packages", "dist-packages"))]


def socket_path(folder: str, key: str) -> str:
    return os.path.join(folder, f"server-{key}.sock")


def pid_path(folder: str, key: str) -> str:
    return os.path.join(folder, f"server-{key}.pid")


def lock_path(folder: str, key: str) -> str:
    """Held (flock) by the server of ``key`` for its whole life."""
    return os.path.join(folder, f"server-{key}.lock")


def client_link(folder: str, path: str | None) -> str | None:
    """``path`` if it names a native client's link in ``folder``, else None.

    The native client (scripts/corr_native.c) reaches its server through
    ``client-<crc32 of its executable's path>.sock``, a symbolic link to
    ``server-<key>.sock`` that the Python launcher points (it alone knows
    the key); it names the link in ``CORR_CLIENT_LINK``.
    """
    if not path or os.path.dirname(path) != folder:
        return None
    name = os.path.basename(path)
    return path if name.startswith("client-") and name.endswith(".sock") else None


def point_link(link: str, key: str) -> None:
    """Point a native client's link at the server of ``key`` (which may not run yet)."""
    target = os.path.basename(socket_path(os.path.dirname(link), key))
    try:
        if os.readlink(link) == target:
            return
    except OSError:
        pass
    tmp = f"{link}.{os.getpid()}.tmp"
    try:
        os.symlink(target, tmp)
        os.replace(tmp, link)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def wants_path(folder: str, key: str) -> str:
    """Where commands name the modules the server should import (daemon.ON_DEMAND)."""
    return os.path.join(folder, f"server-{key}.wants")
