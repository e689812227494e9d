"""Start, stop and list resident servers (what ``corr server`` calls)."""

from __future__ import annotations

import json
import os
import signal
import time
from dataclasses import dataclass

from ..processes import alive
from . import address, client


@dataclass
class ServerInfo:
    pid: int
    key: str
    current: bool          # runs the code this process would run
    runs: int
    started: float
    idle_s: float
    socket: str
    on_demand: list      # the modules it imported for earlier commands (daemon.ON_DEMAND)
    traces: list         # the traces whose metadata it holds parsed (reading.prepared)


def servers() -> list[ServerInfo]:
    """Every live server of this user, current code first."""
    folder = address.private_folder(create=False)
    if folder is None:
        return []
    key = address.code_key()
    found = []
    for name in sorted(os.listdir(folder)):
        if not (name.startswith("server-") and name.endswith(".pid")):
            continue
        try:
            with open(os.path.join(folder, name)) as f:
                s = json.load(f)
            if not alive(s["pid"]):
                continue
        except (OSError, ValueError, KeyError, TypeError):
            continue
        found.append(ServerInfo(s["pid"], s["key"], s["key"] == key, s["runs"], s["started"],
                                s["idle_s"], s["socket"], s.get("on_demand", []), s.get("traces", [])))
    return sorted(found, key=lambda s: (not s.current, s.started))


def current() -> ServerInfo | None:
    return next((s for s in servers() if s.current), None)


def start(wait_s: float = 30.0) -> ServerInfo | None:
    """This code's server, started in the background if none runs; None if it did not come up."""
    if address.private_folder(create=True) is None:
        return None                   # a folder others could enter: no server there
    info = current()                  # its status file is written once it listens
    if info is not None:
        return info
    client.start_in_background()
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        info = current()
        if info is not None:
            return info
        time.sleep(0.05)
    return None


def stop(wait_s: float = 10.0) -> list[int]:
    """SIGTERM every server of this user (any code); the pids that were stopped."""
    stopped = []
    for s in servers():
        try:
            os.kill(s.pid, signal.SIGTERM)
            stopped.append(s.pid)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + wait_s
    while stopped and time.monotonic() < deadline and any(alive(p) for p in stopped):
        time.sleep(0.02)
    return stopped
