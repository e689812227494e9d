"""corr's public library API: everything the command line does, callable.

    import corr
    import corr.api
    run = corr.api.run("rules/offcpu.yaml", ["trace/"])
    corr.api.write(run, "offcpu.parquet")          # as corr run -o offcpu.parquet
    corr.api.write(run, "jsonl", stream=f)         # as corr run --format jsonl

    result = corr.inspect(["trace/"])
    print(result.events, result.to_dict()["event_classes"][:3])

    for batch in corr.events(["trace/"], {"sched_switch": "*"}):
        for ts, name, cpu, fields in batch.events():
            ...
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .analyses.inspection import Inspection, Progress
    from .engine.filters import ThreadFilter
    from .reading import EventBatch, Projection, TraceSet

# Each function imports what it uses: a command pays only for its own path
# (``corr run`` never loads the inspection, ``corr check`` without traces no reader).

PathLike = str | os.PathLike


def __getattr__(name):
    """``ThreadFilter`` (:mod:`corr.engine.filters`), imported when first asked for."""
    if name == "ThreadFilter":
        from .engine.filters import ThreadFilter
        return ThreadFilter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def inspect(paths: Iterable[PathLike] | PathLike, clock_offsets: dict[str, int] | None = None,
            progress: Progress | None = None, reader: str = "auto") -> Inspection:
    """What the traces hold: dialects, clocks, time range, classes and counts, losses.

    A trace that fails part-way gives an Inspection whose ``stopped`` says
    where and why, with everything decoded before it.
    """
    from .analyses.inspection import inspect_traces
    from .reading import open_traces
    return inspect_traces(open_traces(paths, clock_offsets), progress=progress, reader=reader)


def events(paths: Iterable[PathLike] | PathLike | TraceSet,
           projection: Projection | dict | None = None,
           clock_offsets: dict[str, int] | None = None, reader: str = "auto",
           batch_size: int | None = None) -> Iterator[EventBatch]:
    """Canonical, time-ordered event batches of the projected classes and fields."""
    from .normalise import Canonical
    from .reading import Projection, TraceSet, open_traces
    traceset = paths if isinstance(paths, TraceSet) else open_traces(paths, clock_offsets)
    if isinstance(projection, dict):
        projection = Projection.of(projection)
    kwargs = {"reader": reader}
    if batch_size:
        kwargs["batch_size"] = batch_size
    return Canonical(traceset, projection, **kwargs).batches()


def run(rules, traces, overrides: Iterable[str] = (), clock_offsets: dict[str, int] | None = None,
        progress: Progress | None = None, reader: str = "auto", blame_limit: int | None = None,
        cache=None, filter: ThreadFilter | None = None, symbols: Iterable = ()):
    """Pair every rule's entries and exits over the traces: a :class:`RunResult`.

    ``rules`` is a rule file path or a loaded :class:`~corr.rules.model.RuleSet`;
    ``overrides`` are ``RULE.threshold=VALUE`` / ``RULE.timeout=VALUE`` strings.
    Rules with ``blame:`` get every slow interval explained, or only
    their ``blame_limit`` slowest (default 0: all).
    A trace that fails part-way gives a result whose ``stopped`` says where.
    ``cache``: the decode cache folder, or False for none; None (default)
    uses ``CORR_CACHE_DIR`` / ``$XDG_CACHE_HOME/corr`` unless ``CORR_NO_CACHE``
    is set.  Results are the same with or without it; a cache problem is a
    :class:`~corr.cache.CacheWarning`, never an error.
    ``filter``: a :class:`ThreadFilter` (pids, tids, comm globs): only the
    intervals whose explained thread (the rule's ``blame:`` thread, else the
    entry's) it keeps are reported, and every statistic and analysis is
    computed over them; the result's ``warnings`` say how many were kept.
    ``symbols``: symbol files (kallsyms or perf map format) naming the frames of
    rules with ``stacks: true``, besides what is found beside the traces
    (docs/stacks.md).
    """
    from .reading import TraceSet, open_traces
    from .rules import apply_overrides, load_rules
    from .rules.model import RuleSet

    ruleset = rules if isinstance(rules, RuleSet) else load_rules(rules)
    apply_overrides(ruleset, list(overrides))
    traceset = traces if isinstance(traces, TraceSet) else open_traces(traces, clock_offsets)
    from .pipeline import run_rules
    return run_rules(traceset, ruleset, progress, blame_limit=blame_limit, cache=cache,
                     reader=reader, thread_filter=_thread_filter(filter),
                     symbol_files=tuple(symbols))


def tune(rules, traces, overrides: Iterable[str] = (),
         clock_offsets: dict[str, int] | None = None, progress: Progress | None = None,
         reader: str = "auto", cache=None, filter: ThreadFilter | None = None):
    """Each rule's sorted durations, for trying thresholds: a :class:`TuningSession`.

    One pass like :func:`run`, without the scheduling join (a threshold
    needs durations, not their causes).  ``overrides`` as for :func:`run`;
    the session remembers the file's own values, so that
    :meth:`TuningSession.write` saves what changed.  ``cache`` as for
    :func:`run`: a second session over the same traces neither decodes nor
    matches again.  ``filter`` as for :func:`run`: the distributions are those
    of the matching threads' intervals.
    """
    from .analyses.tuning import TuningSession
    from .pipeline import run_rules
    from .reading import TraceSet, open_traces
    from .rules import apply_overrides, load_rules
    from .rules.model import RuleSet

    ruleset = rules if isinstance(rules, RuleSet) else load_rules(rules)
    file_values = {rule.name: {"threshold": rule.threshold_ns, "timeout": rule.timeout_ns}
                   for rule in ruleset.rules}
    apply_overrides(ruleset, list(overrides))
    traceset = traces if isinstance(traces, TraceSet) else open_traces(traces, clock_offsets)
    result = run_rules(traceset, ruleset, progress, explain=False, cache=cache, reader=reader,
                       thread_filter=_thread_filter(filter))
    return TuningSession(ruleset, result, file_values)


def write(result, path_or_format: PathLike, *, format: str | None = None, stream=None,
          **options) -> str:
    """Write a :class:`RunResult` in one of ``corr run``'s output formats.

    ``path_or_format`` is a format's name (``"json"``, ``"jsonl"``, ``"folded"``...),
    written to ``stream`` (a text or binary stream; default stdout), or a file
    path, its format from its extension as ``corr run -o`` tells it (or ``format``).
    A file is replaced whole once written: a failure part-way leaves whatever
    was there before.  ``options`` are ``corr run``'s: ``top`` (text, HTML),
    ``all_intervals`` (JSON, JSON Lines, Chrome trace), ``all_edges`` (DOT),
    ``wakers`` (folded: the waker's stack after each code stack).
    Returns what was written, as ``corr run`` says it ("JSON", "4,043 intervals").
    A format that needs ``blame:`` on rules without it, or one that writes only
    files given no path, raises :class:`~corr.errors.UsageError`.
    """
    from .render import formats, output
    opts = output.Options.of(**options)
    if format is None and isinstance(path_or_format, str) and path_or_format in formats.REGISTRY:
        return output.write(result, path_or_format, stream=stream, options=opts)
    if stream is not None:
        raise TypeError("stream: only with a format's name (a path is written to its file)")
    path = os.fspath(path_or_format)
    return output.write(result, format or formats.from_path(path), path=path, options=opts)


def _thread_filter(value) -> ThreadFilter | None:
    """``filter=`` of run() and tune(): a ThreadFilter, or None."""
    if value is None:
        return None
    from .engine.filters import ThreadFilter
    if not isinstance(value, ThreadFilter):
        raise TypeError(f"filter: expected a corr.api.ThreadFilter, not {type(value).__name__}")
    return value


def check(rules, traces: Iterable[PathLike] = (), clock_offsets: dict[str, int] | None = None):
    """Validate a rule file; with traces, also that its events and fields exist.

    Returns ``(ruleset, warnings)``; a mistake in the file raises RuleError.
    """
    from .engine.checks import check_against_traces
    from .reading import open_traces
    from .rules import load_rules

    ruleset = load_rules(rules)
    traces = list(traces)
    if not traces:
        return ruleset, []
    return ruleset, check_against_traces(ruleset, open_traces(traces, clock_offsets))
