"""What commands ask the server to have ready for the next one: its ``.wants`` file.

A command run by the server (or the command before the server started)
appends, when it ends, the ``daemon.ON_DEMAND`` modules it had to import
and the traces it decoded; the server imports those modules and parses
those traces' metadata (:mod:`corr.reading.prepared`) before it forks
the next command.  One line per item (``module NAME``, ``trace PATH``),
appended in one write, so that commands ending together do not mix.
"""

from __future__ import annotations

import os

from . import address


def record(path: str, modules, traces) -> None:
    """Append ``modules`` and ``traces`` (absolute paths) to the wants file at ``path``."""
    lines = [f"module {m}" for m in modules] + [f"trace {t}" for t in traces
                                                  if "\n" not in t]
    if not lines:
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, ("\n".join(lines) + "\n").encode())
        finally:
            os.close(fd)
    except OSError:
        pass


def take(path: str) -> tuple[set[str], list[str]]:
    """The modules and traces asked for (traces in order, once each); the file is removed."""
    try:
        with open(path) as f:
            text = f.read()
        os.unlink(path)
    except OSError:
        return set(), []
    modules: set[str] = set()
    traces: list[str] = []
    for line in text.splitlines():
        kind, _, value = line.partition(" ")
        if kind == "module":
            modules.add(value)
        elif kind == "trace" and value not in traces:
            traces.append(value)
    return modules, traces


def record_for_next_server(key: str, modules=()) -> None:
    """From a command run without the server: what the server about to start (of code
    ``key``) should have ready (the traces this process decoded)."""
    import sys
    prepared = sys.modules.get("corr.reading.prepared")
    traces = prepared.traces_read() if prepared is not None else []
    folder = address.private_folder(create=True)
    if folder is not None and (traces or modules):
        record(address.wants_path(folder, key), modules, traces)
