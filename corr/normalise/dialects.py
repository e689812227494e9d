"""Trace dialects: how each tracer names the kernel events corr understands.

corr's canonical kernel vocabulary is lttng-modules 2.13's: ``sched_switch``
with ``prev_tid``/``next_tid``, ``syscall_entry_<name>`` and
``syscall_exit_<name>``, ``irq_softirq_entry``, ``timer_hrtimer_expire_entry``
and so on.  Every kernel event also gets ``ctx.tid``, the thread that was
running when it happened.  A dialect says, for each raw event class of a
trace, which canonical class it becomes and how its fields are renamed.
See ``docs/dialects.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .syscall_table import GENERIC, X86_64

# lttng-modules before 2.6 (and some later kernels) used these names.
OLD_LTTNG_NAMES = {
    "softirq_raise": "irq_softirq_raise",
    "softirq_entry": "irq_softirq_entry",
    "softirq_exit": "irq_softirq_exit",
    "hrtimer_init": "timer_hrtimer_init",
    "hrtimer_start": "timer_hrtimer_start",
    "hrtimer_cancel": "timer_hrtimer_cancel",
    "hrtimer_expire_entry": "timer_hrtimer_expire_entry",
    "hrtimer_expire_exit": "timer_hrtimer_expire_exit",
}

# perf's tracepoint names and field names -> canonical ones.
_PID_AS_TID = {"pid": "tid"}
PERF_CLASSES: dict[str, tuple[str, dict[str, str]]] = {
    "sched:sched_switch": ("sched_switch", {"prev_pid": "prev_tid", "next_pid": "next_tid"}),
    "sched:sched_waking": ("sched_waking", _PID_AS_TID),
    "sched:sched_wakeup": ("sched_wakeup", _PID_AS_TID),
    "sched:sched_wakeup_new": ("sched_wakeup_new", _PID_AS_TID),
    "sched:sched_process_fork": ("sched_process_fork",
                                 {"parent_pid": "parent_tid", "child_pid": "child_tid"}),
    "sched:sched_process_exit": ("sched_process_exit", _PID_AS_TID),
    "sched:sched_process_free": ("sched_process_free", _PID_AS_TID),
    "sched:sched_process_exec": ("sched_process_exec", {"pid": "tid", "old_pid": "old_tid"}),
    "sched:sched_migrate_task": ("sched_migrate_task", _PID_AS_TID),
    "irq:irq_handler_entry": ("irq_handler_entry", {}),
    "irq:irq_handler_exit": ("irq_handler_exit", {}),
    "irq:softirq_raise": ("irq_softirq_raise", {}),
    "irq:softirq_entry": ("irq_softirq_entry", {}),
    "irq:softirq_exit": ("irq_softirq_exit", {}),
    "timer:hrtimer_expire_entry": ("timer_hrtimer_expire_entry", {}),
    "timer:hrtimer_expire_exit": ("timer_hrtimer_expire_exit", {}),
    "block:block_rq_issue": ("block_rq_issue", {}),
    "block:block_rq_complete": ("block_rq_complete", {}),
}
PERF_SYS_ENTER = "raw_syscalls:sys_enter"
PERF_SYS_EXIT = "raw_syscalls:sys_exit"
# Fields perf adds to every event, and what they mean canonically.
PERF_COMMON = {"perf_tid": "ctx.tid", "perf_pid": "ctx.pid", "perf_callchain": "callchain"}

OLD_EXIT_SYSCALL = "exit_syscall"


@dataclass
class Dialect:
    """What one trace speaks, and the facts `corr inspect` reports about it."""

    name: str                       # lttng-modules, perf, lttng-ust, ctf
    description: str
    notes: list[str] = field(default_factory=list)
    old_syscalls: bool = False      # sys_<name> entries + one exit_syscall
    tid_context: bool = False       # a ctx.tid context on kernel events
    syscall_names: dict[int, str] = field(default_factory=dict)
    class_names: list[str] = field(default_factory=list)

    @property
    def kernel(self) -> bool:
        return self.name in ("lttng-modules", "perf")

    def syscall_name(self, number: int) -> str:
        return self.syscall_names.get(number, f"sys{number}")

    def all_syscall_names(self) -> list[str]:
        return sorted(set(self.syscall_names.values()))


def detect(env: dict, class_names: list[str], context_fields: set[str] = frozenset()) -> Dialect:
    """Name the dialect of a trace from its environment and event classes."""
    d = _detect(env, class_names, context_fields)
    d.class_names = list(class_names)
    return d


def _detect(env: dict, class_names: list[str], context_fields) -> Dialect:
    tracer = str(env.get("tracer_name", ""))
    names = set(class_names)
    if tracer == "perf" or PERF_SYS_ENTER in names or "sched:sched_switch" in names:
        machine = str(env.get("machine", "x86_64"))
        table = X86_64 if machine in ("x86_64", "amd64", "") else GENERIC
        d = Dialect("perf", f"perf data converted to CTF ({machine} system calls)",
                    syscall_names=table)
        d.notes.append("tid from perf_tid; raw_syscalls mapped to syscall_entry_/syscall_exit_<name>")
        return d
    if tracer.startswith("lttng-ust") or env.get("domain") == "ust":
        return Dialect("lttng-ust", "LTTng-UST user-space events",
                       notes=["thread from the vtid context" if "ctx.vtid" in context_fields
                              else "no vtid context: each event's thread is the one its CPU "
                                   "ran in a kernel trace of the same host, read with it "
                                   "(docs/dialects.md)"])
    if tracer.startswith("lttng-modules") or env.get("domain") == "kernel":
        old = OLD_EXIT_SYSCALL in names or any(n.startswith("sys_") for n in names)
        d = Dialect("lttng-modules", "LTTng kernel events", old_syscalls=old,
                    tid_context="ctx.tid" in context_fields)
        d.notes.append("old syscall naming: sys_<name> entries, one exit_syscall" if old
                       else "syscall_entry_<name> / syscall_exit_<name>")
        d.notes.append("sched_waking present" if "sched_waking" in names
                       else "no sched_waking (wakeups from sched_wakeup)")
        d.notes.append("tid from the tid context" if d.tid_context
                       else "tid from the per-CPU sched_switch history")
        return d
    return Dialect("ctf", "CTF events (names used as they are)")


def canonical_name(dialect: Dialect, raw: str) -> str | None:
    """The canonical name of a raw class, or None when it varies per event."""
    if dialect.name == "perf":
        if raw in (PERF_SYS_ENTER, PERF_SYS_EXIT):
            return None
        return PERF_CLASSES.get(raw, (raw, {}))[0]
    if dialect.name == "lttng-modules":
        if dialect.old_syscalls:
            if raw == OLD_EXIT_SYSCALL:
                return None
            if raw.startswith("sys_"):
                return "syscall_entry_" + raw[4:]
        return OLD_LTTNG_NAMES.get(raw, raw)
    return raw


def field_renames(dialect: Dialect, raw: str) -> dict[str, str]:
    """Raw field name -> canonical field name for one raw class."""
    if dialect.name == "perf":
        renames = dict(PERF_COMMON)
        renames.update(PERF_CLASSES.get(raw, ("", {}))[1])
        return renames
    return {}


def canonical_fields_of(dialect: Dialect, classes) -> dict[str, set[str]]:
    """Canonical class name -> its fields, over one trace's raw class infos."""
    out: dict[str, set[str]] = {}
    for info in classes:
        renames = field_renames(dialect, info.name)
        fields = {renames.get(f.name, f.name) for f in info.fields}
        if dialect.kernel:
            fields.add("ctx.tid")
        for name in possible_names(dialect, info.name) + [info.name]:
            out.setdefault(name, set()).update(fields)
    return out


def possible_names(dialect: Dialect, raw: str) -> list[str]:
    """Every canonical name events of a raw class may get."""
    name = canonical_name(dialect, raw)
    if name is not None:
        return [name]
    if raw == PERF_SYS_ENTER:
        return ["syscall_entry_" + n for n in dialect.all_syscall_names()]
    if raw == PERF_SYS_EXIT:
        return ["syscall_exit_" + n for n in dialect.all_syscall_names()]
    # Old exit_syscall: named after the entry it closes.
    return (["syscall_exit_" + n[4:] for n in dialect.class_names if n.startswith("sys_")]
            + ["syscall_exit_unknown"])
