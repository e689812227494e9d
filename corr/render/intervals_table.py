"""The intervals of every rule as one table: CSV or Parquet.

One row per interval, every status included, with the rule's name; key
parts get a ``key.<part>`` column each.  Files are written to a temporary
name and renamed into place, so an error never leaves half a file.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile

COLUMNS = ["rule", "start_ns", "end_ns", "duration_ns", "status", "tid", "cpu", "comm",
           "exit_tid", "exit_cpu", "exit_comm", "group", "lossy"]


def rows(result):
    """Every interval of every rule as a flat dict."""
    key_parts = []
    for r in result.rules:
        for name in r.intervals.key_names:
            if name not in key_parts:
                key_parts.append(name)
    for r in result.rules:
        for i in range(len(r.intervals)):
            row = r.interval(i)
            key = row.pop("key")
            fields = row.pop("fields")
            out = {"rule": r.name}
            out.update({c: row[c] for c in COLUMNS[1:]})
            if isinstance(out["group"], list):
                out["group"] = json.dumps(out["group"])
            keys = key if isinstance(key, dict) else {r.intervals.key_names[0]: key}
            for part in key_parts:
                out[f"key.{part}"] = keys.get(part)
            out["fields"] = json.dumps(fields) if fields else None
            yield out


def atomic_write(path: str, write) -> None:
    """``write(tmp)`` a file beside ``path``, then rename it into place."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".corr-", dir=directory)
    os.close(fd)
    try:
        write(tmp)
        # mkstemp makes the file private; the output gets the usual mode.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_csv(result, path: str) -> int:
    table = list(rows(result))

    def write(tmp):
        with open(tmp, "w", newline="") as f:
            names = list(table[0]) if table else COLUMNS
            w = csv.DictWriter(f, fieldnames=names)
            w.writeheader()
            w.writerows(table)
    atomic_write(path, write)
    return len(table)


def write_parquet(result, path: str) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = list(rows(result))
    columns = list(table[0]) if table else COLUMNS
    data = {c: [row.get(c) for row in table] for c in columns}
    arrays = {}
    for c, values in data.items():
        try:
            arrays[c] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError):      # mixed types across rules
            arrays[c] = pa.array([None if v is None else str(v) for v in values])
    atomic_write(path, lambda tmp: pq.write_table(pa.table(arrays), tmp))
    return len(table)
