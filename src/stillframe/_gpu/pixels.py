"""The pixel work, in PyTorch, wherever the tensors are: a decoded frame's planes
(NVDEC's NV12/P010 on the GPU through DLPack without a copy, or a CPU frame's) to an
RGB picture at the output size, and pictures to JPEG bytes (nvJPEG on CUDA tensors,
libjpeg on CPU ones, through torchvision).

The steps follow the CPU path's: luma and chroma scaled apart (area averaging when
shrinking, as swscale's AREA; bicubic luma and bilinear chroma when growing), the
video's own matrix and range mapped to RGB, turned upright, padded with black.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import av
import torch
import torch.nn.functional as F

from stillframe._gpu.picture import DevicePicture
from stillframe.geometry import OutputGeometry

__all__ = ["encode_jpegs", "picture", "rgb_to_yuv420", "yuv_planes"]

# Layouts read as they are: whether chroma is interleaved (NV12), and what divides
# a sample down to 8-bit units (P010/P016 keep their bits at the top of 16).
LAYOUTS = {
    "nv12": (True, 1.0),
    "p010le": (True, 256.0),
    "p016le": (True, 256.0),
    "yuv420p": (False, 1.0),
    "yuvj420p": (False, 1.0),
    "yuv420p10le": (False, 4.0),
    "yuv420p12le": (False, 16.0),
}
# (Kr, Kb) of each matrix; the colorspace values and the default are the CPU path's.
KR_KB = {"bt601": (0.299, 0.114), "bt709": (0.2126, 0.0722), "bt2020": (0.2627, 0.0593)}
MATRIX = {1: "bt709", 9: "bt2020", 10: "bt2020"}


def _tensor(plane: av.video.plane.VideoPlane) -> torch.Tensor:
    # PyAV refuses a stream argument for CUDA planes: the capsule, then, synchronised
    # by the NVDEC copy having been issued on the default stream before the frame came out.
    return torch.from_dlpack(plane.__dlpack__(stream=None))


def yuv_planes(frame: av.VideoFrame) -> tuple[torch.Tensor, torch.Tensor, float, bool, str]:
    """(Y as H x W, chroma as 2 x H/2 x W/2, divisor to 8-bit units, full range, matrix),
    the tensors on the frame's device, sharing its memory. A layout not read as it is
    (4:2:2, 4:4:4, RGB) is brought to 8-bit 4:2:0 by swscale first (on the CPU)."""
    fmt = frame.sw_format if frame.sw_format is not None else frame.format
    name = fmt.name
    if name not in LAYOUTS:
        frame = frame.reformat(format="yuv420p")
        name = "yuv420p"
    interleaved, divisor = LAYOUTS[name]
    full = name.startswith("yuvj") or frame.color_range == 2
    matrix = MATRIX.get(int(frame.colorspace), "bt601")
    planes = frame.planes
    y = _tensor(planes[0])
    if interleaved:
        chroma = _tensor(planes[1]).permute(2, 0, 1)
    else:
        chroma = torch.stack([_tensor(planes[1]), _tensor(planes[2])])
    return y, chroma, divisor, full, matrix


def _resize(x: torch.Tensor, h: int, w: int, grow: str) -> torch.Tensor:
    """C x H x W floats to C x h x w: area averages when shrinking, `grow` when not."""
    if x.shape[-2:] == (h, w):
        return x
    shrinking = h * w < x.shape[-2] * x.shape[-1]
    batch = x.unsqueeze(0)
    if shrinking:
        out = F.interpolate(batch, size=(h, w), mode="area")
    else:
        out = F.interpolate(batch, size=(h, w), mode=grow, align_corners=False)
    return out[0]


def to_rgb(y: torch.Tensor, cb: torch.Tensor, cr: torch.Tensor, full: bool, matrix: str) -> torch.Tensor:
    """8-bit-unit Y'CbCr (floats) to 3 x H x W RGB floats in 0..255 (not rounded)."""
    kr, kb = KR_KB[matrix]
    if full:
        yy, pb, pr = y, cb - 128.0, cr - 128.0
    else:
        yy, pb, pr = (y - 16.0) * (255.0 / 219.0), (cb - 128.0) * (255.0 / 224.0), (cr - 128.0) * (255.0 / 224.0)
    r = yy + (2.0 * (1.0 - kr)) * pr
    b = yy + (2.0 * (1.0 - kb)) * pb
    g = (yy - kr * r - kb * b) / (1.0 - kr - kb)
    return torch.stack([r, g, b])


def _orient(rgb: torch.Tensor, geo: OutputGeometry) -> torch.Tensor:
    """Turned upright and padded to the output box with black (as orient_planes)."""
    if geo.rotation:
        rgb = torch.rot90(rgb, geo.rotation, dims=(1, 2))
    if not geo.padded:
        return rgb
    page = torch.zeros((3, geo.height, geo.width), dtype=rgb.dtype, device=rgb.device)
    top, left = (geo.height - geo.image_h) // 2 & ~1, (geo.width - geo.image_w) // 2 & ~1
    page[:, top : top + geo.image_h, left : left + geo.image_w] = rgb
    return page


def picture(frame: av.VideoFrame, geo: OutputGeometry) -> DevicePicture:
    """`frame` (NVDEC's, kept on the GPU, or a CPU frame) as an RGB picture at the
    output size, upright, on the frame's device. The frame may be released once
    this returns: the work on it has finished."""
    y, chroma, divisor, full, matrix = yuv_planes(frame)
    h, w = geo.scale_h, geo.scale_w
    luma = _resize(y.unsqueeze(0).float().div_(divisor), h, w, "bicubic")[0]
    cbcr = _resize(chroma.float().div_(divisor), h, w, "bilinear")
    rgb = to_rgb(luma, cbcr[0], cbcr[1], full, matrix).round_().clamp_(0, 255).to(torch.uint8)
    out = _orient(rgb, geo).contiguous()
    if out.is_cuda:
        # The frame's memory goes back to FFmpeg's pool when its tensors are dropped,
        # which the kernels reading it must not outlive.
        torch.cuda.current_stream(out.device).synchronize()
    return DevicePicture(out)


def rgb_to_yuv420(rgb: torch.Tensor, chroma: bool = True) -> tuple[torch.Tensor, ...]:
    """3 x H x W uint8 RGB to full-range BT.601 uint8 Y (H x W) and, with `chroma`, Cb
    and Cr averaged over 2 x 2 (H/2 x W/2): what JPEG stores."""
    r, g, b = rgb.float()
    y = 0.299 * r + 0.587 * g + 0.114 * b
    out = [y]
    if chroma:
        cb = 128.0 + (b - y) * (0.5 / (1.0 - 0.114))
        cr = 128.0 + (r - y) * (0.5 / (1.0 - 0.299))
        out += list(F.avg_pool2d(torch.stack([cb, cr]).unsqueeze(0), 2, ceil_mode=True)[0])
    return tuple(p.round_().clamp_(0, 255).to(torch.uint8) for p in out)


def encode_jpegs(pictures: Sequence[DevicePicture], quality: int) -> list[bytes]:
    """JPEG bytes of each picture, encoded where its pixels are: the pictures on one
    CUDA device in one nvJPEG batch (only the bytes come back), CPU ones by libjpeg."""
    from torchvision.io import encode_jpeg

    out: list[bytes] = [b""] * len(pictures)
    by_device: dict[str, list[int]] = {}
    for i, p in enumerate(pictures):
        by_device.setdefault(p.device, []).append(i)
    for where in by_device.values():
        with warnings.catch_warnings():
            # torchvision 0.29 points image coding at TorchCodec; its nvJPEG path is what we use.
            warnings.simplefilter("ignore", DeprecationWarning)
            data = encode_jpeg([pictures[i].rgb for i in where], quality=quality)
        for i, t in zip(where, data):
            out[i] = t.cpu().numpy().tobytes()
    return out
