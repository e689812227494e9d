"""Durations with units (``250us``, ``1.5ms``), as rule files and ``--set`` write them.

Units are required: a bare ``5`` is ambiguous (5 ns? 5 ms?) and the
latency_tracker's own nanosecond knobs were a frequent source of mistakes.
Decimal arithmetic keeps ``1.1ms`` exactly 1,100,000 ns.
"""

from __future__ import annotations

import re
from decimal import Decimal

NS_PER_UNIT = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,       # MICRO SIGN
    "μs": 1_000,       # GREEK SMALL LETTER MU, which looks the same
    "ms": 1_000_000,
    "s": 1_000_000_000,
}

EXAMPLES = "e.g. 250us, 1ms, 2s"

# The engines hold times as signed 64-bit nanoseconds and add a timeout to a
# timestamp: a duration of at most 10**9 s (about 31 years) keeps every such
# sum in range, and is longer than anything a trace can measure.
MAX_DURATION_NS = 10**18
MAX_TEXT = 64          # characters: longer is no duration (and no slow regex)

_DURATION = re.compile(r"(?P<number>\d+(?:\.\d*)?|\.\d+)\s*(?P<unit>\S*)")


def parse_duration(text: str | int | float) -> int:
    """``"1.5ms"`` -> ``1_500_000``: a non-negative whole number of nanoseconds.

    Raises ValueError with a one-line message that quotes ``text``.
    """
    text = str(text).strip()
    if len(text) > MAX_TEXT:
        raise ValueError(f"{_shown(text)} is not a duration ({EXAMPLES})")
    if text.startswith("-") and _DURATION.fullmatch(text[1:].strip()):
        raise ValueError(f"{text!r} is negative: a duration is >= 0")
    match = _DURATION.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not a duration ({EXAMPLES})")
    unit = match["unit"]
    if not unit:
        raise ValueError(f"{text!r} has no unit ({EXAMPLES})")
    if unit not in NS_PER_UNIT:
        raise ValueError(f"{text!r} has an unknown unit {unit!r} (use ns, us, ms or s)")
    ns = Decimal(match["number"]) * NS_PER_UNIT[unit]
    if ns != ns.to_integral_value():
        raise ValueError(f"{text!r} is not a whole number of nanoseconds")
    if ns > MAX_DURATION_NS:
        raise ValueError(f"{text!r} is too long: a duration is at most "
                         f"{MAX_DURATION_NS // NS_PER_UNIT['s']}s (about 31 years)")
    return int(ns)


def _shown(text: str) -> str:
    """``text`` quoted for a message, cut short when long."""
    return repr(text if len(text) <= 40 else text[:40] + "...")


def format_duration(ns: int) -> str:
    """``1_500_000`` -> ``"1.5ms"``: exact text :func:`parse_duration` reads back to ``ns``."""
    ns = int(ns)
    if ns < 0:
        raise ValueError(f"{ns} is negative: a duration is >= 0")
    for unit in ("s", "ms", "us"):
        if ns >= NS_PER_UNIT[unit]:
            value = Decimal(ns) / NS_PER_UNIT[unit]
            return f"{value.normalize():f}{unit}"
    return f"{ns}ns"
