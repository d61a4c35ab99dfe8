"""The native JPEG encoder: sizes, colours, layouts, threads, the GIL, bad input."""

from __future__ import annotations

import io
import sys
import threading
import time

import av
import numpy as np
import pytest
from PIL import Image

from stillframe import _native, testsrc
from stillframe.errors import InvalidParameter
from stillframe.jpeg import YUV420Planes, encode_jpeg, encode_jpegs, native_image

from .conftest import media


def decode(data: bytes) -> np.ndarray:
    img = Image.open(io.BytesIO(data))
    assert img.format == "JPEG"
    return np.asarray(img.convert("RGB") if img.mode != "L" else img)


def mad(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def smooth_rgb(height: int, width: int) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width]
    return np.stack(
        [
            xx * 255 // max(width - 1, 1),
            yy * 255 // max(height - 1, 1),
            (xx + yy) * 127 // max(width + height - 2, 1) + 64,
        ],
        axis=-1,
    ).astype(np.uint8)


def yuv_frame(rgb: np.ndarray, fmt: str = "yuv420p", colorspace: str | None = None) -> av.VideoFrame:
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
    kwargs = {"format": fmt}
    if colorspace:
        kwargs["dst_colorspace"] = colorspace
    out = frame.reformat(**kwargs)
    if colorspace == "itu709":
        out.colorspace = 1  # tag the frame with the matrix its samples use
    return out


# ---- colours -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "colorspace"),
    [("yuv420p", None), ("yuv420p", "itu709"), ("yuvj420p", None)],
    ids=["limited-bt601", "limited-bt709", "full-range"],
)
def test_colours_match_pyav_rgb(fmt, colorspace):
    frame = yuv_frame(smooth_rgb(270, 480), fmt, colorspace)
    reference = frame.to_ndarray(format="rgb24")
    out = decode(encode_jpeg(frame, quality=90))
    assert out.shape == (270, 480, 3)
    assert mad(out, reference) < 3


def test_limited_range_is_expanded_not_passed_through():
    # Video black (16) and white (235) must come out as JPEG black and white.
    y = np.full((64, 64), 16, np.uint8)
    y[:, 32:] = 235
    c = np.full((32, 32), 128, np.uint8)
    out = decode(encode_jpeg(YUV420Planes(y, c, c), quality=95))
    assert out[:, :24].mean() < 3
    assert out[:, 40:].mean() > 252
    full = decode(encode_jpeg(YUV420Planes(y, c, c, full_range=True), quality=95))
    assert abs(full[:, :24].mean() - 16) < 3  # full range passes through


@pytest.mark.parametrize("name", ["nasa_13013.mp4", "bt709_full_range.mp4", "av1_video.mkv", "h265_video.mp4"])
def test_real_media_colours(name):
    with av.open(str(media(name))) as container:
        frame = next(container.decode(container.streams.video[-1 if name.startswith("nasa") else 0]))
        reference = frame.to_ndarray(format="rgb24")
        assert mad(decode(encode_jpeg(frame, quality=90)), reference) < 3


def test_ten_bit_frames_are_converted(clips):
    path = clips("ten.mkv", frames=3, size=(320, 240), codec="libx265", pix_fmt="yuv420p10le")
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
    assert frame.format.name == "yuv420p10le"
    out = decode(encode_jpeg(frame, quality=90))
    assert mad(out, frame.to_ndarray(format="rgb24")) < 3
    assert testsrc.read_index(out) == 0


def test_ten_bit_arrays_are_refused_with_a_hint():
    y = np.zeros((16, 16), np.uint16)
    with pytest.raises(InvalidParameter, match="10/16-bit"):
        encode_jpeg(y)
    with pytest.raises(InvalidParameter, match="uint8"):
        encode_jpeg(YUV420Planes(y, y[:8, :8], y[:8, :8]))


def test_rgb_and_gray_inputs():
    rgb = smooth_rgb(101, 203)
    for sub in ("4:4:4", "4:2:2", "4:2:0"):
        out = decode(encode_jpeg(rgb, quality=92, subsampling=sub))
        assert out.shape == rgb.shape
        assert mad(out, rgb) < 3
    gray = rgb[..., 1].copy()
    img = Image.open(io.BytesIO(encode_jpeg(gray, quality=92)))
    assert img.mode == "L"
    assert mad(np.asarray(img), gray) < 3


def test_four_four_four_sampling_is_recorded_in_the_file():
    data = encode_jpeg(smooth_rgb(32, 32), subsampling="4:4:4")
    from PIL import JpegImagePlugin

    assert JpegImagePlugin.get_sampling(Image.open(io.BytesIO(data))) == 0  # 4:4:4
    data = encode_jpeg(yuv_frame(smooth_rgb(32, 32)))
    assert JpegImagePlugin.get_sampling(Image.open(io.BytesIO(data))) == 2  # 4:2:0


# ---- sizes and layouts ---------------------------------------------------------------


@pytest.mark.parametrize(("h", "w"), [(1, 1), (2, 2), (3, 5), (9, 17), (15, 31), (271, 481), (33, 1000)])
def test_any_size(h, w):
    rgb = smooth_rgb(h, w)
    y = np.full((h, w), 120, np.uint8)
    c = np.full(((h + 1) // 2, (w + 1) // 2), 128, np.uint8)
    for image in (rgb, rgb[..., 0].copy(), YUV420Planes(y, c, c)):
        out = decode(encode_jpeg(image))
        assert out.shape[:2] == (h, w)


def test_odd_sizes_keep_their_edges():
    # The last row and column must not be smeared by padding garbage.
    h, w = 37, 53
    y = np.full((h, 64), 255, np.uint8)  # the padding columns are white...
    y[:, :w] = 30  # ...the picture is dark
    c = np.full(((h + 1) // 2, 32), 128, np.uint8)
    out = decode(encode_jpeg(YUV420Planes(y, c, c, full_range=True, width=w, height=h), quality=95))
    assert out.shape == (h, w, 3)
    assert abs(out[:, -1].mean() - 30) < 4
    assert abs(out[-1].mean() - 30) < 4


def test_padded_strides_of_real_frames_are_read_in_place(clips):
    path = clips("odd.mp4", frames=2, size=(250, 140))
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
    assert frame.planes[0].line_size > frame.width  # FFmpeg pads its rows
    image = _native.Image.yuv420(
        np.frombuffer(frame.planes[0], np.uint8).reshape(140, -1),
        np.frombuffer(frame.planes[1], np.uint8).reshape(70, -1),
        np.frombuffer(frame.planes[2], np.uint8).reshape(70, -1),
        250,
        140,
    )
    assert encode_jpeg(image) == encode_jpeg(frame)
    out = decode(encode_jpeg(frame, quality=90))
    assert out.shape == (140, 250, 3)
    assert mad(out, frame.to_ndarray(format="rgb24")) < 3
    assert testsrc.read_index(out) == 0


def test_strided_numpy_views_match_copies():
    rgb = smooth_rgb(64, 96)
    wide = np.zeros((64, 128, 3), np.uint8)
    wide[:, :96] = rgb
    assert encode_jpeg(wide[:, :96]) == encode_jpeg(rgb)


def test_other_pixel_formats_are_converted():
    rgb = smooth_rgb(64, 96)
    for fmt in ("nv12", "yuv422p", "yuv444p", "bgr24", "rgba"):
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format=fmt)
        assert mad(decode(encode_jpeg(frame, quality=92)), frame.to_ndarray(format="rgb24")) < 3


# ---- options, threads, batches ---------------------------------------------------------


def test_quality_and_optimise_change_the_size():
    frame = yuv_frame(smooth_rgb(270, 480))
    sizes = [len(encode_jpeg(frame, quality=q)) for q in (10, 50, 95)]
    assert sizes == sorted(sizes)
    assert len(encode_jpeg(frame, optimize=True)) < len(encode_jpeg(frame))


def test_batch_equals_single_calls_and_ignores_thread_count():
    frames = [yuv_frame(smooth_rgb(90 + i, 160 + 3 * i)) for i in range(12)]
    singles = [encode_jpeg(f) for f in frames]
    for threads in (0, 1, 2, 3, 8):
        assert encode_jpegs(frames, threads=threads) == singles
    assert encode_jpegs([]) == []


def test_mixed_inputs_in_one_batch():
    rgb = smooth_rgb(40, 60)
    out = encode_jpegs([rgb, rgb[..., 0].copy(), yuv_frame(rgb)], quality=90)
    assert [decode(d).shape for d in out] == [(40, 60, 3), (40, 60), (40, 60, 3)]


def test_the_gil_is_released_during_a_batch():
    imgs = [native_image(yuv_frame(smooth_rgb(1080, 1920)))] * 8
    ticks = 0
    go, done = threading.Event(), threading.Event()

    def count():
        nonlocal ticks
        go.wait()
        while not done.is_set():
            ticks += 1
            time.sleep(0.001)  # sleeping lets the GIL go, so the batch can take it back

    # With a switch interval this long the interpreter never takes the GIL from this
    # thread: the counter runs only where the native batch lets it go itself.
    interval = sys.getswitchinterval()
    counter = threading.Thread(target=count)
    counter.start()
    sys.setswitchinterval(1000.0)
    try:
        go.set()
        out = _native.encode_batch(imgs, 85, 420, False, 1, None)
        during = ticks
    finally:
        done.set()
        sys.setswitchinterval(interval)
        counter.join()
    assert len(out) == len(imgs)
    assert during > 0  # had the batch held the GIL throughout, the counter could not have ticked once


# ---- bad input -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "match"),
    [
        (np.zeros((4, 4, 4), np.uint8), "H x W x 3"),
        (np.zeros((4,), np.uint8), "H x W"),
        (np.zeros((4, 4), np.float32), "uint8"),
        (np.zeros((4, 8, 3), np.uint8)[:, ::2], "packed pixels"),
        (np.zeros((4, 8), np.uint8)[:, ::2], "contiguous rows"),
        (np.zeros((0, 4), np.uint8), "outside 1..65500"),
        (np.zeros((4, 70000), np.uint8), "outside 1..65500"),
        ("a string", "cannot encode a str"),
    ],
)
def test_bad_arrays_raise_invalid_parameter(image, match):
    with pytest.raises(InvalidParameter, match=match):
        encode_jpeg(image)


def test_bad_planes_and_options():
    y = np.zeros((16, 16), np.uint8)
    c = np.zeros((8, 8), np.uint8)
    with pytest.raises(InvalidParameter, match="U plane is 4x4"):
        encode_jpeg(YUV420Planes(y, c[:4, :4], c))
    with pytest.raises(InvalidParameter, match="Y plane is 16x16"):
        encode_jpeg(YUV420Planes(y, c, c, width=32))
    with pytest.raises(InvalidParameter, match="matrix"):
        encode_jpeg(YUV420Planes(y, c, c, matrix="bt999"))
    with pytest.raises(InvalidParameter, match="quality"):
        encode_jpeg(y, quality=0)
    with pytest.raises(InvalidParameter, match="quality"):
        encode_jpegs([y], quality=101)
    with pytest.raises(InvalidParameter, match="subsampling"):
        encode_jpeg(y, subsampling="4:1:1")
    with pytest.raises(InvalidParameter, match="4:2:0 planes"):
        encode_jpeg(YUV420Planes(y, c, c), subsampling="4:4:4")
    with pytest.raises(InvalidParameter, match="threads"):
        encode_jpegs([y], threads=-1)
    with pytest.raises(InvalidParameter, match="item 1"):
        _native.encode_batch([_native.Image.gray8(y), object()])
