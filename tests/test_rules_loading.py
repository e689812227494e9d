"""Rule files: the model a file loads into, expression values, located errors, --set."""

from __future__ import annotations

import io
import json
import operator
import subprocess
import sys
from importlib import resources

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corr.errors import RuleError, UsageError
from corr.rules import apply_overrides, load_rules, parse_duration, parse_expression
from corr.rules.model import Env, Location


def write(tmp_path, text, name="rules.yaml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# -- a full file ---------------------------------------------------------------

FULL = """\
version: 1
rules:
  - name: syscalls                 # every syscall
    description: every system call, per thread
    entry:
      event: syscall_entry_*
      where: $syscall not in ["exit", "exit_group"]
      key: {tid: $tid, syscall: $syscall}
      fields: [fd, count]
    exit:
      event: [syscall_exit_*, exit_syscall]
      key: {syscall: $syscall, tid: ctx.tid}
      fields: [ret]
    cancel:
      - event: sched_process_exit
        key: {tid: tid, syscall: $syscall}
    threshold: 1.5ms
    timeout: 10s
    match: last
    group_by: [syscall, exit.ret < 0]
    where: exit.ret >= 0
    blame: entry
  - name: queue-delay
    entry: {event: "sched_waking|sched_wakeup", key: [seqno]}
    exit: {event: llserver:process_start, key: [seqno]}
    threshold: 250us
"""


def test_full_file_loads_into_the_model(tmp_path):
    path = write(tmp_path, FULL)
    ruleset = load_rules(path)

    assert (ruleset.path, ruleset.version) == (str(path), 1)
    assert [r.name for r in ruleset.rules] == ["syscalls", "queue-delay"]

    syscalls = ruleset.rule("syscalls")
    assert syscalls.description == "every system call, per thread"
    assert syscalls.location == Location(str(path), 3, 5)
    assert syscalls.entry.events == ["syscall_entry_*"]
    assert syscalls.entry.location == Location(str(path), 6, 14)
    assert [(p.name, p.expression.reference) for p in syscalls.entry.key] == [
        ("tid", ("builtin", "tid")), ("syscall", ("builtin", "syscall"))]
    assert syscalls.entry.key[0].expression.location == Location(str(path), 8, 18)
    assert syscalls.entry.where.text == '$syscall not in ["exit", "exit_group"]'
    assert syscalls.entry.where.references == {("builtin", "syscall")}
    assert syscalls.entry.where.location == Location(str(path), 7, 14)
    assert syscalls.entry.fields == ["fd", "count"]

    assert syscalls.exit.events == ["syscall_exit_*", "exit_syscall"]
    # Exit parts come in the entry's order, each with its own expression.
    assert [(p.name, p.expression.reference) for p in syscalls.exit.key] == [
        ("tid", ("event", "ctx.tid")), ("syscall", ("builtin", "syscall"))]
    assert syscalls.exit.fields == ["ret"]

    [cancel] = syscalls.cancel
    assert cancel.events == ["sched_process_exit"]
    assert [(p.name, p.expression.reference) for p in cancel.key] == [
        ("tid", ("event", "tid")), ("syscall", ("builtin", "syscall"))]

    assert syscalls.threshold_ns == 1_500_000
    assert syscalls.timeout_ns == 10_000_000_000
    assert syscalls.match == "last"
    assert [g.reference for g in syscalls.group_by] == [("key", "syscall"), None]
    assert syscalls.group_by[1].references == {("exit", "ret")}
    assert syscalls.where.text == "exit.ret >= 0"
    assert syscalls.where.evaluate(Env(exit={"ret": 0})) is True
    assert syscalls.blame == "entry"

    queue = ruleset.rule("queue-delay")
    assert queue.entry.events == ["sched_waking|sched_wakeup"]
    assert [(p.name, p.expression.reference) for p in queue.entry.key] == [("seqno", ("event", "seqno"))]
    assert queue.exit.events == ["llserver:process_start"]
    assert (queue.threshold_ns, queue.timeout_ns, queue.match) == (250_000, None, "nest")
    assert (queue.group_by, queue.where, queue.blame, queue.cancel) == ([], None, None, [])
    assert queue.description is None


def test_the_schema_is_package_data_and_valid():
    from jsonschema import Draft202012Validator

    schema = json.loads(resources.files("corr.rules").joinpath("schema.json").read_text())
    Draft202012Validator.check_schema(schema)


# -- expression values ---------------------------------------------------------

EVENT = Env(
    event={"fd": 3, "count": 4096, "comm": "llserver", "ratio": 0.5,
           "ctx.vtid": 1234, "ctx.procname": "llserver-worker"},
    builtins={"name": "syscall_entry_read", "syscall": "read", "tid": 42, "cpu": 1},
)

EVENT_VALUES = [
    # references
    ("fd", 3), ("ctx.vtid", 1234), ("$syscall", "read"), ("$tid", 42),
    ("missing", None), ("$pid", None),
    # literals
    ("0x10", 16), ("0XfF", 255), ("1.5", 1.5), ("1e3", 1000.0), ("'it\\'s'", "it's"),
    ('"a\\tb"', "a\tb"), ("true", True), ("null", None), ("[1, 'a', null]", [1, "a", None]),
    # durations
    ("1ms", 1_000_000), ("250us", 250_000), ("3µs", 3_000), ("1.5ms", 1_500_000),
    ("2s", 2_000_000_000), ("10ns", 10), ("1ms + 1us", 1_001_000),
    # arithmetic and precedence
    ("1 + 2 * 3", 7), ("(1 + 2) * 3", 9), ("10 - 4 - 3", 3), ("2 * 3 % 4", 2),
    ("7 / 2", 3.5), ("7 % 3", 1), ("-7 % 3", 2), ("2 * -3", -6), ("-fd", -3), ("- -fd", 3),
    ("0x10 + fd", 19), ("ratio * 2 == 1", True),
    # comparisons and logic
    ("fd == 3", True), ("fd != 3", False), ("fd < 4 and fd >= 3", True),
    ("count > 1000 or missing", True), ("not fd == 3", False), ("not (fd == 3 or false)", False),
    ("not true or true", True), ("true or false and false", True), ("(true or false) and false", False),
    ("1 + 2 * 3 == 7 and not 1 > 2", True), ('"x" == \'x\'', True),
    # absent values
    ("missing == 1", False), ("missing != 1", False), ("missing < 1", False), ("missing >= 1", False),
    ("missing == null", True), ("missing != null", False), ("fd == null", False), ("fd != null", True),
    ("null == null", True), ("missing + 1", None), ("-missing", None), ("missing * 0", None),
    ("not missing", True), ("missing in [1, null]", False), ("missing not in [1]", False),
    ("missing like '*'", False),
    # mismatched types, division by zero (errors: see test_expression_errors_are_noted)
    ("comm + 1", None), ("comm < 1", False), ("comm == 1", False), ("fd % 0", None),
    ("fd / (fd - 3)", None),
    # strings, functions
    ("'fd=' + comm", "fd=llserver"), ("comm + '/' + $syscall", "llserver/read"),
    ("'a' + 'b' == 'ab'", True), ("missing + 'x'", None),
    ("hex(134549777)", "0x8051111"), ("hex(count)", "0x1000"), ("hex(-fd)", "-0x3"),
    ("hex(missing)", None), ("str(fd)", "3"), ("str(ratio)", "0.5"), ("str(true)", "true"),
    ("str(comm)", "llserver"), ("str(missing)", None), ("'fd' + str(fd)", "fd3"),
    ("format('{}:{}', comm, fd)", "llserver:3"), ("format('{{{}}}', $tid)", "{42}"),
    ("format('x')", "x"), ("format('{} {}', fd, missing)", None),
    ("format('{}', hex($tid)) == '0x2a'", True),
    # in / not in
    ("fd in [1, 2, 3]", True), ("fd not in [1, 2, 3]", False), ("$syscall in ['read', 'write']", True),
    ("$syscall not in ['exit', 'exit_group']", True), ("fd in []", False), ("fd in [count, 3]", True),
    ("fd in [1 + 2]", True), ("fd in [[3]]", False),
    # like
    ("ctx.procname like 'llserver*'", True), ("ctx.procname like 'LLSERVER*'", False),
    ("$name like 'syscall_entry_?ead'", True), ("$name like '*_[rw]*'", True), ("fd like '3'", False),
    ("comm like ctx.procname", False), ("comm like $syscall", False),
]


@pytest.mark.parametrize("text, expected", EVENT_VALUES)
def test_event_expression_values(text, expected):
    value = parse_expression(text, "event").evaluate(EVENT)
    assert value == expected and type(value) is type(expected), (text, value)


@pytest.mark.parametrize("text, reason", [
    ("comm + 1", "'+' of a string and a number"), ("fd + comm", "'+' of a number and a string"),
    ("comm - 'x'", "'-' of a string and a string"), ("fd % 0", "division by zero"),
    ("fd / (fd - 3)", "division by zero"), ("-comm", "'-' of a string"),
    ("hex(comm)", "hex() of a string"), ("hex(ratio)", "hex() of a fraction"),
    ("fd * 2 ** 0 + ratio", None),
])
def test_expression_errors_are_noted(text, reason):
    """An error gives null and is told to Env.note (the engine counts it); an absent
    value is not an error."""
    if reason is None:
        with pytest.raises(RuleError):
            parse_expression(text, "event")
        return
    notes = []
    env = Env(event=EVENT.event, builtins=EVENT.builtins, note=notes.append)
    assert parse_expression(text, "event").evaluate(env) is None
    assert notes == [reason]
    env.event = {}
    assert parse_expression(text, "event").evaluate(env) is None
    assert notes == [reason]                   # absent: no error


@pytest.mark.parametrize("text, column, message", [
    ("'a' + 1", 1, "'+' of a string and a number is always null"),
    ("fd > 1 and 1 / 0 > 1", 12, "division by zero is always null"),
    ("true + 1", 1, "'+' of a boolean and a number is always null"),
    ("$comm + $tid", 1, "'+' of a string and a number is always null"),
    ("hex('x')", 1, "hex() of a string is always null"),
    ("hex($comm)", 1, "hex() of a string is always null"),
    ("-$comm", 1, "'-' of a string is always null"),
    ("hex(1, 2)", 1, "hex() takes one argument, not 2"),
    ("format()", 1, "format() takes at least 1 argument, not 0"),
    ("format(comm, 1)", 8, "format() needs a constant string template first"),
    ("format('{}:{}', 1)", 8, "format() template has 2 {} for 1 values"),
    ("format('{0}', 1)", 8, "format() template '{0}': only {} placeholders ({{ and }} for braces)"),
    ("format('{}', [1])", 1, "format() of a list is always null"),
    ("lower(comm)", 1, "unknown function 'lower' (functions: hex, str, format)"),
])
def test_errors_known_before_any_trace_is_read(text, column, message):
    with pytest.raises(RuleError) as err:
        parse_expression(text, "event")
    assert (err.value.column, err.value.reason) == (column, message)


def test_functions_are_fields_too():
    """``hex``, ``str`` and ``format`` are not keywords: a field may have their names."""
    env = Env(event={"hex": 7, "format": "x"})
    assert parse_expression("hex + 1", "event").evaluate(env) == 8
    assert parse_expression("hex(hex)", "event").evaluate(env) == "0x7"
    assert parse_expression("format == 'x'", "event").evaluate(env) is True


PAIR = Env(
    entry={"fd": 3, "ctx.vtid": 7, "$tid": 42, "$cpu": 0},
    exit={"ret": -11, "$tid": 43},
    builtins={"duration": 1_500_000},
    key={"syscall": "read"},
)

PAIR_VALUES = [
    ("entry.fd", 3, ("entry", "fd")), ("entry.ctx.vtid", 7, ("entry", "ctx.vtid")),
    ("entry.$tid", 42, ("entry", "$tid")), ("exit.$tid", 43, ("exit", "$tid")),
    ("exit.missing", None, ("exit", "missing")), ("$duration", 1_500_000, ("builtin", "duration")),
    ("syscall", "read", ("key", "syscall")),
    ("exit.ret < 0", True, None), ("$duration >= 1.5ms", True, None), ("$duration / 1000", 1500.0, None),
    ("entry.$tid != exit.$tid", True, None), ("syscall in ['read'] and exit.ret == -11", True, None),
]


@pytest.mark.parametrize("text, expected, reference", PAIR_VALUES)
def test_pair_expression_values(text, expected, reference):
    expression = parse_expression(text, "pair", key_parts=["syscall"])
    assert expression.evaluate(PAIR) == expected
    assert expression.reference == reference


def test_references_are_listed():
    expression = parse_expression("fd > 1 and ctx.vtid in [$tid, 2] and comm like 'x*'", "event")
    assert expression.references == {("event", "fd"), ("event", "ctx.vtid"),
                                     ("builtin", "tid"), ("event", "comm")}
    assert expression.reference is None
    pair = parse_expression("$duration > 1ms or entry.$cpu == exit.ctx.cpu_id", "pair")
    assert pair.references == {("builtin", "duration"), ("entry", "$cpu"), ("exit", "ctx.cpu_id")}


def test_parse_duration():
    assert parse_duration("1.5ms") == 1_500_000
    assert parse_duration(" 2 s ") == 2_000_000_000
    assert parse_duration("0ns") == 0
    for text, needle in [("abc", "'abc' is not a duration (e.g. 250us, 1ms, 2s)"),
                         ("5", "'5' has no unit"), ("5min", "unknown unit 'min'"),
                         ("-1ms", "'-1ms' is negative"), ("0.5ns", "not a whole number of nanoseconds"),
                         ("", "'' is not a duration")]:
        with pytest.raises(ValueError, match=needle.replace("(", r"\(").replace(")", r"\)")):
            parse_duration(text)


# -- errors, one per class, located --------------------------------------------

BASE = """\
version: 1
rules:
  - name: r
    entry: {event: a, key: [x]}
    exit: {event: b, key: [x]}
"""

ERRORS = [
    # YAML syntax, at ruamel's mark
    ("yaml", BASE + "    description: note: this fails\n", 6, 22, "yaml: mapping values are not allowed here"),
    ("yaml-duplicate-key", BASE + "    match: fifo\n    match: last\n", 7, 5, 'found duplicate key "match"'),
    ("yaml-flow", BASE.replace("key: [x]}", "key: {a: x}, where: x in [1, 2}", 1), 4, 48,
     "yaml: expected ',' or '}'"),
    # unknown keys
    ("unknown-rule-key", BASE + "    thresold: 1ms\n", 6, 5,
     "unknown key 'thresold' in rule 'r' (allowed: name, description, entry, exit, span, cancel,"),
    ("unknown-entry-key", BASE.replace("key: [x]}", "key: [x], evnt: q}", 1), 4, 33,
     "unknown key 'evnt' in entry (allowed: event, where, key, fields)"),
    ("unknown-top-key", "version: 1\nrulez: []\n", 2, 1,
     "unknown key 'rulez' at the top level (allowed: version, rules)"),
    # wrong types
    ("type-event", BASE.replace("event: a", "event: {a: 1}"), 4, 20,
     "entry.event: expected a string or a list, got a mapping"),
    ("type-version", BASE.replace("version: 1", "version: '1'"), 1, 10,
     "version: expected an integer, got '1'"),
    ("type-nothing", BASE.replace("entry: {event: a, key: [x]}", "entry:"), 4, 5,
     "entry: expected a mapping, got nothing"),
    ("type-threshold", BASE + "    threshold: [1ms]\n", 6, 16,
     "threshold: expected a duration (e.g. 250us, 1ms, 2s), got a list"),
    ("type-top", "- version: 1\n", 1, 1, "top level: expected a mapping, got a list"),
    # missing keys
    ("missing-exit", BASE.replace("    exit: {event: b, key: [x]}\n", ""), 3, 5,
     "rule 'r': missing required key 'exit'"),
    ("missing-key", BASE.replace("{event: b, key: [x]}", "{event: b}"), 5, 11,
     "exit: missing required key 'key'"),
    ("missing-rules", "version: 1\n", 1, 1, "top level: missing required key 'rules'"),
    # durations
    ("unit-unknown", BASE + "    threshold: 1xs\n", 6, 16, "threshold: '1xs' has an unknown unit 'xs'"),
    ("unit-missing", BASE + "    threshold: 5\n", 6, 16, "threshold: '5' has no unit (e.g. 250us, 1ms, 2s)"),
    ("unit-negative", BASE + "    threshold: -1ms\n", 6, 16, "threshold: '-1ms' is negative"),
    ("unit-fraction", BASE + "    timeout: 0.5ns\n", 6, 14, "timeout: '0.5ns' is not a whole number of nanoseconds"),
    ("timeout-zero", BASE + "    timeout: 0s\n", 6, 14, "timeout: must be greater than 0, not '0s'"),
    # match, names, version
    ("match", BASE + "    match: lifo\n", 6, 12, "match: 'lifo' is not one of nest, fifo, first, last"),
    ("duplicate-name", BASE + BASE[BASE.index("  - name"):], 6, 11,
     "name: duplicate rule name 'r' (first at line 3)"),
    ("bad-name", BASE.replace("name: r", "name: 9r"), 3, 11, "name: '9r' is not a rule name"),
    ("version", BASE.replace("version: 1", "version: 2"), 1, 10, "version: unsupported version 2"),
    # keys
    ("exit-key-parts", BASE.replace("exit: {event: b, key: [x]}", "exit: {event: b, key: {y: x}}"), 5, 27,
     "exit.key: parts (y) differ from entry.key parts (x)"),
    ("cancel-key-parts", BASE + "    cancel:\n      - event: c\n        key: {y: x}\n", 8, 14,
     "cancel[0].key: parts (y) differ from entry.key parts (x)"),
    ("key-list-item", BASE.replace("key: [x]}", "key: [$tid]}", 1), 4, 29,
     "entry.key[0]: '$tid' is not a plain field name"),
    ("key-part-name", BASE.replace("key: [x]}", "key: {'a b': x}}", 1), 4, 29,
     "entry.key: part name 'a b' is not a key part name"),
    # empties
    ("empty-rules", "version: 1\nrules: []\n", 2, 8, "rules: empty rule list"),
    ("empty-events", BASE.replace("event: a", "event: []"), 4, 20, "entry.event: empty event list"),
    ("empty-key", BASE.replace("key: [x]}", "key: {}}", 1), 4, 28, "entry.key: empty key"),
    ("empty-alternative", BASE.replace("event: a", "event: 'a|'"), 4, 20,
     "entry.event: 'a|' has an empty alternative"),
    ("empty-file", "# nothing yet\n", 1, 1, "empty file"),
    # expression syntax, pointing inside the expression
    ("expr-plain", BASE + "    where: exit.ret >= and 1\n", 6, 24, "where: unexpected 'and' in 'exit.ret >= and 1'"),
    ("expr-quoted", BASE + "    where: \"$duration > 1ms &&\"\n", 6, 29,
     "where: unexpected character '&' in '$duration > 1ms &&'"),
    ("expr-incomplete", BASE + "    where: $duration > 1ms and (\n", 6, 33,
     "where: incomplete expression '$duration > 1ms and ('"),
    ("expr-block", BASE + "    where: |\n      exit.ret >= and 1\n", 6, 12, "where: unexpected 'and'"),
    ("expr-key", BASE.replace("key: [x]}", "key: {x: a +}}", 1), 4, 35, "entry.key.x: incomplete expression 'a +'"),
    ("expr-duration", BASE + "    where: $duration > 1.5ns\n", 6, 24, "where: '1.5ns' is not a whole number"),
    ("expr-like", BASE + "    where: exit.comm like 5\n", 6, 27, "where: like needs a string pattern, not 5"),
    # references in the wrong scope
    ("unknown-builtin", BASE.replace("key: [x]}", "key: [x], where: $foo > 1}", 1), 4, 40,
     "entry.where: unknown builtin '$foo' (builtins: $name, $syscall,"),
    ("pair-builtin-in-event", BASE.replace("key: [x]}", "key: [x], where: $duration > 1}", 1), 4, 40,
     "entry.where: '$duration' is a pair builtin"),
    ("entry-in-event", BASE.replace("key: [x]}", "key: [x], where: 1 < entry.fd}", 1), 4, 44,
     "entry.where: 'entry.fd' in an event filter"),
    ("bare-name-in-pair", BASE + "    where: fd > 1\n", 6, 12,
     "where: 'fd' in a pair expression: write entry.fd or exit.fd"),
    ("event-builtin-in-pair", BASE + "    where: $tid > 1\n", 6, 12,
     "where: '$tid' in a pair expression: write entry.$tid or exit.$tid"),
    ("unknown-pair-builtin", BASE + "    where: $dur > 1\n", 6, 12, "where: unknown builtin '$dur'"),
    ("group-by-not-a-part", BASE + "    group_by: [x, y]\n", 6, 19,
     "group_by[1]: 'y' in a pair expression: write entry.y or exit.y, or a key part (x)"),
    ("unknown-reference", BASE.replace("key: [x]}", "key: {x: pkt.x}}", 1), 4, 32,
     "entry.key.x: unknown reference 'pkt.x'"),
    ("blame", BASE + "    blame: foo\n", 6, 12, "blame: 'foo' is not entry, exit or a key part (x)"),
]


@pytest.mark.parametrize("text, line, column, needle",
                         [pytest.param(*case[1:], id=case[0]) for case in ERRORS])
def test_errors_are_located(tmp_path, text, line, column, needle):
    path = write(tmp_path, text)
    with pytest.raises(RuleError) as caught:
        load_rules(path)
    err = caught.value
    assert (err.line, err.column) == (line, column), str(err)
    assert needle in err.reason, str(err)
    assert str(err).startswith(f"{path}:{line}:{column}: ")
    assert "\n" not in str(err) and err.reason[:1].islower()
    assert err.exit_code == 2


def test_unreadable_files(tmp_path):
    for path, needle in [(tmp_path / "absent.yaml", "cannot read: no such file or directory"),
                         (tmp_path, "cannot read: is a directory")]:
        with pytest.raises(RuleError) as caught:
            load_rules(path)
        assert (caught.value.line, caught.value.column) == (None, None)
        assert str(caught.value) == f"{path}: {needle}"
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"version: 1\n\xff\n")
    with pytest.raises(RuleError, match="cannot read: not UTF-8 text"):
        load_rules(binary)


# -- --set ---------------------------------------------------------------------

def test_overrides_change_rules_and_document(tmp_path):
    from ruamel.yaml import YAML

    ruleset = load_rules(write(tmp_path, FULL))
    apply_overrides(ruleset, ["syscalls.threshold=2ms", "queue-delay.timeout= 1s"])
    assert ruleset.rule("syscalls").threshold_ns == 2_000_000
    assert ruleset.rule("queue-delay").timeout_ns == 1_000_000_000

    rules = ruleset.document["rules"]
    assert (rules[0]["threshold"], rules[1]["timeout"]) == ("2ms", "1s")
    out = io.StringIO()
    YAML().dump(ruleset.document, out)
    assert "# every syscall" in out.getvalue()
    assert "threshold: 2ms" in out.getvalue()


@pytest.mark.parametrize("assignment, message", [
    ("syscalls.threshold=abc", "--set syscalls.threshold=abc: 'abc' is not a duration (e.g. 250us, 1ms, 2s)"),
    ("syscalls.threshold=5", "--set syscalls.threshold=5: '5' has no unit (e.g. 250us, 1ms, 2s)"),
    ("syscalls.timeout=0s", "--set syscalls.timeout=0s: timeout must be greater than 0"),
    ("nope.threshold=1ms", "--set nope.threshold=1ms: no rule 'nope' (rules: syscalls, queue-delay)"),
    ("syscalls.match=fifo", "--set syscalls.match=fifo: cannot set 'match' (only threshold and timeout)"),
    ("syscalls.threshold", "--set syscalls.threshold: expected RULE.threshold=VALUE or RULE.timeout=VALUE"),
])
def test_bad_overrides(tmp_path, assignment, message):
    ruleset = load_rules(write(tmp_path, FULL))
    with pytest.raises(UsageError) as caught:
        apply_overrides(ruleset, ["syscalls.threshold=3ms", assignment])
    assert str(caught.value) == message
    assert ruleset.rule("syscalls").threshold_ns == 1_500_000     # nothing applied


# -- property: the compiled closures agree with a reference interpreter --------

ARITHMETIC = {"+": operator.add, "-": operator.sub, "*": operator.mul,
              "/": operator.truediv, "%": operator.mod}
COMPARISONS = {"==": operator.eq, "!=": operator.ne, "<": operator.lt,
               "<=": operator.le, ">": operator.gt, ">=": operator.ge}
PRECEDENCE = {"or": 1, "and": 2, "not": 3, "cmp": 4, "+": 5, "-": 5,
              "*": 6, "/": 6, "%": 6, "neg": 7, "lit": 8}

numbers = st.recursive(
    st.integers(0, 9).map(lambda n: ("lit", n)),
    lambda inner: st.one_of(st.tuples(st.sampled_from(list(ARITHMETIC)), inner, inner),
                            st.tuples(st.just("neg"), inner)),
    max_leaves=8)

truths = st.recursive(
    st.one_of(st.tuples(st.just("cmp"), st.sampled_from(list(COMPARISONS)), numbers, numbers),
              st.sampled_from([("lit", True), ("lit", False)])),
    lambda inner: st.one_of(st.tuples(st.sampled_from(["and", "or"]), inner, inner),
                            st.tuples(st.just("not"), inner)),
    max_leaves=5)


def reference_value(node):
    """What the language's rules say the tree is worth (no eval)."""
    kind = node[0]
    if kind == "lit":
        return node[1]
    if kind == "neg":
        value = reference_value(node[1])
        return None if value is None else -value
    if kind == "not":
        return not reference_value(node[1])
    if kind == "and":
        return bool(reference_value(node[1])) and bool(reference_value(node[2]))
    if kind == "or":
        return bool(reference_value(node[1])) or bool(reference_value(node[2]))
    if kind == "cmp":
        a, b = reference_value(node[2]), reference_value(node[3])
        return False if a is None or b is None else COMPARISONS[node[1]](a, b)
    a, b = reference_value(node[1]), reference_value(node[2])
    if a is None or b is None or (kind in "/%" and b == 0):
        return None
    return ARITHMETIC[kind](a, b)


def render(node):
    """The tree as text with the fewest parentheses, so that precedence is exercised."""
    kind = node[0]

    def operand(child, lowest):
        text = render(child)
        return text if PRECEDENCE[child[0]] >= lowest else f"({text})"

    if kind == "lit":
        value = node[1]
        return ("true" if value else "false") if isinstance(value, bool) else str(value)
    if kind == "neg":
        return "-" + operand(node[1], PRECEDENCE["neg"])
    if kind == "not":
        return "not " + operand(node[1], PRECEDENCE["not"])
    if kind == "cmp":
        return f"{operand(node[2], 5)} {node[1]} {operand(node[3], 5)}"
    level = PRECEDENCE[kind]     # binary, left-associative
    return f"{operand(node[1], level)} {kind} {operand(node[2], level + 1)}"


@settings(max_examples=300, deadline=None)
@given(st.one_of(numbers, truths))
def test_expressions_agree_with_a_reference_interpreter(tree):
    text = render(tree)
    if divides_by_zero(tree):          # an error whatever the trace: refused when loaded
        with pytest.raises(RuleError, match="division by zero is always null"):
            parse_expression(text)
        return
    assert parse_expression(text).evaluate(Env()) == reference_value(tree), text


def divides_by_zero(node) -> bool:
    """Does some ``/`` or ``%`` of the tree divide a number by 0 (evaluated or not)?"""
    if any(isinstance(child, tuple) and divides_by_zero(child) for child in node[1:]):
        return True
    return node[0] in ("/", "%") and reference_value(node[1]) is not None \
        and reference_value(node[2]) == 0


# -- span rules: one event that carries its own duration ------------------------------

SPAN_RULE = """\
version: 1
rules:
  - name: commands
    span:
      event: valkey_commands:command_call
      duration: duration * 1us
      fields: [name]
    group_by: [entry.name]
    threshold: 10ms
"""


def test_span_rule_loads(tmp_path):
    from corr.rules import parse_rules
    rule = parse_rules(SPAN_RULE, str(tmp_path / "r.yaml")).rules[0]
    assert rule.is_span
    assert rule.entry is rule.exit
    assert rule.entry.events == ["valkey_commands:command_call"]
    assert [p.name for p in rule.entry.key] == ["tid"]          # the thread, by default
    assert rule.span_duration.text == "duration * 1us"
    from corr.rules.model import Env
    assert rule.span_duration.evaluate(Env(event={"duration": 7})) == 7_000
    assert rule.threshold_ns == 10_000_000


def test_span_rule_without_duration_is_an_error(tmp_path):
    from corr.rules import parse_rules
    with pytest.raises(RuleError) as err:
        parse_rules(SPAN_RULE.replace("      duration: duration * 1us\n", ""), "r.yaml")
    assert (err.value.line, err.value.column) == (5, 7)
    assert "span: missing required key 'duration'" in err.value.reason


@pytest.mark.parametrize("extra, line", [("    match: first\n", 10), ("    timeout: 1s\n", 10)])
def test_span_rule_refuses_pairing_options(tmp_path, extra, line):
    from corr.rules import parse_rules
    with pytest.raises(RuleError) as err:
        parse_rules(SPAN_RULE + extra, "r.yaml")
    assert err.value.line == line
    assert "a span rule measures single events" in err.value.reason


def test_an_override_leaves_the_yaml_document_unparsed_until_read(tmp_path):
    """`corr run --set` from the rule cache never needs ruamel.yaml (~20 ms)."""
    path = write(tmp_path, FULL)
    load_rules(path)                                   # into the rule cache
    script = (
        "import sys\n"
        "from corr.rules import apply_overrides, load_rules\n"
        f"ruleset = load_rules({str(path)!r})\n"
        "apply_overrides(ruleset, ['syscalls.threshold=2ms'])\n"
        "assert ruleset.rule('syscalls').threshold_ns == 2_000_000\n"
        "assert 'ruamel.yaml' not in sys.modules, 'parsed for nothing'\n"
        "assert ruleset.document['rules'][0]['threshold'] == '2ms'\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
