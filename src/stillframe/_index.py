"""The packet index: every packet of the video stream, read by demuxing alone.

It gives exact frame times (no `i / fps` guessing), keyframe positions, and a
duration and frame count that do not trust the header. It costs a small fraction
of a decode: no packet is decoded.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

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


def build_index(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> PacketIndex:
    """Demux `stream` from its start. Packets the demuxer marks discard (before an
    edit list's start) are kept, since later frames may need them decoded, but are
    not shown."""
    pts, dts, key, size, dur, shown = [], [], [], [], [], []
    for packet in container.demux(stream):
        if packet.size == 0:
            continue
        p = packet.pts if packet.pts is not None else packet.dts
        if p is None:
            continue
        pts.append(p)
        dts.append(packet.dts if packet.dts is not None else p)
        key.append(packet.is_keyframe)
        size.append(packet.size)
        dur.append(packet.duration or 0)
        shown.append(not packet.is_discard)
    arr = np.asarray(pts, dtype=np.int64)
    visible = np.asarray(shown, dtype=bool)
    return PacketIndex(
        pts=arr,
        shown=visible,
        dts=np.asarray(dts, dtype=np.int64),
        key=np.asarray(key, dtype=bool),
        size=np.asarray(size, dtype=np.int64),
        duration=np.asarray(dur, dtype=np.int64),
        time_base=stream.time_base or Fraction(1, 90000),
        start_pts=_start(stream, arr[visible]),
    )


def _start(stream: av.video.stream.VideoStream, shown_pts: np.ndarray) -> int:
    if stream.start_time is not None:
        return int(stream.start_time)
    return int(shown_pts.min()) if shown_pts.size else 0
