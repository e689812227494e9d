"""Canonical batches read back from an entry: only the classes and columns a run needs.

Every file the run reads is checked (length, CRC-32, then its columns,
rows and class ids against the manifest: :mod:`.shape`) before the first
batch is given out: a corrupt or ill-fitting entry is found while the run
can still decode instead, never half-way through.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ..reading.batch import ClassColumns, Discard, EventBatch, FieldInfo
from ..reading.projection import ALL
from ..reading.sink_common import ClassRegistry
from . import shape
from .columns import numpy_of, to_list
from .recorder import CPU, ORDER_SCHEMA

REPLAY_BATCH = 1 << 16


def selected_fields(cached: dict, projection) -> list[str] | None:
    """The cached fields of a class a projection wants, in their order; None: not wanted."""
    wanted = projection.fields_for(cached["name"])
    if wanted is None:
        return None
    return [name for name, _ in cached["fields"] if wanted == ALL or name in wanted]


class Replay:
    """The events of ``projection`` from a checked entry, as the normaliser gave them."""

    def __init__(self, entry, manifest: dict, projection):
        self.registry = ClassRegistry()
        self.discards = [Discard(*d) for d in manifest["discards"]]
        chosen = []
        for cached in manifest["classes"]:
            names = selected_fields(cached, projection)
            if names is None:
                continue
            types = dict(map(tuple, cached["fields"]))
            info = self.registry.add(cached["name"], cached["trace"],
                                     [FieldInfo(n, types[n]) for n in names])
            info.raw_name = cached["raw_name"]
            table = entry.read_table(manifest, cached["file"])
            shape.check_columns(table, cached["file"], {
                CPU: (pa.int64(), pa.uint64()), **shape.field_types(cached["fields"])})
            shape.need(table.num_rows == cached["rows"], f"{cached['file']}: rows differ")
            chosen.append((cached["id"], info, table.select([CPU, *names]).combine_chunks()))
        order = entry.read_table(manifest, manifest["order"])
        shape.need(order.schema.equals(ORDER_SCHEMA), f"{manifest['order']}: other columns")
        for column in order.columns:
            shape.no_nulls(column, manifest["order"])
        ts, cids = numpy_of(order.column("ts")), numpy_of(order.column("cid"))
        rows = np.zeros(max((c["id"] for c in manifest["classes"]), default=0) + 1, np.int64)
        for cached in manifest["classes"]:
            rows[cached["id"]] = cached["rows"]
        # Every event of a class the manifest lists, as many as its file's rows, in time
        # order: what the batches below index by.
        shape.need(not len(cids) or (int(cids.min()) >= 0 and int(cids.max()) < len(rows)),
                   "events of classes not listed")
        shape.need(np.array_equal(np.bincount(cids, minlength=len(rows)), rows),
                   "events and class rows differ")
        shape.need(bool(np.all(ts[1:] >= ts[:-1])), "events out of time order")
        lut = np.full(len(rows), -1, np.int32)
        for cached_id, info, _ in chosen:
            lut[cached_id] = info.id
        cids = lut[cids]
        keep = cids >= 0
        self.ts = ts[keep]
        self.cids = cids[keep]
        self.tables = [table for _, _, table in chosen]

    def batches(self):
        yield EventBatch(discards=list(self.discards))
        infos = self.registry.classes
        next_row = [0] * len(infos)
        for start in range(0, len(self.ts), REPLAY_BATCH):
            cids = self.cids[start:start + REPLAY_BATCH]
            batch = EventBatch(ts=self.ts[start:start + REPLAY_BATCH].tolist(), class_ids=cids.tolist())
            counts = np.bincount(cids, minlength=len(infos))
            for cid in np.flatnonzero(counts).tolist():
                a = next_row[cid]
                b = next_row[cid] = a + int(counts[cid])
                part = self.tables[cid].slice(a, b - a)
                cols = ClassColumns.__new__(ClassColumns)
                cols.info = infos[cid]
                cols.cpu = to_list(part.column(0))
                cols.fields = {name: to_list(part.column(i + 1))
                               for i, name in enumerate(infos[cid].field_names)}
                batch.classes[cid] = cols
            yield batch
