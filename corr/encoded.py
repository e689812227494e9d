"""Values of a result row already written as JSON.

An interval's breakdown and critical path can be long (tens of parts,
tens of path segments); a renderer that writes JSON asks for them as JSON
made in C (``RuleResult.iter_intervals(encoded=True)``), not as dicts it
would only encode again.  Its own module, so that the JSON renderers know
it without importing the analyses.
"""

from __future__ import annotations


class EncodedJSON:
    """A value already written as JSON (``Explained.encoded``); the JSON
    renderers' encoder writes ``data`` as it is."""

    __slots__ = ("data",)

    def __init__(self, data: bytes):
        self.data = data

    def __repr__(self) -> str:
        return f"EncodedJSON({self.data[:40]!r}...)"
