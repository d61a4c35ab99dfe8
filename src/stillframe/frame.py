"""Frames returned by the engine: the picture, ready to encode, and where it came from."""

from __future__ import annotations

from dataclasses import dataclass, field

import av
import numpy as np

from stillframe.errors import InvalidParameter
from stillframe.geometry import OutputGeometry, frame_planes, orient_planes, scale
from stillframe.info import rounded_repr
from stillframe.jpeg import YUV420Planes, encode_jpeg
from stillframe.records import Provenance

__all__ = ["Frame"]

_MATRIX = {1: "bt709", 9: "bt2020", 10: "bt2020"}
FORMATS = ("rgb24", "bgr24", "rgba", "bgra", "gray", "yuv420p")


@dataclass(frozen=True, eq=False, repr=False)
class Frame(Provenance):
    """One frame, ready to encode, with where it came from (see Provenance:
    `requested_time`, `time`, `pts`, `is_keyframe`, `rule`, `decoder`, `fallback`).
    `width`/`height` are the output size, upright. A Frame may be read from any
    thread; its 8-bit picture is converted once, on first use.
    """

    _picture: av.VideoFrame = field(repr=False, kw_only=True)  # as decoded, or scaled to the output size
    _geometry: OutputGeometry = field(repr=False, kw_only=True)
    _eight_bit: av.VideoFrame | None = field(default=None, repr=False, kw_only=True)

    __repr__ = rounded_repr

    @property
    def width(self) -> int:
        """The output width in pixels, upright (padding included)."""
        return self._geometry.width

    @property
    def height(self) -> int:
        """The output height in pixels, upright (padding included)."""
        return self._geometry.height

    def _picture8(self) -> av.VideoFrame:
        """The picture as 8-bit 4:2:0 at the output size, converted once."""
        picture = self._eight_bit
        if picture is None:
            picture = scale(self._picture, self._geometry)
            object.__setattr__(self, "_eight_bit", picture)
        return picture

    @property
    def full_range(self) -> bool:
        """Whether the 8-bit picture is full range (JPEG's) rather than video range."""
        return self._picture8().color_range == 2

    def planes(self) -> YUV420Planes:
        """Upright 8-bit Y, U, V planes with their range and matrix."""
        picture = self._picture8()
        y, u, v = orient_planes(frame_planes(picture), self._geometry, self.full_range)
        return YUV420Planes(y, u, v, self.full_range, _MATRIX.get(int(picture.colorspace), "bt601"))

    def to_ndarray(self, format: str = "rgb24") -> np.ndarray:
        """The picture, upright, as "rgb24", "bgr24" (OpenCV's order), "rgba", "bgra"
        (H x W x 3 or 4), "gray" (H x W) or "yuv420p" (the planes stacked as PyAV
        stacks them). A frame neither scaled, turned nor padded is converted once,
        from what the decoder gave (10-bit too): the same array as PyAV's
        `to_ndarray(format=...)` of the decoded frame."""
        if format not in FORMATS:
            raise InvalidParameter(f"format must be one of {', '.join(FORMATS)}, not {format!r}")
        if not (self._geometry.rotation or self._geometry.padded):
            return self._picture.to_ndarray(format=format)
        p = self.planes()
        stacked = np.concatenate([p.y.ravel(), p.u.ravel(), p.v.ravel()]).reshape(-1, p.y.shape[1])
        if format == "yuv420p":
            return stacked
        upright = av.VideoFrame.from_ndarray(stacked, format="yuv420p")
        upright.color_range = self._picture8().color_range
        upright.colorspace = self._picture8().colorspace
        return upright.to_ndarray(format=format)

    def to_image(self):  # -> PIL.Image.Image
        """The picture as a Pillow image (RGB, upright). Raises ImportError naming
        the package when Pillow is not installed."""
        try:
            from PIL import Image
        except ImportError as exc:
            raise ImportError("Frame.to_image needs Pillow: pip install pillow", name=exc.name) from None
        return Image.fromarray(self.to_ndarray("rgb24"))

    def to_jpeg(self, quality: int = 85, **options: object) -> bytes:
        """JPEG bytes through the native encoder (options as stillframe.encode_jpeg)."""
        return encode_jpeg(self.planes(), quality=quality, **options)  # type: ignore[arg-type]
