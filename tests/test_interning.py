"""Arrays of integers (call chains) sent from decode workers once per distinct
value: the C interning of the reader's accelerator against its Python
reference (corr.reading.wire)."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.lists(st.integers(-(1 << 63), (1 << 64) - 1), max_size=4),
                          st.none(), st.just([True]), st.just([0.0]), st.just((1, 2))),
                min_size=1, max_size=12),
       st.lists(st.integers(0, 11), max_size=60), st.integers(0, 2_000))
def test_the_c_interning_is_its_python_reference(pool, picks, distinct):
    """``_fastsink.intern_lists`` (through wire.interned_column) against
    ``interned_column_python``: the same kind, the same distinct values (the same
    objects, first seen first), the same ids; objects repeated, equal lists that are
    other objects, values it leaves to Python (bools, floats, tuples), and more
    distinct lists than its first table holds."""
    import numpy as np
    from corr.reading import wire
    from corr.reading.native_sink import _fastsink
    if _fastsink is None:
        if os.environ.get("CI"):
            pytest.fail("the C reader is built in CI")
        pytest.skip("the C reader was not built")
    column = [pool[k % len(pool)] for k in picks] + [[k, k] for k in range(distinct)]
    column += [list(v) if isinstance(v, list) else v for v in column[:5]]
    fast, reference = wire.interned_column(column), wire.interned_column_python(column)
    assert fast[0] == reference[0]
    if fast[0] == wire.OBJECTS:
        assert fast[1] is column and reference[1] is column
        return
    assert len(fast[1]) == len(reference[1])
    assert all(a is b for a, b in zip(fast[1], reference[1]))
    assert np.frombuffer(fast[2].raw(), dtype=np.int64).tolist() == \
        np.frombuffer(reference[2].raw(), dtype=np.int64).tolist()
