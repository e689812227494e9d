"""``corr check RULES TRACE...``: do the rules' events and fields exist?

A rule naming an event no trace has, or a field its events lack, runs
without error and finds nothing: worth a warning before anyone waits for
an empty result.
"""

from __future__ import annotations

from ..errors import TraceDecodeError
from ..normalise.dialects import canonical_fields_of, detect, field_renames, possible_names
from ..text import shown
from ..sched.events import INTERRUPT_NOTES, fields_evidence
from ..reading import Projection, TraceSet
from ..rules.model import RuleSet
from .plan import (ACTIVITY_CLASSES, BUILTIN_FIELDS, ENTRY, EXIT, SPAN, EventNames,
                   alternatives, event_fields, kept_names, matches, recorded_activity, sides,
                   unknown_event_warnings)


def fields_per_trace(traceset: TraceSet) -> dict:
    """Per trace (its path), canonical class name -> the fields its events carry,
    over every class the traces hold (all are decoded once, with no field)."""
    try:
        for _ in traceset.batches(Projection.of({"*": ()})):
            pass
    except TraceDecodeError:
        pass                      # what was seen before the failure still counts
    return {t.path: canonical_fields_of(detect(t.env, t.class_names),
                                        [c for c in traceset.registry.classes
                                         if c.trace == t.index])
            for t in traceset.traces}


def interrupt_warnings(ruleset: RuleSet, per_trace: dict) -> list[str]:
    """Rules with blame: over kernel traces whose wakeups in interrupts cannot be told
    (``per_trace``: :func:`fields_per_trace`)."""
    blaming = [r for r in ruleset.rules if r.blame]
    if not blaming:
        return []
    blind = [path for path, fields in per_trace.items() if fields_evidence(fields) == "none"]
    return [f"rule {rule.name}: blame: {path}: {INTERRUPT_NOTES['none']}; record IRQ events "
            "(perf -e 'irq:*' -e 'timer:hrtimer_*', lttng enable-event -k 'irq_*,timer_hrtimer_*') "
            "or use perf, whose records carry common_flags"
            for rule in blaming for path in blind]


def activity_warnings(ruleset: RuleSet, names: EventNames) -> list[str]:
    """Rules with ``activity: true`` over traces that record none of some kind of it."""
    asking = [r for r in ruleset.rules if r.activity and r.blame]
    if not asking:
        return []
    missing = [kind for kind, found in recorded_activity(names).items() if not found]
    if not missing:
        return []
    classes = ", ".join(f"{kind} ({ACTIVITY_CLASSES[kind]})" for kind in missing)
    return [f"rule {rule.name}: activity: true, but no trace records {classes}: its intervals "
            "say not recorded for them" for rule in asking]


def check_against_traces(ruleset: RuleSet, traceset: TraceSet) -> list[str]:
    names = EventNames(traceset)
    warnings = unknown_event_warnings(ruleset, names)
    activity = activity_warnings(ruleset, names)
    per_trace = fields_per_trace(traceset)
    fields_of: dict[str, set[str]] = {}          # across the traces
    for fields in per_trace.values():
        for name, names in fields.items():
            fields_of.setdefault(name, set()).update(names)
    for rule in ruleset.rules:
        for role, spec in sides(rule):
            needed = event_fields([p.expression for p in spec.key] + [spec.where, rule.span_duration])
            needed.update(spec.fields)
            needed.update(n for n in kept_names(rule, role, spec) if not n.startswith("$"))
            # Builtins read one of several contexts: only plain fields must exist.
            builtin_fields = {f for fs in BUILTIN_FIELDS.values() for f in fs}
            needed -= builtin_fields
            for pattern in spec.events:
                for alt in alternatives(pattern):
                    classes = [n for n in fields_of if matches(n, alt)]
                    if not classes:
                        continue
                    have = set().union(*(fields_of[n] for n in classes))
                    for field in sorted(needed - have):
                        where = f"{spec.location}: " if spec.location else ""
                        warnings.append(
                            f"{where}rule {rule.name}: {role} events {alt!r} have no field "
                            f"{field!r} (they have: {', '.join(sorted(have)) or 'none'})")
    return warnings + type_warnings(ruleset, field_kinds(traceset)) + \
        interrupt_warnings(ruleset, per_trace) + activity


# How the expression language names the values of a trace's field types.
_KINDS = {"int": "a number", "float": "a number", "str": "a string", "bool": "a boolean"}


def field_kinds(traceset: TraceSet) -> dict:
    """Canonical class name -> {field: kind} over the traces (after
    :func:`fields_per_trace` decoded them): a field whose types differ, or
    whose type the language has no name for (enums, arrays), is left out."""
    out: dict[str, dict] = {}
    for t in traceset.traces:
        dialect = detect(t.env, t.class_names)
        for info in traceset.registry.classes:
            if info.trace != t.index:
                continue
            renames = field_renames(dialect, info.name)
            for name in possible_names(dialect, info.name) + [info.name]:
                kinds = out.setdefault(name, {})
                for f in info.fields:
                    field = renames.get(f.name, f.name)
                    kind = _KINDS.get(f.type, "")
                    kinds[field] = kind if kinds.get(field, kind) == kind else ""
    return {name: {f: k for f, k in kinds.items() if k} for name, kinds in out.items()}


def _side_kinds(spec, kinds_of: dict) -> dict:
    """{field: kind} of a side's events: the fields every class of it that has them agrees on."""
    out: dict[str, str] = {}
    for pattern in spec.events:
        for alt in alternatives(pattern):
            for name, kinds in kinds_of.items():
                if matches(name, alt):
                    for field, kind in kinds.items():
                        out[field] = kind if out.get(field, kind) == kind else ""
    return {f: k for f, k in out.items() if k}


def type_warnings(ruleset: RuleSet, kinds_of: dict) -> list[str]:
    """Expressions that are always null given the fields' types in these traces
    (``'"fd" + fd'`` where ``fd`` is an integer): every evaluation would be an error."""
    from ..rules.expr import type_error
    warnings = []
    for rule in ruleset.rules:
        found = []
        sides_kinds = {}
        for role, spec in sides(rule):
            kinds = _side_kinds(spec, kinds_of)
            sides_kinds[role] = kinds
            event = {("event", f): k for f, k in kinds.items()}
            found += [(e, event) for e in [p.expression for p in spec.key] + [spec.where]
                      + ([rule.span_duration] if role == SPAN else []) if e is not None]
        entry = sides_kinds.get(SPAN, sides_kinds.get(ENTRY, {}))
        exit = sides_kinds.get(SPAN, sides_kinds.get(EXIT, {}))
        pair = {**{("entry", f): k for f, k in entry.items()},
                **{("exit", f): k for f, k in exit.items()}}
        found += [(e, pair) for e in [rule.where, *rule.group_by] if e is not None]
        seen = set()
        for expression, kinds in found:
            if id(expression) in seen:
                continue
            seen.add(id(expression))
            error = type_error(expression, kinds)
            if error is not None:
                read = ", ".join(f"{'.'.join(ref)} is {kinds[ref]}".replace("event.", "")
                                 for ref in sorted(expression.references) if ref in kinds)
                warnings.append(f"{expression.location}: rule {rule.name}: {shown(expression.text)}: "
                                f"{error} with these traces' fields ({read})")
    return warnings
