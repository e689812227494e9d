"""Running a rule set over a trace set: one pass, batch by batch.

For each batch, each class that feeds a rule is *prepared* once: its keys
(and thread ids) become lists computed column-wise, so that the walk over
events in time order does little more than a dict operation per event.
Open state lives in the matchers and carries from batch to batch; memory is
bounded by what is open and by the interval tables.
"""

from __future__ import annotations

import difflib
import gc
import fnmatch

from ..errors import TraceDecodeError
from ..normalise import Canonical
from ..normalise.dialects import detect, possible_names
from ..reading import ALL, Projection, TraceSet
from ..rules.model import Env, EventSpec, Rule, RuleSet
from . import threads
from .matcher import Matcher

ENTRY, EXIT, CANCEL, SPAN = "entry", "exit", "cancel", "span"
_SYSCALL_PREFIXES = ("syscall_entry_", "syscall_exit_")
# What each builtin reads from the event, besides cpu, name and ts.
_BUILTIN_FIELDS = {
    "tid": ("ctx.tid", "ctx.vtid"), "pid": ("ctx.pid", "ctx.vpid"),
    "procname": ("ctx.procname",), "comm": ("ctx.procname", "ctx.tid", "ctx.vtid"),
}


def _alternatives(pattern: str) -> list[str]:
    return [p.strip() for p in pattern.split("|")]


def _matches(name: str, pattern: str) -> bool:
    return name == pattern or fnmatch.fnmatchcase(name, pattern)


class EventNames:
    """The canonical (and raw) event names each trace can produce."""

    def __init__(self, traceset: TraceSet):
        self.by_trace: list[set[str]] = []
        self._has: dict[tuple[int, str], bool] = {}
        for t in traceset.traces:
            dialect = detect(t.env, t.class_names)
            names = set(t.class_names)
            for raw in t.class_names:
                names.update(possible_names(dialect, raw))
            self.by_trace.append(names)

    def has(self, trace: int, pattern: str) -> bool:
        key = (trace, pattern)
        found = self._has.get(key)
        if found is None:
            found = self._has[key] = any(_matches(n, pattern) for n in self.by_trace[trace])
        return found

    def anywhere(self, pattern: str) -> bool:
        return any(self.has(i, pattern) for i in range(len(self.by_trace)))

    def resolve(self, trace: int, pattern: str) -> str | None:
        """The alternative of "a|b" this trace uses, or None."""
        for alt in _alternatives(pattern):
            if self.has(trace, alt):
                return alt
        return None

    def near(self, pattern: str, n: int = 3) -> list[str]:
        names = sorted(set().union(*self.by_trace)) if self.by_trace else []
        return difflib.get_close_matches(pattern, names, n=n, cutoff=0.6)


def unknown_event_warnings(ruleset: RuleSet, names: EventNames) -> list[str]:
    """One line per event pattern of the rules that no trace has."""
    out = []
    for rule in ruleset.rules:
        for role, spec in _sides(rule):
            for pattern in spec.events:
                if any(names.anywhere(alt) for alt in _alternatives(pattern)):
                    continue
                near = []
                for alt in _alternatives(pattern):
                    near += names.near(alt)
                where = f"{spec.location}: " if spec.location else ""
                hint = f" (did you mean {', '.join(dict.fromkeys(near))}?)" if near else ""
                out.append(f"{where}rule {rule.name}: no trace has {role} event {pattern!r}{hint}")
    return out


def _sides(rule: Rule):
    if rule.is_span:
        yield SPAN, rule.entry
        return
    yield ENTRY, rule.entry
    yield EXIT, rule.exit
    for spec in rule.cancel:
        yield CANCEL, spec


def _capture_names(rule: Rule) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """What an entry and an exit keep for the pair filter, group_by and fields."""
    if rule.is_span:
        names = tuple(sorted(set(rule.entry.fields) | _captured(rule, SPAN)))
        return names, names
    return (tuple(sorted(set(rule.entry.fields) | _captured(rule, ENTRY))),
            tuple(sorted(set(rule.exit.fields) | _captured(rule, EXIT))))


def _captured(rule: Rule, role: str) -> set[str]:
    """What the pair filter and group_by read from an event of this role."""
    if role == CANCEL:
        return set()
    if role == SPAN:
        return _pair_names(rule, ENTRY) | _pair_names(rule, EXIT)
    return _pair_names(rule, role)


# -- what to decode ----------------------------------------------------------------

def _event_fields(expressions, scope: str) -> set[str]:
    """The columns expressions read in ``scope``, builtins expanded."""
    out: set[str] = set()
    for expr in expressions:
        if expr is None:
            continue
        for ref_scope, name in expr.references:
            if ref_scope == scope or (scope == "event" and ref_scope == "event"):
                if name.startswith("$"):
                    out.update(_BUILTIN_FIELDS.get(name[1:], ()))
                else:
                    out.add(name)
            elif scope == "event" and ref_scope == "builtin":
                out.update(_BUILTIN_FIELDS.get(name, ()))
    return out


def _pair_names(rule: Rule, side: str) -> set[str]:
    """What the pair filter and group_by read from the ``side`` event."""
    out: set[str] = set()
    for expr in [rule.where, *rule.group_by]:
        if expr is None:
            continue
        for scope, name in expr.references:
            if scope == side:
                out.add(name)
    return out


def projection_for(ruleset: RuleSet) -> Projection:
    wanted: dict[str, set] = {}

    def want(pattern: str, fields: set[str]) -> None:
        for alt in _alternatives(pattern):
            wanted.setdefault(alt, set()).update(fields)

    for rule in ruleset.rules:
        for role, spec in _sides(rule):
            fields = _event_fields([p.expression for p in spec.key] + [spec.where, rule.span_duration],
                                   "event")
            fields.update(spec.fields)
            fields.update({"ctx.tid", "ctx.vtid", "ctx.procname"})      # interval tid, comm
            for name in _captured(rule, role):
                if name.startswith("$"):
                    fields.update(_BUILTIN_FIELDS.get(name[1:], ()))
                else:
                    fields.add(name)
            for pattern in spec.events:
                want(pattern, fields)
    for name, fields in threads.projection().items():
        wanted.setdefault(name, set()).update(fields)
    return Projection.of({k: frozenset(v) for k, v in wanted.items()})


# -- preparing a class of a batch for one rule side ------------------------------------

class _RowView:
    """A row of a class's columns, read by expressions (``.get``)."""

    __slots__ = ("cols", "row", "builtins")

    def __init__(self, cols, row, builtins):
        self.cols = cols
        self.row = row
        self.builtins = builtins

    def get(self, name, default=None):
        if name.startswith("$"):
            return self.builtins(name[1:], self.row)
        col = self.cols.fields.get(name)
        return default if col is None else col[self.row]


class _BuiltinView:
    """``$name`` values of one row, as event-scope expressions read them."""

    __slots__ = ("builtins", "row")

    def __init__(self, builtins, row):
        self.builtins = builtins
        self.row = row

    def get(self, name, default=None):
        value = self.builtins(name, self.row)
        return default if value is None else value


def _event_env(cols, row, builtins) -> Env:
    return Env(event=_RowView(cols, row, builtins), builtins=_BuiltinView(builtins, row))


class _Builtins:
    """``$name`` values for the rows of one class in one batch."""

    def __init__(self, class_name: str, cols, ts_of_row, names: threads.ThreadNames):
        self.class_name = class_name
        self.cols = cols
        self.ts_of_row = ts_of_row
        self.names = names
        f = cols.fields
        self.tids = f.get("ctx.tid") or f.get("ctx.vtid")
        self.pids = f.get("ctx.pid") or f.get("ctx.vpid")
        self.procnames = f.get("ctx.procname")
        self.syscall = next((class_name[len(p):] for p in _SYSCALL_PREFIXES
                             if class_name.startswith(p)), None)

    def column(self, name: str):
        """A whole column for a builtin, when it does not depend on time."""
        n = len(self.cols)
        if name == "tid":
            return self.tids if self.tids is not None else [None] * n
        if name == "pid":
            return self.pids if self.pids is not None else [None] * n
        if name == "cpu":
            return self.cols.cpu
        if name == "name":
            return [self.class_name] * n
        if name == "syscall":
            return [self.syscall] * n
        if name == "procname" and self.procnames is not None:
            return self.procnames
        return None

    def __call__(self, name: str, row: int):
        if name == "tid":
            return None if self.tids is None else self.tids[row]
        if name == "pid":
            return None if self.pids is None else self.pids[row]
        if name == "cpu":
            return self.cols.cpu[row]
        if name == "name":
            return self.class_name
        if name == "syscall":
            return self.syscall
        if name == "ts":
            return self.ts_of_row(row)
        if name in ("comm", "procname"):
            return self.comm(row)
        return None

    def comm(self, row: int):
        if self.procnames is not None:
            return self.procnames[row]
        if self.tids is None:
            return None
        # The idle task: one per CPU, all tid 0, so ThreadNames keeps no name
        # for it; the kernel calls it swapper/N, as a procname context would.
        return self.names.name(self.tids[row], self.cols.cpu[row])


class _TupleView:
    """Captured values (a tuple) read by name, as pair expressions do."""

    __slots__ = ("index", "values")

    def __init__(self, index: dict[str, int], values):
        self.index = index
        self.values = values

    def get(self, name, default=None):
        i = self.index.get(name)
        if i is None or self.values is None:
            return default
        return self.values[i]


# Builtins that follow time (thread names change): read at each event.
_SEQUENTIAL = ("$comm", "$procname", "$ts")


class _Prepared:
    """One rule side on one class of one batch: keys, tids, filter, captures."""

    __slots__ = ("kind", "matcher", "keys", "where", "builtins", "cols", "capture", "reason",
                 "durations", "rows", "sequential")

    def __init__(self, kind, matcher, spec: EventSpec, cols, builtins: _Builtins, capture, reason,
                 duration=None):
        self.kind = kind
        self.matcher = matcher
        self.cols = cols
        self.builtins = builtins
        self.where = spec.where
        self.capture = capture
        self.reason = reason
        self.keys = self._keys(spec)
        self.durations = None if duration is None else self._evaluated(duration)
        self.rows, self.sequential = self._captures(capture)

    def _evaluated(self, expr):
        """An expression's value on every row: a column when it is one."""
        col = self._column(expr)
        if col is None:               # an expression, or a builtin that follows time
            col = [expr.evaluate(_event_env(self.cols, r, self.builtins))
                   for r in range(len(self.cols))]
        return col

    def _keys(self, spec: EventSpec):
        columns = [self._evaluated(part.expression) for part in spec.key]
        if len(columns) == 1:
            return columns[0]
        return list(zip(*columns))

    def _column(self, expr):
        ref = expr.reference
        if ref is None:
            return None
        scope, name = ref
        if scope == "builtin" or name.startswith("$"):
            return self.builtins.column(name.lstrip("$"))
        col = self.cols.fields.get(name)
        return col if col is not None else [None] * len(self.cols)

    def _captures(self, names):
        """Captured values as one tuple per row; which ones to read at the event."""
        if not names:
            return None, ()
        n = len(self.cols)
        columns, sequential = [], []
        for i, name in enumerate(names):
            col = None
            if name.startswith("$"):
                if name in _SEQUENTIAL and not (name == "$procname" and self.builtins.procnames):
                    sequential.append((i, name[1:]))
                else:
                    col = self.builtins.column(name[1:])
            else:
                col = self.cols.fields.get(name)
            columns.append(col if col is not None else [None] * n)
        return list(zip(*columns)), tuple(sequential)

    def values(self, row: int):
        rows = self.rows
        if rows is None:
            return None
        if not self.sequential:
            return rows[row]
        values = list(rows[row])
        for i, name in self.sequential:
            values[i] = self.builtins(name, row)
        return tuple(values)

    def passes(self, row: int) -> bool:
        if self.where is None:
            return True
        return bool(self.where.evaluate(_event_env(self.cols, row, self.builtins)))


# -- the run -----------------------------------------------------------------------------

class Engine:
    """Rule matchers fed by the canonical event stream of a trace set."""

    def __init__(self, traceset: TraceSet, ruleset: RuleSet):
        self.traceset = traceset
        self.ruleset = ruleset
        self.names = EventNames(traceset)
        self.thread_names = threads.ThreadNames()
        self.matchers = [self._matcher(rule) for rule in ruleset.rules]
        for m in self.matchers:
            m.name_of = self.thread_names.name
        self.canonical = Canonical(traceset, projection_for(ruleset))
        self._dispatch: dict[int, list] = {}
        self.events = 0
        self.begin_ns = None
        self.end_ns = None
        self.discards = []
        self.stopped: TraceDecodeError | None = None

    def _matcher(self, rule: Rule) -> Matcher:
        key_names = [p.name for p in rule.entry.key]
        pair = rule.where
        entry_names, exit_names = _capture_names(rule)
        entry_index = {n: i for i, n in enumerate(entry_names)}
        exit_index = {n: i for i, n in enumerate(exit_names)}
        pair_filter = None
        if pair is not None:
            # One Env for every evaluation: only the values change.
            entry_view, exit_view = _TupleView(entry_index, None), _TupleView(exit_index, None)
            builtins = {"duration": None}
            env = Env(entry=entry_view, exit=exit_view, builtins=builtins)
            evaluate = pair.evaluate

            def pair_filter(entry_values, exit_values, duration):
                entry_view.values = entry_values
                exit_view.values = exit_values
                builtins["duration"] = duration
                return bool(evaluate(env))
        grouper = None
        if rule.group_by:
            grouper = self._grouper(rule, key_names, entry_index, exit_index)
        fields = tuple(dict.fromkeys([*rule.entry.fields, *rule.exit.fields]))
        return Matcher(rule.name, key_names, rule.match, rule.timeout_ns, pair_filter, grouper,
                       fields, entry_names, exit_names)

    @staticmethod
    def _grouper(rule: Rule, key_names: list[str], entry_index, exit_index):
        """(entry values, exit values, key, duration) -> the interval's group."""
        getters = []
        for expr in rule.group_by:
            ref = expr.reference
            if ref is not None and ref[0] == "key":
                index = key_names.index(ref[1])
                if len(key_names) == 1:
                    getters.append(lambda e, x, key, d: key)
                else:
                    getters.append(lambda e, x, key, d, i=index: key[i])
            elif ref is not None and ref[0] == "entry":
                getters.append(lambda e, x, key, d, i=entry_index[ref[1]]:
                               None if e is None else e[i])
            elif ref is not None and ref[0] == "exit":
                getters.append(lambda e, x, key, d, i=exit_index[ref[1]]:
                               None if x is None else x[i])
            else:
                getters.append(lambda e, x, key, d, expr=expr: expr.evaluate(Env(
                    entry=_TupleView(entry_index, e), exit=_TupleView(exit_index, x),
                    builtins={"duration": d},
                    key=dict(zip(key_names, key if len(key_names) > 1 else (key,))))))
        if len(getters) == 1:
            return getters[0]
        return lambda e, x, key, d: tuple(g(e, x, key, d) for g in getters)

    def _bindings(self, info) -> list:
        """(kind, matcher, spec, capture, reason) for every rule side a class feeds."""
        found = []
        for rule, matcher in zip(self.ruleset.rules, self.matchers):
            for kind, spec in _sides(rule):
                if not any(self._class_matches(info, pattern) for pattern in spec.events):
                    continue
                capture = {ENTRY: matcher.entry_names, SPAN: matcher.entry_names,
                           EXIT: matcher.exit_names}.get(kind, ())
                reason = info.name if kind == CANCEL else None
                found.append((kind, matcher, spec, capture, reason, rule.span_duration))
        order = {CANCEL: 0, EXIT: 1, ENTRY: 2, SPAN: 3}     # close before opening anew
        found.sort(key=lambda b: order[b[0]])
        return found

    def _class_matches(self, info, pattern: str) -> bool:
        chosen = self.names.resolve(info.trace, pattern)
        return chosen is not None and (_matches(info.name, chosen) or
                                        _matches(getattr(info, "raw_name", info.name), chosen))

    def run(self, progress=None):
        span = self.traceset.range_ns
        # The pass allocates millions of small containers (open entries,
        # captured tuples) and makes no reference cycles: the cyclic garbage
        # collector's generation scans would only cost time.
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            return self._run(span, progress)
        finally:
            if was_enabled:
                gc.enable()

    def _run(self, span, progress):
        try:
            for batch in self.canonical.batches():
                self.discards.extend(batch.discards)
                if batch.ts:
                    self._process(batch)
                    if progress is not None:
                        progress(self.events, _fraction(self.end_ns, span))
        except TraceDecodeError as exc:
            self.stopped = exc
        end = self.end_ns if self.end_ns is not None else 0
        for m in self.matchers:
            m.finish(end)
        ranges = [(d.begin_ns, d.end_ns) for d in self.discards
                  if d.begin_ns is not None and d.end_ns is not None]
        for m in self.matchers:
            m.intervals.mark_lossy(ranges)
        return self

    def _process(self, batch) -> None:
        if self.begin_ns is None:
            self.begin_ns = batch.ts[0]
        self.end_ns = batch.ts[-1]
        self.events += len(batch.ts)
        registry = self.canonical.registry.classes
        per_class: dict[int, tuple] = {}
        ts_list = batch.ts
        positions: dict[int, list] = {}

        def ts_of(cid):
            def lookup(row):
                pos = positions.get(cid)
                if pos is None:
                    pos = positions[cid] = [i for i, c in enumerate(batch.class_ids) if c == cid]
                return ts_list[pos[row]]
            return lookup

        for cid, cols in batch.classes.items():
            info = registry[cid]
            bindings = self._dispatch.get(cid)
            if bindings is None:
                bindings = self._dispatch[cid] = self._bindings(info)
            learn = self.thread_names.columns_updater(info.name, cols)
            if not bindings and learn is None:
                continue
            builtins = _Builtins(info.name, cols, ts_of(cid), self.thread_names)
            prepared = [_Prepared(kind, matcher, spec, cols, builtins, capture, reason, duration)
                        for kind, matcher, spec, capture, reason, duration in bindings]
            per_class[cid] = (prepared, learn, cols.cpu, builtins)
        rows = dict.fromkeys(per_class, 0)
        # Kernel threads are named when an interval is recorded (the matcher
        # asks ThreadNames); a UST event names its thread with procname.
        for ts, cid in zip(ts_list, batch.class_ids):
            work = per_class.get(cid)
            if work is None:
                continue
            r = rows[cid]
            rows[cid] = r + 1
            prepared, learn, cpus, builtins = work
            tids, procnames = builtins.tids, builtins.procnames
            for p in prepared:
                if p.where is not None and not p.passes(r):
                    continue
                kind = p.kind
                if kind == ENTRY:
                    p.matcher.entry(ts, p.keys[r], None if tids is None else tids[r], cpus[r],
                                    None if procnames is None else procnames[r], p.values(r))
                elif kind == EXIT:
                    p.matcher.exit(ts, p.keys[r], None if tids is None else tids[r], cpus[r],
                                   None if procnames is None else procnames[r], p.values(r))
                elif kind == SPAN:
                    p.matcher.span(ts, p.keys[r], None if tids is None else tids[r], cpus[r],
                                   None if procnames is None else procnames[r], p.values(r),
                                   p.durations[r])
                else:
                    p.matcher.cancel(ts, p.keys[r], p.reason)
            if learn is not None:
                learn(r)


def _fraction(ts, span) -> float:
    if ts is None or not span or span[1] <= span[0]:
        return 0.0
    return min(1.0, max(0.0, (ts - span[0]) / (span[1] - span[0])))
