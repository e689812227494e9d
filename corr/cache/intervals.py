"""What a run found, kept per entry: a re-run neither decodes, matches nor explains again.

A rule's interval table does not depend on its threshold (which only
decides what is reported as slow), so it is stored keyed by the rule's
definition *without* the threshold, plus the run's whole projection
(other rules' events teach thread names, which intervals carry).  A run
whose every rule is found is rebuilt from the tables: the result is the
same object a matching pass gives, with the new thresholds applied when
the statistics are computed.

Beside the tables, per entry (sections of its manifest):

- ``passes``: what a pass counted (events, first and last event, the
  tracer's discards), keyed by its projection: a pass that also reads the
  scheduling events counts more of them than one that does not;
- ``models``: with ``blame:`` rules, the scheduling model and the pass's
  thread names (:mod:`.model`), keyed by the pass;
- ``analyses``: each ``blame:`` rule's totals and chosen intervals
  (:mod:`.analysis`), keyed by its threshold, the blame limit, the thread
  filter and the model too; a threshold re-run adds up only the new ones
  (over the kept model, without a pass).

Tables whose keys, groups or fields Arrow cannot give back exactly
(tuples, mixed types) are not stored; neither is a model of the Python
reference (``CORR_SCHED=python``) nor a pass that learned process ids for
``--pid`` (its run is not served from here: it needs them).
"""

from __future__ import annotations

import json
import os
import time
from array import array

import numpy as np
import pyarrow as pa

from ..engine.intervals import STATUS_NAMES, IntervalTable
from ..reading.batch import Discard
from . import analysis as kept_analysis
from . import model as kept_model
from . import packed, shape
from .columns import NotCacheable, numpy_of, to_arrow
from .identity import projection_to_json, short_hash
from .lazy import ArrowList
from .store import EntryError, EntryGone, crc_of

KEEP_RULES = 32                 # the most recently stored tables kept per entry
# Each section of the manifest this module keeps, and how many of its records
# (the most recently stored).
KEEP = {"passes": 32, "rules": KEEP_RULES, "models": kept_model.KEEP_MODELS,
        "analyses": kept_analysis.KEEP_ANALYSES}
PREFIXES = {"rules": "rule", "models": "model", "analyses": "analysis"}     # of their files


def rule_definition(rule) -> dict:
    """Everything that decides a rule's intervals: each of its fields declared as
    changing them (corr/rules/fields.py: not the threshold, the blame...)."""
    from ..rules.fields import definition
    return definition(rule)


def rule_key(rule, projection) -> str:
    text = json.dumps([rule_definition(rule), projection_to_json(projection)], sort_keys=True)
    return short_hash(text)


class Matched:
    """What RuleResult reads from a matcher, rebuilt from the cache."""

    def __init__(self, intervals: IntervalTable, groups: list, outcomes: dict):
        self.intervals = intervals
        self.groups = groups
        self._outcomes = outcomes

    def outcome_counts(self) -> dict:
        return self._outcomes


# -- values as JSON, exactly -------------------------------------------------------------

def _encode(value):
    if isinstance(value, tuple):
        return {"t": [_encode(v) for v in value]}
    if value is None or type(value) in (int, str, bool) or \
            (type(value) is float and value == value):
        return value
    raise NotCacheable(f"a group value of type {type(value).__name__}")


def _decode(value):
    if isinstance(value, dict):
        shape.need(list(value) == ["t"] and type(value["t"]) is list, "a bad group value")
        return tuple(_decode(v) for v in value["t"])
    shape.need(value is None or type(value) in (int, str, bool, float), "a bad group value")
    return value


def pass_key(ruleset, scheduling: bool, traceset) -> str:
    """A pass over the entry's traces: what it decodes (as the engine asks for it)."""
    from ..engine.plan import run_projection
    return short_hash(json.dumps(projection_to_json(run_projection(ruleset, scheduling,
                                                                   traceset))))


class RunKeys:
    """Every key a run's kept results go by (None: not kept for this run)."""

    def __init__(self, ruleset, projection, traceset, scheduling: bool, thread_filter=None,
                 limit: int = 0):
        self.rules = [rule_key(rule, projection) for rule in ruleset.rules]
        # A pass that learns process ids decodes more: neither its counts nor its
        # model are this projection's.
        self.learns_pids = bool(thread_filter and thread_filter.pids)
        self.run = pass_key(ruleset, scheduling, traceset)
        self.model = kept_model.model_key(self.run) if scheduling else None
        self.analyses = [kept_analysis.analysis_key(key, rule, limit, thread_filter, self.model)
                         if scheduling and rule.blame else None
                         for key, rule in zip(self.rules, ruleset.rules)]


def derived_files(body: dict) -> list[str]:
    """The files of every kept table, model and analysis of a manifest."""
    return [record["file"] for section in KEEP for record in body.get(section, {}).values()
            if "file" in record]


def derived_sections(body: dict) -> dict:
    """The sections of a manifest this module keeps (for one rewritten by a decode)."""
    return {section: body[section] for section in KEEP if section in body}


class Served:
    """A run rebuilt from an entry: the pass's counts, each rule's table; with
    ``blame:`` rules the model, the thread names and the analyses found
    (``(record, arrays)`` per rule, None where not kept)."""

    def __init__(self, run: dict, matched: list, model=None, threads=None, analyses=()):
        self.events, self.begin_ns, self.end_ns = run["events"], run["begin_ns"], run["end_ns"]
        self.discards = [Discard(*d) for d in run["discards"]]
        self.matched = matched
        self.model, self.threads = model, threads
        self.analyses = list(analyses)

    def analysis(self, i: int, rule_result):
        """Rule ``i``'s kept analysis over ``rule_result``, or None (then to be made)."""
        found = self.analyses[i]
        if found is None:
            return None
        record, arrays = found
        try:
            return kept_analysis.restore(record, arrays, rule_result, self.model, self.threads)
        except (EntryError, KeyError, ValueError, IndexError, TypeError,
                pa.ArrowException) as exc:
            from .decoded import warn
            warn(f"cache: a kept analysis of {rule_result.name} not read ({exc}); "
                 "explaining again")
            return None


# -- reading -----------------------------------------------------------------------------

def cached_run(cache, keys: RunKeys) -> Served | None:
    """The run rebuilt from the entry, or None if anything it needs is missing."""
    manifest = cache.manifest()
    if manifest is None or keys.learns_pids:
        return None
    run = manifest.get("passes", {}).get(keys.run)
    records = [manifest.get("rules", {}).get(key) for key in keys.rules]
    if run is None or not records or any(r is None for r in records):
        return None
    model_record = None
    if keys.model is not None:
        model_record = manifest.get("models", {}).get(keys.model)
        if model_record is None or not kept_model.usable():
            return None
    found = [manifest.get("analyses", {}).get(key) if key else None for key in keys.analyses]
    from .decoded import restore_event_spans, warn
    cache.entry.touch()
    model = threads = None
    try:
        matched = [_load(cache.entry, manifest, record) for record in records]
        if model_record is not None:
            model, threads = kept_model.load(cache.entry, manifest, model_record)
        analyses = [None if r is None else (r, packed.read(cache.entry, manifest, r["file"]))
                    for r in found]
        restore_event_spans(cache.traceset, manifest)     # the run's start counts from these
    except EntryGone:
        return None                      # evicted or replaced meanwhile: a miss
    except (EntryError, NotCacheable, KeyError, ValueError, TypeError, IndexError,
            RecursionError, pa.ArrowException) as exc:
        warn(f"cache entry {cache.entry.folder}: {exc}; decoding again")
        cache._forget()                  # rebuilt by this run
        return None
    return Served(run, matched, model, threads, analyses)


_INTS = (pa.int8(), pa.int16(), pa.int32(), pa.int64())


def _load(entry, manifest, record) -> Matched:
    table = entry.read_table(manifest, record["file"])
    groups = [_decode(v) for v in record["groups"]]
    outcomes = json.loads(record["outcomes"])
    shape.need(type(outcomes) is dict, f"{record['file']}: bad outcome counts")
    _check_table(table, record, len(groups))
    out = IntervalTable(record["key_names"], tuple(record["field_names"]))
    for name, code in IntervalTable.INT_COLUMNS + (("lossy", "b"),):
        column = array(code)
        values = numpy_of(table.column(name)).astype(np.dtype(code), copy=False)
        column.frombytes(memoryview(np.ascontiguousarray(values)).cast("B"))
        setattr(out, name, column)
    # Names, keys and fields become Python values when read (mostly: the
    # few intervals shown), not all at once.
    for name in IntervalTable.OBJECT_COLUMNS:
        setattr(out, name, ArrowList(table.column(name)))
    key = table.column("key")
    if record["key_array"]:
        out.key = array("q")
        out.key.frombytes(memoryview(np.ascontiguousarray(
            numpy_of(key).astype(np.int64, copy=False))).cast("B"))
    else:
        out.key = ArrowList(key)
    out.fields = {name: ArrowList(table.column("f:" + name)) for name in out.field_names}
    return Matched(out, groups, outcomes)


# Each integer column's range: statuses index STATUS_NAMES, groups the rule's groups
# (-1: none); the others must fit their array's type.
_RANGES = {"status": (0, len(STATUS_NAMES) - 1), "lossy": (0, 1)}


def _check_table(table, record: dict, groups: int) -> None:
    """Bad unless a rule's interval file has the columns, types and ranges its record
    and the readers expect."""
    name = record["file"]
    expected = {column: _INTS for column, _ in IntervalTable.INT_COLUMNS}
    expected["lossy"] = _INTS
    expected.update({column: None for column in IntervalTable.OBJECT_COLUMNS})
    expected["key"] = (pa.int64(),) if record["key_array"] else None
    expected.update({"f:" + field: None for field in record["field_names"]})
    shape.check_columns(table, name, expected)
    shape.need(table.num_rows == record["rows"], f"{name}: rows differ")
    ranges = dict(_RANGES, group=(-1, groups - 1))
    for column, code in IntervalTable.INT_COLUMNS + (("lossy", "b"),):
        values = table.column(column)
        shape.no_nulls(values, name)
        low, high = ranges.get(column, (np.iinfo(code).min, np.iinfo(code).max))
        if len(values):
            found = numpy_of(values)
            shape.need(low <= int(found.min()) and int(found.max()) <= high,
                       f"{name}: {column} out of range")
    if record["key_array"]:
        shape.no_nulls(table.column("key"), name)


# -- storing -----------------------------------------------------------------------------

def keep_run(cache, keys: RunKeys, engine=None, model=None, threads=None,
             analyses=()) -> None:
    """Store what the entry lacks of a complete run (never fails; skips what cannot be
    kept): with ``engine`` (a pass), its counts and every rule's table, and ``model``
    with the pass's ``threads``; ``analyses``: (rule index, RuleAnalysis) made by
    this run."""
    manifest = cache.manifest()
    if manifest is None or (engine is not None and engine.stopped is not None):
        return
    entry = cache.entry
    made: dict[str, dict] = {section: {} for section in KEEP}
    renames: dict[str, str] = {}
    stamp = int(time.time() * 1000)

    def add(section, key, write, *args, replace=False):
        if key is None or (key in manifest.get(section, {}) and not replace):
            return
        try:
            record, path = write(entry, *args)
        except NotCacheable:
            return
        record["file"] = f"{PREFIXES[section]}-{key}-{stamp}.arrow"
        renames[record["file"]] = path
        made[section][key] = record

    try:
        if engine is not None:
            if not keys.learns_pids:
                made["passes"][keys.run] = {
                    "events": engine.events, "begin_ns": engine.begin_ns,
                    "end_ns": engine.end_ns, "discards": [list(d) for d in engine.discards],
                    "stored": time.time()}
            for key, matcher in zip(keys.rules, engine.matchers):
                add("rules", key, _write, matcher)
            if model is not None and not keys.learns_pids:
                add("models", keys.model, kept_model.write, model, threads)
        if not keys.learns_pids:
            for i, analysis in analyses:          # made: missing, or not read back
                add("analyses", keys.analyses[i], kept_analysis.write, analysis, replace=True)
        if not any(made.values()) or not entry.try_lock(create=False):
            _remove(renames.values())
            return
        try:
            current = cache.manifest()
            if current is None or current.get("order") != manifest.get("order"):
                _remove(renames.values())             # changed meanwhile: store next time
                return
            body = dict(current)
            for section, records in made.items():
                merged = {**current.get(section, {}), **records}
                for key in sorted(merged, key=lambda k: merged[k]["stored"])[:-KEEP[section]]:
                    del merged[key]
                body[section] = merged
            kept = set(derived_files(current))
            files = {k: v for k, v in current["files"].items() if k not in kept}
            for name in derived_files(body):
                files[name] = list(crc_of(renames[name])) if name in renames \
                    else current["files"][name]
            body["files"] = files
            what = " and ".join(name for section, name in (
                ("rules", "intervals"), ("models", "scheduling model"), ("analyses", "analyses"))
                if made[section]) or "counts"
            if not cache.fits(body, what):
                _remove(renames.values())
                return
            _remove(path for name, path in renames.items() if name not in files)  # trimmed
            entry.commit(body, {k: v for k, v in renames.items() if k in files})
        finally:
            entry.unlock()
        cache.stored()
    except (OSError, EntryError, pa.ArrowException, ValueError) as exc:
        _remove(renames.values())
        if isinstance(exc, FileNotFoundError) and not os.path.isdir(entry.folder):
            return                       # evicted meanwhile: nothing to add to
        from .decoded import warn
        warn(f"cache {entry.folder}: intervals, model or analyses not stored ({exc})")


def _write(entry, matcher) -> tuple[dict, str]:
    """A rule's intervals as an IPC file, a record batch per chunk of the table (a
    table that spilled is read back a chunk at a time, never whole)."""
    table: IntervalTable = matcher.intervals
    key_array = all(isinstance(c["key"], array) for _, c in table.chunks())
    # The object columns' Arrow types, agreed over the chunks first (a column of
    # Nones in one chunk is of the type the others give).
    types: dict = {}
    for first, columns in table.chunks():
        for name, values in _object_columns(columns, key_array):
            found = _arrow(values).type
            if found != pa.null():
                if types.setdefault(name, found) != found:
                    raise NotCacheable(f"column {name}: {types[name]} and {found}")
    outcomes = matcher.outcome_counts()
    # As a string: the manifest's keys are sorted, and the renderers keep this order.
    outcomes_text = json.dumps(outcomes)
    if json.loads(outcomes_text) != outcomes:
        raise NotCacheable("outcome counts")
    record = {"key_names": list(table.key_names), "field_names": list(table.field_names),
              "key_array": key_array, "groups": [_encode(v) for v in matcher.groups],
              "outcomes": outcomes_text, "rows": len(table), "stored": time.time()}
    lossy = np.frombuffer(table.lossy, dtype=np.int8)
    path = entry.temp()
    writer = None
    try:
        for first, columns in table.chunks():
            n = len(columns["start_ns"])
            batch = {name: pa.array(np.frombuffer(columns[name], dtype=np.dtype(code)))
                     for name, code in IntervalTable.INT_COLUMNS}
            batch["lossy"] = pa.array(lossy[first:first + n])
            for name, values in _object_columns(columns, key_array):
                column = _arrow(values)
                kind = types.get(name, pa.null())
                batch[name] = column if column.type == kind else pa.nulls(n, kind)
            if writer is None:
                writer = pa.ipc.new_file(path, pa.schema([(k, v.type) for k, v in batch.items()]))
            writer.write_batch(pa.record_batch(list(batch.values()), names=list(batch)))
        writer.close()
    except BaseException:
        if writer is not None:
            try:
                writer.close()
            except Exception:     # noqa: BLE001 -- the file goes anyway
                pass
        _remove([path])
        raise
    return record, path


def _arrow(values) -> pa.Array:
    """A chunk's column as Arrow: 64-bit keys as they are, Python values converted."""
    return pa.array(values) if isinstance(values, np.ndarray) else to_arrow(values)


def _object_columns(columns, key_array: bool):
    """(name, values) of a chunk's columns that hold Python values, as the file names
    them; keys too unless every chunk's are 64-bit integers."""
    for name in IntervalTable.OBJECT_COLUMNS:
        yield name, columns[name]
    key = columns["key"]
    yield "key", (np.frombuffer(key, dtype=np.int64) if key_array
                  else key.tolist() if isinstance(key, array) else key)
    for name, values in columns["fields"].items():
        yield "f:" + name, values


def _remove(paths) -> None:
    for path in paths:
        try:
            os.unlink(path)
        except OSError:
            pass
