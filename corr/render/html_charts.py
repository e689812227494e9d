"""The pictures of the HTML report, written as inline SVG text.

No plotting library: a report's dozen charts are rectangles, lines and
labels, and building their text with numpy for the binning costs
milliseconds where a plotting library's layout and SVG writer took
seconds (and its import a quarter of one).  Every string that may come
from a trace (thread names, group values, state names) goes through
:func:`esc`; the SVGs are well-formed XML, with no namespace URL (the
page names none) and ids salted per page so that several never collide.
Units are pixels of a ``WIDTH``-wide view box that scales down with the
page; text sizes are those of the page's small print.
"""

from __future__ import annotations

import html
import itertools
import math
from collections import defaultdict

import numpy as np

from .blame_text import part_label
from .escape import terminal
from .units import duration, short_duration

INK = "#1f2933"
MUTED = "#7b8794"
GRID = "#e4e7eb"
SLOW = "#d64545"
FAST = "#7aa7d8"
EDGE = "#9aa5b1"
# Trace Compass's critical-path palette, so the states look as they do there.
STATE_COLOURS = {"RUNNING": "#339900", "PREEMPTED": "#c86464", "BLOCKED": "#a0a0a0",
                 "INTERRUPTED": "#ffdc00", "TIMER": "#336699", "BLOCK_DEVICE": "#6600cc",
                 "NETWORK": "#ff9bff", "IPI": "#6666cc", "UNKNOWN": "#403b33"}
KIND_COLOURS = {"on_cpu": "#339900", "preempted": "#c86464", "blocked": "#5b8def",
                "unknown": "#403b33"}
# ColorBrewer's YlOrRd, light (fast) to dark (slow), evenly spaced anchors.
DURATION_SCALE = ("#ffffcc", "#ffeda0", "#fed976", "#feb24c", "#fd8d3c", "#fc4e2a",
                  "#e31a1c", "#bd0026", "#800026")
FONT = "DejaVu Sans, Liberation Sans, Arial, sans-serif"
SIZE = 12                  # px: the axes' text
SMALL = 11                 # px: legends, annotations, edge labels
WIDTH = 1008               # px: the width of the page's cards
MAX_LABEL = 48             # characters of a lane label drawn (the tooltip has all)
_salt = itertools.count()      # ids unique across a page's SVGs; start_page() restarts it


def start_page() -> None:
    """Number a new page's figures from 0: the same result, the same page."""
    global _salt
    _salt = itertools.count()


def esc(text) -> str:
    """Text for SVG/HTML: markup characters escaped, and control characters (which
    XML forbids even as references) and bidi overrides written as ``\\x1b``,
    ``\\u202e``, as the text report shows them (:func:`corr.render.escape.terminal`)."""
    return html.escape(terminal(text), quote=True)


def _f(x: float) -> str:
    """A coordinate to 1/10 px."""
    return f"{x:.1f}"


# Approximate advance widths of DejaVu Sans, in em: enough to lay out label
# columns and the boxes behind labels, which need not fit to the pixel.
_NARROW = dict.fromkeys("iljtf.,:;!|'()[] /", 0.33)
_WIDE = dict.fromkeys("mwMW@%", 0.92)


def text_width(text: str, size: float = SIZE) -> float:
    em = 0.0
    for ch in text:
        w = _NARROW.get(ch) or _WIDE.get(ch)
        if w is None:
            w = 0.7 if ch.isupper() else 0.64 if ch.isdigit() else 0.6
        em += w
    return em * size


def _clip(label: str) -> str:
    return label if len(label) <= MAX_LABEL else label[:MAX_LABEL - 1] + "…"


class _Svg:
    """An SVG under construction: its elements as strings, joined once."""

    def __init__(self, width: float, height: float, label: str):
        self.width, self.height, self.label = width, height, label
        self.parts: list[str] = []
        self.salt = f"corr{next(_salt)}"
        self.add = self.parts.append

    def text(self, x: float, y: float, text: str, anchor: str = "start", size: float | None = None,
             extra: str = "") -> None:
        attrs = f' x="{_f(x)}" y="{_f(y)}"'
        if anchor != "start":
            attrs += f' text-anchor="{anchor}"'
        if size is not None:
            attrs += f' font-size="{size}"'
        self.add(f"<text{attrs}{extra}>{esc(text)}</text>")

    def line(self, x1, y1, x2, y2, stroke: str, width: float = 1.0, extra: str = "") -> None:
        self.add(f'<line x1="{_f(x1)}" y1="{_f(y1)}" x2="{_f(x2)}" y2="{_f(y2)}" '
                 f'stroke="{stroke}" stroke-width="{width}"{extra}/>')

    def rect(self, x, y, w, h, fill: str, title: str | None = None, extra: str = "") -> None:
        head = f'<rect x="{_f(x)}" y="{_f(y)}" width="{_f(w)}" height="{_f(h)}" fill="{fill}"{extra}'
        self.add(f"{head}><title>{esc(title)}</title></rect>" if title is not None else head + "/>")

    def render(self) -> str:
        w, h = math.ceil(self.width), math.ceil(self.height)
        return (f'<svg viewBox="0 0 {w} {h}" role="img" aria-label="{esc(self.label)}" '
                f'style="width:100%;max-width:{w}px;height:auto" font-family="{FONT}" '
                f'font-size="{SIZE}" fill="{INK}">' + "".join(self.parts) + "</svg>")


# -- axes --------------------------------------------------------------------------

def nice_step(span: float, target: int, mantissas=(1, 2, 2.5, 5)) -> float:
    """A step of ``mantissas`` times a power of ten that cuts ``span`` in about ``target``."""
    raw = max(span, 1e-12) / max(target, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    return next((m * magnitude for m in mantissas if m * magnitude >= raw * 0.999), 10 * magnitude)


def time_ticks(high_ns: float, target: int) -> list[tuple[float, str]]:
    """Ticks from 0 to ``high_ns`` labelled in the unit of the longest
    (``0``, ``50ms``, ``100ms``; ``0``, ``0.5s``, ``1s``)."""
    step = nice_step(high_ns, target)
    unit, scale = next(((u, s) for u, s in (("s", 1e9), ("ms", 1e6), ("us", 1e3))
                        if high_ns >= s), ("ns", 1.0))
    decimals = 0
    while decimals < 6 and abs(round(step / scale, decimals) - step / scale) > step / scale * 1e-6:
        decimals += 1
    ticks = []
    for n in range(int(high_ns * (1 + 1e-9) // step) + 1):
        value = f"{n * step / scale:.{decimals}f}"
        if "." in value:
            value = value.rstrip("0").rstrip(".")
        ticks.append((n * step, "0" if n == 0 else value + unit))
    return ticks


def _spaced(positions: list[float], labels: list[str], size: float = SIZE) -> bool:
    """Whether the labels centred on ``positions`` leave a gap between neighbours."""
    for (x1, l1), (x2, l2) in zip(zip(positions, labels), zip(positions[1:], labels[1:])):
        if x2 - x1 < (text_width(l1, size) + text_width(l2, size)) / 2 + 4:
            return False
    return True


def _x_axis(svg: _Svg, left: float, right: float, top: float, bottom: float,
            ticks: list[tuple[float, str]], label: str, minor: list[float] = ()) -> None:
    """The bottom axis: grid lines, spine, ticks and their labels (thinned
    until they do not touch), and the axis label."""
    positions = [x for x, _ in ticks]
    labels = [t for _, t in ticks]
    keep = 1
    while keep < len(ticks) and not _spaced(positions[::keep], labels[::keep]):
        keep += 1
    for x in positions:
        svg.line(x, top, x, bottom, GRID, 0.8)
    svg.line(left, bottom, right, bottom, MUTED, 1)
    for x in minor:
        svg.line(x, bottom, x, bottom + 2.5, MUTED, 0.6)
    for n, (x, text) in enumerate(ticks):
        svg.line(x, bottom, x, bottom + 4.5, MUTED, 0.8)
        if n % keep == 0:
            svg.text(x, bottom + 17, text, "middle")
    svg.text((left + right) / 2, bottom + 34, label, "middle")


def _lanes_axis(svg: _Svg, left: float, ys: list[float], labels: list[str], top: float,
                bottom: float) -> None:
    """The left axis of a chart of lanes: spine, a tick and a label per lane
    (clipped to ``MAX_LABEL`` characters; the whole label is its tooltip)."""
    svg.line(left, top, left, bottom, MUTED, 1)
    for y, label in zip(ys, labels):
        svg.line(left - 4.5, y, left, y, MUTED, 0.8)
        shown = _clip(label)
        if shown == label:
            svg.text(left - 7, y + 4, label, "end")
        else:
            svg.add(f'<text x="{_f(left - 7)}" y="{_f(y + 4)}" text-anchor="end">{esc(shown)}'
                    f"<title>{esc(label)}</title></text>")


def _lane_column(labels: list[str]) -> float:
    """Room for the lane labels left of the plot."""
    return min(max((text_width(_clip(lb)) for lb in labels), default=0) + 16, WIDTH * 0.45)


def _legend(svg: _Svg, entries: list[tuple[str, str]], y: float, columns: int) -> float:
    """Coloured squares and their names, centred in rows of ``columns``
    above a chart; returns the height they took."""
    rows = [entries[i:i + columns] for i in range(0, len(entries), columns)]
    cell = max((text_width(name, SMALL) for _, name in entries), default=0) + 34
    for r, row in enumerate(rows):
        x = (svg.width - cell * len(row)) / 2
        for colour, name in row:
            svg.rect(x + 4, y + r * 16 - 9, 18, 9, colour)
            svg.text(x + 27, y + r * 16, name, size=SMALL)
            x += cell
    return len(rows) * 16


# -- the charts --------------------------------------------------------------------

def histogram_bins(durations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edges and counts of the positive durations in 40 buckets growing
    geometrically from the shortest to the longest."""
    values = durations[durations > 0]
    low, high = max(int(values.min()), 1), max(int(values.max()), 2)
    if high <= low:
        high = low * 2
    edges = np.geomspace(low, high * 1.0001, 41)
    counts, _ = np.histogram(values, bins=edges)
    return edges, counts


def _log_ticks(lo: float, hi: float, to_x) -> tuple[list[tuple[float, str]], list[float]]:
    """Major ticks at 1, 2, 5 times powers of ten (only the powers when the
    labels would not fit), minor ticks at the other multiples."""
    decades = range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
    every = [m * 10.0 ** d for d in decades for m in range(1, 10)]
    every = [v for v in every if lo <= v <= hi]
    for subs in ((1, 2, 5), (1,)):
        major = [v for v in every if round(v / 10 ** math.floor(math.log10(v) + 1e-9)) in subs]
        labels = [short_duration(v) for v in major]
        if _spaced([to_x(v) for v in major], labels) or subs == (1,):
            break
    minor = [to_x(v) for v in every if v not in major]
    return [(to_x(v), t) for v, t in zip(major, labels)], minor


def histogram(durations: np.ndarray, threshold_ns: int | None, gid: str = "threshold") -> str:
    """Counts per log-scaled duration bucket; buckets over the threshold in
    red; the threshold line is the SVG element of id ``gid``.  Each bar says
    its bucket and count in ``data-*`` attributes and its tooltip."""
    edges, counts = histogram_bins(durations)
    svg = _Svg(WIDTH, 288, "latency histogram")
    left, right, top, bottom = 66.0, WIDTH - 18.0, 12.0, 288 - 44.0
    lo, hi = float(edges[0]), float(edges[-1])
    line = threshold_ns is not None and threshold_ns > 0         # a log axis has no 0
    if line:
        lo, hi = min(lo, threshold_ns), max(hi, threshold_ns)
    llo, lhi = math.log10(lo), math.log10(hi)
    pad = 0.05 * max(lhi - llo, 0.1)
    llo, lhi = llo - pad, lhi + pad
    scale_x = (right - left) / (lhi - llo)

    def to_x(v):
        return left + (math.log10(v) - llo) * scale_x

    nonzero = counts[counts > 0]
    most = int(nonzero.max())
    log_y = bool(nonzero.max() > 50 * nonzero.min())
    if log_y:
        ylo = 0.7
        yhi = 10 ** (math.log10(most) + 0.05 * (math.log10(most) - math.log10(ylo)))
        span = math.log10(yhi) - math.log10(ylo)

        def to_y(c):
            return bottom - (math.log10(c) - math.log10(ylo)) / span * (bottom - top)
        y_ticks = [10 ** k for k in range(0, math.floor(math.log10(yhi)) + 1)]
        y_minor = [m * 10 ** k for k in range(0, math.floor(math.log10(yhi)) + 1)
                   for m in range(2, 10) if m * 10 ** k <= yhi]
    else:
        yhi = most * 1.05

        def to_y(c):
            return bottom - c / yhi * (bottom - top)
        step = max(1, nice_step(yhi, 5, (1, 2, 5)))
        y_ticks = [k * step for k in range(int(yhi // step) + 1)]
        y_minor = []

    x_ticks, x_minor = _log_ticks(10 ** llo, 10 ** lhi, to_x)
    for y in y_ticks:
        svg.line(left - 4.5, to_y(y), left, to_y(y), MUTED, 0.8)
        svg.text(left - 7, to_y(y) + 4, f"{y:,.0f}", "end")
    for y in y_minor:
        svg.line(left - 2.5, to_y(y), left, to_y(y), MUTED, 0.6)
    svg.text(0, 0, "intervals", "middle",
             extra=f' transform="translate(16 {_f((top + bottom) / 2)}) rotate(-90)"')
    _x_axis(svg, left, right, top, bottom, x_ticks, "duration (log scale)", x_minor)
    svg.line(left, top, left, bottom, MUTED, 1)
    floor = to_y(ylo) if log_y else bottom
    for i in np.flatnonzero(counts):
        c = int(counts[i])
        x1, x2 = to_x(edges[i]), to_x(edges[i + 1])
        slow = threshold_ns is not None and edges[i] >= threshold_ns
        y = to_y(c)
        svg.rect(x1, y, x2 - x1, floor - y, SLOW if slow else FAST,
                 f"{short_duration(edges[i])} to {short_duration(edges[i + 1])}: "
                 f"{c:,} interval{'s' if c != 1 else ''}{', over the threshold' if slow else ''}",
                 f' stroke="white" stroke-width="0.5" data-count="{c}" '
                 f'data-low-ns="{edges[i]:.0f}" data-high-ns="{edges[i + 1]:.0f}"')
    if line:
        x = to_x(threshold_ns)
        svg.line(x, top, x, bottom, INK, 1.6, f' stroke-dasharray="6 3" id="{esc(gid)}"')
        label = f"threshold {duration(threshold_ns)}"
        if x + 5 + text_width(label, SMALL) <= WIDTH:
            svg.text(x + 5, top + 10, label, size=SMALL)
        else:
            svg.text(x - 5, top + 10, label, "end", size=SMALL)
    return svg.render()


def duration_colours(durations: np.ndarray, low: float, high: float) -> list[str]:
    """Each duration's colour on the YlOrRd scale, logarithmic from ``low`` to ``high``."""
    anchors = np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in DURATION_SCALE],
                       dtype=float)
    where = np.log(np.clip(durations.astype(float), low, high) / low) / math.log(high / low)
    at = where * (len(anchors) - 1)
    i = np.minimum(at.astype(int), len(anchors) - 2)
    frac = (at - i)[:, None]
    rgb = np.rint(anchors[i] * (1 - frac) + anchors[i + 1] * frac).astype(int)
    return [f"#{r:02x}{g:02x}{b:02x}" for r, g, b in rgb.tolist()]


def timeline(lanes: list[str], lane_of: np.ndarray, start_s: np.ndarray, length_s: np.ndarray,
             durations: np.ndarray, threshold_ns: int | None, span_s: float) -> str:
    """Slow intervals in time, one lane per group or thread, coloured by
    duration on a logarithmic scale (its colour bar on the right)."""
    height = max(154.0, 86 + 27 * len(lanes))
    svg = _Svg(WIDTH, height, "slow intervals in time")
    left = _lane_column(lanes)
    right, top, bottom = WIDTH - 96.0, 10.0, height - 44.0
    floor = max(span_s, 1e-9) / 600           # a sliver stays visible
    shown = np.maximum(length_s, floor)
    end_s = max(span_s, float((start_s + shown).max()))
    low = max(float(threshold_ns or durations.min() or 1), 1.0)
    high = max(float(durations.max()), low * 1.01)
    pitch = (bottom - top) / len(lanes)
    ys = [top + (n + 0.5) * pitch for n in range(len(lanes))]
    _x_axis(svg, left, right, top, bottom,
            [(left + t / 1e9 / end_s * (right - left), label)
             for t, label in time_ticks(end_s * 1e9, 8)], "time from the start of the trace")
    _lanes_axis(svg, left, ys, lanes, top, bottom)
    scale = (right - left) / end_s
    bar = pitch * 0.62
    colours = duration_colours(durations, low, high)
    for lane, start, width, ns, colour in zip(lane_of.tolist(), start_s.tolist(), shown.tolist(),
                                              durations.tolist(), colours):
        svg.rect(left + start * scale, ys[lane] - bar / 2, width * scale, bar, colour,
                 f"{lanes[lane]}: {duration(ns)} at +{start:.6f} s")
    # The colour bar: the scale's anchors as gradient stops, four durations on it.
    gradient = f"{svg.salt}-duration"
    stops = "".join(f'<stop offset="{n / (len(DURATION_SCALE) - 1):.3f}" stop-color="{c}"/>'
                    for n, c in enumerate(DURATION_SCALE))
    svg.add(f'<defs><linearGradient id="{gradient}" x1="0" y1="1" x2="0" y2="0">{stops}'
            f'</linearGradient></defs>')
    bx = right + 14
    svg.rect(bx, top, 12, bottom - top, f"url(#{gradient})", extra=f' stroke="{MUTED}" stroke-width="0.5"')
    for ns in np.geomspace(low, high, 4):
        y = bottom - math.log(ns / low) / math.log(high / low) * (bottom - top)
        svg.line(bx + 12, y, bx + 16, y, MUTED, 0.8)
        svg.text(bx + 19, y + 4, short_duration(ns), size=SMALL)
    svg.text(0, 0, "duration", "middle",
             extra=f' transform="translate({_f(WIDTH - 8)} {_f((top + bottom) / 2)}) rotate(-90)"')
    return svg.render()


def breakdowns(labels: list[str], intervals: list[dict]) -> str:
    """One stacked bar per slow interval: on CPU, preempted, blocked, unknown."""
    kinds = [k for k in KIND_COLOURS if any(p["kind"] == k for iv in intervals
                                            for p in iv["breakdown"])]
    height = 60 + 29 * len(labels) + 28
    svg = _Svg(WIDTH, height, "where the time of the slowest intervals went")
    legend = _legend(svg, [(KIND_COLOURS[k], part_label({"kind": k, "by": None})) for k in kinds],
                     16, len(kinds) or 1)
    left = _lane_column(labels)
    right, top, bottom = WIDTH - 18.0, 16 + legend, height - 44.0
    longest = max((sum(p["ns"] for p in iv["breakdown"]) for iv in intervals), default=0)
    high = max(longest * 1.04, 1)
    scale = (right - left) / high
    pitch = (bottom - top) / max(len(labels), 1)
    ys = [top + (n + 0.5) * pitch for n in range(len(labels))]
    _x_axis(svg, left, right, top, bottom,
            [(left + t * scale, text) for t, text in time_ticks(high, 8)], "duration")
    _lanes_axis(svg, left, ys, labels, top, bottom)
    bar = pitch * 0.6
    for y, label, iv in zip(ys, labels, intervals):
        x = left
        total = iv["duration_ns"] or 1
        for part in iv["breakdown"]:
            width = part["ns"] * scale
            svg.rect(x, y - bar / 2, width, bar, KIND_COLOURS[part["kind"]],
                     f"{label.split()[0]} {part_label(part)}: {duration(part['ns'])} "
                     f"({100 * part['ns'] / total:.1f}%)",
                     ' stroke="white" stroke-width="0.6"')
            x += width
    return svg.render()


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
    present = {seg["state"] for seg in path}
    states = [s for s in STATE_COLOURS if s in present]
    rows = math.ceil(len(states) / 5)
    height = 64 + 16 * rows + 29 * len(labels)
    svg = _Svg(WIDTH, height, "critical path")
    legend = _legend(svg, [(STATE_COLOURS[s], s) for s in states], 16, 5)
    left = _lane_column(labels)
    right, top, bottom = WIDTH - 18.0, 14 + legend, height - 44.0
    span = max(iv["duration_ns"], 1)
    scale = (right - left) / span
    # The bars of each (state, lane), gathered in one pass over the path; bars of
    # one lane and state less than a pixel apart are drawn as one (a path of
    # thousands of segments of microseconds, on a chart of a few hundred ms).
    bars: dict[tuple[str, int], list] = {}
    base = iv["start_ns"]
    pixel = 1 / scale
    for s in path:
        start, length = s["start_ns"] - base, s["end_ns"] - s["start_ns"]
        mine = bars.setdefault((s["state"], lane[s["tid"]]), [])
        if mine and start - (mine[-1][0] + mine[-1][1]) < pixel:
            mine[-1] = (mine[-1][0], start + length - mine[-1][0], mine[-1][2] + length)
        else:
            mine.append((start, length, length))
    pitch = (bottom - top) / len(labels)
    ys = [top + (n + 0.5) * pitch for n in range(len(labels))]
    _x_axis(svg, left, right, top, bottom,
            [(left + t * scale, text) for t, text in time_ticks(span, 8)],
            "time from the interval's start")
    _lanes_axis(svg, left, ys, labels, top, bottom)
    bar = pitch * 0.6
    for state in states:
        for row, label in enumerate(labels):
            for start, length, busy in bars.get((state, row), ()):
                what = duration(busy) if busy == length else f"{duration(busy)} in {duration(length)}"
                svg.rect(left + start * scale, ys[row] - bar / 2, max(length * scale, 0.6), bar,
                         STATE_COLOURS[state], f"{state}, {label}: {what} at +{duration(start)}")
    return svg.render()


# -- the blame graph ---------------------------------------------------------------

def _columns(nodes: dict, succ: dict, roots: list) -> dict:
    """Each node's column: the longest wait chain from the roots to it (a
    depth-first walk from the roots leaves out the edges closing a cycle);
    resources, where waits end, all in the last column."""
    order, state, dag_pred = [], {}, defaultdict(list)

    def visit(n):
        stack = [(n, iter(succ[n]))]
        state[n] = 1
        while stack:
            node, it = stack[-1]
            for m in it:
                if state.get(m) is None:
                    dag_pred[m].append(node)
                    state[m] = 1
                    stack.append((m, iter(succ[m])))
                    break
                if state[m] == 2:                 # a cross or forward edge: not a cycle
                    dag_pred[m].append(node)
            else:
                state[node] = 2
                order.append(node)
                stack.pop()

    for n in list(roots) + list(nodes):
        if n not in state:
            visit(n)
    column = {}
    for n in reversed(order):                     # a topological order of the kept edges
        column[n] = max((column[p] + 1 for p in dag_pred[n]), default=0)
    threads = [column[n] for n in nodes if nodes[n]["kind"] == "thread"]
    last = max(threads, default=0) + 1
    for n in nodes:
        if nodes[n]["kind"] != "thread" and not succ[n]:
            column[n] = last
    used = sorted(set(column.values()))           # no empty column
    return {n: used.index(c) for n, c in column.items()}


def _bezier(p0, p1, p2, p3, t: float) -> tuple[float, float]:
    u = 1 - t
    return tuple(u ** 3 * a + 3 * u * u * t * b + 3 * u * t * t * c + t ** 3 * d
                 for a, b, c, d in zip(p0, p1, p2, p3))


def _pack(desired: list[float], gaps: list[float]) -> list[float]:
    """The positions closest to ``desired`` (least squares) that keep their
    order with ``gaps[i]`` between item i and i + 1 (pool adjacent violators)."""
    offsets = [0.0]
    for g in gaps:
        offsets.append(offsets[-1] + g)
    blocks: list[list[float]] = []                 # [sum, count] of equal shifted values
    for d, o in zip(desired, offsets):
        blocks.append([d - o, 1])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            total, n = blocks.pop()
            blocks[-1][0] += total
            blocks[-1][1] += n
    out = [total / n for total, n in blocks for _ in range(int(n))]
    return [v + o for v, o in zip(out, offsets)]


NODE_SLOT = 46.0           # px: a box (22) and the room around it, in its column
BOX_H = 22.0


def _layered(nodes: dict, edges: list, column: dict, thickness: list[float]):
    """Columns ordered and placed as in a layered (Sugiyama) drawing: an edge
    across several columns holds a place in each column it crosses, so that
    it passes between the boxes; each column is ordered by the mean place of
    its neighbours, then each item moved as near the mean height of its
    neighbours as the order and the room between items allow.  Returns the
    items of each column, their heights and each edge's chain of items."""
    ncols = max(column.values()) + 1
    col = dict(column)
    slot = {n: NODE_SLOT for n in nodes}
    adj: dict = defaultdict(list)
    chains: list = []
    for k, ((u, v), d) in enumerate(edges):
        cu, cv = column[u], column[v]
        if cu == cv:
            chains.append(None)
            continue
        step = 1 if cv > cu else -1
        chain = [u]
        for c in range(cu + step, cv, step):
            dummy = ("edge", k, c)
            col[dummy], slot[dummy] = c, thickness[k] + 10
            chain.append(dummy)
        chain.append(v)
        w = d["ns"] + 1
        for a, b in zip(chain, chain[1:]):
            adj[a].append((b, w))
            adj[b].append((a, w))
        chains.append(chain)
    members = [[] for _ in range(ncols)]
    for item in [*nodes, *(i for i in col if i not in nodes)]:    # nodes first, by weight
        members[col[item]].append(item)
    place = {item: i / max(len(m) - 1, 1) for m in members for i, item in enumerate(m)}
    for sweep in range(6):
        forward = sweep % 2 == 0
        for c in (range(1, ncols) if forward else range(ncols - 2, -1, -1)):
            near_col = c - 1 if forward else c + 1

            def centre(item):
                near = [(place[m], w) for m, w in adj[item] if col[m] == near_col]
                total = sum(w for _, w in near)
                return sum(p * w for p, w in near) / total if total else place[item]
            members[c].sort(key=lambda item: (centre(item), place[item]))
            place.update({item: i / max(len(members[c]) - 1, 1)
                          for i, item in enumerate(members[c])})
    y: dict = {}
    for m in members:
        at = 0.0
        for item in m:
            y[item] = at + slot[item] / 2
            at += slot[item]
    tallest = max(sum(slot[i] for i in m) for m in members)
    for m in members:                              # columns centred on the tallest
        shift = (tallest - sum(slot[i] for i in m)) / 2
        for item in m:
            y[item] += shift
    for sweep in range(8):
        forward = sweep % 2 == 0
        for c in (range(ncols) if forward else range(ncols - 1, -1, -1)):
            m = members[c]
            desired = []
            for item in m:
                near = adj[item]
                total = sum(w for _, w in near)
                desired.append(sum(y[o] * w for o, w in near) / total if total else y[item])
            gaps = [(slot[a] + slot[b]) / 2 for a, b in zip(m, m[1:])]
            y.update(zip(m, _pack(desired, gaps)))
    top = min(y[i] - slot[i] / 2 for i in y)
    y = {i: v - top for i, v in y.items()}
    height = max(y[i] + slot[i] / 2 for i in y)
    return members, y, height, chains


def blame_graph(blame, max_edges: int) -> str:
    """Who waited on what: threads (boxes) and resources (rounder boxes),
    arrows from the waiting to the waited-on, as thick as the time waited;
    the ``max_edges`` heaviest edges of a :class:`~corr.analyses.blame.BlameGraph`.
    The threads nobody waited on (whose intervals were slow) are on the
    left, what they waited on to their right, the resources last."""
    edges = blame.heaviest_edges(max_edges)
    succ, pred = defaultdict(list), defaultdict(list)
    for (u, v), d in edges:
        succ[u].append(v)
        pred[v].append(u)
    names = dict.fromkeys(n for (u, v), _ in edges for n in (u, v))
    out_ns = {n: sum(d["ns"] for (u, _), d in edges if u == n) for n in names}
    in_ns = {n: sum(d["ns"] for (_, v), d in edges if v == n) for n in names}
    # Nodes by weight: the first order of each column (and deterministic walks).
    nodes = {n: blame.nodes[n] for n in sorted(names, key=lambda n: (-(out_ns[n] + in_ns[n]), n))}
    for n in nodes:
        succ[n].sort()
    roots = sorted(n for n in nodes if not pred[n]) or \
        [max(sorted(nodes), key=lambda n: len(succ[n]))]
    column = _columns(nodes, succ, roots)
    top_ns = max((d["ns"] for _, d in edges), default=1) or 1
    thickness = [(0.8 + 5 * d["ns"] / top_ns) * 4 / 3 for _, d in edges]
    members, y, inner_h, chains = _layered(nodes, edges, column, thickness)

    size = {n: (text_width(_clip(nodes[n]["label"]), SMALL) + 16, BOX_H) for n in nodes}
    ncols = len(members)
    col_w = [max((size[i][0] for i in m if i in nodes), default=0) for m in members]
    margin, pad_y = 12.0, 14.0
    gap = max(80.0, (WIDTH - 2 * margin - sum(col_w)) / (ncols - 1)) if ncols > 1 else 0
    width = max(WIDTH, 2 * margin + sum(col_w) + gap * (ncols - 1))
    if ncols == 1:
        margin = (width - col_w[0]) / 2
    centre_x, x = [], margin
    for w in col_w:
        centre_x.append(x + w / 2)
        x += w + gap
    same_col = any(ch is None for ch in chains)
    height = max(230.0, inner_h + 2 * pad_y)
    shift = (height - inner_h) / 2
    pos = {item: (centre_x[c], y[item] + shift) for c, m in enumerate(members) for item in m}
    if same_col:                                   # room for the arcs right of the last column
        width = max(width, centre_x[-1] + col_w[-1] / 2 + 60)
    svg = _Svg(width, height, "blame graph")

    # Each edge's ends: a node's side (+1 right, -1 left) and the item at the
    # other end of its first piece; ports spread over the side in that order.
    ends: dict = defaultdict(list)                 # (node, side) -> [(other y, key)]
    for k, ((u, v), _) in enumerate(edges):
        chain = chains[k]
        if chain is None:
            ends[(u, 1)].append((pos[v][1], (k, u)))
            ends[(v, 1)].append((pos[u][1], (k, v)))
        else:
            s = 1 if column[v] > column[u] else -1
            ends[(u, s)].append((pos[chain[1]][1], (k, u)))
            ends[(v, -s)].append((pos[chain[-2]][1], (k, v)))
    ports = {}
    for (n, s), mine in ends.items():
        mine.sort()
        for i, (_, key) in enumerate(mine):
            ports[key] = (pos[n][0] + s * size[n][0] / 2,
                          pos[n][1] + ((i + 1) / (len(mine) + 1) - 0.5) * (BOX_H - 6))
    labels = []
    for k in reversed(range(len(edges))):          # the heaviest drawn last, on top
        (u, v), d = edges[k]
        w = thickness[k]
        head = 7 + 1.3 * w
        (x0, y0), (x3, y3) = ports[(k, u)], ports[(k, v)]
        chain = chains[k]
        if chain is None:                          # same column: an arc on the right
            s_end = 1
            reach = 30 + 0.15 * abs(y3 - y0)
            points = [(x0, y0), (x3 + head, y3)]
            pieces = [((x0, y0), (x0 + reach, y0), (x3 + head + reach, y3), (x3 + head, y3))]
        else:
            s = 1 if column[v] > column[u] else -1
            s_end = -s
            points = [(x0, y0)]
            for item in chain[1:-1]:
                cx, cy = pos[item]
                c = column[u] + s * (chain.index(item))
                points += [(cx - s * col_w[c] / 2, cy), (cx + s * col_w[c] / 2, cy)]
            points.append((x3 - s * head, y3))
            pieces = []
            for (ax, ay), (bx, by) in zip(points[::2], points[1::2]):
                dx = abs(bx - ax) / 2
                pieces.append(((ax, ay), (ax + s * dx, ay), (bx - s * dx, by), (bx, by)))
        path = f"M{_f(points[0][0])} {_f(points[0][1])}"
        for n, (p0, p1, p2, p3) in enumerate(pieces):
            if n:
                path += f" L{_f(p0[0])} {_f(p0[1])}"
            path += f" C{_f(p1[0])} {_f(p1[1])} {_f(p2[0])} {_f(p2[1])} {_f(p3[0])} {_f(p3[1])}"
        xe = points[-1][0]
        title = (f"{nodes[u]['label']} waited on {nodes[v]['label']}: {duration(d['ns'])} "
                 f"over {d['count']:,} interval{'s' if d['count'] != 1 else ''}")
        svg.add(f'<g><title>{esc(title)}</title><path d="{path}" fill="none" stroke="{EDGE}" '
                f'stroke-width="{w:.2f}"/><polygon points="{_f(x3)},{_f(y3)} '
                f'{_f(xe)},{_f(y3 - head * 0.45)} {_f(xe)},{_f(y3 + head * 0.45)}" '
                f'fill="{EDGE}"/></g>')
        # The label where the edges around it spread: near the target when
        # its source waits on many, near the source when many wait on its target.
        fan_out, fan_in = len(succ[u]), len(pred[v])
        if len(pieces) == 1:
            piece, t = pieces[0], 0.7 if fan_out > fan_in else 0.3 if fan_in > fan_out else 0.5
        else:
            piece = pieces[-1] if fan_out > fan_in else pieces[0] if fan_in > fan_out \
                else pieces[len(pieces) // 2]
            t = 0.5
        lx, ly = _bezier(*piece, t)
        labels.append((lx, ly, f"{short_duration(d['ns'])} / {d['count']}"))
    # Edge labels on a white ground, moved down until they overlap no other
    # label and no box.
    placed = [(pos[n][0], pos[n][1], size[n][0] / 2 + 2, BOX_H / 2 + 1) for n in nodes]
    for lx, ly, text in sorted(labels, key=lambda lb: (lb[1], lb[0])):
        w2, h2 = text_width(text, SMALL) / 2 + 3, 8.0
        for _ in range(60):
            clash = [p for p in placed if abs(p[0] - lx) < p[2] + w2 and abs(p[1] - ly) < p[3] + h2]
            if not clash:
                break
            ly = max(p[1] + p[3] + h2 + 0.5 for p in clash)
        placed.append((lx, ly, w2, h2))
        svg.rect(lx - w2, ly - h2, 2 * w2, 2 * h2, "white", extra=' fill-opacity="0.85" rx="3"')
        svg.text(lx, ly + 4, text, "middle", SMALL)
    svg.height = max(svg.height, max(p[1] + p[3] for p in placed) + 4)
    for n in nodes:
        (x, y_), w = pos[n], size[n][0]
        thread = nodes[n]["kind"] == "thread"
        label = nodes[n]["label"]
        svg.add(f'<g><title>{esc(label)}</title>')
        svg.rect(x - w / 2, y_ - BOX_H / 2, w, BOX_H, "#e8f0fe" if thread else "#fdf3e1",
                 extra=f' stroke="{"#5b8def" if thread else "#e0a030"}" stroke-width="1.1" '
                       f'rx="{4 if thread else BOX_H / 2}"')
        svg.text(x, y_ + 4, _clip(label), "middle", SMALL)
        svg.add("</g>")
    return svg.render()
