"""examples/library/ runs and says what the library's result says; a type checker finds
no error in it nor in the public API it uses; README's "Use it from Python" runs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import corr
from conftest import EXAMPLE_TRACE

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "library" / "slow_requests.py"
LLSERVER = ROOT / "rules" / "llserver.yaml"
# The public API a library user imports, checked with the examples.
TYPED = ["corr/__init__.py", "corr/api.py", "corr/engine/interval.py"]


def _run(*args: str) -> str:
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_the_slow_request_monitor_prints_what_the_result_holds():
    out = _run(str(EXAMPLE), "--threshold", "3ms").splitlines()
    result = corr.run(LLSERVER, [EXAMPLE_TRACE], overrides={"processing.threshold": "3ms"})
    slow = list(result.interval_objects("processing"))
    assert len(slow) >= 3
    # As found: in the order the pass decided them (their exits).
    by_exit = sorted(slow, key=lambda iv: iv.end_ns)
    found = [line for line in out if line.startswith("slow request ")]
    assert found == [f"slow request {iv.key}: {iv.duration_ns / 1e6:.3f} ms "
                     f"({iv.status}, thread {iv.comm} {iv.tid}), {_top(iv)}" for iv in by_exit]
    entries = result.rule("processing").outcomes["entries"]
    at = out.index(f"{len(slow)} slow requests of {entries}; where their time went:")
    summary = out[at + 1:]
    assert len(summary) == len(slow)
    for line, iv in zip(summary, sorted(slow, key=lambda iv: iv.start_ns)):
        assert line == f"  request {iv.key}: {iv.duration_ns / 1e6:.3f} ms, {_top(iv)}"


def _top(iv) -> str:
    """The result's largest part of an interval, as the example prints it."""
    top = max(iv.breakdown, key=lambda part: part["ns"])
    who = top["by"] if top["by"] is not None else "itself"
    return f"{top['kind']} {top['ns'] / 1e6:.3f} ms: {who}"


def test_a_type_checker_finds_no_error_in_the_examples_and_the_api():
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", "--follow-imports=silent",
         "--ignore-missing-imports", "--disallow-untyped-defs", "--disallow-incomplete-defs",
         "examples/library/", *TYPED], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("Success: no issues found")


def test_the_type_checker_would_see_a_mistake(tmp_path):
    """The check above can fail: a wrong use of the API is an error."""
    wrong = tmp_path / "wrong.py"
    wrong.write_text("import corr\n"
                     "result: int = corr.run('rules.yaml', ['trace'])\n"
                     "corr.run('rules.yaml', ['trace'], on_interval=lambda iv: iv.nope)\n")
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", "--follow-imports=silent",
         "--ignore-missing-imports", str(wrong)], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 1
    assert 'has type "RunResult", variable has type "int"' in proc.stdout
    assert '"Interval" has no attribute "nope"' in proc.stdout


def _readme_python() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("### Use it from Python\n", 1)[1].split("\n##", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_readme_python_section_runs(tmp_path):
    blocks = _readme_python()
    assert blocks, "README has no Python in its 'Use it from Python' section"
    script = tmp_path / "readme.py"
    script.write_text("\n".join(blocks))
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip()
