"""Which sources are read by their segments, told before anything opens them:
an HLS playlist or a DASH manifest (by its name, or a local file's first line),
a local fragmented MP4 or Matroska file (by its first bytes). Kept small and
apart from the segment index (_indexes.segments), which a progressive MP4 never
loads."""

from __future__ import annotations

import contextlib
import os
import struct
import urllib.parse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from stillframe._source import RangeSource, describe, is_url
from stillframe.errors import InvalidParameter

if TYPE_CHECKING:
    from stillframe._indexes.segments import SegmentInput

__all__ = ["file_kind", "fragmented", "manifest_kind", "path_of", "stream_input"]

MANIFESTS = {".m3u8": "hls", ".m3u": "hls", ".mpd": "dash"}
MP4_BOXES = (b"ftyp", b"styp", b"moov", b"free", b"skip", b"wide", b"sidx")
EBML_MAGIC = b"\x1a\x45\xdf\xa3"
SNIFF_BYTES = 64 << 10  # what a file's head is read by: its first boxes, or Matroska's SeekHead


def manifest_kind(source: Any) -> str | None:
    """The kind ("hls" or "dash") when `source` names a playlist or a manifest (by its
    extension, or a local file's first bytes), else None."""
    if not isinstance(source, (RangeSource, str, os.PathLike)):
        return None
    name = describe(source)
    path = urllib.parse.urlsplit(name).path if "://" in name else name
    kind = MANIFESTS.get(os.path.splitext(path)[1].lower())
    if kind is not None or "://" in name and not name.startswith("file://"):
        return kind
    with contextlib.suppress(OSError):
        with open(name[len("file://") :] if name.startswith("file://") else name, "rb") as f:
            head = f.read(512).lstrip(b"\xef\xbb\xbf \t\r\n")
        if head.startswith(b"#EXTM3U"):
            return "hls"
        if head.startswith(b"<?xml") and b"<MPD" in head or head.startswith(b"<MPD"):
            return "dash"
    return None


def stream_input(source: Any, timeout: float | None, variant: str | int | None) -> SegmentInput | None:
    """The source as a SegmentInput when it names a playlist or a manifest; else
    None (and `variant`, which chooses a rendition of one, refused)."""
    kind = manifest_kind(source)
    if kind is not None:
        from stillframe._indexes.segments import SegmentInput, Segments

        return SegmentInput(source, Segments.of_manifest(source, kind, timeout, variant), timeout)
    if variant is not None:
        raise InvalidParameter(
            f"variant={variant!r} chooses a rendition of an HLS master playlist or a DASH manifest; "
            f"{describe(source)} is neither"
        )
    if not isinstance(source, (str, os.PathLike)) or is_url(os.fspath(source)):
        return None  # a remote file is opened by FFmpeg first (told apart by its index: segments.segment_index)
    kind = _local_kind(path_of(os.fspath(source)))
    if kind is None:
        return None  # a progressive MP4 costs two reads, and no import
    from stillframe._indexes.segments import SegmentInput, Segments

    segments = Segments.of_file(source, kind, timeout)
    return SegmentInput(source, segments, timeout) if segments is not None else None


def _local_kind(path: str) -> str | None:
    """ "mp4" for a local fragmented MP4, "matroska" for a Matroska file (cues or
    not), else None, by plain reads."""
    try:
        with open(path, "rb") as f:
            head, size = f.read(SNIFF_BYTES), os.fstat(f.fileno()).st_size

            def read(offset: int, length: int) -> bytes:
                f.seek(offset)
                return f.read(length)

            return file_kind(head, size, read, path)
    except OSError:
        return None


def file_kind(head: bytes, size: int, read: Callable[[int, int], bytes], where: str) -> str | None:
    """ "mp4" for a fragmented MP4, "matroska" for a Matroska file (cues or not),
    else None, from a file's `head` of `size` bytes (`read` for what lies past it)."""
    if head[:4] == EBML_MAGIC:
        return "matroska"
    if head[4:8] in MP4_BOXES:
        return "mp4" if fragmented(read, size, where, head) else None
    return None


def path_of(name: str) -> str:
    """A source's name as the range readers take it (a file:// URL as its path)."""
    return name[len("file://") :] if name.startswith("file://") else name


def fragmented(read: Callable[[int, int], bytes], size: int, where: str, head: bytes = b"") -> bool:
    """Whether an MP4 of `size` bytes holds its samples in fragments: a `moof`,
    `sidx` or `styp` follows its `moov`. Reads the top-level box headers up to
    there through `read(offset, length)`, from `head` (the file's first bytes)
    while they reach. False for one with a `mdat` first, and for a box whose
    size runs past the file."""
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
            return False  # damaged or cut off: FFmpeg opens it and says what is wrong
        if kind == b"mdat":
            return False
        if kind == b"moov":
            moov = True
        elif moov and kind in (b"moof", b"sidx", b"styp"):
            return True
        pos += length
    return False
