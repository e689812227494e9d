"""The scheduling and interrupt event classes the model reads, and their fields.

Kept apart from :mod:`.log` (numpy) so that a run can compute its
projection, and start decoding, before importing the model.
"""

from __future__ import annotations

SWITCH = "sched_switch"
WAKEUP_CLASSES = {"sched_waking": 0, "sched_wakeup": 1, "sched_wakeup_new": 2}
WAKING, WAKEUP, WAKEUP_NEW = range(3)
FORK, EXIT, MIGRATE = "sched_process_fork", "sched_process_exit", "sched_migrate_task"
# Interrupt contexts: entry code, exit code; the id field of each.
CONTEXT_CLASSES = {
    "irq_handler_entry": (1, "irq"), "irq_handler_exit": (-1, "irq"),
    "irq_softirq_entry": (2, "vec"), "irq_softirq_exit": (-2, "vec"),
    "timer_hrtimer_expire_entry": (3, "function"), "timer_hrtimer_expire_exit": (-3, None),
}
IRQ, SOFTIRQ, HRTIMER = 1, 2, 3

# The interrupt context a tracepoint fired in, as perf records it in every
# tracepoint record (``common_flags``, the kernel's TRACE_FLAG_*): in a trace
# without IRQ events, the only sign that a wakeup ran in an interrupt rather
# than in the task it interrupted.  LTTng traces have no such field.
FLAGS = "common_flags"
FLAG_HARDIRQ, FLAG_SOFTIRQ, FLAG_NMI = 0x08, 0x10, 0x40
# The ids of interrupts known from those flags alone (which one is not recorded).
ANY_IRQ_ID, NMI_ID, ANY_SOFTIRQ_ID = -1, -2, -1

# What says a wakeup ran in an interrupt, by what a trace recorded.
INTERRUPT_NOTES = {
    "events": "wakeups in interrupts: from IRQ, softirq and hrtimer events",
    "flags": "wakeups in interrupts: from perf's common_flags (hard IRQ, softirq or NMI; "
             "which one is not recorded)",
    "none": "wakeups in interrupts cannot be told apart: no IRQ events and no common_flags, "
            "so a wakeup an interrupt did reads as done by the task it interrupted "
            "(docs/scheduling.md)",
}


def interrupt_evidence(classes, flagged: bool) -> str | None:
    """How a trace tells wakeups done in interrupts (a key of INTERRUPT_NOTES), from
    its canonical classes and whether its wakeups carry ``common_flags``; None:
    it has no wakeups."""
    if not any(name in classes for name in WAKEUP_CLASSES):
        return None
    if any(name in classes for name in CONTEXT_CLASSES):
        return "events"
    return "flags" if flagged else "none"


def fields_evidence(fields_of: dict) -> str | None:
    """:func:`interrupt_evidence` of a trace's canonical classes and their fields."""
    return interrupt_evidence(fields_of, any(FLAGS in fields_of[name]
                                             for name in WAKEUP_CLASSES if name in fields_of))

# What the model needs decoded, by canonical class.
PROJECTION = {
    SWITCH: frozenset({"prev_tid", "prev_state", "next_tid", "prev_comm", "next_comm"}),
    "sched_waking": frozenset({"tid", "target_cpu", "comm", "ctx.tid", FLAGS}),
    "sched_wakeup": frozenset({"tid", "target_cpu", "comm", "ctx.tid", FLAGS}),
    "sched_wakeup_new": frozenset({"tid", "target_cpu", "comm", "ctx.tid", FLAGS}),
    FORK: frozenset({"parent_tid", "child_tid", "child_comm"}),
    EXIT: frozenset({"tid"}),
    MIGRATE: frozenset({"tid", "dest_cpu"}),
    "irq_handler_entry": frozenset({"irq", "name"}),
    "irq_handler_exit": frozenset({"irq"}),
    "irq_softirq_entry": frozenset({"vec"}),
    "irq_softirq_exit": frozenset({"vec"}),
    "timer_hrtimer_expire_entry": frozenset({"function"}),
    "timer_hrtimer_expire_exit": frozenset(),
    "lttng_statedump_process_state": frozenset({"tid", "name"}),
}


# System calls, decoded only for a rule with ``activity: true``: the thread of each
# entry and exit (the name is the class's).
ACTIVITY_PROJECTION = {"syscall_entry_*": frozenset({"ctx.tid"}),
                       "syscall_exit_*": frozenset({"ctx.tid"})}


# Call chains, decoded only for a rule with ``stacks: true`` (docs/stacks.md): perf's
# ``perf_callchain`` (the dialect names it ``callchain``; kernel and user sections behind
# PERF_CONTEXT_KERNEL / PERF_CONTEXT_USER markers) and LTTng's callstack contexts.
CALLCHAIN = "callchain"
CALLSTACK_KERNEL, CALLSTACK_USER = "ctx.callstack_kernel", "ctx.callstack_user"
STACK_FIELDS = frozenset({CALLCHAIN, CALLSTACK_KERNEL, CALLSTACK_USER})
# The switch-out carries the blocked thread's stack; a waking the waker's.
STACK_PROJECTION = {SWITCH: STACK_FIELDS, "sched_waking": STACK_FIELDS,
                    "sched_wakeup": STACK_FIELDS}


def stack_projection(names_by_trace=None) -> dict:
    """:data:`STACK_PROJECTION` for traces whose canonical class names are
    ``names_by_trace`` (None: not known).  A sched_wakeup's chain is read only
    where a trace records it without sched_waking: beside a sched_waking (fired
    in the waker) it is the same code at best, and for a wakeup the woken
    thread's CPU completes (the interrupt that delivers a remote wakeup) that
    interrupt's code, not the waker's."""
    if names_by_trace is not None and not any(
            "sched_wakeup" in names and "sched_waking" not in names for names in names_by_trace):
        return {name: fields for name, fields in STACK_PROJECTION.items()
                if name != "sched_wakeup"}
    return STACK_PROJECTION


STACKS_NOTE = ("call chains on its switches and wakeups: rules with stacks: true name the "
               "code that blocked and that woke (docs/stacks.md)")


def metadata_records_stacks(text: str | None) -> bool:
    """Whether a trace's metadata (TSDL text) declares call chains: perf's
    ``perf_callchain`` or LTTng's callstack contexts (without decoding an event)."""
    return bool(text) and ("perf_callchain" in text or "_callstack_kernel" in text
                           or "_callstack_user" in text)


def records_stacks(fields_of: dict) -> bool:
    """Whether a trace's canonical classes carry the call chains stacks are read from."""
    return any(STACK_FIELDS & fields_of.get(name, set())
               for name in (SWITCH, "sched_waking", "sched_wakeup"))
