"""What a reader learns about a trace besides its events."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ClockInfo:
    """A stream's default clock class, as its metadata declares it."""

    name: str
    frequency: int
    offset_s: int
    offset_cycles: int
    origin_is_unix_epoch: bool
    uuid: str | None

    @property
    def offset_ns(self) -> int:
        """The clock's offset from its origin, in ns."""
        return self.offset_s * 1_000_000_000 + self.offset_cycles * 1_000_000_000 // self.frequency


@dataclass
class StreamInfo:
    """One stream (usually one CPU's ring buffer) of a trace."""

    name: str
    cpu: int | None = None
    packet_context: tuple[str, ...] = ()


@dataclass
class TraceInfo:
    """A trace's identity: where it is, its environment, clocks and streams."""

    index: int
    path: str
    env: dict[str, object] = field(default_factory=dict)
    clock: ClockInfo | None = None
    streams: dict[str, StreamInfo] = field(default_factory=dict)
    # Added to every timestamp of this trace to put it on the common time base.
    offset_ns: int = 0
    alignment: str = "as recorded"
    range_ns: tuple[int, int] | None = None     # from the stream index, before alignment
    stream_count: int = 0
    class_names: list[str] = field(default_factory=list)   # declared in the metadata
    packets: list[tuple[int, int, int]] = field(default_factory=list)  # (begin, end, bytes), own clock

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
