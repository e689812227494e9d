"""``Grid`` draws what rich's ``Table`` draws: every character and its style.

A differential test over random tables (headers, one-line cells of plain
and wide characters, styled cells, row styles, justifications, titles, with
and without a box), at console widths where they fit and where they do
not (then Grid hands the rows to rich).
"""

from __future__ import annotations

import io

from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console
from rich.text import Text

from corr.render.grid import Grid

# Plain letters, digits, punctuation, box and wide (two-cell) characters: no
# newlines (Grid's cells are one line) and no markup (Grid's str is plain text).
CHARS = st.sampled_from(list("abcXYZ019 .,:-_()/+%µ—") + ["日", "本", "│", "é"])
WORDS = st.text(CHARS, max_size=12)
STYLES = st.sampled_from([None, "bold", "red", "dim", "bold yellow", "italic cyan"])


@st.composite
def grids(draw):
    columns = draw(st.integers(1, 6))
    grid = Grid(title=draw(st.none() | WORDS.filter(bool)),
                title_style=draw(st.sampled_from(["table.title", "dim"])),
                boxed=draw(st.booleans()))
    for _ in range(columns):
        grid.add_column(draw(WORDS), justify=draw(st.sampled_from(["left", "right", "center"])),
                        overflow=draw(st.sampled_from(["ellipsis", "fold"])),
                        no_wrap=draw(st.booleans()))
    for _ in range(draw(st.integers(0, 5))):
        cells = []
        for _ in range(draw(st.integers(0, columns))):
            text, style = draw(WORDS), draw(STYLES)
            cells.append(Text(text, style=style) if style or draw(st.booleans()) else text)
        grid.add_row(*cells, style=draw(STYLES))
    return grid


def drawn(renderable, width: int) -> list[tuple[str, object]]:
    """Every character drawn, with its style."""
    console = Console(file=io.StringIO(), width=width, highlight=False, emoji=False,
                      force_terminal=True, color_system="truecolor")
    return [(ch, seg.style or None) for seg in console.render(renderable, console.options)
            if not seg.control for ch in seg.text]


@settings(max_examples=400, deadline=None)
@given(grids(), st.integers(8, 120))
def test_a_grid_draws_what_rich_table_draws(grid, width):
    assert drawn(grid, width) == drawn(grid.as_table(), width)


def test_the_look_of_a_stats_table():
    grid = Grid(title="by syscall")
    grid.add_column("name")
    grid.add_column("count", justify="right")
    grid.add_row(Text("read"), "1,024")
    grid.add_row(Text("clone3"), "7")
    out = io.StringIO()
    Console(file=out, width=80).print(grid)
    assert out.getvalue() == ("by syscall    \n"
                              "name   ┃ count\n"
                              "━━━━━━━╇━━━━━━\n"
                              "read   │ 1,024\n"
                              "clone3 │     7\n")
