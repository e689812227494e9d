"""Running a rule set over a trace set: one pass, batch by batch.

For each batch, each class that feeds a rule is *prepared* once: its keys
(and thread ids) become lists computed column-wise, so that the walk over
events in time order does little more than a dict operation per event.
Open state lives in the matchers and carries from batch to batch; memory is
bounded by what is open and by the interval tables.
"""

from __future__ import annotations

import gc

from ..errors import TraceDecodeError
from ..cache import event_source
from ..reading import TraceSet
from ..sched.log import SchedLog
from ..sched.activity import SyscallLog
from ..sched.stacks import StackLog
from ..rules.model import Env, Rule, RuleSet
from . import threads
from . import core
from .matcher import ExpressionErrors, Matcher, group_function, pair_function
from .plan import (CANCEL, ENTRY, EXIT, SPAN, STEP, EventNames, capture_names,
                   engine_projection, matches, sequence_names, sides, step_names,
                   wants_activity, wants_stacks)
from .sequence import SequenceMatcher
from .rows import Builtins, Prepared, TupleView
from ..normalise.ust_threads import UstThreads, no_thread_reason

class Engine:
    """Rule matchers fed by the canonical event stream of a trace set."""

    def __init__(self, traceset: TraceSet, ruleset: RuleSet, scheduling: bool = False,
                 cache=None, started=None, reader: str = "auto", thread_filter=None,
                 on_interval=None, on_timeout=None, explain_decided: bool = False,
                 keep_decided: bool = True, defer: bool = False,
                 batch_size: int | None = None):
        self.traceset = traceset
        self.ruleset = ruleset
        self.names = EventNames(traceset)
        # With ``scheduling``, the pass also keeps what the scheduling model
        # needs: the scheduling and interrupt events, and names over time.
        self.sched_log = SchedLog() if scheduling else None
        # With a rule asking for stacks, the switch-outs' and wakeups' call chains.
        self.stack_log = StackLog() if scheduling and wants_stacks(ruleset) else None
        # With a rule asking for kernel activity, the system calls.
        self.syscall_log = SyscallLog() if scheduling and wants_activity(ruleset) else None
        # A thread filter (corr.engine.filters) may need threads' processes
        # learned, and names over time.
        learn = thread_filter is not None and thread_filter.needs_pass(ruleset)
        # With ``explain_decided`` (and callbacks), the intervals of rules with blame
        # are explained as they are decided (corr.analyses.as_decided).
        explain_decided = (explain_decided and (on_interval is not None or on_timeout is not None)
                           and any(rule.blame for rule in ruleset.rules))
        self.thread_names = threads.ThreadNames(keep_history=scheduling or learn
                                                or explain_decided)
        self.process_ids = None
        # A live session's clock announces timeouts ahead of its events
        # (Matcher.announce_due): the Python matcher's (its rate is a session's).
        self.use_core = core.available() and traceset.live is None
        self.matchers = [self._matcher(rule) for rule in ruleset.rules]
        projection = engine_projection(ruleset, scheduling or explain_decided, traceset,
                                       thread_filter)
        if thread_filter is not None and thread_filter.pids:
            from .filters import ProcessIds
            self.process_ids = ProcessIds()
        # The canonical event stream, read back from the decode cache when
        # given one; ``started``: its decode already begun, for this projection.
        self.canonical = event_source(traceset, projection, cache, started, reader, batch_size)
        # The threads of UST events recorded without vtid, from the kernel's
        # switches: on the merged stream, after the cache (see ust_threads).
        self.ust_threads = UstThreads.of(traceset)
        self.no_thread = [no_thread_reason(t) for t in traceset.traces]
        self._dispatch: dict[int, list] = {}
        self.events = 0
        self.begin_ns = None
        self.end_ns = None
        self.discards = []
        self.stopped: TraceDecodeError | None = None
        # The library's callbacks (corr.engine.decisions), handed what each batch decided.
        self.decisions = None
        self.explainer = None
        if explain_decided:
            from ..analyses.as_decided import Explainer
            self.explainer = Explainer(ruleset.rules, self.matchers, self.thread_names)
        if on_interval is not None or on_timeout is not None:
            from .decisions import Decisions
            self.decisions = Decisions(ruleset.rules, self.matchers, on_interval, on_timeout,
                                       self.thread_names.name, explain=self.explainer,
                                       keep_decided=keep_decided, defer=defer)

    def _matcher(self, rule: Rule):
        key_names = [p.name for p in rule.entry.key]
        entry_names, exit_names = capture_names(rule)
        entry_index = {n: i for i, n in enumerate(entry_names)}
        # With steps, their captures follow the exit's values (corr.engine.sequence).
        value_names = exit_names + sequence_names(rule)
        exit_index = {n: i for i, n in enumerate(value_names)}
        problems = ExpressionErrors()
        pair = (None if rule.where is None
                else self._pair_spec(rule.where, entry_index, exit_index, problems))
        group = (self._group_spec(rule, key_names, entry_index, exit_index, problems)
                 if rule.group_by else None)
        fields = tuple(dict.fromkeys([*rule.entry.fields, *rule.exit.fields, *(
            f"steps.{step.name}.{name}" for step in rule.steps for name in step.spec.fields)]))
        steps = [(step.name, step.occurs, step.within_ns, len(step_names(rule, step)))
                 for step in rule.steps]
        if self.use_core:
            m = core.CoreMatcher(rule.name, key_names, rule.match, rule.timeout_ns, pair, group,
                                 fields, entry_names, exit_names, names=self.thread_names.names,
                                 steps=steps, value_names=value_names)
        elif steps:
            m = SequenceMatcher(rule.name, key_names, rule.match, rule.timeout_ns,
                                pair_function(pair), group_function(group), fields, entry_names,
                                exit_names, steps=steps, value_names=value_names)
            m.name_of = self.thread_names.name
        else:
            m = Matcher(rule.name, key_names, rule.match, rule.timeout_ns, pair_function(pair),
                        group_function(group), fields, entry_names, exit_names)
            m.name_of = self.thread_names.name
        m.problems = problems
        return m

    @staticmethod
    def _pair_filter(pair, entry_index, exit_index):
        """(entry values, exit values, duration) -> does the pair count?"""
        return pair_function(Engine._pair_spec(pair, entry_index, exit_index))

    @staticmethod
    def _pair_spec(pair, entry_index, exit_index, problems=None):
        """The pair filter: ``(side, i, side, j)`` for ``entry.x == exit.y``, else a callable."""
        sides = {"entry": (0, entry_index), "exit": (1, exit_index)}
        if pair.equality is not None and all(ref[0] in sides for ref in pair.equality):
            # "entry.x == exit.y": the captured values compared directly.
            (sa, ia), (sb, ib) = ((sides[s][0], sides[s][1][n]) for s, n in pair.equality)
            return (sa, ia, sb, ib)
        # One Env for every evaluation: only the values change.
        entry_view, exit_view = TupleView(entry_index, None), TupleView(exit_index, None)
        builtins = {"duration": None}
        env = Env(entry=entry_view, exit=exit_view, builtins=builtins,
                  note=None if problems is None else problems.noter(pair))
        evaluate = pair.evaluate

        def pair_filter(entry_values, exit_values, duration):
            entry_view.values = entry_values
            exit_view.values = exit_values
            builtins["duration"] = duration
            return bool(evaluate(env))
        return pair_filter

    @staticmethod
    def _group_spec(rule: Rule, key_names: list[str], entry_index, exit_index, problems=None):
        """The interval's group: a spec for one plain reference, else a callable
        ``(entry values, exit values, key, duration) -> value``."""
        specs = []
        for expr in rule.group_by:
            ref = expr.reference
            if ref is not None and ref[0] == "key":
                specs.append(("key",) if len(key_names) == 1 else ("key", key_names.index(ref[1])))
            elif ref is not None and ref[0] == "entry":
                specs.append(("entry", entry_index[ref[1]]))
            elif ref is not None and ref[0] == "exit":
                specs.append(("exit", exit_index[ref[1]]))
            elif ref is not None and ref[0] == "steps":      # they follow the exit's values
                specs.append(("exit", exit_index["steps." + ref[1]]))
            else:
                note = None if problems is None else problems.noter(expr)
                specs.append(lambda e, x, key, d, expr=expr, note=note: expr.evaluate(Env(
                    entry=TupleView(entry_index, e), exit=TupleView(exit_index, x),
                    builtins={"duration": d},
                    key=dict(zip(key_names, key if len(key_names) > 1 else (key,))), note=note)))
        if len(specs) == 1:
            return specs[0]
        getters = [group_function(s) for s in specs]
        if len(getters) == 2:          # the common case, without a generator per interval
            first, second = getters
            return lambda e, x, key, d: (first(e, x, key, d), second(e, x, key, d))
        return lambda e, x, key, d: tuple([g(e, x, key, d) for g in getters])

    def _bindings(self, info) -> list:
        """(kind, matcher, spec, capture, reason) for every rule side a class feeds."""
        found = []
        for rule, matcher in zip(self.ruleset.rules, self.matchers):
            steps = {id(step.spec): (i, step) for i, step in enumerate(rule.steps)}
            for kind, spec in sides(rule):
                if not any(self._class_matches(info, pattern) for pattern in spec.events):
                    continue
                capture = {ENTRY: matcher.entry_names, SPAN: matcher.entry_names,
                           EXIT: matcher.exit_names}.get(kind, ())
                reason = info.name if kind == CANCEL else None
                if kind == STEP:              # its index in the rule's steps
                    reason, step = steps[id(spec)]
                    capture = step_names(rule, step)
                found.append((kind, matcher, spec, capture, reason, rule.span_duration))
        # Close before opening anew; a step is strictly between: an event that is also
        # an exit is seen after it closed, one that is also an entry before it opened.
        order = {CANCEL: 0, EXIT: 1, STEP: 2, ENTRY: 3, SPAN: 4}
        found.sort(key=lambda b: order[b[0]])
        return found

    def _class_matches(self, info, pattern: str) -> bool:
        chosen = self.names.resolve(info.trace, pattern)
        return chosen is not None and (matches(info.name, chosen) or
                                        matches(getattr(info, "raw_name", info.name), chosen))

    def run(self, progress=None):
        for _ in self.steps(progress):
            pass
        return self

    def steps(self, progress=None):
        """The pass, a batch at a time: yields after each batch's walk (its decisions
        handed out), and once at the end (the matchers finished).  Closing it early
        stops the readers and their decode workers."""
        span = self.traceset.range_ns
        # The pass allocates millions of small containers (open entries,
        # captured tuples) and makes no reference cycles: the cyclic garbage
        # collector's generation scans would only cost time.
        # Between steps, the consumer's own code runs with the collector as it was.
        was_enabled = gc.isenabled()
        steps = self._steps(span, progress)
        gc.disable()
        try:
            for _ in steps:
                if was_enabled:
                    gc.enable()
                try:
                    yield
                finally:
                    gc.disable()
        finally:
            steps.close()
            if was_enabled:
                gc.enable()

    def _steps(self, span, progress):
        decisions = self.decisions
        batches = self.canonical.batches()
        try:
            for batch in batches:
                self.discards.extend(batch.discards)
                if batch.ts:
                    self._process(batch)
                    for m in self.matchers:
                        m.drain()
                    if decisions is not None:
                        decisions.after_batch(batch.ts[-1], batch.quiet_ns)
                    if progress is not None:
                        progress(self.events, _fraction(self.end_ns, span))
                    yield
                elif batch.quiet_ns is not None and decisions is not None:
                    decisions.after_batch(None, batch.quiet_ns)    # a live source, quiet
                    yield
        except TraceDecodeError as exc:
            self.stopped = exc
        finally:
            # A callback that raised leaves the readers' generators suspended:
            # closed now, their decode workers stop with them.
            close = getattr(batches, "close", None)
            if close is not None:
                close()
        end = self.end_ns if self.end_ns is not None else 0
        if decisions is not None:
            decisions.at_end(end)
        for m in self.matchers:
            m.finish(end)
        if decisions is not None:
            decisions.after_finish()
        ranges = [(d.begin_ns, d.end_ns) for d in self.discards
                  if d.begin_ns is not None and d.end_ns is not None]
        for m in self.matchers:
            m.intervals.mark_lossy(ranges)
        yield

    def decided_so_far(self) -> None:
        """After a callback raised: each matcher's table holds what was decided so far
        (entries still open are left out), readable as after ``finish``."""
        for m in self.matchers:
            m.settle_decided()

    def _process(self, batch) -> None:
        if self.begin_ns is None:
            self.begin_ns = batch.ts[0]
        self.end_ns = batch.ts[-1]
        registry = self.canonical.registry.classes
        if self.sched_log is not None:
            self.sched_log.add_batch(batch, lambda cid: registry[cid].name, self.events)
        if self.stack_log is not None:
            self.stack_log.add_batch(batch, lambda cid: registry[cid].name, self.events)
        if self.explainer is not None:
            self.explainer.add_batch(batch, lambda cid: registry[cid].name, self.events)
        if self.syscall_log is not None:
            self.syscall_log.add_batch(batch, lambda cid: registry[cid].name, self.events)
        if self.process_ids is not None:
            for cid, cols in batch.classes.items():
                self.process_ids.learn(registry[cid].name, cols.fields)
        self.events += len(batch.ts)
        derived = {} if self.ust_threads is None else self.ust_threads.columns(batch, registry)
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
            learn = self.thread_names.columns_pairs(info.name, cols)
            if not bindings and learn is None:
                continue
            builtins = Builtins(info.name, cols, ts_of(cid), self.thread_names, derived.get(cid))
            n = len(cols)
            feeds = []
            for kind, matcher, spec, capture, reason, duration in bindings:
                p = Prepared(kind, matcher, spec, cols, builtins, capture, reason, duration)
                # Captured values: a tuple a row, or None for every row; read
                # at the event (p.values) only when some follow time.
                values = (p.rows if p.rows is not None else [None] * n) if not p.sequential else None
                extra = p.durations if kind is SPAN else reason
                # An entry without its thread is dropped, never keyed by null.
                passes = (p.filter_threaded(lambda count, m=matcher, why=self.no_thread[info.trace]:
                                            m.drop(why, count))
                          if kind is ENTRY or kind is SPAN else p.filter())
                values_at = p.values if values is None else None
                feeds.append((kind, matcher, p.keys, values, extra, passes, values_at))
            per_class[cid] = (feeds, learn,
                              builtins.tids if builtins.tids is not None else [None] * n,
                              cols.cpu,
                              builtins.procnames if builtins.procnames is not None else [None] * n)
        if self.use_core:
            self._walk_in_c(batch, per_class)
        else:
            self._walk(batch, per_class)

    def _walk_in_c(self, batch, per_class: dict) -> None:
        """The walk over the batch's events, in the C core."""
        work = [None] * (max(per_class, default=-1) + 1)
        codes = {ENTRY: core.ENTRY, EXIT: core.EXIT, CANCEL: core.CANCEL, SPAN: core.SPAN,
                 STEP: core.STEP}
        for cid, (feeds, learn, tids, cpus, procnames) in per_class.items():
            c_feeds = tuple((codes[kind], matcher.core, keys, values, extra, passes, values_at)
                            for kind, matcher, keys, values, extra, passes, values_at in feeds)
            work[cid] = (c_feeds, learn, tids, cpus, procnames)
        core.run_batch(batch.ts, batch.class_ids, work, self.thread_names.names,
                       self.thread_names.history)

    def _walk(self, batch, per_class: dict) -> None:
        """The walk over the batch's events, in Python (no C core)."""
        calls = {}
        for cid, (feeds, learn, tids, cpus, procnames) in per_class.items():
            # A mask (one byte a row) is read like the row-by-row filter.
            calls[cid] = ([(kind, m.step if kind is STEP else
                            {ENTRY: m.entry, EXIT: m.exit, SPAN: m.span, CANCEL: m.cancel}[kind],
                            keys, values, extra,
                            passes.__getitem__ if isinstance(passes, bytes) else passes, values_at)
                           for kind, m, keys, values, extra, passes, values_at in feeds],
                          None if learn is None else self.thread_names.updater(learn),
                          tids, cpus, procnames)
        rows = dict.fromkeys(calls, 0)
        # Kernel threads are named when an interval is recorded (the matcher
        # asks ThreadNames); a UST event names its thread with procname.
        for ts, cid in zip(batch.ts, batch.class_ids):
            work = calls.get(cid)
            if work is None:
                continue
            r = rows[cid]
            rows[cid] = r + 1
            feeds, learn, tids, cpus, procnames = work
            for kind, call, keys, values, extra, passes, values_at in feeds:
                if passes is not None and not passes(r):
                    continue
                if kind is CANCEL:
                    call(ts, keys[r], extra)
                    continue
                v = values[r] if values is not None else values_at(r)
                if kind is STEP:
                    call(ts, keys[r], extra, v)
                elif kind is SPAN:
                    call(ts, keys[r], tids[r], cpus[r], procnames[r], v, extra[r])
                else:
                    call(ts, keys[r], tids[r], cpus[r], procnames[r], v)
            if learn is not None:
                learn(r, ts)


def _fraction(ts, span) -> float:
    if ts is None or not span or span[1] <= span[0]:
        return 0.0
    return min(1.0, max(0.0, (ts - span[0]) / (span[1] - span[0])))
