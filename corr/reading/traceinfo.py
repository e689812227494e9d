"""What a reader learns about a trace besides its events.

Plain classes, not dataclasses: the reading layer is imported by every
command and every worker, and ``dataclasses`` alone costs 10 ms to import.
"""

from __future__ import annotations


class ClockInfo:
    """A stream's default clock class, as its metadata declares it."""

    __slots__ = ("name", "frequency", "offset_s", "offset_cycles", "origin_is_unix_epoch", "uuid")

    def __init__(self, name: str, frequency: int, offset_s: int, offset_cycles: int,
                 origin_is_unix_epoch: bool, uuid: str | None):
        self.name = name
        self.frequency = frequency
        self.offset_s = offset_s
        self.offset_cycles = offset_cycles
        self.origin_is_unix_epoch = origin_is_unix_epoch
        self.uuid = uuid

    @property
    def offset_ns(self) -> int:
        """The clock's offset from its origin, in ns."""
        return self.offset_s * 1_000_000_000 + self.offset_cycles * 1_000_000_000 // self.frequency

    def __repr__(self) -> str:
        return f"ClockInfo({self.name!r}, offset_ns={self.offset_ns})"


class StreamInfo:
    """One stream (usually one CPU's ring buffer) of a trace."""

    __slots__ = ("name", "cpu", "packet_context")

    def __init__(self, name: str, cpu: int | None = None, packet_context: tuple[str, ...] = ()):
        self.name = name
        self.cpu = cpu
        self.packet_context = packet_context


class TraceInfo:
    """A trace's identity: where it is, its environment, clocks and streams."""

    def __init__(self, index: int, path: str, env: dict | None = None,
                 clock: ClockInfo | None = None, offset_ns: int = 0):
        self.index = index
        self.path = path
        self.env: dict[str, object] = env if env is not None else {}
        self.clock = clock
        self.streams: dict[str, StreamInfo] = {}
        # Added to every timestamp of this trace to put it on the common time base.
        self.offset_ns = offset_ns
        self.alignment = "as recorded"
        self.range_ns: tuple[int, int] | None = None     # on the trace's own clock
        self.stream_count = 0
        self.class_names: list[str] = []                  # declared in the metadata
        self.packets: list[tuple[int, int, int]] = []     # (begin, end, bytes), own clock
        # The first and last event of any class the decodes saw, on the common time
        # base: where the trace begins and ends (its packets may open well before).
        self.events_ns: tuple[int, int] | None = None

    def __repr__(self) -> str:
        return f"TraceInfo({self.index}, {self.path!r})"

    def saw_events(self, first: int | None, last: int | None) -> None:
        """Widen :attr:`events_ns` to ``first``..``last`` (a decode, or a part of one,
        saw events from ``first`` to ``last``; None: none)."""
        if first is None or last is None:
            return
        if self.events_ns is not None:
            first, last = min(first, self.events_ns[0]), max(last, self.events_ns[1])
        self.events_ns = (first, last)

    @property
    def domain(self) -> str | None:
        return self.env.get("domain")  # type: ignore[return-value]

    @property
    def tracer(self) -> str | None:
        name = self.env.get("tracer_name")
        if name is None:
            return None
        major, minor = self.env.get("tracer_major"), self.env.get("tracer_minor")
        if major is None:
            return str(name)
        return f"{name} {major}.{minor}" + (
            f".{self.env['tracer_patchlevel']}" if "tracer_patchlevel" in self.env else "")

    @property
    def cpus(self) -> list[int]:
        return sorted({s.cpu for s in self.streams.values() if s.cpu is not None})
