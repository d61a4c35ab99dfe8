"""How many video decoder engines (NVDEC) a GPU has: as many keyframe groups are
decoded on it at once. Asked of the driver (NVML, through nvidia-ml-py) where it
says, else read off NVIDIA's tables by the GPU's name, else a setting."""

from __future__ import annotations

import functools
import os

__all__ = ["ENV", "nvdec_engines"]

ENV = "STILLFRAME_NVDEC_ENGINES"
DEFAULT = 4
# NVIDIA's video codec support matrix, by name (the longer names first: "A100"
# before "A10", "L40" before "L4").
TABLE = (
    ("GH200", 7),
    ("H200", 7),
    ("H100", 7),
    ("H800", 7),
    ("B200", 7),
    ("A100", 5),
    ("A800", 5),
    ("A30", 4),
    ("L40", 3),
    ("L4", 4),
    ("A10", 2),
    ("T4", 2),
)


def by_name(name: str) -> int | None:
    """NVDEC engines of a GPU by its marketing name, where the table knows it."""
    upper = name.upper()
    for model, engines in TABLE:
        if model in upper:
            return engines
    return None


def _nvml(index: int) -> tuple[int | None, str | None]:
    """(engines the driver reports, the GPU's name); None where it cannot say."""
    try:
        import pynvml
    except ImportError:
        return None, None
    try:
        pynvml.nvmlInit()
    except Exception:
        return None, None
    try:
        handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        name = pynvml.nvmlDeviceGetName(handle)
        name = name.decode() if isinstance(name, bytes) else str(name)
        count = None
        for ask in (
            lambda: pynvml.nvmlDeviceGetAttributes(handle).sharedDecoderCount,
            lambda: (
                pynvml.nvmlDeviceGetGpuInstanceProfileInfo(
                    handle, pynvml.NVML_GPU_INSTANCE_PROFILE_7_SLICE
                ).decoderCount
            ),
        ):
            try:
                count = int(ask())
            except Exception:  # not a MIG device, an old driver: the next way
                continue
            if count > 0:
                break
        return (count if count and count > 0 else None), name
    except Exception:
        return None, None
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:
            pass


@functools.cache
def nvdec_engines(index: int = 0) -> tuple[int, str]:
    """(NVDEC engines of CUDA device `index`, where the number came from)."""
    named = os.environ.get(ENV, "").strip()
    if named:
        try:
            if int(named) >= 1:
                return int(named), f"{ENV}={named}"
        except ValueError:
            pass
    count, name = _nvml(index)
    if count is not None:
        return count, f"NVML ({name})"
    if name is None:
        try:
            import torch

            name = torch.cuda.get_device_name(index) if torch.cuda.is_available() else None
        except Exception:
            name = None
    table = by_name(name) if name else None
    if table is not None:
        return table, f"NVIDIA's NVDEC table ({name})"
    return DEFAULT, f"not known for {name or 'this GPU'}: {DEFAULT} (set {ENV})"
