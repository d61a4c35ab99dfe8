"""One long video over many workers: planned once here, decoded in keyframe-aligned
parts on the workers, written here by the normal writers (sheets, a VTT track,
a cover), so the sprites of one long video use the whole cluster.

Every frame is still chosen by the packet index of the worker's own open video, so
where the parts are cut changes the cost, never the frames: each part starts on
the keyframe its first time decodes from, and no GOP is decoded by two parts.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, cast

from stillframe._run import BATCH, Outputs, RunPlan
from stillframe.distributed._batch import check_options, open_source
from stillframe.distributed._runners import Progress, runner_for
from stillframe.errors import InternalError, InvalidParameter, SnapshotTimeOut, StillframeError
from stillframe.jpeg import YUV420Planes, encode_jpegs
from stillframe.options import FrameOptions
from stillframe.records import Provenance, Stats
from stillframe.snapshot import SamplingLike, SnapshotResult, as_sampling
from stillframe.video import Video

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from stillframe.snapshot import SnapshotOptions

__all__ = ["Part", "PartFrame", "balance", "decode_part", "keyframe_groups", "snapshot_split"]

FRAME_OPTIONS = FrameOptions.names()
VIDEO_OPTIONS = ("stream", "workers", "timeout", "device", "fallback", "index")
# Times cut into parts at once: the frames of one window are in flight at most.
WINDOW = 1024


@dataclass(frozen=True, eq=False, repr=False)
class PartFrame(Provenance):
    """A frame as it comes back from a worker: its provenance, its planes at the
    output size, and its JPEG when single files are kept."""

    picture: YUV420Planes = field(kw_only=True)
    jpeg: bytes | None = field(default=None, kw_only=True)

    def planes(self) -> YUV420Planes:
        """The planes, as Frame.planes gives them."""
        return self.picture

    @property
    def width(self) -> int:
        """The output width in pixels, upright, as Frame.width."""
        return int(self.picture.width or self.picture.y.shape[1])

    @property
    def height(self) -> int:
        """The output height in pixels, upright, as Frame.height."""
        return int(self.picture.height or self.picture.y.shape[0])


@dataclass
class Part:
    """What one worker decoded: its frames in the order of its times, what that
    cost, and what decoded."""

    frames: list[PartFrame]
    stats: Stats = field(default_factory=Stats)
    decoding: dict[str, Any] = field(default_factory=dict)


def keyframe_groups(video: Video, times: Sequence[float]) -> tuple[list[list[int]], list[int]]:
    """Positions in `times` grouped by the keyframe decoding starts from, in time
    order, and each group's weight (see Video.keyframe_groups)."""
    return video.keyframe_groups(times)


def balance(groups: Sequence[Sequence[int]], weights: Sequence[int], parts: int) -> list[list[int]]:
    """Consecutive groups into at most `parts` parts of about equal weight; a group is
    never cut."""
    total = float(sum(weights))
    out: list[list[int]] = []
    current: list[int] = []
    done = 0.0
    for k, (group, weight) in enumerate(zip(groups, weights)):
        current.extend(group)
        done += weight
        # Close the part once it reaches its share, keeping a group for each part left.
        if len(out) < parts - 1 and done >= total * (len(out) + 1) / parts and k < len(groups) - 1:
            out.append(current)
            current = []
    if current:
        out.append(current)
    return out


def decode_part(
    source: str,
    times: Sequence[float],
    frame_options: Mapping[str, Any],
    video_options: Mapping[str, Any],
    quality: int,
    encode: bool,
    storage_options: Mapping[str, Any] | None = None,
) -> Part:
    """The frames of `times` from one worker's own open video, with their planes
    (and JPEGs when `encode`): the task of snapshot_split, plain and picklable."""
    try:
        options = FrameOptions(**frame_options)
        with Video(open_source(source, storage_options), **video_options) as video:
            frames = dict(video.stream(list(times), options, ordered=False))
            ordered = [frames[i] for i in range(len(times))]
            planes = [f.planes() for f in ordered]
            jpegs: list[bytes | None] = list(encode_jpegs(planes, quality=quality)) if encode else [None] * len(planes)
            out = [PartFrame(**f.provenance(), picture=p, jpeg=j) for f, p, j in zip(ordered, planes, jpegs)]
            return Part(out, replace(video.stats), video.decoding.to_dict())
    except StillframeError:
        raise
    except Exception as exc:
        raise InternalError(f"{source}: {type(exc).__name__}: {exc}") from exc


def snapshot_split(
    source: str | os.PathLike[str],
    sampling: SamplingLike = None,
    output: str | os.PathLike[str] = "out/{Count}.jpg",
    *,
    client: Any = None,
    parts: int | None = None,
    processes: int | None = None,
    storage_options: Mapping[str, Any] | None = None,
    progress: bool | None = None,
    **snapshot_options: Unpack[SnapshotOptions],
) -> SnapshotResult:
    """sf.snapshot of one video with its frames decoded on many workers: the times
    are planned here, cut into `parts` keyframe-aligned parts (default: one a worker
    thread or local process), decoded where they are sent, and the frames written here, in
    order, by the same writers as sf.snapshot (so sprite sheets, the VTT track and
    the cover are those of one process, byte for byte). The source must be readable
    both here and on the workers; outputs are written (and checked) here: paths, or
    object-store URLs. Options are sf.snapshot's (SnapshotOptions); `client`, `processes`,
    `storage_options` (the source's and the outputs') and `progress` as
    snapshot_many. A long schedule is cut a window of times at a time, so what is
    in flight stays bounded.
    """
    src = os.fspath(source)
    options = cast("dict[str, Any]", snapshot_options)  # a fresh dict already (**kwargs): its own to pop from
    check_options(sampling, os.fspath(output), options)
    runner = runner_for(client, processes)
    if parts is None:
        parts = sum(client.nthreads().values()) if client is not None else getattr(runner, "processes", 1)
    if parts < 1:
        raise InvalidParameter(f"parts must be >= 1, not {parts}")
    frame = FrameOptions.pick(options)
    video_opts = {k: options.pop(k) for k in list(options) if k in VIDEO_OPTIONS}
    outputs = Outputs(**options)
    plan = as_sampling(sampling)
    started = time.monotonic()
    timeout = video_opts.get("timeout")
    deadline = started + timeout if timeout else None
    # Here the video is only planned (and a black first frame looked past): no device.
    here = {k: v for k, v in video_opts.items() if k in ("stream", "timeout", "index")}

    run: RunPlan | None = None
    try:
        with Video(open_source(src, storage_options), workers=1, **here) as video:
            run = RunPlan(
                video, plan, output, outputs, frame, deadline=deadline, timeout=timeout, storage_options=storage_options
            )
            run.check()  # written here, checked here
            run.avoid_black(video)
            task = (src, frame.to_dict(), video_opts, outputs.quality, run.keep_singles, storage_options)
            stats, decoding = _run_parts(run, video, parts, runner, task, Progress(len(run.times), "frame", progress))
            result = run.finish(video, decoding=decoding)
            result.stats = replace(stats.merge(video.stats), seconds=round(time.monotonic() - started, 4))
            return result
    except BaseException:
        if run is not None:
            run.rollback()
        raise


def _run_parts(
    run: RunPlan, video: Video, parts: int, runner: Any, task: tuple[Any, ...], bar: Progress
) -> tuple[Stats, dict[str, Any]]:
    """Every part decoded on the runner and fed to the run's writers in time order;
    what they cost (`workers`: the most parts a window was cut into) and what decoded."""
    stats = Stats(workers=0, index=video.stats.index)
    decoding: dict[str, Any] = {}
    try:
        for positions, cut, part in _parts(video, run.times, parts, runner, task):
            if run.deadline is not None and time.monotonic() > run.deadline:
                raise SnapshotTimeOut(f"the snapshot took longer than {run.timeout} s")
            _feed(run, positions, part)
            stats.merge(part.stats)
            decoding = decoding or part.decoding
            stats.workers = max(stats.workers, cut)
            bar.update(len(part.frames))
    finally:
        bar.close()
    return stats, decoding


def _parts(
    video: Video, times: Sequence[float], parts: int, runner: Any, task: tuple[Any, ...]
) -> Iterator[tuple[list[int], int, Part]]:
    """(the part's positions, how many parts its window was cut into, Part) in time
    order: each window
    of times cut into keyframe-aligned parts, decoded on the runner's workers, held
    until the parts before it are in (so sheets fill page by page as in one process)."""
    src, frame_options, video_opts, quality, encode, storage_options = task
    it = iter(times)
    for start in itertools.count(0, WINDOW):
        window = list(itertools.islice(it, WINDOW))
        if not window:
            return
        groups, weights = video.keyframe_groups(window)
        chunks = balance(groups, weights, parts)
        args = [
            (src, [window[i] for i in c], frame_options, video_opts, quality, encode, storage_options) for c in chunks
        ]
        held: dict[int, Part] = {}
        fed = 0
        for k, value in runner.map_unordered(decode_part, args):
            if isinstance(value, BaseException):
                raise value if isinstance(value, StillframeError) else InternalError(f"{src}: {value}")
            held[k] = value
            while fed in held:
                yield [start + i for i in chunks[fed]], len(chunks), held.pop(fed)
                fed += 1


def _feed(run: RunPlan, positions: list[int], part: Part) -> None:
    """One part's frames to every writer, in batches as sf.snapshot streams them;
    JPEGs made on the workers are used as they are (the encoder gives the same
    bytes for the same planes anywhere)."""
    for start in range(0, len(positions), BATCH):
        requests = positions[start : start + BATCH]
        frames = part.frames[start : start + BATCH]
        jpegs = [f.jpeg for f in frames if f.jpeg is not None]
        run.add(requests, frames, jpegs if len(jpegs) == len(frames) else None)
