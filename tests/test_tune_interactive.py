"""``corr tune --interactive`` driven through tmux, as a person would use it.

A private tmux server (its own socket) runs the session in a pane of fixed
size; keys go in with ``send-keys`` and the screen comes back with
``capture-pane -p``, polled until the expected text appears (bounded).
The scenario is tests/test_tune.py's: 20 intervals of known durations.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from corr.rules import load_rules
from test_tune import RULES, tuning_scenario

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")

ROOT = Path(__file__).resolve().parents[1]
WAIT_S = 30.0


class Pane:
    """One tmux pane on a server of our own, torn down at the end."""

    def __init__(self, command: str, width: int = 120, height: int = 50):
        self.socket = f"corr-tune-test-{os.getpid()}"
        self.tmux("new-session", "-d", "-s", "tune", "-x", str(width), "-y", str(height), command)

    def tmux(self, *args) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True,
                              text=True, check=True).stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "tune")

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "tune", *keys)

    def wait_for(self, text: str) -> str:
        deadline = time.monotonic() + WAIT_S
        while True:
            screen = self.screen()
            if text in screen:
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not on the screen after {WAIT_S}s:\n{screen}")
            time.sleep(0.1)

    def wait_closed(self) -> None:
        deadline = time.monotonic() + WAIT_S
        while subprocess.run(["tmux", "-L", self.socket, "has-session", "-t", "tune"],
                             capture_output=True).returncode == 0:
            if time.monotonic() > deadline:
                raise AssertionError(f"the session did not end:\n{self.screen()}")
            time.sleep(0.1)

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)


@pytest.fixture
def files(tmp_path):
    trace = tuning_scenario().write(tmp_path / "trace").root
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    return rules, trace


def corr_command(*args) -> str:
    """``python -m corr ARGS`` with this test's imports and rule cache."""
    env = {"PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
           "XDG_CACHE_HOME": os.environ.get("XDG_CACHE_HOME", ""), "TERM": "xterm-256color"}
    assignments = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    return (f"cd {shlex.quote(str(ROOT))} && env {assignments} "
            f"{shlex.quote(sys.executable)} -m corr " + " ".join(shlex.quote(str(a)) for a in args))


def test_arrows_and_typed_values_move_the_count_and_w_writes(files, tmp_path):
    rules, trace = files
    out = tmp_path / "tuned.yaml"
    pane = Pane(corr_command("tune", "--interactive", "--write", out, rules, trace))
    try:
        # The file's 2us flags the ten intervals longer than 2us.
        pane.wait_for("flags 10 of 20 intervals (50.00%) at threshold 2us")
        pane.keys("Right")                         # 2.5us: 2.6, 2.8, 3, 3.5, 200, 450us
        pane.wait_for("flags 6 of 20 intervals (30.00%) at threshold 2.5us")
        pane.keys("Right")                         # 3.15us: 3.5, 200, 450us
        screen = pane.wait_for("flags 3 of 20 intervals (15.00%) at threshold 3.15us")
        assert "◀ threshold 3.15us" in screen
        pane.keys("Left", "Left", "Left")          # 1.6us: 1.7, 1.8, 1.9us and the ten
        pane.wait_for("flags 13 of 20 intervals (65.00%) at threshold 1.6us")
        pane.keys("t")
        pane.wait_for("\nthreshold:")              # the input line
        pane.keys("150us", "Enter")                # the two slow ones
        screen = pane.wait_for("flags 2 of 20 intervals (10.00%) at threshold 150us")
        assert screen.index("450us") < screen.index("200us", screen.index("slowest flagged"))
        pane.keys("g")                             # group 0: the sixteen fast ones
        pane.wait_for("flags 0 of 16 intervals (0.00%) at threshold 150us")
        pane.keys("w")
        pane.wait_for(f"wrote {out} (req.threshold=150us)")
        assert load_rules(out, cache=False).rule("req").threshold_ns == 150_000
        assert out.read_text() == RULES.replace("threshold: 2us", "threshold: 150us")
        pane.keys("q")
        pane.wait_closed()
    finally:
        pane.close()
    assert rules.read_text() == RULES


def test_w_without_write_asks_before_writing_back(files):
    rules, trace = files
    pane = Pane(corr_command("tune", "-i", rules, trace))
    try:
        pane.wait_for("flags 10 of 20 intervals")
        pane.keys("Right")
        pane.wait_for("at threshold 2.5us")
        pane.keys("w")
        pane.wait_for(f"write {rules}? y/n")
        pane.keys("n")
        pane.wait_for("not written")
        assert rules.read_text() == RULES
        pane.keys("w")
        pane.wait_for(f"write {rules}? y/n")
        pane.keys("y")
        pane.wait_for(f"wrote {rules} (req.threshold=2.5us)")
        assert load_rules(rules, cache=False).rule("req").threshold_ns == 2_500
        pane.keys("q")
        pane.wait_closed()
    finally:
        pane.close()


def test_a_groups_suggestion_says_it_sets_the_whole_rules_threshold(files):
    rules, trace = files
    pane = Pane(corr_command("tune", "-i", rules, trace))
    try:
        screen = pane.wait_for("flags 10 of 20 intervals (50.00%) at threshold 2us")
        assert "for all its groups" not in screen         # the whole rule: nothing to say
        pane.keys("g", "g")                               # group 1: 2.1, 2.2, 200, 450us
        screen = pane.wait_for("flags 4 of 4 intervals (100.00%) at threshold 2us")
        assert "the threshold is rule req's, for all its groups: 2us flags 10 of 20" in screen
        pane.keys("s")                                    # its suggestion: 20us
        screen = pane.wait_for("group 1's suggestion set rule req's threshold, for all its "
                               "groups: 20us flags 2 of 20")
        assert "flags 2 of 4 intervals (50.00%) at threshold 20us" in screen
        assert "the threshold is rule req's, for all its groups: 20us flags 2 of 20" in screen
        pane.keys("g")                                    # back to the whole rule: moved too
        pane.wait_for("flags 2 of 20 intervals (10.00%) at threshold 20us")
        pane.keys("q")
        pane.wait_closed()
    finally:
        pane.close()
