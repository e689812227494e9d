"""Whether a process still runs: for files and sockets named after their owner."""

from __future__ import annotations

import os


def alive(pid: int) -> bool:
    """True while ``pid`` runs (or is another user's: we cannot tell it is gone).

    A child that exited and was not reaped yet (a zombie) counts as gone.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True                      # no /proc: kill() said it exists
