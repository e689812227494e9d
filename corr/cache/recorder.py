"""Writing a canonical batch stream to an entry's temporary Arrow IPC files.

The order of events (timestamp, class) goes to one file, each class's
columns (``@cpu`` and its fields) to its own; a class's rows are buffered
and written 64k at a time, so memory stays bounded on large traces (a pass
over a 20M-event kernel trace held 43 MB less than at 256k).
"""

from __future__ import annotations

import os

import pyarrow as pa

from ..reading.batch import int64_array
from .columns import NotCacheable, to_arrow, unify

ORDER_SCHEMA = pa.schema([("ts", pa.int64()), ("cid", pa.int32())])
CPU = "@cpu"
SPILL_ROWS = 1 << 16


class _ClassSink:
    """One class's columns, buffered then written to a temporary IPC file."""

    def __init__(self, entry, info):
        self.entry, self.info = entry, info
        self.names = [CPU, *info.field_names]
        self.pieces: dict[str, list] = {name: [] for name in self.names}
        self.buffered = self.rows = 0
        self.path = self.writer = self.schema = None

    def add(self, cols) -> None:
        self.pieces[CPU].append(to_arrow(cols.cpu))
        for name in self.names[1:]:
            values = cols.fields.get(name)
            if values is None:
                raise NotCacheable(f"{self.info.name}: no {name} column in a batch")
            self.pieces[name].append(to_arrow(values))
        self.buffered += len(cols)
        self.rows += len(cols)
        if self.buffered >= SPILL_ROWS:
            self.flush()

    def flush(self) -> None:
        arrays = [unify(self.pieces[name]) for name in self.names]
        if self.writer is None:
            self.path = self.entry.temp()
            self.schema = pa.schema([(name, a.type) for name, a in zip(self.names, arrays)])
            self.writer = pa.ipc.new_file(self.path, self.schema)
        else:
            arrays = [_as_type(a, field.type) for a, field in zip(arrays, self.schema)]
        self.writer.write_batch(pa.record_batch(arrays, schema=self.schema))
        self.pieces = {name: [] for name in self.names}
        self.buffered = 0

    def close(self) -> None:
        if self.buffered or self.writer is None:
            self.flush()
        self.writer.close()


def _as_type(array, target):
    if array.type == target:
        return array
    if pa.types.is_null(array.type):
        return pa.nulls(len(array), target)
    try:
        return array.cast(target)
    except pa.ArrowException:
        raise NotCacheable(f"a column changed type from {target} to {array.type}") from None


class Recorder:
    """Temporary files of one decode; ``finish`` names what they hold."""

    def __init__(self, entry):
        self.entry = entry
        self.order_path = entry.temp()
        self.order = pa.ipc.new_file(self.order_path, ORDER_SCHEMA)
        self.sinks: dict[int, _ClassSink] = {}
        self.discards: list = []
        self.events = 0

    def add(self, batch) -> None:
        self.discards.extend(batch.discards)
        if not batch.ts:
            return
        self.order.write_batch(pa.record_batch(
            [pa.array(int64_array(batch.ts)), pa.array(int64_array(batch.class_ids), pa.int32())],
            schema=ORDER_SCHEMA))
        self.events += len(batch.ts)
        for cid, cols in batch.classes.items():
            sink = self.sinks.get(cid)
            if sink is None:
                sink = self.sinks[cid] = _ClassSink(self.entry, cols.info)
            sink.add(cols)

    def size(self) -> int:
        """Bytes written to the files so far (what is still buffered not counted)."""
        total = 0
        for path in [self.order_path, *(s.path for s in self.sinks.values())]:
            if path is not None:
                try:
                    total += os.stat(path).st_size
                except OSError:
                    pass
        return total

    def finish(self) -> tuple[list[dict], dict[int, str]]:
        """Close the files: the classes (manifest form, keyed by this decode's
        class ids) and ``{class id: temporary path}``."""
        self.order.close()
        classes, paths = [], {}
        for cid, sink in sorted(self.sinks.items()):
            sink.close()
            info = sink.info
            classes.append({"id": cid, "name": info.name, "trace": info.trace,
                            "raw_name": info.raw_name, "rows": sink.rows,
                            "fields": [[f.name, f.type] for f in info.fields]})
            paths[cid] = sink.path
        return classes, paths

    def abort(self) -> None:
        for writer in [self.order, *(s.writer for s in self.sinks.values())]:
            try:
                if writer is not None:
                    writer.close()
            except Exception:                  # already closed, or half-written: going anyway
                pass
        for path in [self.order_path, *(s.path for s in self.sinks.values())]:
            if path is not None:
                try:
                    os.unlink(path)
                except OSError:
                    pass
