"""Rule keys declared once (corr/rules/fields.py): the model, the schema, the cache key,
the overrides and the JSON all follow the table, and no key that changes matching can be
left out of the interval cache's key."""

from __future__ import annotations

import dataclasses

import pytest

from corr.cache.intervals import rule_key
from corr.errors import OverrideError, RuleError
from corr.reading import Projection
from corr.rules import apply_overrides, parse_rules
from corr.rules.fields import BY_KEY, FIELDS, NOT_KEYS, OVERRIDABLE
from corr.rules.model import Rule

PROJECTION = Projection.of({"*": ()})

PAIR = {
    "name": "r",
    "description": "a rule",
    "entry": "{event: a_entry, key: {tid: $tid}, where: 'x > 1', fields: [x]}",
    "exit": "{event: a_exit, key: {tid: $tid}}",
    "cancel": "[{event: a_cancel, key: {tid: $tid}}]",
    "steps": "[{name: s, event: a_step, key: {tid: $tid}, occurs: must}]",
    "threshold": "1ms",
    "timeout": "1s",
    "match": "fifo",
    "group_by": "[tid]",
    "where": "'$duration > 5us'",
    "blame": "entry",
    "stacks": "true",
    "activity": "true",
    "report": "[complete, late, incomplete]",
    "min_count": "3",
}
SPAN = {
    "name": "s",
    "span": "{event: a_span, duration: dur}",
    "threshold": "1ms",
    "group_by": "[tid]",
}
COUNT = {
    "name": "c",
    "count": "{event: a_event, where: 'x > 1'}",
    "window": "1s",
    "group_by": "[tid]",
}

# Per key, another value than the base rule's (a span rule for ``span``).  A key
# added to the table and marked as changing matching needs one here.
OTHER = {
    "name": "r2",
    "description": "another rule",
    "entry": "{event: b_entry, key: {tid: $tid}, where: 'x > 1', fields: [x]}",
    "exit": "{event: a_exit, key: {tid: $tid}, where: 'y == 2'}",
    "cancel": "[{event: b_cancel, key: {tid: $tid}}]",
    "steps": "[{name: s, event: a_step, key: {tid: $tid}, occurs: must_not}]",
    "threshold": "2ms",
    "timeout": "2s",
    "match": "last",
    "group_by": "[exit.y]",
    "where": "'$duration > 6us'",
    "blame": "exit",
    "stacks": "false",
    "activity": "false",
    "report": "[complete]",
    "min_count": "4",
    "span": "{event: a_span, duration: dur * 1000}",
    "count": "{event: b_event, where: 'x > 1'}",
    "window": "2s",
}


def text_of(keys: dict) -> str:
    lines = ["version: 1", "rules:"]
    for i, (key, value) in enumerate(keys.items()):
        lines.append(f"  {'- ' if i == 0 else '  '}{key}: {value}")
    return "\n".join(lines) + "\n"


def key_of(keys: dict) -> str:
    return rule_key(parse_rules(text_of(keys)).rules[0], PROJECTION)


def test_every_attribute_of_a_rule_is_declared_once():
    attributes = [f.name for f in dataclasses.fields(Rule)]
    declared = [f.attribute for f in FIELDS] + list(NOT_KEYS)
    assert sorted(attributes) == sorted(declared)
    assert len({f.key for f in FIELDS}) == len(FIELDS)


def test_the_examples_cover_every_key():
    assert set(OTHER) == {f.key for f in FIELDS}
    assert set(PAIR) | set(SPAN) | set(COUNT) == {f.key for f in FIELDS}


def _base(field) -> dict:
    """The example rule that can have ``field``: a pair's, a span's or a count's."""
    for base in (PAIR, SPAN, COUNT):
        if field.key in base:
            return base
    raise KeyError(field.key)


@pytest.mark.parametrize("field", FIELDS, ids=lambda f: f.key)
def test_a_key_that_changes_matching_changes_the_cache_key(field):
    base = _base(field)
    changed = {**base, field.key: OTHER[field.key]}
    same = key_of(base) == key_of(changed)
    assert same is not field.matching
    # And the rule did change: the new value was read.
    rule, other = parse_rules(text_of(base)).rules[0], parse_rules(text_of(changed)).rules[0]
    assert getattr(rule, field.attribute) != getattr(other, field.attribute)


@pytest.mark.parametrize("field", FIELDS, ids=lambda f: f.key)
def test_a_key_that_changes_the_analysis_changes_its_key(field):
    from corr.cache.analysis import analysis_key
    base = _base(field)
    changed = {**base, field.key: OTHER[field.key]}

    def key(keys):
        rule = parse_rules(text_of(keys)).rules[0]
        return analysis_key(rule_key(rule, PROJECTION), rule, 10, None, "model")
    assert (key(base) == key(changed)) is not (field.matching or field.explaining)


def test_a_cache_key_names_exactly_the_matching_fields():
    from corr.cache.intervals import rule_definition
    rule = parse_rules(text_of(PAIR)).rules[0]
    assert list(rule_definition(rule)) == [f.key for f in FIELDS if f.matching]
    assert rule_definition(rule)["entry"] == {
        "events": ["a_entry"], "key": [["tid", "$tid"]], "where": "x > 1", "fields": ["x"]}


def test_the_unknown_key_error_lists_every_key_span_included():
    with pytest.raises(RuleError) as err:
        parse_rules(text_of({**PAIR, "thresold": "1ms"}))
    allowed = ", ".join(f.key for f in FIELDS)
    assert err.value.reason == f"unknown key 'thresold' in rule 'r' (allowed: {allowed})"
    assert "span, cancel" in allowed


@pytest.mark.parametrize("key", ["cancel", "timeout", "match", "entry", "exit"])
def test_a_span_rule_refuses_what_it_cannot_have(key):
    with pytest.raises(RuleError) as err:
        parse_rules(text_of({**SPAN, key: PAIR[key]}))
    assert err.value.reason == f"{key}: a span rule measures single events: it has no {key}"


@pytest.mark.parametrize("key", ["cancel", "timeout", "match", "entry", "exit", "span",
                                 "threshold", "where", "blame", "report"])
def test_a_count_rule_refuses_what_it_cannot_have(key):
    with pytest.raises(RuleError) as err:
        parse_rules(text_of({**COUNT, key: {**PAIR, **SPAN}[key]}))
    assert err.value.reason == f"{key}: a count rule counts single events: it has no {key}"


def test_only_a_count_rule_has_a_window():
    with pytest.raises(RuleError) as err:
        parse_rules(text_of({**PAIR, "window": "1s"}))
    assert err.value.reason.startswith("window: only a count rule has one")


def test_overrides_are_the_overridable_keys():
    from corr.rules.loader import _OVERRIDE_PARSERS
    assert OVERRIDABLE == ("threshold", "timeout")
    # --set knows how to read each overridable key's value.
    assert all(BY_KEY[key].parse in _OVERRIDE_PARSERS for key in OVERRIDABLE)
    ruleset = parse_rules(text_of(PAIR))
    apply_overrides(ruleset, ["r.threshold=3ms", "r.timeout=4s"])
    assert ruleset.rules[0].overridable_values() == {"threshold": 3_000_000,
                                                     "timeout": 4_000_000_000}
    with pytest.raises(OverrideError) as err:
        apply_overrides(ruleset, ["r.match=nest"])
    assert str(err.value).endswith("cannot set 'match' (only threshold and timeout)")
    with pytest.raises(OverrideError) as err:
        apply_overrides(ruleset, ["r.timeout=0ms"])
    assert str(err.value).endswith("timeout must be greater than 0")


def test_a_rules_json_fields():
    rule = parse_rules(text_of(PAIR)).rules[0]
    assert rule.to_dict() == {"name": "r", "description": "a rule", "threshold_ns": 1_000_000,
                              "timeout_ns": 1_000_000_000, "match": "fifo",
                              "report": ["complete", "late", "incomplete"], "min_count": 3}
