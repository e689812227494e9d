"""What to record for a rule set: pure knowledge, no tracer is touched.

A trace serves a rule set when it holds the user-space (LTTng-UST) events
the rules name, with the contexts corr reads from them (the emitting thread,
its process and name), and the kernel events the rules name or the
scheduling model reads.  ``corr check RULES`` prints this plan and ``corr
record`` records it, so both say the same.

Kernel events are named canonically (lttng-modules' names, as rules name
them); each also has the perf tracepoint that records it where lttng-modules
cannot load (see normalise.dialects, whose tables this inverts).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field

from ..engine import threads
from ..engine.plan import alternatives, projection_for, sides
from ..normalise.dialects import PERF_CLASSES, PERF_SYS_ENTER, PERF_SYS_EXIT
from ..rules.model import RuleSet
from ..sched.events import CONTEXT_CLASSES

SYSCALL_ENTRY, SYSCALL_EXIT = "syscall_entry_*", "syscall_exit_*"
# Every kernel event corr knows how to record with perf, in the order plans list them.
PERF_TRACEPOINTS: dict[str, str] = {
    **{canonical: raw for raw, (canonical, _) in PERF_CLASSES.items()},
    SYSCALL_ENTRY: PERF_SYS_ENTER, SYSCALL_EXIT: PERF_SYS_EXIT,
}
# perf's tracepoint subsystems: "sched:sched_switch" is a kernel name, "app:start" is not.
KERNEL_SUBSYSTEMS = frozenset(raw.split(":", 1)[0] for raw in (*PERF_CLASSES, PERF_SYS_ENTER))
# What names threads (interval comm, blame labels): engine.threads' naming events.
# (LTTng's state dump names them too, but perf has no such event.)
SCHEDULING = tuple(name for name in threads.NAMING_EVENTS if name in PERF_TRACEPOINTS)
# Interrupt contexts the scheduling model tells wakeups done in interrupts from.
INTERRUPTS = tuple(CONTEXT_CLASSES)
# The contexts every UST event gets: its thread (interval tid, blame), its
# process (``--pid`` filters) and the thread's name (interval comm).
UST_CONTEXTS = ("vtid", "vpid", "procname")

WHY_RULES = "named by the rules"
WHY_NAMES = "names the rules' kernel threads"
WHY_BLAME = "scheduling model (blame)"
WHY_INTERRUPTS = "wakeups done in interrupts (blame)"
WHY_ACTIVITY = "kernel activity per interval (activity: true)"
# What ``activity: true`` reads besides the scheduling model's events.
ACTIVITY = (SYSCALL_ENTRY, SYSCALL_EXIT, "sched_migrate_task")


@dataclass(frozen=True)
class RecordPlan:
    """What a trace must hold for a rule set.

    ``ust_events``: LTTng-UST event patterns (``lttng enable-event -u``), with
    ``ust_contexts`` (``lttng add-context -u -t``) and, per pattern, the
    payload fields the rules read (``ust_fields``).  ``kernel_events``:
    canonical kernel events, each with its reason in ``why``;
    ``perf_events`` the perf tracepoints recording them (one per kernel
    event, syscalls as ``raw_syscalls``); ``unrecordable`` kernel events perf
    has no known tracepoint for (lttng-modules records them).
    """

    ust_events: tuple[str, ...] = ()
    ust_contexts: tuple[str, ...] = ()
    ust_fields: dict[str, tuple[str, ...]] = field(default_factory=dict)
    kernel_events: tuple[str, ...] = ()
    why: dict[str, str] = field(default_factory=dict)
    unrecordable: tuple[str, ...] = ()
    # Call chains (frame pointers) on the switches and wakeups, for code stacks
    # (docs/stacks.md): a rule with stacks: true, or ``corr record -g``.
    callchains: bool = False

    @property
    def perf_events(self) -> tuple[str, ...]:
        return tuple(PERF_TRACEPOINTS[name] for name in self.kernel_events)

    @property
    def syscalls(self) -> bool:
        return SYSCALL_ENTRY in self.kernel_events or SYSCALL_EXIT in self.kernel_events

    @property
    def kernel(self) -> bool:
        return bool(self.kernel_events)

    @property
    def ust(self) -> bool:
        return bool(self.ust_events)

    def to_dict(self) -> dict:
        return {"ust": {"events": list(self.ust_events), "contexts": list(self.ust_contexts),
                        "fields": {k: list(v) for k, v in self.ust_fields.items()}},
                "kernel": {"events": list(self.kernel_events),
                           "perf": list(self.perf_events),
                           "why": dict(self.why), "unrecordable": list(self.unrecordable),
                           "callchains": self.callchains}}


def is_kernel(pattern: str) -> bool:
    """A canonical kernel name (``sched_switch``, ``syscall_entry_*``) or a perf
    tracepoint name (``sched:sched_switch``); anything else with a ``:`` is
    a user-space ``provider:event``."""
    return ":" not in pattern or pattern.split(":", 1)[0] in KERNEL_SUBSYSTEMS


def kernel_recordings(pattern: str) -> list[str]:
    """The recordable kernel events (keys of PERF_TRACEPOINTS) a rule's kernel
    pattern can match: a glob may match several, a syscall name its ``*``."""
    if pattern in (PERF_SYS_ENTER, PERF_SYS_EXIT):
        return [SYSCALL_ENTRY if pattern == PERF_SYS_ENTER else SYSCALL_EXIT]
    if pattern in PERF_CLASSES:
        return [PERF_CLASSES[pattern][0]]
    found = [name for name in PERF_TRACEPOINTS
             if not name.endswith("*") and fnmatch.fnmatchcase(name, pattern)]
    for prefix, name in (("syscall_entry_", SYSCALL_ENTRY), ("syscall_exit_", SYSCALL_EXIT)):
        # "syscall_entry_read", "syscall_entry_*", "syscall_*": one raw_syscalls event
        if pattern.startswith(prefix) or fnmatch.fnmatchcase(prefix + "x", pattern):
            found.append(name)
    return found


def plan_for(ruleset: RuleSet, callchains: bool = False) -> RecordPlan:
    """The :class:`RecordPlan` of ``ruleset``; with call chains when ``callchains``
    or a rule has ``stacks: true`` (and the plan records kernel events)."""
    ust: dict[str, None] = {}
    kernel: dict[str, str] = {}
    unrecordable: dict[str, None] = {}
    for rule in ruleset.rules:
        for _role, spec in sides(rule):
            for pattern in spec.events:
                alts = alternatives(pattern)
                user = [a for a in alts if not is_kernel(a)]
                ust.update(dict.fromkeys(user))          # the app has one of them: enable all
                kernel_alts = [a for a in alts if is_kernel(a)]
                if not kernel_alts:
                    continue
                # "a|b": a trace uses the first it has; record the first perf can.
                for alt in kernel_alts:
                    names = kernel_recordings(alt)
                    if names:
                        for name in names:
                            kernel.setdefault(name, WHY_RULES)
                        break
                else:
                    unrecordable.update(dict.fromkeys(kernel_alts))
    if kernel or unrecordable:
        for name in SCHEDULING:
            kernel.setdefault(name, WHY_NAMES)
    if any(rule.blame for rule in ruleset.rules):
        for name in SCHEDULING:
            kernel[name] = WHY_BLAME if kernel.get(name, WHY_NAMES) == WHY_NAMES else kernel[name]
        for name in INTERRUPTS:
            kernel.setdefault(name, WHY_INTERRUPTS)
    if any(rule.activity and rule.blame for rule in ruleset.rules):
        for name in ACTIVITY:
            kernel.setdefault(name, WHY_ACTIVITY)
    order = list(PERF_TRACEPOINTS)
    kernel_events = tuple(sorted(kernel, key=order.index))
    wanted = dict(projection_for(ruleset).wanted) if ust else {}
    return RecordPlan(ust_events=tuple(sorted(ust)),
                      ust_contexts=_ust_contexts(wanted, ust) if ust else (),
                      ust_fields=_ust_fields(wanted, ust),
                      kernel_events=kernel_events,
                      why={name: kernel[name] for name in kernel_events},
                      unrecordable=tuple(unrecordable),
                      callchains=bool(kernel_events) and (callchains or any(
                          rule.stacks and rule.blame for rule in ruleset.rules)))


def _ust_fields(wanted: dict, ust) -> dict[str, tuple[str, ...]]:
    """The payload fields the rules read from each UST pattern (``wanted``: the
    rules' projection)."""
    return {p: tuple(sorted(f for f in wanted.get(p, ()) if not f.startswith("ctx.")))
            for p in sorted(ust)}


def _ust_contexts(wanted: dict, ust) -> tuple[str, ...]:
    """UST_CONTEXTS, then any other context the rules read from UST events."""
    extra = {f[4:] for p in ust for f in wanted.get(p, ()) if f.startswith("ctx.")}
    # ctx.tid / ctx.pid name the kernel's view: a UST trace gives them as vtid / vpid.
    extra -= {"tid", "pid", *UST_CONTEXTS}
    return UST_CONTEXTS + tuple(sorted(extra))
