"""deinterlace="auto": frames flagged interlaced go through bwdif, one picture a
frame, with the neighbours a pass over the whole stream would give it; off by
default, and nothing changes for progressive video. In the API, the command line
and a job's configuration."""

from __future__ import annotations

import subprocess
import sys

import av
import numpy as np
import pytest

import stillframe as sf
from stillframe._deinterlace import deinterlace
from stillframe.errors import InvalidParameter
from stillframe.jobs.config import SnapshotConfig, config_from

from .picture_media import decoded, make

TIMES = [0.0, 0.3, 0.52, 0.98, 1.0, 1.47, 2.0, 2.5, 2.96]


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    root = tmp_path_factory.mktemp("interlaced")
    return lambda name: make(root, name)


def combing(gray: np.ndarray) -> float:
    """How far each line is from the mean of the lines around it: high for woven fields."""
    a = gray.astype(float)
    return float(np.abs(a[1:-1] - (a[:-2] + a[2:]) / 2).mean())


def whole_pass(frames: list[av.VideoFrame]) -> list[np.ndarray]:
    """`-vf bwdif=mode=send_frame:deint=interlaced` over every frame, in grey."""
    graph = av.filter.Graph()
    f = frames[0]
    src = graph.add_buffer(width=f.width, height=f.height, format=f.format, time_base=f.time_base)
    bw = graph.add("bwdif", "mode=send_frame:parity=auto:deint=interlaced")
    sink = graph.add("buffersink")
    src.link_to(bw)
    bw.link_to(sink)
    graph.configure()
    out = []
    for frame in [*frames, None]:
        graph.vpush(frame)
        while True:
            try:
                out.append(graph.vpull().to_ndarray(format="gray"))
            except (av.error.BlockingIOError, av.error.EOFError):
                break
    assert len(out) == len(frames)
    return out


def test_probe_says_interlaced(pictures):
    for name in ("mbaff.ts", "mpeg2i.ts", "mbaff.mp4"):
        assert sf.probe(pictures(name)).interlaced, name
    assert not sf.probe(pictures("progressive.ts")).interlaced


@pytest.mark.parametrize("workers", [None, 1])
@pytest.mark.parametrize("snap", ["displayed", "next"])
@pytest.mark.parametrize("name", ["mbaff.ts", "mpeg2i.ts", "mbaff.mp4"])
def test_deinterlaced_frames_are_those_of_a_whole_pass(pictures, name, snap, workers):
    path = pictures(name)
    ref = decoded(path)
    assert all(f.interlaced_frame for f in ref)
    passed = whole_pass(ref)
    by_pts = {f.pts: i for i, f in enumerate(ref)}
    with sf.open(path, workers=workers) as video:
        plain = video.frames_at(TIMES, snap=snap)
        frames = video.frames_at(TIMES, snap=snap, deinterlace="auto")
        if name.endswith(".mp4"):
            assert video.stats.index == "scan"  # bwdif's neighbours: the scan has every packet
    for t, p, f in zip(TIMES, plain, frames):
        i = by_pts[f.pts]
        assert p.pts == f.pts and f.time == p.time
        assert np.array_equal(p.to_ndarray("gray"), ref[i].to_ndarray(format="gray"))  # off: as decoded
        got = f.to_ndarray("gray")
        if f.is_keyframe and i > 0:
            # The frame before is in the keyframe group before: bwdif starts afresh, as at the stream's start.
            want = deinterlace([ref[i], ref[i + 1]], 0).to_ndarray(format="gray")
        else:
            want = passed[i]
        assert np.array_equal(got, want), (name, t)
        assert combing(got) < 0.75 * combing(p.to_ndarray("gray")), (name, t)


def test_keyframes_alone_are_deinterlaced_too(pictures):
    path = pictures("mbaff.ts")
    with sf.open(path) as video:
        plain = video.frames_at([0.4, 1.6], frame_type="intra")
        frames = video.frames_at([0.4, 1.6], frame_type="intra", deinterlace="auto")
    for p, f in zip(plain, frames):
        assert f.is_keyframe and f.pts == p.pts
        assert combing(f.to_ndarray("gray")) < 0.75 * combing(p.to_ndarray("gray"))


def test_progressive_video_is_left_alone(pictures):
    path = pictures("progressive.ts")
    with sf.open(path, workers=1) as video:
        plain = video.frames_at([0.5, 1.3])
        decoded_plain = video.stats.frames_decoded
        auto = video.frames_at([0.5, 1.3], deinterlace="auto")
        assert video.stats.frames_decoded == 2 * decoded_plain  # no neighbours decoded for it
    for p, f in zip(plain, auto):
        assert np.array_equal(p.to_ndarray("gray"), f.to_ndarray("gray"))


def test_deinterlace_option_is_checked():
    with pytest.raises(InvalidParameter, match="deinterlace"):
        sf.FrameOptions(deinterlace="yadif")
    with pytest.raises(InvalidParameter, match="deinterlace"):
        SnapshotConfig(deinterlace=True)


def test_deinterlace_from_the_command_line(pictures, tmp_path):
    path = pictures("mbaff.ts")
    for flags, name in (([], "plain.jpg"), (["--deinterlace", "auto"], "auto.jpg")):
        subprocess.run(
            [
                sys.executable,
                "-m",
                "stillframe.cli",
                "snapshot",
                str(path),
                "--dots",
                "1.47",
                "-o",
                str(tmp_path / name),
                *flags,
            ],
            check=True,
            capture_output=True,
        )
    grey = {}
    for name in ("plain.jpg", "auto.jpg"):
        with av.open(str(tmp_path / name)) as c:
            grey[name] = next(c.decode(video=0)).to_ndarray(format="gray")
    assert combing(grey["auto.jpg"]) < 0.75 * combing(grey["plain.jpg"])


def test_deinterlace_in_a_job_config(pictures, tmp_path):
    mps = config_from({"Time": "1000", "Deinterlace": "auto"})
    ice = config_from({"Type": "Normal", "SpecifiedOffsetTime": "1000", "Deinterlace": "auto"})
    huawei = config_from({"type": "dots", "dots": [1], "deinterlace": "auto"})
    assert mps.deinterlace == ice.deinterlace == huawei.deinterlace == "auto"
    assert config_from({"Time": "1000"}).deinterlace is False
    assert SnapshotConfig.from_dict(mps.to_dict()) == mps
    assert mps.frame_options().deinterlace == "auto"
    with pytest.raises(InvalidParameter, match="Deinterlace"):
        config_from({"Time": "1000", "Deinterlace": "bob"})
