"""One wild timestamp written into a file's bytes, as damage leaves it: a PES
header's PTS or DTS in MPEG-TS, a composition offset in an MP4's ctts, a
SimpleBlock's or a Cluster's timecode in Matroska. Each returns the damaged bytes
and what was changed (None when the file has no such field)."""

from __future__ import annotations

import random
import struct


def ts_pes_starts(data: bytes, pid_stream: int = 0xE0) -> list[int]:
    """Offsets of the video PES headers (00 00 01 E0) that begin a TS packet's payload."""
    out = []
    for off in range(0, len(data) - 188 + 1, 188):
        if data[off] != 0x47 or not data[off + 1] & 0x40:
            continue
        p = off + 4
        if (data[off + 3] >> 4) & 2:
            p += 1 + data[off + 4]
        if p + 14 <= off + 188 and data[p : p + 4] == bytes([0, 0, 1, pid_stream]):
            out.append(p)
    return out


def wild_ts(data: bytes, rng: random.Random) -> tuple[bytes, str | None]:
    """A high bit of one PES header's PTS (or DTS, where it has one) flipped: a
    jump of 2^30 to 2^32 ticks (3 to 13 hours), away from both neighbours."""
    starts = ts_pes_starts(data)
    if len(starts) < 5:
        return data, None
    pes = rng.choice(starts[2:-2])
    flags = data[pes + 7] >> 6  # 2: PTS, 3: PTS and DTS
    field = pes + 9 + (5 if flags == 3 and rng.random() < 0.5 else 0)
    out = bytearray(data)
    out[field] ^= rng.choice([0x02, 0x04, 0x08])  # bits 30..32 of the 33-bit timestamp
    return bytes(out), f"TS PES at {pes}"


def _boxes(data: bytes, start: int, end: int):
    i = start
    while i + 8 <= end:
        size, kind = struct.unpack(">I4s", data[i : i + 8])
        if size < 8 or i + size > end:
            return
        yield kind, i, size
        i += size


def _find_box(data: bytes, path: list[bytes], start: int = 0, end: int | None = None) -> tuple[int, int] | None:
    end = len(data) if end is None else end
    for kind, at, size in _boxes(data, start, end):
        if kind == path[0]:
            if len(path) == 1:
                return at, size
            found = _find_box(data, path[1:], at + 8, at + size)
            if found:
                return found
    return None


def wild_mp4(data: bytes, rng: random.Random) -> tuple[bytes, str | None]:
    """One ctts entry's composition offset made huge (its samples shown hours late)."""
    box = _find_box(data, [b"moov", b"trak", b"mdia", b"minf", b"stbl", b"ctts"])
    if box is None:
        return data, None
    at, _ = box
    entries = struct.unpack(">I", data[at + 12 : at + 16])[0]
    if entries < 5:
        return data, None
    k = rng.randrange(2, entries - 2)
    field = at + 16 + 8 * k + 4
    out = bytearray(data)
    out[field : field + 4] = struct.pack(">I", rng.choice([0x10000000, 0x20000000, 0x3FFFFFFF]))
    return bytes(out), f"ctts entry {k}"


def _vint(data: bytes, i: int, keep_marker: bool) -> tuple[int, int]:
    """An EBML variable-length integer at `i`: (value, length)."""
    first = data[i]
    length = 1
    while length <= 8 and not first & (0x80 >> (length - 1)):
        length += 1
    value = first if keep_marker else first & (0xFF >> length)
    for b in data[i + 1 : i + length]:
        value = (value << 8) | b
    return value, length


CLUSTER, TIMESTAMP, SIMPLEBLOCK, BLOCKGROUP, BLOCK = 0x1F43B675, 0xE7, 0xA3, 0xA0, 0xA1


def mkv_clusters(data: bytes) -> list[tuple[int, int]]:
    """(offset of the payload, payload size) of every Cluster with a known size."""
    out = []
    i = data.find(bytes.fromhex("1F43B675"))
    while i >= 0:
        size, n = _vint(data, i + 4, False)
        out.append((i + 4 + n, size))
        i = data.find(bytes.fromhex("1F43B675"), i + 4 + n + size)
    return out


def _children(data: bytes, start: int, end: int):
    i = start
    while i < end:
        ident, n = _vint(data, i, True)
        size, m = _vint(data, i + n, False)
        yield ident, i + n + m, size
        i += n + m + size


def wild_mkv(data: bytes, rng: random.Random, cluster: bool = False) -> tuple[bytes, str | None]:
    """One block's 16-bit timecode set to +32767 (32.8 s on from its cluster's,
    beyond its neighbours'), or, `cluster`, one Cluster's Timestamp made hours
    later (as late as a short field goes): every block in it moves."""
    clusters = mkv_clusters(data)
    if len(clusters) < 3:
        return data, None
    k = rng.randrange(1, len(clusters) - 1)
    start, size = clusters[k]
    out = bytearray(data)
    blocks = []
    for ident, at, length in _children(data, start, start + size):
        if ident == TIMESTAMP and cluster:
            value = int.from_bytes(data[at : at + length], "big") + 3_600_000 * rng.randint(1, 20)
            value = min(value, (1 << (8 * length)) - 1)  # a short field: as far as it goes
            out[at : at + length] = value.to_bytes(length, "big")
            return bytes(out), f"cluster {k} timestamp"
        if ident == SIMPLEBLOCK:
            blocks.append(at)
        elif ident == BLOCKGROUP:
            blocks += [a for i2, a, _ in _children(data, at, at + length) if i2 == BLOCK]
    if cluster or not blocks:
        return data, None
    block = rng.choice(blocks)
    _, n = _vint(data, block, False)  # the track number, then the 16-bit timecode
    out[block + n : block + n + 2] = struct.pack(">h", 32767)
    return bytes(out), f"cluster {k} block at {block}"


def wild(data: bytes, suffix: str, rng: random.Random) -> tuple[bytes, str | None]:
    """One wild timestamp for a file of this suffix (.ts, .mp4, .mkv, .webm)."""
    if suffix == ".ts":
        return wild_ts(data, rng)
    if suffix in (".mp4", ".mov"):
        return wild_mp4(data, rng)
    if suffix in (".mkv", ".webm"):
        return wild_mkv(data, rng, cluster=rng.random() < 0.5)
    return data, None
