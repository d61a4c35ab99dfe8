"""An output picture kept where its pixels are (a CUDA device, or the CPU in tests):
RGB, upright, at the output size. Imports no PyTorch itself: the tensor brings it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from stillframe.jpeg import YUV420Planes

__all__ = ["DevicePicture"]


@dataclass(frozen=True, eq=False)
class DevicePicture:
    """`rgb` is a 3 x H x W uint8 tensor (contiguous, torchvision's layout), upright,
    padded, at the output size, on the device that decoded it."""

    rgb: Any  # torch.Tensor

    @property
    def device(self) -> str:
        """Where the pixels are: "cuda:0", "cpu"."""
        return str(self.rgb.device)

    @property
    def width(self) -> int:
        return int(self.rgb.shape[2])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[1])

    def hwc(self) -> Any:
        """The picture as H x W x 3 (a view: no copy), as to_ndarray("rgb24") lays it out."""
        return self.rgb.permute(1, 2, 0)

    def planes(self) -> YUV420Planes:
        """8-bit full-range BT.601 4:2:0 planes (JPEG's own), made on the device and
        downloaded: for the CPU's encoder, sheets mixed with CPU cells, black tests."""
        from stillframe._gpu.pixels import rgb_to_yuv420

        y, u, v = (p.cpu().numpy() for p in rgb_to_yuv420(self.rgb))
        return YUV420Planes(y, u, v, True, "bt601")

    def to_ndarray(self, format: str = "rgb24") -> np.ndarray:
        """Downloaded as Frame.to_ndarray gives it (see there)."""
        if format == "yuv420p":
            p = self.planes()
            return np.concatenate([p.y.ravel(), p.u.ravel(), p.v.ravel()]).reshape(-1, self.width)
        if format == "gray":
            from stillframe._gpu.pixels import rgb_to_yuv420

            return rgb_to_yuv420(self.rgb, chroma=False)[0].cpu().numpy()
        rgb = self.hwc().cpu().numpy()
        if format in ("bgr24", "bgra"):
            rgb = rgb[..., ::-1]
        if format in ("rgba", "bgra"):
            alpha = np.full(rgb.shape[:2] + (1,), 255, np.uint8)
            return np.concatenate([rgb, alpha], axis=2)
        return np.ascontiguousarray(rgb)
