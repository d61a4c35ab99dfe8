"""The suite's videos: generated once, cached, each with a full-decode reference."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

import stillframe as sf
from stillframe import testsrc

CACHE = Path(__file__).resolve().parents[1] / ".cache"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "media" / "torchcodec"


@dataclass(frozen=True)
class VideoSpec:
    name: str
    file: str
    frames: int = 0
    size: tuple[int, int] = (1920, 1080)
    fps: float | tuple[tuple[float, int], ...] = 30
    gop: int | None = 250
    bframes: int | None = 3
    codec: str = "libx264"
    pix_fmt: str = "yuv420p"
    start: float = 0.0
    rotation: int | None = None
    options: tuple[tuple[str, str], ...] = ()
    shared: bool = False  # a real-world file from ../shared/media: no barcode
    main: bool = False  # the clip every task runs on

    @property
    def path(self) -> Path:
        return SHARED / self.file if self.shared else CACHE / self.file


def full_specs() -> list[VideoSpec]:
    return [
        VideoSpec("1080p30 H.264 5 min GOP 250", "bench-1080p30-gop250-300s.mp4", 9000, main=True),
        VideoSpec("1080p60 H.264 GOP 600", "cmp-1080p60-gop600-60s.mp4", 3600, fps=60, gop=600, bframes=3),
        VideoSpec("1080p all-intra", "cmp-1080p-intra-20s.mp4", 600, gop=1, bframes=0),
        VideoSpec(
            "720p HEVC 10-bit",
            "cmp-720p-hevc10-20s.mp4",
            600,
            size=(1280, 720),
            gop=120,
            bframes=None,
            codec="libx265",
            pix_fmt="yuv420p10le",
        ),
        VideoSpec(
            "phone: rotated VFR",
            "cmp-phone-vfr-rot90-20s.mp4",
            600,
            size=(1280, 720),
            fps=((30.0, 150), (24.0, 120), (60.0, 330)),
            gop=60,
            bframes=0,
            rotation=90,
        ),
        VideoSpec(
            "MPEG-TS, starts at 10 s", "cmp-ts-start10-30s.ts", 900, size=(1280, 720), gop=60, bframes=2, start=10.0
        ),
        VideoSpec("nasa_13013.mp4 (real)", "nasa_13013.mp4", shared=True),
    ]


def quick_specs() -> list[VideoSpec]:
    return [
        VideoSpec("360p30 H.264 20 s GOP 250", "cmp-q-360p-gop250-20s.mp4", 600, size=(640, 360), main=True),
        VideoSpec("360p all-intra", "cmp-q-360p-intra-5s.mp4", 150, size=(640, 360), gop=1, bframes=0),
        VideoSpec(
            "phone: rotated VFR",
            "cmp-q-phone-vfr-rot90-6s.mp4",
            180,
            size=(480, 272),
            fps=((30.0, 60), (24.0, 48), (60.0, 72)),
            gop=30,
            bframes=0,
            rotation=90,
        ),
        VideoSpec(
            "MPEG-TS, starts at 10 s", "cmp-q-ts-start10-6s.ts", 180, size=(480, 272), gop=30, bframes=2, start=10.0
        ),
        VideoSpec("nasa_13013.mp4 (real)", "nasa_13013.mp4", shared=True),
    ]


def make(spec: VideoSpec) -> Path | None:
    """The video's path, generating it if needed; None for shared media that is absent."""
    path = spec.path
    if spec.shared:
        return path if path.exists() else None
    if not path.exists():
        print(f"generating {spec.name} -> {path.name} ...", file=sys.stderr, flush=True)
        testsrc.make_video(
            path,
            frames=spec.frames,
            size=spec.size,
            fps=list(spec.fps) if isinstance(spec.fps, tuple) else spec.fps,
            codec=spec.codec,
            pix_fmt=spec.pix_fmt,
            gop=spec.gop,
            bframes=spec.bframes,
            start=spec.start,
            rotation=spec.rotation,
            options=dict(spec.options) or None,
        )
    return path


@dataclass
class Reference:
    """A full decode: every frame's time (seconds from the stream's start, display
    order) and whether it is a keyframe; for real-world media, small grey
    thumbnails to recognise frames by their pixels."""

    times: list[float]
    keyframes: list[bool]
    duration: float
    start: float
    width: int  # as displayed (rotation applied)
    height: int
    codec: str
    thumbs: np.ndarray | None = field(default=None, repr=False)

    def displayed(self, t: float) -> int:
        """The frame on screen at t: the last one starting at or before t."""
        i = int(np.searchsorted(self.times, t + 1e-6, side="right")) - 1
        return max(i, 0)

    def next(self, t: float) -> int:
        """The first frame starting at or after t (what `ffmpeg -ss t` gives)."""
        return min(int(np.searchsorted(self.times, t - 1e-6, side="left")), len(self.times) - 1)


THUMB = (64, 36)


def reference(spec: VideoSpec, path: Path) -> Reference:
    CACHE.mkdir(parents=True, exist_ok=True)
    cache = CACHE / f"{path.name}.ref.json"
    thumbs_file = CACHE / f"{path.name}.ref.npy"
    if cache.exists() and (not spec.shared or thumbs_file.exists()):
        data = json.loads(cache.read_text())
        ref = Reference(**data)
        if spec.shared:
            ref.thumbs = np.load(thumbs_file)
        return ref
    print(f"full decode of {path.name} for the reference ...", file=sys.stderr, flush=True)
    info = sf.probe(str(path))
    times, keys, thumbs = [], [], []
    with av.open(str(path)) as c:
        s = c.streams.best("video")  # what every tool reads: nasa_13013.mp4 has two video streams
        start = float(s.start_time * s.time_base) if s.start_time is not None else 0.0
        for f in c.decode(s):
            times.append(float(f.pts * f.time_base) - start)
            keys.append(bool(f.key_frame))
            if spec.shared:
                small = f.reformat(width=THUMB[0], height=THUMB[1], format="gray")
                thumbs.append(small.to_ndarray().astype(np.float32))
    w, h, duration, codec = info.width, info.height, info.duration, info.codec
    order = np.argsort(times, kind="stable")
    ref = Reference([times[i] for i in order], [keys[i] for i in order], duration, start, w, h, codec)
    cache.write_text(json.dumps({k: v for k, v in ref.__dict__.items() if k != "thumbs"}))
    if spec.shared:
        ref.thumbs = np.stack([thumbs[i] for i in order])
        np.save(thumbs_file, ref.thumbs)
    return ref


def frame_errors(ref: Reference, image: np.ndarray) -> np.ndarray:
    """For real media: how far an output image is from every reference frame (mean
    squared grey difference of small thumbnails). The whole video, not a window
    around t: a keyframe-mode answer may be seconds away from t."""
    from PIL import Image

    small = np.asarray(Image.fromarray(image.astype(np.uint8)).resize(THUMB, Image.BILINEAR), dtype=np.float32)
    assert ref.thumbs is not None
    return ((ref.thumbs - small) ** 2).mean(axis=(1, 2))
