"""Every class name a projection may ask of a trace set, for comparing projections.

Projections are globs, so "does this entry hold what that run needs" is
answered over the names the normaliser can produce for these traces:
every raw class name and every canonical name it may become.
"""

from __future__ import annotations

from ..normalise import dialects


def class_names(traceset) -> list[str]:
    names: set[str] = set()
    for trace in traceset.traces:
        dialect = dialects.detect(trace.env, trace.class_names)
        for raw in trace.class_names:
            names.add(raw)
            names.update(dialects.possible_names(dialect, raw))
    return sorted(names)


def asks_raw_names(traceset, projection) -> bool:
    """Could the normaliser name some events by their raw class, as asked?

    That happens when a projection names a raw class and not every
    canonical name of it: the same events may then come out under either
    name depending on the projection, so such runs are not cached.
    """
    if projection.everything:
        return False
    for trace in traceset.traces:
        dialect = dialects.detect(trace.env, trace.class_names)
        for raw in trace.class_names:
            canonical = dialects.possible_names(dialect, raw)
            if raw in canonical or projection.fields_for(raw) is None:
                continue
            if any(projection.fields_for(name) is None for name in canonical):
                return True
    return False
