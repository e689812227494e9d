"""``corr tune``: a distribution drawn for the terminal (rich renderables).

Reads a :class:`corr.analyses.tuning.Distribution` only; the command-line
report and the interactive session draw the same pieces.  A group's value
comes from the trace: shown as :func:`corr.render.escape.terminal` writes it.
"""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from .escape import terminal
from .units import count, short_duration

BAR = "█"
MARK = "◀ threshold"


def histogram_table(distribution, threshold_ns: int | None, width: int = 40) -> Table:
    """One row per log-scaled bucket: range, bar, count; the threshold's bucket marked.

    Buckets wholly over the threshold are red: what it flags.  A bar is at
    least one character when its bucket is not empty, so a thin tail shows.
    """
    buckets = distribution.histogram()
    table = Table(show_edge=False, pad_edge=False, box=None, show_header=True)
    table.add_column("duration", justify="right", no_wrap=True)
    table.add_column("", no_wrap=True)
    table.add_column("count", justify="right", no_wrap=True)
    table.add_column("", no_wrap=True)
    most = max((b.count for b in buckets), default=0) or 1
    for b in buckets:
        length = 0 if b.count == 0 else max(1, round(b.count * width / most))
        over = threshold_ns is not None and b.low_ns > threshold_ns
        bar = Text(BAR * length, style="red" if over else "cyan")
        here = threshold_ns is not None and b.low_ns <= threshold_ns < b.high_ns
        table.add_row(f"{short_duration(b.low_ns)}–{short_duration(b.high_ns)}"
                      if b.high_ns < 2**62 else f"≥ {short_duration(b.low_ns)}",
                      bar, count(b.count),
                      Text(f"{MARK} {short_duration(threshold_ns)}", style="bold yellow")
                      if here else "")
    return table


def percentiles_line(distribution) -> Text:
    points = distribution.percentiles()
    text = Text("percentiles  ", style="bold")
    text.append("  ".join(f"{name} {short_duration(ns)}" for name, ns in points.items()))
    return text


def candidates_table(distribution, threshold_ns: int | None) -> Table:
    """How many intervals each candidate threshold flags."""
    table = Table(show_edge=False, pad_edge=False)
    table.add_column("threshold", no_wrap=True)
    table.add_column("value", justify="right", no_wrap=True)
    table.add_column("flags", justify="right", no_wrap=True)
    table.add_column("share", justify="right", no_wrap=True)
    table.add_column("method", overflow="fold")
    total = distribution.count
    for c in distribution.candidates(threshold_ns):
        share = f"{100.0 * c.flagged / total:.2f}%" if total else "-"
        table.add_row(c.name, short_duration(c.ns), count(c.flagged), share, c.method or "",
                      style="bold" if c.name == "suggested" else None)
    return table


def title(tuning, distribution) -> Text:
    """``rule NAME [group G] — N intervals, threshold T (file: F)``."""
    text = Text(f"rule {tuning.name}", style="bold")
    if distribution.label is not None:
        text.append(f"  group {terminal(distribution.label)}", style="bold magenta")
    text.append(f" — {count(distribution.count)} intervals, threshold "
                f"{short_duration(tuning.threshold_ns)}")
    file_ns = tuning.file_values.get("threshold")
    if file_ns != tuning.threshold_ns:
        text.append(f" (file: {short_duration(file_ns)})")
    return text


def distribution_view(tuning, distribution, width: int = 40) -> Group:
    """Everything ``corr tune`` prints for one rule or group."""
    if distribution.count == 0:
        return Group(title(tuning, distribution), Text("no complete intervals", style="dim"), "")
    return Group(title(tuning, distribution), histogram_table(distribution, tuning.threshold_ns, width),
                 percentiles_line(distribution), candidates_table(distribution, tuning.threshold_ns),
                 "")


def render(session, console, group_limit: int = 5) -> None:
    """Every rule of a tuning session, and its most frequent groups."""
    for warning in session.run.warnings:
        console.print(Text(f"warning: {terminal(warning)}", style="yellow"))
    for tuning in session.rules:
        for distribution in tuning.distributions(group_limit):
            console.print(distribution_view(tuning, distribution))
        hidden = len(tuning.groups) - group_limit
        if hidden > 0:
            console.print(Text(f"({hidden} more groups of {tuning.name}; --groups N shows more)",
                               style="dim"))
            console.print()
