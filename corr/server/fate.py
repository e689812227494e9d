"""A served command that died by a signal: which exit code, and what the client says.

The command is a child of the server, so only the server learns how it
ended; it replies ``k`` with the signal and the exit code the client ends
with (:mod:`.protocol`).  The rule:

- **2 (bad input)** when the command died of a fault (SIGABRT, SIGSEGV,
  SIGBUS, SIGFPE, SIGILL) while decoding its traces: libbabeltrace2 aborts
  on some malformed traces (its assertions), and corr's own C code never
  aborts.  "While decoding" is read from the Python traceback that
  :mod:`faulthandler` writes at the fault (into a memory file the server
  gave the command): its innermost frame of corr or of the ``bt2`` package
  is in ``bt2`` or in ``corr/reading/``.
- **70 (internal)** otherwise: a fault elsewhere is corr's bug (or a
  library's), and a SIGKILL comes from outside (the kernel's out-of-memory
  killer, a user).

A signal the client itself passed on (Ctrl-C, a ``kill`` of the client)
is not reported: the client ends by it, as an in-process run would.
"""

from __future__ import annotations

import os

FAULTS = (6, 11, 7, 8, 4)                # SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL
NAMES = {1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 4: "SIGILL", 5: "SIGTRAP", 6: "SIGABRT",
         7: "SIGBUS", 8: "SIGFPE", 9: "SIGKILL", 10: "SIGUSR1", 11: "SIGSEGV", 12: "SIGUSR2",
         13: "SIGPIPE", 14: "SIGALRM", 15: "SIGTERM"}
BAD_INPUT, INTERNAL = 2, 70
_READING = os.sep + os.path.join("corr", "reading") + os.sep
_BT2 = os.sep + "bt2" + os.sep


def exit_code(signum: int, traceback: str) -> int:
    """The exit code of a command killed by ``signum``, given what faulthandler wrote."""
    if signum not in FAULTS:
        return INTERNAL
    return BAD_INPUT if decoding(traceback) else INTERNAL


def decoding(traceback: str) -> bool:
    """Was the last traceback in ``traceback`` (most recent call first) decoding traces?"""
    last = traceback.rsplit("(most recent call first):", 1)
    if len(last) < 2:
        return False
    for line in last[1].splitlines():
        line = line.strip()
        if not line.startswith('File "'):
            if line and not line.startswith("<"):
                break                    # the end of the frames
            continue
        path = line[len('File "'):].split('"', 1)[0]
        if _BT2 in path or _READING in path:
            return True
        if (os.sep + "corr" + os.sep) in path:
            return False
    return False


def reply_value(signum: int, code: int) -> int:
    return signum + 256 * code


def message(value: int) -> tuple[str, int]:
    """The client's one line and exit code for a ``k`` reply's ``value``."""
    import signal
    signum, code = value & 0xFF, value >> 8
    try:
        described = signal.strsignal(signum) or "unknown signal"
    except ValueError:
        described = "unknown signal"
    name = NAMES.get(signum, f"signal {signum}")
    why = (" while decoding its traces (babeltrace2 stops so on some malformed traces)"
           if code == BAD_INPUT else " (CORR_SERVER=off runs corr in this process)")
    return f"corr: the resident server's command was killed by {name} ({described}){why}\n", code
