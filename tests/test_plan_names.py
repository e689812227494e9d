"""EventNames.has: a plain name is looked up, a glob matched; both as fnmatch says."""

from __future__ import annotations

import fnmatch
from types import SimpleNamespace

from hypothesis import given
from hypothesis import strategies as st

from corr.engine.plan import EventNames

NAMES = st.text(alphabet="ab_*?[]!x", min_size=0, max_size=6)


def event_names(names: list[str]) -> EventNames:
    """EventNames over one plain CTF trace (no dialect renames) with these classes."""
    trace = SimpleNamespace(env={}, class_names=names)
    return EventNames(SimpleNamespace(traces=[trace]))


@given(st.lists(NAMES, max_size=8), NAMES)
def test_has_is_fnmatch_over_the_names(names, pattern):
    expected = any(n == pattern or fnmatch.fnmatchcase(n, pattern) for n in names)
    assert event_names(names).has(0, pattern) is expected


def test_plain_and_glob_patterns_on_kernel_like_names():
    names = event_names(["sched_switch", "sched_process_exit", "syscall_entry_read"])
    assert names.has(0, "sched_process_exit")
    assert not names.has(0, "sched_process_fork")
    assert names.has(0, "syscall_entry_*") and names.has(0, "sched_?witch")
    assert not names.has(0, "syscall_exit_*")
    assert names.has(0, "sched_[rs]witch") and not names.has(0, "sched_[!s]witch")
