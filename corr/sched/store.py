"""Every thread's timeline at once, as columns (built by ``_native.c``).

The reference state machine (``SchedModel._build_timeline``) walks one
thread's events in Python when asked; on a large trace with hundreds of
thousands of intervals to explain, every thread gets asked.  Here the
state-changing events of a bucket of threads (``CORR_MODEL_EVENTS`` events
at most, unless one thread has more) go into one table sorted by (tid,
seq), the C state machine runs over it, and the sleeps' wakeups get the
sources the log found for them as the pass went (``sources.py``).  A log
that spilled to disk gets a store on disk, mapped (``corr.spill``).

Columns: ``tids`` (sorted) and ``off`` index the segments of each thread
(``off[i]:off[i+1]``, in the *by-thread order*); per segment ``start``,
``end``, ``state``, ``cpu`` (``NO_CPU`` for none), ``src_kind``/``src_id``
(what woke a sleep; ``-1``: never woken) and ``reason``.

A store on disk is laid out by time: the by-thread order is cut into
blocks of ``BLOCK`` segments, and the blocks are written in the order of
their first segment's start (``bpos``: where each block's records are;
``bfirst``: that start, kept in memory for the binary searches).  The
explanations walk the intervals in time order, so what they read of the
store at any moment is a few neighbouring stretches of the file, and the
pages behind are handed back as they go: laid out by thread, every
thread's part of the file was read again and again, and all of it stayed
resident.  A store in memory keeps the by-thread order (``bpos`` None).
"""

from __future__ import annotations

import os

import numpy as np

from ..spill import MappedColumns, SpillFile, kept_in_memory
from .events import WAKEUP, WAKEUP_NEW
from .log import SchedLog
from .sources import SRC_HRTIMER, SRC_IRQ, SRC_NONE, SRC_SOFTIRQ, SRC_THREAD, SRC_UNKNOWN  # noqa: F401

try:
    from . import _native
except ImportError:            # not built: the Python reference serves
    _native = None

NO_CPU = np.iinfo(np.int64).min
OPEN_END = 2 ** 62
# Event codes, in the order the reference's tuple sort puts same-seq events.
E_EXIT, E_FORK, E_IN, E_NEW, E_OUT, E_WAKE, E_WAKEUP = range(7)
STATE_NAMES = ("running", "runnable", "blocked", "exited", "unknown")
REASON_NAMES = (None, "preempted", "woken", "new")
MODEL_EVENTS_ENV = "CORR_MODEL_EVENTS"
DEFAULT_MODEL_EVENTS = 1 << 19
BLOCK_ENV = "CORR_STORE_BLOCK"
DEFAULT_BLOCK_SHIFT = 6   # 64 segments a block of a store laid out by time


def block_shift() -> int:
    """log2 of the segments in a block (``CORR_STORE_BLOCK``, a power of two: tests
    force blocks of a few segments with it)."""
    try:
        n = int(os.environ.get(BLOCK_ENV, ""))
    except ValueError:
        return DEFAULT_BLOCK_SHIFT
    return min(max(n, 1).bit_length() - 1, 20)


def available() -> bool:
    """Whether the C model was built and not switched off (see corr.accelerators)."""
    from ..accelerators import enabled
    return _native is not None and enabled("sched")


def model_events() -> int:
    """State-changing events the model's build sorts at once (``CORR_MODEL_EVENTS``;
    tests force a tiny budget with it): threads are taken in buckets of about
    that many events (a thread with more is a bucket of its own)."""
    try:
        return max(1, int(os.environ.get(MODEL_EVENTS_ENV, "")))
    except ValueError:
        return DEFAULT_MODEL_EVENTS


# The events that change a thread's state, each under the thread it changes:
# (name, table of the log, that thread's column, the columns the model reads).
_SOURCES = (("out", "switch", "prev_tid", ("ts", "seq", "cpu", "prev_tid", "prev_state")),
            ("in", "switch", "next_tid", ("ts", "seq", "cpu", "next_tid")),
            ("wakeup", "wakeup", "tid",
             ("ts", "seq", "tid", "target_cpu", "kind", "src_kind", "src_id")),
            ("fork", "fork", "child_tid", ("ts", "seq", "child_tid")),
            ("exit", "exit", "tid", ("ts", "seq", "tid")))


# The store's layout: a record per segment and per switch, what the C walk reads of
# one together (one page read brings all of it: a walk by time reads a little of
# every thread), the columns being the records' fields, read in place.
SEGMENT = np.dtype([("start", "<i8"), ("end", "<i8"), ("cpu", "<i8"), ("src_id", "<i8"),
                    ("state", "i1"), ("src_kind", "i1"), ("reason", "i1"), ("_pad", "V5")])
# _native.timelines writes SEGMENT records at these places (its SEG_* offsets).
if ([SEGMENT.fields[f][1] for f in ("start", "end", "cpu", "src_id", "state", "src_kind",
                                    "reason")] != [0, 8, 16, 24, 32, 33, 34]
        or SEGMENT.itemsize != 40):
    raise ImportError("store.SEGMENT no longer has the layout _native.c's timelines writes")
SWITCH = np.dtype([("ts", "<i8"), ("next_tid", "<i8"), ("next_at", "<i8"),
                   ("prev_tid", "<i8"), ("prev_at", "<i8")])


def _state_events(log: SchedLog) -> int:
    return sum(log.count(table) for _, table, _, _ in _SOURCES)


def _thread_buckets(log: SchedLog, budget: int) -> list[tuple[int, int]]:
    """Ranges of thread ids ``[lo, hi)`` with about ``budget`` events each."""
    if _state_events(log) <= budget:
        return [(np.iinfo(np.int64).min, np.iinfo(np.int64).max)]
    tids, counts = np.zeros(0, np.int64), np.zeros(0, np.int64)
    for _, table, column, _ in _SOURCES:
        for chunk in log.chunks(table):
            found, n = np.unique(chunk[column], return_counts=True)
            tids = np.concatenate((tids, found.astype(np.int64)))
            counts = np.concatenate((counts, n))
            tids, inverse = np.unique(tids, return_inverse=True)
            counts = np.bincount(inverse, weights=counts).astype(np.int64)
    buckets, lo, held = [], None, 0
    for tid, n in zip(tids.tolist(), counts.tolist()):
        if lo is None:
            lo = tid
        elif held + n > budget:
            buckets.append((lo, tid))
            lo, held = tid, 0
        held += n
    buckets.append((lo, np.iinfo(np.int64).max))
    buckets[0] = (np.iinfo(np.int64).min, buckets[0][1])
    return buckets


class _Columns:
    """Where a store's columns go: growing lists of pieces, or a mapped file."""

    def __init__(self, types: dict, capacity: int, on_disk: bool):
        self.mapped = None
        if on_disk:
            try:
                self.mapped = MappedColumns(types, capacity, prefix="corr-model-")
            except OSError as exc:
                kept_in_memory("keep the scheduling model in", exc, "it is", stacklevel=4)
        self.pieces = {name: [] for name in types}
        self.types = types

    def append(self, name: str, values: np.ndarray) -> None:
        if self.mapped is not None:
            self.mapped.append(name, values)
        else:
            self.pieces[name].append(np.asarray(values, dtype=self.types[name]))

    def arrays(self) -> dict[str, np.ndarray]:
        if self.mapped is not None:
            return self.mapped.arrays()
        return {name: (np.concatenate(p) if len(p) != 1 else p[0]) if p
                else np.zeros(0, self.types[name]) for name, p in self.pieces.items()}

    def close(self) -> None:
        """Let go of the columns (the file behind them goes with the last view)."""
        if self.mapped is not None:
            self.mapped.close()
        self.pieces = {name: [] for name in self.types}


class _Events:
    """The state-changing events of the threads ``lo <= tid < hi`` (None: of every
    thread), read from the log's tables."""

    def __init__(self, log: SchedLog, lo: int | None = None, hi: int | None = None):
        self.log, self.lo, self.hi = log, lo, hi

    def chunks(self, name: str):
        table, column = next((t, c) for n, t, c, _ in _SOURCES if n == name)
        for chunk in self.log.chunks(table):
            if self.lo is None:
                yield chunk
            else:
                tid = chunk[column]
                rows = np.flatnonzero((tid >= self.lo) & (tid < self.hi))
                yield {k: v[rows] for k, v in chunk.items()}


class _Dealt:
    """Rows of the log dealt out to parts (buckets of threads, CPUs) in one pass over
    it, into a spill file of their own: each part then reads only its rows, instead
    of every part reading the whole log."""

    def __init__(self, parts: int, deals):
        """``deals``: (name, chunks, which_of, columns kept): each chunk's rows under
        ``name``, row i to part ``which_of(chunk)[i]``, in order.  OSError when there
        is no room for them (no file is left open then)."""
        self.parts = parts
        self.file = SpillFile("corr-model-")
        self.places: dict = {}
        try:
            for name, chunks, which_of, keep in deals:
                self._deal(name, chunks, which_of, keep)
        except OSError:
            self.close()
            raise

    def _deal(self, name: str, chunks, which_of, keep) -> None:
        for chunk in chunks:
            which = which_of(chunk)
            order = np.argsort(which, kind="stable")
            cuts = np.searchsorted(which[order], np.arange(self.parts + 1))
            for k in range(self.parts):
                rows = order[cuts[k]:cuts[k + 1]]
                if len(rows):
                    self.file.add({c: chunk[c][rows] for c in keep}, len(rows))
                    self.places.setdefault((k, name), []).append(len(self.file.places) - 1)

    def chunks(self, k: int, name: str):
        """Part ``k``'s rows dealt under ``name``, a chunk at a time."""
        for i in self.places.get((k, name), ()):
            yield self.file.chunk(i)

    def close(self) -> None:
        self.file.close()


class _Part:
    """One part's rows of a :class:`_Dealt` log (what ``_Events`` is for the whole)."""

    def __init__(self, dealt: _Dealt, k: int):
        self.dealt, self.k = dealt, k

    def chunks(self, name: str):
        return self.dealt.chunks(self.k, name)


def _by_thread(log: SchedLog, buckets: list[tuple[int, int]]):
    """(each bucket's events as an ``_Events``-like source, the spill file behind them
    or None): a log in memory is read again for each bucket; a spilled one is dealt
    out to them in one pass (each bucket reading the whole log from disk would make
    the build quadratic)."""
    if len(buckets) == 1:
        return [_Events(log)], None
    filtered = [_Events(log, lo, hi) for lo, hi in buckets]
    if not log.spilled:
        return filtered, None
    uppers = np.asarray([hi for _, hi in buckets[:-1]], dtype=np.int64)
    try:
        dealt = _Dealt(len(buckets), (
            (name, log.chunks(table),
             lambda chunk, c=tid_column: np.searchsorted(uppers, chunk[c], side="right"), keep)
            for name, table, tid_column, keep in _SOURCES))
    except OSError:        # no room: each bucket reads the whole log (slower, as right)
        return filtered, None
    return [_Part(dealt, k) for k in range(len(buckets))], dealt


class _Blocks:
    """Segments in the by-thread order, cut into blocks of ``2**shift``, then laid out
    by time: written bucket after bucket as they come (a bucket's last, short
    block waits for the next bucket's first segments), then copied into the
    store's file in the order of the blocks' first starts.  Laid out so, what a
    walk in time order reads at any moment is a stretch or two of the file;
    with each bucket sorted on its own, it was a stretch in every bucket."""

    COPY_BLOCKS = 4096                # blocks copied at a time (pages handed back after)

    def __init__(self, capacity: int):
        self.shift = block_shift()
        self.staged = _Columns({"segments": SEGMENT}, capacity, True)
        self.carry = np.zeros(0, dtype=SEGMENT)
        self.written = 0
        self.first: list[np.ndarray] = []

    def add(self, records: np.ndarray, last: bool = False) -> None:
        block = 1 << self.shift
        if len(self.carry):           # the last bucket's short block, made whole first
            head = np.concatenate((self.carry, records[:block - len(self.carry)]))
            records = records[block - len(self.carry):]
            self.carry = head
            if len(head) < block and not last:
                return
            self._stage(head)
        whole = len(records) if last else len(records) // block * block
        self._stage(records[:whole])
        self.carry = records[whole:].copy()

    def _stage(self, records: np.ndarray) -> None:
        """Whole blocks (the very last maybe short), in the by-thread order."""
        if len(records):
            self.staged.append("segments", records)
            self.first.append(np.ascontiguousarray(records["start"][::1 << self.shift]))
            self.written += len(records)

    def finish(self) -> tuple[_Columns, np.ndarray, np.ndarray, int]:
        """(the store's columns, bpos, bfirst, block shift), once the last bucket is in."""
        self.add(np.zeros(0, dtype=SEGMENT), last=True)
        block, n = 1 << self.shift, self.written
        first = np.concatenate(self.first) if self.first else np.zeros(0, np.int64)
        order = np.argsort(first, kind="stable")
        sizes = np.full(len(first), block, dtype=np.int64)
        if len(first):
            sizes[-1] = n - (len(first) - 1) * block
        mapped, size = self.staged.mapped, SEGMENT.itemsize
        pos = np.empty(len(first), dtype=np.int64)
        pos[order] = np.concatenate(([0], np.cumsum(sizes[order])[:-1])) if len(first) else 0
        out = _Columns({"segments": SEGMENT}, max(n, 1), True)
        if mapped is not None:
            # Read block by block (pread: a mapping would map a 2 MB folio for every
            # block read, here and there in the staged file, all at once), into two
            # buffers in turn: one is read into while the other's write is behind.
            mapped.flush()
            fd, base = mapped.file.fileno(), mapped.base["segments"]
            buffers = [np.empty(self.COPY_BLOCKS * block, dtype=SEGMENT) for _ in range(2)]
            lengths = sizes * size
            for k, lo in enumerate(range(0, len(order), self.COPY_BLOCKS)):
                buffer = buffers[k % 2]
                got = _native.read_blocks(fd, base, order[lo:lo + self.COPY_BLOCKS], lengths,
                                          block * size, buffer.view(np.uint8))
                out.append("segments", buffer[:got // size])
            del buffers
        else:                         # no room on disk: the staged columns are in memory
            staged = self.staged.arrays()["segments"]
            for b in order.tolist():
                out.append("segments", staged[b * block:b * block + int(sizes[b])])
        self.staged.close()
        return out, pos, first, self.shift


class _Switches:
    """The log's switches as the store takes them by CPU: their CPUs and count, and
    for a spilled log the rows dealt out to the CPUs, read before the timelines
    are built so that the log can go first (None: no room to deal them, each
    CPU then reads the log's chunks)."""

    def __init__(self, log: SchedLog):
        self.count = log.count("switch")
        self.spilled = log.spilled
        self.cpus = np.unique(np.concatenate(
            [np.unique(c["cpu"]) for c in log.chunks("switch")] or [np.zeros(0, np.int64)])
        ).astype(np.int64)
        self.dealt = None
        if self.spilled:
            cpus = self.cpus
            try:
                self.dealt = _Dealt(len(cpus), [("switch", log.chunks("switch"),
                                                 lambda chunk: np.searchsorted(cpus, chunk["cpu"]),
                                                 ("ts", "seq", "next_tid", "prev_tid"))])
            except OSError:
                pass


class TimelineStore:
    """All thread timelines of a log, built a bucket of threads at a time.

    A log that spilled to disk gets its store on disk too, mapped: the
    explanations read it in place (no copy of it is ever made in memory),
    and :meth:`release_pages` hands back what a walk read once it is done.
    """

    def __init__(self, log: SchedLog, begin_ns: int, release=None):
        """``release``: called once the log's columns are read for the last time (a
        spilled log's rows are dealt out, by thread and by CPU, before the timelines
        are built: its file goes before the store is written, not after)."""
        self.begin_ns = begin_ns
        self._mapped: list[MappedColumns] = []
        on_disk = log.spilled
        total = _state_events(log)
        sources, dealt = _by_thread(log, _thread_buckets(log, model_events()))
        switches = _Switches(log)
        if release is not None and dealt is not None and switches.dealt is not None:
            release()     # the page cache holds the log or the store, not both
        late = WAKEUP if log.has_waking else -1
        # At most one segment per event, plus a first and a last per thread.
        blocks = _Blocks(3 * total + 1) if on_disk else None
        out = None if on_disk else _Columns({"segments": SEGMENT}, 3 * total + 1, False)
        tids, firsts, count = [], [], 0
        for source in sources:
            events, kinds, idents = _thread_events(source, late)
            n = len(events[0]) + 2 * (np.count_nonzero(np.diff(events[0])) + 1) + 1
            # The C state machine writes the records (start, end, cpu, state, reason)
            # and each segment's thread and wakeup beside them.
            tid, wake, records = np.empty(n, np.int64), np.empty(n, np.int64), \
                np.zeros(n, dtype=SEGMENT)
            made = _native.timelines(*events, begin_ns, tid, wake, records.view(np.uint8),
                                     log.early_wakes)
            del events
            tid, wake, records = tid[:made], wake[:made], records[:made]
            records["src_kind"] = SRC_NONE
            woken = np.flatnonzero(wake >= 0)
            records["src_kind"][woken] = kinds[wake[woken]]
            records["src_id"][woken] = idents[wake[woken]]
            if blocks is not None:
                blocks.add(records)
            else:
                out.append("segments", records)
            # Segments come grouped by thread, in tid order: the index is where tid changes.
            if made:
                first = np.concatenate(([0], np.flatnonzero(tid[1:] != tid[:-1]) + 1))
                tids.append(tid[first].astype(np.int64))
                firsts.append(first + count)
            count += made
            del tid, wake, records
        if dealt is not None:
            dealt.close()
        del sources
        self.bpos = self.bfirst = self.sw_fence = None
        self.bshift = 0
        if blocks is not None:
            out, self.bpos, self.bfirst, self.bshift = blocks.finish()
        segments = out.arrays()["segments"]
        if out.mapped is not None:
            self._mapped.append(out.mapped)
        self.tids = np.concatenate(tids) if tids else np.zeros(0, np.int64)
        self.off = np.append(np.concatenate(firsts) if firsts else np.zeros(0, np.int64),
                             count).astype(np.int64)
        self._set(segments, *self._by_cpu(log, switches, on_disk))

    def _set(self, segments, cpus, cpu_off, switches, seq) -> None:
        """The store's records, and each of their fields as a column (a strided view)."""
        self.segments, self.cpus, self.cpu_off = segments, cpus, cpu_off
        self.switch_records, self.switch_seq = switches, seq
        for name in ("start", "end", "state", "cpu", "src_kind", "src_id", "reason"):
            setattr(self, name, segments[name])
        self.switches = (cpus, cpu_off, switches["ts"], switches["next_tid"],
                         switches["prev_tid"], seq)
        self.switch_threads = (switches["next_at"], switches["prev_at"])

    def _by_cpu(self, log: SchedLog, switches: "_Switches", on_disk: bool):
        """The switches grouped by CPU: (cpus, offsets, records, seq); the records hold
        each switch's time, next and previous threads, and those as indexes into
        ``tids``."""
        cpus = switches.cpus
        out = _Columns({"switches": SWITCH, "seq": np.int64}, switches.count, on_disk)
        fence, step, added = [], 1 << self.bshift, [0]   # on disk: every step-th time

        def add(chunk, rows) -> int:
            records = np.empty(len(rows), dtype=SWITCH)
            records["ts"] = chunk["ts"][rows]
            if on_disk:       # a copy: a view would keep every chunk's records alive
                fence.append(records["ts"][-added[0] % step::step].copy())
                added[0] += len(rows)
            records["next_tid"] = next_tid = chunk["next_tid"][rows]
            records["prev_tid"] = prev_tid = chunk["prev_tid"][rows]
            records["next_at"] = np.searchsorted(self.tids, next_tid)
            records["prev_at"] = np.searchsorted(self.tids, prev_tid)
            out.append("switches", records)
            out.append("seq", chunk["seq"][rows])
            return len(rows)

        if not switches.spilled:      # one chunk: one stable sort by CPU
            switch = log.table("switch")
            add(switch, np.argsort(switch["cpu"], kind="stable"))
            counts = np.bincount(np.searchsorted(cpus, switch["cpu"]), minlength=len(cpus))
        else:                         # dealt by CPU in one pass, then a CPU at a time
            dealt, counts = switches.dealt, []
            for k, c in enumerate(cpus.tolist()):
                if dealt is not None:
                    counts.append(sum(add(chunk, np.arange(len(chunk["ts"])))
                                      for chunk in dealt.chunks(k, "switch")))
                else:
                    counts.append(sum(add(chunk, np.flatnonzero(chunk["cpu"] == c))
                                      for chunk in log.chunks("switch")))
            if dealt is not None:
                dealt.close()
        columns = out.arrays()
        if out.mapped is not None:
            self._mapped.append(out.mapped)
        off = np.concatenate(([0], np.cumsum(counts, dtype=np.int64))).astype(np.int64)
        self.sw_fence = np.concatenate(fence) if on_disk and fence else \
            (np.zeros(0, np.int64) if on_disk else None)
        return cpus, off, columns["switches"], columns["seq"]

    @property
    def mapped(self) -> bool:
        """Whether the store's columns are read through a mapped file."""
        return bool(self._mapped)

    def release_pages(self) -> None:
        """Hand back the mapped pages read so far (a store kept in memory: nothing)."""
        for mapped in self._mapped:
            mapped.release_pages()

    def segment_rows(self, lo: int, hi: int) -> np.ndarray:
        """Segments ``lo:hi`` of the by-thread order, as records (a copy)."""
        if self.bpos is None:
            return np.array(self.segments[lo:hi])
        k = np.arange(lo, hi, dtype=np.int64)
        return self.segments[self.bpos[k >> self.bshift] + (k & ((1 << self.bshift) - 1))]

    def search(self, lo: int, hi: int, x: int, side: str) -> int:
        """``np.searchsorted`` of ``x`` in the starts of segments ``lo:hi`` (one thread's),
        as a position in the by-thread order; a store laid out by time reads one block."""
        if self.bpos is None:
            return lo + int(np.searchsorted(self.start[lo:hi], x, side=side))
        shift = self.bshift
        b0, b1 = (lo >> shift) + 1, (hi - 1) >> shift        # the blocks beginning inside
        j = int(np.searchsorted(self.bfirst[b0:b1 + 1], x, side=side)) if b1 >= b0 else 0
        base = lo if j == 0 else (b0 + j - 1) << shift
        limit = (b0 + j) << shift if b0 + j <= b1 else hi
        return base + int(np.searchsorted(self.segment_rows(base, limit)["start"], x, side=side))

    def layout(self) -> tuple:
        """What the C walks take after the columns: (bpos, bfirst, block shift, the
        switches' fence)."""
        return self.bpos, self.bfirst, self.bshift, self.sw_fence

    def mappings(self) -> tuple:
        """The mapped files' bytes, for the C walk to hand their pages back as it goes."""
        return tuple(m.whole() for m in self._mapped)

    # What a store is made of (``from_records`` takes them back): per thread, per
    # segment (records), per CPU, per switch (records, and their positions), the
    # blocks of a store laid out by time (empty: by thread).
    PARTS = ("tids", "off", "segments", "cpus", "cpu_off", "switch_records", "switch_seq",
             "bpos", "bfirst", "bshift", "sw_fence")
    # The segments' fields, each read as a column.
    COLUMNS = ("tids", "off", "start", "end", "state", "cpu", "src_kind", "src_id", "reason")

    @classmethod
    def from_records(cls, begin_ns: int, parts: dict) -> "TimelineStore":
        """A store built before, from its parts (``PARTS``): no log is read (the decode
        cache keeps them between runs, the records as bytes)."""
        self = cls.__new__(cls)
        self.begin_ns = begin_ns
        self._mapped = []
        self.tids, self.off = parts["tids"], parts["off"]
        blocked = len(parts["bpos"]) or len(parts["bfirst"])
        self.bpos = np.asarray(parts["bpos"], dtype=np.int64) if blocked else None
        self.bfirst = np.asarray(parts["bfirst"], dtype=np.int64) if blocked else None
        shift = np.asarray(parts["bshift"], dtype=np.int64)
        self.bshift = int(shift[0]) if len(shift) == 1 else 0
        fenced = len(parts["sw_fence"]) > 0
        self.sw_fence = np.asarray(parts["sw_fence"], dtype=np.int64) if fenced else None
        self._set(_as(parts["segments"], SEGMENT), parts["cpus"], parts["cpu_off"],
                  _as(parts["switch_records"], SWITCH), parts["switch_seq"])
        return self

    def rows(self, tid: int) -> tuple[int, int] | None:
        """The segment range of a thread (None: no events)."""
        i = int(np.searchsorted(self.tids, tid))
        if i < len(self.tids) and self.tids[i] == tid:
            return int(self.off[i]), int(self.off[i + 1])
        return None


def _as(data: np.ndarray, record: np.dtype) -> np.ndarray:
    """Records from their bytes (as kept in the cache), or records as they are."""
    if data.dtype == record:
        return data
    if data.dtype != np.uint8 or len(data) % record.itemsize:
        raise ValueError(f"{len(data)} bytes are not {record.itemsize}-byte records")
    return data.view(record)


def by_thread_seq_code(tid: np.ndarray, seq: np.ndarray, code: np.ndarray) -> np.ndarray:
    """The order of events by (tid, seq, code), where each (tid, seq, code) is one
    event's: by (seq, code) first (the kinds of events come as runs in stream order,
    which a stable sort merges), then stably by thread, numbered densely through a
    table (tids of 22 bits, as Linux's pid_max) and radix-sorted as 16 bits where
    there are fewer than 32,768 threads; else a lexsort."""
    if not len(tid):
        return np.zeros(0, dtype=np.intp)
    if not (tid.min() >= -1 and tid.max() < 2 ** 22 - 1 and seq.min() >= 0
            and seq.max() < 2 ** 59 and code.min() >= 0 and code.max() < 8):
        return np.lexsort((code, seq, tid))
    by_seq = np.argsort((seq.astype(np.int64) << 3) | code, kind="stable")
    tids = tid[by_seq].astype(np.int64) + 1
    present = np.zeros(int(tids.max()) + 1, dtype=bool)
    present[tids] = True
    number = np.cumsum(present) - 1
    threads = number[tids].astype(np.int16 if number[-1] < 2 ** 15 else np.int32)
    return by_seq[np.argsort(threads, kind="stable")]


def _thread_events(source: "_Events", late: int):
    """Every state-changing event ``source`` holds: ((tid, ts, code, a, b) by (tid,
    seq, code), src_kind, src_id).

    A wakeup's ``b`` is its index in ``src_kind``/``src_id``, its source (found
    as the log was written).  tid, a and b are int32 or int64, as they come.
    """
    pieces = []                    # per source: (tid, seq, ts, code, a, b)
    kinds, idents = [], []
    wakes = 0

    def add(chunk, tid_column, code, a, b):
        tid = chunk[tid_column]
        n = len(tid)
        if not n:
            return
        if code is None:                      # the wakeups: their kind says which code
            k = chunk["kind"]
            code = np.where(k == WAKEUP_NEW, E_NEW,
                            np.where(k == late, E_WAKEUP, E_WAKE)).astype(np.int8)
        else:
            code = np.full(n, code, dtype=np.int8)
        if b is None:
            b = np.zeros(n, np.int32)
        elif isinstance(b, str):
            b = chunk[b]
        pieces.append((tid, chunk["seq"], chunk["ts"], code,
                       chunk[a] if a else np.zeros(n, np.int32), b))

    for chunk in source.chunks("out"):
        add(chunk, "prev_tid", E_OUT, "cpu", "prev_state")
    for chunk in source.chunks("in"):
        add(chunk, "next_tid", E_IN, "cpu", None)
    for chunk in source.chunks("wakeup"):
        n = len(chunk["tid"])
        if n:
            row = np.arange(wakes, wakes + n, dtype=np.int32 if wakes + n < 2 ** 31
                            else np.int64)
            kinds.append(chunk["src_kind"])
            idents.append(chunk["src_id"])
            wakes += n
            add(chunk, "tid", None, "target_cpu", row)
    for chunk in source.chunks("fork"):
        add(chunk, "child_tid", E_FORK, None, None)
    for chunk in source.chunks("exit"):
        add(chunk, "tid", E_EXIT, None, None)
    kinds = np.concatenate(kinds) if kinds else np.zeros(0, np.int8)
    idents = np.concatenate(idents) if idents else np.zeros(0, np.int64)
    if not pieces:
        empty = np.zeros(0, np.int64)
        return (empty, empty, np.zeros(0, np.int8), empty, empty), kinds, idents

    def gather(k, dtype=None):
        """One column over the pieces; ``dtype`` None: the narrowest that holds them
        (the log keeps tids and CPUs as int32 unless a value needs more)."""
        columns = [p[k] for p in pieces]
        return np.concatenate(columns).astype(dtype or np.result_type(*columns), copy=False)

    order = by_thread_seq_code(gather(0), gather(1, np.int64), gather(3, np.int8))
    # One column at a time in that order, so that few copies are alive at once.
    events = tuple(gather(k, dtype)[order] for k, dtype in (
        (0, None), (2, np.int64), (3, np.int8), (4, None), (5, None)))
    return events, kinds, idents
