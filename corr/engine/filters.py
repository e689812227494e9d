"""Thread filters, as bcc's tools have them: ``--pid``, ``--tid``, ``--comm``.

A filter keeps the intervals whose *explained thread* matches: the rule's
``blame:`` thread when it has one (the entry's, the exit's, or the thread a
key part names), else the entry event's thread.  Values of one kind are
alternatives (``--pid 1 --pid 2``: either process); kinds must all match
(``--pid 1 --comm 'w*'``: a thread of process 1 whose name starts with w).

It applies after matching, to each rule's interval table: the matched
intervals (and the cache that keeps them) do not depend on it, and every
statistic, group, accounting line and scheduling analysis is then computed
over the kept intervals only.

- a thread's *process id* is learned from the events that tell it:
  ``sched_process_fork`` (lttng-modules' ``parent_pid``/``child_pid``),
  LTTng's state dump (``lttng_statedump_process_state``), and the ``pid``
  context of kernel events (perf's ``perf_pid``, LTTng's ``add-context -t
  pid``) or ``vpid`` of user-space ones; a thread whose process the trace
  never tells is taken for a process's main thread (its pid is its tid);
- a thread's *name* is the one it had at the interval's start or end (both
  are tried: a thread renamed by ``exec`` meanwhile matches either name),
  from the interval's own ``comm`` columns and the scheduling events' names
  over time; ``--comm`` is a shell glob (``fnmatch``), case-sensitive.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass
from fnmatch import fnmatchcase

from ..errors import UsageError

MAX_ID = 2 ** 31 - 1            # a pid or tid: the kernel's pid_t


@dataclass(frozen=True)
class ThreadFilter:
    """Which threads' intervals to report: ``pids``, ``tids``, ``comms`` (globs).

    Empty kinds do not filter; an empty filter keeps everything.  Values of
    one kind OR together, kinds AND together (as bcc's tools do).
    """

    pids: tuple[int, ...] = ()
    tids: tuple[int, ...] = ()
    comms: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "pids", _ids(self.pids, "pid"))
        object.__setattr__(self, "tids", _ids(self.tids, "tid"))
        object.__setattr__(self, "comms", _comms(self.comms))

    def __bool__(self) -> bool:
        return bool(self.pids or self.tids or self.comms)

    def describe(self) -> str:
        """The filter as the options that make it: ``--pid 12 --comm 'wget*'``."""
        parts = [f"--pid {p}" for p in self.pids] + [f"--tid {t}" for t in self.tids]
        parts += [f"--comm {_quoted(c)}" for c in self.comms]
        return " ".join(parts)

    def to_dict(self) -> dict:
        return {"pids": list(self.pids), "tids": list(self.tids), "comms": list(self.comms)}

    def needs_pass(self, ruleset) -> bool:
        """Whether the matching pass must learn something for this filter (process
        ids, or names over time of threads a key part names): then a run cannot
        be rebuilt from cached interval tables alone."""
        return bool(self.pids) or (bool(self.comms) and any(
            rule.blame not in (None, "entry", "exit") for rule in ruleset.rules))


def _ids(values, kind: str) -> tuple[int, ...]:
    if isinstance(values, (int, str)):
        values = (values,)
    out = []
    for value in values:
        number = parse_id(value, kind) if isinstance(value, str) else value
        if isinstance(number, bool) or not isinstance(number, int) or not 0 < number <= MAX_ID:
            raise UsageError(f"{kind} {value!r}: expected a {kind} (a whole number from 1 "
                             f"to {MAX_ID})")
        out.append(number)
    return tuple(dict.fromkeys(out))


def _comms(values) -> tuple[str, ...]:
    if isinstance(values, str):
        values = (values,)
    out = []
    for value in values:
        if not isinstance(value, str) or not value:
            raise UsageError(f"comm {value!r}: expected a thread name or a glob (wget, 'java*')")
        out.append(value)
    return tuple(dict.fromkeys(out))


def parse_id(text: str, kind: str) -> int:
    """A pid or tid as given on a command line."""
    try:
        number = int(text.strip(), 10)
    except ValueError:
        number = None
    if number is None or not 0 < number <= MAX_ID:
        raise UsageError(f"--{kind} {text!r}: not a {kind} (a whole number from 1 to {MAX_ID})")
    return number


def _quoted(text: str) -> str:
    import shlex
    return shlex.quote(text)


# -- process ids, learned during the pass ---------------------------------------------

# Canonical class -> (tid field, pid field) pairs that tell a thread's process.
PID_EVENTS = {
    "sched_process_fork": (("child_tid", "child_pid"), ("parent_tid", "parent_pid")),
    "lttng_statedump_process_state": (("tid", "pid"),),
}
# Contexts that tell the process of the event's thread, on any class.
PID_CONTEXTS = (("ctx.tid", "ctx.pid"), ("ctx.vtid", "ctx.vpid"))


class ProcessIds:
    """tid -> pid, as far as the events tell (the latest word wins)."""

    def __init__(self) -> None:
        self.pids: dict[int, int] = {}

    @staticmethod
    def projection(event_patterns) -> dict[str, frozenset[str]]:
        """What learning process ids decodes: the events above, and the pid contexts of
        ``event_patterns`` (the rules' events) and of ``sched_switch`` (perf's
        ``perf_pid`` on every switch)."""
        contexts = frozenset(f for pair in PID_CONTEXTS for f in pair)
        wanted = {name: frozenset(f for pair in pairs for f in pair)
                  for name, pairs in PID_EVENTS.items()}
        for pattern in [*event_patterns, "sched_switch"]:
            wanted[pattern] = wanted.get(pattern, frozenset()) | contexts
        return wanted

    def learn(self, class_name: str, fields: dict) -> None:
        """Learn from one class's columns of a batch."""
        pairs = PID_EVENTS.get(class_name, ()) + PID_CONTEXTS
        for tid_name, pid_name in pairs:
            tids, pids = fields.get(tid_name), fields.get(pid_name)
            if tids is None or pids is None:
                continue
            found = dict(zip(tids, pids))
            self.pids.update((t, p) for t, p in found.items()
                             if type(t) is int and t > 0 and type(p) is int and p > 0)

    def pid_of(self, tid: int) -> int:
        """The thread's process id; a thread never placed is its process's main thread."""
        return self.pids.get(tid, tid)


# -- applying a filter to a rule's intervals -----------------------------------------

def explained_tids(rule_result):
    """Per interval, the thread the filter looks at (NONE_INT: none)."""
    from ..analyses.scheduling import blamed_tids
    return blamed_tids(rule_result, rule_result.rule.blame or "entry")


def selected_rows(rule_result, flt: ThreadFilter, process_ids: ProcessIds | None = None,
                  names=None):
    """The rows of ``rule_result``'s interval table whose explained thread ``flt`` keeps.

    ``process_ids``: what the pass learned (None: every thread is taken for
    its process's main thread); ``names``: the pass's
    :class:`~corr.engine.threads.ThreadNames` (its history, when kept, gives
    names at any time).
    """
    import numpy as np
    table = rule_result.intervals
    tids = explained_tids(rule_result)
    keep = tids > 0
    if flt.tids:
        keep &= np.isin(tids, flt.tids)
    if flt.pids:
        unique = np.unique(tids[keep])
        pid_of = process_ids.pid_of if process_ids is not None else int
        wanted = set(flt.pids)
        in_process = [int(t) for t in unique.tolist() if pid_of(t) in wanted]
        keep &= np.isin(tids, in_process)
    if flt.comms:
        keep &= _comm_mask(flt.comms, table, tids, keep, names)
    return np.flatnonzero(keep)


def _comm_mask(globs, table, tids, candidates, names):
    """Where the explained thread's name at the interval's start or end matches a glob
    (only rows of ``candidates`` are looked at)."""
    import numpy as np
    memo: dict = {}

    def matches(name) -> bool:
        found = memo.get(name)
        if found is None:
            found = memo[name] = isinstance(name, str) and any(fnmatchcase(name, g) for g in globs)
        return found

    mask = np.zeros(len(tids), dtype=bool)
    # The names the interval was recorded with (its entry's and exit's threads).
    for comms, column in ((table.entry_comm, table.entry_tid), (table.exit_comm, table.exit_tid)):
        rows = np.flatnonzero(candidates & ~mask & (tids == np.frombuffer(column, np.int32)))
        if len(rows):
            mask[rows] = [matches(comms[i]) for i in rows.tolist()]
    if names is None or names.history is None:
        return mask
    # Names over time: a thread none of whose names matches is skipped whole, one
    # all of whose names match is kept whole; the others are looked up per interval.
    rest = np.flatnonzero(candidates & ~mask)
    if not len(rest):
        return mask
    start = np.frombuffer(table.start_ns, dtype=np.int64)
    end = np.frombuffer(table.end_ns, dtype=np.int64)
    order = rest[np.argsort(tids[rest], kind="stable")]
    bounds = np.flatnonzero(np.diff(tids[order])) + 1
    for rows in np.split(order, bounds):
        tid = int(tids[rows[0]])
        known = names.names_over_time(tid)
        if not known:
            continue
        hits = [matches(n) for n in set(known[1])]
        if not any(hits):
            continue
        if all(hits):
            mask[rows] = True
            continue
        for i in rows.tolist():
            mask[i] = (matches(names.name_at(tid, int(start[i])))
                       or matches(names.name_at(tid, int(end[i]))))
    return mask


def subset_table(table, rows):
    """A new interval table of ``table``'s rows at ``rows`` (sorted indexes)."""
    import numpy as np

    from .intervals import IntervalTable
    index = rows.tolist()

    def pick(column):
        return [column[i] for i in index]

    def take(name):
        if name in dict(IntervalTable.INT_COLUMNS):
            column = getattr(table, name)
            return np.frombuffer(column, dtype=column.typecode).take(rows).tobytes()
        if name == "key":
            keys = table.key
            return np.frombuffer(keys, dtype=np.int64).take(rows).tobytes() \
                if type(keys) is array else pick(keys)
        if name == "fields":
            return [pick(table.fields[f]) for f in table.field_names]
        return pick(getattr(table, name))

    out = IntervalTable.adopt(table.key_names, table.field_names, take)
    out.lossy = array("b", np.frombuffer(table.lossy, dtype=np.int8).take(rows).tobytes())
    return out


def apply(rules: list, flt: ThreadFilter | None, process_ids: ProcessIds | None = None,
          names=None) -> list[str]:
    """Restrict each rule result to the intervals ``flt`` keeps; the notes that say so."""
    if not flt:
        return []
    counts = []
    for result in rules:
        total = len(result.intervals)
        rows = selected_rows(result, flt, process_ids, names)
        result.restrict(rows)
        counts.append(f"{result.name} {len(rows):,} of {total:,}")
    note = (f"thread filter {flt.describe()}: only the intervals of matching threads are "
            f"reported ({', '.join(counts)}); entries the matching dropped are not counted")
    if flt.pids and (process_ids is None or not process_ids.pids):
        note += ("; the traces tell no thread's process: a pid matches its process's main "
                 "thread only (tid = pid)")
    return [note]
