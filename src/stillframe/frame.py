"""Frames returned by the engine: the picture, ready to encode, and where it came from."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import av
import numpy as np

from stillframe._gpu.picture import DevicePicture
from stillframe.errors import InvalidParameter
from stillframe.geometry import OutputGeometry, frame_planes, orient_planes, scale
from stillframe.info import rounded_repr
from stillframe.jpeg import YUV420Planes, encode_jpeg, encode_jpegs
from stillframe.records import Provenance

__all__ = ["Frame", "frame_jpegs"]

_MATRIX = {1: "bt709", 9: "bt2020", 10: "bt2020"}
FORMATS = ("rgb24", "bgr24", "rgba", "bgra", "gray", "yuv420p")


@dataclass(frozen=True, eq=False, repr=False)
class Frame(Provenance):
    """One frame, ready to encode, with where it came from (see Provenance:
    `requested_time`, `time`, `pts`, `is_keyframe`, `rule`, `decoder`, `fallback`).
    `width`/`height` are the output size, upright. A Frame may be read from any
    thread; its 8-bit picture is converted once, on first use.

    Decoded on a GPU with its frames kept there (`device` "cuda:0"), the picture
    stays on the device, RGB at the output size: `to_jpeg` encodes it there,
    `torch.from_dlpack(frame)` (or `to_dlpack()`) takes it without a copy, and
    `to_ndarray` downloads it. A CPU frame gives the same through DLPack, from
    `to_ndarray("rgb24")`.
    """

    # As decoded, or scaled to the output size; or a picture on the device.
    _picture: av.VideoFrame | DevicePicture = field(repr=False, kw_only=True)
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

    @property
    def device(self) -> str:
        """Where the picture is: "cpu", or the GPU that decoded it ("cuda:0")."""
        picture = self._picture
        return picture.device if isinstance(picture, DevicePicture) else "cpu"

    def _picture8(self) -> av.VideoFrame:
        """The picture as 8-bit 4:2:0 at the output size, converted once."""
        picture = self._eight_bit
        if picture is None:
            assert isinstance(self._picture, av.VideoFrame)
            picture = scale(self._picture, self._geometry)
            object.__setattr__(self, "_eight_bit", picture)
        return picture

    @property
    def full_range(self) -> bool:
        """Whether the 8-bit picture is full range (JPEG's) rather than video range."""
        if isinstance(self._picture, DevicePicture):
            return True
        return self._picture8().color_range == 2

    def planes(self) -> YUV420Planes:
        """Upright 8-bit Y, U, V planes with their range and matrix (downloaded, for a
        picture on a device: full-range BT.601, as JPEG stores it)."""
        if isinstance(self._picture, DevicePicture):
            return self._picture.planes()
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
        if isinstance(self._picture, DevicePicture):
            return self._picture.to_ndarray(format)
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
        """JPEG bytes through the native encoder (options as stillframe.encode_jpeg);
        a picture on a GPU with no options is encoded there (nvJPEG, 4:4:4)."""
        if isinstance(self._picture, DevicePicture) and not options:
            return frame_jpegs([self], quality)[0]
        return encode_jpeg(self.planes(), quality=quality, **options)  # type: ignore[arg-type]

    def to_dlpack(self) -> Any:
        """A DLPack capsule of the picture as H x W x 3 RGB uint8 (to_ndarray's
        layout): the device's own memory, no copy, for a picture on a GPU; the
        converted array for a CPU frame."""
        return self.__dlpack__()

    def __dlpack__(self, **kwargs: Any) -> Any:
        picture = self._picture
        if isinstance(picture, DevicePicture):
            return picture.hwc().__dlpack__(**kwargs)
        return self.to_ndarray("rgb24").__dlpack__(**kwargs)

    def __dlpack_device__(self) -> tuple[int, int]:
        picture = self._picture
        if isinstance(picture, DevicePicture):
            return tuple(picture.rgb.__dlpack_device__())  # type: ignore[return-value]
        return (1, 0)  # kDLCPU


def frame_jpegs(
    frames: Sequence[Any],
    quality: int,
    planes: Callable[[int], YUV420Planes] | None = None,
    encode: Callable[..., list[bytes]] = encode_jpegs,
) -> list[bytes]:
    """JPEG bytes of a batch: pictures kept on a device encoded there, in one batch
    a device (only the bytes cross to the host); the others from their planes
    (`planes(k)`, else the frame's own) by `encode` (the native encoder), in one batch."""
    out: list[bytes | None] = [None] * len(frames)
    on_device = [k for k, f in enumerate(frames) if isinstance(getattr(f, "_picture", None), DevicePicture)]
    if on_device:
        from stillframe._gpu.pixels import encode_jpegs as device_jpegs

        for k, data in zip(on_device, device_jpegs([frames[k]._picture for k in on_device], quality)):
            out[k] = data
    rest = [k for k in range(len(frames)) if out[k] is None]
    if rest:
        get = planes or (lambda k: frames[k].planes())
        for k, data in zip(rest, encode([get(k) for k in rest], quality=quality)):
            out[k] = data
    return out  # type: ignore[return-value]
