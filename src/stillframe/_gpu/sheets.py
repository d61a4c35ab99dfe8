"""Sprite sheets on the device: cells scaled and tiled as tensors, each page encoded
there, so a sheet of a hundred thumbnails crosses to the host as one JPEG."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from stillframe._gpu.picture import DevicePicture

__all__ = ["compose", "fit"]


def fit(picture: DevicePicture, w: int, h: int, keep_shape: bool = False) -> DevicePicture:
    """The picture at the cell size (area averages when shrinking, bilinear when
    growing); `keep_shape`: letterboxed into it, black around, as sprites.fit_cell."""
    if (picture.height, picture.width) == (h, w):
        return picture
    if keep_shape:
        from stillframe.geometry import letterbox

        x0, y0, iw, ih = letterbox(picture.height, picture.width, w, h)
        if (iw, ih) != (w, h):
            inner = fit(picture, iw, ih).rgb
            page = torch.zeros((3, h, w), dtype=torch.uint8, device=inner.device)
            page[:, y0 : y0 + ih, x0 : x0 + iw] = inner
            return DevicePicture(page)
    x = picture.rgb.float().unsqueeze(0)
    shrinking = h * w < picture.height * picture.width
    if shrinking:
        x = F.interpolate(x, size=(h, w), mode="area")
    else:
        x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)
    return DevicePicture(x[0].round_().clamp_(0, 255).to(torch.uint8).contiguous())


def compose(
    width: int,
    height: int,
    places: Sequence[tuple[int, int]],
    cells: Sequence[DevicePicture],
    rgb: tuple[int, int, int],
) -> DevicePicture:
    """A page `width` x `height` filled with `rgb`, each cell at its (x, y)."""
    first = cells[0].rgb
    page = torch.empty((3, height, width), dtype=torch.uint8, device=first.device)
    page[:] = torch.tensor(rgb, dtype=torch.uint8, device=first.device).view(3, 1, 1)
    for (x, y), cell in zip(places, cells):
        page[:, y : y + cell.height, x : x + cell.width] = cell.rgb
    return DevicePicture(page)
