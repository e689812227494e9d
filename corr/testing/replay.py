"""Replaying a scenario's calls in time order: who runs where, and what is emitted.

Each call of :class:`~corr.testing.scenario.Scenario` becomes one or more
intents; :class:`Replay` applies them in (time, call order), keeps the
per-CPU scheduling state, fills the fields that follow from it and raises
:class:`ScenarioError` for what cannot happen.
"""

from __future__ import annotations

from . import layouts
from .layouts import Seq
from .model import ExpectedEvent, Interrupt, ScenarioError, Thread, idle_thread

__all__ = ["Replay", "NS_INUM"]

NS_INUM = 4026531836  # inode number of the initial PID namespace
# lttng_statedump_process_state's status: LTTNG_WAIT_CPU, LTTNG_WAIT, LTTNG_ZOMBIE, LTTNG_DEAD
_PROCESS_STATUS = {"running": 2, "runnable": 2, "new": 5, "blocked": 5, "Z": 4, "X": 7}


class Replay:
    """Replays intents in time order, tracking who runs where, emitting events.

    It reads the tables of the :class:`~corr.testing.scenario.Scenario` it
    replays (layouts, scheduled threads): the two modules work as one.
    """

    def __init__(self, scenario):
        self.scenario = scenario
        self.running: list[Thread | None] = [None] * scenario.cpus
        self.where: dict[int, int] = {}
        self.status: dict[int, tuple[str, int, str]] = {}
        self.last_cpu: dict[int, int] = {}
        self.tokens: dict[object, object] = {}  # links the parts of one call
        self.kernel: list[ExpectedEvent] = []
        self.ust: list[ExpectedEvent] = []
        self.ust_processes: dict[int, Thread] = {}
        self.intent = None
        self.stacks: dict[int, tuple[tuple, tuple]] = {}    # tid -> (kernel, user) call stacks

    def apply(self, intent) -> None:
        self.intent = intent
        intent.action(self, *intent.args)

    def fail(self, reason: str):
        raise ScenarioError(f"{self.intent.what} at t={self.intent.at}: {reason}")

    # -- state queries -----------------------------------------------------------

    def current(self, cpu: int) -> Thread:
        return self.running[cpu] or idle_thread(cpu)

    def state_of(self, thread: Thread) -> str:
        if thread.tid in self.where:
            return "running"
        return self.status.get(thread.tid, ("new", 0, ""))[0]

    def process_status(self, thread: Thread) -> str:
        """The state, with ``Z``/``X`` for exited threads (zombie or reaped)."""
        state = self.state_of(thread)
        if state == "dead":
            return "Z" if self.status[thread.tid][2].startswith("prev_state Z") else "X"
        return state

    def cpu_of(self, thread: Thread, cpu: int | None = None) -> int:
        """The CPU ``thread`` runs on now; a never-scheduled thread uses ``cpu``."""
        running_cpu = self.where.get(thread.tid)
        if running_cpu is not None:
            if cpu is not None and cpu != running_cpu:
                self.fail(f"{thread} runs on CPU {running_cpu}, not CPU {cpu}")
            return running_cpu
        if thread.tid not in self.scenario._scheduled:
            return cpu if cpu is not None else (thread.cpu or 0)
        self.fail(f"{thread} is not running on any CPU{self.history(thread)}")

    def history(self, thread: Thread) -> str:
        state, at, detail = self.status.get(thread.tid, ("new", 0, ""))
        if state == "new":
            return " (it has not been scheduled yet: add s.run())"
        return f" (it was switched out at t={at}, {detail})"

    def check_can_run(self, thread: Thread, cpu: int) -> None:
        state = self.state_of(thread)
        if state == "running":
            self.fail(f"{thread} is already running on CPU {self.where[thread.tid]}")
        if state in ("blocked", "dead"):
            self.fail(f"{thread} cannot run on CPU {cpu}{self.history(thread)}"
                      + ("; wake it first with s.wakeup()" if state == "blocked" else ""))

    # -- emitting ------------------------------------------------------------------

    def emit_kernel(self, cpu: int, name: str, values: dict, context_thread: Thread,
                    delay: int = 0) -> None:
        scenario = self.scenario
        layout = scenario._kernel_layouts[name]
        context = {}
        for key in scenario.kernel_context:
            if key.startswith("callstack_"):          # a sequence and its length before it
                stack = self.stacks.get(context_thread.tid, ((), ()))[key == "callstack_user"]
                context[f"_{key}_length"] = len(stack)
                context[key] = list(stack)
            else:
                context[key] = _kernel_context_value(key, context_thread, scenario)
        self.kernel.append(self._expected("kernel", cpu, name, _packed(layout, values), context,
                                          delay))

    def emit_ust(self, cpu: int, name: str, values: dict, thread: Thread) -> None:
        scenario = self.scenario
        layout = scenario._ust_layouts[name]
        context = {key: _ust_context_value(key, thread, cpu) for key in scenario.ust_context}
        event = self._expected("ust", cpu, name, _packed(layout, values), context)
        self.ust.append(event)
        self.ust_processes.setdefault(thread.pid, thread)

    def _expected(self, domain, cpu, name, fields, context, delay=0) -> ExpectedEvent:
        at = self.intent.at + delay
        scenario = self.scenario
        return ExpectedEvent(domain, name, cpu, at, scenario.clock_value(at),
                             scenario.ns_from_origin(at), fields, context)

    def use(self, name: str) -> None:
        self.scenario._use_kernel_event(name)

    # -- actions (one per intent kind) ---------------------------------------------

    def set_stack(self, thread: Thread, kernel: tuple, user: tuple) -> None:
        self.stacks[thread.tid] = (kernel, user)

    def switch(self, cpu, prev_expected, next_thread, prev_state, exiting=False) -> None:
        """``sched_switch`` on ``cpu`` (or on the CPU ``prev_expected`` runs on)."""
        if cpu is None:
            cpu = self.cpu_of(prev_expected)
        prev = self.current(cpu)
        if next_thread is not None:
            self.check_can_run(next_thread, cpu)
        elif self.running[cpu] is None:
            self.fail(f"CPU {cpu} is already idle")
        if prev_state is None:
            prev_state = layouts.TASK_STATES["R+"] if self.running[cpu] else 0
        next_shown = next_thread or idle_thread(cpu)
        self.use("sched_switch")
        self.emit_kernel(cpu, "sched_switch", {
            "prev_comm": prev.comm, "prev_tid": prev.tid, "prev_prio": prev.prio,
            "prev_state": prev_state, "next_comm": next_shown.comm, "next_tid": next_shown.tid,
            "next_prio": next_shown.prio}, prev)
        if self.running[cpu] is not None:
            runnable = prev_state in (0, layouts.TASK_STATES["R+"])
            becomes = "dead" if exiting else "runnable" if runnable else "blocked"
            self.switched_out(prev, cpu, prev_state, becomes)
        self.running[cpu] = next_thread
        if next_thread is not None:
            self.where[next_thread.tid] = cpu
            self.status.pop(next_thread.tid, None)
            self.last_cpu[next_thread.tid] = cpu

    def switched_out(self, thread, cpu, prev_state, becomes) -> None:
        del self.where[thread.tid]
        self.last_cpu[thread.tid] = cpu
        names = {code: name for name, code in layouts.TASK_STATES.items()}
        detail = f"prev_state {names.get(prev_state, prev_state)} on CPU {cpu}"
        self.status[thread.tid] = (becomes, self.intent.at, detail)

    def waking(self, thread, by, cpu, target_cpu, wakeup_cpu, token, with_wakeup,
               running=False) -> None:
        if isinstance(by, Interrupt):
            waking_cpu = by.cpu
        elif by is not None:
            waking_cpu = self.cpu_of(by, cpu)
        else:
            waking_cpu = cpu
        state = self.state_of(thread)
        if running and state != "running":
            self.fail(f"{thread} is {state}: running=True wakes a thread still on its CPU")
        if not running and state not in ("new", "blocked"):
            where = f" on CPU {self.where[thread.tid]}" if state == "running" else ""
            self.fail(f"{thread} is {state}{where}: only a sleeping thread can be woken")
        target = target_cpu if target_cpu is not None else self.last_cpu.get(thread.tid, waking_cpu)
        self.use("sched_waking")
        flags = layouts.CONTEXT_FLAGS.get(by.kind, 0) if isinstance(by, Interrupt) else 0
        self.emit_kernel(waking_cpu, "sched_waking", self._flagged(thread, target, flags),
                         self.current(waking_cpu))
        if not running:
            self.status[thread.tid] = ("runnable", self.intent.at, f"woken by {by}")
            self.last_cpu[thread.tid] = target
        wakeup_cpu = target if wakeup_cpu is None else wakeup_cpu
        # Where the waking ran, its sched_wakeup follows in the same context.
        self.tokens[token] = (target, wakeup_cpu, flags if wakeup_cpu == waking_cpu else 0,
                              running and not with_wakeup)
        if with_wakeup:
            self.wakeup(thread, token, delay=int(wakeup_cpu != waking_cpu))

    def wakeup(self, thread, token, delay=0) -> None:
        target, cpu, flags, racing = self.tokens[token]
        if racing:             # woken while switching out: this ends the sleep
            if self.state_of(thread) != "blocked":
                self.fail(f"{thread} must have switched out asleep before the sched_wakeup "
                          f"of a waking that came while it ran{self.history(thread)}")
            self.status[thread.tid] = ("runnable", self.intent.at, "woken while switching out")
            self.last_cpu[thread.tid] = target
        self.use("sched_wakeup")
        self.emit_kernel(cpu, "sched_wakeup", self._flagged(thread, target, flags),
                         self.current(cpu), delay)

    def _flagged(self, thread, target, flags) -> dict:
        """A wakeup's fields, with perf's common_flags where the scenario records them."""
        values = _wakeup_fields(thread, target)
        if self.scenario.irq_flags:
            values["common_flags"] = flags
        return values

    def fork(self, parent, child, target_cpu) -> None:
        cpu = self.cpu_of(parent)
        self.use("sched_process_fork")
        self.emit_kernel(cpu, "sched_process_fork", {
            "parent_comm": parent.comm, "parent_tid": parent.tid, "parent_pid": parent.pid,
            "parent_ns_inum": NS_INUM, "child_comm": child.comm, "child_tid": child.tid,
            "_vtids_length": 1, "vtids": [child.tid], "child_pid": child.pid,
            "child_ns_inum": NS_INUM}, self.current(cpu))
        target = cpu if target_cpu is None else target_cpu
        self.use("sched_wakeup_new")
        self.emit_kernel(cpu, "sched_wakeup_new", self._flagged(child, target, 0),
                         self.current(cpu))
        self.status[child.tid] = ("runnable", self.intent.at, "forked")
        self.last_cpu[child.tid] = target

    def exit(self, thread, next_thread, prev_state) -> None:
        if thread.tid not in self.where:
            self.fail(f"{thread} must be running to exit{self.history(thread)}")
        cpu = self.where[thread.tid]
        self.use("sched_process_exit")
        self.emit_kernel(cpu, "sched_process_exit",
                         {"comm": thread.comm, "tid": thread.tid, "prio": thread.prio}, thread)
        self.switch(cpu, thread, next_thread, prev_state, exiting=True)

    def free(self, thread) -> None:
        if self.state_of(thread) != "dead":
            self.fail(f"{thread} is freed before it exits")
        cpu = self.last_cpu[thread.tid]
        self.use("sched_process_free")
        self.emit_kernel(cpu, "sched_process_free",
                         {"comm": thread.comm, "tid": thread.tid, "prio": thread.prio},
                         self.current(cpu))

    def migrate(self, thread, dest_cpu, cpu) -> None:
        if thread.tid in self.where:
            self.fail(f"{thread} is running; only a waiting thread migrates here")
        origin = self.last_cpu.get(thread.tid, thread.cpu or 0)
        cpu = origin if cpu is None else cpu
        self.use("sched_migrate_task")
        self.emit_kernel(cpu, "sched_migrate_task", {
            "comm": thread.comm, "tid": thread.tid, "prio": thread.prio,
            "orig_cpu": origin, "dest_cpu": dest_cpu}, self.current(cpu))
        self.last_cpu[thread.tid] = dest_cpu

    def statedump(self, cpu, threads) -> None:
        scenario = self.scenario
        if threads is None:
            threads = [t for t in scenario.threads
                       if scenario._born_at.get(t.tid, -1) <= self.intent.at]
        context = self.current(cpu)
        for name in ("lttng_statedump_start", "lttng_statedump_process_state",
                     "lttng_statedump_end"):
            self.use(name)
        self.emit_kernel(cpu, "lttng_statedump_start", {}, context)
        for thread in threads:
            self.emit_kernel(cpu, "lttng_statedump_process_state", {
                "tid": thread.tid, "pid": thread.pid, "ppid": thread.ppid, "name": thread.comm,
                "type": 0, "mode": 5, "submode": 0,
                "status": _PROCESS_STATUS[self.process_status(thread)],
                "cpu": self.where.get(thread.tid, self.last_cpu.get(thread.tid, thread.cpu or 0)),
                "file_table_address": 0}, context)
        self.emit_kernel(cpu, "lttng_statedump_end", {}, context)

    def thread_event(self, thread, name, values, cpu) -> None:
        cpu = self.cpu_of(thread, cpu)
        self.emit_kernel(cpu, name, values, self.current(cpu) if thread.tid in self.where
                         else thread)

    def cpu_event(self, cpu, name, values) -> None:
        self.emit_kernel(cpu, name, values, self.current(cpu))

    def ust_event(self, thread, name, values, cpu) -> None:
        self.emit_ust(self.cpu_of(thread, cpu), name, values, thread)

    def block_issue(self, thread, issue_cpu, values, token) -> None:
        cpu = self.cpu_of(thread, issue_cpu) if thread is not None else issue_cpu
        issuer = thread or self.current(cpu)
        self.tokens[token] = cpu
        self.emit_kernel(cpu, "block_rq_issue",
                         {**values, "tid": issuer.tid, "comm": issuer.comm}, self.current(cpu))

    def block_complete(self, complete_cpu, values, token) -> None:
        cpu = self.tokens[token] if complete_cpu is None else complete_cpu
        self.emit_kernel(cpu, "block_rq_complete", values, self.current(cpu))


def _wakeup_fields(thread: Thread, target_cpu: int) -> dict:
    return {"comm": thread.comm, "tid": thread.tid, "prio": thread.prio, "target_cpu": target_cpu}


def _kernel_context_value(key: str, thread: Thread, scenario):
    return {"tid": thread.tid, "vtid": thread.tid, "pid": thread.pid, "vpid": thread.pid,
            "ppid": thread.ppid, "vppid": thread.ppid, "procname": thread.comm,
            "prio": thread.prio, "nice": 0, "hostname": scenario.hostname}[key]


def _ust_context_value(key: str, thread: Thread, cpu: int):
    return {"vtid": thread.tid, "vpid": thread.pid, "procname": thread.comm,
            "pthread_id": 0x7F00_0000_0000 + thread.tid, "ip": 0, "cpu_id": cpu}[key]


def _packed(layout, values: dict) -> dict:
    """All fields in layout order: missing ones get defaults, sequence lengths follow."""
    packed = {name: values.get(name, layouts.default_value(type_code))
              for name, type_code in layout}
    for name, type_code in layout:
        if isinstance(type_code, Seq) and type_code.length_field not in values:
            packed[type_code.length_field] = len(packed[name])
    return packed
