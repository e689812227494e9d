"""Where the CLI writes: results on stdout, errors and progress on stderr.

rich is imported when a console or a progress bar is first used: JSON, CSV
and error output never need it.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager


class UI:
    def __init__(self, stdout=None, stderr=None):
        self.stdout = _Stdout(stdout or sys.stdout)
        self.stderr = stderr or sys.stderr
        self._console = self._err_console = None

    @property
    def console(self):
        """rich's console on stdout (plain text: no highlighting, no emoji codes)."""
        if self._console is None:
            from rich.console import Console
            # Off a terminal (a pipe, a file) tables keep their natural width.
            width = None if hasattr(self.stdout, "isatty") and self.stdout.isatty() else 200
            self._console = Console(file=self.stdout, highlight=False, emoji=False,
                                    soft_wrap=False, width=width)
        return self._console

    @property
    def err_console(self):
        if self._err_console is None:
            from rich.console import Console
            self._err_console = Console(file=self.stderr, highlight=False, emoji=False)
        return self._err_console

    def write(self, text: str) -> None:
        self.stdout.write(text)
        if not text.endswith("\n"):
            self.stdout.write("\n")

    def error(self, message: str) -> None:
        """One ``corr:`` line: what a message quotes from a trace (an event's name, a
        path) cannot break it in two or send an escape sequence to the terminal."""
        from ..render.escape import terminal
        self.stderr.write(f"corr: {terminal(message)}\n")
        self.stderr.flush()

    def error_console_note(self, message: str) -> None:
        """A remark on stderr that is not an error (what was written where)."""
        self.stderr.write(f"{message}\n")

    @property
    def interactive(self) -> bool:
        return hasattr(self.stderr, "isatty") and self.stderr.isatty()

    @contextmanager
    def progress(self, label: str, enabled: bool = True):
        """A progress callback ``(events, fraction)``; a no-op off a terminal."""
        if not (enabled and self.interactive):
            yield None
            return
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
        bar = Progress(TextColumn("{task.description}"), BarColumn(),
                       TextColumn("{task.percentage:>3.0f}%  {task.fields[events]:,} events"),
                       TimeElapsedColumn(), console=self.err_console, transient=True)
        task = bar.add_task(label, total=1.0, events=0)
        with bar:
            yield lambda events, fraction: bar.update(task, completed=fraction, events=events)


class ReaderLeft(Exception):
    """stdout's reader closed the pipe (``| head``).  Not a BrokenPipeError: rich
    would catch that and exit by itself."""


class _Stdout:
    """The command's stdout, whose failed writes (a full disk, a closed descriptor)
    are one OutputError naming stdout rather than an internal error.  A closed
    pipe is ReaderLeft (corr.cli.main ends quietly)."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text):
        with _naming_stdout():
            return self._stream.write(text)

    def flush(self) -> None:
        with _naming_stdout():
            self._stream.flush()

    def __getattr__(self, name):
        return getattr(self._stream, name)


@contextmanager
def _naming_stdout():
    from ..errors import OutputError
    try:
        yield
    except BrokenPipeError:
        raise ReaderLeft() from None
    except OSError as exc:
        raise OutputError("stdout", f"cannot write: {exc.strerror or exc}") from None
    except ValueError as exc:                 # a stream closed under the writer
        if "closed file" not in str(exc):
            raise
        raise OutputError("stdout", "cannot write: it is closed") from None
