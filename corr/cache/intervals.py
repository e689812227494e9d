"""Matched intervals kept per rule: a threshold-tuning re-run neither decodes nor matches.

A rule's interval table does not depend on its threshold (which only
decides what is reported as slow), so it is stored keyed by the rule's
definition *without* the threshold, plus the run's whole projection
(other rules' events teach thread names, which intervals carry).  A run
whose every rule is found is rebuilt from the tables: the result is the
same object a matching pass gives, with the new thresholds applied when
the statistics are computed.

Rules with ``blame:`` also need the scheduling log, which is not stored:
their runs use the decoded-columns cache only.  Tables whose keys, groups
or fields Arrow cannot give back exactly (tuples, mixed types) are not
stored either.
"""

from __future__ import annotations

import json
import os
import time
from array import array

import numpy as np
import pyarrow as pa

from ..engine.intervals import IntervalTable
from ..reading.batch import Discard
from .columns import NotCacheable, to_arrow
from .identity import projection_to_json, short_hash
from .lazy import ArrowList
from .store import EntryError, EntryGone, crc_of

KEEP_RULES = 32                 # the most recently stored tables kept per entry


def rule_definition(rule) -> dict:
    """Everything that decides a rule's intervals: its definition but the threshold."""
    def text(expr):
        return None if expr is None else expr.text

    def side(spec):
        return {"events": spec.events, "key": [[p.name, p.expression.text] for p in spec.key],
                "where": text(spec.where), "fields": spec.fields}
    return {"name": rule.name, "entry": side(rule.entry), "exit": side(rule.exit),
            "cancel": [side(c) for c in rule.cancel], "timeout_ns": rule.timeout_ns,
            "match": rule.match, "group_by": [e.text for e in rule.group_by],
            "where": text(rule.where), "span": text(rule.span_duration)}


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
    return tuple(_decode(v) for v in value["t"]) if isinstance(value, dict) else value


# -- reading -----------------------------------------------------------------------------

def cached_run(cache, ruleset, projection):
    """``(events, begin_ns, end_ns, discards, [Matched per rule])``, or None if any is missing."""
    manifest = cache.manifest()
    if manifest is None:
        return None
    records = [manifest.get("rules", {}).get(rule_key(rule, projection)) for rule in ruleset.rules]
    if not records or any(r is None for r in records):
        return None
    from .decoded import restore_event_spans, warn
    cache.entry.touch()
    try:
        matched = [_load(cache.entry, manifest, record) for record in records]
        restore_event_spans(cache.traceset, manifest)     # the run's start counts from these
    except EntryGone:
        return None                      # evicted or replaced meanwhile: a miss
    except (EntryError, NotCacheable, KeyError, ValueError, pa.ArrowException) as exc:
        warn(f"cache entry {cache.entry.folder}: {exc}; decoding again")
        cache._forget()                  # rebuilt by this run
        return None
    run = records[0]["run"]
    return (run["events"], run["begin_ns"], run["end_ns"],
            [Discard(*d) for d in run["discards"]], matched)


def _load(entry, manifest, record) -> Matched:
    table = entry.open_arrow(manifest, record["file"]).read_all()
    out = IntervalTable(record["key_names"], tuple(record["field_names"]))
    for name, code in IntervalTable.INT_COLUMNS + (("lossy", "b"),):
        column = array(code)
        values = table.column(name).to_numpy().astype(np.dtype(code), copy=False)
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
            key.to_numpy().astype(np.int64, copy=False))).cast("B"))
    else:
        out.key = ArrowList(key)
    out.fields = {name: ArrowList(table.column("f:" + name)) for name in out.field_names}
    return Matched(out, [_decode(v) for v in record["groups"]], json.loads(record["outcomes"]))


# -- storing -----------------------------------------------------------------------------

def keep_run(cache, ruleset, projection, engine) -> None:
    """Store every rule's table of a complete run (never fails; skips what cannot be kept)."""
    manifest = cache.manifest()
    if manifest is None or engine.stopped is not None:
        return
    entry = cache.entry
    run = {"events": engine.events, "begin_ns": engine.begin_ns, "end_ns": engine.end_ns,
           "discards": [list(d) for d in engine.discards]}
    made, renames = {}, {}
    try:
        for rule, matcher in zip(ruleset.rules, engine.matchers):
            key = rule_key(rule, projection)
            if key in manifest.get("rules", {}):
                continue
            try:
                record, path = _write(entry, matcher)
            except NotCacheable:
                continue
            record["run"] = run
            record["file"] = f"rule-{key}-{int(time.time() * 1000)}.arrow"
            renames[record["file"]] = path
            made[key] = record
        if not made or not entry.try_lock(create=False):
            _remove(renames.values())
            return
        try:
            current = cache.manifest()
            if current is None or current.get("order") != manifest.get("order"):
                _remove(renames.values())             # changed meanwhile: store next time
                return
            rules = {**current.get("rules", {}), **made}
            for key in sorted(rules, key=lambda k: rules[k]["stored"])[:-KEEP_RULES]:
                del rules[key]
            files = {k: v for k, v in current["files"].items() if not k.startswith("rule-")}
            for record in rules.values():
                name = record["file"]
                files[name] = list(crc_of(renames[name])) if name in renames else current["files"][name]
            body = dict(current, rules=rules, files=files)
            if not cache.fits(body, "intervals"):
                _remove(renames.values())
                return
            entry.commit(body, {k: v for k, v in renames.items()
                                if any(r["file"] == k for r in rules.values())})
        finally:
            entry.unlock()
        cache.stored()
    except (OSError, EntryError, pa.ArrowException, ValueError) as exc:
        _remove(renames.values())
        if isinstance(exc, FileNotFoundError) and not os.path.isdir(entry.folder):
            return                       # evicted meanwhile: nothing to add to
        from .decoded import warn
        warn(f"cache {entry.folder}: intervals not stored ({exc})")


def _write(entry, matcher) -> tuple[dict, str]:
    table: IntervalTable = matcher.intervals
    columns = {name: pa.array(np.frombuffer(getattr(table, name), dtype=np.dtype(code)))
               for name, code in IntervalTable.INT_COLUMNS + (("lossy", "b"),)}
    for name in IntervalTable.OBJECT_COLUMNS:
        columns[name] = to_arrow(getattr(table, name))
    key_array = isinstance(table.key, array)
    columns["key"] = (pa.array(np.frombuffer(table.key, dtype=np.int64)) if key_array
                      else to_arrow(table.key))
    for name, values in table.fields.items():
        columns["f:" + name] = to_arrow(values)
    outcomes = matcher.outcome_counts()
    # As a string: the manifest's keys are sorted, and the renderers keep this order.
    outcomes_text = json.dumps(outcomes)
    if json.loads(outcomes_text) != outcomes:
        raise NotCacheable("outcome counts")
    record = {"key_names": list(table.key_names), "field_names": list(table.field_names),
              "key_array": key_array, "groups": [_encode(v) for v in matcher.groups],
              "outcomes": outcomes_text, "stored": time.time()}
    path = entry.temp()
    with pa.ipc.new_file(path, pa.schema([(k, v.type) for k, v in columns.items()])) as writer:
        writer.write_batch(pa.record_batch(list(columns.values()), names=list(columns)))
    return record, path


def _remove(paths) -> None:
    for path in paths:
        try:
            os.unlink(path)
        except OSError:
            pass
