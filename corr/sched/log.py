"""The scheduling events of a pass, kept column-wise for the model.

The engine walks events once; when a rule asks for blame, each batch's
scheduling and interrupt events are copied here as numpy columns (a few
integers an event, in the narrowest type that holds them: thread ids and
CPUs as int32, codes as int8), with their position in the stream
(``seq``) so that events at the same nanosecond keep their order.  Thread names are not
copied per event: the engine records a name only when it changes.
"""

from __future__ import annotations

import sys

import numpy as np

from ..reading.batch import RawInts, int64_array
from ..spill import SpillFile, kept_in_memory, spill_rows
from .events import (CONTEXT_CLASSES, EXIT, FLAGS, FORK, MIGRATE, SWITCH, WAKEUP_CLASSES,
                     interrupt_evidence)
from .sources import WakeupSources

_COLUMNS = {
    "switch": ("ts", "seq", "cpu", "prev_tid", "prev_state", "next_tid"),
    "wakeup": ("ts", "seq", "cpu", "tid", "target_cpu", "kind", "waker", "flags"),
    "fork": ("ts", "seq", "parent_tid", "child_tid"),
    "exit": ("ts", "seq", "tid"),
    "migrate": ("ts", "seq", "tid", "dest_cpu"),
    "context": ("ts", "seq", "cpu", "code", "id"),
}


# Columns found as the pass goes, beside those read from the events.
_DERIVED = {"wakeup": ("src_kind", "src_id")}

# Column types; unlisted columns are int64 (timestamps, positions, addresses).
_NARROW = {"cpu": np.int32, "prev_tid": np.int32, "next_tid": np.int32, "prev_state": np.int32,
           "tid": np.int32, "target_cpu": np.int32, "waker": np.int32, "parent_tid": np.int32,
           "child_tid": np.int32, "dest_cpu": np.int32, "kind": np.int8, "code": np.int8,
           "flags": np.int32,
           "name": np.int32}      # a system call's interned name (sched.activity.SyscallLog)
_TYPES = dict(_NARROW, src_kind=np.int8)


def _narrow(name: str, column: np.ndarray) -> np.ndarray:
    """A column in its stored type (``_Column.append`` copies it out of the batch)."""
    kind = _TYPES.get(name, np.int64)
    if kind is not np.int64 and len(column):
        info = np.iinfo(kind)
        if column.min() < info.min or column.max() > info.max:
            kind = np.int64            # out of range (a corrupt field): keep it whole
    return np.asarray(column, dtype=kind)


def _ints(values) -> np.ndarray:
    """A column as int64, absent values as -1."""
    if isinstance(values, RawInts):   # a parallel worker's machine words (signed or not): in place
        return np.frombuffer(values, dtype=np.int64)
    try:
        return int64_array(values)    # a merged IntColumn's own array: no conversion
    except OverflowError:             # unsigned 64-bit values (addresses): same bits
        return np.asarray(values, dtype=np.uint64).view(np.int64)
    except (TypeError, ValueError):
        return _ints([-1 if v is None else v for v in values])


class _Column:
    """A growing column: one buffer whose capacity doubles (pages not yet
    written cost no memory), instead of one small array per batch."""

    __slots__ = ("data", "size")

    def __init__(self, dtype) -> None:
        self.data = np.empty(0, dtype=dtype)
        self.size = 0

    def append(self, values: np.ndarray) -> None:
        end = self.size + len(values)
        if values.dtype != self.data.dtype:
            self.data = self.data.astype(np.result_type(self.data.dtype, values.dtype))
        if end > len(self.data):
            grown = np.empty(max(end, 2 * len(self.data), 4096), dtype=self.data.dtype)
            grown[:self.size] = self.data[:self.size]
            self.data = grown
        self.data[self.size:end] = values
        self.size = end

    def values(self) -> np.ndarray:
        return self.data[:self.size]


class _Table:
    """One kind of event: the rows of the last batches in growing columns, the
    earlier ones sealed into a spill file past the budget (``spill_rows()``)."""

    __slots__ = ("names", "tail", "spill", "limit")

    def __init__(self, names: tuple) -> None:
        self.names = names
        self.tail = {c: _Column(_TYPES.get(c, np.int64)) for c in names}
        self.spill: SpillFile | None = None
        self.limit = spill_rows()

    def __len__(self) -> int:
        return (self.spill.rows if self.spill is not None else 0) + self.tail[self.names[0]].size

    def append(self, columns: dict) -> None:
        for name in self.names:
            self.tail[name].append(_narrow(name, columns[name]))
        if self.tail[self.names[0]].size >= self.limit:
            self._seal()

    def _seal(self) -> None:
        chunk = {name: column.values() for name, column in self.tail.items()}
        try:
            if self.spill is None:
                self.spill = SpillFile("corr-sched-")
            self.spill.add(chunk, len(chunk[self.names[0]]))
        except OSError as exc:      # no room for it: the rows stay in memory
            self.limit = sys.maxsize
            kept_in_memory("spill scheduling events to", exc, "they are", stacklevel=4)
            return
        self.tail = {c: _Column(column.data.dtype) for c, column in self.tail.items()}

    def chunks(self):
        """The table's columns a chunk at a time, in stream order."""
        if self.spill is not None:
            for k in range(len(self.spill.places)):
                yield self.spill.chunk(k)
        if self.tail[self.names[0]].size:
            yield {name: column.values() for name, column in self.tail.items()}

    def whole(self) -> dict[str, np.ndarray]:
        if self.spill is None:
            return {name: column.values() for name, column in self.tail.items()}
        pieces = list(self.chunks())
        return {name: np.concatenate([p[name] for p in pieces]) for name in self.names}


class SchedLog:
    """Scheduling and interrupt events, appended a batch at a time.

    Past the spill budget (``CORR_SPILL_ROWS`` rows a table), the rows are
    sealed into a temporary file and read back a chunk at a time
    (:meth:`chunks`): the C model is built from them bucket by bucket.
    Each wakeup's source (the interrupt or thread that did it) is found as
    its batch is added (``sources.WakeupSources``), so the interrupt
    contexts are needed only by the Python reference.
    """

    def __init__(self) -> None:
        self._tables: dict[str, _Table] | None = {
            kind: _Table(cols + _DERIVED.get(kind, ())) for kind, cols in _COLUMNS.items()}
        self._sources = WakeupSources()
        self.irq_names: dict[int, str] = {}
        self.classes_seen: set[str] = set()
        self.has_flags = False          # wakeups carry perf's common_flags
        self._frozen: dict[str, dict[str, np.ndarray]] | None = None

    # -- collecting --------------------------------------------------------------
    def add_batch(self, batch, class_name, first_seq: int) -> None:
        """Copy the batch's scheduling events; ``class_name(cid)`` names a class."""
        wanted = {cid: class_name(cid) for cid in batch.classes}
        wanted = {cid: name for cid, name in wanted.items()
                  if name == SWITCH or name in WAKEUP_CLASSES or name in CONTEXT_CLASSES
                  or name in (FORK, EXIT, MIGRATE)}
        if not wanted:
            return
        class_ids = int64_array(batch.class_ids)
        ts_all = int64_array(batch.ts)
        pieces: dict[str, list[dict]] = {}

        def add(table, base, **columns):
            pieces.setdefault(table, []).append(
                {name: columns[name] if name in columns else base[name]
                 for name in _COLUMNS[table]})

        for cid, name in wanted.items():
            cols = batch.classes[cid]
            if not len(cols):
                continue
            self.classes_seen.add(name)
            rows = np.flatnonzero(class_ids == cid)
            base = {"ts": ts_all[rows], "seq": rows + first_seq, "cpu": _ints(cols.cpu)}
            f = cols.fields
            if name == SWITCH:
                add("switch", base, prev_tid=_ints(f["prev_tid"]),
                    prev_state=_ints(f["prev_state"]), next_tid=_ints(f["next_tid"]))
            elif name in WAKEUP_CLASSES:
                n = len(rows)
                waker, flags = f.get("ctx.tid"), f.get(FLAGS)
                if flags is not None:
                    self.has_flags = True
                add("wakeup", base, tid=_ints(f["tid"]),
                    target_cpu=_ints(f.get("target_cpu") or [-1] * n),
                    kind=np.full(n, WAKEUP_CLASSES[name], dtype=np.int64),
                    waker=_ints(waker) if waker is not None else np.full(n, -1),
                    flags=_ints(flags) if flags is not None else np.full(n, -1))
            elif name == FORK:
                add("fork", base, parent_tid=_ints(f["parent_tid"]),
                    child_tid=_ints(f["child_tid"]))
            elif name == EXIT:
                add("exit", base, tid=_ints(f["tid"]))
            elif name == MIGRATE:
                add("migrate", base, tid=_ints(f["tid"]), dest_cpu=_ints(f["dest_cpu"]))
            else:
                code, id_field = CONTEXT_CLASSES[name]
                n = len(rows)
                ids = _ints(f[id_field]) if id_field else np.full(n, -1, dtype=np.int64)
                if name == "irq_handler_entry":
                    for irq, irq_name in dict(zip(f["irq"], f["name"])).items():
                        self.irq_names.setdefault(irq, irq_name)
                add("context", base, code=np.full(n, code, dtype=np.int64), id=ids)
        tables = {}
        for table, parts in pieces.items():
            tables[table] = {name: np.concatenate([p[name] for p in parts]) if len(parts) > 1
                             else parts[0][name] for name in _COLUMNS[table]}
        self.add_tables(tables)

    def add_tables(self, tables: dict[str, dict[str, np.ndarray]]) -> None:
        """A batch's events, per kind of event (``_COLUMNS``' columns); every event
        of the batch comes after those of the batches before it."""
        if self._tables is None:
            raise RuntimeError("SchedLog.add_tables() after release()")
        for table, columns in tables.items():
            order = np.argsort(columns["seq"], kind="stable")
            if len(order) and np.any(order[1:] < order[:-1]):    # classes one after another
                tables[table] = {name: np.asarray(c)[order] for name, c in columns.items()}
        wakeup = tables.get("wakeup")
        if wakeup is not None or "context" in tables or "switch" in tables:
            kind, ident = self._sources.add(tables.get("context"), tables.get("switch"), wakeup)
            if wakeup is not None:
                wakeup = tables["wakeup"] = dict(wakeup, src_kind=kind, src_id=ident)
        for table, columns in tables.items():
            if len(columns["seq"]):
                self._tables[table].append(columns)
        self._frozen = None

    def keep_rows(self, keep: dict[str, np.ndarray]) -> None:
        """Only the rows ``keep[kind]`` selects (a boolean mask over :meth:`table`'s
        rows) stay, in order; kinds not in ``keep`` stay whole.  What a stream drops
        once no explanation to come can need it (:mod:`corr.sched.window`); the
        wakeup sources found so far, and what is being found, are unchanged."""
        if self._tables is None:
            raise RuntimeError("SchedLog.keep_rows() after release()")
        for kind, mask in keep.items():
            columns = self.table(kind)
            old = self._tables[kind]
            fresh = self._tables[kind] = _Table(old.names)
            if old.spill is not None:
                old.spill.close()
            if np.any(mask):
                fresh.append({name: columns[name][mask] for name in old.names})
        self._frozen = None

    # -- reading -------------------------------------------------------------------
    def table(self, kind: str) -> dict[str, np.ndarray]:
        """One kind of event (``switch``, ``wakeup``...) as columns in stream order,
        whole (the Python reference reads them so; the C model reads :meth:`chunks`)."""
        if self._tables is None:
            raise RuntimeError("SchedLog.table() after release()")
        if self._frozen is None:
            self._frozen = {}
        found = self._frozen.get(kind)
        if found is None:
            found = self._frozen[kind] = self._tables[kind].whole()
        return found

    def chunks(self, kind: str):
        """One kind of event a chunk of columns at a time, in stream order."""
        if self._tables is None:
            raise RuntimeError("SchedLog.chunks() after release()")
        frozen = (self._frozen or {}).get(kind)
        return iter((frozen,)) if frozen is not None else self._tables[kind].chunks()

    def count(self, kind: str) -> int:
        """How many events of a kind the log holds."""
        return len(self._tables[kind])

    @property
    def spilled(self) -> bool:
        """Whether some events were sealed into the spill file."""
        return self._tables is not None and any(t.spill is not None
                                                for t in self._tables.values())

    def release(self) -> None:
        """Free the event columns once the C model has its own copy of what it needs.

        Later reads of a table raise: only the Python reference model reads them.
        A spilled table's file is closed now (its pages are free for what comes next).
        """
        for table in (self._tables or {}).values():
            if table.spill is not None:
                table.spill.close()
        self._tables = None
        self._frozen = None

    def facts(self) -> dict:
        """What the model reads of the log once its store is built: the classes seen,
        whether wakeups carry flags, the IRQs' names (kept by the decode cache)."""
        return {"classes_seen": sorted(self.classes_seen), "has_flags": self.has_flags,
                "irq_names": sorted(self.irq_names.items())}

    @classmethod
    def from_facts(cls, facts: dict) -> "SchedLog":
        """A released log with only :meth:`facts` (no event columns)."""
        log = cls()
        log.classes_seen = set(facts["classes_seen"])
        log.has_flags = facts["has_flags"]
        log.irq_names = dict(facts["irq_names"])
        log.release()
        return log

    @property
    def has_waking(self) -> bool:
        return "sched_waking" in self.classes_seen

    @property
    def has_wakeup(self) -> bool:
        return "sched_wakeup" in self.classes_seen

    @property
    def early_wakes(self) -> bool:
        """Whether a waking seen while its thread still ran can end the sleep after
        it: only when its sched_wakeup, recorded too, says it completed after the
        switch-out (try_to_wake_up waits for it); else it belongs to no sleep."""
        return self.has_waking and self.has_wakeup

    @property
    def interrupt_evidence(self) -> str | None:
        """How a wakeup done in an interrupt is told from one done by the task it
        interrupted (``events.interrupt_evidence``): "none" when it cannot be."""
        return interrupt_evidence(self.classes_seen, self.has_flags)

    @property
    def has_scheduling(self) -> bool:
        return SWITCH in self.classes_seen
