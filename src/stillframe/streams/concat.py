"""Chosen segments as one stream PyAV can open, fetched lazily through a
RangeReader: how a DASH representation is decoded (PyAV's wheels have no DASH
demuxer), and how a few segments of an HLS, DASH, fMP4 or Matroska stream are
read without the rest.

Two layouts. Concatenated (HLS, DASH): each init section where it changes, then
each segment's bytes, one after the other. In place (one fragmented MP4 or
Matroska file): every byte at its offset in the file, the bytes left out
replaced by one filler element the demuxer steps over (an MP4 `free` box, an
EBML Void), so fragments that address their samples from the file's start
still decode. AES-128 segments (HLS) are fetched whole and decrypted."""

from __future__ import annotations

import bisect
import io
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from stillframe.errors import InvalidParameter, ResourceContentBad
from stillframe.streams._model import ByteRange, Key, Segment
from stillframe.streams._reader import RangeReader

__all__ = ["FILLERS", "SegmentStream"]

KEEP_BYTES = 8 << 20  # recent blocks kept: the mov demuxer reads each next moof ahead
MAX_GROWTH = 8  # a run of sequential reads fetches up to this many blocks at once
MAX_KEY_BYTES = 4096
FILLERS = ("mp4", "matroska")


@dataclass
class _Part:
    uri: str
    start: int
    length: int | None  # None: a whole resource whose size is not asked yet
    key: Key | None = None
    number: int = 0
    filler: bytes | None = None  # a synthetic part: this header, then zeros


def _filler(kind: str, length: int) -> bytes | None:
    """The header of an element of `length` bytes that `kind`'s demuxer skips, or
    None when `length` is too short to hold one."""
    if kind == "mp4":
        if length < 8:
            return None
        if length < 1 << 32:
            return length.to_bytes(4, "big") + b"free"
        return b"\x00\x00\x00\x01free" + length.to_bytes(8, "big") if length >= 16 else None
    if length < 9:
        return None
    return b"\xec\x01" + (length - 9).to_bytes(7, "big")  # EBML Void, an 8-byte size


class SegmentStream(io.RawIOBase):
    """A read-only file object over `segments` (in order). Bytes are fetched
    `block` at a time as the demuxer asks for them (more at once while it reads
    straight on), so a decoder that stops early stops the reading too.

    `fill` ("mp4", "matroska") lays one file's segments out in place, else they
    are concatenated. `seekable=False` keeps a demuxer reading straight on (the
    mpegts demuxer would otherwise read the end of the stream for its duration).
    Encrypted segments: AES-128 is decrypted (`keys` caches the keys fetched,
    shared between streams), SAMPLE-AES refused."""

    def __init__(
        self,
        reader: RangeReader,
        segments: Sequence[Segment],
        block: int = 1 << 20,
        *,
        fill: str | None = None,
        seekable: bool = True,
        keys: dict[str, bytes] | None = None,
    ) -> None:
        super().__init__()
        if not segments:
            raise InvalidParameter("no segments to read")
        if fill is not None and fill not in FILLERS:
            raise InvalidParameter(f"fill must be one of {FILLERS}, not {fill!r}")
        self.reader, self.block, self._seekable = reader, block, seekable
        self.keys = keys if keys is not None else {}
        self.parts = self._in_place(segments, fill) if fill else self._concatenated(segments)
        self.offsets = [0]  # where each part starts, as far as lengths are known
        self.pos = 0
        # Recent blocks by their offset in this stream: demuxers look back (the mov
        # demuxer reads the file's last bytes for an mfra, then returns).
        self._blocks: dict[int, bytes] = {}
        self._next = -1  # where the last fetch ended: reading on from it grows the next one
        self._growth = 1
        self._plain: dict[int, bytes] = {}  # decrypted parts

    # -- layouts ----------------------------------------------------------------------------

    @staticmethod
    def _part(uri: str, byte_range: ByteRange | None, key: Key | None = None, number: int = 0) -> _Part:
        if byte_range is not None:
            return _Part(uri, byte_range.start, byte_range.length, key, number)
        return _Part(uri, 0, None, key, number)

    def _concatenated(self, segments: Sequence[Segment]) -> list[_Part]:
        parts, init = [], None
        for seg in segments:
            if seg.key is not None and seg.key.method != "AES-128":
                raise InvalidParameter(f"{seg.uri}: segments encrypted with {seg.key.method} cannot be read")
            if seg.init is not None and seg.init != init:
                parts.append(self._part(seg.init.uri, seg.init.byte_range))
            init = seg.init
            parts.append(self._part(seg.uri, seg.byte_range, seg.key, seg.number))
        return parts

    def _in_place(self, segments: Sequence[Segment], kind: str) -> list[_Part]:
        uri = segments[0].uri
        ranges = []
        init = segments[0].init
        if init is not None:
            ranges.append(init.byte_range or ByteRange(0, self.reader.size(init.uri)))
        for seg in segments:
            if seg.uri != uri or seg.byte_range is None or (seg.init and seg.init.uri != uri) or seg.key:
                raise InvalidParameter(f"{seg.uri}: only byte ranges of one file can be laid out in place")
            ranges.append(seg.byte_range)
        parts: list[_Part] = []
        end = 0
        for r in sorted(ranges, key=lambda r: r.start):
            if r.end <= end:
                continue
            start = max(r.start, end)
            gap = start - end
            header = _filler(kind, gap) if gap else None
            if header is not None:
                parts.append(_Part(uri, end, gap, filler=header))
            elif gap:
                parts.append(_Part(uri, end, gap))  # too short for a filler: the bytes themselves
            parts.append(_Part(uri, start, r.end - start))
            end = r.end
        return parts

    # -- where parts lie ----------------------------------------------------------------------

    def _length(self, i: int) -> int:
        part = self.parts[i]
        if part.length is None:
            part.length = max(0, self.reader.size(part.uri) - part.start)
        if part.key is not None:
            return len(self._decrypted(i))
        return part.length

    @property
    def size(self) -> int:
        """The chosen segments' length in bytes, together (asks each part's size)."""
        for i in range(len(self.offsets) - 1, len(self.parts)):
            self.offsets.append(self.offsets[i] + self._length(i))
        return self.offsets[-1]

    # -- the file object ---------------------------------------------------------------------

    def readable(self) -> bool:
        """Always: the stream is read."""
        return True

    def seekable(self) -> bool:
        """As made: any offset is reached by reading its segment."""
        return self._seekable

    def tell(self) -> int:
        """The position, in bytes from the first segment's start."""
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Move to `offset` (from the start, the position or the end); returns the position."""
        if whence == io.SEEK_END:
            base = self.size
        else:
            base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        """Read into `buffer` from the position, within one part's block; returns the bytes read."""
        view = memoryview(buffer).cast("B")
        if not len(view):
            return 0
        found = self._block(self.pos)
        if found is None:
            return 0
        start, data = found
        chunk = data[self.pos - start : self.pos - start + len(view)]
        view[: len(chunk)] = chunk
        self.pos += len(chunk)
        return len(chunk)

    def _block(self, pos: int) -> tuple[int, bytes] | None:
        """(its offset, its bytes) of the block holding `pos`, None past the end:
        blocks are aligned within each part and never cross into the next. A
        part's length is learnt from its first read (HTTP's Content-Range says
        it), so reading on into the next part asks nothing more."""
        i = bisect.bisect_right(self.offsets, pos) - 1
        while i < len(self.parts):
            base = self.offsets[i]
            if i + 1 < len(self.offsets) and pos >= self.offsets[i + 1]:
                i += 1
                continue
            part = self.parts[i]
            within = (pos - base) // self.block * self.block
            start = base + within
            if start in self._blocks:
                return start, self._blocks[start]
            if part.length is None and part.key is None:
                data = self._fetch(part, start, within, self.block * MAX_GROWTH)
                self.offsets.append(base + self._length(i))
                if not data:
                    i += 1
                    continue
            else:
                if i + 1 == len(self.offsets):
                    self.offsets.append(base + self._length(i))
                    continue
                length = self.offsets[i + 1] - base
                if part.filler is not None:
                    head = part.filler[within : within + self.block]
                    return start, head + bytes(min(self.block, length - within) - len(head))
                if part.key is not None:
                    data = self._decrypted(i)[within : within + self.block]
                else:
                    data = self._fetch(part, start, within, length - within)
            for k in range(0, max(len(data), 1), self.block):  # kept block by block
                if len(self._blocks) >= max(4 * MAX_GROWTH, KEEP_BYTES // self.block):
                    del self._blocks[next(iter(self._blocks))]
                self._blocks[start + k] = data[k : k + self.block]
            return start, data[: self.block]
        return None

    def _fetch(self, part: _Part, start: int, within: int, most: int) -> bytes:
        """A block of `part` (more while the demuxer reads straight on), at most `most` bytes."""
        self._growth = min(MAX_GROWTH, self._growth * 2) if start == self._next else 1
        data = self.reader.read(part.uri, part.start + within, min(self.block * self._growth, most))
        self._next = start + len(data)
        return data

    # -- AES-128 -----------------------------------------------------------------------------

    def _decrypted(self, i: int) -> bytes:
        if i not in self._plain:
            part = self.parts[i]
            assert part.key is not None
            data = self.reader.read(part.uri, part.start, part.length or self.reader.size(part.uri))
            self._plain[i] = decrypt(
                data, self._key(part.key), part.key.iv or part.number.to_bytes(16, "big"), part.uri
            )
        return self._plain[i]

    _key_lock = threading.Lock()

    def _key(self, key: Key) -> bytes:
        if key.uri is None:
            raise ResourceContentBad("an AES-128 key without a URI")
        with self._key_lock:
            if key.uri not in self.keys:
                value = self.reader.read(key.uri, 0, MAX_KEY_BYTES)
                if len(value) != 16:
                    raise ResourceContentBad(f"{key.uri}: an AES-128 key of {len(value)} bytes (16 expected)")
                self.keys[key.uri] = value
            return self.keys[key.uri]


def decrypt(data: bytes, key: bytes, iv: bytes, where: str) -> bytes:
    """AES-128-CBC with PKCS#7 padding, as HLS encrypts whole segments."""
    try:
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    except ImportError:
        raise InvalidParameter(
            f"{where}: decrypting AES-128 segments needs the cryptography package (pip install cryptography)"
        ) from None
    if not data or len(data) % 16:
        raise ResourceContentBad(f"{where}: an AES-128 segment of {len(data)} bytes (a multiple of 16 expected)")
    plain = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    out = plain.update(data) + plain.finalize()
    pad = out[-1]
    if not 1 <= pad <= 16 or out[-pad:] != bytes([pad]) * pad:
        raise ResourceContentBad(f"{where}: the segment does not decrypt with its key (bad padding)")
    return out[:-pad]
