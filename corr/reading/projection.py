"""Which event classes and fields a reader decodes.

Projection is the biggest lever on read speed: an event whose class is not
wanted costs one class-pointer lookup and is skipped, and only the wanted
fields of a wanted class are converted to Python values.
"""

from __future__ import annotations

import fnmatch
import re

ALL = "*"
_GLOB_CHARS = frozenset("*?[")


class Projection:
    """Class globs mapped to the fields wanted from them.

    ``fields`` is ``ALL`` (every payload and context field) or a set of
    names: payload fields by name, context fields as ``ctx.<name>``,
    packet-context fields as ``pkt.<name>``.  Every decoded event always
    carries its timestamp and CPU.
    """

    __slots__ = ("wanted", "everything", "_exact", "_globs", "_memo")

    def __init__(self, wanted: tuple[tuple[str, frozenset[str] | str], ...] = (),
                 everything: bool = False):
        self.wanted = wanted
        self.everything = everything
        self._exact = None       # built on the first fields_for (see _index)
        self._globs = None
        self._memo: dict[str, frozenset[str] | str | None] = {}

    def __repr__(self) -> str:
        return "Projection.all()" if self.everything else f"Projection({dict(self.wanted)!r})"

    @classmethod
    def all(cls) -> "Projection":
        return cls(everything=True)

    @classmethod
    def of(cls, wanted: dict[str, object]) -> "Projection":
        """Build from ``{glob: "*" or iterable of field names}``."""
        items = []
        for glob, fields in wanted.items():
            if fields == ALL:
                items.append((glob, ALL))
            else:
                items.append((glob, frozenset(fields)))
        return cls(wanted=tuple(items))

    def fields_for(self, class_name: str) -> frozenset[str] | str | None:
        """The fields wanted from ``class_name``, or None to skip the class.

        Memoised per name: a dialect's raw projection names each of a
        trace's hundreds of classes, and is asked about each several times.
        """
        if self.everything:
            return ALL
        try:
            return self._memo[class_name]
        except KeyError:
            pass
        if self._exact is None:
            self._index()
        found = self._exact.get(class_name)
        if found != ALL:
            for match, fields in self._globs:
                if match(class_name) is not None:
                    if fields == ALL:
                        found = ALL
                        break
                    found = fields if found is None else found | fields
        self._memo[class_name] = found
        return found

    def _index(self) -> None:
        """Plain names into one dict, globs compiled once.

        Every entry matches the name equal to it; one without ``* ? [``
        matches nothing else (as with ``fnmatchcase``), so most entries never
        become a regex.  Each real glob is compiled as ``fnmatchcase`` does.
        """
        exact: dict[str, frozenset[str] | str] = {}
        globs = []
        for glob, fields in self.wanted:
            fields = ALL if fields == ALL else frozenset(fields)
            exact[glob] = _merge(exact.get(glob), fields)
            if not _GLOB_CHARS.isdisjoint(glob):
                globs.append((re.compile(fnmatch.translate(glob)).match, fields))
        self._exact, self._globs = exact, globs

    def __reduce__(self):
        """Pickled without the index and memo: rebuilt where it is used."""
        return (Projection, (self.wanted, self.everything))

    def union(self, other: "Projection") -> "Projection":
        if self.everything or other.everything:
            return Projection.all()
        return Projection(wanted=self.wanted + other.wanted)


def _merge(a, b):
    if a is None:
        return b
    if a == ALL or b == ALL:
        return ALL
    return a | b
