"""JPEG encoding of video frames and arrays through the native libjpeg-turbo core.

Frames from PyAV in 8-bit YUV 4:2:0 are encoded straight from their planes (no
copy, no RGB conversion); video-range and BT.709/BT.2020 colours are mapped to
JPEG's full-range BT.601 on the way, so a decoder shows what the video showed.
Encoding runs with the GIL released, a batch spread over native threads.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple, Union

import av
import numpy as np

from stillframe import _native
from stillframe.errors import InvalidParameter

__all__ = ["YUV420Planes", "encode_jpeg", "encode_jpegs", "native_image"]

# PyAV frame colorspace values (AVColorSpace) and the matrix each one means.
_MATRIX_BY_COLORSPACE = {1: "bt709", 9: "bt2020", 10: "bt2020"}
_FULL_RANGE_FORMATS = {"yuvj420p"}
_AVCOL_RANGE_JPEG = 2


class YUV420Planes(NamedTuple):
    """8-bit Y, U and V planes of one 4:2:0 picture. Rows may be padded: width and
    height default to the Y plane's shape."""

    y: np.ndarray
    u: np.ndarray
    v: np.ndarray
    full_range: bool = False
    matrix: str = "bt601"
    width: int | None = None
    height: int | None = None


Encodable = Union[av.VideoFrame, np.ndarray, YUV420Planes, "_native.Image"]


def _plane_array(plane: av.video.plane.VideoPlane, rows: int) -> np.ndarray:
    """A zero-copy rows x line_size view of a PyAV plane (padding included)."""
    flat = np.frombuffer(memoryview(plane), dtype=np.uint8)
    return flat[: rows * plane.line_size].reshape(rows, plane.line_size)


def _frame_image(frame: av.VideoFrame) -> _native.Image:
    name = frame.format.name
    if name == "gray":
        return _native.Image.gray8(_plane_array(frame.planes[0], frame.height)[:, : frame.width])
    if name == "rgb24":
        rows = _plane_array(frame.planes[0], frame.height)
        return _native.Image.rgb24(rows[:, : frame.width * 3].reshape(frame.height, frame.width, 3))
    if name not in ("yuv420p", "yuvj420p"):
        # 10-bit, 4:2:2, NV12 and friends: swscale brings them to 8-bit 4:2:0 while
        # keeping the matrix; the range is read back from the converted frame.
        if frame.format.is_rgb:
            return _frame_image(frame.reformat(format="rgb24"))
        frame = frame.reformat(format="yuv420p")
    full = frame.format.name in _FULL_RANGE_FORMATS or frame.color_range == _AVCOL_RANGE_JPEG
    ch = (frame.height + 1) // 2
    return _native.Image.yuv420(
        _plane_array(frame.planes[0], frame.height),
        _plane_array(frame.planes[1], ch),
        _plane_array(frame.planes[2], ch),
        frame.width,
        frame.height,
        full,
        _MATRIX_BY_COLORSPACE.get(int(frame.colorspace), "bt601"),
    )


def _check_dtype(arr: np.ndarray, what: str) -> None:
    if arr.dtype != np.uint8:
        hint = (
            " 10/16-bit samples are not encoded as they are: scale them to 8 bits, or pass "
            "the PyAV frame itself, which is converted for you."
            if arr.dtype in (np.uint16, np.int16)
            else ""
        )
        raise InvalidParameter(f"{what} must be uint8, not {arr.dtype}.{hint}")


def native_image(image: Encodable) -> _native.Image:
    """Describe a PyAV frame, an array (H x W gray or H x W x 3 RGB) or YUV420Planes
    for the native encoder, without copying pixels where the layout allows."""
    if isinstance(image, _native.Image):
        return image
    if isinstance(image, av.VideoFrame):
        return _frame_image(image)
    if isinstance(image, YUV420Planes):
        for name in ("y", "u", "v"):
            _check_dtype(np.asarray(getattr(image, name)), f"{name.upper()} plane")
        y = np.asarray(image.y)
        if y.ndim != 2:
            raise InvalidParameter(f"Y plane must be 2-D, not {y.ndim}-D")
        return _native.Image.yuv420(
            y,
            np.asarray(image.u),
            np.asarray(image.v),
            image.width if image.width is not None else y.shape[1],
            image.height if image.height is not None else y.shape[0],
            image.full_range,
            image.matrix,
        )
    if isinstance(image, np.ndarray):
        _check_dtype(image, "image array")
        if image.ndim == 2:
            return _native.Image.gray8(image)
        if image.ndim == 3 and image.shape[2] == 3:
            return _native.Image.rgb24(image)
        raise InvalidParameter(f"an image array must be H x W (gray) or H x W x 3 (RGB), not shape {image.shape}")
    raise InvalidParameter(
        f"cannot encode a {type(image).__name__}: pass an av.VideoFrame, a uint8 ndarray or YUV420Planes"
    )


def _subsampling(images: Sequence[_native.Image], subsampling: str | int) -> int:
    value = {"4:2:0": 420, "4:2:2": 422, "4:4:4": 444}.get(str(subsampling), subsampling)
    if value not in (420, 422, 444):
        raise InvalidParameter(f"subsampling must be '4:2:0', '4:2:2' or '4:4:4', not {subsampling!r}")
    if value != 420 and any(img.format == "yuv420p" for img in images):
        raise InvalidParameter(
            "4:2:0 planes cannot be encoded as 4:2:2 or 4:4:4: their chroma is already halved; "
            "pass RGB input for finer chroma"
        )
    return int(value)


def encode_jpeg(
    image: Encodable,
    *,
    quality: int = 85,
    subsampling: str | int = "4:2:0",
    optimize: bool = False,
    accurate_dct: bool | None = None,
) -> bytes:
    """Encode one image to JPEG bytes (JFIF, full-range BT.601 YCbCr).

    ``quality`` is 1..100; ``subsampling`` is "4:2:0" (the default) or, for RGB input,
    "4:2:2" / "4:4:4"; ``optimize`` builds optimised Huffman tables (smaller, slower);
    ``accurate_dct`` None uses the fast DCT below quality 96 and the accurate one from
    96 up (TurboJPEG's rule), True/False force one.
    Raises InvalidParameter for unusable input and InternalError if libjpeg fails.
    """
    img = native_image(image)
    return _native.encode(img, quality, _subsampling([img], subsampling), optimize, accurate_dct)


def encode_jpegs(
    images: Iterable[Encodable],
    *,
    quality: int = 85,
    subsampling: str | int = "4:2:0",
    optimize: bool = False,
    threads: int = 0,
    accurate_dct: bool | None = None,
) -> list[bytes]:
    """Encode a batch, one ``bytes`` per image in order, on ``threads`` native threads
    (0 = every CPU this process may use). The bytes do not depend on ``threads``."""
    imgs = [native_image(image) for image in images]
    return _native.encode_batch(imgs, quality, _subsampling(imgs, subsampling), optimize, threads, accurate_dct)
