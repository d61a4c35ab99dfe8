"""ScanIndex: every packet of the stream demuxed once, when the video opens (or
when another index hands a request over). Frames are chosen over the whole
stream, so a tolerance may pick a keyframe of another GOP; each group is then
decoded by seeking the decoder's own container."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import replace

import av
import numpy as np

from stillframe._index import PacketIndex, build_index
from stillframe._indexes import Borrow, FrameIndex, Probe, Region, Unit
from stillframe._source import av_words
from stillframe.errors import ResourceContentBad
from stillframe.info import VideoInfo, info_from_scan
from stillframe.options import FrameOptions
from stillframe.plan import EPSILON, Pick, group_targets, pick_frames

__all__ = ["ScanIndex", "first_frame"]


def first_frame(container, stream, name: str) -> tuple[av.VideoFrame, av.Packet]:
    """The first frame that decodes, and the first packet (the first keyframe).
    A decoder with frame threads holds a frame back until more packets arrive: the
    keyframe is drained out at once instead of decoding the frames after it."""
    cc = stream.codec_context
    first: av.Packet | None = None
    try:
        for packet in container.demux(stream):
            if first is None and packet.size:
                first = packet
            frames = packet.decode()
            if not frames and packet.size and packet.is_keyframe:
                frames = cc.decode(None)
                cc.flush_buffers()
            if frames:
                return frames[0], first or packet
    except av.error.FFmpegError as exc:
        raise ResourceContentBad(f"{name}: the video does not decode ({av_words(exc)})") from exc
    raise ResourceContentBad(f"{name}: no frame of the video stream decodes")


def last_keyframe(container, stream, idx: PacketIndex) -> av.VideoFrame | None:
    """The last keyframe, decoded alone (a stream whose picture changed size says
    so there), or None when it is the first or does not decode."""
    keys = np.flatnonzero(idx.key & idx.shown)
    if keys.size < 2:
        return None
    pts = int(idx.pts[keys[-1]])
    cc = stream.codec_context
    try:
        # From the keyframe before: a seek by time may land a little past its target (TS).
        container.seek(int(idx.dts[keys[-2]]), stream=stream, backward=True)
        for packet in container.demux(stream):
            if packet.pts is None or packet.pts < pts or not packet.is_keyframe:
                if packet.size == 0 or (packet.pts is not None and packet.pts > pts):
                    return None
                continue
            frames = cc.decode(packet) or cc.decode(None)
            return frames[0] if frames else None
    except av.error.FFmpegError:
        return None
    finally:
        cc.flush_buffers()
    return None


class ScanIndex(FrameIndex):
    """Every packet in decode order (a PacketIndex)."""

    kind = "scan"

    def __init__(self, index: PacketIndex, info: VideoInfo, first_key: av.Packet) -> None:
        self.index = index
        self.info = info
        self.first_key = first_key

    @classmethod
    def open(cls, probe: Probe, note: str = "asked") -> ScanIndex:  # type: ignore[override]
        """Demux every packet from where the container stands (its start), then
        decode the first frame."""
        container, stream, name = probe.container, probe.stream, probe.input.name
        try:
            index = build_index(container, stream)
        except av.error.FFmpegError as exc:
            raise ResourceContentBad(f"{name}: the stream cannot be read ({av_words(exc)})") from exc
        if index.count == 0:
            raise ResourceContentBad(f"{name}: the video stream holds no frames")
        container.seek(index.start_pts, stream=stream, backward=True)
        first, key = first_frame(container, stream, name)
        info = info_from_scan(container, stream, index, first, note)
        last = last_keyframe(container, stream, index)
        if last is not None and (last.width, last.height) != (first.width, first.height):
            info = replace(info, size_changes=True)
        return cls(index, info, key)

    def plan(self, times: Sequence[tuple[int, float]], options: FrameOptions, borrow: Borrow) -> list[Unit]:
        """One unit a group: the frames are chosen here, over every packet."""
        idx = self.index
        picks = pick_frames(
            idx, [t for _, t in times], frame_type=options.frame_type, snap=options.snap, tolerance=options.tolerance
        )
        by_target: dict[int, list[Pick]] = {}
        for p in picks:
            by_target.setdefault(p.target, []).append(Pick(times[p.request][0], p.time, p.target, p.rule))
        units = []
        for group in group_targets(idx, picks):
            mine = [p for d in group.targets for p in by_target.get(d, [])]
            units.append(
                Unit(self, [(p.request, p.time) for p in mine], group.key, group.targets[-1] - group.key, mine, group)
            )
        return units

    def read(self, unit: Unit, options: FrameOptions, borrow: Borrow) -> Region:
        """Nothing to read: the decoder seeks its own container to the group."""
        return Region(self.index)

    def keyframe_groups(self, times: Sequence[float]) -> tuple[list[list[int]], list[int]]:
        keys = self.info.keyframe_times
        groups: dict[int, list[int]] = {}
        for i, t in enumerate(times):
            groups.setdefault(max(0, bisect.bisect_right(keys, t + EPSILON) - 1), []).append(i)
        order = sorted(groups)
        return [groups[k] for k in order], [len(groups[k]) for k in order]

    def frame_times(self, start: float, end: float, borrow: Borrow) -> list[float]:
        return shown_times(self.index, start, end)

    def packets(self, borrow: Borrow) -> PacketIndex:
        return self.index


def shown_times(idx: PacketIndex, start: float, end: float) -> list[float]:
    """Times (seconds) of the frames of `idx` shown from `start` to `end`, sorted."""
    times = np.sort(np.asarray(idx.seconds(idx.pts[idx.shown]), dtype=np.float64))
    return [float(t) for t in times if start <= t <= end]
