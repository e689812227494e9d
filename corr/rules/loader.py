"""Rule files: YAML text to a checked :class:`RuleSet`, or one RuleError at file:line:col.

Three passes, each stopping at the first problem it finds:

1. ruamel.yaml's round-trip loader parses the text.  It keeps the line and
   column of every key and item (for error messages) and the comments (so a
   tuned threshold can later be written back without losing them);
2. jsonschema checks the shape against ``schema.json``; of all the errors it
   finds, the one earliest in the file is reported, located through the
   ruamel nodes;
3. the model is built, checking what a schema cannot say: durations, the
   version, unique names, entry and exit keys that agree, expressions.
"""

from __future__ import annotations

import datetime
import functools
import os

from ..collector import collector_paused
from ..errors import OverrideError, RuleError
from ..text import shown as _shown
from .document import load_yaml, read_text
from .expr import MAX_GLOB, parse_expression
from .fields import BY_KEY, FIELDS, OVERRIDABLE, default, rule_schema
from .model import STATUS_NAMES, Env, EventSpec, KeyPart, Location, Rule, RuleSet, Step
from .units import EXAMPLES, MAX_DURATION_NS, parse_duration

SUPPORTED_VERSIONS = (1,)
# Each name or glob of a side is matched against each event class of each
# trace (about 1,200 in a kernel trace): 20,000 took over a minute.
MAX_EVENTS = 1_000
# Every rule is matched against every event of its classes: 2,000 rules on
# sched_switch took 28 s over the 29,000-event example (2.5 million intervals). A file is refused at
# its first rule over the bound, before any rule is built.
MAX_RULES = 1_000


def load_rules(path: str | os.PathLike, cache: bool = True) -> RuleSet:
    """Read and check the rule file at ``path``.

    With ``cache``, a file that was checked before is not checked again: its
    model comes from :mod:`corr.rules.cache` (``CORR_NO_RULE_CACHE=1`` turns
    that off everywhere).
    """
    path = os.fspath(path)
    text = read_text(path)
    if cache:
        from . import cache as rule_cache
        return rule_cache.load(path, text, lambda: parse_rules(text, path))
    return parse_rules(text, path)


def parse_rules(text: str, path: str = "<rules>") -> RuleSet:
    """Check rule-file ``text``; ``path`` only names it in errors."""
    # A long generated expression makes hundreds of thousands of small objects,
    # none of them cyclic garbage: the collector's passes over them took 40% of
    # checking a 40,000-term where.
    with collector_paused():
        return _parse_rules(text, path)


def _parse_rules(text, path):
    document = load_yaml(text, path)
    source = _Source(path, text)
    if document is None:
        raise RuleError(path, 1, 1, "empty file: expected a mapping with version and rules")
    _check_shape(document, source)
    return _Builder(source).ruleset(document)


def apply_overrides(ruleset: RuleSet, assignments: list[str], argument: str = "--set") -> None:
    """Apply ``RULE.threshold=VALUE`` / ``RULE.timeout=VALUE`` assignments, in place.

    All are checked before any is applied.  The values change in the rules
    and in ``ruleset.document`` (when it is read: parsing it costs ruamel.yaml's
    import, which a run never needs), so a later write of the document keeps them.
    Raises :class:`~corr.errors.OverrideError`, its message naming ``argument``
    (the CLI's ``--set``; the library says ``overrides:``).  The library applies
    them to a copy (:meth:`RuleSet.copy`): its caller's rule set never changes.
    """
    changes = [_parse_override(ruleset, assignment, argument) for assignment in assignments]
    for rule, field, text, value in changes:
        setattr(rule, field.attribute, value)
        ruleset.set_in_document(rule.name, field.key, text)


def _parse_override(ruleset, given, argument):
    target, equals, text = given.partition("=")
    assignment = given if len(given) <= 80 else given[:77] + "..."

    def refused(reason):
        return OverrideError(argument, assignment, reason)
    rule_name, dot, attribute = target.strip().rpartition(".")
    text = text.strip()
    if not equals or not dot or not rule_name:
        raise refused("expected " + " or ".join(f"RULE.{key}=VALUE" for key in OVERRIDABLE))
    try:
        rule = ruleset.rule(rule_name)
    except KeyError:
        names = ", ".join(r.name for r in ruleset.rules)
        raise refused(f"no rule {rule_name!r} (rules: {names})") from None
    if attribute not in OVERRIDABLE:
        raise refused(f"cannot set {attribute!r} (only {' and '.join(OVERRIDABLE)})")
    field = BY_KEY[attribute]
    if rule.is_count and not field.in_count:
        raise refused(f"{rule_name!r} is a count rule: it has no {attribute}")
    try:
        value = _OVERRIDE_PARSERS[field.parse](text)
    except _NotPositive:
        raise refused(f"{attribute} must be greater than 0") from None
    except ValueError as err:
        raise refused(str(err)) from None
    return rule, field, text, value


class _NotPositive(ValueError):
    """A duration of 0 where one greater than 0 is needed."""


def _positive_duration(text: str) -> int:
    ns = parse_duration(text)
    if ns == 0:
        raise _NotPositive(text)
    return ns


# How ``--set`` reads the value of each kind of overridable field (RuleField.parse).
_OVERRIDE_PARSERS = {"duration": parse_duration, "positive_duration": _positive_duration}


def _document_rule(document, name):
    rules = document.get("rules") if isinstance(document, dict) else None
    for node in rules or ():
        if isinstance(node, dict) and node.get("name") == name:
            return node
    return None


# -- pass 1: YAML --------------------------------------------------------------

def read_document(text: str, path: str):
    """The round-trip YAML document of a rule file's ``text`` (see RuleSet.document)."""
    return load_yaml(text, path)


class _Source:
    """The file's path and lines: ruamel node positions to Locations."""

    def __init__(self, path, text):
        self.path = path
        self.text = text
        self.lines = text.splitlines()

    def at(self, position) -> Location:
        line0, column0 = position
        return Location(self.path, line0 + 1, column0 + 1)

    def value(self, parent, key) -> Location:
        """Where ``parent[key]`` starts (``key`` an index for a list)."""
        return self.at(_value_position(parent, key))

    def error(self, location: Location, message: str) -> RuleError:
        return RuleError(location.path, location.line, location.column, message)

    def scalar(self, parent, key) -> tuple[Location, bool]:
        """Where the text of scalar ``parent[key]`` starts, and whether it is verbatim there.

        Verbatim (a plain or simply-quoted scalar on one line) lets an
        expression error point at its exact character.
        """
        line0, column0 = _value_position(parent, key)
        value = parent[key]
        line = self.lines[line0] if line0 < len(self.lines) else ""
        if isinstance(value, str) and value and "\n" not in value:
            if line.startswith(value, column0):
                return self.at((line0, column0)), True
            if line[column0:column0 + 1] in ("'", '"') and line.startswith(value, column0 + 1):
                return self.at((line0, column0 + 1)), True
        return self.at((line0, column0)), False


def _own_position(node):
    lc = getattr(node, "lc", None)
    return (lc.line, lc.col) if lc is not None and lc.line is not None else (0, 0)


def _value_position(parent, key):
    try:
        if isinstance(parent, list):
            return parent.lc.item(key)
        if parent[key] is None:        # "entry:" alone: ruamel places it at the next token
            return parent.lc.key(key)
        return parent.lc.value(key)
    except (AttributeError, KeyError, IndexError, TypeError):
        return _own_position(parent)


def _key_position(parent, key):
    try:
        return parent.lc.key(key)
    except (AttributeError, KeyError, TypeError):
        return _own_position(parent)


# -- pass 2: shape, against schema.json ----------------------------------------

@functools.cache
def _validator():
    import json
    from importlib import resources

    from jsonschema import Draft202012Validator

    schema = json.loads(resources.files(__package__).joinpath("schema.json").read_text("utf-8"))
    schema["$defs"]["rule"].update(rule_schema())       # the rule's keys: corr/rules/fields.py
    return Draft202012Validator(schema)


def _check_shape(document, source):
    errors = [(error.validator == "required", _schema_error(error, document, source))
              for error in _validator().iter_errors(_plain(document))]
    if errors:
        # A missing key is often the effect of a misspelt one: report the cause first.
        _, first = min(errors, key=lambda e: (e[0], e[1].line or 0, e[1].column or 0))
        raise first


def _plain(node):
    """Plain JSON-like data for jsonschema (ruamel's scalars subclass int, str...)."""
    from ruamel.yaml.scalarbool import ScalarBoolean

    if isinstance(node, dict):
        return {_plain_key(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, (bool, ScalarBoolean)):
        return bool(node)
    for kind in (int, float, str):
        if isinstance(node, kind):
            return kind(node)
    return node


def _plain_key(key):
    return key if isinstance(key, str) else str(key)


def _walk(document, path):
    """The ruamel node at a jsonschema path, and the original key of its last step."""
    parent, key, node = None, None, document
    for step in path:
        parent = node
        key = step if isinstance(parent, list) else _original_key(parent, step)
        node = parent[key]
    return parent, key, node


def _original_key(mapping, plain_key):
    if plain_key in mapping:
        return plain_key
    return next(k for k in mapping if _plain_key(k) == plain_key)


def _schema_error(error, document, source) -> RuleError:
    path = list(error.absolute_path)
    parent, key, node = _walk(document, path)
    position = _value_position(parent, key) if path else _own_position(document)
    label = _label(path)
    hints = error.schema.get("x-messages", {}) if isinstance(error.schema, dict) else {}
    kind, value = error.validator, error.instance

    if kind == "additionalProperties":
        allowed = list(error.schema.get("properties", {}))
        unknown = [k for k in node if _plain_key(k) not in allowed]
        first = min(unknown, key=lambda k: _key_position(node, k))
        position = _key_position(node, first)
        container = "at the top level" if not path else f"in {_container(path, value)}"
        message = f"unknown key {_shown(_plain_key(first))} {container} (allowed: {', '.join(allowed)})"
    elif kind == "required":
        missing = next(k for k in error.validator_value if k not in value)
        message = f"{_container(path, value)}: missing required key {missing!r}"
    elif "propertyNames" in error.absolute_schema_path:
        position = _key_position(node, _original_key(node, value))
        message = f"{label}: part name {_shown(value)} is not {hints['pattern']}"
    elif kind == "type":
        expected = hints.get("type") or " or ".join(
            _TYPE_NAMES[t] for t in _as_list(error.validator_value))
        message = f"{label}: expected {expected}, got {_describe(value)}"
    elif kind == "enum":
        message = f"{label}: {_shown(value)} is not one of {', '.join(map(str, error.validator_value))}"
    elif kind == "pattern":
        message = f"{label}: {_shown(value)} is not {hints.get('pattern', 'well formed')}"
    elif kind in hints:
        message = f"{label}: {hints[kind]}"
    else:
        message = f"{label}: {_lower(error.message)}"
    return source.error(source.at(position), message)


_TYPE_NAMES = {"string": "a string", "array": "a list", "object": "a mapping",
               "integer": "an integer", "number": "a number", "boolean": "true or false",
               "null": "nothing"}


def _as_list(value):
    return value if isinstance(value, list) else [value]


def _describe(value) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return _shown(value)
    if isinstance(value, datetime.date):
        return f"the date {str(value)!r} (quote it to make it a string)"
    tag = getattr(getattr(value, "tag", None), "value", None)
    if isinstance(tag, str):                   # ruamel keeps an explicit !!str as a TaggedScalar
        return f"a value tagged {tag.replace('tag:yaml.org,2002:', '!!')} (write it without the tag)"
    return f"a {type(value).__name__}"


def _label(path) -> str:
    """``entry.key.tid``, ``group_by[1]``: a path inside a rule, or a top-level key."""
    inside_rule = len(path) >= 2 and path[0] == "rules"
    steps = path[2:] if inside_rule else path
    text = ""
    for step in steps:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else step)
    return text or ("rule" if inside_rule else "top level")


def _container(path, value) -> str:
    """How to name the mapping a key is missing from or unknown in."""
    if len(path) == 2 and path[0] == "rules":
        name = value.get("name") if isinstance(value, dict) else None
        return f"rule {name!r}" if isinstance(name, str) else f"rule {path[1] + 1}"
    return _label(path)


# -- pass 3: the model ---------------------------------------------------------

class _RuleContext:
    """What one field's parsing tells the next: the key's part names (for exit,
    cancel, group_by and blame) and a span rule's entry and exit."""

    def __init__(self):
        self.parts: list[str] = []
        self.sides: dict = {}


class _Builder:
    """Builds the model from a document of the right shape, checking the rest."""

    def __init__(self, source: _Source):
        self.source = source

    def fail(self, parent, key, message):
        raise self.source.error(self.source.value(parent, key), message)

    def ruleset(self, document) -> RuleSet:
        version = document["version"]
        if version not in SUPPORTED_VERSIONS:
            self.fail(document, "version",
                      f"version: unsupported version {version} (this corr reads version 1)")
        nodes = document["rules"]
        if len(nodes) > MAX_RULES:
            self.fail(nodes, MAX_RULES, f"rules: {len(nodes):,} rules (at most {MAX_RULES:,} "
                                        "a file: each is matched against every event it names)")
        rules, first_seen = [], {}
        for index, node in enumerate(nodes):
            name = node["name"]
            if name in first_seen:
                self.fail(node, "name", f"name: duplicate rule name {_shown(name)} "
                                        f"(first at line {first_seen[name].line})")
            first_seen[name] = self.source.value(node, "name")
            rules.append(self.rule(node, self.source.value(nodes, index)))
        ruleset = RuleSet(self.source.path, int(version), rules, self.source.text)
        ruleset.document = document
        return ruleset

    def rule(self, node, location) -> Rule:
        """The rule, each key parsed as :data:`~corr.rules.fields.FIELDS` says, in its order."""
        if "count" in node:
            for field in FIELDS:
                if not field.in_count and field.key in node:
                    self.fail(node, field.key, f"{field.key}: a count rule counts single "
                                               f"events: it has no {field.key}")
        elif "window" in node:
            self.fail(node, "window", "window: only a count rule has one (count: {event: ...})")
        if "span" in node:
            for field in FIELDS:
                if not field.in_span and field.key in node:
                    self.fail(node, field.key, f"{field.key}: a span rule measures single "
                                               f"events: it has no {field.key}")
        context = _RuleContext()
        values = {"location": location}
        for field in FIELDS:
            values[field.attribute] = (getattr(self, "parse_" + field.parse)(node, field, context)
                                       if field.key in node else default(field))
        values.update(context.sides)
        rule = Rule(**values)
        self.check_steps(node, rule)
        return rule

    # -- one method a kind of field (RuleField.parse) ----------------------------------

    def parse_text(self, node, field, context) -> str:
        return str(node[field.key])

    def parse_entry(self, node, field, context) -> EventSpec:
        spec = self.event_spec(node, "entry", "entry")
        context.parts = [part.name for part in spec.key]
        return spec

    def parse_exit(self, node, field, context) -> EventSpec:
        return self.event_spec(node, "exit", "exit", context.parts)

    def parse_cancel(self, node, field, context) -> list[EventSpec]:
        cancels = node["cancel"] or []
        return [self.event_spec(cancels, i, f"cancel[{i}]", context.parts)
                for i in range(len(cancels))]

    def parse_steps(self, node, field, context) -> list[Step]:
        """Events between entry and exit, keyed like the entry (docs/rules.md, Sequences)."""
        nodes = node["steps"] or []
        steps, seen = [], set()
        for i, step in enumerate(nodes):
            label = f"steps[{i}]"
            name = str(step["name"])
            if name in seen:
                self.fail(step, "name", f"{label}.name: duplicate step name {_shown(name)}")
            seen.add(name)
            steps.append(Step(name, self.event_spec(nodes, i, label, context.parts),
                              str(step.get("occurs", "may")), self.duration(step, "within")))
        return steps

    def check_steps(self, node, rule: Rule) -> None:
        """Every ``steps.NAME.FIELD`` that ``where`` and ``group_by`` read names a step."""
        names = {step.name for step in rule.steps}
        for key, expressions in (("where", [rule.where]), ("group_by", rule.group_by)):
            for expression in expressions:
                for scope, name in (expression.references if expression else ()):
                    step = name.split(".", 1)[0]
                    if scope == "steps" and step not in names:
                        known = ", ".join(sorted(names)) or "the rule has none"
                        self.fail(node, key, f"{key}: steps.{name} names no step ({known})")

    def parse_span(self, node, field, context):
        """A rule on one event that carries its duration: its entry and exit both."""
        context.sides = self.single_event(node, field.key, context)
        return self.span_duration(node[field.key])

    def parse_count(self, node, field, context) -> EventSpec:
        """A rule counting one event: matched as a span of zero duration."""
        context.sides = self.single_event(node, field.key, context)
        context.sides["span_duration"] = parse_expression("0", "event")
        return context.sides["entry"]

    def single_event(self, node, label, context) -> dict:
        """A span's or a count's one event, its entry and exit both."""
        one = node[label]
        if "key" in one:
            spec = self.event_spec(node, label, label)
        else:                            # the thread, unless the rule says otherwise
            spec = EventSpec(events=self.events(one, label),
                             key=[KeyPart("tid", parse_expression("$tid", "event"))],
                             where=self.expression(one, "where", f"{label}.where", "event")
                             if "where" in one else None,
                             fields=[str(name) for name in one.get("fields") or []],
                             location=self.source.value(one, "event"))
        context.parts = [part.name for part in spec.key]
        return {"entry": spec, "exit": spec}

    def parse_duration(self, node, field, context) -> int:
        return self.duration(node, field.key)

    def parse_positive_duration(self, node, field, context) -> int:
        return self.duration(node, field.key, positive=True)

    def parse_group_by(self, node, field, context):
        return self.group_by(node, context.parts)

    def parse_pair_expression(self, node, field, context):
        return self.expression(node, field.key, field.key, "pair")

    def parse_blame(self, node, field, context):
        return self.blame(node, context.parts)

    def parse_stacks(self, node, field, context) -> bool:
        return self.stacks(node)

    def parse_activity(self, node, field, context) -> bool:
        return self.activity(node)

    def parse_integer(self, node, field, context) -> int:
        return int(node[field.key])

    def parse_report(self, node, field, context) -> list[str]:
        """The statuses named, in the order of ``STATUS_NAMES`` (one text a choice,
        for the analysis key)."""
        named = {str(name) for name in node[field.key]}
        return [name for name in STATUS_NAMES if name in named]

    def event_spec(self, parent, key, label, entry_parts=None) -> EventSpec:
        node = parent[key]
        key_parts = self.key(node, label)
        if entry_parts is not None:
            key_parts = self.agree(node, label, key_parts, entry_parts)
        return EventSpec(
            events=self.events(node, label),
            key=key_parts,
            where=self.expression(node, "where", f"{label}.where", "event") if "where" in node else None,
            fields=[str(name) for name in node.get("fields") or []],
            location=self.source.value(node, "event"),
        )

    def events(self, node, label) -> list[str]:
        value = node["event"]
        names, parent = ([value], None) if isinstance(value, str) else (value, value)
        count = sum(str(name).count("|") + 1 for name in names)
        if count > MAX_EVENTS:
            self.fail(node, "event", f"{label}.event: {count:,} event names and alternatives "
                                     f"(at most {MAX_EVENTS:,}: use globs)")
        for index, name in enumerate(names):
            where = (parent, index) if parent is not None else (node, "event")
            if any(not alternative.strip() for alternative in name.split("|")):
                self.fail(*where, f"{label}.event: {_shown(str(name))} has an empty alternative")
            if any(len(alternative) > MAX_GLOB for alternative in name.split("|")):
                self.fail(*where, f"{label}.event: an event name or glob of more than "
                                  f"{MAX_GLOB:,} characters")
        return [str(name) for name in names]

    def key(self, node, label) -> list[KeyPart]:
        key = node["key"]
        if isinstance(key, list):        # [seqno] is {seqno: seqno}
            return [KeyPart(str(name), self.value(key, i, f"{label}.key[{i}]", "event"))
                    for i, name in enumerate(key)]
        return [KeyPart(str(part), self.value(key, part, f"{label}.key.{part}", "event"))
                for part in key]

    def agree(self, node, label, key_parts, entry_parts) -> list[KeyPart]:
        """Exit and cancel keys have the entry's parts; returned in the entry's order."""
        names = [part.name for part in key_parts]
        if sorted(names) != sorted(entry_parts):
            self.fail(node, "key", f"{label}.key: parts ({', '.join(names)}) differ from "
                                   f"entry.key parts ({', '.join(entry_parts)})")
        return sorted(key_parts, key=lambda part: entry_parts.index(part.name))

    def expression(self, parent, key, label, scope, key_parts=()):
        location, verbatim = self.source.scalar(parent, key)
        try:
            return parse_expression(str(parent[key]), scope, location, key_parts, verbatim)
        except RuleError as err:
            raise RuleError(err.path, err.line, err.column, f"{label}: {err.reason}") from None

    def value(self, parent, key, label, scope, key_parts=()):
        """A key part or group: an expression whose values are dictionary keys."""
        expression = self.expression(parent, key, label, scope, key_parts)
        if getattr(expression.tree, "data", None) == "list":
            self.fail(parent, key, f"{label}: a list cannot be a key or a group "
                                   f"(lists are for `in` and `not in`)")
        return expression

    def span_duration(self, span):
        """The span's duration: an expression in ns; a constant is checked now."""
        expression = self.value(span, "duration", "span.duration", "event")
        if expression.references:
            return expression
        value = expression.evaluate(Env())
        if not _is_number(value) or not 0 <= value <= MAX_DURATION_NS:
            self.fail(span, "duration", f"span.duration: {_shown(value)} is not a duration in ns "
                                        f"(0 to {MAX_DURATION_NS:,})")
        return expression

    def duration(self, node, key, positive=False) -> int | None:
        if key not in node:
            return None
        text = str(node[key])
        try:
            ns = parse_duration(text)
        except ValueError as err:
            self.fail(node, key, f"{key}: {err}")
        if positive and ns == 0:
            self.fail(node, key, f"{key}: must be greater than 0, not {text!r} ({EXAMPLES})")
        return ns

    def group_by(self, node, parts):
        value = node.get("group_by")
        if value is None:
            return []
        if isinstance(value, str):
            return [self.value(node, "group_by", "group_by", "pair", parts)]
        return [self.value(value, i, f"group_by[{i}]", "pair", parts) for i in range(len(value))]

    def stacks(self, node) -> bool:
        """``stacks: true``: call chains for the rule's off-CPU intervals (docs/stacks.md);
        they explain a thread's waits, so the rule needs ``blame:``."""
        stacks = bool(node.get("stacks", False))
        if stacks and node.get("blame") is None:
            self.fail(node, "stacks", "stacks: true needs blame: (whose waits the stacks explain)")
        return stacks

    def activity(self, node) -> bool:
        """``activity: true``: what the kernel did in each analysed interval for the
        threads involved (docs/scheduling.md); they come from ``blame:``."""
        activity = bool(node.get("activity", False))
        if activity and node.get("blame") is None:
            self.fail(node, "activity", "activity: true needs blame: (whose threads the "
                                        "activity is of)")
        return activity

    def blame(self, node, parts):
        blame = node.get("blame")
        if blame is not None and blame not in ("entry", "exit") and blame not in parts:
            self.fail(node, "blame", f"blame: {_shown(str(blame))} is not entry, exit or a key part "
                                     f"({', '.join(parts)})")
        return None if blame is None else str(blame)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _lower(text: str) -> str:
    return text[:1].lower() + text[1:]
