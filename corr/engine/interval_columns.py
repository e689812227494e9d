"""The intervals of every rule as one table: CSV, Parquet and the library's Arrow tables.

One row per interval, every status included, in each rule's table order,
with the rule's name; key parts get a ``key.<part>`` column each and
captured fields a ``fields.<name>`` column each (Parquet: one struct
column ``fields``), in the order the rules name them; a rule without a
key part or field has nulls there.  Threads are named as
``RuleResult.interval`` names them (by their name at the interval's
start, for rules with ``blame:``), but no interval is explained: the
columns are read from the interval table a block of rows at a time,
without a dict per interval.
"""

from __future__ import annotations


COLUMNS = ["rule", "start_ns", "end_ns", "duration_ns", "status", "tid", "cpu", "comm",
           "exit_tid", "exit_cpu", "exit_comm", "group", "lossy"]
BLOCK = 1 << 16            # rows turned into Python values at a time


def layout(result) -> tuple[list[str], list[str]]:
    """The key parts and the captured fields of every rule, each once, in order
    (``result``: a RunResult, or a list of its RuleResults)."""
    key_parts: list[str] = []
    field_names: list[str] = []
    for r in getattr(result, "rules", result):
        for name in r.intervals.key_names:
            if name not in key_parts:
                key_parts.append(name)
        for name in r.intervals.field_names:
            if name not in field_names:
                field_names.append(name)
    return key_parts, field_names


def blocks(result, key_parts: list[str], field_names: list[str]):
    """``(rule result, columns)`` per block of rows: the table's columns as Python
    lists, keyed as :data:`COLUMNS`, ``key.<part>`` and ``fields.<name>``.  A table
    that spilled is read a block at a time (``IntervalTable.gather``), never whole."""
    import numpy as np

    from .intervals import NONE_INT, STATUS_NAMES
    from .result import plain_value
    statuses = np.array(STATUS_NAMES, dtype=object)
    for r in getattr(result, "rules", result):
        table = r.intervals
        n = len(table)
        group_values = [plain_value(v) for v in r.group_values] if r.group_values else None
        analysis = r.analysis
        threads = getattr(analysis, "threads", None) if analysis is not None else None
        key_names = table.key_names
        whole = None if table.spilled else _Columns(table)
        for a in range(0, n, BLOCK):
            b = min(a + BLOCK, n)
            if whole is None:
                part, lo = _Columns(table.gather(np.arange(a, b))), 0
            else:
                part, lo = whole, a
            hi = lo + (b - a)
            start, end = part.start[lo:hi], part.end[lo:hi]
            starts = start.tolist()
            columns = {"rule": [r.name] * (b - a), "start_ns": starts,
                       "end_ns": end.tolist(), "duration_ns": (end - start).tolist(),
                       "status": statuses[part.status[lo:hi]].tolist()}
            for c, values in part.ints.items():
                values = values[lo:hi]
                out = values.tolist()
                if (values == NONE_INT).any():
                    out = [None if v == NONE_INT else v for v in out]
                columns[c] = out
            columns["comm"] = _named(threads, columns["tid"], starts, part.entry_comm[lo:hi])
            columns["exit_comm"] = _named(threads, columns["exit_tid"], starts,
                                          part.exit_comm[lo:hi])
            columns["group"] = ([group_values[g] for g in part.group[lo:hi].tolist()]
                                if group_values else [None] * (b - a))
            columns["lossy"] = part.lossy[lo:hi].astype(bool).tolist()
            keys = part.key
            part_keys = list(keys[lo:hi])
            plain = not isinstance(keys, list) or all(type(k) is not tuple for k in part_keys)
            for name in key_parts:
                at = key_names.index(name) if name in key_names else None
                if at is None or (plain and at > 0):
                    columns[f"key.{name}"] = [None] * (b - a)
                elif plain:
                    columns[f"key.{name}"] = part_keys
                else:                 # a tuple's parts, as RuleResult.interval names them
                    columns[f"key.{name}"] = [(k[at] if at < len(k) else None) if type(k) is tuple
                                              else (k if at == 0 else None) for k in part_keys]
            captured = part.fields
            for name in field_names:
                values = captured.get(name)
                columns[f"fields.{name}"] = (list(values[lo:hi]) if values is not None
                                             else [None] * (b - a))
            yield r, columns


class _Columns:
    """A table's columns, each read once (a spilled table's are gathered blocks)."""

    def __init__(self, table):
        import numpy as np
        self.start = np.frombuffer(table.start_ns, dtype=np.int64)
        self.end = np.frombuffer(table.end_ns, dtype=np.int64)
        self.status = np.frombuffer(table.status, dtype=np.int8)
        self.group = np.frombuffer(table.group, dtype=np.int32)
        self.lossy = np.frombuffer(table.lossy, dtype=np.int8)
        self.ints = {c: np.frombuffer(getattr(table, attr), dtype=np.int32)
                     for c, attr in (("tid", "entry_tid"), ("cpu", "entry_cpu"),
                                     ("exit_tid", "exit_tid"), ("exit_cpu", "exit_cpu"))}
        self.entry_comm, self.exit_comm = table.entry_comm, table.exit_comm
        self.key = table.key
        self.fields = table.fields


def _named(threads, tids: list, starts: list, comms: list) -> list:
    """Each row's thread called as ``RuleResult.interval`` calls it: by its name at the
    interval's start when the rule's analysis keeps names over time (a thread the
    trace never named keeps the event's name)."""
    comms = list(comms)
    if threads is None:
        return comms
    for j, (tid, name) in enumerate(zip(tids, threads.names_at(tids, starts))):
        if name is not None and tid is not None and tid > 0:
            comms[j] = name
    return comms


def selected(r, all_intervals: bool = False):
    """The rows ``RuleResult.iter_intervals`` gives, in its order: those over the
    threshold (or all), slowest first."""
    return r.slowest(all_intervals)


def selected_rows(r, all_intervals: bool = False):
    """``(rows, largest tid)`` of the :func:`selected` intervals: each row
    ``(tid, comm, key, group, status, start_ns, duration_ns)`` as
    ``RuleResult.interval`` gives them, read from the table's columns a block at a
    time (nothing explained); the largest tid of them all, or None."""
    import numpy as np

    from .intervals import NONE_INT
    index = selected(r, all_intervals)
    table = r.intervals
    tids = np.frombuffer(table.entry_tid, dtype=np.int32)
    chosen = tids[index]
    chosen = chosen[chosen != NONE_INT]
    largest = int(chosen.max()) if len(chosen) else None
    return _selected_rows(r, index), largest


def _selected_rows(r, index):
    import numpy as np

    from .intervals import NONE_INT, STATUS_NAMES, spill_rows
    from .result import plain_value
    table = r.intervals
    key_names = table.key_names
    group_values = [plain_value(v) for v in r.group_values] if r.group_values else None
    analysis = r.analysis
    threads = getattr(analysis, "threads", None) if analysis is not None else None
    whole = None if table.spilled else _Columns(table)
    # A spilled table's rows are gathered as RuleResult.iter_intervals gathers them, a
    # window as large as its chunks (each chunk read once a window).
    window = BLOCK if whole is not None else max(BLOCK, spill_rows())
    for a in range(0, len(index), window):
        chosen = index[a:a + window]
        if whole is None:                 # a spilled table: these rows gathered, in order
            part, at = _Columns(table.gather(chosen)), np.arange(len(chosen))
        else:
            part, at = whole, chosen
        start, end = part.start[at], part.end[at]
        starts = start.tolist()
        durations = (end - start).tolist()
        block_tids = [None if t == NONE_INT else t for t in part.ints["tid"][at].tolist()]
        rows = at.tolist()
        comms = part.entry_comm
        names = _named(threads, block_tids, starts, [comms[i] for i in rows])
        keys = part.key
        block_keys = [keys[i] for i in rows]
        block_keys = [dict(zip(key_names, k)) if isinstance(k, tuple) else k
                      for k in block_keys]
        groups = ([group_values[g] for g in part.group[at].tolist()] if group_values
                  else [None] * len(rows))
        yield from zip(block_tids, names, block_keys, groups,
                       [STATUS_NAMES[s] for s in part.status[at].tolist()], starts, durations)
