"""Turning babeltrace2's error causes into one line a user can act on."""

from __future__ import annotations

import re

_BACKWARDS = re.compile(r"ts=(\d+), last-returned-ts=(\d+)")
_NOISE = re.compile(r"\s+")


def causes(exc) -> list[str]:
    """The messages of a bt2 error's causes, innermost last."""
    out = []
    try:
        for cause in exc:
            out.append(_NOISE.sub(" ", str(cause.message)).strip())
    except TypeError:
        pass
    return out


def backwards_timestamps(exc) -> tuple[int, int] | None:
    """``(ts, previous ts)`` when the muxer saw time go backwards."""
    for msg in causes(exc):
        if "timestamp is less than" in msg:
            m = _BACKWARDS.search(msg)
            if m:
                return int(m.group(1)), int(m.group(2))
    return None


def describe(exc) -> str:
    """One line for a bt2 error: the most specific cause babeltrace2 gave."""
    back = backwards_timestamps(exc)
    if back:
        ts, last = back
        return (f"timestamps go backwards: an event at {ts} ns comes after one at {last} ns "
                f"({last - ts} ns earlier)")
    msgs = [m for m in causes(exc) if m]
    # bt2 lists causes outermost first; the first ones from the source name
    # the real problem, later ones are "cannot create component" wrappers.
    for m in msgs:
        low = m.lower()
        if any(w in low for w in ("metadata", "packet", "stream file", "cannot open", "invalid",
                                   "failed to", "unexpected", "truncated")):
            return _short(m)
    return _short(msgs[0]) if msgs else _short(str(exc))


def _short(msg: str, limit: int = 300) -> str:
    msg = msg.strip().rstrip(".:")
    return msg if len(msg) <= limit else msg[:limit - 3] + "..."
