"""Text of the scheduling join: breakdowns, critical paths and blame lists."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from .grid import Grid
from .units import duration

PATH_ROWS = 12          # critical-path segments shown per interval (the JSON has all)
PART_ROWS = 12          # breakdown parts shown per interval, largest first (the rest summed)
BLAME_ROWS = 10


def part_label(part: dict) -> str:
    kind = {"on_cpu": "on CPU", "preempted": "waiting for a CPU", "blocked": "blocked",
            "unknown": "unknown"}[part["kind"]]
    if part["by"] is None:
        return kind
    return f"{kind}: {part['by']}" if part["kind"] != "preempted" else f"preempted by {part['by']}"


def render_interval(iv: dict, begin: int, console: Console) -> None:
    """One slow interval: where its time went, and its critical path."""
    total = iv["duration_ns"] or 1
    # One Text, one print: rich spends ~0.2 ms a print, and a breakdown has dozens of lines.
    lines = Text()
    lines.append(f"  +{(iv['start_ns'] - begin) / 1e9:.6f} s  {duration(iv['duration_ns'])}  "
                 f"{iv.get('blamed_comm') or '-'} ({iv['blamed_tid']})", style="bold")
    parts = iv["breakdown"]

    def share(ns: int) -> str:
        return f"\n    {100 * ns / total:5.1f}%  {duration(ns):>10}  "

    for part in parts[:PART_ROWS]:
        lines.append(share(part["ns"]))
        lines.append(part_label(part))
    if len(parts) > PART_ROWS:
        lines.append(share(sum(part["ns"] for part in parts[PART_ROWS:])))
        lines.append(f"{len(parts) - PART_ROWS} more parts (--format json)", style="dim")
    console.print(lines)
    path = iv["critical_path"]
    table = Grid(title="    critical path", title_style="dim", boxed=False)
    for label in ("at", "for", "state", "thread"):
        table.add_column(label, justify="right" if label in ("at", "for") else "left")
    for seg in path[:PATH_ROWS]:
        table.add_row(f"+{(seg['start_ns'] - iv['start_ns']) / 1e6:.3f} ms",
                      duration(seg["end_ns"] - seg["start_ns"]), seg["state"],
                      Text(f"{seg['comm'] or '-'} ({seg['tid']})"))
    console.print(table)
    if len(path) > PATH_ROWS:
        console.print(Text(f"    ... {len(path) - PATH_ROWS} more segments (--format json)",
                           style="dim"))


def render_rule_blame(analysis, console: Console) -> None:
    """A rule's aggregated blame: who waited on whom, heaviest first."""
    if not analysis.available:
        console.print(Text(f"blame: {analysis.reason}", style="yellow"))
        return
    ranking = analysis.graph.ranking(BLAME_ROWS) if analysis.graph else []
    if not ranking:
        return
    scope = (f"the {len(analysis.intervals):,} slowest of {analysis.slow:,} slow intervals"
             if len(analysis.intervals) < analysis.slow - analysis.unattributed
             else f"{len(analysis.intervals):,} slow intervals")
    table = Grid(title=f"blame over {scope} (who waited on what: the time it lay on their "
                       "critical paths, each ns once)")
    for label in ("waiting", "on", "time", "intervals"):
        table.add_column(label, justify="right" if label in ("time", "intervals") else "left")
    for waiting, on, ns, count in ranking[:BLAME_ROWS]:
        table.add_row(Text(waiting), Text(on), duration(ns), f"{count:,}")
    console.print(table)
    for caveat in analysis.caveats:
        console.print(Text(f"note: {caveat}", style="yellow"))
    grown = [r for r in analysis.differential if r["change"] > 0][:3]
    if grown:
        console.print(Text("slow vs fast: " + "; ".join(
            f"{r['part']} {100 * r['slow_share']:.0f}% vs {100 * r['fast_share']:.0f}%"
            for r in grown), style="dim"))
