"""Matroska/WebM without cues (written to a pipe, by live recorders) as an index:
a walk over the Segment's Cluster headers by small range reads. Each Cluster
starts with its Timecode, and its first SimpleBlock says whether it is a
keyframe; a Cluster of known size is stepped over whole, one of unknown size
(live muxers write them) by its blocks' headers until the next top-level
element."""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace

from stillframe.errors import ResourceContentBad
from stillframe.streams._model import ByteRange, InitSection, Segment, StreamIndex
from stillframe.streams._reader import RangeReader

__all__ = ["cues_listed", "read_matroska"]

EBML = 0x1A45DFA3
SEGMENT = 0x18538067
CLUSTER = 0x1F43B675
INFO = 0x1549A966
TRACKS = 0x1654AE6B
CUES = 0x1C53BB6B
SEEK_HEAD, SEEK, SEEK_ID = 0x114D9B74, 0x4DBB, 0x53AB
# The Segment's children: what ends a Cluster of unknown size.
TOP_LEVEL = {CLUSTER, INFO, TRACKS, CUES, 0x114D9B74, 0x1254C367, 0x1043A770, 0x1941A469}
TIMECODE, SIMPLE_BLOCK, BLOCK_GROUP, BLOCK = 0xE7, 0xA3, 0xA0, 0xA1
TIMECODE_SCALE, DURATION = 0x2AD7B1, 0x4489
TRACK_ENTRY, TRACK_NUMBER, TRACK_TYPE, DEFAULT_DURATION = 0xAE, 0xD7, 0x83, 0x23E383
UNKNOWN = -1

HEAD = 64  # a Cluster's Timecode and its first block's header fit in this
MAX_HEADER_BODY = 4 << 20  # Info, Tracks
MAX_CLUSTERS = 2_000_000
MAX_BLOCKS = 10_000_000


@dataclass(frozen=True)
class _Element:
    id: int
    offset: int
    header: int
    size: int  # payload bytes, or UNKNOWN

    @property
    def payload(self) -> int:
        return self.offset + self.header

    @property
    def end(self) -> int:
        return self.payload + self.size


def _vint(data: bytes, pos: int, keep_marker: bool) -> tuple[int, int] | None:
    """(value, length) of the variable-length integer at `pos`; None if cut off.
    A size whose bits are all ones is UNKNOWN."""
    if pos >= len(data):
        return None
    first = data[pos]
    if first == 0:
        raise ValueError("an EBML number longer than 8 bytes")
    length = 9 - first.bit_length()
    if pos + length > len(data):
        return None
    value = int.from_bytes(data[pos : pos + length], "big")
    if keep_marker:
        return value, length
    value &= (1 << (7 * length)) - 1
    return (UNKNOWN if value == (1 << (7 * length)) - 1 else value), length


def _element(data: bytes, pos: int, base: int, where: str) -> _Element | None:
    """The element header at `data[pos:]` (`base` is `data`'s file offset)."""
    try:
        ident = _vint(data, pos, keep_marker=True)
        if ident is None:
            return None
        if ident[1] > 4:
            raise ValueError("an element id longer than 4 bytes")
        size = _vint(data, pos + ident[1], keep_marker=False)
    except ValueError as exc:
        raise ResourceContentBad(f"{where}: damaged Matroska at byte {base + pos} ({exc})") from None
    if size is None:
        return None
    return _Element(ident[0], base + pos, ident[1] + size[1], size[0])


class _Walker:
    def __init__(self, reader: RangeReader, uri: str) -> None:
        self.reader, self.uri = reader, uri
        self.size = reader.size(uri)
        self.start, self.data = 0, b""

    def read(self, offset: int, length: int) -> bytes:
        length = min(length, self.size - offset)
        if not (self.start <= offset and offset + length <= self.start + len(self.data)):
            self.start, self.data = offset, self.reader.read(self.uri, offset, length)
        return self.data[offset - self.start : offset - self.start + length]

    def element(self, offset: int, extra: int = 0) -> _Element | None:
        """The element at `offset`, reading `extra` bytes of its payload with it."""
        if offset >= self.size:
            return None
        head = self.read(offset, 12 + extra)
        el = _element(head, 0, offset, self.uri)
        if el is not None and el.size != UNKNOWN and el.end > self.size:
            # A file cut off mid-element (a recording stopped hard): keep what is there.
            el = _Element(el.id, el.offset, el.header, self.size - el.payload)
        return el

    def body(self, el: _Element) -> bytes:
        if el.size == UNKNOWN or el.size > MAX_HEADER_BODY:
            raise ResourceContentBad(f"{self.uri}: an element of {el.size} bytes at byte {el.offset}")
        return self.read(el.payload, el.size)


def read_matroska(reader: RangeReader, uri: str) -> StreamIndex:
    """The clusters of the Matroska/WebM file at `uri`, one Segment each (its
    bytes, its first video block's time in seconds, whether that block is a
    keyframe), by reading Cluster headers only. Raises ResourceContentBad for a
    file that is not Matroska or has no video track."""
    w = _Walker(reader, uri)
    if w.read(0, 4) != b"\x1a\x45\xdf\xa3":
        raise ResourceContentBad(f"{uri}: not a Matroska/WebM file")
    head = w.element(0)
    if head is None or head.id != EBML:
        raise ResourceContentBad(f"{uri}: not a Matroska/WebM file")
    seg = w.element(head.end)
    if seg is None or seg.id != SEGMENT:
        raise ResourceContentBad(f"{uri}: no Segment after the EBML header")
    end = w.size if seg.size == UNKNOWN else min(seg.end, w.size)
    scale, duration, video, frame, cues = 1_000_000, None, None, 0, False
    clusters: list[tuple[_Element, int, int | None, bool | None]] = []
    pos = seg.payload
    while pos < end:
        el = w.element(pos, HEAD)
        if el is None:
            break
        if el.id == INFO:
            scale, duration = _info(w.body(el), uri)
        elif el.id == TRACKS:
            video, frame = _video_track(w.body(el), uri)
        elif el.id == CUES:
            cues = True
        elif el.id == CLUSTER:
            if video is None:
                raise ResourceContentBad(f"{uri}: a Cluster before the Tracks, or no video track")
            el, time, first, key = _cluster(w, el, video, end)
            clusters.append((el, time, first, key))
            if len(clusters) > MAX_CLUSTERS:
                raise ResourceContentBad(f"{uri}: over {MAX_CLUSTERS} clusters")
        if el.size == UNKNOWN:
            raise ResourceContentBad(f"{uri}: an element of unknown size at byte {el.offset} that is not a Cluster")
        pos = el.end
    if video is None:
        raise ResourceContentBad(f"{uri}: no video track")
    segments = _segments(w, clusters, scale, duration, video, frame / scale)
    if clusters:  # what a cluster needs before it: the EBML header, the Segment's, Info and Tracks
        init = InitSection(uri, ByteRange(0, clusters[0][0].offset))
        segments = tuple(replace(s, init=init) for s in segments)
    notes = ("the file has Cues (its own index); its clusters were walked all the same",) if cues else ()
    return StreamIndex("matroska", uri, segments, "cluster walk", timescale=1_000_000_000 // scale, notes=notes)


def _segments(
    w: _Walker, clusters: list, scale: int, duration: float | None, video: int, frame: float
) -> tuple[Segment, ...]:
    out = []
    unit = scale / 1e9
    for i, (el, time, first, key) in enumerate(clusters):
        start = time + (first or 0)
        if i + 1 < len(clusters):
            nxt = clusters[i + 1]
            stop = nxt[1] + (nxt[2] or 0)
        elif duration is not None:
            stop = duration
        else:
            stop = _last_block_end(w, el, time, video, frame)
        out.append(
            Segment(
                w.uri,
                start * unit,
                max(0.0, stop - start) * unit,
                ByteRange(el.offset, el.header + el.size),
                keyframe=key,
                number=i,
            )
        )
    return tuple(out)


def _info(data: bytes, uri: str) -> tuple[int, float | None]:
    scale, duration = 1_000_000, None
    for el, payload in _children(data, uri):
        if el.id == TIMECODE_SCALE:
            scale = int.from_bytes(payload, "big") or 1_000_000
        elif el.id == DURATION and len(payload) in (4, 8):
            duration = struct.unpack(">f" if len(payload) == 4 else ">d", payload)[0]
    return scale, duration


def _video_track(data: bytes, uri: str) -> tuple[int | None, int]:
    """(the first video track's number, its DefaultDuration in ns or 0)."""
    for el, payload in _children(data, uri):
        if el.id != TRACK_ENTRY:
            continue
        fields = {e.id: p for e, p in _children(payload, uri)}
        if int.from_bytes(fields.get(TRACK_TYPE, b""), "big") == 1:
            number = int.from_bytes(fields.get(TRACK_NUMBER, b""), "big")
            return number, int.from_bytes(fields.get(DEFAULT_DURATION, b""), "big")
    return None, 0


def _children(data: bytes, uri: str, limit: int = 100_000):
    pos = 0
    for _ in range(limit):
        if pos >= len(data):
            return
        el = _element(data, pos, 0, uri)
        if el is None or el.size == UNKNOWN or el.end > len(data):
            raise ResourceContentBad(f"{uri}: a damaged header element")
        yield el, data[el.payload : el.end]
        pos = el.end
    raise ResourceContentBad(f"{uri}: over {limit} elements in one header")


def _cluster(w: _Walker, el: _Element, video: int, end: int) -> tuple[_Element, int, int | None, bool | None]:
    """(the cluster with its size known, its Timecode, its first video block's
    relative time and keyframe flag)."""
    time, first, key = None, None, None
    pos, blocks = el.payload, 0
    stop = end if el.size == UNKNOWN else el.end
    while pos < stop:
        child = w.element(pos, 16)
        if child is None:
            break
        if el.size == UNKNOWN and child.id in TOP_LEVEL:
            stop = pos
            break
        if child.size == UNKNOWN:
            raise ResourceContentBad(f"{w.uri}: an element of unknown size inside a Cluster at byte {pos}")
        if child.id == TIMECODE:
            time = int.from_bytes(w.read(child.payload, min(child.size, 8)), "big")
        elif child.id in (SIMPLE_BLOCK, BLOCK_GROUP) and first is None:
            found = _block_head(w, child, video)
            if found is not None:
                first, key = found
        blocks += 1
        if blocks > MAX_BLOCKS:
            raise ResourceContentBad(f"{w.uri}: over {MAX_BLOCKS} blocks in a cluster")
        if el.size != UNKNOWN and time is not None and first is not None:
            break  # a sized cluster is stepped over whole
        pos = child.end
    if time is None:
        raise ResourceContentBad(f"{w.uri}: a Cluster without a Timecode at byte {el.offset}")
    if el.size == UNKNOWN:
        el = _Element(el.id, el.offset, el.header, stop - el.payload)
    return el, time, first, key


def _block_head(w: _Walker, child: _Element, video: int) -> tuple[int, bool | None] | None:
    """(relative time, keyframe) of a SimpleBlock or BlockGroup of the video track."""
    block = child
    if child.id == BLOCK_GROUP:
        inner = w.element(child.payload, 16)
        if inner is None or inner.id != BLOCK:
            return None
        block = inner
    head = w.read(block.payload, 12)
    track = _vint(head, 0, keep_marker=False)
    if track is None or track[0] != video or len(head) < track[1] + 3:
        return None
    (rel,) = struct.unpack_from(">h", head, track[1])
    # A BlockGroup's keyframe is told by the absence of a ReferenceBlock: not cheap.
    key = bool(head[track[1] + 2] & 0x80) if child.id == SIMPLE_BLOCK else None
    return rel, key


def _last_block_end(w: _Walker, el: _Element, time: int, video: int, frame: float) -> float:
    """Where the last cluster ends in time, from its blocks' headers: the last
    block's time plus a frame (the track's DefaultDuration, else the smallest
    spacing of the cluster's blocks)."""
    times = []
    pos = el.payload
    for _ in range(MAX_BLOCKS):
        if pos >= el.end:
            break
        child = w.element(pos, 16)
        if child is None or child.size == UNKNOWN:
            break
        if child.id in (SIMPLE_BLOCK, BLOCK_GROUP):
            found = _block_head(w, child, video)
            if found is not None:
                times.append(time + found[0])
        pos = child.end
    if not times:
        return time
    times.sort()
    gaps = [b - a for a, b in zip(times, times[1:]) if b > a]
    return times[-1] + (frame or min(gaps, default=0))


def cues_listed(reader: RangeReader, uri: str, head: int = 64 << 10) -> bool:
    """Whether the Matroska/WebM file at `uri` has Cues, from its first `head`
    bytes: a SeekHead entry naming them, or Cues before the first Cluster. A
    file written to a pipe, or by a live recorder, has neither: FFmpeg then
    seeks by the few keyframes it saw while probing."""
    w = _Walker(reader, uri)
    data = w.read(0, head)
    top = _element(data, 0, 0, uri)
    seg = _element(data, top.end, 0, uri) if top is not None and top.id == EBML else None
    if seg is None or seg.id != SEGMENT:
        raise ResourceContentBad(f"{uri}: not a Matroska/WebM file")
    pos = seg.payload
    while (el := _element(data, pos, 0, uri)) is not None and el.size != UNKNOWN:
        if el.id == CUES:
            return True
        if el.id == CLUSTER:
            return False
        if el.id == SEEK_HEAD and el.end <= len(data):
            for entry, body in _children(data[el.payload : el.end], uri):
                if entry.id == SEEK and any(
                    e.id == SEEK_ID and p == CUES.to_bytes(4, "big") for e, p in _children(body, uri)
                ):
                    return True
        pos = el.end
    return False
