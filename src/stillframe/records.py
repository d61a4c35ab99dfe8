"""What the engine reports: where each frame came from (Provenance, the base of
Frame, Snapshot and the records a split run's workers send back), what the work
cost (Stats, one shape from a decoder's group to a whole run), and a run's result
(SnapshotResult)."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar

from stillframe.info import VideoInfo, rounded, rounded_repr

__all__ = ["Provenance", "Snapshot", "SnapshotResult", "Stats"]

# Stats.merge runs on whichever thread consumes results; one lock for every Stats
# (merges are a few additions, once a group).
_MERGE = threading.Lock()


@dataclass(frozen=True, repr=False, eq=False)
class Provenance:
    """Where one frame came from.

    `requested_time` is what was asked (seconds from the stream's start); `time` and
    `pts` are the returned frame's own presentation time (seconds from the stream's
    start, and in stream time-base units); `rule` says which rule chose it
    ("displayed", "next", "intra", "tolerance", or "last": "next" past the last
    frame, which gives the last frame); `decoder` names the decoder that produced
    it ("h264", or "h264 (cuda)" on a device); `fallback` says why it was decoded on
    the CPU when a device was asked for.
    """

    requested_time: float
    time: float
    pts: int
    is_keyframe: bool
    rule: str
    decoder: str
    fallback: str | None = None

    __repr__ = rounded_repr

    def provenance(self) -> dict[str, Any]:
        """The provenance fields alone, by name."""
        return {f.name: getattr(self, f.name) for f in fields(Provenance)}


@dataclass
class Stats:
    """What decoding cost: a Video's running totals (Video.stats), one run's
    (SnapshotResult.stats, where `seconds` is the whole run's), or one group's on
    one decoder. Read as attributes or by key (`stats["frames_decoded"]`)."""

    frames_decoded: int = 0
    packets_sent: int = 0
    packets_skipped: int = 0  # sent with skipping on, and produced no frame
    seeks: int = 0
    decode_errors: int = 0  # packets the decoder rejected
    seconds: float = 0.0
    workers: int = 1
    index: str = "scan"  # how frames were found: "container" (the file's own index) or "scan"
    regions: int = 0  # regions read through the container's index
    bytes_demuxed: int = 0  # packet bytes those regions read

    # The counters that add up when work is merged.
    COUNTED: ClassVar[tuple[str, ...]] = (
        "frames_decoded",
        "packets_sent",
        "packets_skipped",
        "seeks",
        "decode_errors",
        "regions",
        "bytes_demuxed",
    )

    def __getitem__(self, name: str) -> Any:
        if name not in self.__dataclass_fields__:
            raise KeyError(name)
        return getattr(self, name)

    def get(self, name: str, default: Any = None) -> Any:
        """The value of `name`, or `default` when Stats has no such field."""
        return getattr(self, name, default) if name in self.__dataclass_fields__ else default

    def to_dict(self) -> dict[str, Any]:
        """Plain values, by name."""
        return asdict(self)

    def merge(self, other: Stats | Mapping[str, Any]) -> Stats:
        """Add `other`'s counters (a Stats, or its to_dict()) into these; safe to call
        from several threads on one Stats."""
        get = other.get
        with _MERGE:
            for name in self.COUNTED:
                setattr(self, name, getattr(self, name) + int(get(name, 0) or 0))
        return self


@dataclass(frozen=True, repr=False)
class Snapshot(Provenance):
    """Where one output came from. `index` is 1-based (the {Count} of its file);
    `file` is empty when single pictures were not kept (a sprite with
    keep_cell_pic=False)."""

    index: int = 0
    file: str = ""

    __repr__ = rounded_repr

    @classmethod
    def of(cls, frame: Provenance, index: int, file: str) -> Snapshot:
        """The record of `frame` written as snapshot `index` (1-based) to `file`."""
        return cls(**frame.provenance(), index=index, file=file)


@dataclass
class SnapshotResult:
    """What a snapshot run made: `files` and `frames` (one Snapshot record each, in
    the order asked), how many the sampling asked for (`requested`: count + dropped)
    and how many of those could not be taken and why (`dropped`, `reason`), the
    sheets, track, storyboard and cover when asked for, black first snapshots
    swapped out (`replaced`), what decoded (`decoding`), what it cost (`stats`),
    what was written (`writes`), and an earlier run's files the output names match
    that this run left (`stale`) or removed (`removed`, with clean=True)."""

    files: list[str]
    frames: list[Snapshot]
    requested: int  # how many the sampling asked for on this video: count + dropped
    dropped: int  # asked for but past the end of the video
    reason: str  # why they were dropped
    info: VideoInfo
    stats: Stats = field(default_factory=Stats)  # Video.stats of the run; `seconds` the whole run
    sprites: list[str] = field(default_factory=list)
    webvtt: str | None = None
    storyboard: str | None = None
    cover: str | None = None
    cover_index: int | None = None  # 1-based snapshot chosen as the cover
    replaced: list[dict[str, Any]] = field(default_factory=list)  # black snapshots swapped out
    decoding: dict[str, Any] = field(default_factory=dict)  # Video.decoding: device, decoder, fallback
    writes: dict[str, Any] = field(default_factory=dict)  # Ledger.report: files, objects, bytes, retries
    stale: list[str] = field(default_factory=list)  # earlier files the output names match, left as they were
    removed: list[str] = field(default_factory=list)  # earlier files removed (clean=True)

    @property
    def count(self) -> int:
        """How many snapshots were taken."""
        return len(self.frames)

    def to_dict(self) -> dict[str, Any]:
        """Plain values for JSON; times to the microsecond (no float noise)."""
        out = asdict(self)
        out["count"] = self.count
        return rounded(out)
