"""Frames kept on the device: the pixel work on the GPU (colour conversion, scaling,
turning, padding, sprite sheets, JPEG through nvJPEG), so that only JPEG bytes cross
to the host. Written in PyTorch, device-agnostic: the same code runs on CPU tensors
(tested on any machine) and on CUDA tensors fed by NVDEC through DLPack.

    unavailable(device)  None when frames can be kept on `device` here, else why not
    DevicePicture        an output picture where its pixels are (picture.py)
    picture(frame, geo)  a decoded frame (NVDEC's or the CPU's) to a DevicePicture (pixels.py)
    encode_jpegs         pictures to JPEG bytes on their device (pixels.py)
    fit / compose        sprite cells and pages on the device (sheets.py)

The extra `gpu` (`pip install stillframe[gpu]`) brings PyTorch and torchvision;
without them this package imports, and says why frames cannot stay on a device.
"""

from __future__ import annotations

import functools
import importlib.util

from stillframe._gpu.picture import DevicePicture

__all__ = ["DevicePicture", "torch_missing", "unavailable"]


@functools.cache
def torch_missing() -> str | None:
    """None when PyTorch and torchvision can be imported, else why not."""
    for name in ("torch", "torchvision"):
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # blocked, or half there
            found = False
        if not found:
            return f"{name} is not installed (pip install 'stillframe[gpu]')"
    try:
        import torchvision.io  # noqa: F401
    except Exception as exc:  # a torchvision built for another torch fails here
        return f"torchvision cannot be imported: {exc}"
    return None


@functools.cache
def unavailable(device: str = "cuda") -> str | None:
    """None when decoded frames can be kept on `device` ("cuda", "cuda:1", "cpu") and
    worked on there, else why not."""
    missing = torch_missing()
    if missing is not None:
        return missing
    import torch

    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            return f"PyTorch {torch.__version__} sees no CUDA device"
        index = int(device.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            return f"PyTorch sees {torch.cuda.device_count()} CUDA device(s), not {device}"
    return None
