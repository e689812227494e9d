"""Run corr on a case's input, as a user would, and list what breaks corr's promise.

The promise (docs/reliability.md): exit 0 or 2; on failure exactly one
``corr: ...`` line on stderr (``warning: ...`` lines, and ``wrote FILE`` for an
``-o`` file of what was read before the error, may come before it); no
traceback, no internal error, no death by a signal, no hang; stdout valid
UTF-8, and one valid JSON document when it is JSON; an ``-o`` file absent,
untouched or complete.  Each command runs in its own session with a timeout,
a bound on its memory and no core file, in-process (``CORR_SERVER=off``) or
through a resident server of the worker's own (``served``).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import resource
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from .recipes import ROOT, Materialised, Recipe, materialise

CORR = Path(sys.executable).parent / "corr"
MEMORY_LIMIT = 4 << 30            # address space of every corr process (alias bombs)
SENTINEL = b'{"sentinel": "an -o file that was here before the run"}\n'

# What may go wrong, in the order of the table's columns.
PROBLEMS = ["hang", "signal", "traceback", "internal", "exit code", "stderr", "invalid JSON",
            "half-written", "bytes", "raw control", "csv formula", "xml", "dot",
            "check/run disagree"]

# C0 controls but tab and newline, DEL, C1 controls, bidirectional overrides.
RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


@dataclass
class Outcome:
    """One command's run: its exit code (None on a timeout) and the problems found."""

    mode: str
    command: str
    returncode: int | None
    stderr: str
    problems: list[str] = field(default_factory=list)

    @property
    def first_line(self) -> str:
        lines = self.stderr.strip().splitlines()
        return lines[-1][:300] if lines else ""


@dataclass
class CaseResult:
    recipe: Recipe
    outcomes: list[Outcome]
    babeltrace2: str | None = None          # ok, error, hang, abort, signal (trace mutants)
    error: str = ""                         # the harness could not build the case
    seconds: float = 0.0

    @property
    def problems(self) -> list[str]:
        return sorted({p for o in self.outcomes for p in o.problems})


def _limits():
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def run_limited(argv, env, timeout, cwd=None, on_timeout=None):
    """(returncode or None on timeout, stdout bytes, stderr bytes).  On a timeout the
    process group is killed, then ``on_timeout`` ends what else holds the pipes (a
    server's child writes to the client's stdout)."""
    proc = subprocess.Popen([str(a) for a in argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env,
                            cwd=cwd, start_new_session=True, preexec_fn=_limits)
    try:
        out, err = proc.communicate(timeout=timeout)
        return proc.returncode, out, err
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if on_timeout:
            on_timeout()
        try:
            out, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:        # something else still holds the pipes
            proc.stdout.close()
            proc.stderr.close()
            proc.wait()
            out, err = b"", b""
        return None, out, err


STALL_S = 2


def base_env(workdir: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORR_")}
    env.update(CORR_CACHE_DIR=str(workdir / "cache"), XDG_CACHE_HOME=str(workdir / "xdg"),
               CORR_SERVER="off", LC_ALL="C.UTF-8", PYTHONIOENCODING="utf-8",
               # babeltrace2 spinning on a mutant is reported after this long, well
               # within a case's timeout (the default, 30 s, is for busy hosts)
               CORR_DECODE_STALL_S=str(STALL_S))
    env.pop("CORR_DEBUG", None)
    return env


class Server:
    """A worker's own resident server (its own runtime folder): served runs never share
    one with the user's, and a served hang is ended by killing the server's children."""

    def __init__(self, runtime: Path):
        self.runtime = runtime
        runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(runtime, 0o700)

    def env(self, env: dict) -> dict:
        return {**env, "CORR_SERVER": "auto", "XDG_RUNTIME_DIR": str(self.runtime),
                "CORR_SERVER_IDLE": "600"}

    def start(self, workdir: Path) -> None:
        """Start it under the same limits as the commands (its children inherit them); not
        through pipes, which the detached server would hold open."""
        subprocess.run([str(CORR), "server", "start"], env=self.env(base_env(workdir)),
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, preexec_fn=_limits, timeout=60)

    def pids(self) -> list[int]:
        """Its servers: those of the pid files, and any other started for its runtime folder
        (a served client starts one of its own when none answers)."""
        found = set()
        for path in (self.runtime / "corr").glob("server-*.pid"):
            try:
                found.add(int(json.loads(path.read_text())["pid"]))
            except (OSError, ValueError, KeyError, TypeError):
                pass
        mark = f"XDG_RUNTIME_DIR={self.runtime}".encode()
        for entry in Path("/proc").iterdir():
            try:
                if entry.name.isdigit() and b"corr.server" in (entry / "cmdline").read_bytes() \
                        and mark in (entry / "environ").read_bytes().split(b"\0"):
                    found.add(int(entry.name))
            except OSError:
                pass
        return sorted(found)

    def restart(self, workdir: Path) -> None:
        """After a served command timed out: end the server and what it forked (the
        server itself may be the one stuck: it parses trace metadata), start a new one."""
        self.kill()
        for path in (self.runtime / "corr").glob("server-*"):
            path.unlink(missing_ok=True)
        self.start(workdir)

    def stop(self, workdir: Path) -> None:
        """``corr server stop``; what does not stop (a stuck server) is killed."""
        try:
            subprocess.run([str(CORR), "server", "stop"], env=self.env(base_env(workdir)),
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=20)
        except subprocess.TimeoutExpired:
            pass
        self.kill()

    def kill(self) -> None:
        """SIGKILL its servers and their children, by pid (all started by this harness)."""
        servers = set(self.pids())
        children = set()
        for entry in Path("/proc").iterdir():
            try:
                stat = (entry / "stat").read_text() if entry.name.isdigit() else ""
            except OSError:
                continue
            if stat and int(stat[stat.rindex(")") + 2:].split()[1]) in servers:
                children.add(int(entry.name))
        for pid in children | servers:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


# -- checks --------------------------------------------------------------------------

def process_problems(rc, err: str) -> list[str]:
    if rc is None:
        return ["hang"]
    problems = []
    if rc < 0 or (rc > 128 and rc != 130) or "ended without an exit code" in err \
            or "killed by signal" in err:
        problems.append("signal")
    if "Traceback" in err:
        problems.append("traceback")
    if rc == 70 or "internal error" in err:
        problems.append("internal")
    if rc not in (0, 2) and not problems:
        problems.append("exit code")
    if rc != 0:
        lines = [line for line in err.splitlines() if line.strip()]
        errors = [line for line in lines if not line.startswith(("warning: ", "wrote "))]
        if len(errors) != 1 or not errors[0].startswith("corr: "):
            problems.append("stderr")
    return problems


def text_problems(out: bytes) -> tuple[str | None, list[str]]:
    try:
        return out.decode("utf-8"), []
    except UnicodeDecodeError:
        return None, ["bytes"]


def json_problems(text: str, lines: bool = False) -> list[str]:
    try:
        if lines:
            for line in text.split("\n")[:-1]:       # not splitlines: U+2028 is no line end
                json.loads(line)
            if text and not text.endswith("\n"):
                return ["invalid JSON"]
        else:
            json.loads(text)
    except ValueError:
        return ["invalid JSON"]
    return []


def shown_text_problems(text: str) -> list[str]:
    """Terminal text: nothing that a terminal would run, no row split by a newline."""
    if RAW_CONTROL.search(text) or any(line.startswith("NLSPLIT") for line in text.split("\n")):
        return ["raw control"]
    return []


def csv_problems(text: str) -> list[str]:
    """A cell a spreadsheet would run as a formula (OWASP's list), numbers excepted."""
    for row in csv.reader(io.StringIO(text)):
        for cell in row:
            if cell[:1] in ("=", "+", "-", "@", "\t", "\r"):
                try:
                    float(cell)
                except ValueError:
                    return ["csv formula"]
    return []


def file_problems(fmt: str, data: bytes) -> list[str]:
    """Is this a complete, well-formed output of that format?"""
    text, problems = text_problems(data)
    if text is None:
        return problems
    if fmt == "json":
        return json_problems(text)
    if fmt == "jsonl":
        return json_problems(text, lines=True)
    if fmt == "csv":
        return csv_problems(text) + ([] if text.endswith("\n") or not text else ["half-written"])
    if fmt == "graphml":
        try:
            ET.fromstring(data)
        except ET.ParseError:
            return ["xml"]
        return []
    if fmt == "dot":
        proc = subprocess.run(["dot", "-Tsvg", "-o", "/dev/null"], input=data,
                              capture_output=True, timeout=60)
        return [] if proc.returncode == 0 else ["dot"]
    if fmt == "folded":
        bad = [line for line in text.split("\n")[:-1] if not re.fullmatch(r".+ \d+", line)]
        return (["half-written"] if bad else []) + shown_text_problems(text)
    return []


def output_file_problems(rc, path: Path, fmt: str, before: bytes | None) -> list[str]:
    """An -o file: absent, untouched or complete; no temporary file left beside it."""
    problems = []
    leftovers = [p for p in path.parent.iterdir() if p.name.startswith(path.name) and p != path]
    if leftovers:
        problems.append("half-written")
    if not path.exists():
        return problems + (["half-written"] if rc == 0 else [])
    data = path.read_bytes()
    if before is not None and data == before:
        return problems + (["half-written"] if rc == 0 else [])   # success must replace it
    found = file_problems(fmt, data)
    if rc != 0 and found:
        found = ["half-written" if p == "invalid JSON" else p for p in found]
    return problems + found


# -- the commands of each kind of case ---------------------------------------------------

@dataclass
class Command:
    name: str
    argv: list
    stdout: str | None = None       # how stdout is checked: json, jsonl, text, or None
    output: tuple | None = None     # (path, format, pre-existing bytes or None)


def commands(recipe: Recipe, made: Materialised, workdir: Path, mode: str) -> list[Command]:
    t, r = made.trace, made.rules
    out = workdir / f"out-{mode}"
    out.mkdir(exist_ok=True)
    if recipe.kind == "rules":
        return [Command("check", ["check", r]),
                Command("run-json", ["run", r, t, "--format", "json"], stdout="json")]
    existing = SENTINEL if recipe.seed % 2 == 0 else None
    found = [Command("inspect", ["inspect", t], stdout="text"),
             Command("run-json", ["run", r, t, "--format", "json"], stdout="json"),
             Command("run-o", ["run", r, t, "-o", out / "report.json"],
                     output=(out / "report.json", "json", existing))]
    if recipe.kind == "hostile":
        found += [Command("run-text", ["run", r, t], stdout="text"),
                  Command("run-jsonl", ["run", r, t, "--format", "jsonl"], stdout="jsonl"),
                  Command("tune-text", ["tune", r, t], stdout="text")]
        for fmt in ("csv", "graphml", "dot", "folded"):
            found.append(Command(f"run-{fmt}", ["run", r, t, "-o", out / f"report.{fmt}"],
                                 output=(out / f"report.{fmt}", fmt, None)))
    return found


def run_command(cmd: Command, env: dict, timeout: float, mode: str,
                on_timeout=None) -> Outcome:
    if cmd.output and cmd.output[2] is not None:
        cmd.output[0].write_bytes(cmd.output[2])
    rc, out, err = run_limited([CORR, *cmd.argv], env, timeout, cwd=ROOT, on_timeout=on_timeout)
    err_text = err.decode("utf-8", "replace")
    outcome = Outcome(mode, cmd.name, rc, err_text, process_problems(rc, err_text))
    if rc is None:
        return outcome
    text, problems = text_problems(out)
    outcome.problems += problems
    if text is not None and cmd.stdout == "json" and (rc == 0 or text.strip()):
        outcome.problems += json_problems(text)
    elif text is not None and cmd.stdout == "jsonl":
        outcome.problems += json_problems(text, lines=True)
    elif text is not None and cmd.stdout == "text":
        outcome.problems += shown_text_problems(text)
    if cmd.output:
        outcome.problems += output_file_problems(rc, *cmd.output)
    outcome.problems = list(dict.fromkeys(outcome.problems))
    return outcome


def babeltrace2_outcome(trace: Path, timeout: float) -> str:
    rc, _, _ = run_limited(["babeltrace2", "-c", "sink.utils.dummy", trace], dict(os.environ),
                           timeout)
    if rc is None:
        return "hang"
    if rc in (-signal.SIGABRT, 128 + signal.SIGABRT):
        return "abort"
    if rc < 0 or rc > 128:
        return "signal"
    return "ok" if rc == 0 else "error"


def run_case(recipe: Recipe, workdir: Path, *, modes=("off",), server: Server | None = None,
             timeout: float = 20, babeltrace2: bool = True) -> CaseResult:
    """Build the case's input in ``workdir``, run corr on it in each mode, judge it."""
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    try:
        made = materialise(recipe, workdir)
    except Exception as exc:                   # a mutator that cannot apply: said, not hidden
        return CaseResult(recipe, [], error=f"{type(exc).__name__}: {exc}")
    if not recipe.params:
        recipe.params = made.params
    outcomes = []
    for mode in modes:
        env = base_env(workdir)
        if mode == "served":
            env = server.env(env)
        restart = (lambda: server.restart(workdir)) if mode == "served" else None
        for cmd in commands(recipe, made, workdir, mode):
            outcome = run_command(cmd, env, timeout, mode, restart)
            outcomes.append(outcome)
            if outcome.returncode is None:
                break                          # the next commands would wait as long
        if recipe.kind == "rules":
            outcomes[-1].problems += check_run_disagree(outcomes[-2:], made.rules)
    bt2 = babeltrace2_outcome(made.trace, timeout) if babeltrace2 and recipe.kind == "trace" \
        else None
    return CaseResult(recipe, outcomes, bt2, seconds=time.monotonic() - started)


def check_run_disagree(pair: list[Outcome], rules: Path) -> list[str]:
    """What ``check`` accepts, ``run`` runs: a rule-file error only in run is a problem."""
    if len(pair) != 2 or pair[0].returncode != 0 or pair[1].returncode in (0, None):
        return []
    return ["check/run disagree"] if rules.name in pair[1].first_line else []
