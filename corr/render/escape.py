"""Strings from a trace, made harmless for each output they reach.

A trace is input from anyone: a thread can name itself ``\\x1b[2J`` (clear
the screen), ``\\x1b]0;title\\x07`` (retitle the terminal), ``=cmd|' /C
calc'!A0`` (a spreadsheet formula), ``[bold]x[/]`` (rich markup), put a
newline or a right-to-left override (U+202E) in a table cell, or hold bytes
that are not UTF-8.  Every renderer passes the strings it took from a trace
(thread names, key parts, group values, captured fields, event names)
through the one function here for its kind of output:

* :func:`terminal`: control characters (C0, DEL, C1), line and paragraph
  separators, bidirectional and invisible format characters written as
  ``\\x1b``, ``\\n``, ``\\u202e``: never sent raw.  Markup is never read
  (the renderers print trace strings as ``rich.text.Text``).
* :func:`csv_cell`: a text cell a spreadsheet would run as a formula (it
  starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return) gets a
  ``'`` in front, as OWASP recommends; numbers stay numbers.
* :func:`xml`: characters XML 1.0 does not allow written as ``\\x1b``.
* :func:`dot_quoted`: a DOT quoted string, shown as :func:`terminal` shows it.
* :func:`folded_frame`: a frame of a folded stack, without ``;`` or a line
  break (``\\x3b``, ``\\n``); :func:`code_frame` also never reads as
  flamegraph.pl's ``--`` separator (a symbol name is input from anyone too).

Bytes that are not UTF-8 become ``\\xNN`` text where a trace is decoded
(``corr.reading``); :func:`undecoded` (from :mod:`corr.text`, which the
readers share) does the same for a string that still holds them as
surrogate escapes (Python's ``surrogateescape``), so that every
output shows them alike: ``\\xff``, never raw bytes, never an encoding error.
A backslash of the trace's own is left as it is.
"""

from __future__ import annotations

import re

from ..text import escaped as _escaped
from ..text import undecoded

_TERMINAL = re.compile(
    "[\x00-\x1f\x7f-\x9f"                     # C0, DEL, C1 (ESC, CSI, OSC, NUL, newline...)
    "\u061c\u200b-\u200f\u2028-\u202e"        # bidi marks, zero widths, separators, overrides
    "\u2060-\u2069\ufeff\ufff9-\ufffb"        # isolates, invisible operators, BOM, annotations
    "\ud800-\udfff]")                         # bytes that were not UTF-8
# XML 1.0's Char: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_FOLDED = re.compile(";")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def terminal(value) -> str:
    """``str(value)`` safe to print on a terminal: every control, separator, bidi or
    invisible format character written as an escape (``\\x1b``, ``\\n``, ``\\u202e``)."""
    text = value if type(value) is str else str(value)
    return _TERMINAL.sub(_escaped, text)


def csv_cell(value):
    """A CSV cell: a string with bytes that were not UTF-8 as ``\\xNN``, and a ``'``
    before one a spreadsheet would take for a formula; any other value as it is."""
    if type(value) is not str:
        return value
    value = undecoded(value)
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def xml(value):
    """A string an XML 1.0 document can hold: what XML forbids (most C0 controls, bytes
    that were not UTF-8, U+FFFE, U+FFFF) as ``\\x1b``; any other value as it is."""
    if type(value) is not str:
        return value
    return _NOT_XML.sub(_escaped, value)


def dot_quoted(value) -> str:
    """A DOT quoted string (``"..."``) of ``value`` as :func:`terminal` shows it; its
    backslashes doubled, so Graphviz draws them rather than reading ``\\n`` or ``\\N``."""
    text = terminal(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def folded_frame(value) -> str:
    """A frame of a folded stack (``a;b;c 123``): as :func:`terminal` shows it (no line
    break), ``;`` as ``\\x3b`` (it separates frames); ``?`` when empty."""
    return _FOLDED.sub("\\\\x3b", terminal(value)).strip() or "?"


SEPARATOR = "--"                # flamegraph.pl: the blocked stack ends, the waker's begins


def code_frame(value) -> str:
    """A code frame (``function+0x1a (dso)``) of a folded stack: :func:`folded_frame`,
    and a frame that reads ``--`` (the separator) as ``\\x2d\\x2d``."""
    text = folded_frame(value)
    return "\\x2d\\x2d" if text == SEPARATOR else text
