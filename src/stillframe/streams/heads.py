"""A segment's first timestamp, from its head: what maps an HLS playlist's times
(sums of EXTINF from the first segment) onto the stream's own (the timestamps
its packets carry, 1.4 s or 10 s into an MPEG-TS)."""

from __future__ import annotations

import io

import av

from stillframe.errors import ResourceContentBad
from stillframe.streams._model import Segment
from stillframe.streams._reader import RangeReader

__all__ = ["HEAD_BYTES", "first_timestamp"]

HEAD_BYTES = 256 << 10  # a keyframe's first packets at any broadcast bitrate


def first_timestamp(reader: RangeReader, segment: Segment, head: int = HEAD_BYTES) -> float | None:
    """The first video packet's timestamp (seconds, pts, else dts) in `segment`,
    from its init section and its first `head` bytes. Within one discontinuity a
    segment's stream time is `segment.start - first.start + first_timestamp(first)`.
    None for an encrypted segment (FFmpeg decrypts it as it reads the stream).
    Raises ResourceContentBad when the head holds no video packet."""
    if segment.key is not None:
        return None
    data = b""
    if segment.init is not None:
        r = segment.init.byte_range
        size = r.length if r else reader.size(segment.init.uri)
        data = reader.read(segment.init.uri, r.start if r else 0, min(size, 16 << 20))
    r = segment.byte_range
    data += reader.read(segment.uri, r.start if r else 0, min(head, r.length) if r else head)
    try:
        with av.open(io.BytesIO(data)) as container:
            if not container.streams.video:
                raise ResourceContentBad(f"{segment.uri}: no video stream in the segment's head")
            stream = container.streams.video[0]
            for packet in container.demux(stream):
                ts = packet.pts if packet.pts is not None else packet.dts
                if ts is not None and packet.size:
                    return float(ts * packet.time_base)
    except av.error.FFmpegError as exc:
        raise ResourceContentBad(f"{segment.uri}: the segment's head is not readable media ({exc})") from exc
    raise ResourceContentBad(f"{segment.uri}: no video packet in the segment's first {head} bytes")
