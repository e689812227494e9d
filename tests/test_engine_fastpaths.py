"""Shortcuts the engine takes give what the general evaluation gives."""

from __future__ import annotations

import itertools

from corr.engine.rows import TupleView
from corr.engine.runner import Engine
from corr.rules import parse_expression
from corr.rules.model import Env

VALUES = [None, 0, 1, "read", "write", 1.0, True]


def test_equality_pair_filter_matches_the_expression():
    expr = parse_expression("entry.$syscall == exit.x", "pair")
    assert expr.equality == (("entry", "$syscall"), ("exit", "x"))
    entry_index, exit_index = {"$syscall": 1, "other": 0}, {"x": 0}
    fast = Engine._pair_filter(expr, entry_index, exit_index)
    for a, b in itertools.product(VALUES, VALUES):
        entry, exit_ = ("pad", a), (b,)
        env = Env(entry=TupleView(entry_index, entry), exit=TupleView(exit_index, exit_))
        assert fast(entry, exit_, 5) == bool(expr.evaluate(env)), (a, b)
    assert fast(None, (1,), 5) is False            # an incomplete pair never passes


def test_other_pair_filters_are_evaluated():
    expr = parse_expression("exit.ret >= 0 and $duration > 10", "pair")
    assert expr.equality is None
    f = Engine._pair_filter(expr, {}, {"ret": 0})
    assert f(None, (3,), 11) is True
    assert f(None, (-1,), 11) is False
    assert f(None, (3,), 10) is False
