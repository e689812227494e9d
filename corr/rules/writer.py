"""Writing tuned thresholds back into a rule file, keeping everything else as it was.

ruamel.yaml's round-trip parser tells where each rule's ``threshold:`` (or
``timeout:``) value starts in the file; only the characters of that value
are replaced, in the quotes it had.  Dumping the whole round-trip document
instead would keep the comments but not the layout: ruamel re-indents
sequences and re-spaces flow mappings unless told each file's exact style.
A rule without the key gets one line after its ``name:``, at the same
indentation.  The new text is checked by loading it again before it is
written, and written atomically (a temporary file renamed into place).
"""

from __future__ import annotations

import os
import re

from ..errors import CorrError, UsageError
from .fields import BY_KEY
from .units import format_duration

_PLAIN_VALUE = re.compile(r"[^\s,\]}#]+")


def updated_text(text: str, path: str, changes: dict[str, dict[str, int]]) -> str:
    """``text`` with ``changes`` ({rule: {"threshold"|"timeout": ns}}) applied."""
    from .loader import _document_rule, parse_rules, read_document

    document = read_document(text, path)
    lines = text.splitlines(keepends=True)
    edits = []                                   # (line, column, old length, new text)
    for name, values in changes.items():
        node = _document_rule(document, name)
        if node is None:
            raise UsageError(f"{path}: no rule {name!r} to write")
        for key, ns in values.items():
            if ns is None:
                raise UsageError(f"{path}: rule {name!r}: cannot write an empty {key}")
            edits.append(_edit(node, key, format_duration(ns), lines, path, name))
    for line, column, length, new in sorted(edits, reverse=True):
        if line == len(lines):                   # an insertion after the last line
            if lines and not lines[-1].endswith("\n"):
                lines[-1] += "\n"
            lines.append("")
        lines[line] = lines[line][:column] + new + lines[line][column + length:]
    out = "".join(lines)
    ruleset = parse_rules(out, path)
    for name, values in changes.items():
        rule = ruleset.rule(name)
        for key, ns in values.items():
            if getattr(rule, BY_KEY[key].attribute) != ns:
                raise CorrError(f"{path}: rule {name!r}: writing {key} {format_duration(ns)} "
                                f"did not give that {key} back")
    return out


def write_rule_file(ruleset, path: str | os.PathLike, changes: dict[str, dict[str, int]]) -> None:
    """Write ``ruleset``'s file text with ``changes`` applied to ``path``."""
    from ..paths import atomic_write

    path = os.fspath(path)
    if ruleset.text is None:
        raise UsageError(f"{ruleset.path}: the rule set has no file text to write back")
    text = updated_text(ruleset.text, ruleset.path, changes)

    def write(tmp):
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
    try:
        atomic_write(path, write)
    except OSError as exc:
        from .loader import _lower
        raise CorrError(f"{path}: cannot write: {_lower(exc.strerror or str(exc))}") from None


def _edit(node, key, new, lines, path, name):
    """Where to put ``key: new`` in the file: (line, column, characters replaced, text)."""
    if key in node:
        line, column = node.lc.value(key)
        source = lines[line]
        quote = source[column:column + 1]
        if quote in ("'", '"'):
            end = source.index(quote, column + 1)
            return line, column + 1, end - column - 1, new
        match = _PLAIN_VALUE.match(source, column)
        return line, column, len(match.group()) if match else 0, new
    if node.fa.flow_style():
        raise UsageError(f"{path}: rule {name!r} is a flow mapping ({{...}}) without {key}: "
                         f"add '{key}:' to it by hand once")
    line, column = node.lc.key("name")
    return line + 1, 0, 0, f"{' ' * column}{key}: {new}\n"
