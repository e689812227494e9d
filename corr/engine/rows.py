"""One batch's classes, prepared for the rule sides they feed.

Keys, thread ids and captured values are computed a column at a time (a
list per class and batch), so that the engine's walk over events does
little more than index them.  Expressions that are not plain references
are evaluated row by row through light views of the columns.
"""

from __future__ import annotations

from ..rules.model import Env, EventSpec
from ..rules.vector import Unsupported, event_mask
from . import threads
from .matcher import hashable
from .plan import SYSCALL_PREFIXES, thread_parts

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


def _event_env(cols, row, builtins, note=None) -> Env:
    return Env(event=_RowView(cols, row, builtins), builtins=_BuiltinView(builtins, row),
               note=note)


def _noter(matcher, expression):
    """The ``Env.note`` counting ``expression``'s errors in the matcher's outcomes."""
    problems = getattr(matcher, "problems", None)
    return None if problems is None or expression is None else problems.noter(expression)


class Builtins:
    """``$name`` values for the rows of one class in one batch."""

    def __init__(self, class_name: str, cols, ts_of_row, names: threads.ThreadNames,
                 tids=None):
        self.class_name = class_name
        self.cols = cols
        self.ts_of_row = ts_of_row
        self.names = names
        f = cols.fields
        # ``tids``: the threads derived for events that record none (a UST
        # trace without vtid, from the kernel's switches: normalise.ust_threads).
        self.tids = f.get("ctx.tid") or f.get("ctx.vtid") or tids
        self.pids = f.get("ctx.pid") or f.get("ctx.vpid")
        self.procnames = f.get("ctx.procname")
        self.syscall = next((class_name[len(p):] for p in SYSCALL_PREFIXES
                             if class_name.startswith(p)), None)

    def column_of(self, scope: str, name: str):
        """A field's column (scope ``event``) or a builtin's, for column-wise filters."""
        if scope == "builtin":
            col = self.column(name)
            if col is None:          # $ts, $comm: they follow the events
                raise Unsupported(f"${name} has no column")
            return col
        return self.cols.fields.get(name)

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


def _hashable(column):
    """A key column of a trace's array or structure fields (lists, dicts) as tuples,
    so that it can be a key: a field has one type in its class, so the first value
    present tells."""
    if not isinstance(column, list):
        return column
    first = next((v for v in column if v is not None), None)
    if not isinstance(first, (list, dict)):
        return column
    return [hashable(v) for v in column]


def _nulls(column):
    """The rows where a column is null (a numpy-backed column has none; the C scan of
    ``in`` costs ~5 ns a row, the Python one only runs when there are some)."""
    if getattr(column, "array", None) is not None or None not in column:
        return ()
    return [r for r, v in enumerate(column) if v is None]


class TupleView:
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


class Prepared:
    """One rule side on one class of one batch: keys, tids, filter, captures."""

    __slots__ = ("kind", "matcher", "keys", "where", "builtins", "cols", "capture", "reason",
                 "durations", "rows", "sequential", "mask", "unthreaded", "where_note")

    def __init__(self, kind, matcher, spec: EventSpec, cols, builtins: Builtins, capture, reason,
                 duration=None):
        self.kind = kind
        self.matcher = matcher
        self.cols = cols
        self.builtins = builtins
        self.where = spec.where
        self.where_note = _noter(matcher, spec.where)
        self.capture = capture
        self.reason = reason
        self.keys, self.unthreaded = self._keys(spec)
        self.durations = None if duration is None else self._evaluated(duration)
        self.rows, self.sequential = self._captures(capture)
        # The filter as a mask over the rows, when it can be evaluated a
        # column at a time; else ``passes`` evaluates it row by row.
        self.mask = (None if self.where is None
                     else event_mask(self.where, builtins.column_of, len(cols)))

    def _evaluated(self, expr):
        """An expression's value on every row: a column when it is one."""
        col = self._column(expr)
        if col is None:               # an expression, or a builtin that follows time
            note = _noter(self.matcher, expr)
            col = [expr.evaluate(_event_env(self.cols, r, self.builtins, note))
                   for r in range(len(self.cols))]
        return col

    def _keys(self, spec: EventSpec):
        """The key of every row, and the rows whose thread key part is null (in order)."""
        columns = [_hashable(self._evaluated(part.expression)) for part in spec.key]
        unthreaded = sorted({r for i in thread_parts(spec)
                             for r in _nulls(columns[i])}) if spec.key else []
        if len(columns) == 1:
            return columns[0], unthreaded
        return list(zip(*columns)), unthreaded

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

    def filter(self):
        """What the walk asks: None (no filter), the mask, or ``passes``."""
        if self.where is None:
            return None
        return self.mask if self.mask is not None else self.passes

    def filter_threaded(self, drop):
        """:meth:`filter`, also refusing the rows whose thread key part is null: an
        entry of an unknown thread is never paired with another thread's exit.
        Each refused row that the filter passes is handed to ``drop(count)``
        (at once for a mask, at its event for a row-by-row filter)."""
        passes = self.filter()
        rows = self.unthreaded
        if not rows:
            return passes
        if passes is None or isinstance(passes, (bytes, bytearray)):
            mask = bytearray(passes) if passes is not None else bytearray(b"\x01") * len(self.cols)
            count = sum(mask[r] for r in rows)
            for r in rows:
                mask[r] = 0
            if count:
                drop(count)
            return bytes(mask)
        refused = frozenset(rows)

        def threaded(row: int) -> bool:
            if row in refused:
                if passes(row):
                    drop(1)
                return False
            return passes(row)
        return threaded

    def passes(self, row: int) -> bool:
        if self.where is None:
            return True
        return bool(self.where.evaluate(_event_env(self.cols, row, self.builtins,
                                                   self.where_note)))
