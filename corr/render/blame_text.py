"""Text of the scheduling join: breakdowns, critical paths and blame lists.

Thread names and resource labels come from the trace: they are shown as
:func:`corr.render.escape.terminal` writes them, and printed as ``Text``
(never read as markup).
"""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from .escape import terminal
from .grid import Grid
from .units import duration

PATH_ROWS = 12          # critical-path segments shown per interval (the JSON has all)
PART_ROWS = 12          # breakdown parts shown per interval, largest first (the rest summed)
BLAME_ROWS = 10


def rename_note(iv: dict, tid, begin: int) -> str:
    """How thread ``tid``'s name changed around interval ``iv`` (its ``renamed``), times
    from ``begin``: ``was X until +0.1 s, renamed Y at +0.2 s``; "" when it did not."""
    notes = []
    for r in iv.get("renamed") or ():
        if r["tid"] == tid:
            if r["was"] is not None:
                notes.append(f"was {terminal(r['was'])} until +{(r['until_ns'] - begin) / 1e9:.6f} s")
            if r["then"] is not None:
                notes.append(f"renamed {terminal(r['then'])} at +{(r['from_ns'] - begin) / 1e9:.6f} s")
    return ", ".join(notes)


def thread_label(iv: dict, tid, comm, begin: int) -> str:
    """``comm (tid)``, the name the thread had at the interval's start, and how it changed."""
    if tid is None:
        return terminal(comm or "-")
    note = rename_note(iv, tid, begin)
    return f"{terminal(comm or '-')} ({tid}{', ' + note if note else ''})"


def part_label(part: dict, iv: dict | None = None, begin: int = 0) -> str:
    """A breakdown part as text; with its interval, a thread's renames are said."""
    kind = {"on_cpu": "on CPU", "preempted": "waiting for a CPU", "blocked": "blocked",
            "unknown": "unknown"}[part["kind"]]
    by = part["by"]
    if by is None:
        return kind
    by = terminal(by)
    note = rename_note(iv, part.get("tid"), begin) if iv is not None else ""
    if note and by.endswith(")"):                  # "comm (tid)": the note inside
        by = f"{by[:-1]}, {note})"
    return f"{kind}: {by}" if part["kind"] != "preempted" else f"preempted by {by}"


def render_interval(iv: dict, begin: int, console: Console) -> None:
    """One slow interval: where its time went, and its critical path."""
    total = iv["duration_ns"] or 1
    # One Text, one print: rich spends ~0.2 ms a print, and a breakdown has dozens of lines.
    lines = Text()
    lines.append(f"  +{(iv['start_ns'] - begin) / 1e9:.6f} s  {duration(iv['duration_ns'])}  "
                 f"{thread_label(iv, iv['blamed_tid'], iv.get('blamed_comm'), begin)}",
                 style="bold")
    parts = iv["breakdown"]

    def share(ns: int) -> str:
        return f"\n    {100 * ns / total:5.1f}%  {duration(ns):>10}  "

    for part in parts[:PART_ROWS]:
        lines.append(share(part["ns"]))
        lines.append(part_label(part, iv, begin))
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
                      duration(seg["end_ns"] - seg["start_ns"]), terminal(seg["state"]),
                      Text(thread_label(iv, seg["tid"], seg["comm"], begin)))
    console.print(table)
    segments = iv.get("path_segments", len(path))
    if segments > PATH_ROWS:
        console.print(Text(f"    ... {segments - PATH_ROWS} more segments (--format json)",
                           style="dim"))
    if "stack" in iv:
        render_stacks(iv, console)
    if "activity" in iv:
        render_activity(iv, begin, console)


ACTIVITY_ITEMS = 5     # syscalls, IRQs... named per line (the JSON has all)


def _items(found: list | None, label) -> str:
    """``read ×3 1.000 ms, write ×1 200 ns, 2 more``; ``not recorded`` for None."""
    if found is None:
        return "not recorded"
    if not found:
        return "none"
    shown = [f"{terminal(label(f))} ×{f['count']:,} {duration(f['ns'])}"
             for f in found[:ACTIVITY_ITEMS]]
    if len(found) > ACTIVITY_ITEMS:
        shown.append(f"{len(found) - ACTIVITY_ITEMS} more")
    return ", ".join(shown)


def _irq_name(f: dict) -> str:
    return f"IRQ {f['irq']} ({f['name']})" if f.get("name") else f"IRQ {f['irq']}"


def activity_rows(iv: dict, begin: int = 0) -> list[tuple[str, str]]:
    """An interval's kernel activity (``activity: true``) as (label, text) lines, what
    the traces did not record said so (shared by the text and the HTML report)."""
    act = iv["activity"]
    threads = "; ".join(
        f"{thread_label(iv, t['tid'], t['comm'], begin)} "
        + ("the interval" if k == 0 else f"{duration(t['ns'])} on its path")
        for k, t in enumerate(act["threads"][:ACTIVITY_ITEMS]))
    if len(act["threads"]) > ACTIVITY_ITEMS:
        threads += f"; {len(act['threads']) - ACTIVITY_ITEMS} more on its path"
    cpus = sorted({c for t in act["threads"] for c in t["cpus"]})
    migrations = ("migrations not recorded" if act["migrations"] is None
                  else f"{act['migrations']:,} migration{'s' if act['migrations'] != 1 else ''}")
    where = f" on CPU {', '.join(map(str, cpus))}" if cpus else ""
    return [
        ("threads", threads),
        ("CPU", f"{duration(act['cpu_ns'])}{where}; {migrations}"),
        ("syscalls", _items(act["syscalls"], lambda f: f["name"])),
        ("IRQs", _items(act["irqs"], _irq_name)),
        ("softirqs", _items(act["softirqs"], lambda f: f["name"] or f"vec {f['vec']}")),
        ("waits", _items(act["waits"], lambda f: f"{f['on']} ({f['by']})")),
    ]


def render_activity(iv: dict, begin: int, console: Console) -> None:
    """What the kernel did in the interval for its threads, a line a kind."""
    lines = Text("    kernel activity", style="dim")
    for label, text in activity_rows(iv, begin):
        lines.append(f"\n      {label:<9} ")
        lines.append(text, style="dim" if text in ("none", "not recorded") else "")
    console.print(lines)


STACK_FRAMES = 5      # of each of the kernel's and the user's frames, innermost first


def _frames(lines: Text, stack: dict, indent: str) -> None:
    for side in ("kernel", "user"):
        frames = stack[side]
        sources = stack.get(f"{side}_lines") or ()
        for k, frame in enumerate(frames[:STACK_FRAMES]):
            lines.append(f"\n{indent}{terminal(frame)}")
            if k < len(sources) and sources[k]:           # its source line: debug info's
                lines.append(f" {terminal(sources[k])}")
        if len(frames) > STACK_FRAMES:
            lines.append(f"\n{indent}... {len(frames) - STACK_FRAMES} more {side} frames",
                         style="dim")


def render_stacks(iv: dict, console: Console) -> None:
    """The code the thread blocked in, and the code that woke it (its own wakeup's;
    the other wakeups of the critical path are in the JSON)."""
    lines = Text("    blocked in", style="dim")
    if not iv["stack"]["kernel"] and not iv["stack"]["user"]:
        lines.append(": no call chain recorded", style="dim")
    _frames(lines, iv["stack"], "      ")
    own = [w for w in iv.get("wakeups", ()) if w["woken_tid"] == iv["blamed_tid"]]
    if own:
        waker = own[-1]
        stack = waker["waker_stack"]
        recorded = stack["kernel"] or stack["user"]
        lines.append(f"\n    woken by {terminal(waker['waker'])}"
                     + (" from" if recorded else ": no call chain recorded"), style="dim")
        _frames(lines, stack, "      ")
    console.print(lines)


def render_rule_blame(analysis, console: Console) -> None:
    """A rule's aggregated blame: who waited on whom, heaviest first."""
    if not analysis.available:
        console.print(Text(f"blame: {terminal(analysis.reason)}", style="yellow"))
        return
    ranking = analysis.graph.ranking(BLAME_ROWS) if analysis.graph else []
    if not ranking:
        return
    scope = (f"the {len(analysis.intervals):,} slowest of {analysis.slow:,} slow intervals"
             if len(analysis.intervals) < analysis.slow - analysis.unattributed
             else f"{len(analysis.intervals):,} slow intervals")
    table = Grid(title=f"blame over {scope} (who waited on what)")
    for label in ("waiting", "on", "time", "intervals"):
        table.add_column(label, justify="right" if label in ("time", "intervals") else "left")
    for waiting, on, ns, count in ranking[:BLAME_ROWS]:
        table.add_row(Text(terminal(waiting)), Text(terminal(on)), duration(ns), f"{count:,}")
    console.print(table)
    console.print(Text("time: how long the wait lay on their critical paths, each ns once",
                       style="dim"))
    for caveat in analysis.caveats:
        console.print(Text(f"note: {terminal(caveat)}", style="yellow"))
    if getattr(analysis, "activity", None) is not None and analysis.activity.not_recorded:
        console.print(Text("note: kernel activity: the traces do not record "
                           + ", ".join(analysis.activity.not_recorded)
                           + " (shown as not recorded, not as zeros)", style="yellow"))
    grown = [r for r in analysis.differential if r["change"] > 0][:3]
    if grown:
        console.print(Text("slow vs fast: " + "; ".join(
            f"{terminal(r['part'])} {100 * r['slow_share']:.0f}% vs {100 * r['fast_share']:.0f}%"
            for r in grown), style="dim"))
