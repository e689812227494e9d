"""Turning babeltrace2's error causes into one line a user can act on.

bt2 reports a failure as a chain of causes, most of them internal
("BFCR failed to start", "Cannot handle state").  We look for the causes
that name the real problem and say it plainly; the raw cause is the last
resort.
"""

from __future__ import annotations

import os
import re
from contextlib import contextmanager

_BACKWARDS = re.compile(r"ts=(\d+), last-returned-ts=(\d+)")
_NOISE = re.compile(r"\s+")
_METADATA_LINE = re.compile(r"At line (\d+) in metadata stream: (.*?)(?:: token=.*)?$", re.M)

# (pattern over one cause, how to say it), most specific first.
_KNOWN = [
    (re.compile(r"Failed to index CTF stream file '([^']+)'"),
     lambda m: f"stream file {os.path.basename(m[1])} is truncated or corrupt (it cannot be indexed)"),
    (re.compile(r'Cannot decode event payload field:.*event-class-name="([^"]+)"'),
     lambda m: f"corrupt stream data: an event of class {m[1]} cannot be decoded"),
    (re.compile(r"Cannot decode|Cannot handle state|Failed to decode"),
     lambda m: "corrupt or truncated stream data: a packet cannot be decoded"),
    (re.compile(r"Trace has no streams"), lambda m: "the trace has no stream files"),
    (re.compile(r"Cannot update metadata decoder's content|metadata", re.I),
     lambda m: "metadata does not parse"),
]


def causes(exc) -> list[str]:
    """The messages of a bt2 error's causes."""
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
    for pattern, say in _KNOWN:
        for msg in msgs:
            m = pattern.search(msg)
            if m:
                return say(m)
    return _short(msgs[0]) if msgs else _short(str(exc))


def metadata_syntax_error(log: str) -> tuple[int | None, str] | None:
    """``(line, message)`` from the metadata parser's log, if it said one."""
    m = _METADATA_LINE.search(log)
    if m:
        return int(m[1]), m[2].strip()
    if "Invalid metadata version found in plain text signature" in log:
        return None, "plain-text metadata must start with its '/* CTF 1.8 */' signature"
    return None


@contextmanager
def captured_c_stderr():
    """Capture what C code writes on fd 2 (bt2 logs there), yield a reader.

    In a decoding child fd 2 is already its log (:mod:`containment`): what is
    written meanwhile is read back from there, and stays there for the parent
    (an abort's last words)."""
    from . import containment
    if containment.attached:
        start = os.lseek(2, 0, os.SEEK_END)
        box = {"text": ""}
        try:
            yield box
        finally:
            end = os.lseek(2, 0, os.SEEK_END)
            box["text"] = os.pread(2, end - start, start).decode("utf-8", "replace")
        return
    import tempfile       # only on the (rare) error paths

    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 2)
        box = {"text": ""}
        try:
            yield box
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            box["text"] = tmp.read().decode("utf-8", "replace")


def _short(msg: str, limit: int = 300) -> str:
    msg = msg.strip().rstrip(".:")
    return msg if len(msg) <= limit else msg[:limit - 3] + "..."
