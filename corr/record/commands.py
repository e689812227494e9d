"""The tracer command lines that record a :class:`~.plan.RecordPlan`.

One place builds them, for ``corr record`` to run and for ``corr record
--print`` to print (a machine without corr runs the same commands).  The
layout is the one corr reads as one recording: ``DIR/ust/uid/*/64-bit``
(LTTng-UST, ``lttng create --output=DIR``) and ``DIR/kernel`` (perf data
converted to CTF).  Kernel events come from perf on ``CLOCK_MONOTONIC``, the
clock LTTng-UST stamps with, so corr can put both halves on one time base.
"""

from __future__ import annotations

import shlex

from .plan import RecordPlan

# What to install when a tool is missing (Debian package names).
PACKAGES = {"lttng": "lttng-tools", "lttng-sessiond": "lttng-tools", "perf": "linux-perf"}
PERF_BUFFER = "8M"           # per CPU: a busy second of scheduling and interrupt events
# The events whose call chains code stacks read (docs/stacks.md): the switched-out
# thread's, the waker's.  Only these carry one (frame pointers: -g on every event
# would chain each system call too).
CHAINED = frozenset({"sched:sched_switch", "sched:sched_waking", "sched:sched_wakeup",
                     "sched:sched_wakeup_new"})
KALLSYMS = "/proc/kallsyms"


def tools(plan: RecordPlan) -> list[str]:
    """The programs recording ``plan`` runs."""
    return (["lttng", "lttng-sessiond"] if plan.ust else []) + (["perf"] if plan.kernel else [])


def lttng_setup(plan: RecordPlan, session: str, outdir: str) -> list[list[str]]:
    """Create the UST session writing into ``outdir``, enable the plan's events
    with its contexts, start it."""
    contexts = [arg for ctx in plan.ust_contexts for arg in ("-t", ctx)]
    return [["lttng", "create", session, f"--output={outdir}"],
            ["lttng", "enable-event", "-u", "-s", session, ",".join(plan.ust_events)],
            ["lttng", "add-context", "-u", "-s", session, *contexts],
            ["lttng", "start", session]]


def lttng_teardown(session: str) -> list[list[str]]:
    return [["lttng", "stop", session], ["lttng", "destroy", session]]


def perf_record(plan: RecordPlan, data: str, control: str | None = None) -> list[str]:
    """``perf record`` of the plan's kernel events, system-wide (a thread's wakers
    and preempters are other processes).  With ``control`` (``ctl,ack`` fifos)
    it starts disabled and is enabled through them, so that corr knows when it
    records.  System-call events leave out perf's own (it writes the data)."""
    cmd = ["perf", "record", "-a", "-k", "CLOCK_MONOTONIC", "-B", "-N", "-m", PERF_BUFFER,
           "-o", data]
    if control:
        cmd += ["--control", f"fifo:{control}", "-D", "-1"]
    for event in plan.perf_events:
        cmd += ["-e", f"{event}/call-graph=fp/" if plan.callchains and event in CHAINED
                else event]
        if event.startswith("raw_syscalls:"):
            cmd.append("--exclude-perf")
    return cmd


def perf_convert(data: str, kernel_dir: str) -> list[str]:
    return ["perf", "data", "convert", "-i", data, "--to-ctf", kernel_dir]


def quote(cmd: list[str]) -> str:
    return shlex.join(cmd)


def script(plan: RecordPlan, rules: str, outdir: str, command: list[str] | None = None,
           pid: int | None = None, session: str = "corr") -> str:
    """The shell commands that make the same recording by hand (``--print``): for
    ``command``, until it exits; for ``pid``, until it does; else (system-wide)
    until Ctrl-C.  Run as root."""
    lines = [f"# what corr record makes for {rules}: run as root",
             "set -e", f"mkdir -p {shlex.quote(outdir)}"]
    data = f"{outdir}/perf.data"
    if plan.kernel:
        lines += ["# kernel tracepoints: perf reads their formats from tracefs",
                  "[ -d /sys/kernel/tracing/events/sched ] || mount -t tracefs nodev "
                  "/sys/kernel/tracing"]
    if plan.ust:
        lines += ["# an LTTng session daemon, unless one runs",
                  "pgrep -x lttng-sessiond >/dev/null || lttng-sessiond --daemonize --no-kernel"]
        lines += [quote(c) for c in lttng_setup(plan, session, outdir)]
    if plan.kernel:
        perf = quote(perf_record(plan, data))
        if command:
            lines.append(f"{perf} -- {quote(command)}")
        elif pid is not None:
            lines.append(f"{perf} -- sh -c 'while kill -0 {pid} 2>/dev/null; do sleep 0.2; done'")
        else:
            lines.append(f"{perf}    # Ctrl-C to stop")
    elif command:
        lines.append(quote(command))
    elif pid is not None:
        lines.append(f"while kill -0 {pid} 2>/dev/null; do sleep 0.2; done")
    else:
        lines.append("sleep infinity    # Ctrl-C to stop")
    if plan.ust:
        lines += [quote(c) for c in lttng_teardown(session)]
    if plan.kernel:
        lines.append(quote(perf_convert(data, f"{outdir}/kernel")))
        if plan.callchains:     # what names the chains' frames, beside the trace
            lines += ["# perf.data and kallsyms stay beside kernel/: they name the stacks' "
                      "frames", f"cp {KALLSYMS} {shlex.quote(outdir + '/kallsyms')}"]
        else:
            lines.append(f"rm -f {shlex.quote(data)}")
    lines.append(f"# then: corr run {shlex.quote(rules)} {shlex.quote(outdir)}")
    return "\n".join(lines) + "\n"
