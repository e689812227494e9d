"""Where the decode cache lives, whether it is on, and how large it may grow.

``$XDG_CACHE_HOME/corr`` (``~/.cache/corr``) by default, the same folder
as the rule cache (:mod:`corr.rules.cache`, in its ``rules/`` sub-folder);
trace entries go in its ``traces/`` sub-folder.  ``CORR_CACHE_DIR`` moves
it and ``CORR_NO_CACHE=1`` turns it off, for tests and scripts; the
``cache`` argument of :func:`corr.api.run` (``--cache-dir``,
``--no-cache``) overrides both.

The entries together are kept under a size limit (:mod:`.limit`):
``CORR_CACHE_SIZE`` or ``--cache-size`` (``500M``, ``4G``), or a
:class:`CacheSettings` as the ``cache`` argument; 4 GiB by default.
"""

from __future__ import annotations

import os

from ..text import shown

ENV_DIR = "CORR_CACHE_DIR"
ENV_OFF = "CORR_NO_CACHE"
ENV_SIZE = "CORR_CACHE_SIZE"
ENTRIES = "traces"

# An entry takes 1.5 to 2 times its traces' CTF size (a 5M-event kernel
# trace of 160 MB: about 300 MB).  4 GiB keeps a tuning session's dozen
# such trace sets, or one of 50M events, and is little on a disk today.
DEFAULT_SIZE = 4 << 30

_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
# The largest size: what a signed 64-bit byte count holds (8 EiB); beyond any disk.
MAX_SIZE = (1 << 63) - 1
_SIZE = r"\s*(\d{1,30})(?:\.(\d{1,30}))?\s*(?:([kmgt])(?:i?b)?|b)?\s*"


class CacheWarning(UserWarning):
    """A cache problem: never fatal, the run decodes the trace instead."""


def parse_size(text) -> int:
    """Bytes in ``text``: a number of bytes, or one with K, M, G or T (powers of
    1024, ``B`` or ``iB`` after it optional: ``500M``, ``4G``, ``4GiB``, ``1.5g``).
    A ValueError saying what is expected otherwise, or for less than one byte."""
    if isinstance(text, int) and not isinstance(text, bool):
        value = text
    else:
        import re
        match = re.fullmatch(_SIZE, str(text), re.IGNORECASE)
        if match is None:
            raise ValueError(f"{shown(text)} is not a size (expected bytes, or a number with "
                             "K, M, G or T: 500M, 4G, 4GiB)")
        whole, fraction, unit = match.groups()
        scale = _UNITS[(unit or "").lower()]
        fraction = fraction or ""           # exact: "1.5K" is 1536, whatever floats say
        value = int(whole) * scale + int(fraction or 0) * scale // 10 ** len(fraction)
    if value < 1:
        raise ValueError(f"{shown(text)}: the cache size must be at least one byte "
                         "(--no-cache or CORR_NO_CACHE=1 turn the cache off)")
    if value > MAX_SIZE:
        raise ValueError(f"{shown(text)}: the cache size must be at most 8 EiB ({MAX_SIZE:,} bytes)")
    return value


class CacheSettings:
    """The ``cache`` argument of :func:`corr.api.run` and ``tune`` with a size limit.

    ``directory``: the cache folder; None uses the environment's choice, as
    ``cache=None`` does (``CORR_NO_CACHE`` turns it off), True the default
    folder whatever ``CORR_NO_CACHE`` says, False none.  ``size``: the limit of all its
    entries together, bytes or a string such as ``"500M"``; None takes
    ``CORR_CACHE_SIZE``, else 4 GiB.  A bad size is a UsageError here.
    """

    __slots__ = ("directory", "size")

    def __init__(self, directory: str | os.PathLike | bool | None = None,
                 size: int | str | None = None):
        if size is not None:
            try:
                size = parse_size(size)
            except ValueError as exc:
                from ..errors import UsageError
                raise UsageError(f"cache size: {exc}") from None
        self.directory, self.size = directory, size

    def __eq__(self, other):
        return isinstance(other, CacheSettings) and \
            (self.directory, self.size) == (other.directory, other.size)

    def __hash__(self):
        return hash((self.directory, self.size))

    def __repr__(self) -> str:
        return f"CacheSettings(directory={self.directory!r}, size={self.size!r})"


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
    choice), False (off), True (on, at the default place), a folder, or a
    :class:`CacheSettings` (its ``directory`` as one of these)."""
    if isinstance(cache, CacheSettings):
        cache = cache.directory
    if cache is False:
        return None
    if cache is None or cache is True:
        if cache is None and os.environ.get(ENV_OFF, "") not in ("", "0"):
            return None
        return default_directory()
    return os.path.abspath(os.fspath(cache))


def resolve_size(cache) -> int:
    """The size limit of the cache's entries (bytes): a :class:`CacheSettings`'
    ``size``, else ``CORR_CACHE_SIZE``, else :data:`DEFAULT_SIZE`.  A bad
    ``CORR_CACHE_SIZE`` is a UsageError, as a bad ``--cache-size`` is."""
    if isinstance(cache, CacheSettings) and cache.size is not None:
        return cache.size
    text = os.environ.get(ENV_SIZE, "")
    if not text.strip():
        return DEFAULT_SIZE
    try:
        return parse_size(text)
    except ValueError as exc:
        from ..errors import UsageError
        raise UsageError(f"{ENV_SIZE}: {exc}") from None


def entries_directory(directory: str) -> str:
    return os.path.join(directory, ENTRIES)
