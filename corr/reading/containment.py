"""Keeping libbabeltrace2 where its aborts and hangs cannot take corr down.

libbabeltrace2 asserts (SIGABRT) on some malformed metadata and streams,
and its metadata decoder can spin forever on truncated packetized
metadata.  Every call of it on a trace therefore runs in a forked child:
a decode worker (:mod:`parallel`) or a one-off call (:func:`call`).  The
parent watches each child's progress: a counter in memory shared with
it, which the child bumps as it goes.  A child that dies by a signal is
reported as babeltrace2 aborting (with its last log line, which says
why); one whose counter stands still for :func:`stall_seconds` is killed
and reported as stalled.
"""

from __future__ import annotations

import mmap
import os
import pickle
import re
import select
import signal
import stat
import time

from ..errors import UsageError

DEFAULT_STALL_S = 30.0
# Phases of a child, as the parent reports them.
OPENING, DECODING = 0, 1

_LOG_PREFIX = re.compile(r"^\d\d-\d\d \d\d:\d\d:\d\d\.\d+\s+\d+\s+\d+\s+[A-Z]\s+\S+\s+\S+\s+")
_LOG_TAIL = 64 << 10            # how much of a dead child's log is read for its last words


def stall_seconds() -> float:
    """How long a child may make no progress: ``CORR_DECODE_STALL_S`` (seconds) or 30."""
    raw = os.environ.get("CORR_DECODE_STALL_S", "").strip()
    if not raw:
        return DEFAULT_STALL_S
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value <= 86_400:
        raise UsageError(f"CORR_DECODE_STALL_S must be a number of seconds in (0, 86400], "
                         f"not {raw!r}")
    return value


class DecoderDied(Exception):
    """A child running babeltrace2 was killed by a signal (an assertion: SIGABRT)."""

    def __init__(self, phase: int, signum: int, last_words: str):
        self.phase, self.signum, self.last_words = phase, signum, last_words
        what = signal_name(signum) if signum else "no answer"
        super().__init__(f"{what}: {last_words}" if last_words else what)


class DecoderStalled(Exception):
    """A child running babeltrace2 made no progress for ``seconds``."""

    def __init__(self, phase: int, seconds: float):
        self.phase, self.seconds = phase, seconds
        super().__init__(f"no progress for {seconds:g} s")


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class Progress:
    """Two words shared between a child and its parent: the child's phase and a counter."""

    def __init__(self):
        self._map = mmap.mmap(-1, 16)
        self.words = memoryview(self._map).cast("Q")

    def opened(self) -> None:
        """The child: babeltrace2 has parsed the metadata; decoding begins."""
        self.words[0] = DECODING
        self.words[1] += 1

    def tick(self) -> None:
        """The child: one more step done."""
        self.words[1] += 1

    @property
    def phase(self) -> int:
        return self.words[0]

    @property
    def count(self) -> int:
        return self.words[1]


# Whether this process is a child whose fd 2 is a ChildLog (what captures it reads it there).
attached = False


class ChildLog:
    """Where a child's fd 2 goes (babeltrace2 logs there, last of all why it aborts)."""

    def __init__(self):
        try:
            self.fd = os.memfd_create("corr-decoder-log", os.MFD_CLOEXEC)
        except (AttributeError, OSError):
            self.fd = None

    def attach(self) -> None:
        """The child: send fd 2 here, with libbabeltrace2 saying why it aborts."""
        if self.fd is None:
            return
        os.dup2(self.fd, 2)
        global attached
        attached = True
        import faulthandler
        faulthandler.disable()      # babeltrace2's words are the last, not a Python dump
        import bt2
        if bt2.get_global_logging_level() > bt2.LoggingLevel.FATAL:
            bt2.set_global_logging_level(bt2.LoggingLevel.FATAL)

    def last_words(self) -> str:
        """The last line the child logged, without babeltrace2's log prefix."""
        if self.fd is None:
            return ""
        size = os.fstat(self.fd).st_size
        tail = os.pread(self.fd, _LOG_TAIL, max(0, size - _LOG_TAIL)).decode("utf-8", "replace")
        lines = [_LOG_PREFIX.sub("", line).strip() for line in tail.splitlines()]
        lines = [line for line in lines if line and line != "Aborting..."]
        if not lines:
            return ""
        words = _without_addresses(lines[-1])
        return words if len(words) <= 200 else words[:197] + "..."

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class Watchdog:
    """The parent's watch over one child: waits for its pipe while its counter moves."""

    def __init__(self, pid: int, progress: Progress, log: ChildLog, stall_s: float):
        self.pid = pid
        self.progress = progress
        self.log = log
        self.stall_s = stall_s
        self._seen = progress.count
        self._since = time.monotonic()

    def wait_readable(self, fd: int) -> None:
        """Return once ``fd`` has data or is closed; DecoderStalled if the child stood still."""
        poller = select.poll()               # not select(): fds past 1024 are fine
        poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
        while True:
            ready = poller.poll(max(1, int(min(self.stall_s, 1.0) * 1000)))
            now = time.monotonic()
            count = self.progress.count
            if ready:
                self._seen, self._since = count, now
                return
            if count != self._seen:
                self._seen, self._since = count, now
            elif now - self._since >= self.stall_s:
                kill(self.pid)
                raise DecoderStalled(self.progress.phase, self.stall_s)

    def ended(self) -> None:
        """The child closed its pipe early: DecoderDied if a signal killed it (it is reaped)."""
        try:
            _, status = os.waitpid(self.pid, 0)
        except ChildProcessError:
            return
        self.pid = None
        if os.WIFSIGNALED(status):
            raise DecoderDied(self.progress.phase, os.WTERMSIG(status), self.log.last_words())


_DETAIL = re.compile(r'([A-Za-z][\w-]*)=("[^"]*"|[^,]*)(?:,\s*|$)')


def _without_addresses(line: str) -> str:
    """A babeltrace2 log line without its ``key=value`` details that are only addresses
    and flags (``container-fc-addr=0x...``); the others (``upper=5``, ``name="x"``) stay."""
    head, sep, details = line.partition(": ")
    if not sep or not _DETAIL.match(details):
        return line
    kept = [f"{k}={v}" for k, v in _DETAIL.findall(details)
            if "addr" not in k and "-is-" not in k and "count" not in k and "type" not in k]
    return f"{head}: {', '.join(kept)}" if kept else head


def kill(pid: int | None) -> None:
    """SIGKILL and reap a child (gone already: nothing)."""
    if pid is None:
        return
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def fork_watched() -> tuple[int, int, int, Progress, ChildLog]:
    """Fork a child the parent watches (:class:`Watchdog`), with a pipe from it:
    ``(pid, read_fd, write_fd, progress, log)``, as ``os.fork`` in both processes
    (``pid`` 0 in the child).  Nothing is left open when the fork fails."""
    progress, log = Progress(), ChildLog()
    read_fd, write_fd = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(read_fd)
        os.close(write_fd)
        log.close()
        raise
    if pid == 0:
        close_inherited_pipes(keep=(read_fd, write_fd))
    return pid, read_fd, write_fd, progress, log


def close_inherited_pipes(keep) -> None:
    """In a child: close the pipes and sockets it inherited but its own (fds 0-2 stay).

    A fork copies every descriptor, close-on-exec or not, and the child never
    execs.  A write end it holds keeps its reader from seeing the end: a
    library user's thread running a subprocess while corr forked a live
    session's reader in another waited for the reader's whole life.  Regular
    files stay open: a prepared source's stream files are among them.
    """
    try:
        fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        return
    for fd in fds:
        if fd < 3 or fd in keep:
            continue
        try:
            mode = os.fstat(fd).st_mode
        except OSError:
            continue                    # the listing's own descriptor, gone
        if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
            try:
                os.close(fd)
            except OSError:
                pass


def call(fn, *args, stall_s: float | None = None):
    """``fn(*args)`` run in a forked child, its result (or exception) brought back.

    For one-off babeltrace2 queries on a trace: DecoderDied if the child
    aborts, DecoderStalled if it runs longer than ``stall_s`` (a query makes
    no progress we could watch: the limit is on its whole run).
    """
    stall_s = stall_seconds() if stall_s is None else stall_s
    pid, read_fd, write_fd, progress, log = fork_watched()
    if pid == 0:                                    # the child: answer, never return
        code = 1
        try:
            os.close(read_fd)
            log.attach()
            try:
                answer = (True, fn(*args))
            except Exception as exc:                # noqa: BLE001 (sent to the parent)
                answer = (False, exc)
            try:
                data = pickle.dumps(answer)
            except Exception as exc:                # noqa: BLE001
                data = pickle.dumps((False, RuntimeError(f"{type(exc).__name__}: {exc}")))
            view = memoryview(data)
            while view:
                view = view[os.write(write_fd, view):]
            code = 0
        finally:
            os._exit(code)
    os.close(write_fd)
    watch = Watchdog(pid, progress, log, stall_s)
    chunks = []
    try:
        while True:
            watch.wait_readable(read_fd)
            chunk = os.read(read_fd, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
        if not chunks:
            watch.ended()
            raise DecoderDied(progress.phase, 0, log.last_words())
        kill(watch.pid)                             # it has answered: reap it
        ok, value = pickle.loads(b"".join(chunks))
    finally:
        os.close(read_fd)
        log.close()
    if not ok:
        raise value
    return value


def trace_error(exc: Exception, path: str, streams: str, events: int = 0,
                last_ts: int | None = None):
    """The corr error for a contained child's death or stall (DecoderDied, DecoderStalled).

    Before the metadata was read (and nothing was decoded) it is the trace's
    :class:`TraceError`; after, a :class:`TraceDecodeError` keeping what was
    decoded before it.  ``streams``: what the child was decoding.
    """
    from ..errors import TraceDecodeError, TraceError
    opening = exc.phase == OPENING and not events
    if isinstance(exc, DecoderStalled):
        what = "reading its metadata" if opening else f"decoding {streams}"
        cause = f"no progress {what} for {exc.seconds:g} s"
    else:
        what = "reading its metadata" if opening else f"decoding {streams}"
        cause = f"babeltrace2 aborted while {what} ({exc})"
    if opening:
        return TraceError(path, cause)
    return TraceDecodeError(path, cause, stopped_at_ns=last_ts, events_before=events)


def describe_files(files) -> str:
    """A group's stream files in a message: ``k_0``, ``k_0 and k_1``, ``k_0, k_1 and 3 more``."""
    files = sorted(files)
    if len(files) <= 2:
        return " and ".join(files) if files else "its streams"
    return f"{files[0]}, {files[1]} and {len(files) - 2} more"
