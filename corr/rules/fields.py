"""Every key a rule may have, declared once: what the loader, ``--set``, the cache and JSON use.

Adding a rule key used to mean editing the schema, the loader, the
overrides, the interval cache's key and the result's JSON by hand, and a
key left out of the cache's list served stale intervals silently.  Each is
now derived from :data:`FIELDS`:

- the schema's rule properties and required keys (:func:`rule_schema`,
  merged into ``schema.json`` by the loader), hence the allowed keys an
  unknown key's error lists;
- the loader's parsing: ``parse`` names the ``_Builder`` method that turns
  the YAML value into the :class:`~corr.rules.model.Rule` attribute;
- the overrides ``--set RULE.KEY=VALUE`` may make (``overridable``);
- the interval cache's key (``matching``: the key changes which intervals
  are found; :func:`definition`) and the kept analyses' (``explaining``:
  it changes what a ``blame:`` analysis of the same intervals finds;
  :func:`explanation`);
- a rule's JSON (``in_json``: :meth:`Rule.to_dict`).

tests/test_rule_fields.py checks that every attribute of ``Rule`` is
declared here and that changing any ``matching`` key changes the cache key
(any ``explaining`` one, the analysis key).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .model import DEFAULT_REPORT, STATUS_NAMES


@dataclass(frozen=True)
class RuleField:
    key: str                      # as written in the YAML file
    attribute: str                # the Rule attribute it sets
    schema: dict                  # JSON Schema of its value ($refs into schema.json's $defs)
    parse: str                    # the loader's _Builder method: (node, field, context) -> value
    matching: bool                # changes which intervals are found: in the cache key
    explaining: bool = False      # changes a blame: analysis of the same intervals (its key)
    overridable: bool = False     # ``--set RULE.KEY=VALUE`` / the library's overrides
    default: Any = None           # when the file does not say
    required: bool = False        # in every rule
    in_span: bool = True          # allowed in a span rule (one event, its own duration)
    in_json: bool = False         # in the rule's JSON (Rule.to_dict), as its attribute name
    in_count: bool = True         # allowed in a count rule (instant events counted)


def _expression():
    return {"$ref": "#/$defs/expression"}


# A count rule's one event: as a span's, without a duration.
_COUNT = {"type": "object", "additionalProperties": False, "required": ["event"],
          "properties": {"event": {"$ref": "#/$defs/events"}, "where": _expression(),
                         "key": {"$ref": "#/$defs/key"},
                         "fields": {"type": "array", "items": {"type": "string"}}}}


FIELDS: tuple[RuleField, ...] = (
    RuleField("name", "name", {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_.-]*$",
                               "x-messages": {"pattern": "a rule name (letters, digits, _ . -, "
                                                         "starting with a letter or _)"}},
              "text", matching=True, required=True, in_json=True),
    RuleField("description", "description", {"type": "string"}, "text", matching=False,
              in_json=True),
    RuleField("entry", "entry", {"$ref": "#/$defs/endpoint"}, "entry", matching=True,
              in_span=False, in_count=False),
    RuleField("exit", "exit", {"$ref": "#/$defs/endpoint"}, "exit", matching=True,
              in_span=False, in_count=False),
    # A span rule's entry and exit are its one event: ``span`` sets them too.
    RuleField("span", "span_duration", {"$ref": "#/$defs/span"}, "span", matching=True,
              in_count=False),
    RuleField("cancel", "cancel", {"type": "array", "items": {"$ref": "#/$defs/cancel"}},
              "cancel", matching=True, default=(), in_span=False, in_count=False),
    RuleField("steps", "steps", {"type": "array", "items": {"$ref": "#/$defs/step"}},
              "steps", matching=True, default=(), in_span=False, in_count=False),
    # A count rule counts one event's occurrences: ``count`` sets its entry and exit
    # (and a zero duration: the engine matches it as a span).
    RuleField("count", "count", _COUNT, "count", matching=True, in_span=False),
    # (In the JSON's ``counts``, as ``window_ns``.)
    RuleField("window", "window_ns", {"$ref": "#/$defs/duration"}, "positive_duration",
              matching=False, in_span=False),
    RuleField("threshold", "threshold_ns", {"$ref": "#/$defs/duration"}, "duration",
              matching=False, explaining=True, overridable=True, in_json=True, in_count=False),
    RuleField("timeout", "timeout_ns", {"$ref": "#/$defs/duration"}, "positive_duration",
              matching=True, overridable=True, in_span=False, in_json=True, in_count=False),
    RuleField("match", "match", {"enum": ["nest", "fifo", "first", "last"]}, "text",
              matching=True, default="nest", in_span=False, in_json=True, in_count=False),
    RuleField("group_by", "group_by", {"type": ["string", "array"], "minLength": 1,
                                       "items": _expression()},
              "group_by", matching=True, default=()),
    RuleField("where", "where", _expression(), "pair_expression", matching=True,
              in_count=False),
    RuleField("blame", "blame", {"type": "string", "minLength": 1}, "blame", matching=False,
              explaining=True, in_count=False),
    RuleField("stacks", "stacks", {"type": "boolean"}, "stacks", matching=False,
              explaining=True, default=False, in_count=False),
    # Which statuses may be slow: listed among the slowest, counted over the threshold,
    # blamed (docs/rules.md, "Reporting").
    RuleField("report", "report", {"type": "array", "minItems": 1, "uniqueItems": True,
                                   "items": {"enum": list(STATUS_NAMES)}},
              "report", matching=False, explaining=True, default=DEFAULT_REPORT, in_json=True,
              in_count=False),
    # Groups with fewer intervals are left out of the group table (docs/rules.md).
    RuleField("min_count", "min_count", {"type": "integer", "minimum": 1}, "integer",
              matching=False, in_json=True),
    RuleField("activity", "activity", {"type": "boolean"}, "activity", matching=False,
              explaining=True, default=False, in_count=False),
)

# Rule attributes that no key of the file sets.
NOT_KEYS = {"location": "where the rule is written, for messages"}

BY_KEY = {field.key: field for field in FIELDS}
OVERRIDABLE = tuple(field.key for field in FIELDS if field.overridable)


def rule_schema() -> dict:
    """The rule's ``properties`` and ``required`` for schema.json's ``$defs.rule``."""
    return {"properties": {field.key: field.schema for field in FIELDS},
            "required": [field.key for field in FIELDS if field.required]}


def default(field: RuleField):
    """A fresh default value (lists are not shared between rules)."""
    return list(field.default) if isinstance(field.default, tuple) else field.default


def definition(rule) -> dict:
    """Every ``matching`` field of ``rule`` as JSON: what decides its intervals."""
    return {field.key: _as_json(getattr(rule, field.attribute))
            for field in FIELDS if field.matching}


def explanation(rule) -> dict:
    """Every ``explaining`` field of ``rule`` as JSON: what its analysis depends on
    besides its intervals."""
    return {field.key: _as_json(getattr(rule, field.attribute))
            for field in FIELDS if field.explaining}


def _as_json(value):
    """Expressions by their text, event sides by what they say."""
    from .model import EventSpec, Expression, KeyPart, Step
    if isinstance(value, Expression):
        return value.text
    if isinstance(value, KeyPart):
        return [value.name, value.expression.text]
    if isinstance(value, EventSpec):
        return {"events": value.events, "key": _as_json(value.key),
                "where": _as_json(value.where), "fields": value.fields}
    if isinstance(value, Step):
        return {"name": value.name, "occurs": value.occurs, "within": value.within_ns,
                **_as_json(value.spec)}
    if isinstance(value, (list, tuple)):
        return [_as_json(v) for v in value]
    return value
