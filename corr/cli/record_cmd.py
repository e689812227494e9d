"""``corr record RULES [-o DIR] -- COMMAND...``: record what the rules need, then run them."""

from __future__ import annotations

import shlex

from ..errors import UsageError

EXIT_SIGNAL = 128


def add_parser(sub) -> None:
    p = sub.add_parser(
        "record", help="record what RULES need while a command runs, then run RULES on it",
        description="Record exactly the events RULES need (user-space ones through a private "
                    "lttng-sessiond, kernel ones through perf on CLOCK_MONOTONIC converted to "
                    "CTF) while COMMAND runs, into DIR/ust and DIR/kernel; then run RULES on "
                    "DIR.  Without a command: -p PID (until it exits) or --system-wide "
                    "(until Ctrl-C or --duration).  Needs root for kernel events.  "
                    "See docs/record.md.",
        usage="corr record RULES [-o DIR] [--no-run] [--print] "
              "[-g] (-- COMMAND [ARGS...] | -p PID | --system-wide) [--duration S]")
    p.add_argument("rules", metavar="RULES", help="a rule file (YAML)")
    p.add_argument("-o", "--output", metavar="DIR",
                   help="where to write the recording (default: ./corr-record-DATE-TIME); it "
                        "must not hold kernel/ or ust/ already")
    p.add_argument("-p", "--pid", type=int, metavar="PID",
                   help="record until process PID exits (its events, and the whole system's "
                        "scheduling)")
    p.add_argument("--system-wide", action="store_true",
                   help="record without a command, until Ctrl-C (or --duration)")
    p.add_argument("--duration", type=float, metavar="SECONDS",
                   help="with -p or --system-wide: stop after SECONDS")
    p.add_argument("--no-run", action="store_true",
                   help="only record: print the corr run command instead of running it")
    p.add_argument("-g", "--call-graph", action="store_true", dest="callchains",
                   help="record the call chains of switches and wakeups (frame pointers), "
                        "and keep perf.data and kallsyms beside kernel/: for code stacks "
                        "(implied by a rule with stacks: true; docs/stacks.md)")
    p.add_argument("--print", action="store_true", dest="print_only",
                   help="print the equivalent lttng and perf commands; record nothing")
    p.set_defaults(workload=[])


def split_command(argv: list[str]) -> tuple[list[str], list[str] | None]:
    """``corr record`` options, and the command after the first ``--`` (None
    without one): the command's own options are never corr's."""
    if "--" not in argv:
        return argv, None
    i = argv.index("--")
    return argv[:i], argv[i + 1:]


def _target(args) -> list[str]:
    command = list(args.workload)
    given = [bool(command), args.pid is not None, args.system_wide]
    if sum(given) != 1:
        raise UsageError("record: give one of -- COMMAND, -p PID or --system-wide")
    if args.duration is not None and (command or args.duration <= 0):
        raise UsageError("record: --duration takes a positive number of seconds, with -p or "
                         "--system-wide (a command ends the recording itself)")
    if args.pid is not None and args.pid <= 0:
        raise UsageError(f"record: -p {args.pid}: not a process id")
    return command


def run(args, ui) -> int:
    from .. import api
    command = _target(args)
    if args.print_only:
        made = api.record(args.rules, args.output, command, pid=args.pid, dry_run=True,
                          callchains=args.callchains)
        ui.write(made.script)
        return 0
    from ..record.session import Interrupted
    try:
        made = api.record(args.rules, args.output, command, pid=args.pid,
                          duration=args.duration, callchains=args.callchains)
    except Interrupted as exc:
        ui.error(f"record: interrupted ({exc}): the recording was stopped and removed")
        return EXIT_SIGNAL + exc.signum
    for note in made.notes:
        ui.error(f"warning: {note}")
    if made.interrupted and command:
        ui.error(f"warning: interrupted (SIGINT): {shlex.join(command)} was stopped; its "
                 "recording is kept")
    if made.status:
        ui.error(f"warning: {shlex.join(command)} exited with status {made.status}; its "
                 f"recording is kept")
    run_line = f"corr run {shlex.quote(args.rules)} {shlex.quote(made.outdir)}"
    ui.error_console_note(f"recorded in {made.outdir}")
    ui.write(run_line)
    code = 0
    if not args.no_run:
        ui.write("")
        ui.stdout.flush()
        from . import build_parser, run_cmd
        code = run_cmd.run(build_parser().parse_args(["run", args.rules, made.outdir]), ui)
    return made.status or code
