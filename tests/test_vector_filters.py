"""Column-wise filters agree with the row-wise evaluator, row for row.

The row-wise evaluator (corr.rules.expr) defines what a ``where`` means;
corr.rules.vector evaluates the same tree over numpy columns for speed.
Random expressions over random columns (numbers, strings, absent values,
large integers) must give the same mask, or no mask at all (the engine then
evaluates row by row); and no mask when some row's evaluation is an error
(``'+' of a string and a number``, a division by zero), which the row-wise
evaluator tells the rule's outcomes.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corr.errors import RuleError
from corr.rules.expr import parse_expression
from corr.rules.model import Env
from corr.rules.vector import Unsupported, event_mask

N = 12

ints = st.integers(min_value=-300, max_value=300)
big = st.sampled_from([0, 1, -1, 2 ** 40, -(2 ** 40), 2 ** 62, 2 ** 63 - 1, 2 ** 64 - 1])
words = st.sampled_from(["", "a", "ab", "b", "sshd", "kworker/0:1", "x*"])
floats = st.sampled_from([0.0, 0.5, -1.5, 2.0, 1e300])


def column(values):
    return st.lists(values, min_size=N, max_size=N)


columns = st.fixed_dictionaries({
    "a": column(ints),
    "b": column(st.one_of(ints, st.none())),
    "big": column(big),
    "s": column(st.one_of(words, st.none())),
    "f": column(st.one_of(floats, ints)),
    "word": column(words),
})

ATOMS = ["a", "b", "big", "s", "f", "word", "missing", "$cpu", "$tid", "$name", "$comm",
         "0", "1", "3", "256", "-2", "2.5", "'a'", "'sshd'", "null", "true", "false",
         "9223372036854775807"]
COMPARE = ["==", "!=", "<", "<=", ">", ">="]
ARITH = ["+", "-", "*", "/", "%"]


@st.composite
def expressions(draw, depth=3):
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        return draw(st.sampled_from(ATOMS))
    form = draw(st.integers(0, 8))
    sub = lambda: draw(expressions(depth - 1))          # noqa: E731
    if form == 0:
        return f"({sub()} {draw(st.sampled_from(ARITH))} {sub()})"
    if form in (1, 2):
        return f"({sub()} {draw(st.sampled_from(COMPARE))} {sub()})"
    if form == 3:
        items = draw(st.lists(st.sampled_from(["0", "1", "16", "-2", "2.0", "'a'", "'sshd'",
                                               "null", "true"]), max_size=4))
        neg = draw(st.booleans())
        return f"({sub()} {'not in' if neg else 'in'} [{', '.join(items)}])"
    if form == 4:
        pattern = draw(st.sampled_from(['"s*"', '"*"', '"a"', '"k*/?:1"']))
        return f"({sub()} like {pattern})"
    if form == 5:
        return f"(not {sub()})"
    if form == 6:
        return f"({sub()} and {sub()})"
    if form == 7:
        return f"({sub()} or {sub()})"
    return f"(-{sub()})"


def row_wise(expression, cols, builtins, notes=None):
    out = []
    for r in range(N):
        event = {name: values[r] for name, values in cols.items()}
        b = {name: values[r] for name, values in builtins.items()}
        b["comm"] = "sshd"
        out.append(bool(expression.evaluate(Env(event=event, builtins=b,
                                                 note=None if notes is None else notes.append))))
    return out


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expressions(), columns, st.lists(st.integers(0, 3), min_size=N, max_size=N))
def test_column_wise_filter_is_the_row_wise_filter(text, cols, cpus):
    try:
        expression = parse_expression(text, "event")
    except RuleError as err:                     # an error whatever the trace: never run
        assert err.reason.endswith("is always null"), err.reason
        return
    builtins = {"cpu": cpus, "tid": [100 + c for c in cpus], "name": ["sched_switch"] * N}

    def column_of(scope, name):
        if scope == "builtin":
            if name not in builtins:
                raise Unsupported(name)
            return builtins[name]
        return cols.get(name)

    mask = event_mask(expression, column_of, N)
    if mask is None:
        return                                   # the engine evaluates row by row
    notes = []
    assert [bool(b) for b in mask] == row_wise(expression, cols, builtins, notes), text
    assert notes == [], (text, notes)            # errors are noted, so evaluated row by row


def test_the_offcpu_filter_is_evaluated_column_wise():
    """The shipped off-CPU filter needs no row-wise fallback on ordinary columns."""
    expression = parse_expression(
        "prev_tid != 0 and prev_state % 256 != 0 and prev_state % 256 not in [16, 32, 64]",
        "event")
    cols = {"prev_tid": [0, 5, 6, 7, 8, 9], "prev_state": [1, 0, 256, 2, 16 + 256, 1026]}
    mask = event_mask(expression, lambda scope, name: cols.get(name), 6)
    assert mask is not None
    assert list(mask) == [0, 0, 0, 1, 0, 1]


def test_unsupported_builtins_fall_back():
    expression = parse_expression("$comm == 'sshd'", "event")

    def column_of(scope, name):
        raise Unsupported(name)
    assert event_mask(expression, column_of, 3) is None
