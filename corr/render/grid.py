"""Tables of one-line cells, drawn as rich's ``Table`` draws them, 30 times faster.

rich's ``Table`` lays out any renderable: it measures and wraps every cell
through its whole rendering pipeline, about 60 µs a cell.  A ``corr run``
prints hundreds of cells (a rule's groups, its slowest intervals, their
critical paths), which took 50 ms of a 0.3 s run.  corr's tables hold only
one-line text, so :class:`Grid` aligns them itself, with rich's look:
the heavy-headed box without edges (or no box), the header in
``table.header``'s style, a title left-justified above.  When the table
does not fit the console's width, or a cell spans lines, it hands the same
rows to rich's ``Table`` to fold and wrap them as it would.

``tests/test_grid.py`` checks, character by character and style by style,
that both draw the same.
"""

from __future__ import annotations

from rich import box as boxes
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions
from rich.segment import Segment
from rich.table import Table
from rich.text import Text


class Grid:
    """A subset of ``rich.table.Table``: see ``add_column`` and ``add_row``.

    ``boxed``: rich's default HEAVY_HEAD box, without edges; else no box at
    all (columns two spaces apart), as ``Table(box=None)``.
    """

    def __init__(self, title: str | None = None, title_style: str = "table.title",
                 boxed: bool = True):
        self.title, self.title_style, self.boxed = title, title_style, boxed
        self.columns: list[tuple[str, str, str, bool]] = []  # (header, justify, overflow, no_wrap)
        self.rows: list[tuple[list, str | None]] = []

    def __repr__(self) -> str:
        rows = [([(c.plain, str(c.style)) for c in cells], style) for cells, style in self.rows]
        return (f"Grid(title={self.title!r}, title_style={self.title_style!r}, "
                f"boxed={self.boxed}, columns={self.columns!r}, rows={rows!r})")

    def add_column(self, header: str, justify: str = "left", overflow: str = "ellipsis",
                   no_wrap: bool = False) -> None:
        """``overflow`` and ``no_wrap`` matter only where rich draws (a narrow console)."""
        self.columns.append((header, justify, overflow, no_wrap))

    def add_row(self, *cells, style: str | None = None) -> None:
        """Cells are ``str`` (plain text, never markup) or ``rich.text.Text``."""
        self.rows.append(([c if isinstance(c, Text) else Text(c) for c in cells], style))

    def as_table(self) -> Table:
        """The same table as rich's ``Table``."""
        table = Table(title=self.title, title_justify="left", title_style=self.title_style,
                      show_edge=False, pad_edge=False,
                      box=boxes.HEAVY_HEAD if self.boxed else None)
        for header, justify, overflow, no_wrap in self.columns:
            table.add_column(header, justify=justify, overflow=overflow, no_wrap=no_wrap)
        for cells, style in self.rows:
            table.add_row(*cells, style=style)
        return table

    def _widths(self) -> list[int] | None:
        """Each column's width, or None when a cell spans lines."""
        widths = [cell_len(column[0]) for column in self.columns]
        for cells, _ in self.rows:
            for i, cell in enumerate(cells):
                plain = cell.plain
                if "\n" in plain:
                    return None
                n = cell_len(plain)
                if n > widths[i]:
                    widths[i] = n
        return widths

    def __rich_console__(self, console: Console, options: ConsoleOptions):
        widths = self._widths()
        gap = 3 if self.boxed else 2
        if widths is None or not self.columns or 0 in widths:   # rich's own edge cases
            yield self.as_table()
            return
        total = sum(widths) + gap * (len(widths) - 1)
        if total > options.max_width:
            yield self.as_table()
            return
        if self.title:                       # as rich: wrapped to the table's width
            yield from console.render(Text(self.title, style=self.title_style),
                                      options.update(width=total, justify="left",
                                                     highlight=False, height=None))
        get_style = console.get_style
        header_style = get_style("table.header")
        heavy, light = boxes.HEAVY_HEAD.head_vertical, boxes.HEAVY_HEAD.mid_vertical
        yield from self._line(console, [Text(column[0]) for column in self.columns], widths,
                              header_style, heavy)
        if self.boxed:
            rule = boxes.HEAVY_HEAD.head_row_horizontal
            cross = boxes.HEAVY_HEAD.head_row_cross
            last = len(widths) - 1
            yield Segment(cross.join(rule * (w + (i > 0) + (i < last))
                                     for i, w in enumerate(widths)))
            yield Segment.line()
        for cells, style in self.rows:
            yield from self._line(console, cells, widths,
                                  get_style(style) if style else None, light)

    def _line(self, console, cells, widths, style, vertical):
        if not any(cell.style or cell.spans for cell in cells):
            yield from self._plain_line(cells, widths, style, vertical)
            return
        last = len(widths) - 1
        line = Text()
        styled = []                          # each cell's span, padding included
        for i, width in enumerate(widths):
            cell = cells[i] if i < len(cells) else Text()
            justify = self.columns[i][1]
            if justify != "left" and cell.plain != cell.plain.rstrip():
                cell = cell.copy()           # rich justifies right and centre without them
                cell.rstrip()
            pad = width - cell_len(cell.plain)
            before = _before(pad, justify)
            start = len(line)
            if pad:                          # justified within the cell, in its own style
                cell = cell.copy()
                cell.pad_left(before)
                cell.pad_right(pad - before)
            line.append(" " * (i > 0))
            line.append_text(cell)
            line.append(" " * (i < last))
            styled.append((start, len(line)))
            if i < last and self.boxed:
                line.append(vertical)
        if style:
            # The row's style under each cell's own; not on the box (as rich draws it).
            # (Text.render draws spans only, not a base style.)
            for start, end in styled:
                line.stylize_before(style, start, end)
        yield from line.render(console)
        yield Segment.line()

    def _plain_line(self, cells, widths, style, vertical):
        """A row of unstyled cells (most rows): strings joined, no Text per cell."""
        last = len(widths) - 1
        texts = []
        for i, width in enumerate(widths):
            plain = cells[i].plain if i < len(cells) else ""
            justify = self.columns[i][1]
            if justify != "left":
                plain = plain.rstrip()               # as Text.rstrip, which rich justifies after
            pad = width - cell_len(plain)
            before = _before(pad, justify)
            texts.append(f"{' ' * ((i > 0) + before)}{plain}{' ' * ((i < last) + pad - before)}")
        if style is None:
            yield Segment((vertical if self.boxed else "").join(texts))
        else:                                # the row's style on the cells, not on the box
            for i, text in enumerate(texts):
                if i and self.boxed:
                    yield Segment(vertical)
                yield Segment(text, style)
        yield Segment.line()


def _before(pad: int, justify: str) -> int:
    """How much of a cell's ``pad`` goes before its text (the rest after), as rich justifies."""
    return pad if justify == "right" else pad // 2 if justify == "center" else 0
