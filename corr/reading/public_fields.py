"""Plain Python values from bt2's public field objects (fallback path).

Gives exactly what :mod:`native_fields` gives, through the documented API.
"""

from __future__ import annotations

import collections.abc

import bt2

from ..text import undecoded


def to_python(field):
    """Convert a bt2 field object to an int, float, str, bool, list, dict or None."""
    if isinstance(field, bt2._BoolFieldConst):
        return bool(field)
    if isinstance(field, bt2._BitArrayFieldConst):
        return field.value_as_integer
    if isinstance(field, bt2._IntegerFieldConst):
        return int(field)
    if isinstance(field, bt2._RealFieldConst):
        return float(field)
    if isinstance(field, bt2._StringFieldConst):
        if not len(field):                           # bt2 < 2.0.5: see native_fields._get_string
            return ""
        return undecoded(str(field))                 # bytes not UTF-8 came as surrogates
    if isinstance(field, bt2._StructureFieldConst):
        return {name: to_python(value) for name, value in field.items()}
    if isinstance(field, bt2._ArrayFieldConst):
        return [to_python(value) for value in field]
    if isinstance(field, bt2._OptionFieldConst):
        inner = field.field
        return None if inner is None else to_python(inner)
    if isinstance(field, bt2._VariantFieldConst):
        return to_python(field.selected_option)
    if isinstance(field, collections.abc.Mapping):
        return {name: to_python(value) for name, value in field.items()}
    return None


def type_name(field_class) -> str:
    """The same short type names as :func:`native_fields.type_name`."""
    if isinstance(field_class, bt2._BoolFieldClassConst):
        return "bool"
    if isinstance(field_class, bt2._EnumerationFieldClassConst):
        return "enum"
    if isinstance(field_class, (bt2._IntegerFieldClassConst, bt2._BitArrayFieldClassConst)):
        return "int"
    if isinstance(field_class, bt2._RealFieldClassConst):
        return "float"
    if isinstance(field_class, bt2._StringFieldClassConst):
        return "str"
    if isinstance(field_class, bt2._ArrayFieldClassConst):
        return "list"
    if isinstance(field_class, bt2._StructureFieldClassConst):
        return "dict"
    if isinstance(field_class, bt2._OptionFieldClassConst):
        return "option"
    if isinstance(field_class, bt2._VariantFieldClassConst):
        return "variant"
    return "unknown"
