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
        self.dts.append(packet.dts if packet.dts is not None else p)
        self.key.append(packet.is_keyframe)
        self.size.append(packet.size)
        self.dur.append(packet.duration or 0)
        self.shown.append(not packet.is_discard)
        return True

    def index(self, time_base: Fraction, start_pts: int | None = None) -> PacketIndex:
        """The index; `start_pts` None takes time 0 from the shown packets."""
        arr = np.asarray(self.pts, dtype=np.int64)
        visible = np.asarray(self.shown, dtype=bool)
        if start_pts is None:
            start_pts = int(arr[visible].min()) if visible.any() else 0
        return PacketIndex(
            pts=arr,
            shown=visible,
            dts=np.asarray(self.dts, dtype=np.int64),
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
    return rows.index(time_base_of(stream), stream.start_time)


def video_stream(container: av.container.InputContainer, index: int) -> av.video.stream.VideoStream:
    """The stream at `index` of `container` (one the video was opened on: a video stream)."""
    return cast(av.video.stream.VideoStream, container.streams[index])


def time_base_of(stream: av.video.stream.VideoStream) -> Fraction:
    return stream.time_base or Fraction(1, 90000)
