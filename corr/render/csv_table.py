"""``corr run -o intervals.csv``: every interval of every rule, one row each.

The columns of :mod:`corr.engine.interval_columns`: each captured field is a
column of its own (``fields.prev_comm``, ``fields.prev_state``), its value
as the trace gave it (a list or a structure as JSON); key parts likewise
(``key.seqno``); an absent value is an empty cell.  Cells are quoted as
CSV needs (commas, quotes, newlines in a thread's name stay in their cell).

Text from a trace cannot run in a spreadsheet: a text cell that starts with
``=``, ``+``, ``-``, ``@``, a tab or a carriage return (a thread named
``=cmd|' /C calc'!A0``) is written with a ``'`` in front, as OWASP
recommends (``'=cmd|' /C calc'!A0``); numbers, negative ones too, are
written as numbers (:func:`corr.render.escape.csv_cell`).
"""

from __future__ import annotations

NAME = "csv"
DESCRIPTION = "CSV"
NEEDS_BLAME = False
FILE_ONLY = True

TEXT_COLUMNS = ("comm", "exit_comm")    # from the trace; rule and status are corr's


def write(result, destination, options) -> str:
    import csv

    from .escape import csv_cell
    from ..text import group_label
    from ..engine.interval_columns import COLUMNS, blocks, layout
    key_parts, field_names = layout(result)
    header = COLUMNS + [f"key.{p}" for p in key_parts] + [f"fields.{f}" for f in field_names]
    rows = 0
    with destination.text(newline="") as text:
        out = csv.writer(text)
        out.writerow(header)
        for _, columns in blocks(result, key_parts, field_names):
            for name in TEXT_COLUMNS:
                columns[name] = [csv_cell(v) for v in columns[name]]
            columns["group"] = [csv_cell(group_label(v) if isinstance(v, (list, tuple)) else v)
                                for v in columns["group"]]
            for name in [f"key.{p}" for p in key_parts] + [f"fields.{f}" for f in field_names]:
                values = columns[name]
                if any(type(v) is not int and v is not None for v in values):
                    columns[name] = [csv_cell(_cell(v)) for v in values]
            out.writerows(zip(*(columns[c] for c in header)))
            rows += len(columns["rule"])
    return f"{rows:,} intervals"


def _cell(value):
    """A list or a structure as JSON text (one cell); anything else as it is."""
    if isinstance(value, (list, tuple, dict)):
        import json
        return json.dumps(value)
    return value
