"""Output sizes, scaling in YUV with swscale, display rotation and 16:9 padding."""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np

from stillframe.errors import InvalidParameter

MAX_SIDE = 65500  # libjpeg's limit


def _even(v: float) -> int:
    return max(2, int(math.floor(v / 2.0 + 0.5)) * 2)


@dataclass(frozen=True)
class OutputGeometry:
    """How a decoded picture becomes an output picture, all in display orientation
    except `scale_w/scale_h`, which are the stored orientation swscale works in."""

    width: int  # final width, padding included
    height: int
    image_w: int  # the picture inside the padding
    image_h: int
    rotation: int  # counter-clockwise quarter turns for display (0..3)
    scale_w: int
    scale_h: int

    @property
    def padded(self) -> bool:
        """Whether black padding surrounds the picture (an aspect ratio was asked for)."""
        return (self.width, self.height) != (self.image_w, self.image_h)


def display_size(width: int, height: int, sar: Fraction | None) -> tuple[int, int]:
    """The stored `width` x `height` as shown with sample aspect ratio `sar`: the
    side the pixels are long along is stretched, never one shrunk (as players do),
    so 720x576 at 16:15 shows as 768x576 and 720x480 at 8:9 as 720x540."""
    if not sar or sar <= 0 or sar == 1:
        return width, height
    if sar > 1:
        return max(1, round(width * sar)), height
    return width, max(1, round(height / sar))


def aspect_text(sar: Fraction | None) -> str:
    """ "16:15" for a sample aspect ratio; "1:1" when there is none."""
    if not sar or sar <= 0:
        return "1:1"
    return f"{sar.numerator}:{sar.denominator}"


def letterbox(planes_h: int, planes_w: int, w: int, h: int) -> tuple[int, int, int, int]:
    """(x, y, width, height) of a picture of `planes_w` x `planes_h` fitted whole
    inside a `w` x `h` cell, centred, even-sided and even-placed (4:2:0)."""
    k = min(w / planes_w, h / planes_h)
    iw = min(w, max(2, int(planes_w * k / 2 + 0.5) * 2))
    ih = min(h, max(2, int(planes_h * k / 2 + 0.5) * 2))
    return (w - iw) // 2 & ~1, (h - ih) // 2 & ~1, iw, ih


def check_sizes(width: int | None, height: int | None, max_length: int | None, aspect_ratio: str) -> None:
    """Raise InvalidParameter unless each size given is an integer in 2..MAX_SIDE
    and `aspect_ratio` is "keep" or "16:9"."""
    for name, value in (("width", width), ("height", height), ("max_length", max_length)):
        if value is not None and (not isinstance(value, int) or not 2 <= value <= MAX_SIDE):
            raise InvalidParameter(f"{name} must be an integer in 2..{MAX_SIDE}, not {value!r}")
    if aspect_ratio not in ("keep", "16:9"):
        raise InvalidParameter(f"aspect_ratio must be 'keep' or '16:9', not {aspect_ratio!r}")


def plan_geometry(
    display_w: int,
    display_h: int,
    rotation: int,
    *,
    width: int | None = None,
    height: int | None = None,
    max_length: int | None = None,
    aspect_ratio: str = "keep",
) -> OutputGeometry:
    """Sizes for the output picture.

    One of width/height: the other follows the display aspect. Both: exactly that
    (may distort). `max_length`: the longer side, the other proportional (never
    enlarges). `aspect_ratio="16:9"` pads the picture to 16:9 with black, growing
    the short dimension, never shrinking the picture. Sides are rounded to even
    numbers, as 4:2:0 JPEGs need.
    """
    check_sizes(width, height, max_length, aspect_ratio)
    w, h = float(display_w), float(display_h)
    if width and height:
        w, h = width, height
    elif width:
        w, h = width, h * width / w
    elif height:
        w, h = w * height / h, height
    if max_length and max(w, h) > max_length:
        k = max_length / max(w, h)
        w, h = w * k, h * k
    iw, ih = _even(w), _even(h)
    ow, oh = iw, ih
    if aspect_ratio == "16:9":
        if iw * 9 >= ih * 16:
            oh = _even(iw * 9 / 16)
        else:
            ow = _even(ih * 16 / 9)
    if max(ow, oh) > MAX_SIDE:
        raise InvalidParameter(f"output size {ow}x{oh} is over {MAX_SIDE} pixels a side")
    quarter = (rotation // 90) % 4
    sw, sh = (ih, iw) if quarter % 2 else (iw, ih)
    return OutputGeometry(ow, oh, iw, ih, quarter, sw, sh)


def scale(frame: av.VideoFrame, geo: OutputGeometry, keep_format: bool = False) -> av.VideoFrame:
    """The decoded frame as 8-bit 4:2:0 at the output size (stored orientation).
    Full-range input stays full range; the matrix tag is kept for the encoder.
    `keep_format`: a frame already at the output size is returned as decoded (10-bit,
    4:4:4, ...), to be converted once, on request."""
    full = frame.format.name.startswith("yuvj") or frame.color_range == 2
    same = frame.width == geo.scale_w and frame.height == geo.scale_h
    if same and (keep_format or frame.format.name in ("yuv420p", "yuvj420p")):
        return frame
    shrinking = geo.scale_w * geo.scale_h < frame.width * frame.height
    return frame.reformat(
        width=geo.scale_w,
        height=geo.scale_h,
        format="yuv420p",
        interpolation="AREA" if shrinking else "BICUBIC",
        dst_color_range=2 if full else 1,
    )


def frame_planes(frame: av.VideoFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Zero-copy views of an 8-bit 4:2:0 frame's planes, cropped to the picture."""
    h, w = frame.height, frame.width
    ch, cw = (h + 1) // 2, (w + 1) // 2
    out = []
    for plane, rows, cols in zip(frame.planes, (h, ch, ch), (w, cw, cw)):
        flat = np.frombuffer(memoryview(plane), np.uint8)
        out.append(flat[: rows * plane.line_size].reshape(rows, plane.line_size)[:, :cols])
    return out[0], out[1], out[2]


def orient_planes(
    planes: tuple[np.ndarray, np.ndarray, np.ndarray], geo: OutputGeometry, full_range: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rotate upright and pad to the output box (black, in the planes' range)."""
    y, u, v = planes
    if geo.rotation:
        y, u, v = (np.ascontiguousarray(np.rot90(p, geo.rotation)) for p in (y, u, v))
    if not geo.padded:
        return y, u, v
    black = 0 if full_range else 16
    top, left = (geo.height - geo.image_h) // 2 & ~1, (geo.width - geo.image_w) // 2 & ~1
    Y = np.full((geo.height, geo.width), black, np.uint8)
    Y[top : top + geo.image_h, left : left + geo.image_w] = y
    U = np.full((geo.height // 2, geo.width // 2), 128, np.uint8)
    V = U.copy()
    U[top // 2 : top // 2 + u.shape[0], left // 2 : left // 2 + u.shape[1]] = u
    V[top // 2 : top // 2 + v.shape[0], left // 2 : left // 2 + v.shape[1]] = v
    return Y, U, V
