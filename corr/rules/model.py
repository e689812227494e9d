"""What a rule file says, once parsed and checked: the engine's input.

A rule pairs an *entry* event with an *exit* event that share a *key*,
like the latency_tracker's ``event_in``/``event_out``; see docs/rules.md.
Expressions (keys, ``where`` filters, ``group_by``) are compiled to plain
Python callables by :mod:`corr.rules.expr`: nothing is ever ``eval``ed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MATCH_POLICIES = ("nest", "fifo", "first", "last")
BLAME_CHOICES = ("entry", "exit")        # or the name of a key part holding a tid
# An interval's statuses, by their code in the engine's tables (corr.engine.intervals).
STATUS_NAMES = ("complete", "late", "timeout", "incomplete")
DEFAULT_REPORT = ("complete", "late")    # the statuses ``report:`` names by default


@dataclass(frozen=True)
class Location:
    """Where something was written: for error messages."""

    path: str
    line: int | None = None       # 1-based
    column: int | None = None     # 1-based

    def __str__(self) -> str:
        out = self.path
        if self.line is not None:
            out += f":{self.line}"
            if self.column is not None:
                out += f":{self.column}"
        return out


@dataclass
class Expression:
    """A compiled expression and what it reads.

    ``evaluate(env)`` takes an :class:`Env` and returns the value.
    ``references`` lists every name the expression reads, as
    ``(scope, name)`` with scope ``"event"`` (a field or ``ctx.x`` of the
    event being filtered), ``"entry"``, ``"exit"`` (in pair filters:
    ``("entry", "fd")``, ``("exit", "ctx.vtid")``, ``("entry", "$tid")``),
    ``"builtin"`` (``$cpu``, ``$tid``, ``$syscall`` of the event, or
    ``$duration`` of a pair, named without the ``$``) or ``"key"`` (a key
    part named bare in ``group_by``).  See :mod:`corr.rules.expr`.
    """

    text: str
    evaluate: Callable[["Env"], object]
    references: frozenset[tuple[str, str]]
    location: Location
    # When the whole expression is one name: (scope, name).  The engine
    # reads such keys straight from the batch's columns.
    reference: tuple[str, str] | None = None
    # When it is ``a == b`` of two names: ((scope, name), (scope, name)).
    # The engine compares such pair filters without evaluating them.
    equality: tuple[tuple[str, str], tuple[str, str]] | None = None
    # What it was compiled from (a lark-free parse tree, its scope and the
    # key parts it may name): enough to compile it again after unpickling.
    tree: object = field(default=None, repr=False, compare=False)
    scope: str = "event"
    key_parts: tuple[str, ...] = ()

    def __reduce__(self):
        """Pickled as its tree (the rule cache): compiled closures do not pickle."""
        from .expr import compile_tree
        return compile_tree, (self.text, self.tree, self.scope, self.location, self.key_parts)


class Env:
    """Values an expression can read; the engine builds one per evaluation.

    ``event``/``entry``/``exit`` are mappings (anything with ``.get``) from
    field names (payload fields by name, contexts as ``ctx.<name>``) to
    values; ``builtins`` maps builtin names without the ``$`` (``cpu``,
    ``tid``, ``name``, ``syscall``, ``duration``, ...) to values.  A name
    that is absent reads as None.

    In pair scope an event builtin of the entry or exit event keeps its
    ``$``: ``entry.$tid`` reads ``env.entry.get("$tid")``, so the engine
    puts the entry's builtins into ``entry`` under ``$``-names; the pair's
    own ``$duration`` reads ``env.builtins.get("duration")``.  ``key`` maps
    key part names to the matched key's values (``group_by: [syscall]``).

    ``note``, when given, is called with the reason each time the expression
    gives null because of an error (``'+' of a string and a number``,
    ``division by zero``): the engine counts them in the rule's outcomes.
    """

    __slots__ = ("event", "entry", "exit", "builtins", "key", "note")

    def __init__(self, event=None, entry=None, exit=None, builtins=None, key=None, note=None):
        self.event = event or {}
        self.entry = entry or {}
        self.exit = exit or {}
        self.builtins = builtins or {}
        self.key = key or {}
        self.note = note


@dataclass
class KeyPart:
    """One named part of a key: how to compute it on an entry or exit event."""

    name: str
    expression: Expression


@dataclass
class EventSpec:
    """The entry, exit or cancel side of a rule."""

    events: list[str]                  # names or globs; "a|b": a if the trace has it, else b
    key: list[KeyPart]                 # exit and cancel keys list their parts in the entry's order
    where: Expression | None = None    # on this event alone (scope "event")
    fields: list[str] = field(default_factory=list)   # extra fields kept on intervals
    location: Location | None = None   # where its ``event`` value is written


OCCURS = ("must", "may", "must_not")


@dataclass
class Step:
    """An event between a rule's entry and its exit (``steps:``, docs/rules.md).

    ``occurs`` says what it must do for the interval to count: ``must``
    happen, ``may`` happen, ``must_not`` happen; only occurrences within
    ``within_ns`` of the entry are seen.  Its captured values (the last
    occurrence's) are read as ``steps.NAME.FIELD`` in the rule's ``where``
    and ``group_by`` and kept by its ``fields``.
    """

    name: str
    spec: EventSpec                    # event, key (the entry's parts), where, fields
    occurs: str = "may"
    within_ns: int | None = None


@dataclass
class Rule:
    name: str
    entry: EventSpec
    exit: EventSpec
    description: str | None = None
    cancel: list[EventSpec] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)   # between entry and exit
    threshold_ns: int | None = None
    timeout_ns: int | None = None
    match: str = "nest"
    group_by: list[Expression] = field(default_factory=list)   # scopes entry/exit/builtin
    where: Expression | None = None    # on the matched pair (scopes entry, exit, builtin)
    blame: str | None = None           # issue 4: whose time a breakdown explains
    # Code stacks (docs/stacks.md): the blamed thread's call chain at its switch-out
    # and each waker's at its wakeup; only with ``blame``.
    stacks: bool = False
    # Kernel activity per interval (docs/scheduling.md): system calls, IRQs and
    # softirqs, CPU time, migrations of the threads involved; only with ``blame``.
    activity: bool = False
    # The statuses whose intervals may be slow (listed among the slowest, counted over
    # the threshold, blamed): complete and late by default; incomplete and timeout
    # ones measured up to the trace's end or their deadline.
    report: list[str] = field(default_factory=lambda: list(DEFAULT_REPORT))
    # Groups with fewer complete and late intervals than this are left out of the
    # group table (None: every group is shown).
    min_count: int | None = None
    location: Location | None = None
    # A span rule measures one event that carries its own duration (an
    # expression in ns): the interval ends at the event.  Its entry and
    # exit are the same EventSpec.
    span_duration: Expression | None = None
    # A count rule counts one event's occurrences (docs/rules.md, "count"): matched as
    # a span of zero duration, reported as counts, per ``window_ns`` when given.
    count: EventSpec | None = None     # its event (the entry and exit both)
    window_ns: int | None = None

    @property
    def is_count(self) -> bool:
        return self.count is not None

    @property
    def is_span(self) -> bool:
        return self.span_duration is not None

    def to_dict(self) -> dict:
        """The rule's fields that its JSON shows (corr/rules/fields.py: ``in_json``)."""
        from .fields import FIELDS
        return {f.attribute: getattr(self, f.attribute) for f in FIELDS if f.in_json}

    def overridable_values(self) -> dict:
        """``{key: value}`` of what ``--set`` may change (``threshold``, ``timeout``)."""
        from .fields import FIELDS
        return {f.key: getattr(self, f.attribute) for f in FIELDS if f.overridable}


@dataclass
class RuleSet:
    path: str
    version: int
    rules: list[Rule]
    text: str | None = field(default=None, repr=False)       # the file's text
    _document: object = field(default=None, init=False, repr=False, compare=False)
    # (rule name, attribute, text) set since, not yet in a parsed document.
    _pending: list = field(default_factory=list, init=False, repr=False, compare=False)

    @property
    def document(self) -> Any:
        """The round-trip YAML document (ruamel.yaml), kept so that a tuned
        threshold can be written back with comments and layout intact.

        A rule set from the cache (:mod:`corr.rules.cache`) parses it from
        ``text`` when first asked: most runs never need it, nor ruamel.yaml
        (a ``--set`` waits for it too: see :meth:`set_in_document`).
        """
        if self._document is None and self.text is not None:
            from .loader import read_document
            self._document = read_document(self.text, self.path)
        if self._pending and self._document is not None:
            from .loader import _document_rule
            for name, attribute, text in self._pending:
                node = _document_rule(self._document, name)
                if node is not None:
                    node[attribute] = text
            self._pending.clear()
        return self._document

    @document.setter
    def document(self, value) -> None:
        self._document = value

    def set_in_document(self, name: str, attribute: str, text: str) -> None:
        """Record a rule's new ``attribute`` value in the document, when it is read."""
        self._pending.append((name, attribute, text))

    def copy(self) -> "RuleSet":
        """A rule set whose thresholds, timeouts and document change apart from this
        one's: what the library's overrides are applied to (its caller's stays as
        given).  Expressions and event specs are shared: nothing changes them."""
        import copy
        twin = RuleSet(self.path, self.version, [copy.copy(r) for r in self.rules], self.text)
        if self._document is not None:
            twin._document = copy.deepcopy(self._document)
        twin._pending = list(self._pending)
        return twin

    def rule(self, name: str) -> Rule:
        for r in self.rules:
            if r.name == name:
                return r
        raise KeyError(name)
