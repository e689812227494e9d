"""``corr check RULES [TRACE...]``: validate a rule file, and its fit to traces."""

from __future__ import annotations

from .options import clock_offsets


def add_parser(sub) -> None:
    p = sub.add_parser("check", help="validate a rule file (and that traces have its events)",
                       description="Check RULES: YAML, schema, units and expressions. Given "
                                   "traces, also check that the events and fields the rules "
                                   "use exist in them.")
    p.add_argument("rules", metavar="RULES")
    p.add_argument("traces", nargs="*", metavar="TRACE")
    p.add_argument("--clock-offset", action="append", default=[], metavar="TRACE=NS",
                   help=__import__("argparse").SUPPRESS)


def run(args, ui) -> int:
    from .. import api
    ruleset, warnings = api.check(args.rules, args.traces, clock_offsets(args.clock_offset))
    for w in warnings:
        ui.error(f"warning: {w}")
    from ..paths import display
    ui.write(f"{display(args.rules)}: {len(ruleset.rules)} rule(s) ok"
             + (f", {len(warnings)} warning(s)" if warnings else ""))
    return 0
