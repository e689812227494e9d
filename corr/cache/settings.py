"""Where the decode cache lives, and whether it is on.

``$XDG_CACHE_HOME/corr`` (``~/.cache/corr``) by default, the same folder
as the rule cache (:mod:`corr.rules.cache`, in its ``rules/`` sub-folder);
trace entries go in its ``traces/`` sub-folder.  ``CORR_CACHE_DIR`` moves
it and ``CORR_NO_CACHE=1`` turns it off, for tests and scripts; the
``cache`` argument of :func:`corr.api.run` (``--cache-dir``,
``--no-cache``) overrides both.
"""

from __future__ import annotations

import os

ENV_DIR = "CORR_CACHE_DIR"
ENV_OFF = "CORR_NO_CACHE"
ENTRIES = "traces"


class CacheWarning(UserWarning):
    """A cache problem: never fatal, the run decodes the trace instead."""


def xdg_cache_home() -> str | None:
    """``$XDG_CACHE_HOME``, else ``~/.cache``; None without a home for it."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    if os.path.isabs(base):
        return base
    home = os.path.expanduser("~")             # unset or relative: the spec's default
    return os.path.join(home, ".cache") if os.path.isabs(home) else None


def default_directory() -> str | None:
    """The cache folder from the environment, or None without a home for it."""
    chosen = os.environ.get(ENV_DIR, "")
    if chosen:
        return os.path.abspath(chosen)
    base = xdg_cache_home()
    return None if base is None else os.path.join(base, "corr")


def resolve(cache) -> str | None:
    """The cache folder a run uses: ``cache`` is None (the environment's
    choice), False (off), True (on, at the default place) or a folder."""
    if cache is False:
        return None
    if cache is None or cache is True:
        if cache is None and os.environ.get(ENV_OFF, "") not in ("", "0"):
            return None
        return default_directory()
    return os.path.abspath(os.fspath(cache))


def entries_directory(directory: str) -> str:
    return os.path.join(directory, ENTRIES)
