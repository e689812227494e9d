"""A rule file's bytes to its YAML document, within limits that make any input quick.

Rule files are small, hand-written or generated data.  Whatever a file
holds -- a FIFO or a device in its place, megabytes of text, bytes that are
not UTF-8, control characters, an alias bomb, nesting a thousand levels
deep, a 5,000-digit integer, a ``!!python/object`` tag -- loading it ends
at once in a document or in one :class:`~corr.errors.RuleError` at
file:line:col:

- only regular files are read, and at most :data:`MAX_BYTES` of them
  (opening does not wait on a FIFO);
- bytes that are not UTF-8, and characters YAML does not allow, are
  located by line and column, not by offset;
- nesting is at most :data:`MAX_DEPTH` levels, counted with aliases
  expanded;
- aliases are allowed (``key: *k`` shares one key between entry and exit)
  but may add at most :data:`MAX_ALIAS_NODES` nodes once expanded: an alias
  of an alias of ... (a "billion laughs") is refused where it crosses the
  bound, before anything is expanded.  A bound keeps the useful sharing
  that refusing aliases outright would forbid;
- explicit tags other than the core schema's (``!!str``, ``!!int``,
  ``!!float``, ``!!bool``, ``!!null``, ``!!seq``, ``!!map``) are refused:
  ``!!omap``, ``!!set``, ``!!binary``, ``!!timestamp`` or application tags
  would build values no rule field takes;
- integers are at most :data:`MAX_NUMBER_CHARS` characters (Python refuses
  to read integers of more than 4,300 digits, and no field needs 30).
"""

from __future__ import annotations

import re
import warnings

from ..errors import RuleError

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 32
MAX_ALIAS_NODES = 10_000
MAX_NUMBER_CHARS = 30

CORE_TAGS = frozenset(f"tag:yaml.org,2002:{name}"
                      for name in ("str", "int", "float", "bool", "null", "seq", "map"))

# What YAML 1.2 allows in a stream (ruamel.yaml's reader refuses the rest by offset).
_NOT_ALLOWED = re.compile("[^\x09\x0A\x0D\x20-\x7E\x85\xA0-\uD7FF\uE000-\uFFFD"
                          "\U00010000-\U0010FFFF]")


def read_text(path: str) -> str:
    """The text of the rule file at ``path``: a regular file or a pipe (``<(...)``),
    at most MAX_BYTES, UTF-8; a FIFO nobody writes to or ``/dev/zero`` is one RuleError."""
    from ..paths import PathError, read_bounded
    try:
        data = read_bounded(path, MAX_BYTES, "rule file")
    except PathError as err:
        raise RuleError(err.path, None, None, err.cause) from None
    return decode(data, path)


def decode(data: bytes, path: str) -> str:
    """``data`` as UTF-8 text; else a RuleError at the line and column of the first bad byte."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line, column = _line_column(data[:err.start].decode("utf-8", "replace"))
        raise RuleError(path, line, column, f"cannot read: not UTF-8 text "
                                            f"(byte {data[err.start]:#04x})") from None


def check_characters(text: str, path: str) -> None:
    """A RuleError at the first character YAML does not allow (a control character...)."""
    found = _NOT_ALLOWED.search(text)
    if found is not None:
        line, column = _line_column(text[:found.start()])
        raise RuleError(path, line, column,
                        f"yaml: character {found.group()!r} is not allowed in a YAML file "
                        f"(write it as an escape in a double-quoted string)")


def load_yaml(text: str, path: str):
    """The round-trip document of ``text`` (comments and positions kept), within the limits."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    check_characters(text, path)
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.Composer = _limited_composer()
    try:
        with warnings.catch_warnings():       # a reused anchor is valid YAML: no stderr noise
            warnings.simplefilter("ignore")
            return yaml.load(text)
    except _LimitError as err:
        raise RuleError(path, err.mark.line + 1, err.mark.column + 1, err.message) from None
    except MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        problem = err.problem or err.context or "not valid YAML"
        line, column = (mark.line + 1, mark.column + 1) if mark else (None, None)
        raise RuleError(path, line, column, f"yaml: {_one_line(problem)}") from None
    except YAMLError as err:
        raise RuleError(path, None, None, f"yaml: {_one_line(str(err))}") from None


class _LimitError(Exception):
    """A limit crossed at a YAML mark."""

    def __init__(self, message, mark):
        super().__init__(message)
        self.message = message
        self.mark = mark


_composer_class = None


def _limited_composer():
    """ruamel.yaml's Composer, counting depth and alias expansion and refusing odd tags."""
    global _composer_class
    if _composer_class is not None:
        return _composer_class
    from ruamel.yaml.composer import Composer
    from ruamel.yaml.events import AliasEvent, ScalarEvent

    class LimitedComposer(Composer):
        def compose_document(self):
            # Per node (by id): its (node count, height) with aliases expanded.
            self.expanded = {}
            self.alias_nodes = 0
            self.warn_double_anchors = False
            return super().compose_document()

        def compose_node(self, parent, index):
            event = self.parser.peek_event()
            if isinstance(event, AliasEvent):
                node = super().compose_node(parent, index)
                size = self.expanded.get(id(node))
                if size is None:
                    raise _LimitError(f"yaml: alias *{event.anchor} is inside the node it "
                                      f"names (a recursive structure)", event.start_mark)
                count, height = size
                self.alias_nodes += count
                if self.alias_nodes > MAX_ALIAS_NODES:
                    raise _LimitError(f"yaml: aliases expand to more than {MAX_ALIAS_NODES:,} "
                                      f"nodes (an alias bomb?)", event.start_mark)
                if self.depth + height > MAX_DEPTH:
                    raise _LimitError(f"yaml: nested more than {MAX_DEPTH} levels deep "
                                      f"(with alias *{event.anchor} expanded)", event.start_mark)
                return node
            if self.depth + 1 > MAX_DEPTH:
                raise _LimitError(f"yaml: nested more than {MAX_DEPTH} levels deep",
                                  event.start_mark)
            tag = event.ctag if hasattr(event, "ctag") else event.tag
            if tag is not None and str(tag) != "!" and _tag_uri(tag) not in CORE_TAGS:
                raise _LimitError(f"yaml: tag {_tag_text(tag)} is not allowed: a rule file holds "
                                  f"mappings, lists, strings, numbers and booleans",
                                  event.start_mark)
            if isinstance(event, ScalarEvent) and len(event.value) > MAX_NUMBER_CHARS:
                self._check_number(event)
            node = super().compose_node(parent, index)
            children = (node.value if isinstance(node.value, list) else ())
            count, height = 1, 0
            for child in children:
                for part in (child if isinstance(child, tuple) else (child,)):
                    c, h = self.expanded[id(part)]
                    count += c
                    height = max(height, h)
            self.expanded[id(node)] = (count, height + 1)
            return node

        def _check_number(self, event):
            from ruamel.yaml.nodes import ScalarNode
            tag = event.ctag if hasattr(event, "ctag") else event.tag
            if tag is None or str(tag) == "!":
                tag = self.resolver.resolve(ScalarNode, event.value, event.implicit)
            if _tag_uri(tag) == "tag:yaml.org,2002:int":
                raise _LimitError(f"yaml: integer of {len(event.value):,} characters "
                                  f"(at most {MAX_NUMBER_CHARS})", event.start_mark)

    _composer_class = LimitedComposer
    return LimitedComposer


def _tag_uri(tag) -> str:
    for attribute in ("trval", "value"):
        value = getattr(tag, attribute, None)
        if isinstance(value, str):
            return value
    return str(tag)


def _tag_text(tag) -> str:
    handle, suffix = getattr(tag, "handle", None), getattr(tag, "suffix", None)
    text = f"{handle or ''}{suffix or ''}" if suffix is not None else str(tag)
    return repr(text if len(text) <= 40 else text[:40] + "...")


def _line_column(before: str) -> tuple[int, int]:
    """1-based line and column just after the text ``before``."""
    line = before.count("\n") + 1
    return line, len(before) - (before.rfind("\n") + 1) + 1


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()

