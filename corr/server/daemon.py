"""The resident server: corr's imports done once, a fork per command.

A ``corr`` command in a new process spends ~0.2 s importing Python, bt2,
numpy, pyarrow and rich before it reads a byte: as long as babeltrace2's
whole run over a small trace, and most of a re-run from the decode cache.
A threshold-tuning session runs corr again and again, so the server keeps
those imports warm, as Mercurial's chg does: it accepts a connection,
forks, and the child becomes the command (the client's descriptors,
working directory, environment and umask, then :func:`corr.cli.main`).

One process, no threads of its own (a fork must not copy a half-held
lock): BLAS pools are kept to one thread, and pyarrow's jemalloc, whose
background thread starts when it loads, takes its locks around a fork
(``pthread_atfork``) as it is made to.  It
exits after ``idle`` seconds without a command, when its socket is removed
or replaced, or on SIGTERM.  What it preloads is listed in ``PRELOAD``;
what a command imports beyond that it imports in its own child.

Some modules only some commands need (``ON_DEMAND``: pyarrow for the
decode cache, 26 MB; jsonschema for a rule file not seen before): a
command that imported one leaves its name in the server's ``.wants`` file
(:mod:`wants`), and the server imports it before the next command.  A
server whose commands never use the cache stays without pyarrow, so a
command's memory is not the larger for what it does not use.  The traces
a command decoded go there too: the server parses their metadata
(:mod:`corr.reading.prepared`), so the next command over them does not.
The server wakes for that as soon as a command ends (SIGCHLD).

The server keeps each command's connection until it reaps the command: one
that died by a signal (libbabeltrace2's abort on a malformed trace, a
crash, the out-of-memory killer) could not send its exit code, so the
server replies for it, with the signal and the exit code :mod:`fate`
decides from the traceback :mod:`faulthandler` left in a memory file the
command was given; then it serves on.
"""

from __future__ import annotations

import atexit
import errno
import fcntl
import gc
import importlib
import io
import json
import os
import select
import signal
import socket
import sys
import time

from . import address, fate, freshness, protocol, wants

DEFAULT_IDLE_S = 900.0
# What a `corr run`, `tune`, `check` or `cache` command imports, heaviest
# first.  Not the HTML report's modules (jinja2 and the charts), for the
# rare command that writes a report.
PRELOAD = ("numpy", "numpy.ma", "bt2", "rich.console", "rich.table",
           "rich.text", "rich.progress", "locale", "encodings.unicode_escape", "corr.cli",
           "corr.api", "corr.pipeline", "corr.reading.parallel", "corr.reading.prepared", "corr.reading.wire", "corr.engine.runner", "corr.sched.model",
           "corr.sched.store", "corr.analyses.scheduling", "corr.analyses.bulk",
           "corr.analyses.tuning", "corr.render.run_text", "corr.render.blame_text",
           "corr.render.run_json", "corr.render.histogram", "corr.cache", "corr.rules.loader",
           "corr.rules.cache", "corr.rules.vector", "corr.cache.store", "corr.engine.memory",
           "corr.processes")
# Each named by a command that imported it, imported by the server for the
# next (the decode cache's modules import pyarrow).  A list, not "whatever
# a command imported": one report would keep the report's modules in.
ON_DEMAND = ("pyarrow", "pyarrow.ipc", "corr.cache.intervals", "corr.cache.replay",
             "corr.cache.recorder", "corr.cache.decoded", "corr.cache.universe",
             "corr.cache.columns", "corr.cache.lazy", "jsonschema")


def preload() -> None:
    """Import what commands use and warm the caches that do not depend on their input."""
    from ..launcher import no_blas_threads
    no_blas_threads()
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            pass                         # an optional part: its commands import it themselves
    from rich.console import Console
    from rich.table import Table

    from ..cache.identity import code_fingerprint
    from ..cli import build_parser
    from ..rules import cache as rule_cache

    code_fingerprint()
    rule_cache._code_fingerprint()
    build_parser().parse_args(["run", "rules.yaml", "trace"])     # argparse's regexes
    table = Table("a", "b", title="warm-up — ┃")                 # rich's lazily loaded parts
    table.add_row("1", "2 µs")
    Console(file=io.StringIO(), width=80).print(table)


def load_on_demand(names) -> list[str]:
    """Import the ``ON_DEMAND`` modules among ``names`` not imported yet; those imported."""
    loaded = []
    for name in ON_DEMAND:
        if name in names and name not in sys.modules:
            try:
                importlib.import_module(name)
            except ImportError:
                continue
            loaded.append(name)
    if "jsonschema" in loaded:
        from ..rules.loader import _validator
        _validator()                     # the schema, compiled once
    return loaded


class Server:
    """Listens on the code key's socket; see the module docstring."""

    def __init__(self, folder: str, key: str, idle_s: float, code: freshness.CodeWatch):
        self.folder, self.key, self.idle_s = folder, key, idle_s
        self.path = address.socket_path(folder, key)
        self.status_path = address.pid_path(folder, key)
        self.wants_path = address.wants_path(folder, key)
        self.runs = 0
        self.running: dict[int, tuple[socket.socket, int]] = {}   # pid: connection, faults
        self.started = time.time()
        self.sock: socket.socket | None = None
        self.inode = None
        self.code = code                 # what says the code on disk is still ``key``

    def listen(self) -> None:
        """Bind a temporary name, listen, then rename it into place: clients see a ready server."""
        tmp = f"{self.path}.{os.getpid()}.tmp"
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(tmp)
        sock.listen(64)
        os.replace(tmp, self.path)
        self.sock, self.inode = sock, os.stat(self.path).st_ino
        self._write_status()

    def _write_status(self) -> None:
        tmp = f"{self.status_path}.tmp"
        with open(tmp, "w") as f:
            json.dump({"pid": os.getpid(), "key": self.key, "started": self.started,
                       "runs": self.runs, "idle_s": self.idle_s, "socket": self.path,
                       "on_demand": [m for m in ON_DEMAND if m in sys.modules],
                       "traces": _prepared_traces()}, f)
        os.replace(tmp, self.status_path)

    def _still_ours(self) -> bool:
        try:
            return os.stat(self.path).st_ino == self.inode
        except OSError:
            return False

    def serve(self) -> None:
        last = time.monotonic()
        self._learn()                    # what the command that started the server read
        self.wake = os.pipe()            # a byte per SIGCHLD: a command ended
        for fd in self.wake:
            os.set_blocking(fd, False)
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)
        signal.set_wakeup_fd(self.wake[1])
        while True:
            self._reap()
            left = self.idle_s - (time.monotonic() - last)
            if left <= 0 or not self._still_ours():
                return
            try:
                ready, _, _ = select.select([self.sock, self.wake[0]], [], [], min(left, 5.0))
            except InterruptedError:
                continue
            if self.wake[0] in ready:
                _drain(self.wake[0])
            self._learn()                # before the fork: the command inherits it
            if self.sock not in ready:
                continue
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            last = time.monotonic()
            if not _same_user(conn):
                conn.close()
                continue
            if not self.code.current():          # corr changed on disk: let a new server run it
                _say_stale(conn)
                return
            self._fork(conn)
            self.runs += 1
            self._write_status()

    def _learn(self) -> None:
        """Import the modules and parse the traces earlier commands asked for (:mod:`wants`)."""
        modules, traces = wants.take(self.wants_path)
        loaded = load_on_demand(modules)
        made = []
        if traces:
            from ..reading import metadata, prepared
            made = prepared.prepare(traces)
            for path in traces:
                metadata.remember(path)
        if loaded or made:
            _freeze()
            self._write_status()

    def _fork(self, conn: socket.socket) -> None:
        try:
            faults = os.memfd_create("corr-faults", os.MFD_CLOEXEC)
        except OSError:
            faults = -1
        try:
            pid = os.fork()
        except OSError:
            conn.close()
            _close(faults)
            return
        if pid == 0:
            code = 70
            try:
                self.sock.close()
                signal.set_wakeup_fd(-1)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                for fd in self.wake:
                    os.close(fd)
                for other, other_faults in self.running.values():
                    other.close()
                    _close(other_faults)
                if faults >= 0:
                    import faulthandler
                    faulthandler.enable(file=faults, all_threads=False)
                code = _become_command(conn, self.wants_path)
            finally:
                os._exit(code)
        self.running[pid] = (conn, faults)

    def _reap(self) -> None:
        """Collect the commands that ended; reply for those that died by a signal."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            conn, faults = self.running.pop(pid, (None, -1))
            if conn is not None and os.WIFSIGNALED(status):
                signum = os.WTERMSIG(status)
                code = fate.exit_code(signum, _read_faults(faults))
                try:
                    conn.send(protocol.reply(protocol.KILLED, fate.reply_value(signum, code)),
                              socket.MSG_DONTWAIT)
                except OSError:
                    pass                 # the client is gone
            if conn is not None:
                conn.close()
            _close(faults)

    def close(self) -> None:
        """Remove the socket, status and wants files if they are still this server's."""
        if self.sock is not None and self._still_ours():
            _remove(self.path, self.status_path, self.wants_path)
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def _freeze() -> None:
    """What is loaded now, out of the collector's sight: a collection in a forked
    command would otherwise write to every such object's header, copying its page."""
    gc.collect()
    gc.freeze()


def _remove(*paths: str) -> None:
    for path in paths:
        try:
            os.unlink(path)
        except OSError:
            pass


def _say_stale(conn: socket.socket) -> None:
    try:
        conn.sendall(protocol.reply(protocol.STALE, 0))
    except OSError:
        pass
    conn.close()


def _same_user(conn: socket.socket) -> bool:
    import struct
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _, uid, _ = struct.unpack("3i", creds)
    return uid == os.getuid()


def _prepared_traces() -> list[str]:
    prepared = sys.modules.get("corr.reading.prepared")
    return prepared.kept() if prepared is not None else []


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 512):
            pass
    except BlockingIOError:
        pass


def _close(fd: int) -> None:
    if fd >= 0:
        os.close(fd)


def _read_faults(fd: int) -> str:
    """What faulthandler wrote into a command's memory file (the last 64 kB)."""
    if fd < 0:
        return ""
    try:
        size = os.fstat(fd).st_size
        return os.pread(fd, 65536, max(0, size - 65536)).decode("utf-8", "replace")
    except OSError:
        return ""


def _recv_request(conn: socket.socket) -> tuple[dict, list[int]]:
    """The request and the three descriptors it carried."""
    data, fds, _, _ = socket.recv_fds(conn, 65536, len(protocol.STDIO))
    if len(fds) != len(protocol.STDIO) or len(data) < protocol.LENGTH_SIZE:
        for fd in fds:
            os.close(fd)
        raise protocol.ProtocolError("a request without its descriptors")
    length = protocol.request_length(data)
    body = bytearray(data[protocol.LENGTH_SIZE:])
    while len(body) < length:
        chunk = conn.recv(length - len(body))
        if not chunk:
            raise protocol.ProtocolError("a request cut short")
        body += chunk
    return protocol.decode_request(bytes(body)), fds


def _become_command(conn: socket.socket, wants_path: str) -> int:
    """In the forked child: take on the client's context, run the command, report its code."""
    had = set(sys.modules)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    request, fds = _recv_request(conn)
    for target, fd in zip(protocol.STDIO, fds):
        os.dup2(fd, target)
        os.close(fd)
    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False))
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), line_buffering=os.isatty(1))
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), line_buffering=True,
                                  errors="backslashreplace")
    conn.sendall(protocol.reply(protocol.PID, os.getpid()))
    try:
        os.chdir(request["cwd"])
    except OSError as exc:
        sys.stderr.write(f"corr: the working directory is gone: {exc.strerror}\n")
        code = 2
    else:
        os.environb.clear()
        os.environb.update(request["env"])
        os.umask(request["umask"])
        import tempfile
        tempfile.tempdir = None          # TMPDIR is the client's
        sys.argv = ["corr", *request["argv"]]
        from ..cli import main
        try:
            _end_with_the_client(conn)
            code = main(request["argv"])
        except SystemExit as exc:            # argparse's --help and --version
            code = _exit_status(exc.code)
        except KeyboardInterrupt:            # the client left before main() could catch it
            code = 130
        finally:
            signal.signal(signal.SIGIO, signal.SIG_IGN)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except OSError:
            pass
    atexit._run_exitfuncs()
    # For the server to have ready before the next command (written before the exit code).
    # Only the traces of a command that succeeded: the server parses their metadata in
    # its own process, and one that failed may be one libbabeltrace2 aborts or hangs on.
    from ..reading.prepared import traces_read
    wants.record(wants_path, [m for m in ON_DEMAND if m in sys.modules and m not in had],
                 traces_read() if code == 0 else [])
    try:
        conn.sendall(protocol.reply(protocol.EXIT, code))
    except OSError:
        pass
    return code


def _end_with_the_client(conn: socket.socket) -> None:
    """Interrupt the command, as Ctrl-C would, once its client is gone.

    A client killed outright (SIGKILL, its terminal closed) passes nothing
    on, and the command would run on, writing to a terminal nobody reads.
    Its end of the connection closes then: the kernel sends this process
    SIGIO (``O_ASYNC``).  A client never sends after its request, so the
    connection at end-of-file means the client left.
    """
    def gone() -> bool:
        try:
            return conn.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except BlockingIOError:
            return False
        except OSError:
            return True                  # reset

    def on_sigio(signum, frame):
        if gone():
            raise KeyboardInterrupt

    signal.signal(signal.SIGIO, on_sigio)
    fcntl.fcntl(conn.fileno(), fcntl.F_SETOWN, os.getpid())
    fcntl.fcntl(conn.fileno(), fcntl.F_SETFL, fcntl.fcntl(conn.fileno(), fcntl.F_GETFL) | os.O_ASYNC)
    if gone():                           # it left before the signal was armed
        raise KeyboardInterrupt


def _exit_status(code) -> int:
    """What ``sys.exit(code)`` would make the process's exit status."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    sys.stderr.write(f"{code}\n")
    return 1


def _try_lock(f) -> bool:
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            return False
        raise
    return True


def remove_gone_servers(folder: str, key: str) -> list[str]:
    """Remove the files of other code keys' servers that no longer run (their lock is
    free), and native clients' links to them: each edit or upgrade of corr makes a
    new key.  The keys removed."""
    removed = []
    for name in os.listdir(folder):
        if not (name.startswith("server-") and name.endswith(".lock")) or key in name:
            continue
        other = name[len("server-"):-len(".lock")]
        try:
            f = open(os.path.join(folder, name), "r")
        except OSError:
            continue
        with f:
            if not _try_lock(f):
                continue                 # that server runs (or is starting)
            _remove(address.socket_path(folder, other), address.pid_path(folder, other),
                    address.wants_path(folder, other), address.lock_path(folder, other))
            removed.append(other)
    gone = {os.path.basename(address.socket_path(folder, other)) for other in removed}
    for name in os.listdir(folder):                  # native clients' links to them
        link = os.path.join(folder, name)
        try:
            if address.client_link(folder, link) and os.readlink(link) in gone:
                os.unlink(link)
        except OSError:
            pass
    return removed


def run(idle_s: float = DEFAULT_IDLE_S) -> int:
    """Be the server of this code's key, unless one already is (then return at once)."""
    folder = address.private_folder(create=True)
    if folder is None:
        return 1
    key = address.code_key()
    lock = open(address.lock_path(folder, key), "w")
    if not _try_lock(lock):
        return 0                         # another server of this code runs or is starting
    code = freshness.CodeWatch(key)      # before the imports: an edit during them is seen
    remove_gone_servers(folder, key)
    preload()
    _freeze()
    server = Server(folder, key, idle_s, code)

    def stop(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        server.listen()
        server.serve()
    finally:
        server.close()
    return 0


def idle_seconds() -> float:
    """``CORR_SERVER_IDLE`` (seconds), else the default."""
    try:
        value = float(os.environ.get("CORR_SERVER_IDLE", DEFAULT_IDLE_S))
    except ValueError:
        return DEFAULT_IDLE_S
    return value if value > 0 else DEFAULT_IDLE_S
