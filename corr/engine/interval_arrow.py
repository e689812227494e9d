"""The intervals of rules as typed Arrow tables: Parquet's, and ``RunResult.intervals``.

The columns of :mod:`corr.engine.interval_columns`, with their types: times,
durations and thread ids int64, names strings, ``lossy`` bool, each key
part as its values are (int64 for a tid, string for a name), and one
struct column ``fields`` with a child per captured field, typed by its
values; a rule without a field has a null there.  A column whose values
differ in type from rule to rule is a string column.  A table a block of
rows at a time, so that a writer never holds it whole.
"""

from __future__ import annotations

INT_COLUMNS = ("start_ns", "end_ns", "duration_ns", "tid", "cpu", "exit_tid", "exit_cpu")
STRING_COLUMNS = ("rule", "status", "comm", "exit_comm")


def arrow_tables(rules):
    """``(schema, tables)``: the schema of the intervals of ``rules`` (RuleResults) and
    an iterator of Arrow tables of that schema, one a block of rows."""
    import pyarrow as pa

    from .interval_columns import COLUMNS, blocks, layout
    key_parts, field_names = layout(rules)
    types = {c: pa.int64() for c in INT_COLUMNS}
    types.update({c: pa.string() for c in STRING_COLUMNS})
    types["lossy"] = pa.bool_()
    # A group of several values (group_by: [a, b]) is its JSON text, as in CSV.
    types["group"] = _common([pa.string() if any(isinstance(v, tuple) for v in r.group_values)
                              else _inferred(r.group_values) for r in rules
                              if r.group_values])
    for part in key_parts:
        types[f"key.{part}"] = _common([_key_type(r, part) for r in rules
                                        if part in r.intervals.key_names])
    seen: dict = {name: [] for name in field_names}     # each rule's type of each field
    for r in rules:
        captured = r.intervals.fields                   # read once (a spilled table builds it)
        for name in r.intervals.field_names:
            seen[name].append(_inferred(captured[name]))
    field_types = {name: _common(types) for name, types in seen.items()}
    names = COLUMNS + [f"key.{p}" for p in key_parts]
    schema = [pa.field(c, types[c]) for c in names]
    if field_names:
        schema.append(pa.field("fields", pa.struct([pa.field(f, t) for f, t in field_types.items()])))
    schema = pa.schema(schema)

    def tables():
        for _, columns in blocks(rules, key_parts, field_names):
            arrays = [_array(columns[c], types[c]) for c in names]
            if field_names:
                children = [_array(columns[f"fields.{f}"], t) for f, t in field_types.items()]
                arrays.append(pa.StructArray.from_arrays(
                    children, fields=list(schema.field("fields").type)))
            yield pa.Table.from_arrays(arrays, schema=schema)
    return schema, tables()


def arrow_table(rules):
    """The intervals of ``rules`` as one Arrow table (see :func:`arrow_tables`)."""
    import pyarrow as pa
    schema, tables = arrow_tables(rules)
    return pa.concat_tables([schema.empty_table(), *tables])


def _key_type(r, part: str):
    import pyarrow as pa
    names = r.intervals.key_names
    keys = r.intervals.key
    if not isinstance(keys, list):                 # one integer a key
        return pa.int64() if names.index(part) == 0 else pa.null()
    at = names.index(part)
    return _inferred([(k[at] if at < len(k) else None) if type(k) is tuple
                      else (k if at == 0 else None) for k in keys])


def _inferred(values):
    """The Arrow type of a column's values (string when they are of several kinds)."""
    import pyarrow as pa
    if not len(values):
        return pa.null()
    try:
        return pa.array(values).type
    except UnicodeEncodeError:
        return _inferred(_escaped(values))
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return pa.string()


def _common(types):
    """One type for a column from each rule's: theirs if they agree (nulls aside),
    int64 for integers that all fit it, else string."""
    import pyarrow as pa
    kinds = {t for t in types if t != pa.null()}
    if not kinds:
        return pa.null()
    if len(kinds) == 1:
        (only,) = kinds
        return pa.int64() if pa.types.is_integer(only) and only != pa.uint64() else only
    if all(pa.types.is_integer(t) and t != pa.uint64() for t in kinds):
        return pa.int64()
    return pa.string()


def _array(values, kind):
    """``values`` as an Arrow array of ``kind``; a string column takes any value as its
    text (JSON for lists and structures), and a string from a trace that is not UTF-8
    keeps its bytes as backslash escapes."""
    import pyarrow as pa
    if pa.types.is_string(kind):
        values = [None if v is None else _text(v) for v in values]
    elif pa.types.is_null(kind):
        return pa.nulls(len(values))
    try:
        return pa.array(values, type=kind)
    except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeEncodeError):
        if not _has_strings(kind):
            raise
        return pa.array(_escaped(values), type=kind)


def _text(value) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple, dict)):
        import json
        return json.dumps(value)
    return str(value)


def _has_strings(kind) -> bool:
    import pyarrow as pa
    return pa.types.is_string(kind) or pa.types.is_list(kind) or pa.types.is_struct(kind)


def _escaped(value):
    """Strings with surrogate escapes (bytes that were not UTF-8) as ``\\xff``."""
    if isinstance(value, str):
        from ..text import undecoded
        return undecoded(value)
    if isinstance(value, list):
        return [_escaped(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_escaped(v) for v in value)
    if isinstance(value, dict):
        return {k: _escaped(v) for k, v in value.items()}
    return value
