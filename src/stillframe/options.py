"""FrameOptions: which frame answers a time, and at what size, as one typed value;
VideoOptions: how a video is opened, as sf.open takes them, typed for the checker.

Every way in takes the same options (Video.frames_at and Video.stream, sf.snapshot,
snapshot_split, the Ray stage, a job's SnapshotConfig), so they are spelled out once
here; the rule and the sizes are checked when the value is made.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, TypedDict

from stillframe._deinterlace import check_mode
from stillframe.geometry import check_sizes
from stillframe.plan import check_choices

__all__ = ["FrameKeywords", "FrameOptions", "VideoOptions"]


@dataclass(frozen=True)
class FrameOptions:
    """Which frame answers each time, and the size it comes out at.

    `frame_type`: "normal" (the exact frame) or "intra" (the keyframe nearest the
    time, decoding keyframes only). `snap`: "displayed" (the frame on screen at t)
    or "next" (the first frame at or after t, as `ffmpeg -ss t` gives). `tolerance`
    (seconds): a keyframe that near the exact frame is taken instead. `width`,
    `height`, `max_length` (pixels, display orientation) and `aspect_ratio`
    ("keep" or "16:9", padded with black) size the output; none given keeps the
    video's display size (each frame's own, where the size changes mid-stream).
    `deinterlace`: False, or "auto" (frames flagged interlaced go through FFmpeg's
    bwdif, one picture a frame).
    """

    frame_type: str = "normal"
    snap: str = "displayed"
    tolerance: float = 0.0
    width: int | None = None
    height: int | None = None
    max_length: int | None = None
    aspect_ratio: str = "keep"
    deinterlace: bool | str = False

    def __post_init__(self) -> None:
        check_choices(self.frame_type, self.snap, self.tolerance)
        check_sizes(self.width, self.height, self.max_length, self.aspect_ratio)
        check_mode(self.deinterlace)
        object.__setattr__(self, "tolerance", float(self.tolerance))

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The option names, as keyword arguments spell them."""
        return tuple(f.name for f in fields(cls))

    @classmethod
    def pick(cls, options: dict[str, Any]) -> FrameOptions:
        """FrameOptions from the frame options among `options`, which loses them."""
        return cls(**{name: options.pop(name) for name in cls.names() if name in options})

    def to_dict(self) -> dict[str, Any]:
        """The options as keyword arguments."""
        return asdict(self)


class VideoOptions(TypedDict, total=False):
    """How a video is opened and decoded, as sf.open takes them."""

    stream: int | None
    workers: int | None
    timeout: float | None
    device: str | None
    fallback: bool
    index: str
    variant: str | int | None


class FrameKeywords(TypedDict, total=False):
    """FrameOptions as keyword arguments, typed for the checker."""

    frame_type: str
    snap: str
    tolerance: float
    width: int | None
    height: int | None
    max_length: int | None
    aspect_ratio: str
    deinterlace: bool | str
