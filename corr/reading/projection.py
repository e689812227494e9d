"""Which event classes and fields a reader decodes.

Projection is the biggest lever on read speed: an event whose class is not
wanted costs one class-pointer lookup and is skipped, and only the wanted
fields of a wanted class are converted to Python values.
"""

from __future__ import annotations

import fnmatch

ALL = "*"


class Projection:
    """Class globs mapped to the fields wanted from them.

    ``fields`` is ``ALL`` (every payload and context field) or a set of
    names: payload fields by name, context fields as ``ctx.<name>``,
    packet-context fields as ``pkt.<name>``.  Every decoded event always
    carries its timestamp and CPU.
    """

    __slots__ = ("wanted", "everything")

    def __init__(self, wanted: tuple[tuple[str, frozenset[str] | str], ...] = (),
                 everything: bool = False):
        self.wanted = wanted
        self.everything = everything

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
        """The fields wanted from ``class_name``, or None to skip the class."""
        if self.everything:
            return ALL
        found: set[str] | None = None
        for glob, fields in self.wanted:
            if glob == class_name or fnmatch.fnmatchcase(class_name, glob):
                if fields == ALL:
                    return ALL
                found = set(fields) if found is None else found | fields
        return None if found is None else frozenset(found)

    def union(self, other: "Projection") -> "Projection":
        if self.everything or other.everything:
            return Projection.all()
        return Projection(wanted=self.wanted + other.wanted)

