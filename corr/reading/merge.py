"""Merging the time-ordered batches of several traces into one stream.

Each trace's batches are already in time order.  We emit, at each step,
every buffered event up to the *watermark* (the smallest "last timestamp"
among the traces still running): nothing later can come before it.  The
merge of those prefixes is one stable numpy argsort, and per-class columns
are only sliced, never copied value by value.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from collections.abc import Iterator


from ..errors import TraceDecodeError
from .batch import ClassColumns, EventBatch


class _Pending:
    """The not-yet-emitted rest of one trace's current batch."""

    def __init__(self, batches: Iterator[EventBatch]):
        self.batches = batches
        self.batch: EventBatch | None = None
        self.done = False
        self.error: TraceDecodeError | None = None

    def fill(self, discards: list) -> None:
        while not self.done and (self.batch is None or not self.batch.ts):
            try:
                nxt = next(self.batches)
            except StopIteration:
                self.done = True
                self.batch = None
                return
            except TraceDecodeError as exc:
                # Keep merging the other traces; report this one at the end.
                self.done, self.batch, self.error = True, None, exc
                return
            discards.extend(nxt.discards)
            nxt.discards = []
            self.batch = nxt if nxt.ts else None

    def take_until(self, watermark: int | None) -> EventBatch | None:
        """Split off the events at or before ``watermark`` (all if None)."""
        batch = self.batch
        if batch is None:
            return None
        cut = len(batch.ts) if watermark is None else bisect_right(batch.ts, watermark)
        if cut == 0:
            return None
        if cut == len(batch.ts):
            self.batch = None
            return batch
        counts = Counter(batch.class_ids[:cut])
        head = EventBatch(ts=batch.ts[:cut], class_ids=batch.class_ids[:cut])
        rest_classes: dict[int, ClassColumns] = {}
        for cid, cols in batch.classes.items():
            n = counts.get(cid, 0)
            if n:
                head.classes[cid] = cols.slice(0, n)
            if n < len(cols):
                rest_classes[cid] = cols.slice(n, len(cols))
        self.batch = EventBatch(ts=batch.ts[cut:], class_ids=batch.class_ids[cut:],
                                classes=rest_classes)
        return head


def combine(parts: list[EventBatch]) -> EventBatch:
    """One time-ordered batch from several (classes never shared between parts)."""
    parts = [p for p in parts if p is not None]
    if len(parts) == 1:
        return parts[0]
    import numpy as np    # only when several traces are merged
    ts = np.concatenate([np.asarray(p.ts, dtype=np.int64) for p in parts])
    cids = np.concatenate([np.asarray(p.class_ids, dtype=np.int64) for p in parts])
    order = np.argsort(ts, kind="stable")
    out = EventBatch(ts=ts[order].tolist(), class_ids=cids[order].tolist())
    for p in parts:
        out.classes.update(p.classes)
    return out


def merge(streams: list[Iterator[EventBatch]]) -> Iterator[EventBatch]:
    """Merge several time-ordered batch streams into one."""
    if len(streams) == 1:
        yield from streams[0]
        return
    pending = [_Pending(s) for s in streams]
    while True:
        discards: list = []
        for p in pending:
            p.fill(discards)
        live = [p for p in pending if p.batch is not None]
        if not live:
            if discards:
                yield EventBatch(discards=discards)
            errors = [p.error for p in pending if p.error is not None]
            if errors:
                raise errors[0]
            return
        # Every live trace has buffered events; a later event of any of them
        # comes after its buffer's last one, so nothing can precede this.
        watermark = min(p.batch.ts[-1] for p in live)
        parts = [x for x in (p.take_until(watermark) for p in live) if x is not None]
        out = combine(parts)
        out.discards = discards
        yield out
