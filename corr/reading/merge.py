"""Merging time-ordered batch streams into one: several traces, or one trace's worker groups.

Each stream's batches are already in time order.  We emit, at each step,
every buffered event up to the *watermark* (the smallest "last timestamp"
among the streams still running): nothing later can come before it.  The
merge of those prefixes is one stable numpy argsort.

Traces (:func:`merge`) never share a class, so per-class columns are only
sliced, never copied value by value; at equal timestamps the earlier trace
(in ``streams`` order) comes first, within one step.

A trace's worker groups (:func:`merge_groups`, see :mod:`parallel`) share
classes, so each class's rows are gathered into time order; and at equal
timestamps events come out as babeltrace2's muxer orders them: by stream
class id, then stream id (``common_muxing_compare_messages``), each
stream's own events in their order.  A worker's events at the watermark
wait until every event of that timestamp is buffered.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from collections.abc import Iterator


from ..errors import TraceDecodeError
from .batch import ClassColumns, EventBatch, IntColumn, Interned, interned


class _Pending:
    """The not-yet-emitted rest of one trace's stream: the batches read and not all taken."""

    def __init__(self, batches: Iterator[EventBatch]):
        self.batches = batches
        self.held: list[EventBatch] = []
        self.done = False               # the trace sent its last batch (or stopped)
        self.error: TraceDecodeError | None = None

    @property
    def live(self) -> bool:
        return bool(self.held)

    def _read(self, discards: list) -> None:
        """Hold the trace's next batch with events, its discards queued on the way."""
        while not self.done:
            try:
                nxt = next(self.batches)
            except StopIteration:
                self.done = True
                return
            except TraceDecodeError as exc:
                # Keep merging the other traces; report this one at the end.
                self.done, self.error = True, exc
                return
            discards.extend(nxt.discards)
            nxt.discards = []
            if nxt.ts:
                self.held.append(nxt)
                return

    def fill(self, discards: list) -> None:
        if not self.held:
            self._read(discards)

    def extend(self, discards: list) -> None:
        """Read one more batch (events at the watermark may go on in it)."""
        self._read(discards)

    def last_ts(self) -> int:
        return self.held[-1].ts[-1]

    def take_until(self, bound: int | None) -> EventBatch | None:
        """Split off the held events at or before ``bound`` (all if None), as one batch."""
        pieces = []
        while self.held:
            batch = self.held[0]
            cut = len(batch.ts) if bound is None else bisect_right(batch.ts, bound)
            if cut < len(batch.ts):
                if cut:
                    pieces.append(_head(batch, cut))
                    self.held[0] = drop_events(batch, cut)
                break
            pieces.append(self.held.pop(0))
        return _end_to_end(pieces)


def _head(batch: EventBatch, n: int) -> EventBatch:
    """``batch``'s first ``n`` events."""
    counts = Counter(batch.class_ids[:n])
    return EventBatch(ts=batch.ts[:n], class_ids=batch.class_ids[:n],
                      classes={cid: cols.slice(0, counts[cid]) for cid, cols in batch.classes.items()
                               if counts.get(cid, 0)})


def _end_to_end(pieces: list[EventBatch]) -> EventBatch | None:
    """One trace's consecutive batches as one (its classes' columns joined)."""
    if len(pieces) <= 1:
        return pieces[0] if pieces else None
    out = EventBatch(ts=[t for p in pieces for t in p.ts],
                     class_ids=[c for p in pieces for c in p.class_ids])
    for piece in pieces:
        for cid, cols in piece.classes.items():
            into = out.classes.get(cid)
            if into is None:
                into = out.classes[cid] = cols.fresh()
            into.extend(cols)
    return out


def drop_events(batch: EventBatch, n: int) -> EventBatch:
    """``batch`` without its first ``n`` events (its discards kept)."""
    counts = Counter(batch.class_ids[:n])
    classes = {cid: cols.slice(counts.get(cid, 0), len(cols)) for cid, cols in batch.classes.items()
               if counts.get(cid, 0) < len(cols)}
    return EventBatch(ts=batch.ts[n:], class_ids=batch.class_ids[n:], classes=classes,
                      discards=batch.discards)


def combine(parts: list[EventBatch]) -> EventBatch:
    """One time-ordered batch from several (classes never shared between parts)."""
    parts = [p for p in parts if p is not None]
    if len(parts) == 1:
        return parts[0]
    import numpy as np    # only when several traces are merged
    ts = np.concatenate([np.asarray(p.ts, dtype=np.int64) for p in parts])
    cids = np.concatenate([np.asarray(p.class_ids, dtype=np.int64) for p in parts])
    order = np.argsort(ts, kind="stable")
    out = EventBatch(ts=IntColumn.of(ts[order]), class_ids=IntColumn.of(cids[order]))
    for p in parts:
        out.classes.update(p.classes)
    return out


def merge(streams: list[Iterator[EventBatch]]) -> Iterator[EventBatch]:
    """Merge several time-ordered batch streams into one."""
    if len(streams) == 1:
        yield from streams[0]
        return
    pending = [_Pending(s) for s in streams]
    discards: list = []
    while True:
        for p in pending:
            p.fill(discards)
        live = [p for p in pending if p.live]
        if not live:
            if discards:
                yield EventBatch(discards=discards)
            errors = [p.error for p in pending if p.error is not None]
            if errors:
                raise errors[0]
            return
        # Every live trace has buffered events; a later event of any of them
        # comes at or after its buffer's last one, so nothing can precede the
        # smallest of those.  A trace whose buffer ends there may go on at that
        # very timestamp in its next batch: those events wait, so that at equal
        # timestamps the earlier trace comes first however batches are cut.
        watermark = min(p.last_ts() for p in live)
        at_mark = [p for p in live if p.last_ts() == watermark]
        bound = watermark if all(p.done for p in at_mark) else watermark - 1
        parts = [x for x in (p.take_until(bound) for p in live) if x is not None]
        if not parts:
            waiting = [p for p in at_mark if not p.done]
            if waiting:
                for p in waiting:
                    p.extend(discards)
                continue
            # No event at or before the watermark by bisection: a batch's timestamps
            # are out of order (a damaged trace).  Its whole buffer goes (combine sorts).
            parts = [p.take_until(None) for p in at_mark]
        out = combine(parts)
        out.discards, discards = discards, []
        yield out


# -- one trace's worker groups -----------------------------------------------------------

class Part:
    """One worker batch as the parent holds it: numpy event columns, class columns.

    ``ts``, ``cids`` (the parent's class ids) and ``tags`` (stream tags)
    are numpy arrays; ``stream_keys[tag]`` is a stream's muxing key
    ``(stream class id, stream id)``; ``classes[cid]`` is ``[info, cpu,
    fields]`` with numpy arrays for integer columns and lists otherwise;
    ``discards`` holds ``(muxing ts, stream key, Discard)``.
    """

    __slots__ = ("ts", "cids", "tags", "stream_keys", "classes", "discards")

    def __init__(self, ts, cids, tags, stream_keys, classes, discards):
        self.ts, self.cids, self.tags = ts, cids, tags
        self.stream_keys = stream_keys
        self.classes = classes
        self.discards = discards


class _Slice:
    """Events ``[start, stop)`` of a Part, with each class's matching rows."""

    __slots__ = ("ts", "cids", "tags", "stream_keys", "classes")

    def __init__(self, ts, cids, tags, stream_keys, classes):
        self.ts, self.cids, self.tags = ts, cids, tags
        self.stream_keys = stream_keys
        self.classes = classes          # cid -> (info, cpu, {name: column})


class _Held:
    """A Part with how much of it was taken: events up to ``pos``, ``rows`` of each class."""

    __slots__ = ("part", "pos", "rows")

    def __init__(self, part: Part):
        self.part, self.pos = part, 0
        self.rows = dict.fromkeys(part.classes, 0)

    def take_until(self, bound: int) -> _Slice | None:
        """Split off the events at or before ``bound``."""
        import numpy as np
        part, start = self.part, self.pos
        stop = int(np.searchsorted(part.ts, bound, side="right"))
        if stop <= start:
            return None
        cids = part.cids[start:stop]
        counts = np.bincount(cids)
        classes = {}
        for cid in np.flatnonzero(counts).tolist():
            info, cpu, fields = part.classes[cid]
            a = self.rows[cid]
            b = self.rows[cid] = a + int(counts[cid])
            classes[cid] = (info, cpu[a:b], {k: v[a:b] for k, v in fields.items()})
        self.pos = stop
        return _Slice(part.ts[start:stop], cids, part.tags[start:stop], part.stream_keys, classes)


class _GroupPending:
    """The not-yet-emitted rest of one worker's stream: the Parts read and not all taken."""

    def __init__(self, parts: Iterator[Part], index: int):
        self.parts = parts
        self.index = index
        self.held: list[_Held] = []
        self.done = False               # the worker sent its last Part
        self.discards: list = []        # (muxing ts, stream key, group, seq, Discard)
        self._seq = 0

    @property
    def live(self) -> bool:
        return bool(self.held)

    def _read(self) -> bool:
        """Hold the worker's next Part with events (queuing discards on the way); False: none."""
        for part in self.parts:
            for ts, key, d in part.discards:
                self.discards.append((ts, key, self.index, self._seq, d))
                self._seq += 1
            if len(part.ts):
                self.held.append(_Held(part))
                return True
        self.done = True
        return False

    def fill(self) -> None:
        if not self.held and not self.done:
            self._read()

    def extend(self) -> None:
        """Read one more Part (events at the watermark may go on in it)."""
        if not self.done:
            self._read()

    def last_ts(self) -> int:
        return int(self.held[-1].part.ts[-1])

    def take_until(self, bound: int) -> list[_Slice]:
        """Slices of the held Parts' events at or before ``bound``, in order."""
        out = []
        for held in self.held:
            piece = held.take_until(bound)
            if piece is None:
                break
            out.append(piece)
        self.held = [h for h in self.held if h.pos < len(h.part.ts)]
        return out

    def due_discards(self, bound: int | None) -> list:
        """The queued discards the muxer sends by ``bound`` (None: all)."""
        if bound is None:
            due, self.discards = self.discards, []
            return due
        due = [d for d in self.discards if d[0] is None or d[0] <= bound]
        if due:
            self.discards = [d for d in self.discards if not (d[0] is None or d[0] <= bound)]
        return due


def merge_groups(streams: list[Iterator[Part]]) -> Iterator[EventBatch]:
    """Merge one trace's worker streams into the stream its serial decode gives.

    The watermark is the smallest "last timestamp" of the workers' buffers;
    a worker whose buffer ends there may still send events at that very
    timestamp (batches are cut by size), so events at the watermark wait
    for its next Part unless it has no more.
    """
    pending = [_GroupPending(s, i) for i, s in enumerate(streams)]
    while True:
        for p in pending:
            p.fill()
        live = [p for p in pending if p.live]
        if not live:
            break
        watermark = min(p.last_ts() for p in live)
        at_mark = [p for p in live if p.last_ts() == watermark]
        bound = watermark if all(p.done for p in at_mark) else watermark - 1
        slices = [x for p in live for x in p.take_until(bound)]
        if not slices:
            for p in at_mark:
                p.extend()
            continue
        out = combine_slices(slices)
        out.discards = _ordered_discards(pending, bound)
        yield out
    rest = _ordered_discards(pending, None)
    if rest:
        yield EventBatch(discards=rest)


def _ordered_discards(pending: list[_GroupPending], bound: int | None) -> list:
    due = [d for p in pending for d in p.due_discards(bound)]
    due.sort(key=lambda d: (-(1 << 63) if d[0] is None else d[0], d[1], d[2], d[3]))
    return [d[4] for d in due]


def combine_slices(slices: list[_Slice]) -> EventBatch:
    """One batch of lists (integer columns as IntColumns) from slices of several workers,
    in muxing order."""
    import numpy as np
    if len(slices) == 1:
        s = slices[0]
        return EventBatch(ts=IntColumn.of(s.ts), class_ids=IntColumn.of(s.cids),
                          classes={cid: _columns(info, [cpu], [fields])
                                   for cid, (info, cpu, fields) in s.classes.items()})
    ts = np.concatenate([s.ts for s in slices])
    order = np.argsort(ts, kind="stable")
    order = _muxer_ties(ts, order, slices)
    cids = np.concatenate([s.cids for s in slices])
    out = EventBatch(ts=IntColumn.of(ts[order]), class_ids=IntColumn.of(cids[order]))
    rank = _rank_in_class(cids)
    merged = cids[order]
    by_class = np.argsort(_small(merged), kind="stable")
    grouped = merged[by_class]
    bounds = np.flatnonzero(grouped[1:] != grouped[:-1]) + 1
    for a, b in zip([0, *bounds.tolist()], [*bounds.tolist(), len(grouped)]):
        cid = int(grouped[a])
        holders = [s.classes[cid] for s in slices if cid in s.classes]
        info = holders[0][0]
        if len(holders) == 1:
            out.classes[cid] = _columns(info, [holders[0][1]], [holders[0][2]])
            continue
        gather = rank[order[by_class[a:b]]]
        out.classes[cid] = _columns(info, [h[1] for h in holders], [h[2] for h in holders],
                                    None if _is_identity(gather) else gather)
    return out


def _muxer_ties(ts, order, slices):
    """``order`` with equal timestamps of different slices ordered as the muxer does."""
    import numpy as np
    sorted_ts = ts[order]
    same = sorted_ts[1:] == sorted_ts[:-1]
    if not same.any():
        return order
    lengths = [len(s.ts) for s in slices]
    source = np.repeat(np.arange(len(slices)), lengths)[order]
    crossing = np.flatnonzero(same & (source[1:] != source[:-1]))
    if not len(crossing):
        return order
    tags = np.concatenate([s.tags for s in slices])
    firsts = np.cumsum([0, *lengths])
    order = order.copy()
    done_until = -1
    for i in crossing.tolist():
        if i < done_until:
            continue
        start = int(np.searchsorted(sorted_ts, sorted_ts[i], side="left"))
        stop = int(np.searchsorted(sorted_ts, sorted_ts[i], side="right"))
        run = order[start:stop].tolist()
        keys = {}
        for e in run:
            s = int(np.searchsorted(firsts, e, side="right")) - 1
            keys[e] = (slices[s].stream_keys[int(tags[e])], e)
        order[start:stop] = sorted(run, key=keys.__getitem__)
        done_until = stop
    return order


def _small(ids):
    """Class ids in the narrowest dtype: numpy sorts 16-bit keys by radix."""
    import numpy as np
    if len(ids) and int(ids.max()) < (1 << 15):
        return ids.astype(np.int16)
    return ids


def _rank_in_class(cids):
    """For each event, its row in its class's columns (the slices' rows concatenated)."""
    import numpy as np
    by_class = np.argsort(_small(cids), kind="stable")
    grouped = cids[by_class]
    starts = np.flatnonzero(np.concatenate(([True], grouped[1:] != grouped[:-1])))
    lengths = np.diff(np.append(starts, len(grouped)))
    rank = np.empty(len(cids), dtype=np.int64)
    rank[by_class] = np.arange(len(cids)) - np.repeat(starts, lengths)
    return rank


def _is_identity(gather) -> bool:
    import numpy as np
    return bool((gather == np.arange(len(gather))).all())


def _columns(info, cpus: list, fields: list[dict], gather=None) -> ClassColumns:
    """A ClassColumns of lists from the slices' columns, rows gathered into time order."""
    out = ClassColumns.__new__(ClassColumns)
    out.info = info
    out.cpu = _column(cpus, gather)
    out.fields = {name: _column([f[name] for f in fields], gather) for name in fields[0]}
    return out


def _joined(pieces: list):
    """Column pieces end to end: one numpy array if they all are (of one dtype), else a list."""
    import numpy as np
    first = pieces[0]
    if len(pieces) == 1:
        return first                    # a list piece is a slice: already a copy
    if isinstance(first, np.ndarray) and all(
            isinstance(p, np.ndarray) and p.dtype == first.dtype for p in pieces):
        return np.concatenate(pieces)
    joined = []
    for p in pieces:
        joined.extend(p.tolist() if isinstance(p, np.ndarray) else p)
    return joined


def _column(pieces: list, gather) -> list:
    """One list from numpy or list pieces, in ``gather`` order (None: as concatenated);
    from numpy integers an :class:`IntColumn`, which keeps the array; from
    :class:`Interned` pieces an :class:`InternedColumn`."""
    if all(isinstance(p, Interned) for p in pieces):
        return interned(pieces, gather)
    pieces = [interned([p]) if isinstance(p, Interned) else p for p in pieces]  # as lists
    joined = _joined(pieces)
    if isinstance(joined, list):
        return joined if gather is None else list(map(joined.__getitem__, gather.tolist()))
    array = joined if gather is None else joined[gather]
    return IntColumn.of(array) if array.dtype.kind == "i" else array.tolist()

