"""The packet index: every packet of the video stream, read by demuxing alone.

It gives exact frame times (no `i / fps` guessing), keyframe positions, and a
duration and frame count that do not trust the header. It costs a small fraction
of a decode: no packet is decoded.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import cast

import av
import numpy as np


@dataclass(frozen=True)
class PacketIndex:
    """Packets of one stream in decode order (arrays of equal length)."""

    pts: np.ndarray  # int64, stream time base
    shown: np.ndarray  # bool: False for packets before an edit list's start
    dts: np.ndarray  # int64
    key: np.ndarray  # bool
    size: np.ndarray  # int64 bytes
    duration: np.ndarray  # int64, 0 where unknown
    time_base: Fraction
    start_pts: int  # pts of time 0: the stream's start time, else its first frame

    @property
    def count(self) -> int:
        """Frames shown."""
        return int(self.shown.sum())

    def presentation_order(self) -> np.ndarray:
        """Decode indices of the shown frames, sorted by pts."""
        shown = np.flatnonzero(self.shown)
        return shown[np.argsort(self.pts[shown], kind="stable")]

    def seconds(self, pts: int | np.ndarray) -> float | np.ndarray:
        """Seconds from the stream's start."""
        return (np.asarray(pts) - self.start_pts) * float(self.time_base)

    def end_pts(self) -> int:
        """The pts at which the last frame stops being displayed."""
        order = self.presentation_order()
        last = order[-1]
        step = int(self.duration[last])
        if step <= 0:
            step = int(np.median(np.diff(self.pts[order]))) if order.size > 1 else 0
        return int(self.pts[last]) + max(step, 0)


# A timestamp this far from its neighbours' is damage, not time: at least this
# many seconds, and this many frames.
JUMP_SECONDS, JUMP_FRAMES = 10.0, 100


def jump(dts: np.ndarray, time_base: Fraction) -> int:
    """The gap (time-base units) between neighbouring decode times that is not time."""
    steps = np.diff(dts)
    steps = steps[steps > 0]
    step = int(np.median(steps)) if steps.size else 0
    return max(int(JUMP_SECONDS / float(time_base)), JUMP_FRAMES * step)


def decode_time(packet: av.Packet) -> int | None:
    """A packet's decode time: never past its presentation time (one that is, is
    damage), its presentation time when it has none."""
    if packet.dts is None:
        return packet.pts
    return packet.dts if packet.pts is None else min(packet.dts, packet.pts)


def out_of_order(dts: np.ndarray) -> np.ndarray:
    """Decode times with each one that alone breaks their order (past the next
    while the one before is not, or short of the one before while the next is not:
    a damaged field) put halfway between its neighbours'. Seeking leans on decode
    times to tell a landing past a keyframe."""
    prev, cur, nxt = dts[:-2], dts[1:-1], dts[2:]
    odd = ((cur > nxt) | (cur < prev)) & (prev <= nxt)
    if not odd.any():
        return dts
    out = dts.copy()
    at = np.flatnonzero(odd) + 1
    out[at] = prev[at - 1] + (nxt[at - 1] - prev[at - 1]) // 2
    return out


def damaged_times(pts: np.ndarray, dts: np.ndarray, time_base: Fraction) -> tuple[np.ndarray, np.ndarray]:
    """Packets (decode order) whose times are damage, and the decode times mended.

    Suspect: a decode time far from its presentation time, or a run of decode
    times that jumps far away and then back to where the timeline would be
    without it (a run of at most a quarter of the packets; one at either end when
    the rest of the stream has ten times its packets and it lies farther from them
    than they span). A suspect whose presentation time still fits its neighbours'
    had only its decode time damaged: that is mended (put between its neighbours')
    and the frame kept. The others are returned as `hidden`: decoded, never shown.
    A wrap or a reset, after which the stream stays on its new clock, is not a run
    that comes back, and is left alone."""
    n = len(dts)
    hidden = np.zeros(n, dtype=bool)
    if n < 3:
        return hidden, dts
    dts = out_of_order(dts)
    far = jump(dts, time_base)
    steps = np.diff(dts)
    step = int(np.median(steps[steps > 0])) if (steps > 0).any() else 1
    suspect = np.abs(pts - dts) > far
    cuts = np.flatnonzero(np.abs(steps) > far) + 1
    bounds = [0, *cuts.tolist(), n]
    runs = list(zip(bounds[:-1], bounds[1:]))
    for k, (a, b) in enumerate(runs if cuts.size else []):
        length = b - a
        if 0 < k < len(runs) - 1:  # away and back: the runs either side meet without it
            if length <= n // 4 and abs(int(dts[b]) - int(dts[a - 1])) <= far + (length + 1) * step:
                suspect[a:b] = True
        elif length <= n // 4:  # at an end: farther from the rest than the rest is long (not a pause)
            rest = np.concatenate([dts[:a], dts[b:]])
            gap = int(dts[b]) - int(dts[b - 1]) if k == 0 else int(dts[a]) - int(dts[a - 1])
            if n - length >= 10 * length and abs(gap) > int(rest.max()) - int(rest.min()):
                suspect[a:b] = True
    if not suspect.any():
        return hidden, dts
    good = np.flatnonzero(~suspect)
    if not good.size:
        return hidden, dts
    mended = dts.copy()
    for i in np.flatnonzero(suspect):
        j = int(np.searchsorted(good, i))
        before = int(good[j - 1]) if j > 0 else None
        after = int(good[j]) if j < good.size else None
        near = before if before is not None else after
        assert near is not None
        if abs(int(pts[i]) - int(dts[near])) > far + abs(i - near) * step:
            hidden[i] = True  # its presentation time is off too: not a time of this stream
            continue
        if before is not None and after is not None:
            guess = dts[before] + (dts[after] - dts[before]) * (i - before) // (after - before)
        else:
            guess = dts[near] + (i - near) * step
        mended[i] = min(int(guess), int(pts[i]))
    return hidden, mended


class Rows:
    """Packets collected in decode order, turned into a PacketIndex at the end."""

    def __init__(self) -> None:
        self.pts: list[int] = []
        self.dts: list[int] = []
        self.key: list[bool] = []
        self.size: list[int] = []
        self.dur: list[int] = []
        self.shown: list[bool] = []

    def add(self, packet: av.Packet) -> bool:
        """Record `packet`; False (not recorded) for an empty or untimed one."""
        if packet.size == 0:
            return False
        p = packet.pts if packet.pts is not None else packet.dts
        if p is None:
            return False
        self.pts.append(p)
        self.dts.append(min(packet.dts, p) if packet.dts is not None else p)
        self.key.append(packet.is_keyframe)
        self.size.append(packet.size)
        self.dur.append(packet.duration or 0)
        self.shown.append(not packet.is_discard)
        return True

    def index(self, time_base: Fraction, start_pts: int | None = None) -> PacketIndex:
        """The index; `start_pts` None takes time 0 from the shown packets. Packets
        whose timestamps jump far from their neighbours' and back (damage) are kept
        for decoding but not shown, so they set neither the start nor the end."""
        arr = np.asarray(self.pts, dtype=np.int64)
        hidden, dts = damaged_times(arr, np.asarray(self.dts, dtype=np.int64), time_base)
        visible = np.asarray(self.shown, dtype=bool) & ~hidden
        if start_pts is None:
            start_pts = int(arr[visible].min()) if visible.any() else 0
        return PacketIndex(
            pts=arr,
            shown=visible,
            dts=dts,
            key=np.asarray(self.key, dtype=bool),
            size=np.asarray(self.size, dtype=np.int64),
            duration=np.asarray(self.dur, dtype=np.int64),
            time_base=time_base,
            start_pts=start_pts,
        )


def build_index(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> PacketIndex:
    """Demux `stream` from its start. Packets the demuxer marks discard (before an
    edit list's start) are kept, since later frames may need them decoded, but are
    not shown."""
    rows = Rows()
    for packet in container.demux(stream):
        rows.add(packet)
    index = rows.index(time_base_of(stream), stream.start_time)
    if index.count and abs(index.start_pts - int(index.pts[index.shown].min())) > jump(index.dts, index.time_base):
        index = rows.index(index.time_base)  # the demuxer's start was taken from a wild timestamp
    return index


def video_stream(container: av.container.InputContainer, index: int) -> av.video.stream.VideoStream:
    """The stream at `index` of `container` (one the video was opened on: a video stream)."""
    return cast(av.video.stream.VideoStream, container.streams[index])


def time_base_of(stream: av.video.stream.VideoStream) -> Fraction:
    return stream.time_base or Fraction(1, 90000)
