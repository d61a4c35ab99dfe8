"""Sprite sheets: snapshots laid out in a grid, composed in YUV 4:2:0 by the native
core and encoded once per page."""

from __future__ import annotations

import os
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

import av
import numpy as np

from stillframe import _native
from stillframe.errors import InvalidParameter
from stillframe.geometry import letterbox
from stillframe.jpeg import YUV420Planes

__all__ = ["Sprite", "SpriteLayout", "parse_color"]

JPEG_MAX_SIDE = 65500

# CSS's sixteen basic colours, plus grey.
_NAMED = {
    "black": (0, 0, 0),
    "white": (255, 255, 255),
    "red": (255, 0, 0),
    "lime": (0, 255, 0),
    "green": (0, 128, 0),
    "blue": (0, 0, 255),
    "yellow": (255, 255, 0),
    "cyan": (0, 255, 255),
    "aqua": (0, 255, 255),
    "magenta": (255, 0, 255),
    "fuchsia": (255, 0, 255),
    "silver": (192, 192, 192),
    "gray": (128, 128, 128),
    "grey": (128, 128, 128),
    "maroon": (128, 0, 0),
    "olive": (128, 128, 0),
    "purple": (128, 0, 128),
    "teal": (0, 128, 128),
    "navy": (0, 0, 128),
}


def parse_color(color: str) -> tuple[int, int, int]:
    """A colour name, `#rrggbb`, or `random` as RGB."""
    text = str(color).strip().lower()
    if text == "random":
        return (random.randrange(256), random.randrange(256), random.randrange(256))
    if text in _NAMED:
        return _NAMED[text]
    if re.fullmatch(r"#[0-9a-f]{6}", text):
        return (int(text[1:3], 16), int(text[3:5], 16), int(text[5:7], 16))
    raise InvalidParameter(f"color must be a name, #rrggbb or random, not {color!r}")


def rgb_to_yuv(rgb: tuple[int, int, int], full_range: bool, matrix: str) -> tuple[int, int, int]:
    kr, kb = {"bt709": (0.2126, 0.0722), "bt2020": (0.2627, 0.0593)}.get(matrix, (0.299, 0.114))
    r, g, b = (c / 255.0 for c in rgb)
    y = kr * r + (1 - kr - kb) * g + kb * b
    pb, pr = (b - y) / (2 * (1 - kb)), (r - y) / (2 * (1 - kr))
    if full_range:
        vals = (255 * y, 128 + 255 * pb, 128 + 255 * pr)
    else:
        vals = (16 + 219 * y, 128 + 224 * pb, 128 + 224 * pr)
    return tuple(int(min(255, max(0, round(v)))) for v in vals)  # type: ignore[return-value]


def _even_up(v: int) -> int:
    return v + (v & 1)


@dataclass(frozen=True)
class Sprite:
    """A sprite-sheet layout (MPS `TileOut`): `columns` x `lines` cells a page,
    each `cell_width` x `cell_height` (default: the snapshot size), `margin` pixels
    around the edge and `padding` between cells, filled with `color` (a name,
    #rrggbb, or random). `keep_cell_pic=False` writes only the sheets;
    `cell_sel_step=n` puts every nth snapshot on the sheet. A page never exceeds
    `max_side` pixels a side (and never JPEG's 65,500): taller grids are split into
    more pages. Sizes are rounded up to even numbers, as 4:2:0 needs."""

    columns: int = 10
    lines: int = 10
    cell_width: int | None = None
    cell_height: int | None = None
    margin: int = 0
    padding: int = 0
    color: str = "black"
    keep_cell_pic: bool = True
    cell_sel_step: int = 1
    max_side: int = 15000

    def __post_init__(self) -> None:
        for name in ("columns", "lines", "cell_sel_step"):
            value = getattr(self, name)
            if not isinstance(value, int) or not 1 <= value <= 10000:
                raise InvalidParameter(f"Sprite.{name} must be an integer in 1..10000, not {value!r}")
        for name in ("cell_width", "cell_height"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or not 2 <= value <= JPEG_MAX_SIDE):
                raise InvalidParameter(f"Sprite.{name} must be an integer in 2..{JPEG_MAX_SIDE}, not {value!r}")
        for name in ("margin", "padding"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise InvalidParameter(f"Sprite.{name} must be an integer >= 0, not {value!r}")
        if not isinstance(self.max_side, int) or not 16 <= self.max_side <= JPEG_MAX_SIDE:
            raise InvalidParameter(f"Sprite.max_side must be in 16..{JPEG_MAX_SIDE}, not {self.max_side!r}")
        parse_color(self.color)

    def layout(self, snap_w: int, snap_h: int) -> SpriteLayout:
        """The layout for snapshots of `snap_w` x `snap_h` pixels; InvalidParameter when a row would be wider than
        a page may be."""
        cw = _even_up(self.cell_width or snap_w)
        ch = _even_up(self.cell_height or snap_h)
        margin, padding = _even_up(self.margin), _even_up(self.padding)
        width = 2 * margin + self.columns * cw + (self.columns - 1) * padding
        if width > self.max_side:
            raise InvalidParameter(
                f"a row of {self.columns} cells {cw} px wide is {width} px, over the {self.max_side} px limit "
                "of a sprite page: use fewer columns or smaller cells"
            )
        one_line = 2 * margin + ch
        if one_line > self.max_side:
            raise InvalidParameter(f"a cell {ch} px high does not fit the {self.max_side} px limit of a sprite page")
        lines = min(self.lines, (self.max_side - 2 * margin + padding) // (ch + padding))
        return SpriteLayout(self.columns, lines, cw, ch, margin, padding, width)


@dataclass(frozen=True)
class SpriteLayout:
    """Where cells go on a sprite page: the grid, cell and page sizes in pixels (even numbers, as 4:2:0 needs)."""

    columns: int
    lines: int  # per page, after the size limit
    cell_w: int
    cell_h: int
    margin: int
    padding: int
    width: int

    @property
    def per_page(self) -> int:
        """Cells on a full page."""
        return self.columns * self.lines

    def pages(self, cells: int) -> int:
        """Pages that `cells` cells fill (at least one)."""
        return max(1, -(-cells // self.per_page))

    def place(self, i: int) -> tuple[int, int, int]:
        """(page, x, y) of cell i (0-based)."""
        page, k = divmod(i, self.per_page)
        r, c = divmod(k, self.columns)
        return page, self.margin + c * (self.cell_w + self.padding), self.margin + r * (self.cell_h + self.padding)

    def page_height(self, cells_on_page: int) -> int:
        """The height in pixels of a page holding `cells_on_page` cells (a last page is shorter)."""
        rows = -(-cells_on_page // self.columns)
        return 2 * self.margin + rows * self.cell_h + (rows - 1) * self.padding


def fit_cell(planes: YUV420Planes, w: int, h: int, keep_shape: bool = False) -> YUV420Planes:
    """The snapshot's planes at the cell size (swscale, area when shrinking).
    `keep_shape`: a picture of another shape than the cell is letterboxed into it
    (black bars) rather than stretched; for a frame whose size changed mid-stream."""
    y = np.asarray(planes.y)
    if y.shape == (h, w):
        return planes
    if keep_shape:
        x0, y0, iw, ih = letterbox(y.shape[0], y.shape[1], w, h)
        if (iw, ih) != (w, h):
            inner = fit_cell(planes, iw, ih)
            Y = np.full((h, w), 0 if planes.full_range else 16, np.uint8)
            U = np.full((h // 2, w // 2), 128, np.uint8)
            V = U.copy()
            Y[y0 : y0 + ih, x0 : x0 + iw] = inner.y
            U[y0 // 2 : (y0 + ih) // 2, x0 // 2 : (x0 + iw) // 2] = inner.u
            V[y0 // 2 : (y0 + ih) // 2, x0 // 2 : (x0 + iw) // 2] = inner.v
            return YUV420Planes(Y, U, V, planes.full_range, planes.matrix)
    frame = av.VideoFrame(y.shape[1], y.shape[0], "yuv420p")
    for plane, data in zip(frame.planes, (planes.y, planes.u, planes.v)):
        rows, cols = data.shape
        buf = np.zeros((rows, plane.line_size), np.uint8)
        buf[:, :cols] = data
        plane.update(buf.tobytes()[: plane.buffer_size])
    frame.color_range = 2 if planes.full_range else 1
    small = frame.reformat(
        width=w, height=h, format="yuv420p", interpolation="AREA", dst_color_range=2 if planes.full_range else 1
    )
    out = []
    for plane, rows, cols in zip(small.planes, (h, h // 2, h // 2), (w, w // 2, w // 2)):
        arr = np.frombuffer(memoryview(plane), np.uint8)[: rows * plane.line_size].reshape(rows, plane.line_size)
        out.append(arr[:, :cols].copy())
    return YUV420Planes(out[0], out[1], out[2], planes.full_range, planes.matrix)


def compose_page(layout: SpriteLayout, cells: Sequence[YUV420Planes], color: tuple[int, int, int]) -> YUV420Planes:
    """One sheet holding `cells` (at most layout.per_page), cropped to the rows used."""
    first = cells[0]
    height = layout.page_height(len(cells))
    width = layout.width
    y = np.empty((height, width), np.uint8)
    u = np.empty((height // 2, width // 2), np.uint8)
    v = np.empty((height // 2, width // 2), np.uint8)
    items = []
    for i, cell in enumerate(cells):
        _, x, top = layout.place(i)
        items.append((cell.y, cell.u, cell.v, layout.cell_w, layout.cell_h, x, top))
    yuv = rgb_to_yuv(color, first.full_range, first.matrix)
    _native.compose_yuv420(y, u, v, width, height, yuv, items)
    return YUV420Planes(y, u, v, first.full_range, first.matrix)


TILE = re.compile(r"\{TileCount\}")


def page_names(pattern: str | os.PathLike[str], pages: int) -> list[str]:
    """`{TileCount}` is the 1-based page number in 5 digits; required for several pages."""
    text = os.fspath(pattern)
    if pages > 1 and not TILE.search(text):
        raise InvalidParameter(
            f"sprite output {text!r} has no {{TileCount}} but {pages} sprite pages are needed: add {{TileCount}}"
        )
    return [TILE.sub(f"{i + 1:05d}", text) for i in range(pages)]
