"""``corr run -o intervals.parquet``: every interval of every rule, typed.

The table of :mod:`corr.engine.interval_arrow` (``RunResult.intervals`` is the same),
the columns of :mod:`corr.engine.interval_columns` with their types: times,
durations and thread ids int64, names strings, ``lossy`` bool, each key
part as its values are (int64 for a tid, string for a name), and one
struct column ``fields`` with a child per captured field, typed by its
values (``fields.prev_state`` int64, ``fields.prev_comm`` string); a rule
without a field has a null there.  A column whose values differ in type
from rule to rule (a field that one rule captures as a number, another
as a string) is a string column.  Written a row group per block of rows,
so the table is never in memory whole.
"""

from __future__ import annotations

NAME = "parquet"
DESCRIPTION = "Parquet"
NEEDS_BLAME = False
FILE_ONLY = True

def write(result, destination, options) -> str:
    import pyarrow.parquet as pq

    from ..engine.interval_arrow import arrow_tables
    schema, tables = arrow_tables(result.rules)
    rows = 0
    with pq.ParquetWriter(destination.binary, schema) as out:
        for table in tables:
            out.write_table(table)
            rows += table.num_rows
        if not rows:
            out.write_table(schema.empty_table())
    return f"{rows:,} intervals"
