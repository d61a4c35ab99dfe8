"""The native bindings guard memory: every extension-type argument refuses None,
every buffer is checked before native code reads it, and numbers that would
overflow or over-subscribe native code are bounded."""

from __future__ import annotations

import numpy as np
import pytest

from stillframe import _native
from stillframe.errors import InvalidParameter


def _image() -> _native.Image:
    y = np.full((16, 16), 128, np.uint8)
    uv = np.full((8, 8), 128, np.uint8)
    return _native.Image.yuv420(y, uv, uv, 16, 16)


def test_encode_refuses_none_instead_of_reading_past_it():
    assert _native.encode(_image()).startswith(b"\xff\xd8")
    with pytest.raises(TypeError, match="NoneType"):
        _native.encode(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "call",
    [
        lambda: _native.encode_batch([_image(), None]),
        lambda: _native.Image.yuv420(None, None, None, 16, 16),
        lambda: _native.Image.rgb24(None),
        lambda: _native.Image.gray8(None),
        lambda: _native.compose_yuv420(None, None, None, 16, 16, (0, 0, 0), []),
        lambda: _native.black_ratio(None, 16, 16, 32, False),
        lambda: _native.luma_histogram(None, 16, 16, np.zeros(256, np.uint32)),
        lambda: _native.luma_histogram(np.zeros((16, 16), np.uint8), 16, 16, None),
        lambda: _native._ycc_row(None, None, None, False, "bt601", True),
    ],
    ids=["batch", "yuv420", "rgb24", "gray8", "compose", "black_ratio", "histogram-y", "histogram-out", "ycc_row"],
)
def test_every_buffer_argument_refuses_none(call):
    with pytest.raises((InvalidParameter, TypeError, ValueError)):
        call()


def test_the_histogram_takes_the_headers_uint32_bins():
    y = np.arange(256, dtype=np.uint8).reshape(16, 16)
    hist = np.zeros(256, np.uint32)
    _native.luma_histogram(y, 16, 16, hist)
    assert hist.tolist() == [1] * 256
    with pytest.raises((ValueError, TypeError)):
        _native.luma_histogram(y, 16, 16, np.zeros(256, np.uint64))


def test_a_huge_black_threshold_counts_everything_dark_not_garbage():
    y = np.full((8, 8), 200, np.uint8)
    for full_range in (False, True):
        assert _native.black_ratio(y, 8, 8, 2**31 - 1, full_range) == 1.0
        assert _native.black_ratio(y, 8, 8, 255, full_range) == 1.0
        assert _native.black_ratio(y, 8, 8, 100, full_range) == 0.0
        assert _native.black_ratio(y, 8, 8, -(2**31), full_range) == 0.0


def test_batch_threads_never_exceed_the_cpus():
    cpus = _native.cpu_count()
    assert _native._pool_size(1000, 10**6) == cpus
    assert _native._pool_size(1000, 0) == cpus
    assert _native._pool_size(3, 10**6) == min(3, cpus)
    images = [_image() for _ in range(4)]
    assert _native.encode_batch(images, threads=10**6) == _native.encode_batch(images, threads=1)
