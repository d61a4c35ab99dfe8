"""snapshot(): times in, JPEG files out, with the provenance of every frame."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Union

from stillframe import _source
from stillframe._files import write_atomic
from stillframe.errors import InvalidParameter, SnapshotTimeOut, StillframeError
from stillframe.jpeg import encode_jpegs
from stillframe.plan import Pick
from stillframe.sampling import Dots, Sampling, Schedule, sampling_from_dict
from stillframe.video import Video, VideoInfo

__all__ = ["Snapshot", "SnapshotResult", "output_names", "snapshot"]

SamplingLike = Union[Sampling, Mapping[str, Any], Sequence[float], float, None]
_BATCH = 16


@dataclass(frozen=True)
class Snapshot:
    """Where one output came from."""

    index: int  # 1-based, the {Count} of its file
    requested_time: float
    time: float
    pts: int
    is_keyframe: bool
    rule: str
    decoder: str
    file: str


@dataclass
class SnapshotResult:
    files: list[str]
    frames: list[Snapshot]
    requested: int | None  # how many the sampling asked for, when a number
    dropped: int  # asked for but past the end of the video
    reason: str  # why they were dropped
    info: VideoInfo
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return len(self.files)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["count"] = self.count
        return out


def as_sampling(sampling: SamplingLike) -> Sampling:
    if sampling is None:
        return Dots([0.0])
    if isinstance(sampling, Mapping):
        return sampling_from_dict(sampling)
    if isinstance(sampling, (int, float)):
        return Dots([float(sampling)])
    if isinstance(sampling, Sequence) and not isinstance(sampling, str):
        return Dots(list(sampling))
    if hasattr(sampling, "resolve"):
        return sampling  # type: ignore[return-value]
    raise InvalidParameter(f"cannot use a {type(sampling).__name__} as a sampling")


_COUNT = re.compile(r"\{Count\}")


def output_names(output: str | os.PathLike[str], count: int) -> list[str]:
    """File names for `count` snapshots. `{Count}` is the 1-based index in 5 digits
    (00001); it is required when there is more than one snapshot. A directory (an
    existing one, or a name ending in /) gets `{Count}.jpg` inside it."""
    text = os.fspath(output)
    if text.endswith(("/", os.sep)) or Path(text).is_dir():
        text = os.path.join(text, "{Count}.jpg")
    if count > 1 and not _COUNT.search(text):
        raise InvalidParameter(
            f"output {text!r} has no {{Count}} but {count} snapshots are to be written: "
            "add {Count} to the name (for example out/{Count}.jpg)"
        )
    return [_COUNT.sub(f"{i + 1:05d}", text) for i in range(count)]


def snapshot(
    source: _source.Source,
    sampling: SamplingLike = None,
    output: str | os.PathLike[str] = "out/{Count}.jpg",
    *,
    frame_type: str = "normal",
    snap: str = "displayed",
    tolerance: float = 0.0,
    width: int | None = None,
    height: int | None = None,
    max_length: int | None = None,
    aspect_ratio: str = "keep",
    quality: int = 85,
    stream: int | None = None,
    workers: int | None = None,
    timeout: float | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SnapshotResult:
    """Write snapshots of `source` at the times `sampling` gives (an Interval, Dots,
    Quantity, a service's dict, a list of seconds, or None for one at 0 s).

    Times past the end are left out and the result says how many and why.
    Each JPEG is written to a temporary name and renamed into place. `timeout`
    (seconds) raises SnapshotTimeOut. See Video.frames_at for the frame options.
    """
    if not 1 <= int(quality) <= 100:
        raise InvalidParameter(f"quality must be in 1..100, not {quality}")
    plan = as_sampling(sampling)
    started = time.monotonic()
    deadline = started + timeout if timeout else None
    with Video(source, stream, workers=workers, timeout=timeout) as video:
        schedule: Schedule = plan.resolve(video.info.duration)
        reason = schedule.reason
        if video.info.truncated and schedule.dropped:
            reason += f"; the file's data ends at {video.info.duration:.3f} s but its header says {video.info.header_duration:.3f} s (cut off)"
        names = output_names(output, len(schedule.times)) if schedule.times else []
        if not schedule.times:
            raise InvalidParameter(f"no snapshot can be taken: {reason}")
        records: list[Snapshot | None] = [None] * len(names)
        picks: list[Pick] = []
        batch: list[tuple[Pick, Any]] = []
        done = 0

        def flush() -> None:
            nonlocal done
            if deadline is not None and time.monotonic() > deadline:
                raise SnapshotTimeOut(f"the snapshot took longer than {timeout} s")
            jpegs = encode_jpegs([f.planes() for _, f in batch], quality=quality)
            for (pick, frame), data in zip(batch, jpegs):
                name = names[pick.request]
                write_atomic(name, data)
                records[pick.request] = Snapshot(
                    pick.request + 1,
                    pick.time,
                    frame.time,
                    frame.pts,
                    frame.is_keyframe,
                    frame.rule,
                    frame.decoder,
                    name,
                )
            done += len(batch)
            batch.clear()
            if progress is not None:
                progress(done, len(names))

        try:
            for pair in video._stream_frames(
                schedule.times,
                frame_type=frame_type,
                snap=snap,
                tolerance=tolerance,
                width=width,
                height=height,
                max_length=max_length,
                aspect_ratio=aspect_ratio,
                deadline=deadline,
                ordered=False,
                _picks_out=picks,
            ):
                batch.append(pair)
                if len(batch) >= _BATCH:
                    flush()
            if batch:
                flush()
        except StillframeError as exc:
            exc.files = [r.file for r in records if r is not None]  # type: ignore[attr-defined]
            raise
        stats = {
            "frames_decoded": video.stats.frames_decoded,
            "packets_sent": video.stats.packets_sent,
            "packets_skipped": video.stats.packets_skipped,
            "seeks": video.stats.seeks,
            "decode_errors": video.stats.decode_errors,
            "workers": video.stats.workers,
            "seconds": round(time.monotonic() - started, 4),
        }
        frames = [r for r in records if r is not None]
        return SnapshotResult(
            files=[r.file for r in frames],
            frames=frames,
            requested=schedule.requested,
            dropped=schedule.dropped,
            reason=reason,
            info=video.info,
            stats=stats,
        )
