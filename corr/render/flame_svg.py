"""An off-CPU flame graph as inline SVG, for the HTML report (docs/stacks.md).

The folded code stacks of one rule (:func:`corr.render.folded.rule_code_stacks`),
drawn as flamegraph.pl draws them: the thread at the bottom, each frame as wide
as the off-CPU time spent under it, the scheduler's frames at the top.  The
page has no script, so there is no zoom: each frame's full name, source line
(where debug info gave one), time and share are in its tooltip (``<title>``),
and a frame narrower than a pixel is not drawn.  Frames are text from anyone:
:func:`corr.render.html_charts.esc`.
"""

from __future__ import annotations

from .html_charts import INK, SIZE, _Svg, esc, text_width
from .units import duration

WIDTH = 1100.0
ROW = 17.0
MIN_WIDTH = 1.0          # px: narrower frames are left out (their time is in the parent)
MAX_DEPTH = 200          # rows drawn; deeper frames are left out


def _colour(name: str) -> str:
    """flamegraph.pl's warm palette, chosen from the name (the same frame, the same
    colour); the kernel's frames a little redder."""
    h = 0
    for ch in name:
        h = (h * 31 + ord(ch)) & 0xFFFF
    kernel = "[kernel" in name
    r = 205 + h % 50
    g = (h >> 4) % 140 + (40 if kernel else 90)
    b = (h >> 8) % 50
    return f"#{r:02x}{g:02x}{b:02x}"


def _tree(stacks: dict[tuple, int]) -> dict:
    root: dict = {"ns": 0, "children": {}}
    for frames, ns in sorted(stacks.items()):
        root["ns"] += ns
        node = root
        for frame in frames[:MAX_DEPTH]:
            node = node["children"].setdefault(frame, {"ns": 0, "children": {}})
            node["ns"] += ns
    return root


def flame_graph(stacks: dict[tuple, int], label: str, sources: dict | None = None) -> str:
    """``stacks``: frames (outermost first) -> ns; ``sources``: a frame's source line,
    shown after it in its tooltip.  An SVG string ("" when empty)."""
    sources = sources or {}
    root = _tree(stacks)
    total = root["ns"]
    if total <= 0:
        return ""
    depth = 0
    cells = []                                   # (x, level, width, frame, ns)

    def walk(node, x: float, level: int) -> None:
        nonlocal depth
        for frame, child in node["children"].items():
            width = WIDTH * child["ns"] / total
            if width >= MIN_WIDTH:
                cells.append((x, level, width, frame, child["ns"]))
                depth = max(depth, level + 1)
                walk(child, x, level + 1)
            x += width

    walk(root, 0.0, 0)
    height = depth * ROW + 4
    svg = _Svg(WIDTH, height, label)
    for x, level, width, frame, ns in cells:
        y = height - (level + 1) * ROW
        line = sources.get(frame)
        shown = f"{frame} {line}" if line else frame
        title = f"{shown}: {duration(ns)} ({100 * ns / total:.1f}%)"
        svg.rect(x, y, max(width - 0.5, 0.5), ROW - 1, _colour(frame), title=title)
        text = frame
        room = width - 6
        if room > text_width("ab", SIZE - 1):
            whole = text_width(text, SIZE - 1)
            if whole > room:        # the longest start of the name that fits with "…"
                keep = min(len(text) - 1, int(len(text) * room / whole))
                while keep > 0 and text_width(text[:keep] + "…", SIZE - 1) > room:
                    keep -= 1
                text = text[:keep] + "…" if keep > 0 else ""
            if text:
                svg.add(f'<text x="{x + 3:.1f}" y="{y + ROW - 5:.1f}" font-size="{SIZE - 1}" '
                        f'fill="{INK}" pointer-events="none">{esc(text)}</text>')
    return svg.render()
