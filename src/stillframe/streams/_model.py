"""What the stream parsers return: plain frozen dataclasses."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ByteRange:
    """`length` bytes from `start` of a resource."""

    start: int
    length: int

    @property
    def end(self) -> int:
        """One past the last byte."""
        return self.start + self.length


@dataclass(frozen=True)
class Key:
    """How a segment is encrypted (HLS EXT-X-KEY). `method` is "AES-128" or
    "SAMPLE-AES"; `iv` the 16-byte IV when the playlist gives one (else the
    segment's media sequence number is the IV)."""

    method: str
    uri: str | None
    iv: bytes | None = None


@dataclass(frozen=True)
class InitSection:
    """The initialisation segment (an fMP4 `ftyp`+`moov`, EXT-X-MAP) a media
    segment needs before its bytes decode."""

    uri: str
    byte_range: ByteRange | None = None


@dataclass(frozen=True)
class Segment:
    """One piece of a stream that can be fetched alone.

    `start` and `duration` are seconds. For a DASH segment, an fMP4 fragment or a
    Matroska cluster, `start` is the stream's own time (the decode time in the
    media's time base, presentation time offset removed for DASH); for an HLS
    segment it is the sum of the EXTINF durations before it, measured from the
    first segment's start (the stream's time is that plus the first segment's
    first timestamp, which only its bytes tell). `keyframe` is whether the
    segment starts with a keyframe, None where the index does not say.
    `discontinuity` counts the discontinuities before it (timestamps may restart
    at each)."""

    uri: str
    start: float
    duration: float
    byte_range: ByteRange | None = None
    keyframe: bool | None = None
    discontinuity: int = 0
    init: InitSection | None = None
    key: Key | None = None
    number: int = 0

    @property
    def end(self) -> float:
        """`start` + `duration`: where the segment ends, on `start`'s timeline."""
        return self.start + self.duration


@dataclass(frozen=True)
class Variant:
    """One rendition a master playlist or an MPD offers. `uri` is the media
    playlist (HLS) or the representation's id (DASH)."""

    uri: str
    bandwidth: int
    resolution: tuple[int, int] | None = None
    codecs: str | None = None
    frame_rate: float | None = None
    name: str | None = None


@dataclass(frozen=True)
class StreamIndex:
    """A stream's segments in order, as its own index lists them.

    `kind` is "hls", "dash", "fmp4" or "matroska"; `uri` what was read (the media
    playlist, the MPD, the file); `variants` what a master playlist or an MPD
    offered and `variant` the one chosen; `complete` is False for a live
    playlist (no ENDLIST) or a dynamic MPD; `how` says which of the format's
    indexes was used ("playlist", "SegmentTemplate", "sidx", "mfra", "moof walk",
    "cluster walk"...)."""

    kind: str
    uri: str
    segments: tuple[Segment, ...]
    how: str
    complete: bool = True
    variants: tuple[Variant, ...] = ()
    variant: Variant | None = None
    timescale: int | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def duration(self) -> float:
        """From the first segment's start to the last's end, in seconds."""
        if not self.segments:
            return 0.0
        return self.segments[-1].end - self.segments[0].start

    def segment_at(self, t: float) -> int:
        """The index of the segment holding time `t` (the last one starting at or
        before `t`; the first for a `t` before it)."""
        lo, hi = 0, len(self.segments)
        while lo < hi:
            mid = (lo + hi) // 2
            if self.segments[mid].start <= t:
                lo = mid + 1
            else:
                hi = mid
        return max(0, lo - 1)
