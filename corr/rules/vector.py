"""Event filters evaluated a column at a time, when the data allows it.

An entry's or exit's ``where`` is asked of every event of the classes it
filters; row by row that is a dozen closure calls an event, the largest
cost of a rule like ``offcpu``.  Here the same parse tree is evaluated over
whole numpy columns, to a mask of the rows that pass.

The row-wise evaluator (:mod:`corr.rules.expr`) stays the definition.
This module follows it exactly -- absent values (None) compare false,
arithmetic on an absent value is absent, ``x in [...]`` of an absent value is
false both ways -- and wherever it cannot be exact or an error is to be
counted (strings in arithmetic, a division by zero: see
:mod:`corr.rules.expr`) (a column of mixed or
unusual types, integers large enough to overflow 64 bits or lose
precision as floats, a builtin that follows time such as ``$comm``), it
gives up and the engine evaluates row by row.
"""

from __future__ import annotations

import fnmatch
import operator
import re
from typing import Callable

import numpy as np

from .expr import _Compiler, _Node, _Token

NUM, BOOL, STR, NULL = "num", "bool", "str", "null"
_EXACT_FLOAT = 2 ** 53          # integers beyond this are not exact as float64
_SMALL = 2 ** 31                # products of these fit in int64
_HALF = 2 ** 62                 # sums of these fit in int64


class Unsupported(Exception):
    """The data or the expression is outside what is evaluated column-wise."""


class Value:
    """A column (or a constant) of one kind, with the rows where it is present."""

    __slots__ = ("data", "kind", "present")

    def __init__(self, data, kind: str, present: np.ndarray | None = None):
        self.data = data            # an array of n values, or one scalar for every row
        self.kind = kind
        self.present = present      # None: present on every row


ColumnSource = Callable[[str, str], object]


def event_mask(expression, column: ColumnSource, n: int) -> bytes | None:
    """One byte a row, 1 where ``expression`` holds; None when not evaluable column-wise.

    ``column(scope, name)`` gives a field's column (``scope`` "event") or a
    builtin's (``scope`` "builtin"): a list, an array, or None when the
    class has no such field; it raises :class:`Unsupported` for a builtin
    that has no column.
    """
    if expression.tree is None or expression.scope != "event":
        return None
    try:
        value = _Evaluator(column, n, expression.scope).evaluate(expression.tree)
        mask = np.broadcast_to(_truthy(value, n), (n,))
    except Unsupported:
        return None
    return np.ascontiguousarray(mask, dtype=np.uint8).tobytes()


def column_value(values) -> Value:
    """A decoded column as a Value: numbers, strings, absent rows; else Unsupported."""
    if isinstance(values, np.ndarray):
        array = values
    elif getattr(values, "array", None) is not None:        # an IntColumn's own array
        array = values.array
    elif isinstance(values, (bytes, bytearray)) and hasattr(values, "code"):
        array = np.frombuffer(values, dtype=np.uint64 if values.code == "Q" else np.int64)
    else:
        try:
            array = np.asarray(values) if len(values) else np.zeros(0, dtype=np.int64)
        except (ValueError, TypeError, OverflowError):   # arrays of a trace's array fields
            raise Unsupported("a column of sequences") from None
    kind = array.dtype.kind
    if kind == "i":
        return Value(array.astype(np.int64, copy=False), NUM)
    if kind == "u":
        if len(array) and array.max() >= 2 ** 63:
            raise Unsupported("unsigned values beyond int64")
        return Value(array.astype(np.int64), NUM)
    if kind == "f":
        return Value(array, NUM)
    if kind == "U":
        return Value(array, STR)
    if kind == "O":
        return _mixed(list(values))
    raise Unsupported(f"a column of dtype {array.dtype}")


def _mixed(values: list) -> Value:
    """A column with absent rows (None) among numbers or strings."""
    present = np.fromiter((v is not None for v in values), dtype=bool, count=len(values))
    kinds = {type(v) for v in values if v is not None}
    if not kinds:
        return Value(None, NULL)
    if kinds == {int}:
        try:
            data = np.asarray([0 if v is None else v for v in values], dtype=np.int64)
        except OverflowError:
            raise Unsupported("integers beyond int64") from None
        return Value(data, NUM, present)
    if kinds <= {int, float}:
        data = [0.0 if v is None else v for v in values]
        if any(isinstance(v, int) and abs(v) > _EXACT_FLOAT for v in data):
            raise Unsupported("integers beyond float precision")
        return Value(np.asarray(data, dtype=np.float64), NUM, present)
    if kinds == {str}:
        return Value(np.asarray(["" if v is None else v for v in values], dtype=object), STR,
                     present)
    raise Unsupported(f"a column of {sorted(k.__name__ for k in kinds)}")


def _constant(value) -> Value:
    if value is None:
        return Value(None, NULL)
    if isinstance(value, bool):
        return Value(value, BOOL)
    if isinstance(value, (int, float)):
        if isinstance(value, int) and abs(value) >= _HALF:
            raise Unsupported("a constant beyond int64")
        return Value(value, NUM)
    if isinstance(value, str):
        return Value(value, STR)
    raise Unsupported(f"a constant {value!r}")


def _present(*values: Value):
    """Rows where every one of ``values`` is present (None: all rows)."""
    out = None
    for v in values:
        if v.kind == NULL:
            return False
        if v.present is not None:
            out = v.present if out is None else out & v.present
    return out


def _and_present(result, present):
    if present is None:
        return result
    if present is False:
        return False
    return result & present


def _magnitude(v: Value) -> float:
    data = v.data
    if isinstance(data, np.ndarray):
        if not len(data):
            return 0
        if v.present is not None:
            data = data[v.present] if v.present.any() else data[:0]
            if not len(data):
                return 0
        return float(max(abs(data.max()), abs(data.min())))
    return abs(data)


def _is_float(v: Value) -> bool:
    return (isinstance(v.data, np.ndarray) and v.data.dtype.kind == "f") or isinstance(v.data, float)


def _check_mixing(a: Value, b: Value, limit: float) -> None:
    """Integers mixed with floats, or too large for int64 arithmetic: give up."""
    if _is_float(a) != _is_float(b) and max(_magnitude(a), _magnitude(b)) > _EXACT_FLOAT:
        raise Unsupported("integers compared with floats beyond float precision")
    if not (_is_float(a) or _is_float(b)) and max(_magnitude(a), _magnitude(b)) >= limit:
        raise Unsupported("integers that may overflow int64")


_KEYWORDS = {"true": True, "false": False, "null": None}
_ORDER = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_EQUALITY = {"==": operator.eq, "!=": operator.ne}


class _Evaluator:
    """Walks a parse tree over columns; names resolve as the row-wise compiler resolves them."""

    def __init__(self, column: ColumnSource, n: int, scope: str):
        self.column = column
        self.n = n
        self.names = _Compiler(scope, ())

    def evaluate(self, node) -> Value:
        if isinstance(node, _Token):
            return _constant(self.names.literal(node))
        if node.data in _KEYWORDS:
            return _constant(_KEYWORDS[node.data])
        handler = getattr(self, "node_" + node.data.rstrip("_"), None)
        if handler is None:
            raise Unsupported(f"a {node.data} in a filter")
        return handler(*node.children)

    # -- atoms ---------------------------------------------------------------------
    def node_reference(self, *tokens):
        scope, name = self.names.resolve(tokens)
        values = self.column(scope, name)
        if values is None:
            return Value(None, NULL)
        value = column_value(values)
        if value.data is not None and len(value.data) != self.n:
            raise Unsupported("a column of another length")
        return value

    # -- operators -----------------------------------------------------------------
    def node_neg(self, _minus, operand):
        v = self.evaluate(operand)
        if v.kind == NULL:
            return Value(None, NULL)
        if v.kind != NUM:
            raise Unsupported("an error, noted row by row")
        _check_mixing(v, v, _HALF)
        return Value(-v.data, NUM, v.present)

    def node_arith(self, left, op, right):
        a, b = self.evaluate(left), self.evaluate(right)
        if NULL in (a.kind, b.kind):
            return Value(None, NULL)          # arithmetic on an absent value is absent
        if a.kind != NUM or b.kind != NUM:
            # Strings concatenate; anything else is an error the rule's outcomes count.
            raise Unsupported("strings or an error, evaluated row by row")
        symbol = op.value
        _check_mixing(a, b, _SMALL if symbol == "*" else _HALF)
        if symbol == "/" and max(_magnitude(a), _magnitude(b)) > _EXACT_FLOAT:
            raise Unsupported("true division of integers beyond float precision")
        present = _present(a, b)
        if symbol in ("/", "%"):
            nonzero = b.data != 0
            if not isinstance(nonzero, np.ndarray) and not nonzero:
                raise Unsupported("a division by zero, noted row by row")
            if isinstance(nonzero, np.ndarray) and _and_present(~nonzero, present).any():
                raise Unsupported("a division by zero, noted row by row")
            safe = np.where(nonzero, b.data, 1) if isinstance(nonzero, np.ndarray) else b.data
            data = np.true_divide(a.data, safe) if symbol == "/" else np.remainder(a.data, safe)
            if isinstance(nonzero, np.ndarray):
                present = nonzero if present is None else present & nonzero
        else:
            data = {"+": np.add, "-": np.subtract, "*": np.multiply}[symbol](a.data, b.data)
        if not isinstance(data, np.ndarray):
            data = np.full(self.n, data)
        return Value(data, NUM, present)

    def node_compare(self, left, op, right):
        symbol = op.value
        if symbol in _EQUALITY and (_is_null(left) or _is_null(right)):
            other = self.evaluate(right if _is_null(left) else left)
            absent = self._absent(other)
            return Value(absent if symbol == "==" else ~absent, BOOL)
        a, b = self.evaluate(left), self.evaluate(right)
        present = _present(a, b)
        if present is False:
            return Value(False, BOOL)
        comparable = {a.kind, b.kind} <= {NUM, BOOL} or a.kind == b.kind == STR
        if not comparable:
            # A number against a string: never equal, never ordered.
            result = symbol == "!="
            return Value(_and_present(np.full(self.n, result), present), BOOL)
        if {a.kind, b.kind} <= {NUM, BOOL}:
            _check_mixing(a, b, float("inf"))
        fn = _EQUALITY.get(symbol) or _ORDER[symbol]
        result = fn(a.data, b.data)
        if not isinstance(result, np.ndarray) or result.shape != (self.n,):
            result = np.broadcast_to(np.asarray(result, dtype=bool), (self.n,))
        result = result.astype(bool, copy=False)
        return Value(_and_present(result, present), BOOL)

    def node_in(self, left, values):
        return self._membership(left, values, negate=False)

    def node_not_in(self, left, values):
        return self._membership(left, values, negate=True)

    def _membership(self, left, items, negate: bool) -> Value:
        if getattr(items, "data", None) != "list":
            raise Unsupported("membership in something other than a list")
        pool = [self.evaluate(item) for item in items.children]
        if any(p.kind == BOOL or isinstance(p.data, np.ndarray) for p in pool):
            raise Unsupported("membership in a list of columns or booleans")
        v = self.evaluate(left)
        if v.kind == NULL:
            return Value(False, BOOL)
        if v.kind not in (NUM, STR):
            raise Unsupported("membership of a boolean")
        wanted = [p.data for p in pool if p.kind == v.kind]
        if v.kind == NUM:
            _check_mixing(v, Value(0.0 if any(isinstance(w, float) for w in wanted) else 0, NUM),
                          float("inf"))
        data = np.asarray(v.data)
        found = (np.isin(data, np.asarray(wanted, dtype=None if v.kind == NUM else object))
                 if wanted else np.zeros(self.n, dtype=bool))
        return Value(_and_present(found != negate, v.present), BOOL)

    def node_like(self, left, pattern):
        p = self.evaluate(pattern)
        if p.kind != STR or isinstance(p.data, np.ndarray):
            raise Unsupported("like with a pattern that is not a constant string")
        v = self.evaluate(left)
        if v.kind != STR:
            return Value(False, BOOL)
        match = re.compile(fnmatch.translate(p.data)).match
        strings = v.data if isinstance(v.data, np.ndarray) else [v.data] * self.n
        found = np.fromiter((match(s) is not None for s in strings), dtype=bool, count=self.n)
        return Value(_and_present(found, v.present), BOOL)

    def node_not(self, operand):
        return Value(~_truthy(self.evaluate(operand), self.n), BOOL)

    def node_and(self, *operands):
        """All operands of an ``and`` chain (one node, however long: see expr._plain)."""
        mask = _truthy(self.evaluate(operands[0]), self.n)
        for operand in operands[1:]:
            mask = mask & _truthy(self.evaluate(operand), self.n)
        return Value(mask, BOOL)

    def node_or(self, *operands):
        mask = _truthy(self.evaluate(operands[0]), self.n)
        for operand in operands[1:]:
            mask = mask | _truthy(self.evaluate(operand), self.n)
        return Value(mask, BOOL)

    def _absent(self, v: Value) -> np.ndarray:
        if v.kind == NULL:
            return np.ones(self.n, dtype=bool)
        if v.present is None:
            return np.zeros(self.n, dtype=bool)
        return ~v.present


def _truthy(v: Value, n: int) -> np.ndarray:
    """``bool(value)`` on every row, as the row-wise evaluator takes it."""
    if v.kind == NULL:
        return np.zeros(n, dtype=bool)
    data = v.data
    if not isinstance(data, np.ndarray):
        return np.full(n, bool(data))
    if v.kind == STR:
        out = np.fromiter((len(s) > 0 for s in data), dtype=bool, count=n)
    elif v.kind == BOOL:
        out = data.astype(bool, copy=False)
    else:
        out = data != 0
    return out if v.present is None else out & v.present


def _is_null(node) -> bool:
    return isinstance(node, _Node) and node.data == "null"


__all__ = ["event_mask", "column_value", "Unsupported"]
