"""Black frames and covers: MPS's BlackLevel / PixelBlackThreshold, Huawei's
cover_position, and an automatic cover that is the most representative snapshot."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from stillframe import _native
from stillframe.errors import InvalidParameter
from stillframe.jpeg import YUV420Planes

__all__ = ["BlackTest", "most_representative"]

SEARCH_SECONDS = 5.0  # how far MPS looks for a non-black frame


class BlackTest:
    """A frame is black when at least `level` percent of its pixels are darker than
    `threshold` (0..255, full-range units: video-range black, 16, counts as 0)."""

    def __init__(self, level: int | None = None, threshold: int | None = None) -> None:
        level = 100 if level is None else level
        threshold = 32 if threshold is None else threshold
        if not isinstance(level, int) or not 30 <= level <= 100:
            raise InvalidParameter(f"black_level must be an integer in 30..100, not {level!r}")
        if not isinstance(threshold, int) or not 0 <= threshold <= 255:
            raise InvalidParameter(f"pixel_black_threshold must be an integer in 0..255, not {threshold!r}")
        self.level = level
        self.threshold = threshold

    def ratio(self, planes: YUV420Planes) -> float:
        """The share (0..1) of the luma samples darker than the threshold."""
        y = np.asarray(planes.y)
        return _native.black_ratio(y, y.shape[1], y.shape[0], self.threshold, planes.full_range)

    def __call__(self, planes: YUV420Planes) -> bool:
        return self.ratio(planes) * 100 >= self.level - 1e-9


def histogram(planes: YUV420Planes) -> np.ndarray:
    y = np.asarray(planes.y)
    hist = np.zeros(256, np.uint32)
    _native.luma_histogram(y, y.shape[1], y.shape[0], hist)
    return hist.astype(np.float64) / max(1, y.size)


def most_representative(hists: Sequence[np.ndarray], black: Sequence[bool]) -> int:
    """Index of the snapshot whose luma histogram is closest (sum of squared
    differences) to the mean of the set, as ffmpeg's thumbnail filter chooses;
    black snapshots only when every one is black."""
    candidates = [i for i, b in enumerate(black) if not b] or list(range(len(hists)))
    mean = np.mean([hists[i] for i in candidates], axis=0)
    errors = [float(((hists[i] - mean) ** 2).sum()) for i in candidates]
    return candidates[int(np.argmin(errors))]
