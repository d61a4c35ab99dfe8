"""Frames returned by the engine: the picture, ready to encode, and where it came from."""

from __future__ import annotations

from dataclasses import dataclass, field

import av
import numpy as np

from stillframe.errors import InvalidParameter
from stillframe.geometry import OutputGeometry, frame_planes, orient_planes
from stillframe.jpeg import YUV420Planes, encode_jpeg

__all__ = ["Frame"]

_MATRIX = {1: "bt709", 9: "bt2020", 10: "bt2020"}


@dataclass(eq=False)
class Frame:
    """One snapshot.

    `requested_time` is what was asked (seconds from the stream's start); `time` and
    `pts` are the returned frame's own presentation time (seconds from the stream's
    start, and in stream time-base units); `rule` says which rule chose it
    ("displayed", "next", "intra" or "tolerance"); `decoder` names the decoder that
    produced it ("h264", or "h264 (cuda)" on a device); `fallback` says why it was
    decoded on the CPU when a device was asked for. `width`/`height` are the output size, upright.
    """

    requested_time: float
    time: float
    pts: int
    is_keyframe: bool
    rule: str
    decoder: str
    _picture: av.VideoFrame = field(repr=False)
    _geometry: OutputGeometry = field(repr=False)
    fallback: str | None = None

    @property
    def width(self) -> int:
        return self._geometry.width

    @property
    def height(self) -> int:
        return self._geometry.height

    @property
    def full_range(self) -> bool:
        return self._picture.color_range == 2

    def planes(self) -> YUV420Planes:
        """Upright 8-bit Y, U, V planes with their range and matrix."""
        y, u, v = orient_planes(frame_planes(self._picture), self._geometry, self.full_range)
        return YUV420Planes(y, u, v, self.full_range, _MATRIX.get(int(self._picture.colorspace), "bt601"))

    def to_ndarray(self, format: str = "rgb24") -> np.ndarray:
        """The picture as "rgb24" (H x W x 3), "gray" (H x W) or "yuv420p" (the three
        planes stacked as PyAV stacks them), upright."""
        if format not in ("rgb24", "gray", "yuv420p"):
            raise InvalidParameter(f"format must be rgb24, gray or yuv420p, not {format!r}")
        if format == "yuv420p" or self._geometry.rotation or self._geometry.padded:
            p = self.planes()
            stacked = np.concatenate([p.y, p.u.reshape(-1, p.y.shape[1]), p.v.reshape(-1, p.y.shape[1])])
            if format == "yuv420p":
                return stacked
            upright = av.VideoFrame.from_ndarray(stacked, format="yuv420p")
            upright.color_range = self._picture.color_range
            upright.colorspace = self._picture.colorspace
            return upright.to_ndarray(format=format)
        return self._picture.to_ndarray(format=format)

    def to_jpeg(self, quality: int = 85, **options: object) -> bytes:
        """JPEG bytes through the native encoder (options as stillframe.encode_jpeg)."""
        return encode_jpeg(self.planes(), quality=quality, **options)  # type: ignore[arg-type]
