"""ISO BMFF (MP4) boxes read by byte range: headers, and the few boxes a
fragmented file's index is made of (`sidx`, `tfra`, `moof`'s `tfhd`/`tfdt`/`trun`,
`moov`'s `mdhd`/`hdlr`/`trex`/`elst`). Every size and count is checked against
the bytes that hold it, so a hostile file ends in ResourceContentBad."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

from stillframe.errors import ResourceContentBad

MAX_DEPTH = 8
# Boxes whose children are boxes (the ones the index needs to descend into).
CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"mvex", b"moof", b"traf", b"edts", b"mfra"}


@dataclass(frozen=True)
class Box:
    type: bytes
    offset: int  # of the box's first byte, in whatever the caller read
    header: int  # bytes before the payload
    size: int  # whole box, header included

    @property
    def end(self) -> int:
        return self.offset + self.size

    @property
    def payload(self) -> int:
        return self.offset + self.header


def parse_header(data: bytes, pos: int, limit: int, where: str) -> Box | None:
    """The box at `data[pos:]`, its size checked against `limit` (where its parent
    or the file ends, in `data`'s coordinates); None when fewer than a header's
    bytes are there. A size of 0 means "to `limit`"."""
    if pos + 8 > len(data):
        return None
    size, kind = struct.unpack_from(">I4s", data, pos)
    header = 8
    if size == 1:
        if pos + 16 > len(data):
            return None
        (size,) = struct.unpack_from(">Q", data, pos + 8)
        header = 16
    elif size == 0:
        size = limit - pos
    if kind == b"uuid":
        header += 16
    if size < header or pos + size > limit:
        raise ResourceContentBad(f"{where}: a damaged {_name(kind)} box at byte {pos} (size {size})")
    return Box(kind, pos, header, size)


def children(data: bytes, parent: Box, where: str, depth: int = 0) -> Iterator[Box]:
    """The boxes inside `parent` (whose bytes are all in `data`)."""
    if depth > MAX_DEPTH:
        raise ResourceContentBad(f"{where}: boxes nested over {MAX_DEPTH} deep")
    pos = parent.payload
    while pos < parent.end:
        box = parse_header(data, pos, parent.end, where)
        if box is None:
            raise ResourceContentBad(f"{where}: a damaged {_name(parent.type)} box at byte {parent.offset}")
        yield box
        pos = box.end


def find(data: bytes, parent: Box, path: list[bytes], where: str, depth: int = 0) -> Iterator[Box]:
    """Descendants of `parent` along `path` of box types (every match)."""
    for box in children(data, parent, where, depth):
        if box.type == path[0]:
            if len(path) == 1:
                yield box
            elif box.type in CONTAINERS:
                yield from find(data, box, path[1:], where, depth + 1)


def full_box(data: bytes, box: Box, need: int, where: str) -> tuple[int, int, int]:
    """(version, flags, payload offset after them) of a full box with at least
    `need` more bytes."""
    pos = box.payload
    if box.end - pos < 4 + need:
        raise ResourceContentBad(f"{where}: a truncated {_name(box.type)} box at byte {box.offset}")
    version = data[pos]
    flags = int.from_bytes(data[pos + 1 : pos + 4], "big")
    return version, flags, pos + 4


def _name(kind: bytes) -> str:
    return kind.decode("latin-1")


@dataclass(frozen=True)
class SidxRef:
    offset: int  # absolute byte offset of the referenced bytes
    size: int
    time: int  # earliest presentation time, in `timescale` units
    duration: int
    is_index: bool  # points at another sidx
    starts_with_sap: bool


def parse_sidx(data: bytes, box: Box, file_offset: int, where: str) -> tuple[int, list[SidxRef]]:
    """(timescale, references) of a `sidx` box whose first byte is at
    `file_offset` in the file."""
    version, _, pos = full_box(data, box, 20, where)
    _ref_id, timescale = struct.unpack_from(">II", data, pos)
    pos += 8
    if version == 0:
        earliest, first = struct.unpack_from(">II", data, pos)
        pos += 8
    else:
        if box.end - pos < 20:
            raise ResourceContentBad(f"{where}: a truncated sidx box")
        earliest, first = struct.unpack_from(">QQ", data, pos)
        pos += 16
    (count,) = struct.unpack_from(">xxH", data, pos)
    pos += 4
    if timescale == 0 or pos + 12 * count > box.end:
        raise ResourceContentBad(f"{where}: a damaged sidx box (timescale {timescale}, {count} references)")
    refs = []
    offset = file_offset + box.size + first
    t = earliest
    for i in range(count):
        word, duration, sap = struct.unpack_from(">III", data, pos + 12 * i)
        size = word & 0x7FFFFFFF
        refs.append(SidxRef(offset, size, t, duration, bool(word >> 31), bool(sap >> 31)))
        offset += size
        t += duration
    return timescale, refs


@dataclass(frozen=True)
class TfraEntry:
    time: int
    moof_offset: int
    traf: int
    trun: int
    sample: int


def parse_tfra(data: bytes, box: Box, where: str, limit: int) -> tuple[int, list[TfraEntry]]:
    """(track id, entries) of a `tfra` box; more than `limit` entries is refused."""
    version, _, pos = full_box(data, box, 12, where)
    track, sizes, count = struct.unpack_from(">III", data, pos)
    pos += 12
    lt, lr, ls = ((sizes >> 4) & 3) + 1, ((sizes >> 2) & 3) + 1, (sizes & 3) + 1
    each = (16 if version == 1 else 8) + lt + lr + ls
    if count > limit or pos + each * count > box.end:
        raise ResourceContentBad(f"{where}: a damaged tfra box ({count} entries)")
    out = []
    for _ in range(count):
        if version == 1:
            time, moof = struct.unpack_from(">QQ", data, pos)
            pos += 16
        else:
            time, moof = struct.unpack_from(">II", data, pos)
            pos += 8
        traf = int.from_bytes(data[pos : pos + lt], "big")
        trun = int.from_bytes(data[pos + lt : pos + lt + lr], "big")
        sample = int.from_bytes(data[pos + lt + lr : pos + lt + lr + ls], "big")
        pos += lt + lr + ls
        out.append(TfraEntry(time, moof, traf, trun, sample))
    return track, out
