"""Streaming formats' own indexes: HLS playlists, DASH manifests, fragmented MP4
(`sidx`, `mfra`, `moof` headers) and Matroska clusters, each read by small byte
ranges through a `RangeReader` and returned as a `StreamIndex` of `Segment`s.

Names are imported when first used: the engine imports this package for every
video, and a video that is none of these formats never pays for the HTTP client,
the playlist and the XML parsers."""

from __future__ import annotations

import typing

from stillframe._lazy import lazy_names as _lazy_names

if typing.TYPE_CHECKING:
    from stillframe.streams._model import ByteRange, InitSection, Key, Segment, StreamIndex, Variant
    from stillframe.streams._reader import (
        AnyReader,
        FileReader,
        FsspecReader,
        HttpReader,
        RangeReader,
        ReadStats,
        reader_for,
        resolve,
    )
    from stillframe.streams._variants import choose_variant
    from stillframe.streams.concat import SegmentStream
    from stillframe.streams.dash import read_dash
    from stillframe.streams.ebml import cues_listed, read_matroska
    from stillframe.streams.fmp4 import read_fmp4, sidx_segments
    from stillframe.streams.heads import first_timestamp
    from stillframe.streams.hls import read_hls

_WHERE = {
    "_model": ("ByteRange", "InitSection", "Key", "Segment", "StreamIndex", "Variant"),
    "_reader": (
        "AnyReader",
        "FileReader",
        "FsspecReader",
        "HttpReader",
        "RangeReader",
        "ReadStats",
        "reader_for",
        "resolve",
    ),
    "_variants": ("choose_variant",),
    "concat": ("SegmentStream",),
    "dash": ("read_dash",),
    "ebml": ("cues_listed", "read_matroska"),
    "fmp4": ("read_fmp4", "sidx_segments"),
    "heads": ("first_timestamp",),
    "hls": ("read_hls",),
}
__getattr__, __dir__ = _lazy_names(__name__, {n: f"{__name__}.{m}" for m, names in _WHERE.items() for n in names})

__all__ = [
    "AnyReader",
    "ByteRange",
    "FileReader",
    "FsspecReader",
    "HttpReader",
    "InitSection",
    "Key",
    "RangeReader",
    "ReadStats",
    "Segment",
    "SegmentStream",
    "StreamIndex",
    "Variant",
    "choose_variant",
    "cues_listed",
    "first_timestamp",
    "read_dash",
    "read_fmp4",
    "read_hls",
    "read_matroska",
    "reader_for",
    "resolve",
    "sidx_segments",
]
