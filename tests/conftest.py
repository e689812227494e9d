"""Shared fixtures: the third-party traces in ../shared/traces.

Tests that need them are skipped outside CI when they are absent, and fail
in CI (``CI`` set), where ../shared is always beside the clone.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_TRACES = ROOT.parent / "shared" / "traces"
EXAMPLE_TRACE = ROOT / "examples" / "llserver" / "trace"

# Every readable third-party trace (hello-lost stops part-way on purpose).
READABLE = ["many-threads", "bug446190", "flipping-endianness", "context-switches-ust",
            "wget-k-20180802-115043", "wget-k-20180802-115406", "php-u-20180813-150550"]


@pytest.fixture(autouse=True, scope="session")
def _private_rule_cache(tmp_path_factory):
    """Rule files and decoded traces are cached in temporary folders, never in ~/.cache;
    commands run in their own process (tests/test_server.py turns the resident server on)."""
    before = {name: os.environ.get(name) for name in ("XDG_CACHE_HOME", "CORR_CACHE_DIR",
                                                      "CORR_SERVER")}
    os.environ["CORR_SERVER"] = "off"
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))
    # The decode cache too (CORR_CACHE_DIR wins over XDG_CACHE_HOME for it).
    os.environ["CORR_CACHE_DIR"] = str(tmp_path_factory.mktemp("decode-cache"))
    yield
    for name, value in before.items():
        if value is None:
            del os.environ[name]
        else:
            os.environ[name] = value


# What an interval's explanation is, to compare a callback's or a stream's with a
# result's (``renamed`` is left out: a stream knows a thread's renames up to the
# interval's end only).
EXPLANATION = ("blamed_tid", "blamed_comm", "breakdown", "critical_path")


def interval_identity(rule: str, row: dict) -> tuple:
    """What tells one interval of a result from the others: rule, bounds, status, key."""
    return (rule, row["start_ns"], row["end_ns"], row["status"], json.dumps(row["key"]))


def explained_rows(result) -> dict:
    """Every interval a result explains (its rules' analysed ones): identity -> row."""
    rows = {}
    for r in result.rules:
        if r.analysis is not None:
            for i in r.analysis.intervals:
                row = r.interval(i)
                rows[interval_identity(r.name, row)] = row
    return rows


def shared_trace(name: str) -> Path:
    path = SHARED_TRACES / name
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{path} is missing in CI")
        pytest.skip(f"{path} not present outside CI")
    return path


@pytest.fixture(params=READABLE)
def readable_trace(request) -> Path:
    return shared_trace(request.param)


def babeltrace2_counts(*paths) -> tuple[Counter, int]:
    """Per-class event counts as the babeltrace2 CLI prints them, and its exit code."""
    proc = subprocess.run(["babeltrace2", "--no-delta", *map(str, paths)],
                          capture_output=True, text=True, errors="replace")
    counts: Counter = Counter()
    for line in proc.stdout.splitlines():
        if not line.startswith("["):
            continue
        rest = line.split("] ", 1)[1]
        for token in rest.split(" "):
            if token.endswith(":"):
                counts[token[:-1]] += 1
                break
    return counts, proc.returncode


def run_corr(*args, env=None) -> subprocess.CompletedProcess:
    """Run the installed ``corr`` command as a user would."""
    exe = Path(os.sys.executable).parent / "corr"
    return subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def served_env(tmp_path_factory):
    """The environment of commands served by a private resident server, running for the
    module that asks (its own runtime folder and cache)."""
    base = tmp_path_factory.mktemp("served")
    runtime = base / "run"
    runtime.mkdir(mode=0o700)
    env = {**os.environ, "CORR_SERVER": "auto", "XDG_RUNTIME_DIR": str(runtime),
           "CORR_CACHE_DIR": str(base / "cache")}
    corr = str(Path(os.sys.executable).parent / "corr")
    started = subprocess.run([corr, "server", "start"], env=env, capture_output=True, text=True)
    assert "server running" in started.stdout, started.stderr
    yield env
    subprocess.run([corr, "server", "stop"], env=env, capture_output=True, timeout=60)


@pytest.fixture(params=["in-process", "served"])
def env(request, served_env, tmp_path):
    """A command's environment on each path: in this process's kind (CORR_SERVER=off),
    then served (:func:`served_env`)."""
    if request.param == "served":
        return served_env
    return {**os.environ, "CORR_SERVER": "off", "CORR_CACHE_DIR": str(tmp_path / "cache")}


def one_line_error(proc, *needles) -> str:
    """Assert a CLI run failed as bad input should: one `corr: ...` line, exit 2."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("corr: ")
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


# -- a fresh recording of examples/llserver, shared by the tests that need one ---------

def lttng_daemons() -> dict[int, str]:
    """Running (non-zombie) lttng-sessiond / lttng-consumerd processes."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        state = stat[stat.rindex(")") + 2:].split(" ", 1)[0]
        if comm in ("lttng-sessiond", "lttng-consumerd") and state not in ("Z", "X"):
            found[int(entry.name)] = comm
    return found


class Recording:
    def __init__(self, out, proc, before, after):
        self.out, self.proc, self.before, self.after = out, proc, before, after
        self.log = f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"


@pytest.fixture(scope="session")
def recording(tmp_path_factory) -> Recording:
    """One fresh recording of llserver (root, lttng, perf), shared by every test."""
    if os.geteuid() != 0:
        pytest.skip("recording needs root (system-wide perf tracepoints, root lttng-sessiond)")
    missing = [t for t in ("lttng", "lttng-sessiond", "perf") if shutil.which(t) is None]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)}")
    before = lttng_daemons()
    out = tmp_path_factory.mktemp("recording") / "rec"
    proc = subprocess.run(["bash", str(ROOT / "examples" / "llserver" / "record.sh"), str(out),
                           "--duration-ms", "800"],
                          capture_output=True, text=True, errors="replace", timeout=180)
    return Recording(out, proc, before, lttng_daemons())




# -- fresh perf recordings of the examples (examples/*/record.sh) ------------------------

def run_checked(cmd, **kw) -> str:
    """Run a command, assert it succeeded (its output's tail in the message); its stdout."""
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True,
                          errors="replace", timeout=600, **kw)
    assert proc.returncode == 0, (f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n"
                                  f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc.stdout


def record_example(name: str, outdir: Path, *args, wrap=()) -> str:
    """Record ``examples/NAME`` into OUTDIR with its record.sh (run by the
    command ``wrap`` when given); its recording.txt.

    Skipped where a system-wide perf recording cannot be made (not root, no perf).
    """
    if os.geteuid() != 0:
        pytest.skip("recording system-wide sched tracepoints with perf needs root")
    if shutil.which("perf") is None:
        pytest.skip("perf is not installed")
    run_checked([*wrap, ROOT / "examples" / name / "record.sh", outdir, *args])
    return (outdir / "recording.txt").read_text()


def record_ust_example(name: str, outdir: Path, *args) -> str:
    """Record ``examples/NAME`` (an LTTng-UST example, examples/record-ust.sh) into
    OUTDIR: its recording.txt.  Skipped where it cannot be made (not root, lttng or
    perf missing, another lttng-sessiond running: as root it owns /var/run/lttng)."""
    if os.geteuid() != 0:
        pytest.skip("recording needs root (system-wide perf tracepoints, root lttng-sessiond)")
    missing = [t for t in ("lttng", "lttng-sessiond", "perf", "babeltrace2") if shutil.which(t) is None]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)}")
    if lttng_daemons():
        pytest.skip("an lttng-sessiond already runs (as root it owns /var/run/lttng)")
    run_checked([ROOT / "examples" / name / "record.sh", outdir, *args])
    return (outdir / "recording.txt").read_text()


def ust_clock_offset(trace: Path) -> int:
    """What to add to a UST timestamp in cycles (CLOCK_MONOTONIC ns, as the examples
    read it) to get corr's time base: the UST trace's clock offset."""
    import json
    info = json.loads(run_corr("inspect", "--json", trace).stdout)
    return next(t for t in info["traces"] if t["domain"] == "ust")["clock_offset_ns"]


def assert_small(trace: Path, limit: int = 2 * 1024 * 1024) -> None:
    """A committed recording stays small enough to keep in the repository."""
    total = sum(f.stat().st_size for f in trace.rglob("*") if f.is_file())
    assert total < limit, f"{trace} holds {total} bytes"
