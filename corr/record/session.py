"""Recording a plan around a workload: private daemons that never outlive it.

``record()`` starts what the plan needs -- a private ``lttng-sessiond`` (its
own ``LTTNG_HOME`` in a scratch folder) for user-space events, ``perf
record`` system-wide for kernel events -- waits until both record, runs the
command (or waits for a pid to exit, or for Ctrl-C / a duration), stops the
tracers, converts perf's data to CTF, and leaves ``DIR/ust`` and
``DIR/kernel``.  Whatever happens (a failing command, SIGINT, SIGTERM, a
tracer that refuses to start), the ``finally`` stops every process it
started, by pid (the session daemon's consumer daemons too), and removes the
scratch folder; a recording stopped by SIGTERM or a failure of its own
removes its partial output (Ctrl-C keeps it, as perf record does).  Started daemons also get SIGKILL if corr itself dies
(``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field

from ..errors import CorrError
from ..processes import alive
from . import commands
from .plan import RecordPlan

SESSIOND_READY_S = 15        # lttng-sessiond's SIGUSR1 (--sig-parent), then lttng list works
PERF_READY_S = 30            # perf's "ack" on its control fifo once its events are enabled
STOP_S = 10                  # SIGTERM/SIGINT, then SIGKILL
TRACEFS = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")


class RecordError(CorrError):
    """A recording that could not be made (a tool missing, a tracer that failed)."""


class Interrupted(Exception):
    """SIGINT or SIGTERM while recording: ``signum`` says which."""

    def __init__(self, signum: int):
        self.signum = signum
        super().__init__(signal.Signals(signum).name)


@dataclass
class Recording:
    """What ``record()`` made: the folder, the command's exit status (None: no
    command), and the notes worth telling the user (losses, missing halves)."""

    outdir: str
    plan: RecordPlan
    status: int | None = None
    notes: list[str] = field(default_factory=list)
    interrupted: bool = False
    script: str = ""              # the equivalent shell commands (dry runs)


def missing_tools(plan: RecordPlan) -> list[str]:
    return [tool for tool in commands.tools(plan) if shutil.which(tool) is None]


def check_tools(plan: RecordPlan) -> None:
    missing = missing_tools(plan)
    if missing:
        packages = sorted({commands.PACKAGES[t] for t in missing})
        raise RecordError(f"record: {' and '.join(missing)} not found in PATH: install "
                          f"{' '.join(packages)} (Debian packages)")


def _die_with_parent() -> None:
    """In a started daemon (preexec_fn): SIGKILL when corr dies, even by SIGKILL."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)   # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def descendants(pid: int) -> list[int]:
    """``pid``'s children, grandchildren... read from /proc (the consumer daemons
    a session daemon forks)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _wait_gone(pids, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while any(alive(p) for p in pids):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def _stop(proc: subprocess.Popen | None, sig: int, family: set[int] = frozenset()) -> None:
    """Stop ``proc`` with ``sig`` (and the processes of ``family`` with it), then
    SIGKILL what is left; reap it."""
    if proc is None:
        return
    family = set(family) | ({p for p in descendants(proc.pid)} if proc.poll() is None else set())
    if proc.poll() is None:
        try:
            proc.send_signal(sig)
            proc.wait(STOP_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if not _wait_gone(family, STOP_S):
        for p in family:
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
        _wait_gone(family, STOP_S)


def ensure_tracefs() -> None:
    """perf reads tracepoint formats from tracefs: mount it when no one has (as
    examples/record-common.sh does; it stays mounted, the system's usual state)."""
    if any(os.path.isdir(f"{t}/events/sched") for t in TRACEFS):
        return
    subprocess.run(["mount", "-t", "tracefs", "nodev", TRACEFS[0]], capture_output=True)
    if not any(os.path.isdir(f"{t}/events/sched") for t in TRACEFS):
        raise RecordError("record: kernel tracepoints are not available: tracefs is not mounted "
                          "on /sys/kernel/tracing and mounting it failed (it needs root)")


def _tail(path: str, limit: int = 600) -> str:
    try:
        with open(path, errors="replace") as f:
            text = " ".join(f.read().split())
    except OSError:
        return ""
    return text[-limit:]


class _Tracers:
    """The daemons one recording started, and how to stop them."""

    def __init__(self, plan: RecordPlan, outdir: str, work: str):
        self.plan, self.outdir, self.work = plan, outdir, work
        self.session = f"corr-record-{os.getpid()}"
        self.env = {**os.environ, "LTTNG_HOME": os.path.join(work, "lttng-home")}
        os.makedirs(self.env["LTTNG_HOME"])
        self.sessiond: subprocess.Popen | None = None
        self.sessiond_family: set[int] = set()
        self.session_made = False
        self.perf: subprocess.Popen | None = None
        self.perf_data = os.path.join(work, "perf.data")
        self._ack = None

    # -- user space ---------------------------------------------------------------
    def start_lttng(self) -> None:
        if os.geteuid() == 0 and subprocess.run(["pgrep", "-x", "lttng-sessiond"],
                                                capture_output=True).returncode == 0:
            # As root a session daemon owns /var/run/lttng: a second cannot start.
            raise RecordError("record: an lttng-sessiond is already running; as root it owns "
                              "/var/run/lttng, so corr cannot start its own: stop it, or "
                              "record with the commands of corr record --print")
        # Ready once it sends SIGUSR1 (--sig-parent), which only the main thread can
        # catch; elsewhere, once an lttng command reaches it.
        ready = threading.Event()
        main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGUSR1, lambda *_: ready.set()) if main else None
        log = open(os.path.join(self.work, "sessiond.log"), "wb")
        try:
            self.sessiond = subprocess.Popen(
                ["lttng-sessiond", "--no-kernel"] + (["--sig-parent"] if main else []),
                env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                start_new_session=True, preexec_fn=_die_with_parent)
            deadline = time.monotonic() + SESSIOND_READY_S
            while not (ready.wait(0.1) if main else self._answers()):
                if self.sessiond.poll() is not None or time.monotonic() > deadline:
                    raise RecordError("record: lttng-sessiond did not start: "
                                      + _tail(log.name))
        finally:
            if main:
                signal.signal(signal.SIGUSR1, previous)
            log.close()
        self.sessiond_family = set(descendants(self.sessiond.pid))
        for cmd in commands.lttng_setup(self.plan, self.session, self.outdir):
            self._lttng(cmd)
            self.session_made = True
        self.sessiond_family |= set(descendants(self.sessiond.pid))

    def _answers(self) -> bool:
        return subprocess.run(["lttng", "list"], env=self.env, capture_output=True,
                              stdin=subprocess.DEVNULL, timeout=60).returncode == 0

    def _lttng(self, cmd: list[str]) -> None:
        proc = subprocess.run(cmd, env=self.env, capture_output=True, text=True,
                              errors="replace", stdin=subprocess.DEVNULL, timeout=60)
        if proc.returncode != 0:
            raise RecordError(f"record: {commands.quote(cmd)} failed: "
                              + " ".join((proc.stderr or proc.stdout).split())[-600:])

    def stop_lttng(self) -> None:
        """Stop and destroy the session (its trace is complete on disk after destroy)."""
        if self.session_made:
            self.session_made = False
            for cmd in commands.lttng_teardown(self.session):
                self._lttng(cmd)

    # -- kernel -------------------------------------------------------------------
    def start_perf(self) -> None:
        ensure_tracefs()
        ctl, ack = os.path.join(self.work, "perf.ctl"), os.path.join(self.work, "perf.ack")
        os.mkfifo(ctl)
        os.mkfifo(ack)
        log = open(os.path.join(self.work, "perf.log"), "wb")
        self.perf = subprocess.Popen(
            commands.perf_record(self.plan, self.perf_data, f"{ctl},{ack}"), cwd=self.work,
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
            preexec_fn=_die_with_parent)
        log.close()
        # O_RDWR: opening either end never blocks, whether perf opened its end yet or not.
        ctl_fd, ack_fd = os.open(ctl, os.O_RDWR), os.open(ack, os.O_RDWR | os.O_NONBLOCK)
        try:
            os.write(ctl_fd, b"enable\n")
            deadline, got = time.monotonic() + PERF_READY_S, b""
            while b"ack" not in got:
                if self.perf.poll() is not None or time.monotonic() > deadline:
                    raise RecordError("record: perf record did not start: "
                                      + _tail(log.name))
                try:
                    got += os.read(ack_fd, 64)
                except BlockingIOError:
                    time.sleep(0.05)
        finally:
            os.close(ctl_fd)
            os.close(ack_fd)

    def stop_perf(self) -> None:
        if self.perf is not None:
            _stop(self.perf, signal.SIGINT)
            self.perf = None

    def convert(self) -> None:
        if not os.path.isfile(self.perf_data) or os.path.getsize(self.perf_data) == 0:
            raise RecordError("record: perf record wrote no data: "
                              + _tail(os.path.join(self.work, "perf.log")))
        kernel = os.path.join(self.outdir, "kernel")
        log = os.path.join(self.work, "convert.log")
        with open(log, "wb") as f:
            proc = subprocess.run(commands.perf_convert(self.perf_data, kernel), stdout=f,
                                  stderr=f, stdin=subprocess.DEVNULL, cwd=self.work)
        if proc.returncode != 0 or not os.path.isfile(os.path.join(kernel, "metadata")):
            raise RecordError("record: perf data convert --to-ctf failed: " + _tail(log))
        if self.plan.callchains:
            # What names the chains' frames (docs/stacks.md), beside kernel/.
            shutil.move(self.perf_data, os.path.join(self.outdir, "perf.data"))
            try:
                shutil.copyfile(commands.KALLSYMS, os.path.join(self.outdir, "kallsyms"))
            except OSError:
                pass            # the running kernel's is read at `corr run` instead

    def losses(self) -> list[str]:
        found = []
        for name in ("perf.log", "convert.log"):
            text = _tail(os.path.join(self.work, name), 100_000)
            if "lost" in text.lower() or "discard" in text.lower():
                found.append(f"perf reports lost events: {_tail(os.path.join(self.work, name))}")
        return found

    # -- everything -----------------------------------------------------------------
    def stop_all(self) -> None:
        """Stop whatever still runs; never raises (it runs in ``finally``)."""
        self.stop_perf()
        if self.sessiond is not None:
            try:
                self.stop_lttng()
            except (CorrError, OSError, subprocess.SubprocessError):
                pass
            _stop(self.sessiond, signal.SIGTERM, self.sessiond_family)
            self.sessiond = None


def _wait_for(proc: subprocess.Popen | None, pid: int | None, duration: float | None) -> int | None:
    """Until the command exits (its status), the pid is gone, or the duration passed."""
    deadline = None if duration is None else time.monotonic() + duration
    while True:
        if proc is not None and proc.poll() is not None:
            return proc.returncode
        if pid is not None and not alive(pid):
            return None
        if deadline is not None and time.monotonic() >= deadline:
            return None
        time.sleep(0.05)


def record(plan: RecordPlan, outdir: str, command: list[str] | None = None,
           pid: int | None = None, duration: float | None = None) -> Recording:
    """Record ``plan`` into ``outdir`` while ``command`` runs (or until ``pid``
    exits, or ``duration`` seconds pass; system-wide, until SIGINT).

    SIGINT (Ctrl-C) ends the recording and keeps it: a system-wide or ``pid``
    one, or one of a command, which gets SIGINT too (``interrupted`` says so;
    ``status`` is then None).  SIGTERM stops everything and discards the
    recording (:class:`Interrupted`).  A command that fails keeps its
    recording: ``status`` says how it ended.
    """
    check_tools(plan)
    if command and shutil.which(command[0]) is None:
        raise RecordError(f"record: {command[0]}: command not found")
    outdir = os.path.abspath(outdir)
    for part in ("kernel", "ust"):
        if os.path.exists(os.path.join(outdir, part)):
            raise RecordError(f"record: {outdir} already holds {part}/: remove it or choose "
                              "another -o folder")
    made_outdir = not os.path.isdir(outdir)
    os.makedirs(outdir, exist_ok=True)
    work = tempfile.mkdtemp(prefix="corr-record-")
    tracers = _Tracers(plan, outdir, work)
    result = Recording(outdir, plan)
    app: subprocess.Popen | None = None
    ok = False
    previous = {}

    def on_signal(signum, _frame):
        raise Interrupted(signum)

    if threading.current_thread() is threading.main_thread():   # else: the caller's to stop
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, on_signal)
    try:
        if plan.ust:
            tracers.start_lttng()
        if plan.kernel:
            tracers.start_perf()
        if command:
            app = subprocess.Popen(command, env=tracers.env if plan.ust else None)
        try:
            result.status = _wait_for(app, pid, duration)
        except Interrupted as exc:
            if exc.signum == signal.SIGTERM:
                raise
            # Ctrl-C is how a server under test is stopped: the command gets it too
            # (from the terminal, or from here), and the recording is kept, as
            # perf record keeps its data.
            result.interrupted = True
            if app is not None and app.poll() is None:
                _stop(app, signal.SIGINT)
        if app is not None and app.poll() is None:       # the duration passed
            _stop(app, signal.SIGTERM)
        tracers.stop_perf()
        tracers.stop_lttng()
        tracers.stop_all()
        if plan.kernel:
            tracers.convert()
        if plan.ust and not _has_ust(outdir):
            result.notes.append(f"no LTTng-UST trace in {outdir}/ust: no process registered "
                                "with the session (is the program built with lttng-ust "
                                "tracepoints?)")
        result.notes += tracers.losses()
        if plan.unrecordable:
            result.notes.append(f"not recorded: {', '.join(plan.unrecordable)} (perf has no "
                                "tracepoint corr knows for them: lttng-modules records them)")
        ok = True
        return result
    finally:
        if app is not None and app.poll() is None:
            _stop(app, signal.SIGTERM)
        tracers.stop_all()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        shutil.rmtree(work, ignore_errors=True)
        if not ok:
            for part in ("kernel", "ust"):
                shutil.rmtree(os.path.join(outdir, part), ignore_errors=True)
            for part in ("perf.data", "kallsyms"):
                try:
                    os.unlink(os.path.join(outdir, part))
                except OSError:
                    pass
            if made_outdir:
                try:
                    os.rmdir(outdir)
                except OSError:
                    pass
        else:
            _readable(outdir)


def _has_ust(outdir: str) -> bool:
    for root, _dirs, files in os.walk(os.path.join(outdir, "ust")):
        if "metadata" in files:
            return True
    return False


def _readable(outdir: str) -> None:
    """lttng and perf write root-only files: a recording is meant to be read by
    its user, who may not be root (as ``chmod -R a+rX``)."""
    for root, dirs, files in os.walk(outdir):
        for name in dirs + files:
            path = os.path.join(root, name)
            try:
                mode = os.stat(path).st_mode
                os.chmod(path, mode | 0o444 | (0o111 if mode & 0o111 or name in dirs else 0))
            except OSError:
                pass
