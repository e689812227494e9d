"""Large, realistic lttng-modules 2.13 kernel traces for benchmarks.

A small discrete-event simulation of a busy machine: threads make syscalls,
some block inside them and are woken by other threads or by interrupts,
CPUs preempt and go idle, IRQs, softirqs and hrtimers fire.  Events are
produced by a generator, in global time order, and streamed into the
writer: memory stays flat whatever the trace size.  The mix is about 62 %
syscall entry/exit, 21 % scheduling (switch, waking, wakeup) and 17 %
interrupts (IRQ, softirq, hrtimer).
"""

from __future__ import annotations

import random
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

from . import layouts
from .ctf_writer import ClockDescription, TraceDescription, write_trace
from .scenario import DEFAULT_CLOCK_OFFSET_NS, DEFAULT_CLOCK_UUID, DEFAULT_START_NS

__all__ = ["generate_kernel_trace", "GeneratedTrace"]

# name -> (weight, may block, sleep state if it blocks)
_SYSCALL_MIX = {
    "read": (18, True, 2), "write": (14, False, 0), "futex": (16, True, 1),
    "recvfrom": (8, True, 1), "sendto": (8, False, 0), "openat": (4, False, 0),
    "close": (6, False, 0), "ioctl": (6, False, 0), "clock_nanosleep": (4, True, 1),
    "getpid": (4, False, 0), "sched_yield": (2, False, 0), "lseek": (4, False, 0),
    "newfstat": (6, False, 0),
}
_COMMS = ("nginx", "postgres", "java", "python3", "llserver", "redis-server", "sshd",
          "systemd-journal", "chrome", "rustc")
_IRQS = ((16, "eth0"), (24, "nvme0q1"), (1, "i8042"), (9, "acpi"))
_VARIANTS = 8  # precomputed payloads per syscall: cheap but not constant


@dataclass(frozen=True)
class GeneratedTrace:
    """What :func:`generate_kernel_trace` wrote, and how fast."""

    path: Path
    events: int
    counts: dict
    seconds: float

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds else float("inf")


def generate_kernel_trace(path, events: int = 5_000_000, cpus: int = 4, threads: int = 200,
                          seed: int = 0, *, session: bool = False,
                          packet_events: int | None = 20_000,
                          fast: bool | None = None) -> GeneratedTrace:
    """Write exactly ``events`` kernel events on ``cpus`` CPUs and ``threads`` threads.

    Deterministic for a given ``seed``.  With ``session=True`` the trace goes
    to ``path/kernel`` (an LTTng session folder).
    """
    if events < 0 or cpus < 1 or threads < 1:
        raise ValueError("events >= 0, cpus >= 1 and threads >= 1 are required")
    machine = _Machine(cpus, threads, random.Random(seed))
    counts: dict = defaultdict(int)
    trace_dir = Path(path) / "kernel" if session else Path(path)
    started = time.perf_counter()
    write_trace(trace_dir, _description(cpus), _counted(islice(machine.run(), events), counts),
                begin=DEFAULT_START_NS, packet_events=packet_events, fast=fast)
    seconds = time.perf_counter() - started
    return GeneratedTrace(trace_dir, sum(counts.values()), dict(counts), seconds)


def _counted(records, counts):
    for record in records:
        counts[record[2]] += 1
        yield record


def _description(cpus: int) -> TraceDescription:
    event_classes = {name: layouts.KERNEL_EVENTS[name] for name in (
        "sched_switch", "sched_waking", "sched_wakeup", "irq_handler_entry",
        "irq_handler_exit", "irq_softirq_raise", "irq_softirq_entry", "irq_softirq_exit",
        "timer_hrtimer_expire_entry", "timer_hrtimer_expire_exit")}
    for name in _SYSCALL_MIX:
        entry, exit_layout = layouts.syscall_layouts(name)
        event_classes[f"syscall_entry_{name}"] = entry
        event_classes[f"syscall_exit_{name}"] = exit_layout
    environment = {
        "hostname": "corr-bench", "domain": "kernel", "sysname": "Linux",
        "kernel_release": "6.1.0-corr-amd64", "kernel_version": "#1 SMP PREEMPT_DYNAMIC",
        "tracer_name": "lttng-modules", "tracer_major": 2, "tracer_minor": 13,
        "tracer_patchlevel": 0, "trace_buffering_scheme": "global",
        "trace_name": "corr-bench", "trace_creation_datetime": "20231114T221320+0000",
    }
    return TraceDescription(environment, ClockDescription(DEFAULT_CLOCK_OFFSET_NS,
                                                          DEFAULT_CLOCK_UUID),
                            cpus, event_classes)


class _Syscall:
    """One syscall's event names and a few precomputed payloads."""

    __slots__ = ("entry_name", "exit_name", "entries", "exits", "may_block", "sleep_state")

    def __init__(self, name, may_block, sleep_state, rng):
        entry, exit_layout = layouts.syscall_layouts(name)
        self.entry_name = f"syscall_entry_{name}"
        self.exit_name = f"syscall_exit_{name}"
        self.entries = [tuple(_sample(field, kind, rng) for field, kind in entry)
                        for _ in range(_VARIANTS)]
        self.exits = [tuple(_sample(field, kind, rng) for field, kind in exit_layout)
                      for _ in range(_VARIANTS)]
        self.may_block = may_block
        self.sleep_state = sleep_state


def _sample(field, kind, rng):
    """A plausible value for a syscall field."""
    if kind == "str":
        return rng.choice(("/etc/hosts", "/var/log/syslog", "/proc/self/stat", "/tmp/x"))
    if field in ("fd", "dfd", "epfd"):
        return rng.randrange(3, 64)
    if field == "ret":
        return rng.choice((0, 0, 1, 8, 64, 4096, -11))
    if kind in ("u64", "x64"):
        return 0x7FFD_0000_0000 + rng.randrange(0, 1 << 20) * 8
    return rng.randrange(0, 128)


class _Machine:
    """Per-CPU run queues and thread states; ``run()`` yields event records forever."""

    def __init__(self, cpus, threads, rng):
        self.rng = rng
        self.cpus = cpus
        self.tasks = [(1000 + index, 1000 + index - index % 4,
                       _COMMS[(index // 4) % len(_COMMS)]) for index in range(threads)]
        self.syscalls = [_Syscall(name, may_block, state, rng)
                         for name, (_, may_block, state) in _SYSCALL_MIX.items()]
        # Drawing from a list repeated by weight is faster than random.choices.
        self.syscall_draw = [syscall for syscall, (weight, _, _)
                             in zip(self.syscalls, _SYSCALL_MIX.values()) for _ in range(weight)]
        self.current = [None] * cpus            # task index or None (idle)
        self.runqueues = [deque() for _ in range(cpus)]
        self.in_syscall: list[_Syscall | None] = [None] * threads
        self.blocked: list[int] = []
        self.home = [index % cpus for index in range(threads)]
        for index in range(threads):
            self.runqueues[self.home[index]].append(index)

    def run(self):
        draw = self.rng.random
        now = DEFAULT_START_NS
        cpus = self.cpus
        while True:
            now += 50 + int(draw() * 1450)
            cpu = int(draw() * cpus)
            task = self.current[cpu]
            if task is None:
                step = self.idle_step(cpu, now)
            elif self.in_syscall[task] is None:
                step = self.user_step(cpu, task, now)
            else:
                step = self.kernel_step(cpu, task, now)
            for record in step:
                now = record[0]
                yield record

    # -- what a CPU does next ----------------------------------------------------

    def idle_step(self, cpu, now):
        if self.runqueues[cpu]:
            return [self.switch(cpu, None, self.runqueues[cpu].popleft(), 0, now)]
        return self.interrupt(cpu, now, wake=True)

    def user_step(self, cpu, task, now):
        draw = self.rng.random()
        if draw < 0.84:
            syscall = self.syscall_draw[int(self.rng.random() * len(self.syscall_draw))]
            self.in_syscall[task] = syscall
            return [(now, cpu, syscall.entry_name,
                     syscall.entries[int(self.rng.random() * _VARIANTS)], ())]
        if draw < 0.89 and self.runqueues[cpu]:
            self.runqueues[cpu].append(task)
            return [self.switch(cpu, task, self.runqueues[cpu].popleft(),
                                layouts.TASK_STATES["R+"], now)]
        return self.interrupt(cpu, now, wake=False)

    def kernel_step(self, cpu, task, now):
        syscall = self.in_syscall[task]
        draw = self.rng.random()
        if syscall.may_block and draw < 0.30:
            self.blocked.append(task)
            queue = self.runqueues[cpu]
            return [self.switch(cpu, task, queue.popleft() if queue else None,
                                syscall.sleep_state, now)]
        if draw < 0.36 and self.blocked:
            return self.wake(cpu, now)
        self.in_syscall[task] = None
        return [(now, cpu, syscall.exit_name, syscall.exits[int(self.rng.random() * _VARIANTS)], ())]

    def interrupt(self, cpu, now, wake):
        """An IRQ (maybe followed by its softirq) or an hrtimer; may wake a thread."""
        rng = self.rng
        if rng.random() < 0.25:
            timer = 0xFFFF_8880_0010_0000 + cpu * 64
            records = [(now, cpu, "timer_hrtimer_expire_entry",
                        (timer, now, 0xFFFF_FFFF_8110_0000), ())]
            if wake and self.blocked:
                records += self.wake(cpu, now + 200)
            records.append((now + 400, cpu, "timer_hrtimer_expire_exit", (timer,), ()))
            return records
        irq, name = rng.choice(_IRQS)
        records = [(now, cpu, "irq_handler_entry", (irq, name), ()),
                   (now + 150, cpu, "irq_softirq_raise", (3,), ()),
                   (now + 300, cpu, "irq_handler_exit", (irq, 1), ()),
                   (now + 350, cpu, "irq_softirq_entry", (3,), ())]
        if self.blocked and (wake or rng.random() < 0.5):
            records += self.wake(cpu, now + 500)
        records.append((now + 900, cpu, "irq_softirq_exit", (3,), ()))
        return records

    # -- scheduling events ---------------------------------------------------------

    def wake(self, cpu, now):
        """sched_waking here, sched_wakeup on the woken thread's home CPU."""
        task = self.blocked.pop(int(self.rng.random() * len(self.blocked)))
        target = self.home[task]
        tid, _, comm = self.tasks[task]
        fields = (comm, tid, 20, target)
        self.runqueues[target].append(task)
        return [(now, cpu, "sched_waking", fields, ()),
                (now + (target != cpu), target, "sched_wakeup", fields, ())]

    def switch(self, cpu, previous, following, prev_state, now):
        prev_tid, _, prev_comm = self.task_or_idle(previous, cpu)
        next_tid, _, next_comm = self.task_or_idle(following, cpu)
        self.current[cpu] = following
        return (now, cpu, "sched_switch",
                (prev_comm, prev_tid, 20, prev_state, next_comm, next_tid, 20), ())

    def task_or_idle(self, task, cpu):
        return (0, 0, f"swapper/{cpu}") if task is None else self.tasks[task]
