"""What a scenario is made of and gives back: threads, interrupts, expected events."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ScenarioError", "Thread", "Interrupt", "ExpectedEvent", "ExpectedDiscard",
    "WrittenTrace", "idle_thread",
]


class ScenarioError(ValueError):
    """A scenario that cannot happen on a real system, or a malformed call."""


@dataclass(frozen=True)
class Thread:
    """A kernel task. ``cpu`` places the events of a never-scheduled thread."""

    tid: int
    pid: int
    comm: str
    prio: int = 20
    ppid: int = 1
    cpu: int | None = None

    def __str__(self) -> str:
        return f"tid {self.tid} ({self.comm})"


@dataclass(frozen=True)
class Interrupt:
    """An interrupt context (``irq``, ``softirq`` or ``hrtimer``) that can wake threads."""

    kind: str
    cpu: int
    at: int
    until: int
    number: int

    def __str__(self) -> str:
        return f"{self.kind} {self.number} on CPU {self.cpu} [{self.at}, {self.until}]"


@dataclass(frozen=True)
class ExpectedEvent:
    """One event as a reader must find it in the written trace."""

    domain: str
    name: str
    cpu: int
    at: int
    clock_value: int
    ns_from_origin: int
    fields: dict
    context: dict


@dataclass(frozen=True)
class ExpectedDiscard:
    """A discarded-events report: ``count`` events lost on ``cpu`` in [begin, end]."""

    domain: str
    cpu: int
    count: int
    begin_ns_from_origin: int
    end_ns_from_origin: int


@dataclass(frozen=True)
class WrittenTrace:
    """Where a scenario was written: the root, and each domain's trace directory."""

    root: Path
    kernel: Path | None
    ust: Path | None

    @property
    def traces(self) -> list[Path]:
        return [path for path in (self.kernel, self.ust) if path is not None]


def idle_thread(cpu: int) -> Thread:
    """The idle task of a CPU: ``swapper/N``, tid 0."""
    return Thread(0, 0, f"swapper/{cpu}", 20, 0)
