"""JPEG encoding of decoded video frames: stillframe's native batch encoder against
simplejpeg (YUV planes and RGB) and Pillow, same quality, same frames.

    python -m pytest benchmarks/bench_jpeg.py --benchmark-json=jpeg.json
    python -m benchmarks.table jpeg.json

The peers get their preferred input prepared outside the timed loop (planes sliced,
RGB converted), so the figures compare encoders, not conversions. stillframe's input
is the PyAV frame itself, and it also maps video-range colours to JPEG's full-range
BT.601, which simplejpeg's YUV path does not do (its JPEGs come out washed out, and
smaller). simplejpeg-yuv-mapped gives simplejpeg planes swscale has already mapped so,
outside the timed loop: then both write nearly the same JPEGs, the same work.

The generated clip leaves its matrix unset (BT.601: the range mapping alone); the
"BT.709" group tags the same 1080p frames BT.709, as HD video is, where luma also takes a
chroma term.
"""

from __future__ import annotations

import io

import numpy as np
import pytest

from stillframe.jpeg import YUV420Planes, encode_jpegs, native_image

QUALITY = 85
simplejpeg = pytest.importorskip("simplejpeg")
Image = pytest.importorskip("PIL.Image")


def planes(frame):
    h, w = frame.height, frame.width
    ch, cw = (h + 1) // 2, (w + 1) // 2
    return tuple(
        np.frombuffer(p, np.uint8).reshape(rows, p.line_size)[:rows, :cols]
        for p, rows, cols in zip(frame.planes, (h, ch, ch), (w, cw, cw))
    )


def pillow_encode(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=QUALITY)
    return buf.getvalue()


TOOLS = [
    "stillframe-1-thread",
    "stillframe-2-threads",
    "simplejpeg-yuv",
    "simplejpeg-yuv-mapped",
    "simplejpeg-rgb",
    "pillow-rgb",
]


def jpeg_colours(frame, matrix="bt601"):
    """The frame in JPEG's full-range BT.601, as stillframe maps it."""
    return frame.reformat(
        format="yuv420p",
        src_colorspace="ITU709" if matrix == "bt709" else "ITU601",
        dst_colorspace="ITU601",
        src_color_range="MPEG",
        dst_color_range="JPEG",
    )


def run(benchmark, frames, tool, matrix="bt601"):
    if tool.startswith("stillframe"):
        if matrix == "bt601":
            images = [native_image(f) for f in frames]
        else:
            images = [native_image(YUV420Planes(*planes(f), matrix=matrix)) for f in frames]
        threads = 1 if tool.endswith("1-thread") else 2
        out = benchmark(encode_jpegs, images, quality=QUALITY, threads=threads)
    elif tool.startswith("simplejpeg-yuv"):
        yuv = [planes(jpeg_colours(f, matrix) if tool.endswith("mapped") else f) for f in frames]
        out = benchmark(lambda: [simplejpeg.encode_jpeg_yuv_planes(*p, quality=QUALITY) for p in yuv])
    else:
        rgb = [f.to_ndarray(format="rgb24") for f in frames]
        if tool == "simplejpeg-rgb":
            out = benchmark(lambda: [simplejpeg.encode_jpeg(a, quality=QUALITY, colorsubsampling="420") for a in rgb])
        else:
            out = benchmark(lambda: [pillow_encode(a) for a in rgb])
    assert len(out) == len(frames)
    benchmark.extra_info.update(frames=len(frames), bytes=sum(len(b) for b in out))


@pytest.mark.parametrize("tool", TOOLS)
def test_encode_200_frames_480x270(benchmark, frames_270p, tool):
    benchmark.group = "200 frames 480x270"
    run(benchmark, frames_270p, tool)


@pytest.mark.parametrize("tool", TOOLS)
def test_encode_50_frames_1920x1080(benchmark, frames_1080p, tool):
    benchmark.group = "50 frames 1920x1080"
    run(benchmark, frames_1080p, tool)


@pytest.mark.parametrize("tool", [t for t in TOOLS if "yuv" in t or t.startswith("stillframe")])
def test_encode_50_frames_1920x1080_bt709(benchmark, frames_1080p, tool):
    benchmark.group = "50 frames 1920x1080 BT.709"
    run(benchmark, frames_1080p, tool, matrix="bt709")
