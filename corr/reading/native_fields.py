"""Converters from bt2 field pointers to plain Python values (native path).

For each field class, once, we build a small function that reads a field of
that class through bt2's native functions.  Scalars are one call each;
compound fields recurse.  The values match what :mod:`public_fields` gets
through the public API, which the differential test checks.
"""

from __future__ import annotations

from collections.abc import Callable

from bt2 import _native_bt as N
from bt2 import native_bt as nbt

from ..text import undecoded

Converter = Callable[[object], object]

_T = nbt  # field class type constants live on the wrapper module


def _is(fc_type: int, base: int) -> bool:
    return (fc_type & base) == base


# Field kinds the C decoder (_fastsink.c) reads itself.
(C_SIGNED, C_UNSIGNED, C_STRING, C_DOUBLE, C_SINGLE, C_BOOL, C_BIT_ARRAY,
 C_SIGNED_ARRAY, C_UNSIGNED_ARRAY) = range(9)


def _get_bool(f):
    return bool(N.field_bool_get_value(f))


def _get_string(f):
    # libbabeltrace2 < 2.0.5 leaves an emptied string field's old text in
    # place: an empty string reads as an earlier event's.  Its length is right.
    if not N.field_string_get_length(f):
        return ""
    return undecoded(N.field_string_get_value(f))   # bytes not UTF-8 came as surrogates


# Scalar field class types, most specific first:
# (type, short name, native reader, C kind).
_SCALARS = (
    (_T.FIELD_CLASS_TYPE_BOOL, "bool", _get_bool, C_BOOL),
    (_T.FIELD_CLASS_TYPE_BIT_ARRAY, "int", N.field_bit_array_get_value_as_integer, C_BIT_ARRAY),
    (_T.FIELD_CLASS_TYPE_SIGNED_INTEGER, "int", N.field_integer_signed_get_value, C_SIGNED),
    (_T.FIELD_CLASS_TYPE_UNSIGNED_INTEGER, "int", N.field_integer_unsigned_get_value, C_UNSIGNED),
    (_T.FIELD_CLASS_TYPE_SINGLE_PRECISION_REAL, "float",
     N.field_real_single_precision_get_value, C_SINGLE),
    (_T.FIELD_CLASS_TYPE_DOUBLE_PRECISION_REAL, "float",
     N.field_real_double_precision_get_value, C_DOUBLE),
    (_T.FIELD_CLASS_TYPE_STRING, "str", _get_string, C_STRING),
)
_COMPOUND_NAMES = (
    (_T.FIELD_CLASS_TYPE_ARRAY, "list"), (_T.FIELD_CLASS_TYPE_STRUCTURE, "dict"),
    (_T.FIELD_CLASS_TYPE_OPTION, "option"), (_T.FIELD_CLASS_TYPE_VARIANT, "variant"),
)


def _scalar(fc):
    """The _SCALARS entry of a field class, or None for a compound one."""
    t = N.field_class_get_type(fc)
    for entry in _SCALARS:
        if _is(t, entry[0]):
            return entry
    return None


def type_name(fc) -> str:
    """A short type name for a field class (shown by `corr inspect`)."""
    t = N.field_class_get_type(fc)
    if _is(t, _T.FIELD_CLASS_TYPE_ENUMERATION):
        return "enum"
    scalar = _scalar(fc)
    if scalar is not None:
        return scalar[1]
    return next((name for base, name in _COMPOUND_NAMES if _is(t, base)), "unknown")


def c_kind(fc) -> int | None:
    """The _fastsink kind of a field class: scalars and integer arrays; None: Python only."""
    scalar = _scalar(fc)
    if scalar is not None:
        return scalar[3]
    if _is(N.field_class_get_type(fc), _T.FIELD_CLASS_TYPE_ARRAY):
        element = c_kind(N.field_class_array_borrow_element_field_class_const(fc))
        return {C_SIGNED: C_SIGNED_ARRAY, C_UNSIGNED: C_UNSIGNED_ARRAY}.get(element)
    return None


def converter(fc) -> Converter:
    """The function that turns a field of class ``fc`` into a Python value."""
    scalar = _scalar(fc)
    if scalar is not None:
        return scalar[2]
    t = N.field_class_get_type(fc)
    if _is(t, _T.FIELD_CLASS_TYPE_STRUCTURE):
        return _structure_converter(fc)
    if _is(t, _T.FIELD_CLASS_TYPE_ARRAY):
        return _array_converter(fc)
    if _is(t, _T.FIELD_CLASS_TYPE_OPTION):
        return _option_converter(fc)
    if _is(t, _T.FIELD_CLASS_TYPE_VARIANT):
        return _variant_converter(fc)
    return lambda f: None


def structure_members(fc) -> list[tuple[int, str, object]]:
    """``(index, name, member field class)`` of a structure field class."""
    if fc is None:
        return []
    out = []
    for i in range(N.field_class_structure_get_member_count(fc)):
        member = N.field_class_structure_borrow_member_by_index_const(fc, i)
        out.append((i, N.field_class_structure_member_get_name(member),
                    N.field_class_structure_member_borrow_field_class_const(member)))
    return out


def _structure_converter(fc) -> Converter:
    borrow = N.field_structure_borrow_member_field_by_index_const
    members = [(i, name, converter(mfc)) for i, name, mfc in structure_members(fc)]

    def convert(f):
        return {name: conv(borrow(f, i)) for i, name, conv in members}
    return convert


def _array_converter(fc) -> Converter:
    element = converter(N.field_class_array_borrow_element_field_class_const(fc))
    length = N.field_array_get_length
    borrow = N.field_array_borrow_element_field_by_index_const

    def convert(f):
        return [element(borrow(f, i)) for i in range(length(f))]
    return convert


def _option_converter(fc) -> Converter:
    content = converter(N.field_class_option_borrow_field_class_const(fc))
    borrow = N.field_option_borrow_field_const

    def convert(f):
        inner = borrow(f)
        return None if inner is None else content(inner)
    return convert


def _variant_converter(fc) -> Converter:
    count = N.field_class_variant_get_option_count(fc)
    options = []
    for i in range(count):
        opt = N.field_class_variant_borrow_option_by_index_const(fc, i)
        options.append(converter(N.field_class_variant_option_borrow_field_class_const(opt)))
    index = N.field_variant_get_selected_option_index
    borrow = N.field_variant_borrow_selected_option_field_const

    def convert(f):
        return options[index(f)](borrow(f))
    return convert

