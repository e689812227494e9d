"""Typed errors for bad input.

Every error a user can cause is a :class:`CorrError`; the CLI prints it as
one ``corr: ...`` line and exits with :attr:`CorrError.exit_code`.  Nothing
else should reach the user as a traceback.
"""

from __future__ import annotations


class CorrError(Exception):
    """Bad input of any kind: the message names the file and the cause."""

    exit_code = 2


class UsageError(CorrError):
    """An option or argument out of range."""


class OverrideError(UsageError):
    """A threshold or timeout override that cannot be applied.

    ``argument`` is how the caller gave it: ``"--set"`` on the command line,
    ``"overrides:"`` through :func:`corr.run`; :meth:`worded` says it as
    another caller would (the CLI words the API's errors as its own flag).
    """

    def __init__(self, argument: str, assignment: str, reason: str):
        self.argument = argument
        self.assignment = assignment
        self.reason = reason
        super().__init__(f"{argument} {assignment}: {reason}")

    def worded(self, argument: str) -> "OverrideError":
        """The same error, said of ``argument``."""
        return OverrideError(argument, self.assignment, self.reason)

    def __reduce__(self):
        return type(self), (self.argument, self.assignment, self.reason)


class TraceError(CorrError):
    """A path that is not a trace, or a trace that cannot be read."""

    def __init__(self, path: str, cause: str):
        self.path = str(path)
        self.cause = cause
        super().__init__(f"{self.path}: {cause}")

    def __reduce__(self):
        # Sent whole from a decoding child to its parent (pickle would call the
        # constructor with the message alone).
        return type(self), (self.path, self.cause)


class TraceDecodeError(TraceError):
    """A trace that stopped decoding part-way.

    What was decoded before the failure is kept by the reader and stays
    usable; ``stopped_at_ns`` is the last good timestamp, ``events_before``
    how many events were delivered.
    """

    def __init__(self, path: str, cause: str, stopped_at_ns: int | None = None,
                 events_before: int = 0):
        self.stopped_at_ns = stopped_at_ns
        self.events_before = events_before
        super().__init__(path, cause)

    def __reduce__(self):
        return type(self), (self.path, self.cause, self.stopped_at_ns, self.events_before)


class RuleError(CorrError):
    """A mistake in a rule file, located as file:line:column."""

    def __init__(self, path: str, line: int | None, column: int | None, message: str):
        self.path = str(path)
        self.line = line
        self.column = column
        self.reason = message
        where = self.path
        if line is not None:
            where += f":{line}"
            if column is not None:
                where += f":{column}"
        super().__init__(f"{where}: {message}")


class OutputError(CorrError):
    """Output that could not be written (a full disk, a closed stdout): the message
    names where it went (a file, "stdout") and the cause."""

    def __init__(self, destination: str, cause: str):
        self.destination = destination
        self.cause = cause
        super().__init__(f"{destination}: {cause}")
