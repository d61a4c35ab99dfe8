"""Synthetic test videos: a moving colour pattern with each frame's index written
as a barcode, so any decoded frame can say which frame it is.

Used by the demo, the tests and the benchmarks; handy for anyone checking which
frame a tool really returned.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

__all__ = ["BARCODE_BITS", "black_frame", "make_video", "pattern_frame", "pattern_yuv420", "read_index", "repeat"]

BARCODE_BITS = 16
_LO, _HI = 16, 235  # video-range black and white


def _band_height(height: int) -> int:
    return max(8, height // 6) & ~1


@functools.lru_cache(maxsize=8)
def _grids(width: int, height: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:height, 0:width]
    diag = (xx + yy).astype(np.int32)
    cells = (np.arange(width) * BARCODE_BITS) // width
    return diag, cells, np.arange(width // 2)[None, :], np.arange(height // 2)[:, None]


def pattern_yuv420(index: int, width: int, height: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frame `index` as 8-bit Y, U, V planes in video range. The top band is the
    index as BARCODE_BITS black/white cells."""
    if width % 2 or height % 2:
        raise ValueError("width and height must be even for yuv420p")
    band = _band_height(height)
    diag, cells, cx, cy = _grids(width, height)
    # A diagonal ramp that slides with time, smooth enough to compress like video.
    y = ((diag + 3 * index) % 200 + _LO).astype(np.uint8)
    bits = (index >> (BARCODE_BITS - 1 - cells)) & 1
    y[:band] = np.where(bits, _HI, _LO).astype(np.uint8)[None, :]
    ch, cw = height // 2, width // 2
    u = np.broadcast_to((128 + 60 * np.sin((cx + index) / 23.0)).astype(np.uint8), (ch, cw)).copy()
    v = np.broadcast_to((128 + 60 * np.cos((cy - index) / 17.0)).astype(np.uint8), (ch, cw)).copy()
    u[: band // 2] = 128
    v[: band // 2] = 128
    return y, u, v


def pattern_frame(index: int, width: int, height: int) -> av.VideoFrame:
    """pattern_yuv420 as a PyAV yuv420p frame (rows padded as FFmpeg lays them out)."""
    frame = av.VideoFrame(width, height, "yuv420p")
    for plane, data in zip(frame.planes, pattern_yuv420(index, width, height)):
        padded = np.zeros((data.shape[0], plane.line_size), np.uint8)
        padded[:, : data.shape[1]] = data
        plane.update(padded.tobytes()[: plane.buffer_size])
    return frame


def black_frame(width: int, height: int) -> av.VideoFrame:
    """A video-range black yuv420p frame."""
    frame = av.VideoFrame(width, height, "yuv420p")
    for plane, value in zip(frame.planes, (_LO, 128, 128)):
        plane.update(bytes([value]) * plane.buffer_size)
    return frame


def read_index(frame: av.VideoFrame | np.ndarray) -> int:
    """The index written by pattern_yuv420, read from a decoded frame (any size,
    any pixel format) or from its luma / RGB array."""
    if isinstance(frame, av.VideoFrame):
        luma = frame.to_ndarray(format="gray")
    else:
        arr = np.asarray(frame)
        luma = arr.mean(axis=2) if arr.ndim == 3 else arr
    height, width = luma.shape[:2]
    band = _band_height(height)
    row = luma[band // 4 : band - band // 4].mean(axis=0)
    centres = ((np.arange(BARCODE_BITS) + 0.5) * width / BARCODE_BITS).astype(int)
    value = 0
    for c in centres:
        value = (value << 1) | int(row[c] > (_LO + _HI) / 2)
    return value


def _frame_rates(fps: float | Sequence[tuple[float, int]]) -> Iterator[Fraction]:
    """Per-frame durations: a constant rate, or (rate, frame count) segments (VFR)."""
    if isinstance(fps, (int, float, Fraction)):
        step = 1 / Fraction(fps).limit_denominator(1001)
        while True:
            yield step
    for rate, count in fps:
        step = 1 / Fraction(rate).limit_denominator(1001)
        for _ in range(count):
            yield step


def make_video(
    path: str | os.PathLike[str],
    *,
    frames: int,
    size: tuple[int, int] = (320, 240),
    fps: float | Sequence[tuple[float, int]] = 30,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    gop: int | None = None,
    bframes: int | None = None,
    options: dict[str, str] | None = None,
    container_options: dict[str, str] | None = None,
    format: str | None = None,
    start: float = 0.0,
    rotation: int | None = None,
    black_frames: int = 0,
    grain: bool = False,
) -> Path:
    """Encode `frames` pattern frames to `path` and return it.

    `fps` is a rate, or a list of (rate, frames) segments for variable frame rate.
    `gop` is the keyframe interval, `bframes` the B-frame count; `options` go to the
    encoder, `container_options` to the muxer; `start` offsets every timestamp (seconds);
    `rotation` stores a display matrix (counter-clockwise degrees, PyAV's convention);
    the first `black_frames` frames are video black (a fade-in, for cover tests);
    `grain` fills the picture below the barcode with noise, so the clip has a
    camera's bitrate rather than a cartoon's. Written to a temporary name first.
    (Long for its options alone.)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    width, height = size
    tmp = path.with_name(f".{path.stem}.part{path.suffix}")
    durations = _frame_rates(fps)
    first = next(_frame_rates(fps))
    # A fine time base keeps VFR timestamps exact.
    time_base = Fraction(1, 90000)
    with av.open(str(tmp), "w", format=format or _format_for(path), options=container_options or {}) as out:
        stream = out.add_stream(codec, rate=Fraction(1, 1) / first)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        stream.time_base = time_base
        if not isinstance(fps, (int, float, Fraction)):
            # Variable rate: the encoder must see the fine time base, not 1/first rate.
            stream.codec_context.time_base = time_base
        opts = dict(options or {})
        if gop is not None:
            stream.codec_context.gop_size = gop
            if codec == "libx264":
                opts.setdefault("x264-params", f"keyint={gop}:min-keyint={gop}:scenecut=0")
            elif codec == "libx265":
                opts.setdefault("x265-params", f"keyint={gop}:min-keyint={gop}:scenecut=0:log-level=error")
        if bframes is not None:
            stream.codec_context.max_b_frames = bframes
        if codec == "libx265":
            opts.setdefault("x265-params", "log-level=error")
        if codec in ("libx264", "libx265"):
            opts.setdefault("preset", "veryfast")
        stream.codec_context.options = opts
        if rotation:
            stream.set_display_rotation(rotation)
        pts = Fraction(start).limit_denominator(90000)
        rng = np.random.default_rng(0)
        for i in range(frames):
            frame = black_frame(width, height) if i < black_frames else pattern_frame(i, width, height)
            if grain:
                yuv = frame.to_ndarray(format="yuv420p")
                band = _band_height(height)
                yuv[band:height] = rng.integers(_LO, _HI, size=(height - band, width), dtype=np.uint8)
                frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
            if pix_fmt != "yuv420p":
                frame = frame.reformat(format=pix_fmt)
            frame.pts = int(pts / time_base)
            frame.time_base = time_base
            pts += next(durations)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    os.replace(tmp, path)
    return path


def repeat(source: str | os.PathLike[str], path: str | os.PathLike[str], copies: int) -> Path:
    """`copies` of `source` one after another by stream copy (no re-encoding, so a
    10-hour file takes seconds a gigabyte), faststart for MP4: how long test
    files are made. Frame i of the result shows frame i % n of the source."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.part{path.suffix}")
    options = {"movflags": "+faststart"} if path.suffix.lower() in (".mp4", ".mov") else {}
    with av.open(os.fspath(source)) as src:
        ins = src.streams.video[0]
        packets = [p for p in src.demux(ins) if p.size and p.dts is not None]
        span = max(p.pts + (p.duration or 0) for p in packets) - min(p.pts for p in packets)
        with av.open(str(tmp), "w", format=_format_for(path), options=options) as out:
            outs = out.add_stream_from_template(ins)
            for copy in range(copies):
                for p in packets:
                    q = av.Packet(p)
                    q.pts, q.dts, q.duration = p.pts + copy * span, p.dts + copy * span, p.duration
                    q.is_keyframe, q.time_base, q.stream = p.is_keyframe, p.time_base, outs
                    out.mux(q)
    os.replace(tmp, path)
    return path


def _format_for(path: Path) -> str | None:
    return {".ts": "mpegts", ".mkv": "matroska", ".webm": "webm", ".flv": "flv"}.get(path.suffix.lower())
