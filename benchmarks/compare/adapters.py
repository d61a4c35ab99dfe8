"""In-process runners, one per Python tool, as a user of that tool would write the
job: take `times` (seconds from the stream's start, in the order given), write
`out/00001.jpg`... in that order at `width` x `height`, JPEG `quality`. Each returns
how many frames it decoded, when the tool can say. Imports stay inside the
functions, so a process pays only for the tool it runs."""

from __future__ import annotations

import os
from typing import Any


def _name(out: str, i: int) -> str:
    return os.path.join(out, f"{i + 1:05d}.jpg")


def stillframe(
    video: str,
    times: list[float],
    out: str,
    width: int,
    height: int,
    quality: int,
    mode: str,
    sprite: bool = False,
    every: float | None = None,
    **_: Any,
) -> int | None:
    import stillframe as sf

    if sprite:
        res = sf.snapshot(
            video,
            sf.Interval(every),
            os.path.join(out, "{Count}.jpg"),
            width=width,
            quality=quality,
            sprite=sf.Sprite(10, 10, keep_cell_pic=False),
            webvtt=os.path.join(out, "thumbs.vtt"),
        )
    else:
        res = sf.snapshot(
            video,
            sf.Dots(times),
            os.path.join(out, "{Count}.jpg"),
            width=width,
            quality=quality,
            frame_type="intra" if mode == "keyframe" else "normal",
        )
    return res.stats.get("frames_decoded")


def pyav_loop(
    video: str, times: list[float], out: str, width: int, height: int, quality: int, mode: str, **_: Any
) -> int:
    """The loop people write: seek back to a keyframe, decode forward to t, save."""
    import av

    decoded = 0
    with av.open(video) as c:
        s = c.streams.best("video")  # the stream the other tools read (FFmpeg's best)
        start = float(s.start_time * s.time_base) if s.start_time is not None else 0.0
        for i, t in enumerate(times):
            target = t + start
            c.seek(int(target / s.time_base), stream=s, backward=True)
            for f in c.decode(s):
                decoded += 1
                if mode == "keyframe" or f.time >= target - 1e-6:
                    w, h = (width, height) if (f.width >= f.height) == (width >= height) else (height, width)
                    f.reformat(width=w, height=h).to_image().save(_name(out, i), quality=quality)
                    break
    return decoded


def decord(
    video: str,
    times: list[float],
    out: str,
    width: int,
    height: int,
    quality: int,
    mode: str,
    stored_width: int = 0,
    stored_height: int = 0,
    **_: Any,
) -> None:
    """Frame indices from decord's own timestamps (the frame shown at t), one batch."""
    import numpy as np
    from decord import VideoReader, cpu
    from PIL import Image

    w, h = (width, height) if (stored_width >= stored_height) == (width >= height) else (height, width)
    vr = VideoReader(video, ctx=cpu(0), width=w, height=h)  # decord ignores rotation
    starts = vr.get_frame_timestamp(range(len(vr)))[:, 0]
    starts = starts - starts[0]
    idx = [max(0, int(np.searchsorted(starts, t + 1e-6, side="right")) - 1) for t in times]
    if mode == "keyframe":
        keys = np.asarray(vr.get_key_indices())
        idx = [int(keys[max(0, np.searchsorted(keys, i, side="right") - 1)]) for i in idx]
    frames = vr.get_batch(idx).asnumpy()
    for i, rgb in enumerate(frames):
        Image.fromarray(rgb).save(_name(out, i), quality=quality)
    return None


def opencv(
    video: str, times: list[float], out: str, width: int, height: int, quality: int, mode: str, **_: Any
) -> None:
    """Seek by CAP_PROP_POS_MSEC, read one frame."""
    import cv2

    cap = cv2.VideoCapture(video)
    try:
        for i, t in enumerate(times):
            cap.set(cv2.CAP_PROP_POS_MSEC, t * 1000.0)
            ok, frame = cap.read()
            if not ok:
                continue
            if frame.shape[0] > frame.shape[1] and width > height:
                width, height = height, width  # OpenCV applies rotation itself
            small = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
            cv2.imwrite(_name(out, i), small, [cv2.IMWRITE_JPEG_QUALITY, quality])
    finally:
        cap.release()
    return None


def torchcodec(
    video: str, times: list[float], out: str, width: int, height: int, quality: int, mode: str, **_: Any
) -> None:
    """get_frames_played_at, exact or approximate seek mode."""
    from PIL import Image
    from torchcodec.decoders import VideoDecoder

    dec = VideoDecoder(video, seek_mode="approximate" if mode == "keyframe" else "exact", num_ffmpeg_threads=0)
    begin = dec.metadata.begin_stream_seconds or 0.0
    batch = dec.get_frames_played_at(seconds=[t + begin for t in times])
    for i, chw in enumerate(batch.data):
        img = Image.fromarray(chw.permute(1, 2, 0).numpy())
        img.resize((width, height), Image.BILINEAR).save(_name(out, i), quality=quality)
    return None


# What each tool imports, loaded before the clock starts.
# The package loads its parts on first use: loaded here, they stay out of the timed work, as every peer's do.
_STILLFRAME = ["stillframe", "stillframe.snapshot"]
IMPORTS = {
    "stillframe": _STILLFRAME,
    "pyav_loop": ["av", "PIL.Image"],
    "decord": ["decord", "PIL.Image"],
    "opencv": ["cv2"],
    "torchcodec": ["torchcodec.decoders", "PIL.Image"],
}

RUNNERS = {
    "stillframe": stillframe,
    "pyav_loop": pyav_loop,
    "decord": decord,
    "opencv": opencv,
    "torchcodec": torchcodec,
}
