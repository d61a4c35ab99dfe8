"""The tasks: which times to take, in which mode, on which videos."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Task:
    name: str
    times: tuple[float, ...]  # seconds from the stream's start, in the order asked
    mode: str = "exact"  # exact | keyframe
    every: float | None = None  # for interval tasks (one-pass fps filters can do these)
    sprite: bool = False  # 160 px thumbnails as 10x10 sheets + WebVTT


def _interval(every: float, duration: float, mode: str = "exact") -> Task:
    times = tuple(float(k * every) for k in range(int((duration - 1e-6) // every) + 1))
    return Task(f"every {every:g} s ({len(times)})", times, mode, every=every)


def _spread(n: int, duration: float, mode: str = "exact") -> Task:
    return Task(f"{n} spread evenly", tuple(duration * i / n for i in range(n)), mode)


def _random(n: int, duration: float, ordered: bool, mode: str = "exact") -> Task:
    rng = random.Random(20261123)
    times = [round(rng.uniform(0, duration - 0.5), 3) for _ in range(n)]
    if ordered:
        times.sort()
    return Task(f"{n} random, {'sorted' if ordered else 'unsorted'}", tuple(times), mode)


def _one(duration: float, mode: str = "exact") -> Task:
    return Task("one at 10%", (round(duration * 0.1, 3),), mode)


def _sprite(duration: float, count: int = 100) -> Task:
    every = duration / count
    return Task(f"sprite + VTT ({count} thumbs)", tuple(k * every for k in range(count)), every=every, sprite=True)


def tasks_for(duration: float, main: bool, quick: bool) -> list[Task]:
    """Every task on the main clip; a representative handful on the others."""
    if main:
        every = (1, 5, 10) if not quick else (1, 5)
        exact = [_interval(e, duration) for e in every]
        exact += [_random(50, duration, True), _random(50, duration, False)]
        exact += [_spread(n, duration) for n in ((10, 25, 100) if not quick else (10, 25))]
        exact += [_one(duration), _sprite(duration, 100 if not quick else 20)]
        key = [
            _interval(every[-1], duration, "keyframe"),
            _random(50, duration, True, "keyframe"),
            _spread(25, duration, "keyframe"),
            _one(duration, "keyframe"),
        ]
        return exact + key
    return [
        _interval(5 if duration > 20 else 1, duration),
        _spread(10, duration),
        _one(duration),
        _spread(10, duration, "keyframe"),
    ]
