"""Intervals printed as a live session decides them: ``corr run RULES net://...``.

One line each, flushed at once, so that a person (or ``jq``, ``grep
--line-buffered``) sees a slow request or a timeout as it happens:

- text: ``HH:MM:SS.mmm  RULE  STATUS  DURATION  key=KEY  tid=TID COMM`` (a key
  of several parts: ``PART=VALUE ...``), the time the interval ended (a timeout's: its deadline), in local time;
  an explained interval (a rule with ``blame:``) adds its largest part
  (``  blocked 3.2ms by worker-2``); what comes from the trace is escaped;
- ``jsonl``: the interval's JSON object (``rule`` first, as ``--format jsonl``
  writes them) with ``"live": true``, so that the live lines and the summary's
  lines that follow can be told apart.

The library's callbacks call them (``corr.run(on_interval=..., on_timeout=...)``).
"""

from __future__ import annotations

import time

from .escape import terminal
from .run_text import key_text
from .units import duration


class LivePrinter:
    """Writes each decided interval to a text stream, a line each, flushed."""

    def __init__(self, stream, fmt: str = "text"):
        self.stream = stream
        self.json = fmt == "jsonl"
        self.lines = 0

    def __call__(self, interval) -> None:
        if self.json:
            from .run_json import encoder
            record = {"rule": interval.rule, "live": True}
            record.update(interval.to_dict())
            line = encoder(newline=True)(record).decode("utf-8")
        else:
            line = text_line(interval) + "\n"
        self.stream.write(line)
        self.stream.flush()
        self.lines += 1


def text_line(interval) -> str:
    """One interval as the text line a live run prints."""
    seconds, ns = divmod(interval.end_ns, 1_000_000_000)
    clock = time.strftime("%H:%M:%S", time.localtime(seconds)) + f".{ns // 1_000_000:03d}"
    key = interval.key if not hasattr(interval.key, "items") else dict(interval.key)
    thread = "" if interval.tid is None else f"  tid={interval.tid}"
    if interval.comm:
        thread += f" {terminal(interval.comm)}"
    named = key_text(key) if isinstance(key, dict) else f"key={key_text(key)}"
    return (f"{clock}  {terminal(interval.rule)}  {interval.status}  "
            f"{duration(interval.duration_ns)}  {named}{thread}{top_part(interval)}")


def top_part(interval) -> str:
    """An explained interval's largest part (``  blocked 3.2ms by worker-2``), else ''."""
    if not interval.breakdown:
        return ""
    part = max(interval.breakdown, key=lambda p: p["ns"])
    by = f" by {terminal(part['by'])}" if part["by"] is not None else ""
    return f"  {part['kind']} {duration(part['ns'])}{by}"
