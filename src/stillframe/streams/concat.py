"""Chosen segments as one stream PyAV can open: each init section where it
changes, then each segment's bytes, fetched lazily through a RangeReader. This
is how a DASH representation is decoded (PyAV's wheels have no DASH demuxer),
and how a few segments of an HLS or fMP4 stream are read without the rest."""

from __future__ import annotations

import bisect
import io
from collections.abc import Sequence

from stillframe.errors import InvalidParameter
from stillframe.streams._model import ByteRange, Segment
from stillframe.streams._reader import RangeReader

__all__ = ["SegmentStream"]

KEEP_BYTES = 8 << 20  # recent blocks kept: the mov demuxer reads each next moof ahead


class SegmentStream(io.RawIOBase):
    """A read-only, seekable file object over `segments` (in order). Bytes are
    fetched `block` at a time as the demuxer asks for them, so a decoder that
    stops early stops the reading too. Encrypted segments are refused (FFmpeg's
    hls demuxer decrypts AES-128 as it reads)."""

    def __init__(self, reader: RangeReader, segments: Sequence[Segment], block: int = 1 << 20) -> None:
        super().__init__()
        if not segments:
            raise InvalidParameter("no segments to read")
        self.reader, self.block = reader, block
        self.parts: list[tuple[str, int, int]] = []  # (uri, start, length)
        init = None
        for seg in segments:
            if seg.key is not None:
                raise InvalidParameter(f"{seg.uri}: an encrypted segment ({seg.key.method})")
            if seg.init is not None and seg.init != init:
                self.parts.append(self._part(seg.init.uri, seg.init.byte_range))
            init = seg.init
            self.parts.append(self._part(seg.uri, seg.byte_range))
        self.offsets = [0]
        for _, _, length in self.parts:
            self.offsets.append(self.offsets[-1] + length)
        self.pos = 0
        # Recent blocks by their offset in this stream: demuxers look back (the mov
        # demuxer reads the file's last bytes for an mfra, then returns).
        self._blocks: dict[int, bytes] = {}

    def _part(self, uri: str, byte_range: ByteRange | None) -> tuple[str, int, int]:
        if byte_range is not None:
            return uri, byte_range.start, byte_range.length
        return uri, 0, self.reader.size(uri)

    @property
    def size(self) -> int:
        """The chosen segments' length in bytes, together."""
        return self.offsets[-1]

    def readable(self) -> bool:
        """Always: the stream is read."""
        return True

    def seekable(self) -> bool:
        """Always: any offset is reached by reading its segment."""
        return True

    def tell(self) -> int:
        """The position, in bytes from the first segment's start."""
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Move to `offset` (from the start, the position or the end); returns the position."""
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.size}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        """Read into `buffer` from the position, within one segment's block; returns the bytes read."""
        view = memoryview(buffer).cast("B")
        if self.pos >= self.size or not len(view):
            return 0
        start, data = self._block(self.pos)
        chunk = data[self.pos - start : self.pos - start + len(view)]
        view[: len(chunk)] = chunk
        self.pos += len(chunk)
        return len(chunk)

    def _block(self, pos: int) -> tuple[int, bytes]:
        """(its offset, its bytes) of the block holding `pos`: blocks are aligned
        within each part and never cross into the next."""
        i = bisect.bisect_right(self.offsets, pos) - 1
        uri, first, length = self.parts[i]
        within = (pos - self.offsets[i]) // self.block * self.block
        start = self.offsets[i] + within
        if start not in self._blocks:
            if len(self._blocks) >= max(4, KEEP_BYTES // self.block):
                del self._blocks[next(iter(self._blocks))]
            self._blocks[start] = self.reader.read(uri, first + within, min(self.block, length - within))
        return start, self._blocks[start]
