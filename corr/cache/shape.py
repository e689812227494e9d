"""What an entry's manifest and files must look like before anything reads them.

A manifest that verifies (:mod:`.store`) may still be wrong: written by a
buggy corr, or crafted.  Everything read from it is checked here first,
types and ranges, so that a manifest that does not fit is
:class:`~.store.EntryError` (a miss, rebuilt), never an internal error
further on; and each file read is checked against what the manifest says
of it (its columns, their types, its rows) before a row of it is used.
"""

from __future__ import annotations

import pyarrow as pa

from .store import LAST_USED, LOCK, MANIFEST, TEMP_PREFIX, EntryError

# The Arrow types a decoded field's values may be stored as, by the field's type
# (corr.reading.batch.FieldInfo); fields of other types hold one primitive type.
_PRIMITIVE = (pa.int64(), pa.uint64(), pa.float64(), pa.string(), pa.binary(), pa.bool_())
FIELD_TYPES = {"int": (pa.int64(), pa.uint64()), "float": (pa.float64(),),
               "str": (pa.string(), pa.binary()), "bool": (pa.bool_(),),
               "enum": (pa.string(), pa.int64(), pa.uint64())}
MAX_ID = 1 << 20                 # class ids: indexes of lookup tables


class Bad(EntryError):
    """A manifest or file that does not fit what reads it."""


def need(condition, what: str) -> None:
    if not condition:
        raise Bad(what)


def is_int(value, low: int | None = None, high: int | None = None) -> bool:
    return type(value) is int and (low is None or value >= low) and \
        (high is None or value <= high)


def is_str_list(value) -> bool:
    return type(value) is list and all(type(v) is str for v in value)


def _number(value) -> bool:
    return type(value) in (int, float)


def _time(value) -> bool:
    return value is None or is_int(value)


def file_name(name) -> bool:
    """A data file's name: a plain name in the entry's folder, never one of its own files."""
    return (type(name) is str and 0 < len(name) < 256 and "/" not in name and "\0" not in name
            and name not in (".", "..", MANIFEST, LOCK, LAST_USED)
            and not name.startswith(TEMP_PREFIX))


def check_manifest(body) -> None:
    """Bad unless ``body`` has every part the readers use, of the types they expect."""
    need(type(body) is dict, "a manifest that is not an object")
    files = body.get("files")
    need(type(files) is dict and all(
        file_name(name) and type(v) is list and len(v) == 2 and is_int(v[0], 0) and
        is_int(v[1], 0, 0xFFFFFFFF) for name, v in files.items()), "bad file list")
    need(type(body.get("identity")) is dict, "bad identity")
    traces = body.get("traces")
    need(is_str_list(traces), "bad traces")
    _projection(body.get("projection"))
    _classes(body.get("classes"), files, len(traces))
    need(body.get("order") in files, "no order file")
    _discards(body.get("discards"))
    need(is_int(body.get("events"), 0), "bad event count")
    spans = body.get("events_ns")
    need(type(spans) is list and len(spans) == len(traces) and all(
        s is None or (type(s) is list and len(s) == 2 and all(map(is_int, s))) for s in spans),
        "bad first and last events")
    _sections(body, files)


def _projection(value) -> None:
    need(value == "*" or (type(value) is list and all(
        type(p) is list and len(p) == 2 and type(p[0]) is str and
        (p[1] == "*" or is_str_list(p[1])) for p in value)), "bad projection")


def _classes(classes, files: dict, traces: int) -> None:
    need(type(classes) is list, "bad classes")
    ids = set()
    for c in classes:
        need(type(c) is dict and is_int(c.get("id"), 0, MAX_ID) and c["id"] not in ids,
             "a class without a valid id")
        ids.add(c["id"])
        need(type(c.get("name")) is str and type(c.get("raw_name")) is str and
             is_int(c.get("trace"), 0, traces - 1) and is_int(c.get("rows"), 0) and
             c.get("file") in files, f"class {c['id']}: bad description")
        fields = c.get("fields")
        need(type(fields) is list and all(
            type(f) is list and len(f) == 2 and type(f[0]) is str and type(f[1]) is str
            for f in fields), f"class {c['id']}: bad fields")
        names = [f[0] for f in fields]
        need(len(set(names)) == len(names) and "@cpu" not in names,
             f"class {c['id']}: repeated fields")


def _discards(discards) -> None:
    need(type(discards) is list and all(
        type(d) is list and len(d) == 7 and type(d[0]) is str and
        (d[1] is None or is_int(d[1], 0)) and _time(d[2]) and _time(d[3]) and
        (d[4] is None or is_int(d[4])) and is_int(d[5], 0) and
        (d[6] is None or type(d[6]) is str) for d in discards), "bad discards")


_RECORDS = {
    "passes": lambda r: (is_int(r.get("events"), 0) and _time(r.get("begin_ns")) and
                         _time(r.get("end_ns")) and _discards_ok(r.get("discards"))),
    "rules": lambda r: (is_str_list(r.get("key_names")) and is_str_list(r.get("field_names"))
                        and type(r.get("key_array")) is bool and type(r.get("groups")) is list
                        and type(r.get("outcomes")) is str and is_int(r.get("rows"), 0)),
    "models": lambda r: (type(r.get("facts")) is dict and type(r.get("store")) is bool and
                         is_int(r.get("begin_ns")) and is_int(r.get("end_ns"))),
    "analyses": lambda r: (type(r.get("blame")) is str and type(r.get("lazy")) is bool and
                           is_int(r.get("slow"), 0) and is_int(r.get("limit"), 0) and
                           is_int(r.get("unattributed"), 0) and is_str_list(r.get("caveats")) and
                           is_int(r.get("graph_intervals"), 0) and
                           type(r.get("kinds")) is list and all(map(is_str_list, r["kinds"]))),
}


def _discards_ok(value) -> bool:
    try:
        _discards(value)
    except Bad:
        return False
    return True


def _sections(body: dict, files: dict) -> None:
    for section, fits in _RECORDS.items():
        records = body.get(section, {})
        need(type(records) is dict, f"bad {section}")
        for key, record in records.items():
            need(type(record) is dict and _number(record.get("stored")) and fits(record) and
                 (section == "passes" or record.get("file") in files),
                 f"{section} {key}: bad record")


# -- files, against the manifest ---------------------------------------------------------

def check_columns(table: pa.Table, name: str, expected: dict) -> None:
    """Bad unless ``table`` has exactly the columns ``expected`` names ({column: the
    Arrow types it may be of, or None: any primitive type}), in that order."""
    need(table.column_names == list(expected), f"{name}: other columns than listed")
    for column, types in expected.items():
        kind = table.schema.field(column).type
        need(pa.types.is_null(kind) or kind in (types or _PRIMITIVE),
             f"{name}: column {column} of type {kind}")


def field_types(fields: list) -> dict:
    """``{field: the Arrow types its values may be stored as}`` of a class's fields."""
    return {field: FIELD_TYPES.get(kind) for field, kind in fields}


def no_nulls(array, name: str) -> None:
    need(array.null_count == 0, f"{name}: missing values")
