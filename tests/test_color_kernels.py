"""The colour mapping the encoder applies to video YCbCr (limited or full range, BT.601,
BT.709 or BT.2020) on its way to JPEG's full-range BT.601: the SIMD kernels give the
portable loops' bytes exactly, and both stay within rounding of the exact conversion."""

from __future__ import annotations

import numpy as np
import pytest

from stillframe import _native
from stillframe.errors import InvalidParameter

COEFFS = {"bt601": (0.299, 0.114), "bt709": (0.2126, 0.0722), "bt2020": (0.2627, 0.0593)}
CASES = [(full, matrix) for full in (False, True) for matrix in COEFFS]


def every_sample(width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Luma walks all 256 values against every (cb, cr) pair once the row is long enough."""
    cw = (width + 1) // 2
    i = np.arange(cw)
    cb, cr = (i & 255).astype(np.uint8), ((i >> 8) & 255).astype(np.uint8)
    y = ((np.arange(width) * 7 + 3) & 255).astype(np.uint8)
    return y, cb, cr


def exact(y, cb, cr, full: bool, matrix: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Through RGB in floating point, unclamped until the end."""
    kr, kb = COEFFS[matrix]
    kr2, kb2 = COEFFS["bt601"]
    ys, cs, off = (255.0, 255.0, 0) if full else (219.0, 224.0, 16)
    pb, pr = (cb.astype(float) - 128) / cs, (cr.astype(float) - 128) / cs
    yn = (y.astype(float) - off) / ys
    pbl, prl = np.repeat(pb, 2)[: len(y)], np.repeat(pr, 2)[: len(y)]
    r, b = yn + 2 * (1 - kr) * prl, yn + 2 * (1 - kb) * pbl
    g = (yn - kr * r - kb * b) / (1 - kr - kb)
    y2 = kr2 * r + (1 - kr2 - kb2) * g + kb2 * b
    # chroma alone: the luma term cancels (grey stays grey), so take it at yn = 0
    rc, bc = 2 * (1 - kr) * pr, 2 * (1 - kb) * pb
    gc = (-kr * rc - kb * bc) / (1 - kr - kb)
    yc = kr2 * rc + (1 - kr2 - kb2) * gc + kb2 * bc
    cb2 = 128 + 255 * (bc - yc) / (2 * (1 - kb2))
    cr2 = 128 + 255 * (rc - yc) / (2 * (1 - kr2))
    return tuple(np.clip(np.rint(v), 0, 255) for v in (255 * y2, cb2, cr2))  # type: ignore[return-value]


@pytest.mark.parametrize(("full", "matrix"), CASES)
def test_simd_kernels_match_the_portable_loops_bit_for_bit(full, matrix):
    ran_simd = False
    for width in [*range(1, 130), 1919, 1920, 3840, 65536 * 2 + 37]:
        y, cb, cr = every_sample(width)
        *fast, simd = _native._ycc_row(y, cb, cr, full, matrix, True)
        *plain, plain_simd = _native._ycc_row(y, cb, cr, full, matrix, False)
        assert not plain_simd
        assert fast == plain, (width, full, matrix)
        ran_simd |= simd
    if not ran_simd and not (full and matrix == "bt601"):
        pytest.skip("this CPU has no AVX2: only the portable loops ran")


@pytest.mark.parametrize(("full", "matrix"), CASES)
@pytest.mark.parametrize("vector", [True, False])
def test_mapping_is_within_rounding_of_the_exact_conversion(full, matrix, vector):
    y, cb, cr = every_sample(65536 * 2)
    got = [np.frombuffer(b, np.uint8).astype(int) for b in _native._ycc_row(y, cb, cr, full, matrix, vector)[:3]]
    want = exact(y, cb, cr, full, matrix)
    for plane, g, w in zip("Y Cb Cr".split(), got, want):
        worst = int(np.abs(g - w).max())
        assert worst <= 1, f"{plane}: off by {worst}"
    if full and matrix == "bt601":
        assert [g.tolist() for g in got] == [y.tolist(), cb.tolist(), cr.tolist()]


def test_row_sizes_are_checked():
    with pytest.raises(InvalidParameter, match="needs 2 of each chroma"):
        _native._ycc_row(bytes(4), bytes(1), bytes(2), False, "bt601", True)
    with pytest.raises(InvalidParameter, match="matrix must be"):
        _native._ycc_row(bytes(2), bytes(1), bytes(1), False, "smpte240m", True)
