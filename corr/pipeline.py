"""The whole pipeline, traces and rules to a :class:`RunResult`: reading,
normalising, matching, the scheduling model, the analyses.

The library's ``corr.api.run`` and ``tune`` call :func:`run_rules`; each
stage lives in its own package (``reading``, ``normalise``, ``engine``,
``sched``, ``analyses``), and this module only chains them, with the cache
in between.
"""

from __future__ import annotations

from .engine.plan import (EventNames, engine_projection, projection_for,
                          unknown_event_warnings, wants_activity, wants_stacks)
from .engine.result import RuleResult, RunResult
from .reading import TraceSet
from .rules.model import RuleSet

__all__ = ["run_rules", "stream_rules", "start_decoding"]


def run_rules(traceset: TraceSet, ruleset: RuleSet, progress=None,
              blame_limit: int | None = None, explain: bool = True, cache=None,
              reader: str = "auto", thread_filter=None, on_interval=None,
              on_timeout=None, symbol_files=()) -> RunResult:
    """Pair every rule's entries and exits over the traces, in one pass.

    Without ``explain`` the scheduling join is skipped even for rules with
    ``blame:`` (a tuning session needs durations only, not their causes).
    ``cache``: the decode cache to read through (see :func:`corr.cache.resolve`).
    ``reader``: the bt2 reader that decodes (``auto``, ``c``, ``native``, ``public``).
    ``thread_filter``: a :class:`~corr.engine.filters.ThreadFilter`; only the
    intervals of the threads it keeps are reported and analysed.
    ``on_interval``, ``on_timeout``: the library's callbacks, called during the
    pass (see :mod:`corr.engine.decisions`); the cache then never answers
    without a pass.  An exception a callback raises ends the run: it reaches the
    caller with ``partial``, a RunResult of what was decided before it.
    ``symbol_files``: symbol files for the frames of rules with ``stacks: true``
    (docs/stacks.md), besides those found beside the traces.
    """
    # First of all, before the imports below: large traces' decode workers.
    started = start_decoding(traceset, ruleset, explain, cache, reader, thread_filter)
    try:
        return _run(traceset, ruleset, progress, blame_limit, explain, cache, reader, started,
                    thread_filter or None, on_interval, on_timeout, tuple(symbol_files))
    finally:
        if started is not None:
            started.close()             # only what the run did not take


def _run(traceset, ruleset, progress, blame_limit, explain, cache, reader, started,
         thread_filter, on_interval=None, on_timeout=None, symbol_files=()) -> RunResult:
    from .cache import open_cache
    warnings = unknown_event_warnings(ruleset, EventNames(traceset))
    scheduling = explain and any(rule.blame for rule in ruleset.rules)
    limit = blame_limit
    if scheduling and limit is None:
        from .analyses.scheduling import DEFAULT_LIMIT
        limit = DEFAULT_LIMIT
    projection = projection_for(ruleset)
    # Stacks come from the pass's call chains, activity from its system calls and
    # interrupts: the cache keeps neither.
    store = (open_cache(cache, traceset)
             if not wants_stacks(ruleset) and not wants_activity(ruleset) else None)
    keys = None
    if store is not None:
        from .cache.intervals import RunKeys
        keys = RunKeys(ruleset, projection, traceset, scheduling, thread_filter, limit)
        watched = on_interval is not None or on_timeout is not None
        if _servable(ruleset, scheduling, thread_filter) and not watched:
            from .cache.intervals import cached_run
            hit = cached_run(store, keys)
            if hit is not None:     # the same rules but thresholds: nothing to match again
                rules = [RuleResult(rule, m) for rule, m in zip(ruleset.rules, hit.matched)]
                warnings += _filtered(rules, thread_filter, None, hit.threads)
                if scheduling:
                    made = _explain(rules, hit.model, hit.threads, limit, hit)
                    if made:
                        from .cache.intervals import keep_run
                        keep_run(store, keys, analyses=made)
                return RunResult(ruleset.path, rules, _trace_dicts(traceset), hit.events,
                                 hit.begin_ns, hit.end_ns, hit.discards, warnings, None,
                                 thread_filter=thread_filter)
    from .engine.runner import Engine            # not needed when the cache answers
    engine = Engine(traceset, ruleset, scheduling=scheduling, cache=store,
                    started=started, reader=reader, thread_filter=thread_filter,
                    on_interval=on_interval, on_timeout=on_timeout,
                    explain_decided=scheduling)
    symbols = None
    if engine.stack_log is not None:             # the symbol sources read early
        from .analyses.symbols import Symbolizer
        symbols = Symbolizer([t.path for t in traceset.traces], symbol_files)
        symbols.prefetch_kernel()
    try:
        return _analysed(traceset, ruleset, engine, progress, warnings, scheduling, limit,
                         store, keys, thread_filter, symbols)
    finally:
        if symbols is not None:
            symbols.close()


def _analysed(traceset, ruleset, engine, progress, warnings, scheduling, limit, store, keys,
              thread_filter, symbols) -> RunResult:
    """The pass of ``engine``, then the rules' results and their analyses."""
    try:
        engine.run(progress)
    except Exception as exc:
        if engine.decisions is None or not engine.decisions.failed:
            raise
        try:
            exc.partial = _partial(traceset, ruleset, engine, warnings, exc)  # type: ignore[attr-defined]
        except (AttributeError, TypeError):
            pass                # an exception that takes no attribute: raised as it is
        raise
    if symbols is not None:
        symbols.prefetch_maps()
    from .engine.memory import map_large_blocks
    map_large_blocks()                           # the analysis' arrays given back when freed
    stopped = None
    if engine.stopped is not None:
        exc = engine.stopped
        stopped = {"path": exc.path, "cause": exc.cause, "at_ns": exc.stopped_at_ns,
                   "events_before": exc.events_before}
    traces = _trace_dicts(traceset)
    warnings += live_notes(traceset)
    rules = [RuleResult(rule, matcher) for rule, matcher in zip(ruleset.rules, engine.matchers)]
    warnings += _filtered(rules, thread_filter, engine.process_ids, engine.thread_names)
    model, made = None, []
    if scheduling:
        from .sched.model import SchedModel
        from .engine.memory import release_freed_memory
        if engine.stack_log is not None:
            engine.stack_log.prepare_in_background()     # its lookups, beside the model's building
        release_freed_memory()               # the batches' leftovers, before the model's peak
        model = SchedModel(engine.sched_log, engine.begin_ns, engine.end_ns,
                           names=engine.thread_names.name_at)
        activity = None
        if engine.syscall_log is not None:
            activity = _activity_index(engine, model)
            engine.syscall_log = None        # its calls are the index's now
        if model.native and model.available:
            model.build_store()              # the log's columns are no longer read
            release_freed_memory()
        made = _explain(rules, model, engine.thread_names, limit)
        if activity is not None:
            from .analyses.activity import IntervalActivity
            for result in rules:
                if result.rule.activity and result.analysis is not None \
                        and result.analysis.available:
                    result.analysis.activity = IntervalActivity(activity, model)
        if engine.stack_log is not None:
            from .analyses.stacks import attribute_rules
            warnings += attribute_rules(rules, model, engine.stack_log, symbols,
                                        engine.thread_names)
            engine.stack_log.settle()            # its lookups' thread, even when not read
            engine.stack_log = None              # the stacks keep what they read later
            release_freed_memory()               # its tables and switch-outs' lookups
    if store is not None:
        from .cache.intervals import keep_run
        keep_run(store, keys, engine, model, engine.thread_names, made)
    return RunResult(ruleset.path, rules, traces, engine.events, engine.begin_ns, engine.end_ns,
                     engine.discards, warnings, stopped, thread_filter=thread_filter)


# Events a stream's batch: what a batch decides is explained, made objects and handed
# out before the next is read, and what the pass holds for one batch grows with it
# (an offcpu stream of 2M events peaked at 278 MB with 32,768, 156 MB with this;
# benchmarks/bench_stream.py).
STREAM_BATCH = 16_384


def stream_rules(traceset: TraceSet, ruleset: RuleSet, cache=None, reader: str = "auto",
                 timeouts: bool = False, progress=None, explain: bool = True):
    """The intervals a pass decides, as it decides them (see :mod:`corr.engine.decisions`):
    a generator of :class:`~corr.engine.interval.Interval`, a batch's worth held at a
    time, explained as decided (:mod:`corr.analyses.as_decided`).  ``timeouts``: the
    ``timeout`` intervals at their deadlines too.  Returns (as StopIteration's value)
    the pass's TraceDecodeError when a trace stopped part-way, else None."""
    started = start_decoding(traceset, ruleset, explain, cache, reader, batch_size=STREAM_BATCH)
    try:
        from .cache import open_cache
        from .engine.runner import Engine
        # The callbacks are never called (defer): the stream takes each batch's
        # decisions, explained a chunk at a time as they are read.
        def never(interval):
            raise AssertionError("a deferred decision was handed to a callback")

        engine = Engine(traceset, ruleset, scheduling=False, cache=open_cache(cache, traceset),
                        started=started, reader=reader, on_interval=never,
                        on_timeout=never if timeouts else None,
                        explain_decided=explain, keep_decided=False, defer=True,
                        batch_size=STREAM_BATCH)
        steps = engine.steps(progress)
        try:
            for _ in steps:
                yield from engine.decisions.take_deferred()
        finally:
            steps.close()
        return engine.stopped
    finally:
        if started is not None:
            started.close()


def live_notes(traceset: TraceSet) -> list[str]:
    """What a live session's result must say: a pass ended by Ctrl-C rather than by
    the session's end."""
    source = traceset.live
    if source is None:
        return []
    notes = []
    if source.interrupted:
        notes.append(f"{traceset.traces[0].path}: interrupted (Ctrl-C): the results cover the "
                     f"session until then")
    return notes


def _partial(traceset, ruleset, engine, warnings, exc) -> RunResult:
    """What a pass stopped by a callback had decided: its intervals, unexplained,
    unfiltered; ``stopped`` names the callback's exception."""
    engine.decided_so_far()
    rules = [RuleResult(rule, matcher) for rule, matcher in zip(ruleset.rules, engine.matchers)]
    stopped = {"path": None, "cause": f"a callback raised {type(exc).__name__}: {exc}",
               "at_ns": engine.end_ns, "events_before": engine.events}
    return RunResult(ruleset.path, rules, _trace_dicts(traceset), engine.events, engine.begin_ns,
                     engine.end_ns, engine.discards, list(warnings), stopped)


def _servable(ruleset, scheduling, thread_filter) -> bool:
    """Whether the cache may answer the run without a pass: not when the thread filter
    needs what only a pass learns (process ids; names over time, unless the kept
    model brings the pass's)."""
    if not thread_filter:
        return True
    return not thread_filter.pids and (scheduling or not thread_filter.needs_pass(ruleset))


def _explain(rules, model, threads, limit, kept=None) -> list:
    """Each blame rule's analysis (``kept``'s, when the cache has it); the
    (rule index, analysis) pairs made here."""
    from .analyses.scheduling import analyse
    from .engine.memory import release_freed_memory
    made = []
    for i, result in enumerate(rules):
        if not result.rule.blame:
            continue
        found = kept.analysis(i, result) if kept is not None else None
        if found is None:
            found = analyse(result, model, limit, threads=threads)
            made.append((i, found))
            release_freed_memory()      # the C walk's threads' heaps, before what comes next
        result.analysis = found
    return made


def _activity_index(engine, model):
    """The pass's system calls, interrupts and migrations indexed for reading per
    interval (before the model's store releases the scheduling log), and what the
    traces recorded of them."""
    from .engine.plan import recorded_activity
    from .sched.activity import ActivityIndex
    return ActivityIndex(engine.syscall_log, engine.sched_log, model.begin_ns, model.end_ns,
                         recorded_activity(engine.names))


def _filtered(rules, thread_filter, process_ids, names) -> list[str]:
    """Each rule result restricted to the threads of ``thread_filter``; the notes saying so."""
    if not thread_filter:
        return []
    from .engine.filters import apply
    return apply(rules, thread_filter, process_ids, names)


def _trace_dicts(traceset: TraceSet) -> list[dict]:
    # begin_ns, end_ns: the trace's first and last event of any class on the common time
    # base, whatever the rules decode (the readers see every event; a cached run has them
    # from its entry): the renderers' "start" counts from the earliest begin.  Not its
    # packets' range: LTTng opens packets well before the first event.
    return [{"path": t.path, "tracer": t.tracer, "domain": t.domain,
             "alignment": t.alignment, "offset_ns": t.offset_ns,
             "begin_ns": t.events_ns[0] if t.events_ns else None,
             "end_ns": t.events_ns[1] if t.events_ns else None}
            for t in traceset.traces]


def start_decoding(traceset: TraceSet, ruleset: RuleSet, explain: bool = True, cache=None,
                   reader: str = "auto", thread_filter=None, batch_size: int | None = None):
    """Start the decode workers of the run's large traces now: a Canonical that
    reads from them (its projection the run's), or None.

    A small trace's run is mostly start-up: forking the workers before the
    engine's imports (numpy, the C core, the scheduling model) lets them
    decode while the parent imports.  Only when the run will decode: with a
    cache entry for these traces, the cache may serve it, so nothing starts.
    """
    from .cache import has_entry
    if has_entry(cache, traceset):
        return None
    from .normalise import Canonical
    scheduling = explain and any(rule.blame for rule in ruleset.rules)
    # Exactly the engine's projection: a thread filter by process id decodes the
    # process ids too (the workers once decoded without them, and --pid learned nothing).
    canonical = Canonical(traceset, engine_projection(ruleset, scheduling, traceset,
                                                      thread_filter or None), batch_size,
                          reader=reader)
    return canonical if canonical.start() else None
