"""Frame: the picture as people pass it on (NumPy in the usual formats, Pillow,
JPEG), converted once from what the decoder gave."""

from __future__ import annotations

import av
import numpy as np
import pytest

import stillframe as sf
from stillframe import testsrc

X265 = "keyint=20:min-keyint=20:scenecut=0:bframes=2:log-level=error"


def decoded(path: str, pts: int) -> av.VideoFrame:
    """PyAV's own decode of the frame with this pts."""
    with av.open(path) as c:
        for f in c.decode(video=0):
            if f.pts == pts:
                return f
    raise AssertionError(f"no frame at pts {pts}")


@pytest.fixture(scope="module")
def odd(clips) -> str:
    return str(clips("odd-chroma-480x270.mp4", frames=60, size=(480, 270), gop=20, bframes=2))


@pytest.fixture(scope="module")
def ten_bit(clips) -> str:
    return str(
        clips(
            "ten-bit.mkv",
            frames=40,
            size=(256, 144),
            codec="libx265",
            pix_fmt="yuv420p10le",
            options={"x265-params": X265},
        )
    )


def test_yuv420p_of_an_odd_chroma_height(odd):
    with sf.open(odd) as video:
        f = video.frame_at(1.0)
    assert f.to_ndarray("yuv420p").shape == (270 * 3 // 2, 480)
    assert np.array_equal(f.to_ndarray("yuv420p"), decoded(odd, f.pts).to_ndarray(format="yuv420p"))
    assert testsrc.read_index(f.to_ndarray("gray")) == 30


@pytest.mark.parametrize("fmt", ["rgb24", "bgr24", "rgba", "gray", "yuv420p"])
def test_ten_bit_frames_convert_once_as_pyav_does(ten_bit, fmt):
    with sf.open(ten_bit) as video:
        f = video.frame_at(0.7)
    theirs = decoded(ten_bit, f.pts)
    assert theirs.format.name == "yuv420p10le"
    assert np.array_equal(f.to_ndarray(fmt), theirs.to_ndarray(format=fmt)), fmt


def test_formats_for_opencv_and_pillow(odd):
    with sf.open(odd) as video:
        f = video.frame_at(0.5)
    rgb = f.to_ndarray("rgb24")
    assert np.array_equal(f.to_ndarray("bgr24"), rgb[..., ::-1])
    rgba = f.to_ndarray("rgba")
    assert rgba.shape == (270, 480, 4) and (rgba[..., 3] == 255).all() and np.array_equal(rgba[..., :3], rgb)
    image = f.to_image()
    assert image.size == (480, 270) and image.mode == "RGB" and np.array_equal(np.asarray(image), rgb)
    with pytest.raises(sf.InvalidParameter, match="bgr24"):
        f.to_ndarray("hsv")


def test_turned_and_padded_frames_in_every_format(clips):
    path = str(clips("turned.mp4", frames=30, size=(256, 144), gop=10, bframes=0, rotation=90))
    with sf.open(path) as video:
        f = video.frame_at(0.5, aspect_ratio="16:9")
    for fmt in ("rgb24", "bgr24", "rgba", "gray"):
        assert f.to_ndarray(fmt).shape[:2] == (f.height, f.width)
    assert f.to_ndarray("yuv420p").shape == (f.height * 3 // 2, f.width)


def test_frame_at_and_a_closed_video(odd):
    video = sf.open(odd)
    with video:
        one = video.frame_at(1.25)
        assert one.time == video.frames_at([1.25])[0].time
    with pytest.raises(sf.InvalidParameter, match="closed"):
        video.frame_at(1.0)
    with pytest.raises(ValueError):  # the builtin catches it too
        video.frames_at([1.0])


def test_next_past_the_last_frame_says_it_is_the_last(odd):
    with sf.open(odd) as video:
        last_time = max(video.frame_times(0.0, video.info.duration))
        between = (last_time + video.info.duration) / 2
        f = video.frame_at(between, snap="next")
        assert f.rule == "last" and f.time == pytest.approx(last_time) and f.time < between
        assert video.frame_at(last_time, snap="next").rule == "next"


# ---- numbers people read -----------------------------------------------------------------------


def test_json_and_reprs_say_times_to_the_microsecond(clips, tmp_path):
    import json
    import re

    path = str(clips("ntsc.mp4", frames=300, size=(128, 72), fps=30000 / 1001, gop=30, bframes=2))
    result = sf.snapshot(path, sf.Interval(1.001), tmp_path / "{Count}.jpg")
    text = json.dumps(result.to_dict())
    assert not re.findall(r"\d\.\d{7,}", text), re.findall(r"\d\.\d{7,}", text)[:3]
    assert json.loads(text)["frames"][8]["time"] == 8.008
    assert not re.findall(r"\d\.\d{7,}", json.dumps(sf.probe(path).to_dict()))
    with sf.open(path) as video:
        assert "time=8.008," in repr(video.frame_at(8.01))


def test_stats_have_one_form(clips, tmp_path):
    path = str(clips("files.mp4", frames=90, size=(256, 144), gop=30, bframes=2))
    result = sf.snapshot(path, [0.5, 2.0], tmp_path / "{Count}.jpg")
    with sf.open(path) as video:
        video.frames_at([0.5])
        assert type(result.stats) is type(video.stats)
    assert result.stats["frames_decoded"] == result.stats.frames_decoded > 0
    assert result.stats.get("nope") is None and result.to_dict()["stats"]["index"] == "container"


def test_codec_and_decoder_are_named_apart():
    from .conftest import media

    info = sf.probe(media("av1_video.mkv"))
    assert (info.codec, info.decoder) == ("av1", "libdav1d")
    with sf.open(media("av1_video.mkv")) as video:
        assert video.decoding.decoder == "libdav1d"
