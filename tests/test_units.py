"""Durations as tables and reports write them."""

from __future__ import annotations

import pytest

from corr.render.units import short_duration


@pytest.mark.parametrize("ns,text", [
    (None, "-"), (0, "0ns"), (999, "999ns"), (999.6, "1us"), (1000, "1us"), (32_300_000, "32.3ms"),
    (999_999_600, "1s"), (999_400_000, "999ms"), (999_999, "1ms"), (999_400, "999us"),
    (1_560_000_000, "1.56s"), (1_234_567_000_000, "1235s"), (-2_500_000, "-2.5ms")])
def test_short_durations_never_read_as_exponents(ns, text):
    assert short_duration(ns) == text
