"""The matching engine: rules + canonical events -> intervals and statistics."""

from __future__ import annotations

from ..reading import TraceSet
from ..rules.model import RuleSet
from .result import RuleResult, RunResult
from .plan import EventNames, projection_for, unknown_event_warnings
from .runner import Engine

__all__ = ["run_rules", "RunResult", "RuleResult", "Engine", "EventNames", "projection_for",
           "unknown_event_warnings"]


def run_rules(traceset: TraceSet, ruleset: RuleSet, progress=None,
              blame_limit: int | None = None) -> RunResult:
    """Pair every rule's entries and exits over the traces, in one pass."""
    warnings = unknown_event_warnings(ruleset, EventNames(traceset))
    scheduling = any(rule.blame for rule in ruleset.rules)
    engine = Engine(traceset, ruleset, scheduling=scheduling).run(progress)
    stopped = None
    if engine.stopped is not None:
        exc = engine.stopped
        stopped = {"path": exc.path, "cause": exc.cause, "at_ns": exc.stopped_at_ns,
                   "events_before": exc.events_before}
    traces = [{"path": t.path, "tracer": t.tracer, "domain": t.domain,
               "alignment": t.alignment, "offset_ns": t.offset_ns} for t in traceset.traces]
    rules = [RuleResult(rule, matcher) for rule, matcher in zip(ruleset.rules, engine.matchers)]
    if scheduling:
        from ..analyses.scheduling import DEFAULT_LIMIT, analyse
        from ..sched.model import SchedModel
        model = SchedModel(engine.sched_log, engine.begin_ns, engine.end_ns,
                           names=engine.thread_names.name_at)
        if model.native and model.available:
            model.store                      # built: the log's columns are no longer read
            engine.sched_log.release()
        for result in rules:
            if result.rule.blame:
                result.analysis = analyse(
                    result, model, DEFAULT_LIMIT if blame_limit is None else blame_limit)
    return RunResult(ruleset.path, rules, traces, engine.events, engine.begin_ns, engine.end_ns,
                     engine.discards, warnings, stopped)
