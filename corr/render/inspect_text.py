"""``corr inspect``: the Inspection as readable tables (rich).

Everything the trace says (its path, environment, event class and field
names, what stopped its decoding) is shown as :func:`corr.render.escape.terminal`
writes it, as ``Text`` (never read as markup).
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..analyses.inspection import Inspection
from .escape import terminal
from .units import count, duration, timestamp


def render(result: Inspection, console: Console, max_fields: int = 8) -> None:
    """Print the inspection; trace strings are shown as plain text, never markup."""
    for i, t in enumerate(result.traces):
        head = Text(f"trace {i}: ", style="bold")
        head.append(terminal(t.path))
        console.print(head)
        rows = [
            ("dialect", f"{t.dialect} ({t.dialect_description})"),
            ("tracer", f"{t.tracer or 'unknown'}, domain {t.domain or 'unknown'}"
                       + (f", host {t.hostname}" if t.hostname else "")),
            ("clock", f"{t.clock or 'none'}"
                      + (f", offset {t.clock_offset_ns:,} ns" if t.clock_offset_ns else "")),
            ("alignment", t.alignment),
            ("cpus", ", ".join(map(str, t.cpus)) or "unknown"),
            ("streams", str(t.streams)),
            ("events", count(t.events)),
        ]
        rows += [("", note) for note in t.dialect_notes]
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="dim")
        grid.add_column()
        for k, v in rows:
            grid.add_row(k, Text(terminal(v)))
        console.print(grid)
        console.print()

    summary = Table.grid(padding=(0, 2))
    summary.add_column(style="dim")
    summary.add_column()
    summary.add_row("events", count(result.events))
    summary.add_row("begin", timestamp(result.begin_ns))
    summary.add_row("end", timestamp(result.end_ns))
    summary.add_row("duration", duration(result.duration_ns))
    summary.add_row("discarded", f"{count(result.discarded_events)} events, "
                                 f"{count(result.discarded_packets)} packets")
    console.print(summary)
    for d in result.discards:
        console.print(Text(
            f"  lost {d.count if d.count is not None else '?'} {d.kind} on "
            f"{'cpu ' + str(d.cpu) if d.cpu is not None else terminal(d.stream)} "
            f"between {timestamp(d.begin_ns)} and {timestamp(d.end_ns)}", style="yellow"))
    console.print()

    table = Table(title="event classes", title_justify="left", show_edge=False)
    table.add_column("events", justify="right")
    table.add_column("class")
    if len(result.traces) > 1:
        table.add_column("trace", justify="right")
    table.add_column("fields")
    for c in result.event_classes:
        # perf's per-sample fields (perf_ip, common_pid, ...) say little: last.
        names = sorted((f["name"] for f in c.fields),
                       key=lambda n: n.startswith(("perf_", "common_")))
        shown = ", ".join(names[:max_fields]) + (f", +{len(names) - max_fields}" if len(names) > max_fields else "")
        row = [count(c.count), Text(terminal(c.name))]
        if len(result.traces) > 1:
            row.append(str(c.trace))
        row.append(Text(terminal(shown)))
        table.add_row(*row)
    console.print(table)
    if result.stopped:
        s = result.stopped
        console.print(Text(
            f"decoding stopped in {terminal(s.path)} after {count(s.events_before)} events"
            + (f", at {timestamp(s.at_ns)}" if s.at_ns is not None else "")
            + f": {terminal(s.cause)}", style="bold red"))
