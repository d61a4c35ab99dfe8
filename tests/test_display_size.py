"""Display size: anamorphic pictures come out at their display size (stored size
times the sample aspect ratio, then turned) in probe, in frames and in the sizes
asked for, the stored size still said; a picture that changes size mid-stream
keeps each frame's own size and aspect, and sprite cells letterbox it."""

from __future__ import annotations

import json
import subprocess
import sys

import av
import numpy as np
import pytest

import stillframe as sf
from stillframe.sprites import Sprite

from .picture_media import decoded, make


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    root = tmp_path_factory.mktemp("pictures")
    return lambda name: make(root, name)


def scaled_reference(frame: av.VideoFrame, w: int, h: int) -> np.ndarray:
    """The decoded frame stretched to `w` x `h` as swscale does it (grey)."""
    return frame.reformat(width=w, height=h, format="yuv420p", interpolation="BICUBIC").to_ndarray(format="gray")


def close(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and float(np.abs(a.astype(int) - b.astype(int)).mean()) < 1.0


@pytest.mark.parametrize(
    "name,display,stored,sar",
    [("pal.ts", (768, 576), (720, 576), "16:15"), ("ntsc.mp4", (720, 540), (720, 480), "8:9")],
)
def test_probe_gives_the_display_size_and_keeps_the_stored_one(pictures, name, display, stored, sar):
    info = sf.probe(pictures(name))
    assert (info.width, info.height) == display
    assert (info.coded_width, info.coded_height) == stored
    assert info.sample_aspect_ratio == sar
    out = subprocess.run(
        [sys.executable, "-m", "stillframe.cli", "probe", str(pictures(name))],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    said = json.loads(out)
    assert (said["width"], said["height"], said["sample_aspect_ratio"]) == (*display, sar)


@pytest.mark.parametrize("index", ["auto", "scan"])
@pytest.mark.parametrize("name,display", [("pal.ts", (768, 576)), ("ntsc.mp4", (720, 540))])
def test_anamorphic_frames_come_out_at_the_display_size(pictures, name, display, index):
    path = pictures(name)
    ref = decoded(path)
    with sf.open(path, index=index) as video:
        start = ref[0].pts
        for f in video.frames_at([0.0, 0.7, 1.5]):
            assert (f.width, f.height) == display
            want = next(r for r in ref if r.pts == f.pts or r.pts - start == f.pts - start)
            assert close(f.to_ndarray("gray"), scaled_reference(want, *display))
        # width/height/max_length are display pixels: the picture keeps its shape on screen.
        w, h = display
        f = video.frame_at(0.5, width=w // 2)
        assert (f.width, f.height) == (w // 2, h // 2)
        f = video.frame_at(0.5, height=144)
        assert (f.width, f.height) == (192, 144)  # 4:3 on screen, both
        f = video.frame_at(0.5, max_length=384)
        assert max(f.width, f.height) == 384 and abs(f.width / f.height - w / h) < 0.02


def test_turned_anamorphic_picture_is_stretched_then_turned(pictures):
    path = pictures("turned.mp4")
    info = sf.probe(path)
    assert (info.coded_width, info.coded_height, info.rotation) == (240, 120, 90)
    assert (info.width, info.height) == (120, 320)  # 240 x 4/3 = 320 wide, then a quarter turn
    with sf.open(path) as video:
        f = video.frame_at(1.0)
        assert (f.width, f.height) == (120, 320)
        assert f.to_ndarray("rgb24").shape == (320, 120, 3)


def test_anamorphic_snapshot_jpeg_is_the_display_size(pictures, tmp_path):
    result = sf.snapshot(pictures("pal.ts"), [0.5], tmp_path / "pal.jpg")
    with av.open(result.files[0]) as c:
        frame = next(c.decode(video=0))
    assert (frame.width, frame.height) == (768, 576)


# ---- a picture that changes size mid-stream ------------------------------------------------


def test_probe_says_the_size_changes(pictures):
    info = sf.probe(pictures("sizes.ts"))
    assert (info.width, info.height) == (320, 240) and info.size_changes
    assert not sf.probe(pictures("progressive.ts")).size_changes


@pytest.mark.parametrize("workers", [None, 1])
def test_each_frame_keeps_its_own_size(pictures, workers):
    path = pictures("sizes.ts")
    ref = decoded(path)
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        start, tb = s.start_time, float(s.time_base)
    with sf.open(path, workers=workers) as video:
        times = [0.3, 1.5, 1.95, 2.3, 3.5]
        for t, f in zip(times, video.frames_at(times)):
            want = next(r for r in ref if r.pts == f.pts)
            assert (f.width, f.height) == (want.width, want.height), t
            assert np.array_equal(f.to_ndarray("gray"), want.to_ndarray(format="gray")), t
            assert f.time == pytest.approx((want.pts - start) * tb)
        assert {(f.width, f.height) for f in video.frames_at(times)} == {(320, 240), (480, 272)}
        # A width asked for: each frame keeps its own aspect.
        sized = video.frames_at([0.5, 3.5], width=160)
        assert [(f.width, f.height) for f in sized] == [(160, 120), (160, 90)]
        padded = video.frames_at([0.5, 3.5], width=320, aspect_ratio="16:9")
        assert [(f.width, f.height) for f in padded] == [(426, 240), (324, 182)]  # each padded to 16:9


def test_sprite_cells_letterbox_a_frame_of_another_shape(pictures, tmp_path):
    path = pictures("sizes.ts")
    result = sf.snapshot(
        path,
        [0.5, 3.5],
        tmp_path / "s-{Count}.jpg",
        sprite=Sprite(columns=2, lines=1),
        sprite_output=tmp_path / "sheet.jpg",
    )
    with av.open(result.files[1]) as c:
        second = next(c.decode(video=0))
    assert (second.width, second.height) == (480, 272)  # the single file: its own size
    with av.open(str(tmp_path / "sheet.jpg")) as c:
        sheet = next(c.decode(video=0)).to_ndarray(format="gray")
    assert sheet.shape == (240, 640)  # two cells of the run's 320x240
    cell = sheet[:, 320:]
    # 480x272 fitted into 320x240 is 320x182 (even sides), centred: black bars of 28 and 30 rows.
    assert cell[:24].max() < 24 and cell[-24:].max() < 24
    assert cell[40:200].mean() > 60
    first = sheet[:, :320]
    assert first[:24].mean() > 60  # the run's own shape fills its cell
