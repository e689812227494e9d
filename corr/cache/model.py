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
