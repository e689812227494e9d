"""``corr server start|stop|status``: the resident server (docs/server.md)."""

from __future__ import annotations

import time

from ..errors import CorrError


def add_parser(sub) -> None:
    p = sub.add_parser("server", help="start, stop or list the resident server",
                       description="A resident corr process keeps its imports warm, and the "
                                   "metadata of the traces the last command read parsed, so "
                                   "that commands start at once; a command started without one "
                                   "starts it (CORR_SERVER=off turns this off).")
    p.add_argument("action", choices=("start", "stop", "status"),
                   help="start: wait until this code's server runs; stop: stop every server; "
                        "status: list them, with the traces each holds parsed")
    p.add_argument("--foreground", action="store_true",
                   help="start: be the server in this process (until idle)")


def run(args, ui) -> int:
    from ..server import control, daemon
    if args.action == "start":
        if args.foreground:
            return daemon.run(daemon.idle_seconds())
        info = control.start()
        if info is None:
            raise CorrError(f"the resident server did not start: {_folder()} must be a "
                            "folder of yours that others cannot enter (see server.log there)")
        ui.write(f"server running: pid {info.pid}, code {info.key}, {info.runs} command(s) served")
        return 0
    if args.action == "stop":
        stopped = control.stop()
        ui.write(f"stopped {len(stopped)} server{'' if len(stopped) == 1 else 's'}")
        return 0
    found = control.servers()
    if not found:
        ui.write("no server running")
        return 1
    now = time.time()
    for s in found:
        which = "this code" if s.current else "older code (exits when idle)"
        ui.write(f"pid {s.pid}: {which} [{s.key}], {s.runs} command(s) served, "
                 f"up {now - s.started:.0f} s, exits after {s.idle_s:.0f} s idle"
                 + (f"; loaded for commands: {', '.join(s.on_demand)}" if s.on_demand else "")
                 + (f"; metadata parsed: {', '.join(s.traces)}" if s.traces else ""))
    return 0 if found[0].current else 1


def _folder() -> str:
    from ..server import address
    return address.runtime_folder()
