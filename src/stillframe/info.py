"""VideoInfo: what a video is, from a scan of its packets or from the container's
own sample table plus the packets at its two ends."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from fractions import Fraction
from typing import Any

import av
import numpy as np

from stillframe._index import PacketIndex
from stillframe.geometry import aspect_text, display_size

__all__ = ["Deferred", "VideoInfo"]


class Deferred:
    """A VideoInfo value worked out when it is first read (then kept): a video
    opened from its container's index reads every keyframe, or scans every
    packet, only for the caller who asks."""

    def __init__(self, compute: Callable[[], Any]) -> None:
        self.compute = compute
        self.lock = threading.Lock()

    def __repr__(self) -> str:
        return "<not read yet>"


def rounded(value: Any, digits: int = 6) -> Any:
    """`value` with every float in it rounded (to the microsecond for seconds):
    JSON then says 8.008, not 8.008000000000001."""
    if isinstance(value, float):
        return round(value, digits)
    if isinstance(value, dict):
        return {k: rounded(v, digits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [rounded(v, digits) for v in value]
    return value


def rounded_repr(obj: Any) -> str:
    """A dataclass's repr with its floats to the microsecond (the values keep their
    full precision)."""
    parts = ", ".join(f"{f.name}={rounded(getattr(obj, f.name))!r}" for f in fields(obj) if f.repr)
    return f"{type(obj).__name__}({parts})"


@dataclass(frozen=True, repr=False)
class VideoInfo:
    """What a video is, read from packets rather than trusted from the header.

    Times are seconds; `duration` runs from the stream's start (`start_time`, an
    absolute timestamp) to the end of its last frame. `width`/`height` are the
    displayed size (rotation applied); `rotation` is the counter-clockwise turn, in
    degrees, that display applies to the stored picture (FFmpeg's display-matrix
    convention); `keyframe_times` are seconds from the start; `codec` is the format
    ("h264", "hevc", "av1"), `decoder` what decodes it ("h264", "libdav1d"). Opened from the
    container's index, `frame_count` (Matroska) and `keyframe_times` are worked
    out when first read.

    The display size is the stored picture's size stretched by its sample aspect
    ratio (`sample_aspect_ratio`, "16:15" for a PAL DVD's 4:3, "1:1" for square
    pixels), then turned: a 720x576 picture at 16:15 is 768x576. `coded_width` and
    `coded_height` are the stored picture's own pixels (before either).
    `interlaced`: the first frame is flagged interlaced (see the `deinterlace`
    option). `size_changes`: frames of another stored size were seen where the
    video was read when it opened (a scan decodes its last keyframe too); each frame
    keeps its own size and aspect whatever this says.

    `index` says how frames are found: "container" (the file's own sample table:
    opening reads the header and the packets at both ends, and a request reads
    only the regions it needs) or "scan" (every packet demuxed once when the video
    opens); `index_note` says why a scan was needed.
    """

    duration: float
    width: int
    height: int
    rotation: int
    fps: float
    codec: str
    pixel_format: str
    frame_count: int
    start_time: float
    keyframe_times: list[float]
    stream_index: int
    coded_width: int
    coded_height: int
    bit_depth: int
    full_range: bool
    header_duration: float | None = None  # what the container claims, when it does
    truncated: bool = False  # the data ends well before the header says it should
    index: str = "scan"
    index_note: str = ""
    decoder: str = ""  # the software decoder FFmpeg uses for it ("libdav1d" for AV1)
    sample_aspect_ratio: str = "1:1"
    interlaced: bool = False
    size_changes: bool = False

    def __getattribute__(self, name: str) -> Any:
        value = object.__getattribute__(self, name)
        if type(value) is not Deferred:
            return value
        with value.lock:
            now = object.__getattribute__(self, name)
            if type(now) is Deferred:
                now = now.compute()
                object.__setattr__(self, name, now)
            return now

    __repr__ = rounded_repr

    def __getstate__(self) -> dict[str, Any]:  # pickled with every value worked out
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            object.__setattr__(self, name, value)

    def to_dict(self, work_out: bool = True) -> dict[str, Any]:
        """Plain values for JSON; times to the microsecond (no float noise).
        `work_out=False` leaves out what is not worked out yet (keyframe times, a
        Matroska frame count: they need every keyframe, or every packet, read)."""
        if work_out:
            return rounded(asdict(self))
        known = {f.name: object.__getattribute__(self, f.name) for f in fields(self)}
        return rounded({k: v for k, v in known.items() if type(v) is not Deferred})

    def pending(self) -> list[str]:
        """The fields not worked out yet."""
        return [f.name for f in fields(self) if type(object.__getattribute__(self, f.name)) is Deferred]


def header_duration(container: av.container.InputContainer, stream) -> float | None:
    if stream.duration:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / 1e6
    return None


def stream_aspect(stream) -> Fraction | None:
    """The stream's sample aspect ratio: the container's where it says one (MP4's
    pasp, Matroska's display size), else the bitstream's as probed."""
    try:
        sar = stream.sample_aspect_ratio
    except (ZeroDivisionError, ValueError):
        return None
    return sar if sar and sar > 0 else None


def frame_facts(container, stream, first: av.VideoFrame) -> dict[str, Any]:
    """What the first decoded frame and the stream header say."""
    rotation = int(round((getattr(first, "rotation", 0) or 0) / 90.0)) * 90 % 360
    w, h = first.width, first.height
    sar = stream_aspect(stream)
    dw, dh = display_size(w, h, sar)
    fmt = first.format
    depth = max((c.bits for c in fmt.components), default=8) if fmt.components else 8
    return dict(
        width=dh if rotation % 180 else dw,
        height=dw if rotation % 180 else dh,
        sample_aspect_ratio=aspect_text(sar),
        interlaced=bool(first.interlaced_frame),
        rotation=rotation,
        codec=stream.codec_context.codec.canonical_name,
        decoder=stream.codec_context.name,
        pixel_format=fmt.name,
        stream_index=stream.index,
        coded_width=w,
        coded_height=h,
        bit_depth=depth,
        full_range=fmt.name.startswith("yuvj") or first.color_range == 2,
        header_duration=header_duration(container, stream),
    )


def _fps(stream, count: int, duration: float) -> float:
    if stream.average_rate:
        return float(stream.average_rate)
    return count / duration if duration else 0.0


def info_from_scan(container, stream, index: PacketIndex, first: av.VideoFrame, note: str) -> VideoInfo:
    facts = frame_facts(container, stream, first)
    tb = float(index.time_base)
    duration = (index.end_pts() - index.start_pts) * tb
    header = facts["header_duration"]
    # A header a tenth longer than the packets that exist means the file was cut off.
    truncated = header is not None and header > duration * 1.1 + 0.5
    keys = index.pts[index.key & index.shown]
    return VideoInfo(
        duration=duration,
        fps=_fps(stream, index.count, duration),
        frame_count=index.count,
        start_time=index.start_pts * tb,
        keyframe_times=sorted(float(x) for x in np.asarray(index.seconds(keys))),
        truncated=bool(truncated),
        index="scan",
        index_note=note,
        **facts,
    )


def info_from_table(
    container,
    stream,
    first: av.VideoFrame,
    *,
    start_pts: int,
    end_pts: int,
    count: int | Callable[[], int],
    keyframe_pts: Callable[[], list[int]],
) -> VideoInfo:
    """`count` and `keyframe_pts` may be callables: worked out when first read."""
    facts = frame_facts(container, stream, first)
    tb = float(stream.time_base)
    duration = (end_pts - start_pts) * tb
    frame_count: Any = Deferred(count) if callable(count) else count
    fps: Any = float(stream.average_rate) if stream.average_rate else None
    if fps is None:
        fps = (
            Deferred(lambda: count() / duration if duration else 0.0)
            if callable(count)
            else _fps(stream, count, duration)
        )
    return VideoInfo(
        duration=duration,
        fps=fps,
        frame_count=frame_count,
        start_time=start_pts * tb,
        keyframe_times=Deferred(lambda: sorted((p - start_pts) * tb for p in keyframe_pts())),  # type: ignore[arg-type]
        index="container",
        **facts,
    )
