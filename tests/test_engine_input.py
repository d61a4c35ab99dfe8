"""Sources, bad input, truncated files and timeouts."""

from __future__ import annotations

import io
import math
import time

import av
import numpy as np
import pytest

import stillframe as sf
from stillframe import testsrc
from stillframe.errors import InvalidParameter, ResourceContentBad, ResourceNotFound, SnapshotTimeOut


@pytest.fixture(scope="module")
def small(clips):
    return clips("small.mp4", frames=90, size=(256, 144), gop=30, bframes=2)


def test_sources_path_str_fileobj(small):
    by_path = sf.probe(small)
    assert sf.probe(str(small)) == by_path
    assert sf.probe(f"file://{small}") == by_path
    with open(small, "rb") as f:
        with sf.open(f) as video:
            assert video.workers == 1  # one file object, one reader
            frames = video.frames_at([0.5, 2.0])
    assert [testsrc.read_index(x.to_ndarray("gray")) for x in frames] == [15, 60]
    data = io.BytesIO(small.read_bytes())
    assert sf.probe(data).frame_count == 90


def test_missing_file(tmp_path):
    with pytest.raises(ResourceNotFound, match="no such file"):
        sf.probe(tmp_path / "nope.mp4")
    with pytest.raises(FileNotFoundError):  # the builtin catches it too
        sf.snapshot(tmp_path / "nope.mp4", [0.0], tmp_path / "x.jpg")


def test_empty_and_non_video_files(tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(ResourceContentBad, match="empty"):
        sf.probe(empty)
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 100)
    with pytest.raises(ResourceContentBad):
        sf.probe(text)
    with pytest.raises(ResourceContentBad, match="directory"):
        sf.probe(tmp_path)


def test_audio_only_file(tmp_path):
    path = tmp_path / "tone.wav"
    with av.open(str(path), "w") as out:
        s = out.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        for p in s.encode(frame):
            out.mux(p)
        for p in s.encode():
            out.mux(p)
    with pytest.raises(ResourceContentBad, match="no video stream"):
        sf.probe(path)


@pytest.mark.parametrize("bad", [-1.0, math.nan, math.inf, 3.0, 99.0, "x"])
def test_bad_times(small, bad):
    with sf.open(small) as video:
        with pytest.raises(InvalidParameter):
            video.frames_at([0.5, bad])


def test_bad_options(small):
    with sf.open(small) as video:
        with pytest.raises(InvalidParameter, match="frame_type"):
            video.frames_at([0.0], frame_type="key")
        with pytest.raises(InvalidParameter, match="snap"):
            video.frames_at([0.0], snap="nearest")
        with pytest.raises(InvalidParameter, match="tolerance"):
            video.frames_at([0.0], tolerance=-1)
        with pytest.raises(InvalidParameter, match="width"):
            video.frames_at([0.0], width=0)
        with pytest.raises(InvalidParameter, match="aspect_ratio"):
            video.frames_at([0.0], aspect_ratio="4:3")
    with pytest.raises(InvalidParameter, match="stream 5"):
        sf.open(small, stream=5)


def truncate(path, out, fraction=0.7):
    data = path.read_bytes()
    out.write_bytes(data[: int(len(data) * fraction)])
    return out


def test_truncated_stream_gives_what_is_there(clips, tmp_path):
    ts = clips("cut.ts", frames=150, size=(256, 144), gop=30, bframes=2)
    cut = truncate(ts, tmp_path / "cut.ts")
    info = sf.probe(cut)
    assert 2.0 < info.duration < 4.0  # 70% of 5 s
    with sf.open(cut) as video:
        early = video.frames_at([0.5, 2.0])
        assert [testsrc.read_index(f.to_ndarray("gray")) for f in early] == [15, 60]
        with pytest.raises(InvalidParameter, match="past the end"):
            video.frames_at([4.5])
    result = sf.snapshot(cut, sf.Interval(1.0), tmp_path / "out/{Count}.jpg")
    assert result.count == math.ceil(info.duration)  # the rest are reported, not invented
    assert result.count == len(list((tmp_path / "out").glob("*.jpg")))


def test_truncated_mp4_with_index_first(clips, tmp_path):
    mp4 = clips(
        "faststart.mp4", frames=150, size=(256, 144), gop=30, bframes=2, container_options={"movflags": "+faststart"}
    )
    cut = truncate(mp4, tmp_path / "cut.mp4")
    started = time.monotonic()
    info = sf.probe(cut)
    assert info.truncated and info.header_duration == pytest.approx(5.0, abs=0.05)
    with sf.open(cut) as video:
        assert testsrc.read_index(video.frames_at([1.0])[0].to_ndarray("gray")) == 30
        with pytest.raises(ResourceContentBad, match="cut off"):
            video.frames_at([4.5])
    result = sf.snapshot(cut, sf.Interval(1.0, count=5), tmp_path / "o/{Count}.jpg")
    assert result.count < 5
    assert result.dropped == 5 - result.count
    assert "cut off" in result.reason
    assert time.monotonic() - started < 30


def test_timeout(clips, tmp_path):
    path = clips("long.mp4", frames=300, size=(256, 144), gop=300, bframes=2)
    with pytest.raises(SnapshotTimeOut):
        sf.snapshot(path, sf.Interval(0.5), tmp_path / "{Count}.jpg", timeout=1e-6)
    with pytest.raises(TimeoutError):
        sf.snapshot(path, [9.9], tmp_path / "one.jpg", timeout=1e-6)
