"""Micro-benchmarks of the hot parts besides the encoder: building the packet index,
planning which frames to decode, and composing a sprite sheet. With a saved
baseline, a regression shows as a comparison:

    python -m pytest benchmarks/bench_core.py benchmarks/bench_jpeg.py \
        --benchmark-storage=file://benchmarks/baseline --benchmark-compare \
        --benchmark-compare-fail=mean:25%

(`--benchmark-save=NAME` writes a new baseline; the saved one is from the project's
2-core machine, so compare on like hardware.)
"""

from __future__ import annotations

import av
import numpy as np
import pytest

from stillframe import testsrc
from stillframe._index import build_index
from stillframe.jpeg import YUV420Planes
from stillframe.plan import group_targets, pick_frames
from stillframe.sprites import Sprite, compose_page

from .conftest import CACHE


@pytest.fixture(scope="module")
def clip_60s():
    """A minute of 360p30, GOP 250, 3 B-frames: 1,800 packets to index."""
    path = CACHE / "core-360p-gop250-60s.mp4"
    if not path.exists():
        testsrc.make_video(path, frames=1800, size=(640, 360), gop=250, bframes=3)
    return path


@pytest.fixture(scope="module")
def index(clip_60s):
    with av.open(str(clip_60s)) as c:
        return build_index(c, c.streams.video[0])


def test_index_build(benchmark, clip_60s):
    def build():
        with av.open(str(clip_60s)) as c:
            return build_index(c, c.streams.video[0])

    idx = benchmark(build)
    assert len(idx.pts) == 1800


@pytest.mark.parametrize("snap", ["displayed", "next"])
def test_plan_1000_times(benchmark, index, snap):
    times = np.linspace(0, 59.9, 1000).tolist()

    def plan():
        return group_targets(index, pick_frames(index, times, snap=snap))

    groups = benchmark(plan)
    assert 1 <= len(groups) <= 8 and sum(len(g.targets) for g in groups) >= 900


def test_compose_sprite_sheet(benchmark):
    cells = []
    for i in range(100):
        y, u, v = testsrc.pattern_yuv420(i, 160, 90)
        cells.append(YUV420Planes(y, u, v))
    layout = Sprite(10, 10).layout(160, 90)
    page = benchmark(compose_page, layout, cells, (0, 0, 0))
    assert page.y.shape == (900, 1600)
