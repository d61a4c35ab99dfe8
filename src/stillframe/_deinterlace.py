"""Deinterlacing with FFmpeg's bwdif, one picture per frame.

bwdif fills each frame's missing field from the frame itself and the frames shown
just before and after it. Given those neighbours it gives exactly the picture a
pass over the whole stream gives (`-vf bwdif=mode=send_frame:deint=interlaced`);
where one is not decoded (a keyframe asked for alone, the neighbour in another
keyframe group) the frame stands in for it, as bwdif does at the stream's two ends.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

import av
import numpy as np

from stillframe._index import PacketIndex
from stillframe.errors import InvalidParameter
from stillframe.plan import Group

__all__ = ["MODES", "check_mode", "deinterlace", "neighbours"]

MODES = (False, "auto")


def check_mode(value: object) -> None:
    """Raise InvalidParameter unless `value` is False or "auto"."""
    if value is not False and value != "auto":
        raise InvalidParameter(f"deinterlace must be False or 'auto', not {value!r}")


def neighbours(idx: PacketIndex, group: Group) -> dict[int, tuple[int | None, int | None]]:
    """For each target of `group`, the frames shown just before and after it (decode
    indices) where this group's pass decodes them; they are added to its targets.
    The one after is decoded by carrying on past the last target; the one before
    only when it does not need a keyframe before the group's."""
    if group.intra:
        return {d: (None, None) for d in group.targets}  # the keyframe alone is decoded
    order = idx.presentation_order()
    where = np.empty(len(idx.pts), dtype=np.int64)
    where[order] = np.arange(order.size)
    key, key_pts = group.key, int(idx.pts[group.key])
    out: dict[int, tuple[int | None, int | None]] = {}
    extra: set[int] = set()
    for d in list(group.targets):
        p = int(where[d])
        before = int(order[p - 1]) if p > 0 else None
        after = int(order[p + 1]) if p + 1 < order.size else None
        # Before the group's keyframe in decode order, or a leading picture of it
        # (shown before it, referencing the GOP before): not decoded by this pass.
        if before is not None and (before < key or (before > key and int(idx.pts[before]) < key_pts)):
            before = None
        if after is not None and after < key:
            after = None
        out[d] = (before, after)
        extra.update(x for x in (before, after) if x is not None)
    group.targets = sorted(set(group.targets) | extra)
    return out


def deinterlace(frames: Sequence[av.VideoFrame], at: int) -> av.VideoFrame:
    """Frame `frames[at]` through bwdif, `frames` being it and its decoded
    neighbours in display order (one, two or three). A frame not flagged
    interlaced comes back as it is."""
    frame = frames[at]
    if not frame.interlaced_frame:
        return frame
    if len(frames) == 1:
        frames, at = [frame, frame], 0  # both neighbours stand in: bwdif needs a frame after it
    graph = av.filter.Graph()
    src = graph.add_buffer(width=frame.width, height=frame.height, format=frame.format, time_base=Fraction(1, 1000))
    bw = graph.add("bwdif", "mode=send_frame:parity=auto:deint=interlaced")
    sink = graph.add("buffersink")
    src.link_to(bw)
    bw.link_to(sink)
    graph.configure()
    out: list[av.VideoFrame] = []
    stamps = [f.pts for f in frames]
    try:
        for i, f in enumerate(frames):
            f.pts = i  # bwdif wants rising times, whatever the stream's are
            graph.vpush(f)
            _drain(graph, out)
        graph.vpush(None)
        _drain(graph, out)
    finally:
        for f, pts in zip(frames, stamps):
            f.pts = pts
    if len(out) != len(frames):
        return frame
    picture = out[at]
    picture.pts = frame.pts
    return picture


def _drain(graph: av.filter.Graph, out: list[av.VideoFrame]) -> None:
    while True:
        try:
            out.append(graph.vpull())
        except (av.error.BlockingIOError, av.error.EOFError):
            return
