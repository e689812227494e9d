"""corr's public library API: everything the command line does, callable.

    import corr
    result = corr.run("rules/offcpu.yaml", ["trace/"], overrides={"offcpu.threshold": "5ms"})
    table = result.intervals("offcpu")             # a pyarrow Table, an interval a row
    for interval in result.interval_objects("offcpu", top=3):
        print(interval.duration_ns, interval.comm, interval.breakdown)
    corr.write(result, "offcpu.parquet")           # as corr run -o offcpu.parquet
    corr.write(result, "jsonl", stream=f)          # as corr run --format jsonl

    corr.run(rules, traces, on_interval=print)     # each slow interval as it is decided

    result = corr.inspect(["trace/"])
    print(result.events, result.to_dict()["event_classes"][:3])

    for batch in corr.events(["trace/"], {"sched_switch": "*"}):
        for ts, name, cpu, fields in batch.events():
            ...

docs/library.md says what a callback sees and when, and what the errors are.
Inputs are never changed: a RuleSet given is copied before ``overrides``
apply.  Errors speak of these functions' arguments (``overrides: ...``).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import IO, TYPE_CHECKING, Any, Union

from .lazy import lazy_exports

if TYPE_CHECKING:
    from .analyses.inspection import Inspection, Progress
    from .analyses.tuning import TuningSession
    from .engine.filters import ThreadFilter
    from .engine.interval import Interval
    from .engine.result import RunResult
    from .reading import EventBatch, Projection, TraceSet
    from .record.session import Recording
    from .rules.model import RuleSet

# Each function imports what it uses: a command pays only for its own path
# (``corr run`` never loads the inspection, ``corr check`` without traces no reader).
# The names the annotations use are put in this module's namespace by
# resolve_annotations(): ``import corr`` then ``corr.run`` does it (so that
# ``typing.get_type_hints`` works).

PathLike = Union[str, "os.PathLike[str]"]
Overrides = Union[Iterable[str], Mapping[str, "str | int"]]

_ANNOTATION_NAMES = {
    "Inspection": "corr.analyses.inspection", "Progress": "corr.analyses.inspection",
    "TuningSession": "corr.analyses.tuning", "ThreadFilter": "corr.engine.filters",
    "Interval": "corr.engine.interval", "RunResult": "corr.engine.result",
    "EventBatch": "corr.reading", "Projection": "corr.reading", "TraceSet": "corr.reading",
    "RuleSet": "corr.rules.model", "Recording": "corr.record.session",
}


def is_live(trace: object) -> bool:
    """Whether a trace argument names an LTTng live session (``net://HOST[:PORT]/host/
    HOSTNAME/SESSION``, read through lttng-relayd) rather than a trace folder:
    :func:`run` and :func:`stream` read it as it is recorded (docs/live.md)."""
    from .reading.live import is_live as live
    return live(trace)


def resolve_annotations() -> None:
    """Import the types this module's annotations name (``typing.get_type_hints``
    needs them; the command line, which imports this module for every command,
    does not)."""
    names = globals()
    for name, module in _ANNOTATION_NAMES.items():
        if name not in names:
            names[name] = getattr(importlib.import_module(module), name)


# ``ThreadFilter`` and the annotations' types, imported when first asked for.
__getattr__, _ = lazy_exports(__name__, _ANNOTATION_NAMES)


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
           projection: Projection | dict[str, Any] | None = None,
           clock_offsets: dict[str, int] | None = None, reader: str = "auto",
           batch_size: int | None = None) -> Iterator[EventBatch]:
    """Canonical, time-ordered event batches of the projected classes and fields."""
    from .normalise import Canonical
    from .reading import Projection, TraceSet, open_traces
    traceset = paths if isinstance(paths, TraceSet) else open_traces(paths, clock_offsets)
    if isinstance(projection, dict):
        projection = Projection.of(projection)
    if batch_size:
        return Canonical(traceset, projection, batch_size, reader=reader).batches()
    return Canonical(traceset, projection, reader=reader).batches()


def run(rules: PathLike | RuleSet, traces: Iterable[PathLike] | PathLike | TraceSet,
        overrides: Overrides = (), clock_offsets: dict[str, int] | None = None,
        progress: Progress | None = None, reader: str = "auto", blame_limit: int | None = None,
        cache: PathLike | bool | None = None, filter: ThreadFilter | None = None, *,
        symbols: Iterable[PathLike] = (),
        stacks: bool = False,
        on_interval: Callable[[Interval], object] | None = None,
        on_timeout: Callable[[Interval], object] | None = None) -> RunResult:
    """Pair every rule's entries and exits over the traces: a :class:`RunResult`.

    ``rules`` is a rule file path or a loaded :class:`~corr.rules.model.RuleSet`
    (never changed: the overrides apply to a copy).  ``overrides``: strings
    ``"RULE.threshold=VALUE"`` / ``"RULE.timeout=VALUE"``, or a mapping
    ``{"RULE.threshold": VALUE}`` (VALUE a duration's text, ``"5ms"``, or an int of
    nanoseconds); a bad one raises :class:`~corr.errors.OverrideError` naming
    ``overrides``.
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
    ``stacks``: code stacks for every rule with ``blame:``, as ``stacks: true`` asks,
    when a trace records call chains (what the folded output implies; a rule
    with ``stacks: true`` has them whatever this says; docs/stacks.md).
    ``symbols``: symbol files (kallsyms or perf map format) naming the frames of
    rules with ``stacks: true``, besides what is found beside the traces
    (docs/stacks.md).

    ``on_interval(interval)`` is called during the pass for each interval over
    its rule's threshold (every interval of a rule without one) as soon as the
    pass decides it: a complete or late one at its exit, an incomplete one at
    the end of the trace.  ``on_timeout(interval)`` is called at entry +
    timeout (trace time) for each entry still open then, with a ``"timeout"``
    interval; when its exit comes later, ``on_interval`` has the ``"late"`` one
    after.  Calls come in the trace-time order of the decisions across all
    rules (ties: timeouts first, then the rules' order).  An interval a callback
    sees is explained as the result explains it (``breakdown``, ``critical_path``:
    rules with ``blame:``, complete and late intervals), from the scheduling events
    read by then; its ``lossy`` is False (losses are marked at the end; the
    returned result has them).  A callback
    that raises stops the run: its exception reaches the caller with a
    ``partial`` attribute, a RunResult of the intervals decided until then
    (unexplained; ``stopped`` names the exception); the decode workers are
    stopped.  Callbacks are not taken with ``filter`` (which is decided after
    the pass).  docs/library.md has the details.

    ``traces`` may be a live session's URL, ``net://HOST[:PORT]/host/HOSTNAME/SESSION``
    (read alone, through lttng-relayd): the callbacks are called as the session
    decides, a timeout when the session's clock passes its deadline although no
    event came; the pass ends when the session is destroyed, or on SIGINT
    (docs/live.md).
    """
    from .reading import TraceSet, open_traces

    callbacks = on_interval is not None or on_timeout is not None
    for name, callback in (("on_interval", on_interval), ("on_timeout", on_timeout)):
        if callback is not None and not callable(callback):
            raise TypeError(f"{name}: expected a callable, not {type(callback).__name__}")
    if callbacks and filter is not None:
        from .errors import UsageError
        raise UsageError("on_interval, on_timeout: not with filter= (a thread filter is "
                         "applied after the pass; filter in the callback instead)")
    ruleset = _ruleset(rules, overrides)
    traceset = traces if isinstance(traces, TraceSet) else open_traces(traces, clock_offsets)
    if stacks:
        ruleset = _with_stacks(ruleset, traceset)
    from .pipeline import run_rules
    return run_rules(traceset, ruleset, progress, blame_limit=blame_limit, cache=cache,
                     reader=reader, thread_filter=_thread_filter(filter),
                     on_interval=on_interval, on_timeout=on_timeout,
                     symbol_files=tuple(symbols))


class IntervalStream(Iterator["Interval"]):
    """The intervals of :func:`stream`, as the pass decides them; ``stopped``: after
    the last one, the :class:`~corr.errors.TraceDecodeError` of a trace that stopped
    decoding part-way (what was decoded before it was streamed), else None."""

    def __init__(self, intervals: Iterator[Interval]):
        self._intervals = intervals
        self.stopped: Exception | None = None

    def __iter__(self) -> IntervalStream:
        return self

    def __next__(self) -> Interval:
        try:
            return next(self._intervals)
        except StopIteration as end:
            self.stopped = end.value
            raise StopIteration from None

    def close(self) -> None:
        """Stop the pass early (its decode workers too); iterating again ends at once."""
        close = getattr(self._intervals, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> IntervalStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def stream(rules: PathLike | RuleSet, traces: Iterable[PathLike] | PathLike | TraceSet,
           overrides: Overrides = (), clock_offsets: dict[str, int] | None = None,
           reader: str = "auto", cache: PathLike | bool | None = None, *,
           timeouts: bool = False, progress: Progress | None = None,
           explain: bool = True) -> IntervalStream:
    """The intervals :func:`run` would hand ``on_interval``, as an iterator: each
    over its rule's threshold once the pass decides it, in the same order (see
    docs/library.md), without a result at the end.

    Each is explained as :func:`run`'s callbacks have it (rules with ``blame:``), unless
    ``explain`` is False (no scheduling events are kept then: faster, as the making
    of each explanation's objects is most of a stream's time);
    with ``timeouts``, the ``timeout`` intervals at their deadlines come too, as
    ``on_timeout`` has them; ``lossy`` is False.  Memory is bounded by what is
    open: a batch's decisions are handed out and forgotten, and the scheduling
    events kept are those the entries still waiting may need (docs/library.md).
    Use it in a ``with`` block, or ``close()`` it, to stop early: the pass and its
    decode workers stop.  ``rules``, ``overrides``, ``cache``, ``reader`` as for
    :func:`run`; errors in the arguments are raised here, not at the first item.
    ``traces`` may be a live session's URL, as for :func:`run`: this call waits for
    its first stream, and the items come as the session decides them.
    """
    from .pipeline import stream_rules
    from .reading import TraceSet, open_traces
    ruleset = _ruleset(rules, overrides)
    traceset = traces if isinstance(traces, TraceSet) else open_traces(traces, clock_offsets)
    return IntervalStream(stream_rules(traceset, ruleset, cache=cache, reader=reader,
                                       timeouts=timeouts, progress=progress, explain=explain))


def tune(rules: PathLike | RuleSet, traces: Iterable[PathLike] | PathLike | TraceSet,
         overrides: Overrides = (), clock_offsets: dict[str, int] | None = None,
         progress: Progress | None = None, reader: str = "auto",
         cache: PathLike | bool | None = None,
         filter: ThreadFilter | None = None) -> TuningSession:
    """Each rule's sorted durations, for trying thresholds: a :class:`TuningSession`.

    One pass like :func:`run`, without the scheduling join (a threshold
    needs durations, not their causes).  ``overrides`` as for :func:`run`
    (applied to a copy of ``rules``); the session remembers the file's own
    values, so that :meth:`TuningSession.write` saves what changed.  ``cache`` as for
    :func:`run`: a second session over the same traces neither decodes nor
    matches again.  ``filter`` as for :func:`run`: the distributions are those
    of the matching threads' intervals.
    """
    from .analyses.tuning import TuningSession
    from .pipeline import run_rules
    from .reading import TraceSet, open_traces
    from .rules import load_rules
    from .rules.model import RuleSet

    given = rules if isinstance(rules, RuleSet) else load_rules(rules)
    file_values = {rule.name: rule.overridable_values() for rule in given.rules}
    ruleset = _ruleset(given, overrides)
    traceset = traces if isinstance(traces, TraceSet) else open_traces(traces, clock_offsets)
    result = run_rules(traceset, ruleset, progress, explain=False, cache=cache, reader=reader,
                       thread_filter=_thread_filter(filter))
    return TuningSession(ruleset, result, file_values)


def _with_stacks(ruleset: RuleSet, traceset: TraceSet) -> RuleSet:
    """``ruleset`` with ``stacks: true`` on its rules with ``blame:``, when a trace of
    ``traceset`` records call chains (else as it is: stacks of traces without chains
    are the thread alone, and the folded output keeps its thread-chain lines)."""
    import dataclasses
    from .reading.metadata import metadata_text
    from .sched.events import metadata_records_stacks
    if not any(metadata_records_stacks(metadata_text(os.fspath(t.path)))
               for t in traceset.traces if os.path.isdir(t.path)):
        return ruleset
    rules = [dataclasses.replace(r, stacks=True) if r.blame and not r.stacks else r
             for r in ruleset.rules]
    return dataclasses.replace(ruleset, rules=rules)


def _ruleset(rules: PathLike | RuleSet, overrides: Overrides) -> RuleSet:
    """The rule set to run: ``rules`` loaded, or a copy of the one given, with
    ``overrides`` applied (the caller's is never changed)."""
    from .rules import apply_overrides, load_rules
    from .rules.model import RuleSet

    if isinstance(rules, RuleSet):
        ruleset = rules.copy()
    elif isinstance(rules, (str, os.PathLike)):
        ruleset = load_rules(rules)
    else:
        raise TypeError(f"rules: expected a rule file's path or a RuleSet, not "
                        f"{type(rules).__name__}")
    assignments = override_assignments(overrides)
    if assignments:
        if not isinstance(rules, RuleSet):
            ruleset = ruleset.copy()        # a loaded set may be shared (corr.rules.cache)
        apply_overrides(ruleset, assignments, argument="overrides:")
    return ruleset


def override_assignments(overrides: Overrides) -> list[str]:
    """``overrides`` (strings, or a mapping ``{"RULE.attribute": value}``) as the
    ``RULE.attribute=VALUE`` strings :func:`corr.rules.apply_overrides` reads;
    an int value is nanoseconds."""
    if isinstance(overrides, str):
        raise TypeError("overrides: expected a list of 'RULE.threshold=VALUE' strings or a "
                        "mapping, not one string")
    if isinstance(overrides, Mapping):
        out = []
        for target, value in overrides.items():
            if isinstance(value, bool) or not isinstance(value, (str, int)):
                raise TypeError(f"overrides[{target!r}]: expected a duration's text or an int "
                                f"of nanoseconds, not {type(value).__name__}")
            out.append(f"{target}={value}ns" if isinstance(value, int) else f"{target}={value}")
        return out
    out = list(overrides)
    for item in out:
        if not isinstance(item, str):
            raise TypeError(f"overrides: expected 'RULE.threshold=VALUE' strings, not "
                            f"{type(item).__name__}")
    return out


def write(result: RunResult, path_or_format: PathLike, *, format: str | None = None,
          stream: IO[Any] | None = None, **options: Any) -> str:
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


def _thread_filter(value: object) -> ThreadFilter | None:
    """``filter=`` of run() and tune(): a ThreadFilter, or None."""
    if value is None:
        return None
    from .engine.filters import ThreadFilter
    if not isinstance(value, ThreadFilter):
        raise TypeError(f"filter: expected a corr.api.ThreadFilter, not {type(value).__name__}")
    return value


def check(rules: PathLike, traces: Iterable[PathLike] = (),
          clock_offsets: dict[str, int] | None = None) -> tuple[RuleSet, list[str]]:
    """Validate a rule file; with traces, also that its events and fields exist.

    Returns ``(ruleset, warnings)``; a mistake in the file raises RuleError.
    """
    from .engine.checks import check_against_traces
    from .reading import open_traces
    from .rules import load_rules

    ruleset = load_rules(rules)
    paths = list(traces)
    if not paths:
        return ruleset, []
    return ruleset, check_against_traces(ruleset, open_traces(paths, clock_offsets))


def record(rules: PathLike | RuleSet, outdir: PathLike | None = None,
           command: Iterable[str] = (), *, pid: int | None = None,
           duration: float | None = None, dry_run: bool = False,
           callchains: bool = False) -> Recording:
    """Record what ``rules`` need while ``command`` runs: a :class:`Recording`.

    User-space events the rules name go through a private ``lttng-sessiond``
    (with the ``vtid``, ``vpid`` and ``procname`` contexts), kernel events
    through ``perf record -k CLOCK_MONOTONIC`` converted to CTF, into
    ``outdir/ust`` and ``outdir/kernel``: ``run(rules, [outdir])`` reads them.
    Without ``command``: until process ``pid`` exits, or ``duration`` seconds
    pass, or SIGINT (system-wide).  Nothing is left running or in temporary
    files, whatever happens; SIGINT (Ctrl-C) ends the recording and keeps it,
    SIGTERM removes it.
    ``dry_run``: nothing is recorded; the result's ``plan`` says what would
    be, its ``script`` the equivalent ``lttng``/``perf`` commands.
    ``callchains`` (``corr record -g``; implied by a rule with ``stacks: true``):
    the switches and wakeups carry their call chains, and ``outdir`` keeps
    ``perf.data`` and a copy of ``/proc/kallsyms`` beside ``kernel/``, what
    names their frames (docs/stacks.md).
    """
    from .record.commands import script
    from .record.plan import plan_for
    from .record.session import Recording
    from .record.session import record as record_plan
    from .rules import load_rules
    from .rules.model import RuleSet

    ruleset = rules if isinstance(rules, RuleSet) else load_rules(rules)
    plan = plan_for(ruleset, callchains)
    command = list(command)
    if outdir is None:
        import time
        outdir = "corr-record-" + time.strftime("%Y%m%d-%H%M%S")
    outdir = os.fspath(outdir)
    if dry_run:
        result = Recording(outdir, plan)
        result.script = script(plan, ruleset.path, outdir, command or None, pid)
        return result
    return record_plan(plan, outdir, command or None, pid, duration)
