"""The ``corr`` command: a thin layer over :mod:`corr.api`.

One module per command; each has ``add_parser(subparsers)`` and
``run(args, ui) -> int``.  Bad input of any kind ends here as one
``corr: ...`` line on stderr and exit code 2, never a traceback.

Every command's parser is built at start-up, so the command modules import
what they need (the API, renderers, rich) inside ``run``: a ``corr run``
does not pay for ``corr inspect``'s imports.
"""

from __future__ import annotations

import argparse
import functools
import os

from .. import __version__
from ..errors import CorrError, OutputError
from . import cache_cmd, check_cmd, inspect_cmd, record_cmd, run_cmd, server_cmd, tune_cmd
from .ui import UI, ReaderLeft

COMMANDS = {"run": run_cmd, "check": check_cmd, "inspect": inspect_cmd, "tune": tune_cmd,
            "cache": cache_cmd, "server": server_cmd, "record": record_cmd}


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are CorrErrors (one line, exit 2)."""

    def error(self, message):
        raise CorrError(message)

    def _print_message(self, message, file=None):
        """--help and --version: a failed write is one line, as any command's."""
        import sys
        stream = file or sys.stderr
        name = "stdout" if stream is sys.stdout else "stderr"
        try:
            super()._print_message(message, stream)
            stream.flush()           # before exiting: a served command's stdout buffers
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise OutputError(name, f"cannot write: {exc.strerror or exc}") from None


@functools.cache
def build_parser() -> argparse.ArgumentParser:
    """The parser of every command, built once per process (a resident server's
    commands share it; parsing never changes it)."""
    return _build_parser()


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="corr", description=(
        "Pair entry/exit events of kernel and user traces into intervals, "
        "then explain the slow ones from scheduling."))
    parser.add_argument("--version", action="version", version=f"corr {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for module in COMMANDS.values():
        module.add_parser(sub)
    return parser


EXIT_BROKEN_PIPE = 141


def _stdout_to_devnull() -> None:
    """What is still buffered for the closed pipe goes nowhere, without a second
    error when Python flushes stdout at exit."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
    except OSError:
        return
    os.dup2(null, 1)
    os.close(null)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    """The command line, ``corr record``'s command after ``--`` set apart."""
    import sys
    argv = list(sys.argv[1:] if argv is None else argv)
    command = None
    if argv[:1] == ["record"]:
        argv, command = record_cmd.split_command(argv)
    args = build_parser().parse_args(argv)
    if command is not None:
        args.workload = command
    return args


def main(argv: list[str] | None = None, ui: UI | None = None) -> int:
    """Run corr with ``argv``; return the exit code."""
    from ..engine.memory import own_the_heap
    own_the_heap()
    ui = ui or UI()
    try:
        args = _parse(argv)
        code = COMMANDS[args.command].run(args, ui)
        ui.stdout.flush()            # a write that fails fails here, not at exit
        return code
    except CorrError as exc:
        ui.error(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        ui.error("interrupted")
        return 130
    except (BrokenPipeError, ReaderLeft):
        # The reader of stdout left (| head): end quietly, as a command killed by
        # SIGPIPE does, with its status (128 + 13): output was lost (README, Output formats).
        _stdout_to_devnull()
        return EXIT_BROKEN_PIPE
    except Exception as exc:  # a bug of ours, not bad input: say so in one line
        if os.environ.get("CORR_DEBUG"):
            raise
        ui.error(f"internal error: {type(exc).__name__}: {exc} "
                 "(please report it; CORR_DEBUG=1 shows the traceback)")
        return 70

