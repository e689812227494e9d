"""``corr run -o intervals.csv``: every interval of every rule, one row each.

The columns of :mod:`corr.render.intervals_table`: each captured field is a
column of its own (``fields.prev_comm``, ``fields.prev_state``), its value
as the trace gave it (a list or a structure as JSON); key parts likewise
(``key.seqno``); an absent value is an empty cell.  Cells are quoted as
CSV needs (commas, quotes, newlines in a thread's name stay in their cell).
"""

from __future__ import annotations

NAME = "csv"
DESCRIPTION = "CSV"
NEEDS_BLAME = False
FILE_ONLY = True


def write(result, destination, options) -> str:
    import csv

    from .intervals_table import COLUMNS, blocks, layout
    key_parts, field_names = layout(result)
    header = COLUMNS + [f"key.{p}" for p in key_parts] + [f"fields.{f}" for f in field_names]
    rows = 0
    with destination.text(newline="") as text:
        out = csv.writer(text)
        out.writerow(header)
        for _, columns in blocks(result, key_parts, field_names):
            columns["group"] = [_cell(v) for v in columns["group"]]
            for name in field_names:
                values = columns[f"fields.{name}"]
                if any(isinstance(v, (list, tuple, dict)) for v in values):
                    columns[f"fields.{name}"] = [_cell(v) for v in values]
            out.writerows(zip(*(columns[c] for c in header)))
            rows += len(columns["rule"])
    return f"{rows:,} intervals"


def _cell(value):
    """A list or a structure as JSON text (one cell); anything else as it is."""
    if isinstance(value, (list, tuple, dict)):
        import json
        return json.dumps(value)
    return value
