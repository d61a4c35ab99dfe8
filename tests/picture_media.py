"""Test media whose pictures are not plain square-pixel progressive frames, made
by the ffmpeg CLI and PyAV: anamorphic (PAL 16:15 MPEG-2 in TS, NTSC 8:9 H.264 in
MP4, a turned 4:3 one), a TS whose picture changes size mid-stream, and
interlaced H.264 (MBAFF) and MPEG-2 in TS and MP4. `decoded` is the reference: a
plain decode of every frame."""

from __future__ import annotations

from pathlib import Path

import av

from stillframe import testsrc

from .streams_media import ffmpeg


def lavfi(size: str, seconds: float, rate: int = 25) -> list[str]:
    return ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}", "-t", str(seconds)]


# Interlaced: two fields of a 50 Hz source woven into each 25 Hz frame, top first.
WEAVE = ["-vf", "tinterlace=mode=interleave_top,setfield=tff"]


def make(root: Path, name: str) -> Path:
    """name: "pal.ts", "ntsc.mp4", "turned.mp4", "sizes.ts", "mbaff.ts", "mpeg2i.ts",
    "mbaff.mp4", "progressive.ts"."""
    path = root / name
    if path.exists():
        return path
    if name == "pal.ts":  # 720x576 at 16:15: a 4:3 PAL picture, 768x576 on screen
        ffmpeg(*lavfi("720x576", 2), "-c:v", "mpeg2video", "-g", "12", "-bf", "2", "-aspect", "4:3", str(path))
    elif name == "ntsc.mp4":  # 720x480 at 8:9 (4:3 NTSC): 720x540 on screen
        ffmpeg(*lavfi("720x480", 2, 30), "-c:v", "libx264", "-g", "30", "-bf", "2", "-aspect", "4:3", str(path))
    elif name == "turned.mp4":  # 240x120 stored at 4:3 pixels (320x120), turned a quarter
        testsrc.make_video(
            path,
            frames=60,
            size=(240, 120),
            gop=20,
            bframes=2,
            rotation=90,
            options={"x264-params": "keyint=20:min-keyint=20:scenecut=0:sar=4/3"},
        )
    elif name == "sizes.ts":  # 320x240 for 2 s, then 480x272 (a new keyframe and SPS)
        first, second = root / "sizes-a.ts", root / "sizes-b.ts"
        common = ["-c:v", "libx264", "-g", "25", "-bf", "2", "-muxdelay", "0", "-muxpreload", "0"]
        ffmpeg(*lavfi("320x240", 2), *common, str(first))
        ffmpeg(*lavfi("480x272", 2), *common, "-output_ts_offset", "2", str(second))
        path.write_bytes(first.read_bytes() + second.read_bytes())
    elif name == "mbaff.ts":
        ffmpeg(
            *lavfi("320x240", 3, 50),
            *WEAVE,
            "-c:v",
            "libx264",
            "-flags",
            "+ildct+ilme",
            "-x264-params",
            "tff=1",
            "-g",
            "25",
            "-bf",
            "2",
            str(path),
        )
    elif name == "mbaff.mp4":
        ffmpeg("-i", str(make(root, "mbaff.ts")), "-c", "copy", str(path))
    elif name == "mpeg2i.ts":
        ffmpeg(
            *lavfi("320x240", 3, 50),
            *WEAVE,
            "-c:v",
            "mpeg2video",
            "-flags",
            "+ildct+ilme",
            "-top",
            "1",
            "-g",
            "12",
            "-bf",
            "2",
            "-q:v",
            "4",
            str(path),
        )
    elif name == "progressive.ts":
        ffmpeg(*lavfi("320x240", 2), "-c:v", "libx264", "-g", "25", "-bf", "2", str(path))
    else:
        raise ValueError(name)
    return path


def decoded(path: Path) -> list[av.VideoFrame]:
    """Every frame in display order, by a plain decode."""
    with av.open(str(path)) as c:
        frames = list(c.decode(video=0))
    frames.sort(key=lambda f: f.pts)
    return frames
