"""Fragmented MP4 (CMAF, `frag_keyframe+empty_moov`) as an index, with small
range reads and never a byte of `mdat`:

1. a `sidx` before the first fragment that spans the whole file (`global_sidx`,
   DASH single files);
2. else the `mfra` at the end (found through its `mfro`, the file's last 16
   bytes): `tfra` lists each random access point's time and `moof` offset;
3. else a walk over the top-level boxes: each `moof` is read (its `tfdt` gives
   the decode time, its `trun`s the sample count, durations and the first
   sample's keyframe flag) and each `mdat` is stepped over by its size.

Times are what FFmpeg's demuxer reports for the file: the first sample's decode
time plus its composition offset, in the track's time scale (FFmpeg applies no
edit list to fragments)."""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace

import numpy as np

from stillframe.errors import ResourceContentBad
from stillframe.streams._boxes import Box, find, full_box, parse_header, parse_sidx, parse_tfra
from stillframe.streams._model import ByteRange, InitSection, Segment, StreamIndex
from stillframe.streams._reader import RangeReader

__all__ = ["Track", "read_fmp4", "sidx_segments"]

WINDOW = 4096  # one read at a box: its header, a typical moof, the next header
MAX_MOOV = 64 << 20
MAX_MOOF = 16 << 20
MAX_MFRA = 64 << 20
MAX_FRAGMENTS = 2_000_000
MAX_SIDX_DEPTH = 4
NON_SYNC = 0x00010000  # sample_is_non_sync_sample in the sample flags


@dataclass(frozen=True)
class Track:
    """The video track as `moov` describes it."""

    id: int
    timescale: int
    default_duration: int = 0
    default_flags: int = 0
    samples_in_moov: int = 0
    edit_shift: int = 0  # the edit list's media time, in `timescale` units
    edit_delay: float = 0.0  # an empty edit's length, in seconds
    init_end: int = 0  # where the moov ends: the file's head, every fragment's init section

    def seconds(self, media_time: int) -> float:
        """A media time on the timeline FFmpeg's demuxer reports (edit list applied)."""
        return (media_time - self.edit_shift) / self.timescale + self.edit_delay


class _Bytes:
    """Reads a resource in windows. A box's header is read with as many bytes
    after it as the last moof took, so a walk makes one small read a fragment."""

    def __init__(self, reader: RangeReader, uri: str) -> None:
        self.reader, self.uri = reader, uri
        self.size = reader.size(uri)
        self.start, self.data = 0, b""
        self.guess = 512

    def get(self, offset: int, length: int, window: int = 0) -> bytes:
        """At least min(`length`, bytes to the end) bytes from `offset`."""
        length = min(length, self.size - offset)
        if not (self.start <= offset and offset + length <= self.start + len(self.data)):
            self.start = offset
            self.data = self.reader.read(self.uri, offset, min(max(length, window), self.size - offset))
            if len(self.data) < length:
                raise ResourceContentBad(f"{self.uri}: ended early at byte {offset + len(self.data)}")
        return self.data[offset - self.start : offset - self.start + length]

    def box(self, offset: int) -> Box | None:
        """The top-level box header at `offset` (its offset absolute)."""
        head = self.get(offset, 16, self.guess)
        if head[4:8] == b"mdat" and len(head) >= 8:
            # A recording cut off mid-fragment: its last mdat ends where the file does.
            box = parse_header(head, 0, 1 << 62, self.uri)
            if box is not None and box.end > self.size - offset:
                return Box(b"mdat", offset, box.header, self.size - offset)
        box = parse_header(head, 0, self.size - offset, self.uri)
        return None if box is None else Box(box.type, offset, box.header, box.size)

    def body(self, box: Box, limit: int) -> bytes:
        if box.size > limit:
            raise ResourceContentBad(f"{self.uri}: a {box.type.decode('latin-1')} box of {box.size} bytes")
        if box.type == b"moof":
            self.guess = box.size + 32
        return self.get(box.offset, box.size + 16)  # the next box's header with it


def read_fmp4(reader: RangeReader, uri: str) -> StreamIndex:
    """The fragments of the fragmented MP4 at `uri`, one Segment each (its
    `moof` and `mdat` as one byte range), from its `sidx`, its `mfra` or a walk
    over its `moof` headers, in that order of preference. Raises
    ResourceContentBad for a file that is not a fragmented MP4 with video."""
    src = _Bytes(reader, uri)
    track, first_moof, sidx = _head(src)
    if track.samples_in_moov:
        raise ResourceContentBad(f"{uri}: the moov holds {track.samples_in_moov} samples besides the fragments")
    segments, how = None, "sidx"
    if sidx is not None:
        segments = _from_sidx(src, sidx, track)
    if segments is None:
        segments, how = _from_mfra(src, track, first_moof), "mfra"
    if segments is None:
        segments, how = _walk(src, track, first_moof), "moof walk"
    notes: tuple[str, ...] = ()
    if _moof_at(src, first_moof, track)[0].absolute:
        notes = ("fragments address their samples by absolute file offsets: decode them in place, not cut out",)
    init = InitSection(uri, ByteRange(0, track.init_end))
    segments = tuple(replace(s, init=init) for s in segments)
    return StreamIndex("fmp4", uri, segments, how, timescale=track.timescale, notes=notes)


def _head(src: _Bytes) -> tuple[Track, int, Box | None]:
    """The video track, the first moof's offset and a sidx before it, if any."""
    pos, track, sidx = 0, None, None
    for _ in range(64):
        box = src.box(pos) if pos < src.size else None
        if box is None:
            break
        if box.type == b"moov":
            track = _track(src.body(box, MAX_MOOV), Box(b"moov", 0, box.header, box.size), src.uri)
            track = replace(track, init_end=box.end)
        elif box.type == b"sidx" and sidx is None:
            sidx = box
        elif box.type == b"moof":
            if track is None:
                raise ResourceContentBad(f"{src.uri}: a moof before any moov")
            return track, pos, sidx
        pos = box.end
    if track is None:
        raise ResourceContentBad(f"{src.uri}: not an MP4 file (no moov box at its start)")
    raise ResourceContentBad(f"{src.uri}: not a fragmented MP4 (no moof box after its moov)")


def _track(data: bytes, moov: Box, where: str) -> Track:
    """The first video track of `moov` (whose bytes start `data`)."""
    trex = {}
    for box in find(data, moov, [b"mvex", b"trex"], where):
        _, _, pos = full_box(data, box, 20, where)
        tid, _sdi, duration, _size, flags = struct.unpack_from(">IIIII", data, pos)
        trex[tid] = (duration, flags)
    for trak in find(data, moov, [b"trak"], where):
        handler = next(find(data, trak, [b"mdia", b"hdlr"], where), None)
        if handler is None or data[handler.payload + 8 : handler.payload + 12] != b"vide":
            continue
        tkhd = next(find(data, trak, [b"tkhd"], where), None)
        mdhd = next(find(data, trak, [b"mdia", b"mdhd"], where), None)
        if tkhd is None or mdhd is None:
            raise ResourceContentBad(f"{where}: a video track without tkhd or mdhd")
        version, _, pos = full_box(data, tkhd, 24, where)
        (tid,) = struct.unpack_from(">I", data, pos + (16 if version == 1 else 8))
        version, _, pos = full_box(data, mdhd, 20, where)
        (timescale,) = struct.unpack_from(">I", data, pos + (16 if version == 1 else 8))
        if timescale == 0:
            raise ResourceContentBad(f"{where}: the video track's time scale is 0")
        stsz = next(find(data, trak, [b"mdia", b"minf", b"stbl", b"stsz"], where), None)
        samples = struct.unpack_from(">I", data, stsz.payload + 8)[0] if stsz and stsz.size >= 20 else 0
        duration, flags = trex.get(tid, (0, 0))
        shift, delay = _edits(data, moov, trak, where)
        return Track(tid, timescale, duration, flags, samples, shift, delay)
    raise ResourceContentBad(f"{where}: no video track")


def _edits(data: bytes, moov: Box, trak: Box, where: str) -> tuple[int, float]:
    """(media time of the first edit that shows media, seconds of empty edits
    before it) from the track's `elst`."""
    elst = next(find(data, trak, [b"edts", b"elst"], where), None)
    mvhd = next(find(data, moov, [b"mvhd"], where), None)
    if elst is None:
        return 0, 0.0
    movie_scale = 1
    if mvhd is not None:
        version, _, pos = full_box(data, mvhd, 20, where)
        movie_scale = struct.unpack_from(">I", data, pos + (16 if version == 1 else 8))[0] or 1
    version, _, pos = full_box(data, elst, 4, where)
    (count,) = struct.unpack_from(">I", data, pos)
    pos += 4
    each = 20 if version == 1 else 12
    delay = 0.0
    for i in range(min(count, (elst.end - pos) // each)):
        duration, media = struct.unpack_from(">Qq" if version == 1 else ">Ii", data, pos + i * each)
        if media == -1:
            delay += duration / movie_scale
        else:
            return media, delay
    return 0, delay


def sidx_segments(reader: RangeReader, uri: str, index: ByteRange, init: ByteRange | None) -> tuple[Segment, ...]:
    """The fragments a DASH SegmentBase's `sidx` lists: `index` is its indexRange
    in `uri`, `init` the Initialization range holding the moov (else the bytes
    before the index)."""
    src = _Bytes(reader, uri)
    head = init or ByteRange(0, index.start)
    if head.length > MAX_MOOV or head.end > src.size:
        raise ResourceContentBad(f"{uri}: an initialization range of {head.length} bytes")
    data = reader.read(uri, head.start, head.length)
    pos, track = 0, None
    while (box := parse_header(data, pos, len(data), uri)) is not None:
        if box.type == b"moov":
            track = _track(data[pos : box.end], Box(b"moov", 0, box.header, box.size), uri)
        pos = box.end
    if track is None:
        raise ResourceContentBad(f"{uri}: no moov in the initialization range")
    sidx = src.box(index.start)
    if sidx is None or sidx.type != b"sidx":
        raise ResourceContentBad(f"{uri}: no sidx at the index range {index.start}-{index.end - 1}")
    found = _from_sidx(src, sidx, track, whole=False)
    assert found is not None
    return found


def _from_sidx(src: _Bytes, box: Box, track: Track, whole: bool = True) -> tuple[Segment, ...] | None:
    """Segments from a sidx (following a hierarchy of them); with `whole`, None
    when it indexes only part of the file (a per-fragment sidx, as `dash` writes)."""
    pending = [(box, 0)]
    refs = []
    timescale = track.timescale
    while pending:
        sbox, depth = pending.pop(0)
        data = src.body(sbox, MAX_MOOF)
        timescale, found = parse_sidx(data, Box(b"sidx", 0, sbox.header, sbox.size), sbox.offset, src.uri)
        for ref in found:
            if ref.is_index:
                if depth >= MAX_SIDX_DEPTH:
                    raise ResourceContentBad(f"{src.uri}: sidx boxes nested over {MAX_SIDX_DEPTH} deep")
                sub = src.box(ref.offset)
                if sub is None or sub.type != b"sidx":
                    raise ResourceContentBad(f"{src.uri}: a sidx points at no sidx (byte {ref.offset})")
                pending.append((sub, depth + 1))
            else:
                refs.append(ref)
        if len(refs) > MAX_FRAGMENTS:
            raise ResourceContentBad(f"{src.uri}: over {MAX_FRAGMENTS} fragments")
    if not refs or refs[-1].offset + refs[-1].size > src.size:
        if not whole:
            raise ResourceContentBad(f"{src.uri}: the sidx points past the end of the file")
        return None
    if whole and len(refs) == 1 and _more_after(src, refs[-1].offset + refs[-1].size):
        return None
    # A sidx's times may leave out the composition delay FFmpeg's demuxer keeps
    # (it applies no edit list to fragments): the first moof says how much.
    first, _ = _moof_at(src, refs[0].offset, track)
    shift = 0.0
    if first.decode_time is not None:
        shift = track.seconds(first.decode_time + first.first_offset) - refs[0].time / timescale
    return tuple(
        Segment(
            src.uri,
            r.time / timescale + shift,
            r.duration / timescale,
            ByteRange(r.offset, r.size),
            keyframe=r.starts_with_sap,
            number=i,
        )
        for i, r in enumerate(refs)
    )


def _more_after(src: _Bytes, offset: int) -> bool:
    """Whether a fragment follows `offset` (so a sidx ending there covers only part)."""
    while offset < src.size:
        box = src.box(offset)
        if box is None:
            return False
        if box.type in (b"moof", b"sidx", b"styp"):
            return True
        offset = box.end
    return False


def _from_mfra(src: _Bytes, track: Track, first_moof: int) -> tuple[Segment, ...] | None:
    if src.size < 16:
        return None
    tail = src.get(src.size - 16, 16)
    size, kind = struct.unpack_from(">I4s", tail, 0)
    if kind != b"mfro" or size != 16:
        return None
    (mfra_size,) = struct.unpack_from(">I", tail, 12)
    start = src.size - mfra_size
    if mfra_size < 16 or start < first_moof or mfra_size > MAX_MFRA:
        raise ResourceContentBad(f"{src.uri}: a damaged mfro box (mfra of {mfra_size} bytes)")
    data = src.reader.read(src.uri, start, mfra_size)
    mfra = parse_header(data, 0, len(data), src.uri)
    if mfra is None or mfra.type != b"mfra":
        raise ResourceContentBad(f"{src.uri}: the mfro box points at no mfra box")
    for tfra in find(data, mfra, [b"tfra"], src.uri):
        tid, entries = parse_tfra(data, tfra, src.uri, MAX_FRAGMENTS)
        if tid != track.id or not entries:
            continue
        entries.sort(key=lambda e: e.moof_offset)
        if entries[0].moof_offset < first_moof or entries[-1].moof_offset >= start:
            raise ResourceContentBad(f"{src.uri}: a tfra entry points outside the fragments")
        last = _moof_at(src, entries[-1].moof_offset, track)
        ends = [e.moof_offset for e in entries[1:]] + [last[1]]
        times = [e.time for e in entries[1:]] + [entries[-1].time + last[0].duration]
        return tuple(
            Segment(
                src.uri,
                track.seconds(e.time),
                (t - e.time) / track.timescale,
                ByteRange(e.moof_offset, end - e.moof_offset),
                keyframe=e.trun == 1 and e.sample == 1,
                number=i,
            )
            for i, (e, end, t) in enumerate(zip(entries, ends, times))
        )
    return None


@dataclass(frozen=True)
class _Moof:
    decode_time: int | None
    duration: int
    samples: int
    keyframe: bool | None
    first_offset: int  # composition offset of the first sample
    absolute: bool = False  # its tfhd gives a base data offset in the file


def _moof_at(src: _Bytes, offset: int, track: Track) -> tuple[_Moof, int]:
    """The moof at `offset` and the end of the mdat after it."""
    box = src.box(offset)
    if box is None or box.type != b"moof":
        raise ResourceContentBad(f"{src.uri}: no moof box at byte {offset}")
    info = _parse_moof(src.body(box, MAX_MOOF), box.size, track, src.uri)
    end = box.end
    while end < src.size:
        nxt = src.box(end)
        if nxt is None or nxt.type in (b"moof", b"mfra", b"sidx", b"styp"):
            break
        end = nxt.end
    return info, end


def _walk(src: _Bytes, track: Track, offset: int) -> tuple[Segment, ...]:
    """Every moof's header, stepping over each mdat by its size."""
    out: list[Segment] = []
    moof: tuple[int, Box] | None = None
    info: _Moof | None = None
    while offset < src.size:
        box = src.box(offset)
        if box is None:
            break
        if box.type == b"moof" or box.type == b"mfra":
            if moof is not None and info is not None:
                out.append(_fragment(src.uri, moof[0], offset, info, track, len(out)))
                if len(out) > MAX_FRAGMENTS:
                    raise ResourceContentBad(f"{src.uri}: over {MAX_FRAGMENTS} fragments")
            moof, info = None, None
            if box.type == b"mfra":
                break
            moof = (offset, box)
            info = _parse_moof(src.body(box, MAX_MOOF), box.size, track, src.uri)
        offset = box.end
    if moof is not None and info is not None:
        out.append(_fragment(src.uri, moof[0], offset, info, track, len(out)))
    return tuple(s for s in out if s.duration or s.keyframe is not None)


def _fragment(uri: str, start: int, end: int, info: _Moof, track: Track, n: int) -> Segment:
    dts = info.decode_time or 0
    return Segment(
        uri,
        track.seconds(dts + info.first_offset),
        info.duration / track.timescale,
        ByteRange(start, end - start),
        keyframe=info.keyframe,
        number=n,
    )


def _parse_moof(data: bytes, size: int, track: Track, where: str) -> _Moof:
    moof = Box(b"moof", 0, 8, size)
    for traf in find(data, moof, [b"traf"], where):
        tfhd = next(find(data, traf, [b"tfhd"], where), None)
        if tfhd is None:
            raise ResourceContentBad(f"{where}: a traf without tfhd")
        _, flags, pos = full_box(data, tfhd, 4, where)
        (tid,) = struct.unpack_from(">I", data, pos)
        if tid != track.id:
            continue
        absolute = bool(flags & 0x1)
        pos += 4 + (8 if flags & 0x1 else 0) + (4 if flags & 0x2 else 0)
        need = 4 * sum(bool(flags & f) for f in (0x8, 0x10, 0x20))
        if pos + need > tfhd.end:
            raise ResourceContentBad(f"{where}: a truncated tfhd box")
        duration = struct.unpack_from(">I", data, pos)[0] if flags & 0x8 else track.default_duration
        pos += 4 if flags & 0x8 else 0
        pos += 4 if flags & 0x10 else 0
        default_flags = struct.unpack_from(">I", data, pos)[0] if flags & 0x20 else track.default_flags
        decode_time = None
        tfdt = next(find(data, traf, [b"tfdt"], where), None)
        if tfdt is not None:
            version, _, pos = full_box(data, tfdt, 4, where)
            decode_time = (
                struct.unpack_from(">Q" if version == 1 else ">I", data, pos)[0]
                if (tfdt.end - pos >= (8 if version == 1 else 4))
                else None
            )
        total, samples, key, offset0 = 0, 0, None, 0
        for trun in find(data, traf, [b"trun"], where):
            d, n, k, o = _trun(data, trun, duration, default_flags, where)
            if samples == 0:
                key, offset0 = k, o
            total += d
            samples += n
        return _Moof(decode_time, total, samples, key, offset0, absolute)
    return _Moof(None, 0, 0, None, 0)


def _trun(data: bytes, trun: Box, default_duration: int, default_flags: int, where: str) -> tuple[int, int, bool, int]:
    """(total duration, samples, first sample is a keyframe, its composition
    offset) of a trun box."""
    version, flags, pos = full_box(data, trun, 4, where)
    (count,) = struct.unpack_from(">I", data, pos)
    pos += 4 + (4 if flags & 0x1 else 0)
    first_flags = None
    if flags & 0x4:
        if pos + 4 > trun.end:
            raise ResourceContentBad(f"{where}: a truncated trun box")
        (first_flags,) = struct.unpack_from(">I", data, pos)
        pos += 4
    fields = [f for f in (0x100, 0x200, 0x400, 0x800) if flags & f]
    if pos + 4 * len(fields) * count > trun.end:
        raise ResourceContentBad(f"{where}: a trun box of {count} samples holds fewer")
    table = np.frombuffer(data, dtype=">u4", count=len(fields) * count, offset=pos).reshape(count, len(fields))
    column = {f: table[:, i] for i, f in enumerate(fields)}
    duration = int(column[0x100].sum(dtype=np.int64)) if 0x100 in column else default_duration * count
    if first_flags is None:
        first_flags = int(column[0x400][0]) if 0x400 in column and count else default_flags
    offset = 0
    if 0x800 in column and count:
        raw = int(column[0x800][0])
        offset = raw - (1 << 32) if version == 1 and raw >= 1 << 31 else raw
    return duration, count, not first_flags & NON_SYNC, offset
