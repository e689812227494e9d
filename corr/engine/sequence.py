"""Rules with steps: events between entry and exit that must, may or must not happen.

A step event is seen by every entry open (or timed out, awaiting a late
exit) under its key, if it comes within the step's ``within`` of the entry:
it consumes nothing and closes nothing.  Each entry keeps the captured
values of each step's last occurrence.  When the entry is decided (its exit,
its timeout or the trace's end), its steps are checked: a ``must`` step that
was not seen or a ``must_not`` step that was drops it, with that reason in
the rule's outcomes; otherwise the steps' captures are appended to the
exit's values (nulls for a step not seen), where ``steps.NAME.FIELD`` reads
them.  docs/rules.md, "Sequences", compares this with lttng-analyses'
periods and Trace Compass' patterns.
"""

from __future__ import annotations

from .matcher import DROPPED, STEPS, TS, Matcher


def drop_reasons(step: str) -> tuple[str, str]:
    """The outcome reasons of an entry dropped by step ``step``: (must, must_not)."""
    return (f"step {step} did not happen (occurs: must)",
            f"step {step} happened (occurs: must_not)")


class SequenceMatcher(Matcher):
    """A :class:`Matcher` whose entries also collect their steps.

    ``steps``: per step, ``(name, occurs, within_ns, width)`` with ``width``
    the number of values its events keep (:func:`corr.engine.plan.step_names`).
    ``value_names``: the exit's captured names followed by the steps', as
    :func:`~corr.engine.plan.sequence_names` lists them: what kept fields,
    the pair filter and ``group_by`` read an exit's values by.
    """

    sequence = True

    def __init__(self, *args, steps=(), value_names=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.steps = tuple(steps)
        self._nothing = tuple((None,) * width for _, _, _, width in self.steps)
        self._no_exit = (None,) * len(self.exit_names)
        self._field_sources = [
            (1, value_names.index(n)) if n in value_names else
            (0, self.entry_names.index(n)) if n in self.entry_names else (None, None)
            for n in self.field_names]
        self._reasons = [drop_reasons(name) for name, _, _, _ in self.steps]

    def step(self, ts, key, index, values) -> None:
        """An event of step ``index`` under ``key``: seen by the entries waiting there."""
        if self.next_deadline < ts:
            self.expire(ts)
        opened = self._open.get(key)
        if opened is not None:
            self._see([opened] if self._single else opened, ts, index, values)
        waiting = self._timed_out.get(key)
        if waiting:
            self._see(waiting, ts, index, values)

    def _see(self, entries, ts, index, values) -> None:
        within = self.steps[index][2]
        kept = self._nothing[index] if values is None else values
        for e in entries:
            if within is not None and ts - e[TS] > within:
                continue
            state = e[STEPS]
            if state is None:           # per step its values, then the set of steps seen
                state = e[STEPS] = [*self._nothing, set()]
            state[index] = kept         # the last occurrence's
            state[-1].add(index)

    def decided_values(self, e: list, exit_values):
        """Check ``e``'s steps; its exit values with the steps' captures appended."""
        state = e[STEPS]
        seen = state[-1] if state is not None else ()
        for index, (_, occurs, _, _) in enumerate(self.steps):
            if occurs == "must" and index not in seen:
                self.dropped[self._reasons[index][0]] += 1
                return DROPPED
            if occurs == "must_not" and index in seen:
                self.dropped[self._reasons[index][1]] += 1
                return DROPPED
        out = self._no_exit if exit_values is None else tuple(exit_values)
        for values in (self._nothing if state is None else state[:-1]):
            out += values
        return out
