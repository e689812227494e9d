"""One interval as a typed, immutable value: what the library hands out.

The engine stores intervals column-wise (:mod:`corr.engine.intervals`);
an :class:`Interval` is one row of it, made when a caller asks (a callback,
``RuleResult.interval_objects``), with the same keys and values as the JSON
output's interval objects (:meth:`Interval.to_dict`).  Its mappings and
sequences are read-only views (``MappingProxyType``, tuples), so that a
callback can keep an interval without it changing under it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .intervals import STATUS_NAMES

# The keys of an interval's dict that are attributes of Interval: those every interval
# has, then its explanation's; anything an explanation adds beyond them (a blamed
# thread's name...) is kept in ``extra``.
_ALWAYS = ("start_ns", "end_ns", "duration_ns", "status", "key", "tid", "cpu", "comm",
           "exit_tid", "exit_cpu", "exit_comm", "fields", "lossy", "group")
_EXPLANATION = ("breakdown", "critical_path")
_ATTRIBUTES = _ALWAYS + _EXPLANATION


@dataclass(frozen=True, slots=True)
class Interval:
    """One interval of one rule.

    ``status`` is one of ``STATUS_NAMES`` ("complete", "late", "timeout",
    "incomplete"); ``key`` is the key's value (a mapping by part name when the
    key has several parts); ``tid``/``cpu``/``comm`` are the entry's thread,
    ``exit_*`` the exit's (None when there was none); ``fields`` the rule's
    captured fields; ``group`` the ``group_by`` value or None.  ``breakdown``
    and ``critical_path`` are the scheduling explanation of a rule with
    ``blame:`` (None when the rule has none, or the interval was not explained:
    below the threshold, past the blame limit, timed out or incomplete).
    """

    rule: str
    start_ns: int
    end_ns: int
    duration_ns: int
    status: str
    key: Any
    tid: int | None
    comm: str | None
    group: Any = None
    fields: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    cpu: int | None = None
    exit_tid: int | None = None
    exit_cpu: int | None = None
    exit_comm: str | None = None
    lossy: bool = False
    breakdown: Any = field(default=None, repr=False)
    critical_path: Any = field(default=None, repr=False)
    extra: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}), repr=False)

    def __post_init__(self) -> None:
        if self.status not in STATUS_NAMES:
            raise ValueError(f"status: {self.status!r} is not one of {', '.join(STATUS_NAMES)}")

    @classmethod
    def of(cls, rule: str, row: Mapping[str, Any]) -> "Interval":
        """The interval of ``rule`` that ``row`` (a result's interval dict) describes."""
        values = {name: _frozen(row[name]) for name in _ATTRIBUTES if name in row}
        extra = {name: _frozen(value) for name, value in row.items() if name not in _ATTRIBUTES}
        return cls(rule=rule, extra=MappingProxyType(extra), **values)

    @classmethod
    def _adopt(cls, rule: str, row: dict[str, Any]) -> "Interval":
        """:meth:`of` for a row corr made and nobody else holds (a decision handed out):
        its dicts and lists are wrapped read-only in place rather than copied (a
        critical path is tens of dicts)."""
        values = {name: _adopted(row[name]) for name in _ATTRIBUTES if name in row}
        extra = {name: _adopted(value) for name, value in row.items() if name not in _ATTRIBUTES}
        return cls(rule=rule, extra=MappingProxyType(extra), **values)

    @property
    def explained(self) -> bool:
        """Whether the interval carries its scheduling explanation."""
        return self.breakdown is not None

    def to_dict(self) -> dict[str, Any]:
        """The interval as the JSON output writes it (without the rule's name, which
        the output holds once for its rule's intervals)."""
        out = {name: _thawed(getattr(self, name)) for name in _ALWAYS}
        for name in _EXPLANATION:
            value = getattr(self, name)
            if value is not None:
                out[name] = _thawed(value)
        out.update((name, _thawed(value)) for name, value in self.extra.items())
        return out


# Values kept as they are (most of an explanation's: a critical path is tens of dicts
# of these), told by their exact type without a call.
_PLAIN = frozenset((int, str, float, bool, type(None), bytes))


def _frozen(value: Any) -> Any:
    """``value`` with its dicts as read-only mappings and its lists as tuples."""
    kind = type(value)
    if kind is dict:
        return MappingProxyType({k: v if type(v) in _PLAIN else _frozen(v)
                                 for k, v in value.items()})
    if kind is list:
        return tuple([v if type(v) in _PLAIN else _frozen(v) for v in value])
    if isinstance(value, dict):
        return MappingProxyType({k: _frozen(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    return value


def _adopted(value: Any) -> Any:
    """:func:`_frozen` in place: the same value, its own dicts and lists made read-only."""
    kind = type(value)
    if kind is dict:
        for k, v in value.items():
            if type(v) not in _PLAIN:
                value[k] = _adopted(v)
        return MappingProxyType(value)
    if kind is list:
        for n, v in enumerate(value):
            if type(v) not in _PLAIN:
                value[n] = _adopted(v)
        return tuple(value)
    return _frozen(value)


def _thawed(value: Any) -> Any:
    """The plain dicts and lists of a :func:`_frozen` value (as JSON reads back)."""
    if isinstance(value, MappingProxyType):
        return {k: _thawed(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_thawed(v) for v in value]
    return value


__all__ = ["Interval"]
