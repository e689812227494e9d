"""The scheduling model kept per entry: a re-run of ``blame:`` rules builds none.

Once the C timeline store is built, ``SchedModel`` and the explanations
read only its parts (``TimelineStore.PARTS``: the segments' and the switches'
records, kept as bytes, and their indexes),
three facts of the scheduling log (classes seen, wakeup flags, IRQ names)
and the pass's thread names over time (``ThreadNames``' names and
history: the blamed threads' names, renamed threads' epochs).  Those are
stored in one file (:mod:`.packed`), keyed by the pass (its projection)
and by corr's scheduling code, which the entry's identity does not cover.

Only the C model is kept: the Python reference walks the log's events,
which are not stored (``CORR_SCHED=python`` runs always make their pass).
"""

from __future__ import annotations

import json
import time

import numpy as np
import pyarrow as pa

from .columns import NotCacheable, to_list
from .identity import code_fingerprint, short_hash
from .shape import is_str_list
from . import packed

MODEL_CODE = ("sched",)
KEEP_MODELS = 4                 # the most recently stored models kept per entry


def model_key(pass_key: str) -> str:
    """The model of a pass (see :func:`.intervals.pass_key`) and of today's model code."""
    return short_hash(json.dumps([pass_key, code_fingerprint(MODEL_CODE)]))


def usable() -> bool:
    """Whether a kept model can serve: the C model is built and not switched off."""
    from ..sched.store import available
    return available()


def write(entry, model, threads) -> tuple[dict, str]:
    """``model`` (a C model with its store built, or one without scheduling events)
    and the pass's ``threads`` as a temporary file of the entry: (record, path).
    NotCacheable if something would not come back the same."""
    if not model.native or (model.available and model._store is None):
        raise NotCacheable("no C timeline store")
    facts = model.log.facts()
    facts["irq_names"] = [list(pair) for pair in facts["irq_names"]]     # as JSON has them
    if json.loads(json.dumps(facts)) != facts or \
            not all(type(i) is int and type(n) is str for i, n in facts["irq_names"]):
        raise NotCacheable("the log's facts")
    arrays: dict[str, pa.Array] = {}
    st = model._store
    if st is not None:
        # Records as their bytes, columns as they are: no copy (a mapped store is read
        # straight from its file, and its pages handed back after).
        for name in st.PARTS:
            column = getattr(st, name)
            if column is None:                # no blocks: a store laid out by thread
                column = np.zeros(0, dtype=np.int64)
            elif isinstance(column, int):     # the blocks' size
                column = np.asarray([column], dtype=np.int64)
            arrays[name] = pa.array(column.view(np.uint8) if column.dtype.names else column)
    names, history = threads.names, threads.history
    if history is None:
        raise NotCacheable("thread names without their history")
    arrays["name_tid"] = _ints(list(names))
    arrays["name"] = _names(list(names.values()))
    arrays["history_ts"] = _ints([h[0] for h in history])
    arrays["history_tid"] = _ints([h[1] for h in history])
    arrays["history_name"] = _names([h[2] for h in history])
    path = entry.temp()
    try:
        packed.write(path, arrays, st.release_pages if st is not None and st.mapped else None)
    finally:
        if st is not None:
            st.release_pages()
    record = {"facts": facts, "store": st is not None, "begin_ns": model.begin_ns,
              "end_ns": model.end_ns, "stored": time.time()}
    return record, path


def load(entry, manifest: dict, record: dict):
    """(SchedModel, ThreadNames) from a kept record; EntryError/EntryGone as read."""
    from ..engine.threads import ThreadNames
    from ..sched.log import SchedLog
    from ..sched.model import SchedModel
    from ..sched.store import TimelineStore
    arrays = packed.read(entry, manifest, record["file"])
    check(record, arrays)
    threads = ThreadNames(keep_history=True)
    threads.names = dict(zip(to_list(arrays["name_tid"]), to_list(arrays["name"])))
    threads.history = list(zip(to_list(arrays["history_ts"]), to_list(arrays["history_tid"]),
                               to_list(arrays["history_name"])))
    store = None
    if record["store"]:
        store = TimelineStore.from_records(
            record["begin_ns"], {name: packed.numpy(arrays[name]) for name in TimelineStore.PARTS})
    model = SchedModel.from_store(store, SchedLog.from_facts(record["facts"]),
                                  record["begin_ns"], record["end_ns"], names=threads.name_at)
    return model, threads


_NAMES = {"name_tid": (pa.int64(),), "name": (pa.string(),), "history_ts": (pa.int64(),),
          "history_tid": (pa.int64(),), "history_name": (pa.string(),)}


def check(record: dict, arrays: dict) -> None:
    """Bad unless a kept model's arrays are what :func:`write` makes: the C walk indexes
    segments by the threads' offsets, switches by the CPUs' and ``pre_ns`` by a
    switch's thread index, trusting each to be in range."""
    from ..sched.store import SEGMENT, SWITCH, TimelineStore
    from .shape import need
    facts = record["facts"]
    need(is_str_list(facts.get("classes_seen")) and type(facts.get("has_flags")) is bool and
         type(facts.get("irq_names")) is list and all(
             type(p) is list and len(p) == 2 and type(p[0]) is int and type(p[1]) is str
             for p in facts["irq_names"]), "a model's facts")
    parts = TimelineStore.PARTS if record["store"] else ()
    need(sorted(arrays) == sorted([*parts, *_NAMES]), "a model of other arrays")
    for name, types in _NAMES.items():
        need(arrays[name].type in types or (pa.types.is_null(arrays[name].type) and
                                            not len(arrays[name])), f"a model's {name}")
    need(len(arrays["name_tid"]) == len(arrays["name"]) and
         len(arrays["history_ts"]) == len(arrays["history_tid"]) == len(arrays["history_name"]),
         "a model's thread names differ in length")
    need(all(arrays[n].null_count == 0 for n in ("name_tid", "history_ts", "history_tid")),
         "a model's thread ids missing")
    if not record["store"]:
        return
    for name in parts:
        kind = pa.uint8() if name in ("segments", "switch_records") else pa.int64()
        need(arrays[name].type == kind and arrays[name].null_count == 0, f"a model's {name}")
    got = {name: packed.numpy(arrays[name]) for name in parts}
    need(len(got["segments"]) % SEGMENT.itemsize == 0 and
         len(got["switch_records"]) % SWITCH.itemsize == 0, "a model's records")
    tids, off, cpus, cpu_off = got["tids"], got["off"], got["cpus"], got["cpu_off"]
    segments = len(got["segments"]) // SEGMENT.itemsize
    switches = got["switch_records"].view(SWITCH) if len(got["switch_records"]) else \
        np.zeros(0, SWITCH)
    need(_offsets(off, len(tids), segments) and _offsets(cpu_off, len(cpus), len(switches)),
         "a model's offsets")
    need(bool(np.all(tids[1:] > tids[:-1])) and bool(np.all(cpus[1:] > cpus[:-1])),
         "a model's threads or CPUs out of order")
    need(len(got["switch_seq"]) == len(switches) and len(got["bshift"]) <= 1,
         "a model's switches")
    for column in ("next_at", "prev_at"):
        at = switches[column]
        need(not len(at) or (int(at.min()) >= 0 and int(at.max()) <= len(tids)),
             "a model's switches of other threads")


def _offsets(off: np.ndarray, n: int, items: int) -> bool:
    """Offsets of ``n`` runs into ``items`` rows: from 0, never down, within them."""
    return off.dtype == np.int64 and len(off) == n + 1 and int(off[0]) == 0 and \
        bool(np.all(off[1:] >= off[:-1])) and int(off[-1]) <= items


def _ints(values: list) -> pa.Array:
    if not all(type(v) is int for v in values):
        raise NotCacheable("thread ids that are not integers")
    try:
        return pa.array(values, type=pa.int64())
    except (OverflowError, pa.ArrowException):
        raise NotCacheable("thread ids past 64 bits") from None


def _names(values: list) -> pa.Array:
    if not all(v is None or type(v) is str for v in values):
        raise NotCacheable("thread names that are not strings")
    return pa.array(values, type=pa.string())
