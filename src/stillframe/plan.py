"""The decode plan: which frame answers each requested time, and the least decoding
that produces those frames.

Pure functions over the packet index, so they can be tested without a decoder.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from stillframe._index import PacketIndex
from stillframe.errors import InvalidParameter

# Times within this of a frame's time count as that frame's time: callers pass
# decimal seconds, frames sit on rational time bases.
EPSILON = 1e-6

FRAME_TYPES = ("normal", "intra")
SNAPS = ("displayed", "next")


@dataclass(frozen=True)
class Pick:
    """The frame chosen for one requested time."""

    request: int  # position in the caller's list
    time: float  # requested, seconds from the stream's start
    target: int  # decode index of the chosen frame's packet
    rule: str  # displayed | next | intra | tolerance


@dataclass
class Group:
    """Targets decoded in one pass after one seek: from the keyframe `key` to the
    last target, in decode order. Intra groups decode the keyframe alone."""

    key: int
    targets: list[int] = field(default_factory=list)
    intra: bool = False


def check_choices(frame_type: str, snap: str, tolerance: float) -> None:
    """Raise InvalidParameter unless `frame_type`, `snap` and `tolerance` (seconds >= 0) are ones the planner
    knows."""
    if frame_type not in FRAME_TYPES:
        raise InvalidParameter(f"frame_type must be one of {FRAME_TYPES}, not {frame_type!r}")
    if snap not in SNAPS:
        raise InvalidParameter(f"snap must be one of {SNAPS}, not {snap!r}")
    if not (tolerance >= 0 and np.isfinite(tolerance)):
        raise InvalidParameter(f"tolerance must be a number of seconds >= 0, not {tolerance!r}")


def pick_frames(
    index: PacketIndex,
    times: Sequence[float],
    *,
    frame_type: str = "normal",
    snap: str = "displayed",
    tolerance: float = 0.0,
) -> list[Pick]:
    """The frame for each time. "displayed": the frame on screen at t (largest time
    <= t; the first frame for t before it). "next": the first frame at or after t
    (the last frame, with rule "last", when none is). "intra": the keyframe nearest t, ties to the
    earlier. `tolerance`: a keyframe within that many seconds of the exact frame
    is taken instead."""
    check_choices(frame_type, snap, tolerance)
    order = index.presentation_order()
    ptimes = np.asarray(index.seconds(index.pts[order]), dtype=np.float64)
    keys = order[index.key[order]]  # keyframes in presentation order
    ktimes = np.asarray(index.seconds(index.pts[keys]), dtype=np.float64)
    t = np.asarray(times, dtype=np.float64)
    last = len(order) - 1

    if frame_type == "intra":
        return [Pick(i, float(x), int(keys[_nearest(ktimes, x)]), "intra") for i, x in enumerate(t)]

    if snap == "displayed":
        pos = np.clip(np.searchsorted(ptimes, t + EPSILON, side="right") - 1, 0, last)
    else:
        pos = np.clip(np.searchsorted(ptimes, t - EPSILON, side="left"), 0, last)
    picks = []
    for i, (x, p) in enumerate(zip(t, pos)):
        target, rule = int(order[p]), snap
        if snap == "next" and ptimes[p] < x - EPSILON:
            rule = "last"  # no frame at or after x: the last frame, said so
        if tolerance > 0 and not index.key[target] and ktimes.size:
            k = _nearest(ktimes, ptimes[p])
            if abs(ktimes[k] - ptimes[p]) <= tolerance + EPSILON:
                target, rule = int(keys[k]), "tolerance"
        picks.append(Pick(i, float(x), target, rule))
    return picks


def _nearest(sorted_times: np.ndarray, x: float) -> int:
    j = int(np.searchsorted(sorted_times, x))
    if j == 0:
        return 0
    if j == sorted_times.size:
        return j - 1
    return j - 1 if x - sorted_times[j - 1] <= sorted_times[j] - x + EPSILON else j


def group_targets(index: PacketIndex, picks: Sequence[Pick]) -> list[Group]:
    """One group per starting keyframe, in decode order. A target starts from the
    last keyframe before it in decode order that is also not after it in time:
    leading pictures of an open GOP (HEVC RASL, B-frames before a non-IDR I-frame)
    need the GOP before, so they start there."""
    key_idx = np.flatnonzero(index.key)
    groups: dict[tuple[int, bool], Group] = {}
    for pick in picks:
        d = pick.target
        if pick.rule == "intra":
            groups.setdefault((d, True), Group(d, [d], intra=True))
            continue
        j = int(np.searchsorted(key_idx, d, side="right")) - 1
        while j > 0 and index.pts[key_idx[j]] > index.pts[d]:
            j -= 1
        start = int(key_idx[j]) if j >= 0 else 0
        group = groups.setdefault((start, False), Group(start))
        if d not in group.targets:
            group.targets.append(d)
    out = sorted(groups.values(), key=lambda g: (g.key, g.intra))
    for g in out:
        g.targets.sort()
    return out
