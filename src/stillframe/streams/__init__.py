"""Streaming formats' own indexes: HLS playlists, DASH manifests, fragmented MP4
(`sidx`, `mfra`, `moof` headers) and Matroska clusters, each read by small byte
ranges through a `RangeReader` and returned as a `StreamIndex` of `Segment`s."""

from __future__ import annotations

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
from stillframe.streams.fmp4 import is_fragmented, read_fmp4, sidx_segments
from stillframe.streams.heads import first_timestamp
from stillframe.streams.hls import read_hls

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
    "is_fragmented",
    "read_dash",
    "read_fmp4",
    "read_hls",
    "read_matroska",
    "reader_for",
    "resolve",
    "sidx_segments",
]
