"""``corr run -o report.html``: one self-contained page a person reads.

Per rule: the summary statistics, the latency histogram with the
threshold, a timeline of the slow intervals, and for rules with
``blame:`` the breakdowns and critical paths of the slowest and the blame
graph, and for rules with ``stacks: true`` an off-CPU flame graph
(:mod:`corr.render.flame_svg`).  It reads only the :class:`~corr.engine.result.RunResult`; the
pictures are inline SVG (:mod:`corr.render.html_charts`), the page has no
script and loads nothing (a Content-Security-Policy says so to the
browser).  The page is a Jinja2 template with autoescaping on: every
string that came from a trace (thread names, group values, keys, IRQ
names) is escaped by the engine, not by hand; its control and bidi
characters are shown as ``\\x1b``, ``\\u202e`` (:func:`corr.render.escape.terminal`),
as in the text report.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..engine.result import plain_value
from ..rules.model import DEFAULT_REPORT
from .blame_text import activity_rows, part_label, thread_label
from .escape import terminal
from .run_text import (COUNT_COLUMNS, count_cells, count_line, entry_thread_differs,
                       explained_thread, key_text, left_out_note, stat_cells, stat_columns,
                       unfinished_note)
from .units import count, duration, timestamp

NAME = "html"
DESCRIPTION = "HTML report"
NEEDS_BLAME = False
FILE_ONLY = True

TEMPLATES = Path(__file__).with_name("templates")
MAX_GROUPS = 30            # rows of the per-group table
MAX_LANES = 24             # lanes of the timeline (the busiest groups or threads)
MAX_TIMELINE = 3000        # slow intervals drawn in the timeline, slowest first
PATH_ROWS = 40             # critical-path segments listed per interval (the picture has all)
BLAME_EDGES = 24           # heaviest edges drawn in the blame graph
BLAME_ROWS = 12


def write(result, destination, options) -> None:
    """Render the report of ``result`` (its ``options.top`` slowest per rule) to ``destination``."""
    with destination.text() as out:
        out.write(render(result, options.top))


def render(result, top: int = 10) -> str:
    import jinja2

    from . import html_charts
    html_charts.start_page()
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True)
    return env.get_template("report.html.j2").render(report=_report(result, top))


def _report(result, top: int) -> dict:
    begin = result.trace_begin_ns or 0
    end = result.trace_end_ns
    span = (end - begin) if end is not None else 0
    return {
        "rules_file": result.rules_path,
        "traces": [t.get("path") for t in result.traces],
        "events": count(result.events),
        "begin": timestamp(result.trace_begin_ns),
        "span": duration(span),
        "discarded": count(result.discarded_events),
        "warnings": result.warnings,
        "stopped": result.stopped,
        "top": top,
        "rules": [_rule(r, n, begin, span, top) for n, r in enumerate(result.rules)],
    }


def _rule(r, n: int, begin: int, span: int, top: int) -> dict:
    from markupsafe import Markup

    from . import html_charts
    rule = r.rule
    columns = stat_columns(r.stats)
    o = r.outcomes
    durations = r.intervals.durations()
    measured = durations[r.intervals.measured()]
    out = {
        "name": rule.name,
        "anchor": f"rule-{rule.name}",
        "description": rule.description,
        "threshold": duration(rule.threshold_ns) if rule.threshold_ns is not None else None,
        "timeout": duration(rule.timeout_ns) if rule.timeout_ns is not None else None,
        "how": ("span: one event, its own duration" if rule.is_span else f"match {rule.match}")
        + (f", reports {', '.join(rule.report)}" if tuple(rule.report) != DEFAULT_REPORT else ""),
        "blame": rule.blame,
        "stat_labels": [label for label, _ in columns],
        "stat_cells": stat_cells(r.stats, columns),
        "count": count(r.stats["count"]),
        "over": count(r.stats["over_threshold"]),
        "p99": duration(r.stats["p99_ns"]),
        "max": duration(r.stats["max_ns"]),
        "outcomes": [(label, count(o[key])) for label, key in
                     (("entries", "entries"), ("complete", "complete"), ("late", "late"),
                      ("timeouts", "timeouts"), ("incomplete", "incomplete"),
                      ("dropped", "dropped"), ("exits without entry", "exits_without_entry"))],
        "dropped_reasons": [(reason, count(n)) for reason, n in o["dropped_reasons"].items()],
        "expression_errors": [(reason, count(n))
                              for reason, n in (o.get("expression_errors") or {}).items()],
        "lossy": count(int(sum(r.intervals.lossy))),
        "histogram": Markup(html_charts.histogram(measured, rule.threshold_ns,
                                                   gid=f"threshold-{n}"))
        if np.any(measured > 0) else None,
        "group_by": " / ".join(e.text for e in rule.group_by),
        "groups": [{"key": key_text(g["key"]), "cells": stat_cells(g["stats"], columns)}
                   for g in r.top_groups(MAX_GROUPS)],
        "more_groups": max(0, r.group_count - MAX_GROUPS),
        "groups_left_out": left_out_note(r) if r.groups_left_out else None,
        "count_line": None,
    }
    if rule.is_count:
        _counted(r, out, begin)
        return out
    out.update(_timeline(r, durations, begin, span))
    # The code stacks are drawn as the flame graph, from each interval's own.
    slow = r.selected_intervals(top=top, stacks=False) if rule.threshold_ns is not None else []
    out["entry_thread"] = entry_thread_differs(rule, slow)
    out["slow"] = [_slow_row(rule, iv, begin) for iv in slow]
    out["unfinished"] = unfinished_note(r)
    out.update(_explained([iv for iv in slow if "critical_path" in iv], begin))
    out["blame_graph"] = _blame(r.analysis) if r.analysis is not None else None
    out["flame"] = _flame(r)
    return out


def _counted(r, out: dict, begin: int) -> None:
    """A count rule's page: its counts in all and per window, per group (no durations)."""
    columns = COUNT_COLUMNS if r.rule.window_ns else COUNT_COLUMNS[:1]
    counts = r.counts
    out.update(
        how="count: one event, counted" + (f" per {duration(r.rule.window_ns)}"
                                           if r.rule.window_ns else ""),
        count_line=count_line(counts, begin), over=None, histogram=None, p99="-", max="-",
        stat_labels=[label for label, _ in columns],
        stat_cells=count_cells(counts)[:len(columns)],
        groups=[{"key": key_text(g["key"]), "cells": count_cells(g["counts"])[:len(columns)]}
                for g in r.count_groups(MAX_GROUPS)],
        timeline=None, slow=[], unfinished=None, breakdowns=None, explained=[],
        blame_graph=None, flame=None, entry_thread=False)


def _flame(r) -> dict | None:
    """The off-CPU flame graph of a rule with ``stacks: true`` (docs/stacks.md)."""
    from markupsafe import Markup

    from .flame_svg import flame_graph
    from .folded import code_frame_lines, own_stacks, rule_code_stacks
    if r.analysis is None or getattr(r.analysis, "stacks", None) is None:
        return None
    stacks = {tuple(stack.split(";")): ns
              for stack, ns in rule_code_stacks(r, with_rule=False).items()}
    # The source lines of the stacks drawn (rule_code_stacks'), not of the whole
    # paths' wakers.
    sources = code_frame_lines(own_stacks(r.analysis.stacks))
    return {"svg": Markup(flame_graph(stacks, f"off-CPU flame graph of {r.rule.name}",
                                      sources)),
            "intervals": count(len(r.analysis.stacks)),
            "total": duration(sum(stacks.values())),
            "sources": r.analysis.stack_sources}


def _lane_labels(r, index: np.ndarray) -> list:
    """The timeline lane of each interval: its group, else its thread."""
    t = r.intervals
    if r.rule.group_by:
        return [key_text(plain_value(r.group_values[t.group[i]])) for i in index]
    return [f"{terminal(t.entry_comm[i] or 'tid')} ({t.entry_tid[i]})" if t.entry_tid[i] >= 0
            else key_text(t.key[i]) for i in index]


def _timeline(r, durations: np.ndarray, begin: int, span: int) -> dict:
    from markupsafe import Markup

    from . import html_charts
    threshold = r.threshold_ns
    if threshold is None or not len(durations):
        return {"timeline": None}
    slow = np.flatnonzero(r.over_threshold(durations))
    if not len(slow):
        return {"timeline": None}
    slow = slow[np.argsort(-durations[slow], kind="stable")][:MAX_TIMELINE]
    labels = _lane_labels(r, slow)
    busiest: dict[str, int] = {}
    for label in labels:
        busiest[label] = busiest.get(label, 0) + 1
    lanes = sorted(busiest, key=lambda k: (-busiest[k], k))[:MAX_LANES]
    lane_index = {label: n for n, label in enumerate(lanes)}
    keep = np.array([label in lane_index for label in labels])
    shown = slow[keep]
    start = np.frombuffer(r.intervals.start_ns, dtype=np.int64)[shown]
    svg = html_charts.timeline(lanes, np.array([lane_index[lb] for lb, k in zip(labels, keep) if k]),
                               (start - begin) / 1e9, durations[shown] / 1e9, durations[shown],
                               threshold, span / 1e9)
    total = int(r.stats["over_threshold"])
    return {"timeline": Markup(svg), "timeline_shown": count(len(shown)),
            "timeline_total": count(total), "timeline_lanes": len(busiest),
            "timeline_lanes_shown": len(lanes)}


def _slow_row(rule, iv: dict, begin: int) -> dict:
    tid, comm = explained_thread(rule, iv)
    return {"start": f"+{(iv['start_ns'] - begin) / 1e9:.6f} s",
            "duration": duration(iv["duration_ns"]),
            "status": iv["status"] + (" (lossy)" if iv["lossy"] else ""),
            "key": key_text(iv["key"]),
            "thread": thread_label(iv, tid, comm, begin),
            "entry_thread": thread_label(iv, iv["tid"], iv["comm"], begin),
            "group": key_text(iv["group"]) if iv["group"] is not None else "-"}


def _explained(analysed: list[dict], begin: int) -> dict:
    """The breakdowns (one picture) and critical paths of the slowest analysed intervals."""
    from markupsafe import Markup

    from . import html_charts
    if not analysed:
        return {"breakdowns": None, "explained": []}
    labels = [f"#{n}  {duration(iv['duration_ns'])}" for n, iv in enumerate(analysed, 1)]
    explained = []
    for n, iv in enumerate(analysed, 1):
        total = iv["duration_ns"] or 1
        path = iv["critical_path"]
        explained.append({
            "n": n,
            "start": f"+{(iv['start_ns'] - begin) / 1e9:.6f} s",
            "duration": duration(iv["duration_ns"]),
            "thread": thread_label(iv, iv["blamed_tid"], iv.get("blamed_comm"), begin),
            "parts": [{"kind": p["kind"], "share": f"{100 * p['ns'] / total:.1f}%",
                       "width": f"{100 * p['ns'] / total:.2f}", "ns": duration(p["ns"]),
                       "label": part_label(p, iv, begin)} for p in iv["breakdown"]],
            "path_svg": Markup(html_charts.critical_path(iv)) if path else None,
            "segments": [{"at": f"+{(s['start_ns'] - iv['start_ns']) / 1e6:.3f} ms",
                          "for": duration(s["end_ns"] - s["start_ns"]), "state": s["state"],
                          "thread": thread_label(iv, s["tid"], s["comm"], begin)}
                         for s in path[:PATH_ROWS]],
            "more_segments": max(0, len(path) - PATH_ROWS),
            "activity": activity_rows(iv, begin) if "activity" in iv else None,
        })
    return {"breakdowns": Markup(html_charts.breakdowns(labels, analysed)),
            "explained": explained}


def _blame(analysis) -> dict:
    from markupsafe import Markup

    from . import html_charts
    if not analysis.available:
        return {"available": False, "reason": analysis.reason}
    graph = analysis.graph
    edges = len(graph.edges) if graph is not None else 0
    return {
        "available": True,
        "analysed": count(len(analysis.intervals)),
        "slow": count(analysis.slow),
        "svg": Markup(html_charts.blame_graph(graph, BLAME_EDGES)) if edges else None,
        "edges": edges,
        "drawn": min(edges, BLAME_EDGES),
        "caveats": list(analysis.caveats),
        "ranking": [{"waiting": terminal(w), "on": terminal(on), "total": duration(ns),
                     "intervals": count(c)}
                    for w, on, ns, c in graph.ranking(BLAME_ROWS)] if edges else [],
        "differential": [{"part": _share_label(d["part"]), "slow": f"{100 * d['slow_share']:.0f}%",
                          "fast": f"{100 * d['fast_share']:.0f}%",
                          "change": f"{100 * d['change']:+.0f} pts"}
                         for d in analysis.differential[:6]],
    }


def _share_label(part: str) -> str:
    """``on_cpu`` / ``preempted: x`` as the breakdown says them (``on CPU``, ``preempted by x``)."""
    kind, _, by = part.partition(": ")
    return part_label({"kind": kind, "by": by or None})
