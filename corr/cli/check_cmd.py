"""``corr check RULES [TRACE...]``: validate a rule file, and its fit to traces."""

from __future__ import annotations

from .options import clock_offsets


def add_parser(sub) -> None:
    p = sub.add_parser("check", help="validate a rule file (and that traces have its events)",
                       description="Check RULES: YAML, schema, units and expressions. Given "
                                   "traces, also check that the events and fields the rules "
                                   "use exist in them; without, print which events and "
                                   "contexts a trace must hold for them (what corr record "
                                   "records).")
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
    if not args.traces:
        ui.write(requirements(api.record(ruleset, dry_run=True).plan, display(args.rules)))
    return 0


def requirements(plan, rules: str) -> str:
    """What a trace must hold for the rules, as ``corr record`` records it."""
    import shlex
    lines = ["a trace for these rules must hold:"]
    if plan.ust_events:
        lines.append(f"  user space (LTTng-UST), each event with the contexts "
                     f"{', '.join(plan.ust_contexts)}:")
        width = max(map(len, plan.ust_events))
        for name in plan.ust_events:
            fields = plan.ust_fields.get(name, ())
            lines.append(f"    {name:<{width}}  {'fields ' + ', '.join(fields) if fields else ''}"
                         .rstrip())
    if plan.kernel_events or plan.unrecordable:
        lines.append("  kernel (lttng-modules name, perf tracepoint, why):")
        rows = [(name, perf, plan.why[name]) for name, perf in zip(plan.kernel_events,
                                                                    plan.perf_events)]
        rows += [(name, "-", "named by the rules; no perf tracepoint corr knows: "
                             "record it with lttng-modules") for name in plan.unrecordable]
        w1, w2 = (max(len(r[i]) for r in rows) for i in (0, 1))
        lines += [f"    {n:<{w1}}  {p:<{w2}}  {why}" for n, p, why in rows]
    if not (plan.ust_events or plan.kernel_events or plan.unrecordable):
        lines.append("  no event")
    lines.append(f"record it with: corr record {shlex.quote(rules)} -- COMMAND [ARGS...]  "
                 "(--print: the lttng and perf commands)")
    return "\n".join(lines)
