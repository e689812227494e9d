"""``corr run``: per rule a summary, per group a table, the slowest intervals.

What comes from the trace (thread names, key parts, group values, warnings
that quote it) is shown as :func:`corr.render.escape.terminal` writes it, in
``Text`` (never read as markup): no escape sequence reaches the terminal and
no newline splits a row.
"""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from .blame_text import (PATH_ROWS, rename_note, render_interval, render_rule_blame,
                         thread_label)
from .escape import terminal
from ..text import group_label
from ..engine.intervals import INCOMPLETE, TIMEOUT
from ..rules.model import DEFAULT_REPORT
from .grid import Grid
from .units import count, duration, short_duration

NAME = "text"
DESCRIPTION = "text"
NEEDS_BLAME = False
FILE_ONLY = False

STAT_COLUMNS = [("count", "count"), ("min", "min_ns"), ("mean", "mean_ns"), ("p50", "p50_ns"),
                ("p90", "p90_ns"), ("p99", "p99_ns"), ("max", "max_ns"), ("stdev", "stdev_ns"),
                ("> thr", "over_threshold")]
# Shown only when some interval of the rule has that status.
OUTCOME_COLUMNS = [("timeouts", "timeouts"), ("late", "late"), ("incomplete", "incomplete")]


def stat_columns(stats: dict) -> list[tuple[str, str]]:
    return STAT_COLUMNS + [c for c in OUTCOME_COLUMNS if stats.get(c[1])]


def stat_cells(stats: dict, columns) -> list[str]:
    cells = []
    for _, key in columns:
        value = stats.get(key)
        cells.append(short_duration(value) if key.endswith("_ns") else count(value or 0))
    return cells


def _stats_table(title: str, columns, first: str | None = None) -> Grid:
    table = Grid(title=title or None)
    if first:
        table.add_column(first, overflow="fold")
    for label, _ in columns:
        table.add_column(label, justify="right", no_wrap=True)
    return table


def key_text(key) -> str:
    """A key or a group value as one line of text (``tid=5 fd=3``, ``(empty) / quicksort``
    for a group of two parts: :func:`corr.text.group_label`), escaped."""
    if isinstance(key, dict):
        return " ".join(f"{terminal(k)}={terminal(v)}" for k, v in key.items())
    return terminal(group_label(key))


def unfinished_note(r) -> str | None:
    """What ran past the threshold without an end in the trace (timed out, incomplete):
    such intervals are not over the threshold (see ``RuleResult.over_threshold``), unless
    the rule's ``report:`` names their status."""
    if r.threshold_ns is None or not len(r.intervals):
        return None
    timed_out = incomplete = 0
    for _, durations, statuses, _ in r.intervals.pieces():      # no copy of every duration
        past = statuses[durations > r.threshold_ns]
        if "timeout" not in r.report:
            timed_out += int((past == TIMEOUT).sum())
        if "incomplete" not in r.report:
            incomplete += int((past == INCOMPLETE).sum())
    if not timed_out + incomplete:
        return None
    counts = [f"{n:,} {label}" for label, n in (
        ("timed out", timed_out), ("incomplete", incomplete)) if n]
    return (f"{timed_out + incomplete:,} more ran past {duration(r.threshold_ns)} with no end in the "
            f"trace ({', '.join(counts)}): not counted over the threshold")


COUNT_COLUMNS = [("count", "count"), ("max/window", "max_per_window"),
                 ("mean/window", "mean_per_window"), ("max/s", "max_per_second"),
                 ("mean/s", "mean_per_second")]


def count_cells(counts: dict) -> list[str]:
    """A count rule's figures as cells: counts whole, means and rates to 3 figures."""
    cells = []
    for _, key in COUNT_COLUMNS:
        value = counts.get(key)
        cells.append("-" if value is None else count(value) if isinstance(value, int)
                     else f"{value:,.3g}")
    return cells


def count_line(counts: dict, begin: int) -> str:
    """A count rule's figures in a sentence."""
    line = f"{counts['count']:,} events"
    if counts.get("window_ns"):
        line += (f"; per {duration(counts['window_ns'])} window: at most "
                 f"{counts['max_per_window']:,} (from +{(counts['busiest_window_start_ns'] - begin) / 1e9:.6f} s), "
                 f"{counts['mean_per_window']:,.3g} on average over {counts['windows']:,} "
                 f"window{'s' if counts['windows'] != 1 else ''} "
                 f"({counts['max_per_second']:,.3g}/s at most, {counts['mean_per_second']:,.3g}/s on average)")
    return line


def render_counts(r, console: Console, begin: int, max_groups: int) -> None:
    """A count rule: its events in all and per window, per group."""
    console.print(Text(count_line(r.counts, begin)))
    expression_errors(r, console)
    columns = COUNT_COLUMNS if r.rule.window_ns else COUNT_COLUMNS[:1]
    group_table(r, console, columns, max_groups,
                lambda: ((g["key"], count_cells(g["counts"])[:len(columns)])
                         for g in r.count_groups(max_groups)))


def expression_errors(r, console: Console) -> None:
    """The rule's expressions that gave null by an error, if any."""
    errors = r.outcomes.get("expression_errors") or {}
    if errors:
        console.print(Text("expressions that gave null (an error, not an absent field): "
                           + ", ".join(f"{terminal(reason)} ({n:,} times)"
                                       for reason, n in errors.items()), style="yellow"))


def group_table(r, console: Console, columns, max_groups: int, rows) -> None:
    """The rule's group table (``rows()``: (key, cells) of its ``max_groups`` first
    groups), how many more there are and how many ``min_count`` left out."""
    if r.group_count:
        labels = " / ".join(e.text for e in r.rule.group_by)      # as the groups read
        groups = _stats_table(f"by {labels}", columns, first=labels)
        for key, cells in rows():
            groups.add_row(Text(key_text(key)), *cells)
        console.print(groups)
        if r.group_count > max_groups:
            console.print(Text(f"... and {r.group_count - max_groups} more groups (--format json)",
                               style="dim"))
    if r.groups_left_out:
        console.print(Text(left_out_note(r), style="dim"))


def left_out_note(r) -> str:
    """How many groups the rule's ``min_count`` left out of the group table."""
    n = r.groups_left_out
    return (f"{n:,} group{'s' if n != 1 else ''} with fewer than {r.rule.min_count:,} "
            f"intervals left out (min_count)")


def explained_thread(rule, iv: dict) -> tuple:
    """``(tid, comm)`` of the thread an interval is about: the rule's ``blame:`` thread
    (the entry's, the exit's or the one a key part names), else the entry's."""
    if iv.get("blamed_tid") is not None:
        return iv["blamed_tid"], iv.get("blamed_comm")
    blame = rule.blame or "entry"
    if blame == "entry" or (blame == "exit" and iv["exit_tid"] is None):
        return iv["tid"], iv["comm"]
    if blame == "exit":
        return iv["exit_tid"], iv["exit_comm"]
    key = iv["key"]
    tid = key.get(blame) if isinstance(key, dict) else key
    if not isinstance(tid, int):
        return None, None
    names = {iv["tid"]: iv["comm"], iv["exit_tid"]: iv["exit_comm"]}
    return tid, names.get(tid)


def entry_thread_differs(rule, intervals: list[dict]) -> bool:
    """Whether some interval is about another thread than its entry event's
    (``wakeup.yaml``: the woken thread, not the waker): then both are shown."""
    return any(explained_thread(rule, iv)[0] != iv["tid"] for iv in intervals)


def thread_cells(rule, iv: dict, begin: int, with_entry: bool) -> list:
    """The tid and comm cells of an interval (its explained thread), and its entry's."""
    tid, comm = explained_thread(rule, iv)
    note = rename_note(iv, tid, begin)
    cells = [str(tid if tid is not None else "-"),
             Text(terminal(comm or "-") + (f" ({note})" if note else ""))]
    if with_entry:
        cells.append(Text(thread_label(iv, iv["tid"], iv["comm"], begin)))
    return cells


def write(result, destination, options) -> None:
    """The report as ``corr run`` prints it: on a stream as on the terminal (its width
    there, 200 columns in a pipe), in a file 120 columns wide and without colour."""
    with destination.text() as out:
        if destination.is_file:
            console = Console(file=out, width=120, no_color=True, emoji=False)
        else:
            console = Console(file=out, highlight=False, emoji=False, soft_wrap=False,
                              width=None if destination.isatty() else 200)
        render(result, console, top=options.top)


def stopped_note(stopped: dict) -> str:
    """What a run that stopped part-way covers, said before its results."""
    return (f"decoding stopped part-way in {stopped['path']} after "
            f"{count(stopped['events_before'])} events: {stopped['cause']}; "
            f"these results cover only what was read before")


def render(result, console: Console, top: int = 10, max_groups: int = 30) -> None:
    begin = result.trace_begin_ns or 0
    for w in result.warnings:
        console.print(Text(f"warning: {terminal(w)}", style="yellow"))
    if result.stopped:
        console.print(Text(terminal(stopped_note(result.stopped)), style="bold red"))
    for r in result.rules:
        rule = r.rule
        head = Text(f"rule {rule.name}", style="bold")
        if rule.description:
            head.append(f" — {rule.description}", style="")
        extras = []
        if rule.threshold_ns is not None:
            extras.append(f"threshold {duration(rule.threshold_ns)}")
        if rule.timeout_ns is not None:
            extras.append(f"timeout {duration(rule.timeout_ns)}")
        if tuple(rule.report) != DEFAULT_REPORT:
            extras.append(f"reports {', '.join(rule.report)}")
        if rule.is_count:
            extras.append("count: one event, counted"
                          + (f" per {duration(rule.window_ns)}" if rule.window_ns else ""))
        elif rule.is_span:
            extras.append("span: one event, its own duration")
        else:
            extras.append(f"match {rule.match}")
        head.append(f"  ({', '.join(extras)})", style="dim")
        console.print(head)
        if rule.is_count:
            render_counts(r, console, begin, max_groups)
            console.print()
            continue
        columns = stat_columns(r.stats)
        summary = _stats_table("", columns)
        summary.add_row(*stat_cells(r.stats, columns))
        console.print(summary)
        o = r.outcomes
        reasons = ", ".join(f"{reason}: {n:,}" for reason, n in o["dropped_reasons"].items())
        console.print(Text(
            f"entries {o['entries']:,} = complete {o['complete']:,} + late {o['late']:,} + "
            f"timeouts {o['timeouts']:,} + incomplete {o['incomplete']:,} + dropped {o['dropped']:,}"
            + (f" ({reasons})" if reasons else "")
            + (f"; exits without entry {o['exits_without_entry']:,}" if o["exits_without_entry"] else ""),
            style="dim"))
        expression_errors(r, console)
        lossy = int(sum(r.intervals.lossy))
        if lossy:
            console.print(Text(f"{lossy:,} intervals overlap discarded events: not to be trusted",
                               style="yellow"))
        group_table(r, console, columns, max_groups,
                    lambda: ((g["key"], stat_cells(g["stats"], columns))
                             for g in r.top_groups(max_groups)))
        slow = list(r.iter_intervals(top=top, cut_paths=PATH_ROWS))
        if slow and rule.threshold_ns is not None:
            table = Grid(title=f"slowest intervals over {duration(rule.threshold_ns)}")
            with_entry = entry_thread_differs(rule, slow)
            for label in ("start", "duration", "status", "key", "tid", "comm",
                          *(("entry thread",) if with_entry else ()), "group"):
                table.add_column(label, justify="right" if label in ("start", "duration", "tid") else "left")
            for iv in slow:
                table.add_row(f"+{(iv['start_ns'] - begin) / 1e9:.6f} s", duration(iv["duration_ns"]),
                              iv["status"] + (" (lossy)" if iv["lossy"] else ""),
                              Text(key_text(iv["key"])), *thread_cells(rule, iv, begin, with_entry),
                              Text(key_text(iv["group"]) if iv["group"] is not None else "-"))
            console.print(table)
        note = unfinished_note(r)
        if note:
            console.print(Text(note, style="dim"))
        if slow and rule.threshold_ns is not None:
            analysed = [iv for iv in slow if "critical_path" in iv]
            if analysed:
                console.print(Text("where the time of the slowest went", style="bold"))
                for iv in analysed:
                    render_interval(iv, begin, console)
        if r.analysis is not None:
            render_rule_blame(r.analysis, console)
        console.print()
