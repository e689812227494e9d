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
    """Whether a command may go to the server: not ``corr server`` itself, not a
    terminal session (``tune --interactive`` owns the terminal, its resizes and keys)."""
    if not argv or argv[0] == "server":
        return False
    return not (argv[0] == "tune" and any(a in ("-i", "--interactive") for a in argv))


def entry_point() -> None:
    argv = sys.argv[1:]
    import os
    link = os.environ.pop("CORR_CLIENT_LINK", None)     # the native client's (address.client_link)
    from .server import address
    use_server = address.mode() == "auto" and served(argv)
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
        except (OSError, ValueError):
            pass
    os._exit(code)
