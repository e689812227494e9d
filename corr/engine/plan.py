"""What a rule set needs from the traces.

Each rule has *sides* (entry, exit, cancels, or one span); this module says
which events feed each side in each trace (``a|b`` alternatives resolved,
canonical and raw names), which fields and contexts they must be decoded
with (the projection), what values an entry or exit keeps for the pair
filter, ``group_by`` and ``fields``, and which event names no trace has.
"""

from __future__ import annotations

import difflib
import fnmatch
import re

from ..normalise.dialects import detect, possible_names
from ..reading import Projection, TraceSet
from ..rules.model import Rule, RuleSet
from . import threads

ENTRY, EXIT, CANCEL, SPAN, STEP = "entry", "exit", "cancel", "span", "step"
SYSCALL_PREFIXES = ("syscall_entry_", "syscall_exit_")
_GLOB = frozenset("*?[")                 # what makes a pattern more than a name (fnmatch)
# What each builtin reads from the event, besides cpu, name and ts.
BUILTIN_FIELDS = {
    "tid": ("ctx.tid", "ctx.vtid"), "pid": ("ctx.pid", "ctx.vpid"),
    "procname": ("ctx.procname",), "comm": ("ctx.procname", "ctx.tid", "ctx.vtid"),
}


def alternatives(pattern: str) -> list[str]:
    return [p.strip() for p in pattern.split("|")]


def matches(name: str, pattern: str) -> bool:
    return name == pattern or fnmatch.fnmatchcase(name, pattern)


class EventNames:
    """The canonical (and raw) event names each trace can produce."""

    def __init__(self, traceset: TraceSet):
        self.by_trace: list[set[str]] = []
        self._has: dict[tuple[int, str], bool] = {}
        self._joined: dict[int, str] = {}    # a trace's names, one a line
        for t in traceset.traces:
            dialect = detect(t.env, t.class_names)
            names = set(t.class_names)
            for raw in t.class_names:
                names.update(possible_names(dialect, raw))
            self.by_trace.append(names)
        self.traces = traceset.traces

    def has(self, trace: int, pattern: str) -> bool:
        key = (trace, pattern)
        found = self._has.get(key)
        if found is None:
            names = self.by_trace[trace]
            # A plain name is a set lookup, not a match against each of ~1,200 names.
            found = self._has[key] = (pattern in names if not _GLOB.intersection(pattern)
                                      else self._glob_matches(trace, pattern))
        return found

    def _glob_matches(self, trace: int, pattern: str) -> bool:
        """Does any name match the glob?  One regex search over all the names, one a
        line (20,000 globs of a generated rule against ~1,200 names took 76 s name by name)."""
        names = self.by_trace[trace]
        if pattern in names:                   # matches(): a name equal to the pattern
            return True
        translated = fnmatch.translate(pattern)
        joined = self._joined.get(trace)
        if joined is None:                     # "": some name has a newline
            joined = self._joined[trace] = ("\n".join(sorted(names))
                                            if not any("\n" in n for n in names) else "")
        if ("\n" in pattern or not joined or not translated.startswith("(?s:")
                or not translated.endswith(")\\Z")):
            return any(matches(n, pattern) for n in names)
        # Without DOTALL "." stops at a line's end; so must a negated class.
        body = translated[4:-3].replace("[^", "[^\n")
        return re.search(f"(?m)^(?:{body})$", joined) is not None

    def anywhere(self, pattern: str) -> bool:
        return any(self.has(i, pattern) for i in range(len(self.by_trace)))

    def resolve(self, trace: int, pattern: str) -> str | None:
        """The alternative of "a|b" this trace uses, or None."""
        for alt in alternatives(pattern):
            if self.has(trace, alt):
                return alt
        return None

    def near(self, pattern: str, n: int = 3) -> list[str]:
        names = sorted(set().union(*self.by_trace)) if self.by_trace else []
        return difflib.get_close_matches(pattern, names, n=n, cutoff=0.6)


# Suggestions ("did you mean") for the first unknown patterns only: a generated
# rule can list a thousand.
NEAR_WARNINGS = 20
NEAR_ALTERNATIVES = 5


def unknown_event_warnings(ruleset: RuleSet, names: EventNames) -> list[str]:
    """What to say of the rules' fit to the traces before any event is read: one
    line per event pattern no trace has, then per thread no trace records
    (:func:`thread_warnings`)."""
    out = []
    for rule in ruleset.rules:
        for role, spec in sides(rule):
            for pattern in spec.events:
                if any(names.anywhere(alt) for alt in alternatives(pattern)):
                    continue
                near = []
                for alt in alternatives(pattern)[:NEAR_ALTERNATIVES]:
                    if len(out) < NEAR_WARNINGS:          # difflib: 10 ms a pattern
                        near += names.near(alt)
                where = f"{spec.location}: " if spec.location else ""
                hint = f" (did you mean {', '.join(dict.fromkeys(near))}?)" if near else ""
                out.append(f"{where}rule {rule.name}: no trace has {role} event {pattern!r}{hint}")
    return out + thread_warnings(ruleset, names)


# Key parts that name the emitting thread: null when the trace did not record it.
THREAD_REFERENCES = frozenset({("builtin", "tid"), ("event", "ctx.tid"), ("event", "ctx.vtid")})


def thread_parts(spec) -> list[int]:
    """The positions of ``spec``'s key parts that are the emitting thread."""
    return [i for i, part in enumerate(spec.key) if _reference(part.expression) in THREAD_REFERENCES]


def _reference(expr):
    ref = expr.reference
    if ref is None:
        return None
    scope, name = ref
    return ("builtin", name.lstrip("$")) if scope == "builtin" or name.startswith("$") else ref


_WITHOUT_THREAD = {ENTRY: "those entries are dropped", SPAN: "those events are dropped",
                   EXIT: "those exits match no entry", CANCEL: "those cancels match nothing",
                   STEP: "those steps match no entry"}


def thread_warnings(ruleset: RuleSet, names: EventNames) -> list[str]:
    """One line per rule side that needs the emitting thread (a key part, or its
    ``blame:``) from a UST trace that did not record it (no ``vtid`` context),
    unless a kernel trace of its host gives it (``$tid`` and blame; see
    normalise.ust_threads).  A key part reading ``ctx.vtid`` itself stays null."""
    from ..normalise import ust_threads
    traces = names.traces
    without = [(t, ust_threads.kernel_source(traces, t) is not None) for t in traces
               if ust_threads.is_ust(t) and not ust_threads.records_threads(t)]
    if not without:
        return []
    # Without any kernel trace, blame has nothing to explain with anyway (the run says so).
    scheduling = any(not ust_threads.is_ust(t) for t in traces)
    out = []
    for rule in ruleset.rules:
        for role, spec in sides(rule):
            # (what needs it, what happens without it, whether the kernel's switches give it)
            needs = [(f"key part {spec.key[i].name!r}", _WITHOUT_THREAD[role],
                      _reference(spec.key[i].expression) == ("builtin", "tid"))
                     for i in thread_parts(spec)]
            if scheduling and ((rule.blame == "entry" and role in (ENTRY, SPAN))
                               or rule.blame == EXIT == role):
                needs.append((f"blame: {rule.blame}", "their time cannot be explained", True))
            where = f"{spec.location}: " if spec.location else ""
            for alt in (a for pattern in spec.events for a in alternatives(pattern)):
                for t, derived in without:
                    if not names.has(t.index, alt):
                        continue
                    for need, outcome, derivable in needs:
                        if derived and derivable:
                            continue
                        why = ("($tid takes it from the kernel trace)" if derived else
                               "and no kernel trace of its host to derive it from")
                        out.append(
                            f"{where}rule {rule.name}: {need} reads the thread of {role} events "
                            f"{alt!r}: {t.path} has no vtid context {why}; {outcome} (record "
                            f"it with: {ust_threads.VTID_COMMAND})")
    return out


def sides(rule: Rule):
    if rule.is_span:
        yield SPAN, rule.entry
        return
    yield ENTRY, rule.entry
    yield EXIT, rule.exit
    for spec in rule.cancel:
        yield CANCEL, spec
    for step in rule.steps:
        yield STEP, step.spec


def step_names(rule: Rule, step) -> tuple[str, ...]:
    """What an event of ``step`` keeps: its ``fields`` and what ``where`` and
    ``group_by`` read of it as ``steps.NAME.FIELD``."""
    read = {name.split(".", 1)[1] for expr in [rule.where, *rule.group_by] if expr is not None
            for scope, name in expr.references
            if scope == "steps" and name.split(".", 1)[0] == step.name}
    return tuple(sorted(set(step.spec.fields) | read))


def sequence_names(rule: Rule) -> tuple[str, ...]:
    """The steps' captured values as the matcher appends them to an exit's:
    ``steps.NAME.FIELD``, step by step in :func:`step_names` order."""
    return tuple(f"steps.{step.name}.{name}" for step in rule.steps
                 for name in step_names(rule, step))


def capture_names(rule: Rule) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """What an entry and an exit keep for the pair filter, group_by and fields."""
    if rule.is_span:
        names = tuple(sorted(set(rule.entry.fields) | captured(rule, SPAN)))
        return names, names
    return (tuple(sorted(set(rule.entry.fields) | captured(rule, ENTRY))),
            tuple(sorted(set(rule.exit.fields) | captured(rule, EXIT))))


def kept_names(rule: Rule, role: str, spec) -> set[str]:
    """What an event of the side ``spec`` (of ``role``) keeps beyond its key and filter:
    :func:`captured`, or a step's :func:`step_names`."""
    if role == STEP:
        return set(next(step_names(rule, step) for step in rule.steps if step.spec is spec))
    return captured(rule, role)


def captured(rule: Rule, role: str) -> set[str]:
    """What the pair filter and group_by read from an event of this role."""
    if role == CANCEL:
        return set()
    if role == SPAN:
        return pair_names(rule, ENTRY) | pair_names(rule, EXIT)
    return pair_names(rule, role)


# -- what to decode ----------------------------------------------------------------

def event_fields(expressions) -> set[str]:
    """The columns event-scope expressions read, builtins expanded."""
    out: set[str] = set()
    for expr in expressions:
        if expr is None:
            continue
        for scope, name in expr.references:
            if scope == "event":
                out.add(name)
            elif scope == "builtin":
                out.update(BUILTIN_FIELDS.get(name, ()))
    return out


def pair_names(rule: Rule, side: str) -> set[str]:
    """What the pair filter and group_by read from the ``side`` event."""
    out: set[str] = set()
    for expr in [rule.where, *rule.group_by]:
        if expr is None:
            continue
        for scope, name in expr.references:
            if scope == side:
                out.add(name)
    return out


def run_projection(ruleset: RuleSet, scheduling: bool, traceset: TraceSet | None = None) -> Projection:
    """What a run decodes: the rules' projection, the scheduling model's with blame,
    and with ``traceset``, what gives threads to its UST events recorded without
    them (normalise.ust_threads.evidence_projection)."""
    projection = projection_for(ruleset)
    if scheduling:
        from ..sched.events import PROJECTION, stack_projection
        projection = projection.union(Projection.of(PROJECTION))
        if wants_stacks(ruleset):       # call chains cost their decode only when asked for
            names = EventNames(traceset).by_trace if traceset is not None else None
            projection = projection.union(Projection.of(stack_projection(names)))
        if wants_activity(ruleset):     # and system calls theirs
            from ..sched.events import ACTIVITY_PROJECTION
            projection = projection.union(Projection.of(ACTIVITY_PROJECTION))
    if traceset is not None:
        from ..normalise.ust_threads import evidence_projection
        evidence = evidence_projection(traceset.traces)
        if evidence:
            projection = projection.union(Projection.of(evidence))
    return projection


def engine_projection(ruleset: RuleSet, scheduling: bool, traceset: TraceSet | None = None,
                      thread_filter=None) -> Projection:
    """What the engine decodes: :func:`run_projection`, and with a thread filter by
    process id, what tells each thread's process (:class:`~corr.engine.filters.ProcessIds`).
    The decode workers a run starts early decode exactly this."""
    projection = run_projection(ruleset, scheduling, traceset)
    if thread_filter is not None and thread_filter.pids:
        from .filters import ProcessIds
        events = [alt for rule in ruleset.rules for _, spec in sides(rule)
                  for pattern in spec.events for alt in alternatives(pattern)]
        projection = projection.union(Projection.of(ProcessIds.projection(events)))
    return projection


def wants_stacks(ruleset: RuleSet) -> bool:
    """Whether a rule asks for code stacks (``stacks: true``, docs/stacks.md)."""
    return any(rule.stacks and rule.blame for rule in ruleset.rules)


def wants_activity(ruleset: RuleSet) -> bool:
    """Whether a rule asks for kernel activity per interval (``activity: true``)."""
    return any(rule.activity and rule.blame for rule in ruleset.rules)


# What ``activity: true`` reports, and the class whose presence in a trace says it was
# recorded: a kind no trace records is said so ("not recorded"), never shown as zeros.
ACTIVITY_CLASSES = {"syscalls": "syscall_entry_*", "irqs": "irq_handler_entry",
                    "softirqs": "irq_softirq_entry", "migrations": "sched_migrate_task"}


def recorded_activity(names: EventNames) -> dict[str, bool]:
    """Per kind of kernel activity, whether some trace records it."""
    return {kind: names.anywhere(name) for kind, name in ACTIVITY_CLASSES.items()}


def projection_for(ruleset: RuleSet) -> Projection:
    wanted: dict[str, set] = {}

    def want(pattern: str, fields: set[str]) -> None:
        for alt in alternatives(pattern):
            wanted.setdefault(alt, set()).update(fields)

    for rule in ruleset.rules:
        for role, spec in sides(rule):
            fields = event_fields([p.expression for p in spec.key] + [spec.where, rule.span_duration])
            fields.update(spec.fields)
            fields.update({"ctx.tid", "ctx.vtid", "ctx.procname"})      # interval tid, comm
            for name in kept_names(rule, role, spec):
                if name.startswith("$"):
                    fields.update(BUILTIN_FIELDS.get(name[1:], ()))
                else:
                    fields.add(name)
            for pattern in spec.events:
                want(pattern, fields)
    for name, fields in threads.projection().items():
        wanted.setdefault(name, set()).update(fields)
    return Projection.of({k: frozenset(v) for k, v in wanted.items()})
