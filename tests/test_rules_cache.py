"""The cache of checked rule files (corr.rules.cache).

A repeat load must give the same model as a fresh one without importing
jsonschema, lark or ruamel.yaml; anything wrong with the cache (corrupt,
stale, unwritable) must only cost a fresh load; a bad file is never cached.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from corr.cache import keys
from corr.errors import RuleError
from corr.rules import apply_overrides, load_rules
from corr.rules import cache as rule_cache
from corr.rules.model import Env

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted((ROOT / "rules").glob("*.yaml"))

RULES = """\
version: 1
rules:
  - name: syscalls
    entry:
      event: syscall_entry_*
      where: $syscall not in ["exit", "exit_group"] and fd > 2
      key: {tid: $tid}
    exit: {event: syscall_exit_*, key: {tid: $tid}, fields: [ret]}
    where: entry.$syscall == exit.$syscall and $duration > 10us
    group_by: [entry.$syscall]
    threshold: 1ms  # a comment the document keeps
    timeout: 10s
"""


@pytest.fixture
def cache_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    monkeypatch.delenv(rule_cache.DISABLE, raising=False)
    return home / "corr" / "rules"


def write(tmp_path: Path, text: str, name: str = "rules.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def entries(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.pickle")) if directory.exists() else []


def summary(ruleset) -> list:
    """What the engine reads from a rule set, expressions included, as plain data."""
    out = []
    for rule in ruleset.rules:
        expressions = [part.expression for spec in (rule.entry, rule.exit, *rule.cancel)
                       for part in spec.key]
        expressions += [spec.where for spec in (rule.entry, rule.exit, *rule.cancel)]
        expressions += [rule.where, rule.span_duration, *rule.group_by]
        out.append((rule.name, rule.match, rule.threshold_ns, rule.timeout_ns, rule.blame,
                    str(rule.location), rule.entry.events, rule.exit.events, rule.entry.fields,
                    rule.exit.fields, [spec.events for spec in rule.cancel],
                    [None if e is None else (e.text, e.references, e.reference, e.equality,
                                             str(e.location), e.scope, e.key_parts)
                     for e in expressions]))
    return out


def test_second_load_comes_from_the_cache_and_equals_a_fresh_one(tmp_path, cache_home):
    path = write(tmp_path, RULES)
    fresh = load_rules(path, cache=False)
    assert entries(cache_home) == []
    first = load_rules(path)
    assert len(entries(cache_home)) == 1
    cached = load_rules(path)
    assert summary(cached) == summary(first) == summary(fresh)

    # The compiled expressions behave alike.
    rule, fresh_rule = cached.rules[0], fresh.rules[0]
    for entry_syscall, exit_syscall, duration in [("read", "read", 20_000), ("read", "write", 20_000),
                                                  ("read", "read", 5_000), (None, "read", 20_000)]:
        env = Env(entry={"$syscall": entry_syscall}, exit={"$syscall": exit_syscall},
                  builtins={"duration": duration})
        assert rule.where.evaluate(env) == fresh_rule.where.evaluate(env)
    for syscall, fd in [("read", 3), ("exit", 3), ("read", 1), ("read", None)]:
        env = Env(event={"fd": fd}, builtins={"syscall": syscall})
        assert rule.entry.where.evaluate(env) == fresh_rule.entry.where.evaluate(env)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_rules_survive_the_cache(path, cache_home):
    fresh = load_rules(path, cache=False)
    load_rules(path)
    assert summary(load_rules(path)) == summary(fresh)


def test_a_cache_hit_imports_neither_jsonschema_nor_lark_nor_ruamel(tmp_path, cache_home):
    path = write(tmp_path, RULES)
    script = ("import json, sys\n"
              "from corr.rules import load_rules\n"
              f"ruleset = load_rules({str(path)!r})\n"
              "print(json.dumps([m for m in ('jsonschema', 'lark', 'ruamel.yaml')"
              " if m in sys.modules]))\n")
    env = {**os.environ, "XDG_CACHE_HOME": str(cache_home.parent.parent)}

    def loaded_modules():
        proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                              env=env, check=True)
        return json.loads(proc.stdout)

    assert loaded_modules() == ["jsonschema", "lark", "ruamel.yaml"]     # the first load
    assert loaded_modules() == []                                        # from the cache


def test_pickled_rules_hold_no_lark_objects(tmp_path, cache_home):
    load_rules(write(tmp_path, RULES))
    [entry] = entries(cache_home)
    assert b"lark" not in entry.read_bytes()
    assert b"ruamel" not in entry.read_bytes()


def sealed(directory: Path, payload: bytes) -> bytes:
    """An entry as the cache writes it: sealed with its key."""
    key = keys.read_key(str(directory / rule_cache.KEY))
    return rule_cache.FORMAT + keys.seal(payload, key).encode() + payload


def unsealed(good: bytes) -> bytes:
    return good[len(rule_cache.FORMAT) + keys.SEAL_SIZE:]


class Planted:
    """What unpickling it would do: leave a file behind."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


@pytest.mark.parametrize("damage", [b"", b"not a pickle", "truncated", "wrong key",
                                    "not a rule set", "unsealed", "resealed badly", "fifo",
                                    "symlink", "folder"])
def test_a_corrupt_entry_is_rebuilt(tmp_path, cache_home, damage):
    path = write(tmp_path, RULES)
    expected = summary(load_rules(path))
    [entry] = entries(cache_home)
    good = entry.read_bytes()
    ran = tmp_path / "code-ran"
    if damage == "truncated":
        entry.write_bytes(good[:len(good) // 2])
    elif damage == "wrong key":
        _, ruleset = pickle.loads(unsealed(good))
        entry.write_bytes(sealed(cache_home, pickle.dumps(("0" * 64, ruleset))))
    elif damage == "not a rule set":
        key, _ = pickle.loads(unsealed(good))
        entry.write_bytes(sealed(cache_home, pickle.dumps((key, {"rules": []}))))
    elif damage == "unsealed":                       # a pickle that runs code: never loaded
        entry.write_bytes(pickle.dumps(Planted(ran)))
    elif damage == "resealed badly":                 # its seal made without the key
        payload = pickle.dumps(Planted(ran))
        entry.write_bytes(rule_cache.FORMAT + keys.seal(payload, os.urandom(32)).encode() +
                          payload)
    elif damage in ("fifo", "symlink", "folder"):
        entry.unlink()
        if damage == "fifo":
            os.mkfifo(entry)                         # read without waiting: a hang otherwise
        elif damage == "symlink":
            (tmp_path / "elsewhere").write_bytes(good)
            entry.symlink_to(tmp_path / "elsewhere")
        else:
            entry.mkdir()
    else:
        entry.write_bytes(damage)
    assert summary(load_rules(path)) == expected
    assert not ran.exists()
    assert entries(cache_home) == [entry]
    assert entry.read_bytes() == good                  # written again
    assert summary(load_rules(path)) == expected


def test_changed_content_is_checked_again(tmp_path, cache_home):
    path = write(tmp_path, RULES)
    assert load_rules(path).rules[0].threshold_ns == 1_000_000
    path.write_text(RULES.replace("threshold: 1ms", "threshold: 2ms"))
    assert load_rules(path).rules[0].threshold_ns == 2_000_000
    assert len(entries(cache_home)) == 1               # the old text's entry is gone
    path.write_text(RULES.replace("threshold: 1ms", "threshold: 5"))
    with pytest.raises(RuleError, match="threshold"):
        load_rules(path)


def test_the_same_text_at_another_path_keeps_its_own_path(tmp_path, cache_home):
    a, b = write(tmp_path, RULES, "a.yaml"), write(tmp_path, RULES, "b.yaml")
    load_rules(a)
    ruleset = load_rules(b)
    assert ruleset.path == str(b)
    assert ruleset.rules[0].location.path == str(b)
    assert ruleset.rules[0].where.location.path == str(b)


def test_a_bad_file_is_never_cached_and_reports_the_same_error(tmp_path, cache_home):
    path = write(tmp_path, RULES.replace("where: entry.$syscall", "where: entry.$syscal"))
    with pytest.raises(RuleError) as without_cache:
        load_rules(path, cache=False)
    for _ in range(2):
        with pytest.raises(RuleError) as with_cache:
            load_rules(path)
        assert str(with_cache.value) == str(without_cache.value)
    assert entries(cache_home) == []


def test_an_unwritable_cache_directory_only_costs_the_cache(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder would go")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    path = write(tmp_path, RULES)
    assert summary(load_rules(path)) == summary(load_rules(path, cache=False))
    assert summary(load_rules(path)) == summary(load_rules(path, cache=False))


def test_no_home_for_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    monkeypatch.setenv("HOME", "not-absolute")
    assert rule_cache.cache_directory() is None
    assert load_rules(write(tmp_path, RULES)).rules[0].name == "syscalls"


@pytest.mark.parametrize("how", ["environment", "argument"])
def test_the_cache_can_be_turned_off(tmp_path, cache_home, monkeypatch, how):
    path = write(tmp_path, RULES)
    if how == "environment":
        monkeypatch.setenv(rule_cache.DISABLE, "1")
        load_rules(path)
    else:
        load_rules(path, cache=False)
    assert entries(cache_home) == []


def test_overrides_apply_to_cached_rules_and_their_document(tmp_path, cache_home):
    import io
    import re

    from ruamel.yaml import YAML

    path = write(tmp_path, RULES)
    load_rules(path)
    ruleset = load_rules(path)                           # from the cache
    apply_overrides(ruleset, ["syscalls.threshold=2ms", "syscalls.timeout=1s"])
    rule = ruleset.rules[0]
    assert (rule.threshold_ns, rule.timeout_ns) == (2_000_000, 1_000_000_000)
    out = io.StringIO()
    YAML().dump(ruleset.document, out)
    assert re.search(r"threshold: 2ms +# a comment the document keeps", out.getvalue())
    # The cache itself is untouched by an override.
    assert load_rules(path).rules[0].threshold_ns == 1_000_000
