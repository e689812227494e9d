"""Exact synthetic LTTng traces, described in a few lines of Python.

A :class:`Scenario` records what happens (a thread runs, blocks, is woken by
an IRQ, makes a syscall...) at times given in nanoseconds from the scenario
start.  Calls may come in any order: :meth:`Scenario.write` replays them in
time order (calls at equal times keep their call order), fills every field
that follows from the scheduling state (``prev_*`` of ``sched_switch``, the
CPU a syscall exit lands on, ``tid`` contexts) and refuses impossible
scenarios with a :class:`ScenarioError` naming the call.

The output is a real CTF trace written by babeltrace2's ``sink.ctf.fs``, in
the lttng-modules 2.13 / lttng-ust 2.13 layouts, and
:meth:`Scenario.expected_events` gives what a reader must find in it.

Example::

    s = Scenario(cpus=2)
    a = s.thread(tid=101, pid=100, comm="producer")
    s.run(cpu=0, thread=a, at=0)
    s.syscall(a, "read", at=100, until=5_000, args={"fd": 3, "count": 10}, ret=10)
    s.block(a, at=1_000, state="D")
    s.wakeup(a, by=s.irq(cpu=1, irq=42, name="eth0", at=3_000, until=3_500))
    s.run(cpu=1, thread=a, at=4_000)
    s.write(tmp_path / "trace")
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from pathlib import Path

from . import layouts
from .ctf_writer import ClockDescription, Discard, TraceDescription, write_trace
from .layouts import Seq
from .model import (ExpectedDiscard, ExpectedEvent, Interrupt, ScenarioError, Thread,
                    WrittenTrace, idle_thread)
from .replay import Replay

__all__ = [
    "Scenario", "ScenarioError", "Thread", "Interrupt", "ExpectedEvent",
    "ExpectedDiscard", "WrittenTrace", "DEFAULT_CLOCK_OFFSET_NS", "DEFAULT_CLOCK_UUID",
]

# The monotonic clock's origin, as LTTng measures it: here 2023-11-14T22:13:20Z
# plus a few ns, so that readers which drop the offset are caught.
DEFAULT_CLOCK_OFFSET_NS = 1_700_000_000_000_000_123
DEFAULT_CLOCK_UUID = uuid.UUID("9a3c8e0e-3f4b-4b7e-9d2c-5c0ffee0c0de")
DEFAULT_START_NS = 1_000_000_000
IRQ_HANDLED = 1
UST_DEBUG_LINE = 13  # lttng-ust's default log level (TRACE_DEBUG_LINE)


@dataclass(frozen=True)
class _Intent:
    """A call to replay at time ``at``; ``seq`` keeps call order at equal times."""

    at: int
    seq: int
    what: str
    action: object
    args: tuple


class Scenario:
    """A small system (CPUs, threads) and what happens on it, exact to the ns.

    ``kernel_context`` opts in to event common contexts as ``lttng
    add-context -k`` would add them (``tid``, ``pid``, ``procname``...);
    ``ust_context`` is the UST channel's context.  ``packet_events`` starts a
    new packet every that many events per CPU (default: one packet per CPU,
    plus the packet boundaries discarded events need).  ``irq_flags`` records,
    as perf does, the interrupt context of each wakeup in a ``common_flags``
    field (0x08 hard IRQ, 0x10 softirq): with interrupts made with
    ``recorded=False``, a trace where only the flags tell a wakeup from an
    interrupt apart from one by the task it interrupted.  ``comm_bytes``: the
    longest thread name (the kernel's 15; a hostile trace's may be any length).
    """

    def __init__(self, cpus: int = 1, *, start: int = DEFAULT_START_NS,
                 hostname: str = "corr-host", session_name: str = "corr-scenario",
                 kernel_context=(), ust_context=("vpid", "vtid", "procname"),
                 ust_buffering: str = "uid",
                 clock_offset_ns: int = DEFAULT_CLOCK_OFFSET_NS,
                 clock_uuid: uuid.UUID = DEFAULT_CLOCK_UUID,
                 creation_datetime: str = "20231114T221320+0000",
                 packet_events: int | None = None, irq_flags: bool = False,
                 comm_bytes: int = 15):
        if cpus < 1:
            raise ScenarioError("a scenario needs at least one CPU")
        _check_names(kernel_context, layouts.KERNEL_CONTEXTS, "kernel context")
        _check_names(ust_context, layouts.UST_CONTEXTS, "UST context")
        if ust_buffering not in ("uid", "pid"):
            raise ScenarioError("ust_buffering is 'uid' or 'pid'")
        self.cpus = cpus
        self.start = start
        self.hostname = hostname
        self.session_name = session_name
        self.kernel_context = tuple(kernel_context)
        self.ust_context = tuple(ust_context)
        self.ust_buffering = ust_buffering
        self.clock_offset_ns = clock_offset_ns
        self.clock_uuid = clock_uuid
        self.creation_datetime = creation_datetime
        self.packet_events = packet_events
        self.irq_flags = irq_flags
        self.comm_bytes = comm_bytes
        self._threads: dict[int, Thread] = {}
        self._born_at: dict[int, int] = {}
        self._scheduled: set[int] = set()
        self._intents: list[_Intent] = []
        self._seq = itertools.count()
        self._kernel_layouts: dict[str, tuple] = {}
        self._ust_layouts: dict[str, tuple] = {}
        self._discards: list[tuple[str, Discard]] = []

    # -- time ----------------------------------------------------------------

    def clock_value(self, at: int) -> int:
        """The trace clock value (cycles = ns) of scenario time ``at``."""
        return self.start + at

    def ns_from_origin(self, at: int) -> int:
        """What bt2's ``ns_from_origin`` reports for scenario time ``at``."""
        return self.clock_offset_ns + self.start + at

    # -- threads -------------------------------------------------------------

    def thread(self, tid: int, pid: int | None = None, comm: str | None = None, *,
               prio: int = 20, ppid: int = 1, cpu: int | None = None) -> Thread:
        """Declare a thread (``pid`` defaults to ``tid``: a process leader)."""
        thread = Thread(tid, tid if pid is None else pid, comm or f"task-{tid}", prio, ppid, cpu)
        self._add_thread(thread)
        return thread

    def idle(self, cpu: int) -> Thread:
        """The idle task of ``cpu`` (``swapper/N``, tid 0)."""
        self._check_cpu(cpu)
        return idle_thread(cpu)

    @property
    def threads(self) -> list[Thread]:
        return list(self._threads.values())

    # -- scheduling ------------------------------------------------------------

    def run(self, cpu: int, thread: Thread | None, at: int, *, prev_state=None) -> None:
        """Switch ``cpu`` to ``thread`` (None: idle) at ``at``.

        Whoever ran there is switched out with ``prev_state``: by default
        ``"R+"`` (preempted, 256 in 2.13) for a thread and 0 for idle.
        """
        self._check_cpu(cpu)
        thread = self._known_or_idle(thread)
        self._mark_scheduled(thread)
        self._add(at, f"s.run(cpu={cpu}, {thread})", Replay.switch,
                  cpu, None, thread, _state_or_none(prev_state))

    def block(self, thread: Thread, at: int, state="S", *, next: Thread | None = None) -> None:
        """``thread`` sleeps at ``at`` (``"S"`` = 1, ``"D"`` = 2...): switch to ``next`` or idle."""
        code = layouts.encode_prev_state(state)
        if code in (0, layouts.TASK_STATES["R+"]):
            raise ScenarioError(f"s.block({thread}): state {state!r} is not a sleeping state; "
                                "use s.preempt() or s.run()")
        self._mark_scheduled(thread, next)
        self._add(at, f"s.block({thread})", Replay.switch,
                  None, self._known(thread), self._known_or_idle(next), code)

    def stack(self, thread: Thread, at: int, *, kernel=(), user=()) -> None:
        """From ``at`` on, ``thread``'s call stacks (return addresses, innermost first):
        every kernel event in its context carries them in the ``callstack_kernel`` /
        ``callstack_user`` contexts (``kernel_context`` must name them), as
        lttng-modules records them: its switch-outs, and the wakeups it does."""
        if not any(name.startswith("callstack_") for name in self.kernel_context):
            raise ScenarioError(f"s.stack({thread}): add 'callstack_kernel' or "
                                "'callstack_user' to kernel_context")
        for value in (*kernel, *user):
            if not isinstance(value, int) or not 0 <= value < 1 << 64:
                raise ScenarioError(f"s.stack({thread}): {value!r} is not a 64-bit address")
        self._add(at, f"s.stack({thread})", Replay.set_stack, self._known(thread),
                  tuple(kernel), tuple(user))

    def preempt(self, thread: Thread, by: Thread | None, at: int) -> None:
        """``thread`` is preempted (``prev_state`` 256, "R+") by ``by`` on its CPU."""
        self._mark_scheduled(thread, by)
        self._add(at, f"s.preempt({thread})", Replay.switch, None, self._known(thread),
                  self._known_or_idle(by), layouts.TASK_STATES["R+"])

    def wakeup(self, thread: Thread, by: Thread | Interrupt | None = None, at: int | None = None,
               *, cpu: int | None = None, target_cpu: int | None = None,
               wakeup_at: int | None = None, wakeup_cpu: int | None = None,
               running: bool = False) -> None:
        """``by`` wakes ``thread``: ``sched_waking`` on the waker's CPU, ``sched_wakeup`` on the target.

        ``by`` is a running thread, an :class:`Interrupt` (then ``at``
        defaults to the middle of it) or None with an explicit ``cpu``.  The
        target CPU defaults to where ``thread`` last ran.  ``sched_wakeup``
        goes to ``wakeup_cpu`` (default: the target) at ``wakeup_at``; by
        default that is ``at`` on the waking CPU and ``at + 1`` on another
        one, so that no reader sees the wakeup before the waking.

        ``running=True`` wakes a thread still on its CPU (it had set itself
        asleep but not yet switched out): without ``wakeup_at`` its
        ``sched_wakeup`` follows at once and it runs on, woken for nothing
        (the kernel's ``ttwu_runnable``); with ``wakeup_at`` the thread must
        have switched out asleep by then, and the ``sched_wakeup`` ends that
        sleep (``try_to_wake_up`` waited for the switch-out).
        """
        thread = self._known(thread)
        at = self._waking_time(by, at, cpu)
        if wakeup_at is not None and wakeup_at < at:
            raise ScenarioError(f"s.wakeup({thread}): wakeup_at {wakeup_at} is before at {at}")
        for number in (cpu, target_cpu, wakeup_cpu):
            if number is not None:
                self._check_cpu(number)
        token = object()
        self._add(at, f"s.wakeup({thread}, by={by})", Replay.waking,
                  thread, by, cpu, target_cpu, wakeup_cpu, token, wakeup_at is None, running)
        if wakeup_at is not None:
            self._add(wakeup_at, f"sched_wakeup of s.wakeup({thread})", Replay.wakeup,
                      thread, token)

    def fork(self, parent: Thread, child_tid: int, at: int, *, comm: str | None = None,
             thread: bool = False, target_cpu: int | None = None) -> Thread:
        """``parent`` creates a process (or a thread of its own with ``thread=True``).

        Emits ``sched_process_fork`` and ``sched_wakeup_new`` on the parent's
        CPU; returns the child, runnable on ``target_cpu`` (default: same CPU).
        """
        parent = self._known(parent)
        child = Thread(child_tid, parent.pid if thread else child_tid, comm or parent.comm,
                       parent.prio, parent.pid)
        self._add_thread(child)
        self._born_at[child_tid] = at
        self._add(at, f"s.fork({parent}, child_tid={child_tid})", Replay.fork,
                  parent, child, target_cpu)
        return child

    def exit(self, thread: Thread, at: int, *, state=None, next: Thread | None = None,
             free_at: int | None = None) -> None:
        """``thread`` exits: ``sched_process_exit`` then its last ``sched_switch``.

        ``state`` defaults to ``"Z"`` (32) for a process leader and ``"X"``
        (16, auto-reaped) for other threads; ``free_at`` adds
        ``sched_process_free``.
        """
        thread = self._known(thread)
        if state is None:
            state = "Z" if thread.tid == thread.pid else "X"
        self._mark_scheduled(thread, next)
        self._add(at, f"s.exit({thread})", Replay.exit, thread, self._known_or_idle(next),
                  layouts.encode_prev_state(state))
        if free_at is not None:
            self._add(free_at, f"free of s.exit({thread})", Replay.free, thread)

    def migrate(self, thread: Thread, dest_cpu: int, at: int, *, cpu: int | None = None) -> None:
        """``sched_migrate_task``: a waiting ``thread`` moves to ``dest_cpu``."""
        self._check_cpu(dest_cpu)
        self._add(at, f"s.migrate({thread}, dest_cpu={dest_cpu})", Replay.migrate,
                  self._known(thread), dest_cpu, cpu)

    def statedump(self, at: int, *, cpu: int = 0, threads=None) -> None:
        """``lttng_statedump_start``, one ``lttng_statedump_process_state`` per thread, ``_end``."""
        self._check_cpu(cpu)
        chosen = None if threads is None else [self._known(t) for t in threads]
        self._add(at, "s.statedump()", Replay.statedump, cpu, chosen)

    # -- system calls ----------------------------------------------------------

    def syscall(self, thread: Thread, name: str, at: int, until: int | None = None, *,
                args: dict | None = None, ret: int = 0, out: dict | None = None,
                cpu: int | None = None) -> None:
        """``syscall_entry_<name>`` at ``at`` and, unless ``until`` is None, its exit.

        Each lands on the CPU the thread runs on at that time.  ``args`` are
        the entry fields, ``out`` the exit's (in-out fields default to
        their entry value); missing fields are 0.
        """
        args = args or {}
        if until is not None and until < at:
            raise ScenarioError(f"s.syscall({thread}, {name!r}): until {until} < at {at}")
        exit_name = self._declare_syscall(name, args, out, entry=True, exit=until is not None)
        self._syscall_event(thread, f"syscall_entry_{name}", at, args, cpu)
        if until is not None:
            exit_fields = dict(self._kernel_layouts[exit_name])
            in_out = {key: value for key, value in args.items() if key in exit_fields}
            self._syscall_event(thread, exit_name, until,
                                {**in_out, **(out or {}), "ret": ret}, cpu)

    def syscall_entry(self, thread: Thread, name: str, at: int, *, args: dict | None = None,
                      cpu: int | None = None) -> None:
        """Only the entry (``exit_group``, or a syscall still running at the end)."""
        self._declare_syscall(name, args, None, entry=True, exit=False)
        self._syscall_event(thread, f"syscall_entry_{name}", at, args or {}, cpu)

    def syscall_exit(self, thread: Thread, name: str, at: int, *, ret: int = 0,
                     out: dict | None = None, cpu: int | None = None) -> None:
        """Only the exit (the child's return of ``clone``, for instance)."""
        exit_name = self._declare_syscall(name, None, out, entry=False, exit=True)
        self._syscall_event(thread, exit_name, at, {**(out or {}), "ret": ret}, cpu)

    # -- interrupts and devices ------------------------------------------------

    def irq(self, cpu: int, irq: int, name: str, at: int, until: int, *,
            ret: int = IRQ_HANDLED, recorded: bool = True) -> Interrupt:
        """A hard IRQ handler on ``cpu`` from ``at`` to ``until`` (``recorded=False``:
        it happens, but its entry and exit events are not in the trace)."""
        context = self._interrupt("irq", cpu, at, until, irq)
        if recorded:
            self._cpu_event(at, cpu, "irq_handler_entry", {"irq": irq, "name": name})
            self._cpu_event(until, cpu, "irq_handler_exit", {"irq": irq, "ret": ret})
        return context

    def softirq(self, cpu: int, vec, at: int, until: int, *, raise_at: int | None = None,
                raise_cpu: int | None = None, recorded: bool = True) -> Interrupt:
        """A softirq (``"NET_RX"``, ``"BLOCK"``...), optionally raised at ``raise_at``."""
        number = layouts.encode_softirq(vec)
        context = self._interrupt("softirq", cpu, at, until, number)
        if not recorded:
            return context
        if raise_at is not None:
            if raise_at > at:
                raise ScenarioError(f"s.softirq({vec}): raised at {raise_at}, after its entry {at}")
            self._cpu_event(raise_at, cpu if raise_cpu is None else raise_cpu,
                            "irq_softirq_raise", {"vec": number})
        self._cpu_event(at, cpu, "irq_softirq_entry", {"vec": number})
        self._cpu_event(until, cpu, "irq_softirq_exit", {"vec": number})
        return context

    def hrtimer(self, cpu: int, at: int, until: int, *, function: int,
                hrtimer: int = 0xFFFF_8880_0000_1000, now: int | None = None,
                recorded: bool = True) -> Interrupt:
        """An hrtimer callback; ``now`` defaults to the clock value at ``at``."""
        context = self._interrupt("hrtimer", cpu, at, until, hrtimer)
        if not recorded:
            return context
        now = self.clock_value(at) if now is None else now
        self._cpu_event(at, cpu, "timer_hrtimer_expire_entry",
                        {"hrtimer": hrtimer, "now": now, "function": function})
        self._cpu_event(until, cpu, "timer_hrtimer_expire_exit", {"hrtimer": hrtimer})
        return context

    def block_rq(self, *, dev: int, sector: int, nr_sector: int, issue_at: int,
                 complete_at: int | None = None, rwbs="R", thread: Thread | None = None,
                 issue_cpu: int | None = None, complete_cpu: int | None = None,
                 error: int = 0, nbytes: int | None = None) -> None:
        """A block request issued (by ``thread``, or on ``issue_cpu``) and completed.

        ``tid``/``comm`` of the issue are the issuing thread's, or whoever
        runs on ``issue_cpu``; completion goes to ``complete_cpu`` (default:
        the issuing CPU).
        """
        if thread is None and issue_cpu is None:
            raise ScenarioError("s.block_rq() needs a thread or an issue_cpu")
        flags = layouts.encode_rwbs(rwbs)
        issue = {"dev": dev, "sector": sector, "nr_sector": nr_sector,
                 "bytes": nr_sector * 512 if nbytes is None else nbytes, "rwbs": flags}
        self._use_kernel_event("block_rq_issue")
        self._checked("block_rq_issue", issue)
        token = object()
        self._add(issue_at, f"s.block_rq(sector={sector}) issue", Replay.block_issue,
                  None if thread is None else self._known(thread), issue_cpu, issue, token)
        if complete_at is not None:
            if complete_at < issue_at:
                raise ScenarioError(f"s.block_rq(sector={sector}): completes before its issue")
            done = {"dev": dev, "sector": sector, "nr_sector": nr_sector, "error": error,
                    "rwbs": flags}
            self._use_kernel_event("block_rq_complete")
            self._checked("block_rq_complete", done)
            self._add(complete_at, f"s.block_rq(sector={sector}) completion",
                      Replay.block_complete, complete_cpu, done, token)

    def discarded(self, cpu: int, count: int, begin: int, end: int, *,
                  domain: str = "kernel") -> None:
        """The tracer lost ``count`` events on ``cpu`` between ``begin`` and ``end``."""
        self._check_cpu(cpu)
        if domain not in ("kernel", "ust"):
            raise ScenarioError("domain is 'kernel' or 'ust'")
        if not 0 <= begin <= end:
            raise ScenarioError(f"s.discarded(cpu={cpu}): needs 0 <= begin <= end")
        self._discards.append((domain, Discard(cpu, count, self.clock_value(begin),
                                               self.clock_value(end))))

    # -- user space and raw events -----------------------------------------------

    def declare_ust_event(self, name: str, **types) -> None:
        """Give a UST event explicit field types (``seqno="u64"``), in this order."""
        self._declare(self._ust_layouts, name, tuple(types.items()))

    def ust(self, thread: Thread, event_name: str, /, at: int, *, cpu: int | None = None,
            fields: dict | None = None, **values) -> None:
        """A UST event of ``thread`` (on its current CPU, with its vtid/vpid/procname).

        Fields not declared with :meth:`declare_ust_event` get types from
        their first values (int: s64, float: f64, str: string).
        """
        values = {**(fields or {}), **values}
        if event_name not in self._ust_layouts:
            self._declare(self._ust_layouts, event_name,
                          tuple((key, layouts.infer_type(value)) for key, value in values.items()))
        _check_fields(self._ust_layouts[event_name], values, event_name)
        self._add(at, f"s.ust({thread}, {event_name!r})", Replay.ust_event,
                  self._known(thread), event_name, values, cpu)

    def declare_event(self, name: str, layout) -> None:
        """Declare a kernel event class not in lttng-modules' table."""
        self._declare(self._kernel_layouts, name, tuple(layout))

    def event(self, event_name: str, /, *, cpu: int, at: int, fields: dict | None = None,
              **values) -> None:
        """Any kernel event, as is: no scheduling state is read or changed."""
        values = {**(fields or {}), **values}
        if event_name not in self._kernel_layouts and event_name not in layouts.KERNEL_EVENTS:
            self.declare_event(event_name, ((key, layouts.infer_type(value))
                                            for key, value in values.items()))
        self._cpu_event(at, cpu, event_name, values)

    # -- results ---------------------------------------------------------------

    def expected_events(self, domain: str | None = None) -> list[ExpectedEvent]:
        """Every event the written trace(s) contain, in time order."""
        replay = self._replay()
        events = {"kernel": replay.kernel, "ust": replay.ust, None: None}[domain]
        if events is None:
            events = sorted(replay.kernel + replay.ust, key=lambda e: e.clock_value)
        return list(events)

    def expected_discards(self) -> list[ExpectedDiscard]:
        """Every discarded-events report babeltrace2 will make."""
        origin = self.clock_offset_ns
        return [ExpectedDiscard(domain, d.cpu, d.count, origin + d.begin, origin + d.end)
                for domain, d in self._discards]

    def write(self, path, *, session: bool | None = None, end: int | None = None,
              fast: bool | None = None) -> WrittenTrace:
        """Write the trace(s) under ``path`` and say where they are.

        ``session=True`` writes an LTTng session folder (``kernel/`` and
        ``ust/uid/0/64-bit/``); ``False`` writes a single plain trace in
        ``path``.  The default is a session folder when there are UST events.
        ``end`` (scenario time) extends the last packets.
        """
        replay = self._replay()
        has_kernel = bool(replay.kernel or self._domain_discards("kernel"))
        has_ust = bool(replay.ust or self._domain_discards("ust"))
        session = has_ust if session is None else session
        if not session and has_kernel and has_ust:
            raise ScenarioError("kernel and UST events together need session=True")
        root = Path(path)
        last = self._last_clock_value(replay, end)
        kernel_dir = ust_dir = None
        if has_kernel or not has_ust:
            kernel_dir = root / "kernel" if session else root
            self._write_domain(kernel_dir, "kernel", replay, last, fast)
        if has_ust:
            ust_dir = root / self._ust_subdir(replay) if session else root
            self._write_domain(ust_dir, "ust", replay, last, fast)
        return WrittenTrace(root, kernel_dir, ust_dir)

    # -- internals: recording ------------------------------------------------------

    def _add(self, at: int, what: str, action, *args) -> None:
        if not isinstance(at, int) or at < 0:
            raise ScenarioError(f"{what}: time {at!r} must be an integer >= 0 "
                                "(ns from the scenario start)")
        self._intents.append(_Intent(at, next(self._seq), what, action, args))

    def _cpu_event(self, at, cpu, name, values) -> None:
        """A kernel event on a given CPU, its context being whoever runs there."""
        self._check_cpu(cpu)
        self._use_kernel_event(name)
        self._add(at, f"{name} on CPU {cpu}", Replay.cpu_event, cpu, name,
                  self._checked(name, values))

    def _interrupt(self, kind, cpu, at, until, number) -> Interrupt:
        self._check_cpu(cpu)
        if until < at:
            raise ScenarioError(f"s.{kind}(cpu={cpu}): until {until} < at {at}")
        return Interrupt(kind, cpu, at, until, number)

    def _waking_time(self, by, at, cpu) -> int:
        if isinstance(by, Interrupt):
            at = by.at + (by.until - by.at) // 2 if at is None else at
            if not by.at <= at < by.until:
                raise ScenarioError(f"s.wakeup(by={by}): at {at} is outside the interrupt")
            return at
        if by is None and cpu is None:
            raise ScenarioError("s.wakeup() needs a waker (by=) or the waking cpu=")
        if at is None:
            raise ScenarioError("s.wakeup() by a thread or a CPU needs at=")
        return at

    def _declare_syscall(self, name, args, out, *, entry: bool, exit: bool) -> str:
        """Declare the entry and/or exit event class a syscall call uses."""
        entry_layout, exit_layout = layouts.syscall_layouts(name, args, out)
        if entry:
            self._declare(self._kernel_layouts, f"syscall_entry_{name}", entry_layout)
        if exit:
            self._declare(self._kernel_layouts, f"syscall_exit_{name}", exit_layout)
        return f"syscall_exit_{name}"

    def _syscall_event(self, thread, event_name, at, values, cpu) -> None:
        if cpu is not None:
            self._check_cpu(cpu)
        self._add(at, f"{event_name} of {thread}", Replay.thread_event, self._known(thread),
                  event_name, self._checked(event_name, values), cpu)

    def _use_kernel_event(self, name) -> None:
        if name not in self._kernel_layouts:
            if name not in layouts.KERNEL_EVENTS:
                raise ScenarioError(f"unknown kernel event {name!r}: declare it with "
                                    "s.declare_event()")
            layout = layouts.KERNEL_EVENTS[name]
            if self.irq_flags and name in layouts.FLAGGED_EVENTS:
                layout = layout + (("common_flags", "u8"),)
            self._kernel_layouts[name] = layout

    @staticmethod
    def _declare(table, name, layout) -> None:
        """Register an event layout; a later use may give fewer fields, not others."""
        for field_name, type_code in layout:
            if not isinstance(type_code, Seq) and type_code not in layouts.INTEGER_BITS \
                    and type_code not in ("str", "f32", "f64"):
                raise ScenarioError(f"event {name!r}: unknown type {type_code!r} "
                                    f"for field {field_name!r}")
        if name in table and not set(dict(layout)) <= set(dict(table[name])):
            raise ScenarioError(f"event {name!r} was first used with fields "
                                f"{[n for n, _ in table[name]]}, now {[n for n, _ in layout]}")
        table.setdefault(name, layout)

    def _checked(self, name, values) -> dict:
        _check_fields(self._kernel_layouts[name], values, name)
        return dict(values)

    def _add_thread(self, thread: Thread) -> None:
        if thread.tid <= 0:
            raise ScenarioError(f"{thread}: tids start at 1 (0 is the idle task)")
        if len(thread.comm.encode()) > self.comm_bytes:
            raise ScenarioError(f"{thread}: comm is at most {self.comm_bytes} bytes "
                                f"(TASK_COMM_LEN)")
        if thread.cpu is not None:
            self._check_cpu(thread.cpu)
        if self._threads.get(thread.tid, thread) != thread:
            raise ScenarioError(f"tid {thread.tid} is already {self._threads[thread.tid]}")
        self._threads[thread.tid] = thread

    def _known(self, thread: Thread) -> Thread:
        if not isinstance(thread, Thread) or self._threads.get(thread.tid) != thread:
            raise ScenarioError(f"{thread!r} is not a thread of this scenario (use s.thread())")
        return thread

    def _known_or_idle(self, thread):
        if thread is None or (isinstance(thread, Thread) and thread.tid == 0):
            return None
        return self._known(thread)

    def _mark_scheduled(self, *threads) -> None:
        self._scheduled.update(t.tid for t in threads if t is not None and t.tid != 0)

    def _check_cpu(self, cpu) -> None:
        if not isinstance(cpu, int) or not 0 <= cpu < self.cpus:
            raise ScenarioError(f"CPU {cpu!r} does not exist (the scenario has {self.cpus})")

    # -- internals: writing ----------------------------------------------------------

    def _replay(self) -> Replay:
        replay = Replay(self)
        for intent in sorted(self._intents, key=lambda i: (i.at, i.seq)):
            replay.apply(intent)
        replay.kernel.sort(key=lambda event: event.at)  # stable: call order at equal times
        return replay

    def _domain_discards(self, domain) -> list[Discard]:
        return [d for dom, d in self._discards if dom == domain]

    def _last_clock_value(self, replay, end) -> int:
        times = [e.clock_value for e in replay.kernel + replay.ust]
        times += [d.end for _, d in self._discards]
        last = max(times, default=self.start)
        if end is not None:
            if self.clock_value(end) < last:
                raise ScenarioError(f"end {end} is before the last event")
            last = self.clock_value(end)
        return last

    def _ust_subdir(self, replay) -> str:
        if self.ust_buffering == "uid":
            return "ust/uid/0/64-bit"
        process = self._single_ust_process(replay)
        return f"ust/pid/{process.comm}-{process.pid}-{self.creation_datetime[:15].replace('T', '-')}"

    def _single_ust_process(self, replay) -> Thread:
        """The one process of a per-PID UST trace (its leader if declared)."""
        if len(replay.ust_processes) != 1:
            raise ScenarioError("per-PID UST buffering needs events from exactly one process")
        pid, thread = next(iter(replay.ust_processes.items()))
        return self._threads.get(pid, thread)

    def _write_domain(self, directory, domain, replay, last, fast) -> None:
        events = replay.kernel if domain == "kernel" else replay.ust
        layouts_table = self._kernel_layouts if domain == "kernel" else self._ust_layouts
        description = TraceDescription(
            environment=self._environment(domain, replay),
            clock=ClockDescription(self.clock_offset_ns, self.clock_uuid),
            cpus=self.cpus,
            event_classes=dict(layouts_table),
            common_context=layouts.context_layout(
                self.kernel_context if domain == "kernel" else self.ust_context,
                layouts.KERNEL_CONTEXTS if domain == "kernel" else layouts.UST_CONTEXTS),
            log_levels={name: UST_DEBUG_LINE for name in layouts_table} if domain == "ust" else {},
        )
        records = ((e.clock_value, e.cpu, e.name, tuple(e.fields.values()),
                    tuple(e.context.values())) for e in events)
        write_trace(directory, description, records, begin=self.start, end=last,
                    discards=self._domain_discards(domain), packet_events=self.packet_events,
                    fast=fast)

    def _environment(self, domain, replay) -> dict:
        """The ``env`` block LTTng 2.13 writes for each domain."""
        if domain == "kernel":
            return {
                "hostname": self.hostname, "domain": "kernel", "sysname": "Linux",
                "kernel_release": "6.1.0-corr-amd64",
                "kernel_version": "#1 SMP PREEMPT_DYNAMIC Debian 6.1.0 (2023-11-14)",
                "tracer_name": "lttng-modules", "tracer_major": 2, "tracer_minor": 13,
                "tracer_patchlevel": 0, "trace_buffering_scheme": "global",
                "trace_name": self.session_name,
                "trace_creation_datetime": self.creation_datetime,
            }
        environment = {
            "domain": "ust", "tracer_name": "lttng-ust", "tracer_major": 2, "tracer_minor": 13,
            "tracer_buffering_scheme": self.ust_buffering, "tracer_buffering_id": 0,
            "architecture_bit_width": 64, "trace_name": self.session_name,
            "trace_creation_datetime": self.creation_datetime, "hostname": self.hostname,
        }
        if self.ust_buffering == "pid":
            process = self._single_ust_process(replay)
            environment.update(tracer_patchlevel=0, vpid=process.pid, procname=process.comm,
                               vpid_datetime=self.creation_datetime)
        return environment


# ---------------------------------------------------------------------------
# Small helpers


def _state_or_none(state):
    return None if state is None else layouts.encode_prev_state(state)


def _check_names(names, table, what) -> None:
    unknown = [name for name in names if name not in table]
    if unknown:
        raise ScenarioError(f"unknown {what} {unknown}; known: {sorted(table)}")


def _check_fields(layout, values: dict, event_name: str) -> None:
    """Refuse unknown field names and values a field cannot hold."""
    types = dict(layout)
    unknown = [key for key in values if key not in types]
    if unknown:
        raise ScenarioError(f"{event_name} has no field {unknown}; its fields: {list(types)}")
    for key, value in values.items():
        try:
            layouts.check_value(key, types[key], value)
        except (TypeError, ValueError) as error:
            raise ScenarioError(f"{event_name}: {error}") from None
