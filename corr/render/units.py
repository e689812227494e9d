"""Readable times and durations, shared by the text renderers."""

from __future__ import annotations

import datetime as _dt


def duration(ns: int | float | None) -> str:
    """``1.234 ms`` style: three significant decimals in the best unit."""
    if ns is None:
        return "-"
    a = abs(ns)
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("us", 1e3)):
        if a >= scale:
            return f"{ns / scale:.3f} {unit}"
    return f"{ns:.0f} ns"


def short_duration(ns: int | float | None) -> str:
    """``32.3ms`` style: three significant digits, for tables (a value that rounds
    to 1000 of a unit is written in the unit above: ``1s``, not ``1e+03ms``)."""
    if ns is None:
        return "-"
    a = abs(ns)
    units = (("s", 1e9), ("ms", 1e6), ("us", 1e3))
    for i, (unit, scale) in enumerate(units):
        if a >= scale:
            value = ns / scale
            if abs(float(f"{value:.3g}")) < 1000:
                return f"{value:.3g}{unit}"
            if i == 0:
                return f"{value:.0f}{unit}"
            above, bigger = units[i - 1]
            return f"{ns / bigger:.3g}{above}"
    if abs(float(f"{ns:.3g}")) >= 1000:
        return f"{ns / 1e3:.3g}us"
    return f"{ns:.0f}ns"


def timestamp(ns: int | None, epoch: bool = True) -> str:
    """An absolute time: UTC wall clock for epoch-based clocks, else seconds."""
    if ns is None:
        return "-"
    if epoch and ns > 10**17:       # after 1973: a Unix-epoch clock
        secs, frac = divmod(ns, 1_000_000_000)
        t = _dt.datetime.fromtimestamp(secs, _dt.timezone.utc)
        return t.strftime("%Y-%m-%d %H:%M:%S") + f".{frac:09d} UTC"
    secs, frac = divmod(ns, 1_000_000_000)
    return f"{secs}.{frac:09d} s"


def count(n: int) -> str:
    return f"{n:,}"
