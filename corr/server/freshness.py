"""Whether the code on disk is still the code a server runs.

A Python client finds its server by code key (:func:`address.code_key`), so
it never reaches one running older code.  The native client reaches it
through a link and cannot compute the key, so the server checks before each
command: a stat of every file the key covers and of their folders (a file
added or removed changes its folder's mtime), half a millisecond, against
the key's two (it hashes every path).  Only when a stat moved is the key
computed again: a ``__pycache__`` written, or an editor's swap file, moves a
folder's mtime without changing the code.
"""

from __future__ import annotations

import os

from . import address


class CodeWatch:
    """The stats of the code of ``key``, taken when made; see the module docstring."""

    def __init__(self, key: str, package: str = address.PACKAGE):
        self.key, self.package = key, package
        self._snapshot()

    def _snapshot(self) -> None:
        files, folders = address.code_paths(self.package)
        self.paths = [*files, *folders, *address.package_folders()]
        self.stats = _stats(self.paths)

    def current(self) -> bool:
        """Whether the code on disk still has this server's key."""
        if _stats(self.paths) == self.stats:
            return True
        if address.code_key(self.package) != self.key:
            return False
        self._snapshot()
        return True


def _stats(paths: list[str]) -> list:
    out = []
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            out.append(None)
            continue
        out.append((st.st_size, st.st_mtime_ns))
    return out
