"""Which times to snapshot: at an interval, at given points, or N spread evenly.

Everything here is in seconds from the stream's start, except where a service's
own dict says otherwise: MPS `SnapshotConfig.Time` and ICE `SpecifiedOffsetTime`
are milliseconds, and the converters turn them into seconds. A time given as a
string may use FFmpeg's syntax ("90s", "1500ms", "00:01:30.5"; see _timespec): a
plain number in a string keeps the field's own unit.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Union, overload

from stillframe._timespec import time_value
from stillframe.errors import InvalidParameter, MissingParameter

__all__ = ["Dots", "Interval", "Quantity", "Sampling", "Schedule", "Times", "sampling_from_dict"]


class _Lazy(Sequence[float]):
    """A sequence of times that compares equal to any sequence of the same values."""

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str) or len(other) != len(self):
            return False
        return all(a == b for a, b in zip(self, other))

    __hash__ = None  # type: ignore[assignment]  # equal to lists, which do not hash


def is_lazy(times: Sequence[float]) -> bool:
    """Whether `times` is worked out as it is read (a schedule's Times), not held."""
    return isinstance(times, _Lazy)


class Times(_Lazy):
    """`length` times, the i-th at `start + (offset + i) * step` seconds, worked out
    when read: a schedule of a billion snapshots costs what one does until it is
    taken. Compares equal to any sequence of the same values (`Times(0, 10, 3) ==
    [0, 10, 20]`); a slice is Times too, with the same values as the whole."""

    __slots__ = ("length", "offset", "start", "step")

    def __init__(self, start: float, step: float, length: int, offset: int = 0) -> None:
        self.start, self.step, self.length, self.offset = float(start), float(step), max(0, int(length)), int(offset)

    def __len__(self) -> int:
        return self.length

    @overload
    def __getitem__(self, i: int) -> float: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[float]: ...
    def __getitem__(self, i: int | slice) -> float | Sequence[float]:
        if isinstance(i, slice):
            first, stop, stride = i.indices(self.length)
            if stride != 1:
                return [self[k] for k in range(first, stop, stride)]
            return Times(self.start, self.step, max(0, stop - first), self.offset + first)
        if i < 0:
            i += self.length
        if not 0 <= i < self.length:
            raise IndexError("time index out of range")
        return self.start + (self.offset + i) * self.step

    def __iter__(self) -> Iterator[float]:
        start, step, offset = self.start, self.step, self.offset
        for i in range(offset, offset + self.length):
            yield start + i * step

    def __repr__(self) -> str:
        return f"Times(start={self.start!r}, step={self.step!r}, length={self.length}, offset={self.offset})"

    def __reduce__(self) -> tuple[type[Times], tuple[float, float, int, int]]:
        return Times, (self.start, self.step, self.length, self.offset)


@dataclass(frozen=True)
class Schedule:
    """The times a sampling resolves to on one video (in seconds, in the order they
    are numbered: a list for Dots, Times worked out when read for an interval or a
    quantity), and how many asked for were left out and why."""

    times: Sequence[float]
    requested: int | None  # how many were asked for, when that is a number
    dropped: int = 0  # asked for but past the end
    reason: str = ""

    def with_first(self, time: float) -> Schedule:
        """The same schedule with its first time replaced (a black first frame
        swapped for the next non-black one)."""
        return replace(self, times=_FirstReplaced(self.times, time))


class _FirstReplaced(_Lazy):
    """`times` with its first value replaced, the rest read from `times`."""

    def __init__(self, times: Sequence[float], first: float) -> None:
        self.times, self.first = times, first

    def __len__(self) -> int:
        return len(self.times)

    def __getitem__(self, i):  # type: ignore[no-untyped-def]
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        return self.first if i == 0 else self.times[i]

    def __iter__(self) -> Iterator[float]:
        it = iter(self.times)
        if next(it, None) is None:
            return
        yield self.first
        yield from it


def _check_time(name: str, value: float | str) -> float:
    try:
        value = time_value(value, name)
    except ValueError as exc:
        raise InvalidParameter(str(exc)) from None
    if not math.isfinite(value) or value < 0:
        raise InvalidParameter(f"{name} must be a finite number of seconds >= 0, not {value!r}")
    return value


@dataclass(frozen=True)
class Interval:
    """A snapshot every `every` seconds from `start`, at most `count` of them.
    `every=0` with `count` spreads `count` snapshots evenly from `start` to the end:
    at start + i * (duration - start) / count."""

    every: float
    start: float = 0.0
    count: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "every", _check_time("Interval.every", self.every))
        object.__setattr__(self, "start", _check_time("Interval.start", self.start))
        if self.count is not None and (not isinstance(self.count, int) or self.count < 1):
            raise InvalidParameter(f"Interval.count must be an integer >= 1, not {self.count!r}")
        if self.every == 0 and self.count is None:
            raise InvalidParameter("Interval.every is 0: give a count to spread snapshots evenly")

    def resolve(self, duration: float) -> Schedule:
        """The snapshot times on a video of `duration` seconds (Times, worked out when read), and how many of
        `count` cannot be taken and why."""
        if self.start >= duration:
            return Schedule([], self.count, self.count or 1, _past_end(self.start, duration))
        if self.every == 0:
            assert self.count is not None
            step = (duration - self.start) / self.count
            return Schedule(Times(self.start, step, self.count), self.count)
        n_fit = math.floor((duration - self.start) / self.every - 1e-9) + 1
        n = n_fit if self.count is None else min(self.count, n_fit)
        times = Times(self.start, self.every, n)
        dropped = 0 if self.count is None else self.count - n
        reason = _past_end(self.start + n * self.every, duration) if dropped else ""
        return Schedule(times, self.count, dropped, reason)


@dataclass(frozen=True)
class Dots:
    """Snapshots at the given times (seconds), in the order given."""

    times: Sequence[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        if len(self.times) == 0:
            raise MissingParameter("Dots needs at least one time")
        object.__setattr__(self, "times", [_check_time("Dots time", t) for t in self.times])

    def resolve(self, duration: float) -> Schedule:
        """The times before `duration` seconds, in the order given, and how many were past the end."""
        kept = [t for t in self.times if t < duration]
        dropped = len(self.times) - len(kept)
        late = [t for t in self.times if t >= duration]
        return Schedule(kept, len(self.times), dropped, _past_end(min(late), duration) if late else "")


@dataclass(frozen=True)
class Quantity:
    """`count` snapshots spread evenly over the whole video (at i * duration /
    count), or, with `every`, `count` snapshots `every` seconds apart from 0."""

    count: int
    every: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.count, int) or self.count < 1:
            raise InvalidParameter(f"Quantity.count must be an integer >= 1, not {self.count!r}")
        if self.every is not None:
            object.__setattr__(self, "every", _check_time("Quantity.every", self.every))
        if self.every == 0:
            raise InvalidParameter("Quantity.every must be > 0")

    def resolve(self, duration: float) -> Schedule:
        """The snapshot times on a video of `duration` seconds, as the equivalent Interval gives them."""
        if self.every is None:
            return Interval(0, 0.0, self.count).resolve(duration)
        return Interval(self.every, 0.0, self.count).resolve(duration)


Sampling = Union[Interval, Dots, Quantity]


MS = 0.001  # the unit of a field in milliseconds


def _past_end(t: float, duration: float) -> str:
    return f"{t:.3f} s is at or past the end of the video ({duration:.3f} s)"


def _num(d: Mapping[str, Any], key: str, kind: type = float, unit: float | None = None) -> Any:
    """`d[key]` as a `kind`, or None; a time field (`unit`: 1 for seconds, 0.001 for
    milliseconds) also takes FFmpeg's time syntax in a string."""
    value = d.get(key)
    if value is None or value == "":
        return None
    if unit is not None:
        try:
            return time_value(value, key, unit)
        except ValueError as exc:
            raise InvalidParameter(str(exc)) from None
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise InvalidParameter(f"{key} must be a number, not {value!r}") from None


def from_mps(config: Mapping[str, Any]) -> Sampling:
    """MPS `SnapshotConfig`: `Time` (start, **milliseconds**), `Interval` (seconds;
    0 with `Num` spreads evenly; default 10 when `Num` is given), `Num`. Neither
    Interval nor Num: one snapshot at Time."""
    start_ms = _num(config, "Time", unit=MS) or 0.0
    if start_ms < 0:
        raise InvalidParameter(f"Time must be >= 0 milliseconds, not {start_ms}")
    interval = _num(config, "Interval", unit=1.0)
    num = _num(config, "Num", int)
    if num is not None and num < 1:
        raise InvalidParameter(f"Num must be >= 1, not {num}")
    if interval is not None and interval < 0:
        raise InvalidParameter(f"Interval must be >= 0 seconds, not {interval}")
    start = start_ms / 1000.0
    if interval is None and num is None:
        return Dots([start])
    if interval is None:
        interval = 10.0
    return Interval(interval, start=start, count=num)


def from_ice(config: Mapping[str, Any]) -> Sampling:
    """ICE snapshot template config: `SpecifiedOffsetTime` or `Time` (start,
    milliseconds), `Interval` (seconds), `Count`."""
    start_ms = _num(config, "SpecifiedOffsetTime", unit=MS)
    if start_ms is None:
        start_ms = _num(config, "Time", unit=MS) or 0.0
    count = _num(config, "Count", int)
    interval = _num(config, "Interval", unit=1.0)
    mps = {"Time": start_ms, "Interval": interval, "Num": count}
    return from_mps({k: v for k, v in mps.items() if v is not None})


def from_huawei(para: Mapping[str, Any]) -> Sampling:
    """Huawei `thumbnail_para`: `type` "time" (every `time` seconds, 1..100, default
    12), "dots" (`dots`: seconds) or "quantity" (`quantity` 1..10 spread evenly, or
    `quantity_time` seconds apart)."""
    kind = str(para.get("type", "time")).lower()
    if kind == "time":
        every = _num(para, "time", unit=1.0)
        every = 12.0 if every is None else every
        if not 0 < every <= 100:
            raise InvalidParameter(f"thumbnail_para.time must be in (0, 100] seconds, not {every}")
        return Interval(every)
    if kind == "dots":
        dots = para.get("dots")
        if not dots:
            raise MissingParameter("thumbnail_para.dots is required when type is dots")
        if isinstance(dots, (str, bytes)) or not isinstance(dots, Sequence):
            raise InvalidParameter(f"thumbnail_para.dots must be a list of times, not {dots!r}")
        return Dots([_num({"thumbnail_para.dots": t}, "thumbnail_para.dots", unit=1.0) for t in dots])
    if kind == "quantity":
        count = _num(para, "quantity", int)
        if count is None:
            raise MissingParameter("thumbnail_para.quantity is required when type is quantity")
        if not 1 <= count <= 10:
            raise InvalidParameter(f"thumbnail_para.quantity must be in 1..10, not {count}")
        return Quantity(count, _num(para, "quantity_time", unit=1.0))
    raise InvalidParameter(f"thumbnail_para.type must be time, dots or quantity, not {kind!r}")


def sampling_from_dict(config: Mapping[str, Any]) -> Sampling:
    """Any of the services' dicts, told apart by their keys."""
    if "type" in config or "dots" in config or "quantity" in config:
        return from_huawei(config)
    if "Count" in config or "SpecifiedOffsetTime" in config:
        return from_ice(config)
    return from_mps(config)
