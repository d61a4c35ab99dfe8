"""What a file is, from its first bytes, before anything opens it: whether an MP4
holds its samples in fragments. Kept apart from the box parsers (no dataclasses,
nothing imported): every MP4 a Video opens is asked."""

from __future__ import annotations

import struct
from collections.abc import Callable

from stillframe.errors import ResourceContentBad

__all__ = ["fragmented"]


def fragmented(read: Callable[[int, int], bytes], size: int, where: str, head: bytes = b"") -> bool:
    """Whether an MP4 of `size` bytes holds its samples in fragments: a `moof`,
    `sidx` or `styp` follows its `moov`. Reads the top-level box headers up to
    there through `read(offset, length)`, from `head` (the file's first bytes)
    while they reach. False for one with a `mdat` first; ResourceContentBad for
    a box whose size runs past the file."""
    pos, moov = 0, False
    for _ in range(32):
        if pos + 8 > size:
            return False
        data = head[pos : pos + 16] if pos + 16 <= len(head) else read(pos, 16)
        if len(data) < 8:
            return False
        length, kind = struct.unpack_from(">I4s", data)
        if length == 1 and len(data) >= 16:
            (length,) = struct.unpack_from(">Q", data, 8)
        elif length == 0:
            length = size - pos
        if length < 8 or pos + length > size:
            raise ResourceContentBad(f"{where}: a damaged box at byte {pos} (size {length})")
        if kind == b"mdat":
            return False
        if kind == b"moov":
            moov = True
        elif moov and kind in (b"moof", b"sidx", b"styp"):
            return True
        pos += length
    return False
