"""How each decoder honours `skip_frame`, which the decode planner leans on.

Measured with PyAV (FFmpeg 8.1) on clips with non-reference frames, each skip
level set in two ways: before the first packet, and after one packet decoded
with DEFAULT:

- "per_packet": FFmpeg's own h264, hevc, mpeg2video, mpeg4 decoders read the
  field for each packet: NONREF and NONKEY take effect whenever set, and DEFAULT
  brings every frame back (frame threads included).
- "at_open": libdav1d (AV1) copies it into dav1d's settings when the decoder
  opens (`decode_frame_type`) and never looks again: NONREF set before the first
  packet drops every non-reference frame for good, even when later packets ask
  for DEFAULT; NONKEY then gives keyframes only; set after opening, either does
  nothing; `flush_buffers` does not reopen.
- "ignored": vp9 and libvpx-vp9 decode every frame whatever is set; so do vp8
  and libvpx for NONREF on libvpx's output (every frame there updates a
  reference), while FFmpeg's vp8 honours NONKEY per packet.

So a decoder whose NONREF is "at_open" must be opened with DEFAULT to give
exact frames, and one opened with a skip level must not be reused for frames
that level drops; "ignored" saves nothing, and that is all. A decoder not in
the table is measured once per process on a tiny clip of its codec when an
encoder for it is at hand, and otherwise treated as "ignored": never relied
on to skip, so never unable to give a frame.
"""

from __future__ import annotations

import functools
import io
import os
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal, cast

import av
import numpy as np
from av.video.codeccontext import VideoCodecContext

__all__ = ["TABLE", "SkipBehaviour", "measure", "skip_behaviour"]

Honour = Literal["per_packet", "at_open", "ignored"]


@dataclass(frozen=True)
class SkipBehaviour:
    """How `decoder` honours NONREF and NONKEY; `source` is "table",
    "measured" or "unknown"."""

    decoder: str
    nonref: Honour
    nonkey: Honour
    source: str = "table"

    @property
    def per_packet(self) -> bool:
        """Whether NONREF may be switched on and off packet by packet (non-targets
        skipped, targets decoded), as the planner does for h264."""
        return self.nonref == "per_packet"

    def open_with(self, keyframes_only: bool) -> str:
        """The skip_frame to set before a fresh decoder's first packet: NONKEY for
        a keyframes-only decoder where that is honoured at open, else DEFAULT
        (an exact decoder must never be opened skipping)."""
        return "NONKEY" if keyframes_only and self.nonkey == "at_open" else "DEFAULT"

    def reusable(self, opened_with: str, keyframes_only: bool) -> bool:
        """Whether a decoder opened with skip_frame `opened_with` can serve a
        request for exact frames, or (`keyframes_only`) for keyframes: one that
        latched a skip level at open gives only keyframes and reference frames
        ever after."""
        if opened_with == "DEFAULT":
            return True
        latched = self.nonkey if opened_with == "NONKEY" else self.nonref
        return latched != "at_open" or keyframes_only


def _entry(decoder: str, nonref: Honour, nonkey: Honour) -> tuple[str, SkipBehaviour]:
    return decoder, SkipBehaviour(decoder, nonref, nonkey)


TABLE: dict[str, SkipBehaviour] = dict(
    [
        _entry("h264", "per_packet", "per_packet"),
        _entry("hevc", "per_packet", "per_packet"),
        _entry("mpeg2video", "per_packet", "per_packet"),
        _entry("mpeg4", "per_packet", "per_packet"),
        _entry("libdav1d", "at_open", "at_open"),
        _entry("vp9", "ignored", "ignored"),
        _entry("libvpx-vp9", "ignored", "ignored"),
        _entry("vp8", "ignored", "per_packet"),
        _entry("libvpx", "ignored", "ignored"),
    ]
)

# An encoder for each codec, to measure a decoder the table lacks (first found).
_ENCODERS = {
    "h264": ("libx264", {"preset": "ultrafast", "bf": "2", "x264-params": "b-pyramid=none:keyint=24"}),
    "hevc": ("libx265", {"preset": "ultrafast", "x265-params": "bframes=2:b-pyramid=0:keyint=24:log-level=error"}),
    "mpeg2video": ("mpeg2video", {"bf": "2", "g": "24"}),
    "mpeg4": ("mpeg4", {"bf": "2", "g": "24"}),
    "av1": ("libsvtav1", {"preset": "12", "svtav1-params": "keyint=24"}),
    "vp9": ("libvpx-vp9", {"deadline": "realtime", "cpu-used": "8", "g": "24"}),
    "vp8": ("libvpx", {"deadline": "realtime", "cpu-used": "8", "g": "24"}),
}


def skip_behaviour(decoder: str) -> SkipBehaviour:
    """What `decoder` (a PyAV/FFmpeg decoder name) does with skip_frame: the
    table's entry, else measured once per process, else "ignored"."""
    if decoder in TABLE:
        return TABLE[decoder]
    return _measured(decoder)


@functools.cache
def _measured(decoder: str) -> SkipBehaviour:
    try:
        return measure(decoder)
    except (LookupError, ValueError, av.error.FFmpegError):
        return SkipBehaviour(decoder, "ignored", "ignored", source="unknown")


def _clip(codec: str) -> tuple[list[av.Packet], bytes | None]:
    """48 frames of 64x64 with non-reference frames: the packets in decode order
    and the stream's extradata."""
    name, options = _ENCODERS[codec]
    if name not in av.codecs_available:
        raise LookupError(f"no {codec} encoder here")
    buf = io.BytesIO()
    previous = os.environ.get("SVT_LOG")
    os.environ["SVT_LOG"] = "1"  # SVT-AV1 prints its settings otherwise
    try:
        with av.open(buf, "w", format="matroska") as out:
            stream = out.add_stream(name, rate=24)
            stream.width = stream.height = 64
            stream.pix_fmt = "yuv420p"
            stream.codec_context.options = dict(options)
            ramp = np.add.outer(np.arange(96), np.arange(64)).astype(np.uint8)
            for i in range(48):
                frame = av.VideoFrame.from_ndarray((ramp + 5 * i).astype(np.uint8), format="yuv420p")
                frame.pts, frame.time_base = i, Fraction(1, 24)
                out.mux(stream.encode(frame))
            out.mux(stream.encode())
    finally:
        if previous is None:
            os.environ.pop("SVT_LOG", None)
        else:
            os.environ["SVT_LOG"] = previous
    buf.seek(0)
    with av.open(buf) as src:
        stream = src.streams.video[0]
        return [p for p in src.demux(stream) if p.size], stream.codec_context.extradata


def count(decoder: str, packets: list[av.Packet], extradata: bytes | None, first: str, later: str) -> int:
    """Frames a fresh `decoder` gives for `packets` with skip_frame `first` for
    the first packet and `later` for the rest."""
    cc = cast(VideoCodecContext, av.codec.CodecContext.create(decoder, "r"))
    if extradata:
        cc.extradata = extradata
    cc.thread_count, cc.thread_type = 1, "SLICE"
    n = 0
    for i, packet in enumerate(packets):
        cc.skip_frame = cast(Any, first if i == 0 else later)
        n += len(cc.decode(packet))
    return n + len(cc.decode(None))


def measure(decoder: str) -> SkipBehaviour:
    """Measure `decoder` on a tiny clip of its codec (about 0.1 s): each level
    set after the first packet (per_packet if it then skips), else before it
    (at_open if it then skips), else ignored. Raises LookupError when no encoder
    for its codec is at hand."""
    codec = av.codec.Codec(decoder, "r").canonical_name
    packets, extradata = _clip(codec)
    all_frames = count(decoder, packets, extradata, "DEFAULT", "DEFAULT")

    def how(level: str) -> Honour:
        if count(decoder, packets, extradata, "DEFAULT", level) < all_frames:
            return "per_packet"
        if count(decoder, packets, extradata, level, level) < all_frames:
            return "at_open"
        return "ignored"

    return SkipBehaviour(decoder, how("NONREF"), how("NONKEY"), source="measured")
