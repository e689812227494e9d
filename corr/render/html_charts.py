"""The pictures of the HTML report, drawn by matplotlib as inline SVG.

matplotlib is imported here only, and this module only when a report is
written: a text run does not pay for it.  Every figure is a
``matplotlib.figure.Figure`` (no pyplot, no global state) saved as SVG
with text kept as ``<text>`` elements (searchable, selectable, and escaped
by matplotlib's SVG writer), ``$`` never read as mathtext (a thread may be
called ``a$b$``), and a salt per figure so that the ids of several SVGs in
one page never collide.
"""

from __future__ import annotations

import io
import itertools
import re

import numpy as np
from matplotlib import colormaps, rc_context
from matplotlib.cm import ScalarMappable
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import LogLocator

from .blame_text import part_label
from .units import duration, short_duration

INK = "#1f2933"
MUTED = "#7b8794"
GRID = "#e4e7eb"
SLOW = "#d64545"
FAST = "#7aa7d8"
# Trace Compass's critical-path palette, so the states look as they do there.
STATE_COLOURS = {"RUNNING": "#339900", "PREEMPTED": "#c86464", "BLOCKED": "#a0a0a0",
                 "INTERRUPTED": "#ffdc00", "TIMER": "#336699", "BLOCK_DEVICE": "#6600cc",
                 "NETWORK": "#ff9bff", "IPI": "#6666cc", "UNKNOWN": "#403b33"}
KIND_COLOURS = {"on_cpu": "#339900", "preempted": "#c86464", "blocked": "#5b8def",
                "unknown": "#403b33"}

_STYLE = {
    "svg.fonttype": "none",            # text stays text
    "text.parse_math": False,          # '$' in a thread's name is a dollar
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Liberation Sans", "Arial"],
    "font.size": 9,
    "axes.edgecolor": MUTED,
    "axes.labelcolor": INK,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "xtick.color": MUTED,
    "ytick.color": MUTED,
    "xtick.labelcolor": INK,
    "ytick.labelcolor": INK,
    "text.color": INK,
}
WIDTH = 10.5               # inches: about the width of the page's cards
_salt = itertools.count()      # ids unique across a page's SVGs; start_page() restarts it
_SVG_ROOT = re.compile(r"<svg\b[^>]*>")
_SIZE = re.compile(r'\s(width|height)="([\d.]+)pt"')
_ATTRIBUTE = re.compile(r'="[^"]*"')               # text nodes (trace strings) never match
_DIGITS = re.compile(r"(\d\.\d\d)\d+")               # coordinates to 1/100 pt
_GROUP_ID = re.compile(r'<g id="[\w.]+_\d+"(/?)>')   # matplotlib's ids, the same in every SVG


def start_page() -> None:
    """Number a new page's figures from 0: the same result, the same page."""
    global _salt
    _salt = itertools.count()


def _figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


def _svg(fig: Figure, salt: str) -> str:
    """The figure as an ``<svg>`` element for an HTML page (no prolog, no
    namespace URLs, scaled down with the page)."""
    out = io.StringIO()
    with rc_context({**_STYLE, "svg.hashsalt": salt}):
        fig.savefig(out, format="svg", metadata={"Date": None, "Creator": None, "Format": None,
                                                 "Type": None})
    text = out.getvalue()
    text = text[text.index("<svg"):]
    root = _SVG_ROOT.match(text).group(0)
    size = dict(_SIZE.findall(root))
    new_root = (f'<svg viewBox="0 0 {size["width"]} {size["height"]}" role="img" '
                f'style="width:100%;max-width:{float(size["width"]) * 4 / 3:.0f}px;height:auto">')
    body = _ATTRIBUTE.sub(lambda m: _DIGITS.sub(r"\1", m.group(0)), text[len(root):])
    body = _GROUP_ID.sub(r"<g\1>", body)
    return new_root + body


def _render(draw, width: float, height: float) -> str:
    with rc_context(_STYLE):
        fig = _figure(width, height)
        draw(fig)
    return _svg(fig, f"corr{next(_salt)}")


def _ms_axis(ax, label: str) -> None:
    ax.set_xlabel(label)
    ax.grid(axis="x", color=GRID, linewidth=0.6)
    ax.set_axisbelow(True)


def histogram(durations: np.ndarray, threshold_ns: int | None, gid: str = "threshold") -> str:
    """Counts per log-scaled duration bucket; buckets over the threshold in
    red; the threshold line is the SVG element of id ``gid``."""
    def draw(fig):
        ax = fig.add_subplot()
        values = durations[durations > 0]
        low, high = max(int(values.min()), 1), max(int(values.max()), 2)
        if high <= low:
            high = low * 2
        edges = np.geomspace(low, high * 1.0001, 41)
        counts, _ = np.histogram(values, bins=edges)
        centres_slow = threshold_ns is not None and edges[:-1] >= threshold_ns
        colours = np.where(centres_slow, SLOW, FAST) if threshold_ns is not None else FAST
        ax.bar(edges[:-1], counts, width=np.diff(edges), align="edge", color=colours,
               edgecolor="white", linewidth=0.4)
        ax.set_xscale("log")
        nonzero = counts[counts > 0]
        if len(nonzero) and nonzero.max() > 50 * nonzero.min():
            ax.set_yscale("log")
            ax.set_ylim(bottom=0.7)
            ax.yaxis.set_major_formatter(lambda y, _: f"{y:,.0f}")
        ax.xaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
        ax.xaxis.set_major_formatter(lambda x, _: short_duration(x))
        ax.xaxis.set_minor_formatter(lambda x, _: "")
        ax.set_ylabel("intervals")
        _ms_axis(ax, "duration (log scale)")
        if threshold_ns is not None:
            ax.axvline(threshold_ns, color=INK, linestyle="--", linewidth=1.2, gid=gid)
            ax.annotate(f"threshold {duration(threshold_ns)}", xy=(threshold_ns, 1),
                        xycoords=("data", "axes fraction"), xytext=(4, -2),
                        textcoords="offset points", va="top", fontsize=8.5, color=INK)
    return _render(draw, WIDTH, 3.0)


def timeline(lanes: list[str], lane_of: np.ndarray, start_s: np.ndarray, length_s: np.ndarray,
             durations: np.ndarray, threshold_ns: int | None, span_s: float) -> str:
    """Slow intervals in time, one lane per group or thread, coloured by duration."""
    def draw(fig):
        ax = fig.add_subplot()
        floor = max(span_s, 1e-9) / 600           # a sliver stays visible
        shown = np.maximum(length_s, floor)
        low = max(float(threshold_ns or durations.min() or 1), 1.0)
        high = max(float(durations.max()), low * 1.01)
        norm = LogNorm(vmin=low, vmax=high)
        cmap = "YlOrRd"
        colours = colormaps[cmap](norm(np.clip(durations, low, high)))
        ax.barh(lane_of, shown, left=start_s, height=0.62, color=colours, edgecolor=colours,
                linewidth=0.3)
        ax.set_yticks(range(len(lanes)), labels=lanes)
        ax.set_ylim(len(lanes) - 0.5, -0.5)
        ax.set_xlim(0, max(span_s, float((start_s + shown).max())))
        _ms_axis(ax, "seconds from the start of the trace")
        bar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, pad=0.01, aspect=25)
        bar.set_ticks(np.geomspace(low, high, 4))
        bar.ax.yaxis.set_major_formatter(lambda x, _: short_duration(x))
        bar.ax.yaxis.set_minor_formatter(lambda x, _: "")
        bar.set_label("duration")
    return _render(draw, WIDTH, max(1.6, 0.9 + 0.28 * len(lanes)))


def breakdowns(labels: list[str], intervals: list[dict]) -> str:
    """One stacked bar per slow interval: on CPU, preempted, blocked, unknown."""
    def draw(fig):
        ax = fig.add_subplot()
        for row, iv in enumerate(intervals):
            left = 0.0
            for part in iv["breakdown"]:
                width = part["ns"] / 1e6
                ax.barh(row, width, left=left, height=0.6, color=KIND_COLOURS[part["kind"]],
                        edgecolor="white", linewidth=0.5)
                left += width
        ax.set_yticks(range(len(labels)), labels=labels)
        ax.set_ylim(len(labels) - 0.5, -0.5)
        _ms_axis(ax, "milliseconds")
        kinds = [k for k in KIND_COLOURS if any(p["kind"] == k for iv in intervals
                                                for p in iv["breakdown"])]
        ax.legend(handles=[Patch(color=KIND_COLOURS[k], label=part_label({"kind": k, "by": None})) for k in kinds],
                  loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=len(kinds),
                  frameon=False, fontsize=8.5)
    return _render(draw, WIDTH, 0.9 + 0.3 * len(labels))


def critical_path(iv: dict, max_lanes: int = 24) -> str:
    """The interval's critical path: a lane per thread it went through, a
    bar per segment coloured by its state.  A path through a parent's many
    children goes through thousands of threads: the ``max_lanes`` - 1 with
    the most time on it keep their lanes, the others share the last one."""
    path = iv["critical_path"]
    names: dict[int, str] = {}
    time_on: dict[int, int] = {}
    for seg in path:
        names.setdefault(seg["tid"], f"{seg['comm'] or 'tid'} ({seg['tid']})")
        time_on[seg["tid"]] = time_on.get(seg["tid"], 0) + seg["end_ns"] - seg["start_ns"]
    labels = list(names.values())
    lane = {tid: n for n, tid in enumerate(names)}
    if len(names) > max_lanes:
        kept = set(sorted(time_on, key=lambda t: (-time_on[t], t))[:max_lanes - 1])
        shown = [tid for tid in names if tid in kept]
        lane = {tid: shown.index(tid) if tid in kept else len(shown) for tid in names}
        labels = [names[tid] for tid in shown] + [f"{len(names) - len(shown):,} other threads"]
    # The bars of each (state, lane), gathered in one pass over the path; bars of
    # one lane and state less than a pixel apart are drawn as one (a path of
    # thousands of segments of microseconds, on a chart of a few hundred ms).
    bars: dict[tuple[str, int], list] = {}
    base = iv["start_ns"]
    pixel = iv["duration_ns"] / 1e6 / (WIDTH * 100)
    for s in path:
        start, length = (s["start_ns"] - base) / 1e6, (s["end_ns"] - s["start_ns"]) / 1e6
        mine = bars.setdefault((s["state"], lane[s["tid"]]), [])
        if mine and start - (mine[-1][0] + mine[-1][1]) < pixel:
            mine[-1] = (mine[-1][0], start + length - mine[-1][0])
        else:
            mine.append((start, length))

    def draw(fig):
        ax = fig.add_subplot()
        labelled: set = set()
        for state in STATE_COLOURS:
            for row in range(len(labels)):
                mine = bars.get((state, row))
                if mine:
                    ax.broken_barh(mine, (row - 0.3, 0.6), facecolors=STATE_COLOURS[state],
                                   linewidth=0, label=state if state not in labelled else None)
                    labelled.add(state)
        ax.set_yticks(range(len(labels)), labels=labels)
        ax.set_ylim(len(labels) - 0.5, -0.5)
        ax.set_xlim(0, iv["duration_ns"] / 1e6)
        _ms_axis(ax, "milliseconds from the interval's start")
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=5, frameon=False,
                  fontsize=8)
    return _render(draw, WIDTH, 1.1 + 0.3 * len(labels))


def blame_graph(blame, max_edges: int) -> str:
    """Who waited on what: threads (boxes) and resources (ellipses), arrows
    from the waiting to the waited-on, as thick as the time waited; the
    ``max_edges`` heaviest edges of a :class:`~corr.analyses.blame.BlameGraph`."""
    import networkx as nx

    g = nx.DiGraph()
    g.add_edges_from((u, v, d) for (u, v), d in blame.heaviest_edges(max_edges))
    for n in g:
        g.nodes[n].update(blame.nodes[n])
    pos = _positions(g)
    top = max((d["ns"] for _, _, d in g.edges(data=True)), default=1) or 1

    def draw(fig):
        ax = fig.add_subplot()
        widths = [0.8 + 5 * d["ns"] / top for _, _, d in g.edges(data=True)]
        nx.draw_networkx_edges(g, pos, ax=ax, width=widths, edge_color="#9aa5b1", arrows=True,
                               arrowsize=12, node_size=2600, connectionstyle="arc3,rad=0.08")
        nx.draw_networkx_edge_labels(
            g, pos, ax=ax, font_size=7.5, font_color=INK, label_pos=0.5, rotate=False,
            edge_labels={(u, v): f"{short_duration(d['ns'])} / {d['count']}"
                         for u, v, d in g.edges(data=True)},
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85})
        for kind, style in (("thread", "round,pad=0.35"), ("resource", "round4,pad=0.35")):
            nodes = [n for n, d in g.nodes(data=True) if d["kind"] == kind]
            nx.draw_networkx_labels(
                g.subgraph(nodes), pos, ax=ax, font_size=8.5, font_color=INK,
                labels={n: g.nodes[n]["label"] for n in nodes},
                bbox={"boxstyle": style, "fc": "#e8f0fe" if kind == "thread" else "#fdf3e1",
                      "ec": "#5b8def" if kind == "thread" else "#e0a030", "lw": 0.8})
        ax.margins(x=0.18, y=0.12)
        ax.set_axis_off()
    return _render(draw, WIDTH, max(2.4, min(6.0, 0.9 + 0.45 * len(g))))


def _positions(g) -> dict:
    """The waiting threads (nobody waits on them) in the middle, what they
    waited on around them, neighbours in the ring ordered by how deep in
    the wait chain they are and by the time waited on them."""
    import networkx as nx

    roots = sorted(n for n in g if g.in_degree(n) == 0) or [max(sorted(g), key=g.out_degree)]
    depth = nx.multi_source_dijkstra_path_length(g, roots, weight=lambda u, v, d: 1)
    waited = {n: sum(d["ns"] for _, _, d in g.in_edges(n, data=True)) for n in g}
    ring = sorted((n for n in g if n not in roots),
                  key=lambda n: (depth.get(n, len(g)), -waited[n], n))
    if not ring:
        return nx.circular_layout(g)
    return nx.shell_layout(g, nlist=[roots, ring])
