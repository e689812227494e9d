"""Trace strings as text: bytes that were not UTF-8 shown as ``\\xNN``.

The readers (``corr.reading``) decode a trace's strings with this, and the
renderers (``corr.render.escape``) build each output's escaping on it, so
that every stage shows such bytes alike (``\\xff``) without the readers
depending on the renderers.
"""

from __future__ import annotations

import re

# Python's surrogateescape keeps a byte 0x80-0xff that is not UTF-8 as U+DC80-U+DCFF.
SURROGATES = re.compile("[\ud800-\udfff]")
_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escaped(match: re.Match) -> str:
    """One matched character as an escape: ``\\n``, ``\\xNN`` (a byte that was not
    UTF-8, or a character below U+0100), else ``\\uNNNN``."""
    c = match.group()
    short = _SHORT.get(c)
    if short is not None:
        return short
    n = ord(c)
    if 0xdc80 <= n <= 0xdcff:                 # a byte that was not UTF-8
        return f"\\x{n - 0xdc00:02x}"
    return f"\\x{n:02x}" if n < 0x100 else f"\\u{n:04x}"


def undecoded(text: str) -> str:
    """``text`` with bytes that were not UTF-8 (surrogate escapes) as ``\\xNN``."""
    if text.isascii():
        return text
    return SURROGATES.sub(escaped, text)


def group_label(value) -> str:
    """A group as one line: a ``group_by`` of several parts (a list in JSON) as its
    parts joined by `` / ``, an absent part as ``(none)`` and an empty string as
    ``(empty)`` (``(empty) / quicksort``); a single value as ``str`` writes it, an
    absent one as ``(none)`` too.  Not escaped: each output escapes it its own way."""
    if isinstance(value, (list, tuple)):
        return " / ".join(_group_part(v) for v in value)
    return "(none)" if value is None else str(value)


def _group_part(value) -> str:
    if value is None:
        return "(none)"
    if value == "":
        return "(empty)"
    return group_label(value)


def shown(value, limit: int = 60) -> str:
    """``repr(value)`` for a message, cut short when long (a rule's value, an option's)."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."
