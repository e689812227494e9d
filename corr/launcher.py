"""The ``corr`` executable: through the resident server when one answers, else here.

Kept to the standard library until it knows which way the command goes: a
command the server runs costs this process only Python's own start-up.
A command run here starts the server afterwards, in the background, so
that the next one is served (``CORR_SERVER=off`` turns all of it off;
``corr server`` starts, stops and lists servers; docs/server.md).
"""

from __future__ import annotations

import sys


def served(argv: list[str]) -> bool:
    """Whether a command may go to the server: not ``corr server`` itself, not
    ``corr record`` (its daemons and the command it runs are this process's
    children, its signals stop them), not a terminal session (``tune
    --interactive`` owns the terminal, its resizes and keys)."""
    if not argv or argv[0] in ("server", "record"):
        return False
    return not (argv[0] == "tune" and any(a in ("-i", "--interactive") for a in argv))


def entry_point() -> None:
    argv = sys.argv[1:]
    import os
    link = os.environ.pop("CORR_CLIENT_LINK", None)     # the native client's (address.client_link)
    closed = occupy_closed_stdio()
    from .server import address
    use_server = address.mode() == "auto" and served(argv) and not closed
    if use_server:
        from .server import client
        key = address.code_key()             # the code this is: once, for all three below
        code = client.run(argv, key, link)
        if code is not None:
            _leave(code)
    no_blas_threads()
    from .cli import main
    code = main(argv)
    if use_server:
        try:
            sys.stdout.flush()
        except OSError:
            pass
        from .server import wants
        if code == 0:                        # (not a trace that may abort or hang the server)
            wants.record_for_next_server(key)    # the traces read here: parsed before it serves
        client.start_in_background(key, link)
    sys.exit(code)


def occupy_closed_stdio() -> list[int]:
    """Which of descriptors 0, 1 and 2 were closed (``corr run ... >&-``), each now
    held by /dev/null so that no file corr opens takes its number (a trace read
    as stdin, a cache file written as stdout).  A closed stdout stays closed to
    corr: what is written there fails with one ``corr: stdout: ...`` line."""
    import os
    closed = []
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            closed.append(fd)
    for fd in closed:
        held = os.open(os.devnull, os.O_RDWR)
        if held != fd:
            os.dup2(held, fd)
            os.close(held)
    if 1 in closed:
        sys.stdout = ClosedStdout()
    return closed


class ClosedStdout:
    """sys.stdout for a command started with stdout closed: every write fails."""

    encoding = "utf-8"
    name = "<stdout>"

    def write(self, text):
        import errno
        raise OSError(errno.EBADF, "it was closed when corr started")

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        import io
        raise io.UnsupportedOperation("stdout is closed")   # not /dev/null's descriptor


def no_blas_threads() -> None:
    """OpenBLAS (numpy's) without its thread pool, unless the user set one: corr
    does no linear algebra, and the pool costs 10 ms at import and spins on a
    core while decode workers need both (a fork copies only the forking thread)."""
    import os
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")


def _leave(code: int) -> None:
    """Exit at once with a served command's code: this process only relayed it, and
    the interpreter's finalization would be a tenth of a re-run from the cache."""
    import os
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, OSError, ValueError):
            pass
    os._exit(code)
