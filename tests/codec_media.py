"""AV1 and other codecs' test clips: SVT-AV1 in MP4 with the moov at the end
(PyAV), libaom in WebM with alt-ref frames (the ffmpeg CLI), and H.264, HEVC and
VP9 beside them, each 120 frames of 128x96 with a keyframe every 60."""

from __future__ import annotations

import os
from pathlib import Path

import av
import pytest

from stillframe import testsrc

from .streams_media import ffmpeg

FRAMES, GOP, SIZE = 120, 60, (128, 96)


def make(root: Path, name: str) -> Path:
    """name: "svt.mp4", "aom.webm", "h264.mp4", "hevc.mp4", "vp9.webm"."""
    path = root / name
    if path.exists():
        return path
    common = {"frames": FRAMES, "size": SIZE, "gop": GOP}
    if name == "svt.mp4":
        if "libsvtav1" not in av.codecs_available:
            pytest.fail("PyAV has no libsvtav1 encoder")
        os.environ.setdefault("SVT_LOG", "1")
        testsrc.make_video(path, codec="libsvtav1", options={"preset": "12"}, **common)  # moov at the end
    elif name == "aom.webm":
        src = make(root, "h264.mp4")
        ffmpeg(
            "-i",
            str(src),
            "-c:v",
            "libaom-av1",
            "-cpu-used",
            "8",
            "-row-mt",
            "1",
            "-lag-in-frames",
            "25",
            "-auto-alt-ref",
            "1",
            "-g",
            str(GOP),
            "-b:v",
            "200k",
            str(path),
        )
    elif name == "h264.mp4":
        testsrc.make_video(path, bframes=3, **common)
    elif name == "hevc.mp4":
        testsrc.make_video(path, codec="libx265", bframes=3, **common)
    elif name == "vp9.webm":
        testsrc.make_video(
            path,
            codec="libvpx-vp9",
            options={"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "16", "auto-alt-ref": "1"},
            **common,
        )
    else:
        raise ValueError(name)
    return path
