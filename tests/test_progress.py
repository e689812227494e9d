"""The progress bar shows on a terminal and stays off otherwise."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

from conftest import run_corr, shared_trace


def test_no_progress_output_when_stderr_is_not_a_terminal():
    proc = run_corr("inspect", shared_trace("many-threads"))
    assert proc.returncode == 0
    assert proc.stderr == ""


def test_progress_bar_on_a_terminal():
    trace = shared_trace("many-threads")
    exe = Path(sys.executable).parent / "corr"
    main, secondary = pty.openpty()
    proc = subprocess.Popen([str(exe), "inspect", str(trace)], stdout=subprocess.DEVNULL,
                            stderr=secondary, env={**os.environ, "COLUMNS": "100"})
    os.close(secondary)
    seen = b""
    while True:
        try:
            chunk = os.read(main, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    assert proc.wait() == 0
    os.close(main)
    text = seen.decode("utf-8", "replace")
    assert "reading" in text and "events" in text
