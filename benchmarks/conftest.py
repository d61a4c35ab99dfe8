"""Inputs for the micro-benchmarks: real decoded frames of generated clips, cached
under benchmarks/.cache so repeated runs skip the encode."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from stillframe import testsrc

CACHE = Path(__file__).parent / ".cache"


def decoded_frames(width: int, height: int, count: int) -> list[av.VideoFrame]:
    path = CACHE / f"pattern-{width}x{height}-{count}.mp4"
    if not path.exists():
        testsrc.make_video(path, frames=count, size=(width, height), gop=60, bframes=2)
    with av.open(str(path)) as container:
        return list(container.decode(video=0))


@pytest.fixture(scope="session")
def frames_270p() -> list[av.VideoFrame]:
    return decoded_frames(480, 270, 200)


@pytest.fixture(scope="session")
def frames_1080p() -> list[av.VideoFrame]:
    return decoded_frames(1920, 1080, 50)
