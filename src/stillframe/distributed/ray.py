"""A Ray Data stage: rows of (video, times) in, one row per exact frame out.

    import ray
    from stillframe.distributed.ray import extract_frames

    ds = ray.data.from_items([{"video": "/data/a.mp4", "times": [1.0, 2.5, 60.0]}, ...])
    frames = extract_frames(ds, width=480)             # split at keyframes, then a pool of actors
    # columns: video, requested_time, time, pts, is_keyframe, rule, frame (H x W x 3 uint8)
    # (or jpeg: bytes, with output="jpeg"); the input's other columns are repeated per frame

or the same by hand, declaring what each step needs:

    ds = split_at_keyframes(ds, max_times=32)          # num_cpus=0: headers and indexes only
    frames = ds.map_batches(FrameExtractor, fn_constructor_kwargs={"width": 480}, num_cpus=ACTOR_CPUS,
                            compute=ray.data.ActorPoolStrategy(min_size=1, max_size=4), batch_size=8)

The split asks for no CPU: it opens each video's header and index and decodes
nothing, and a split that waited for a CPU would wait forever behind a pool of
actors holding all of them (a pool as large as the cluster, before the split had
run, hung that way). Each actor asks for ACTOR_CPUS, so Ray starts no more of them
than the cluster can hold. Each actor keeps its open videos (decoders and all)
in a small LRU cache, so rows of the same video reuse them. `split_at_keyframes`
cuts each row's times where decoding starts from another keyframe, so rows
spread over blocks and actors without any of them decoding a GOP another one
decodes.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from stillframe.distributed._batch import open_source
from stillframe.errors import InvalidParameter, StillframeError
from stillframe.frame import FORMATS
from stillframe.jpeg import encode_jpegs
from stillframe.options import FrameKeywords, FrameOptions
from stillframe.video import Video

if TYPE_CHECKING:
    from typing_extensions import Unpack

try:
    import ray.data
except ImportError as exc:  # one line naming the extra
    raise ImportError(f"stillframe.distributed.ray needs Ray Data: pip install 'stillframe[ray]' ({exc})") from None

__all__ = [
    "ACTOR_CPUS",
    "SPLIT_CPUS",
    "FrameExtractor",
    "FrameExtractorOptions",
    "extract_frames",
    "keyframe_rows",
    "split_at_keyframes",
]

FIELDS = ("requested_time", "time", "pts", "is_keyframe", "rule")
VIDEO_OPTIONS = ("workers", "device", "fallback", "index", "stream")
SPLIT_CPUS = 0.0  # the split reads headers and indexes: it must never wait behind the actors
ACTOR_CPUS = 1.0  # what one FrameExtractor actor decodes on
# keyframe_rows' options among FrameExtractor's: both read the rows and open the videos alike.
_SPLIT_OPTIONS = ("video_column", "times_column", "storage_options", "index")


def _times(value: Any) -> list[float]:
    return [float(t) for t in np.atleast_1d(np.asarray(value, dtype=np.float64))]


class _Videos:
    """Open videos by source, the least recently used closed past `size`."""

    def __init__(self, size: int, video_options: Mapping[str, Any], storage_options: Mapping[str, Any] | None):
        if size < 1:
            raise InvalidParameter(f"max_open must be >= 1, not {size}")
        self.size = size
        self.video_options = dict(video_options)
        self.storage_options = storage_options
        self.open: OrderedDict[str, Video] = OrderedDict()

    def get(self, source: str) -> Video:
        video = self.open.pop(source, None)
        if video is None:
            video = Video(open_source(source, self.storage_options), **self.video_options)
        self.open[source] = video
        while len(self.open) > self.size:
            self.open.popitem(last=False)[1].close()
        return video

    def close(self) -> None:
        while self.open:
            self.open.popitem()[1].close()


class FrameExtractorOptions(FrameKeywords, total=False):
    """FrameExtractor's frame options (FrameOptions) and video options (VIDEO_OPTIONS),
    typed for the checker."""

    workers: int | None
    device: str | None
    fallback: bool
    index: str
    stream: int | None


class FrameExtractor:
    """For `Dataset.map_batches` (as a class: one per actor). Each input row names a
    video (`video_column`: a path, URL or object-store URL) and its times in seconds
    (`times_column`: a list, or one number); each output row is one frame: the
    input's columns, `requested_time`, `time` and `pts` (the frame's own), `is_keyframe`,
    `rule`, and `frame` (an array in `output`'s format: rgb24, bgr24, rgba, bgra, gray,
    yuv420p) or, with `output="jpeg"`, `jpeg` (bytes, encoded in one native batch).

    Frame options (frame_type, snap, tolerance, width, height, max_length,
    aspect_ratio) are Video.frames_at's; `workers`, `device`, `fallback`, `index`,
    `stream` go to the Video. `on_error="skip"` drops a bad video's rows (and
    records it in `self.errors`) instead of failing the dataset.
    """

    def __init__(
        self,
        *,
        output: str = "rgb24",
        quality: int = 85,
        video_column: str = "video",
        times_column: str = "times",
        max_open: int = 4,
        on_error: str = "raise",
        storage_options: Mapping[str, Any] | None = None,
        **options: Unpack[FrameExtractorOptions],
    ) -> None:
        if output != "jpeg" and output not in FORMATS:
            raise InvalidParameter(f"output must be jpeg or one of {', '.join(FORMATS)}, not {output!r}")
        if on_error not in ("raise", "skip"):
            raise InvalidParameter(f"on_error must be 'raise' or 'skip', not {on_error!r}")
        if not 1 <= int(quality) <= 100:
            raise InvalidParameter(f"quality must be in 1..100, not {quality}")
        unknown = set(options) - set(FrameOptions.names()) - set(VIDEO_OPTIONS)
        if unknown:
            raise InvalidParameter(f"not a frame or video option: {', '.join(sorted(unknown))}")
        self.output, self.quality, self.on_error = output, int(quality), on_error
        self.video_column, self.times_column = video_column, times_column
        rest = cast("dict[str, Any]", options)  # a fresh dict already (**kwargs): its own to pop from
        self.frame_options = FrameOptions.pick(rest)
        self.videos = _Videos(max_open, rest, storage_options)
        self.errors: list[tuple[str, StillframeError]] = []

    def __call__(self, batch: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, list[Any]] = {name: [] for name in batch}
        out.update({name: [] for name in FIELDS})
        pictures: list[Any] = []
        for row in range(len(batch[self.video_column])):
            source = str(batch[self.video_column][row])
            try:
                video = self.videos.get(source)
                answers = dict(video.stream(_times(batch[self.times_column][row]), self.frame_options, ordered=False))
                frames = [answers[i] for i in range(len(answers))]
            except StillframeError as exc:
                if self.on_error == "raise":
                    raise
                self.errors.append((source, exc))
                continue
            for name in batch:
                if name != self.times_column:
                    out[name].extend([batch[name][row]] * len(frames))
            for name in FIELDS:
                out[name].extend(getattr(f, name) for f in frames)
            if self.output == "jpeg":
                pictures.extend(encode_jpegs([f.planes() for f in frames], quality=self.quality))
            else:
                pictures.extend(f.to_ndarray(self.output) for f in frames)
        out.pop(self.times_column, None)
        columns: dict[str, Any] = {name: np.asarray(values) for name, values in out.items()}
        columns["jpeg" if self.output == "jpeg" else "frame"] = _column(pictures, self.output == "jpeg")
        return columns

    def __del__(self) -> None:
        videos = getattr(self, "videos", None)
        if videos is not None:
            videos.close()


def _column(values: Sequence[Any], binary: bool) -> Any:
    """One array when every frame has the same shape, else an object array of them
    (Ray makes a variable-shaped tensor column of it); bytes as an object array."""
    if binary or not values or len({v.shape for v in values}) > 1:
        col = np.empty(len(values), dtype=object)
        col[:] = list(values)
        return col
    return np.stack(values)


def keyframe_rows(
    row: Mapping[str, Any],
    *,
    video_column: str = "video",
    times_column: str = "times",
    max_times: int | None = None,
    storage_options: Mapping[str, Any] | None = None,
    index: str = "auto",
) -> list[dict[str, Any]]:
    """One (video, times) row as rows whose times each start decoding from their
    own keyframe(s), in time order; neighbouring keyframe groups are joined while a
    row holds at most `max_times` times (default: one row a keyframe group). The
    row's other columns are copied to each. Opens the video (its header and index)."""
    if max_times is not None and max_times < 1:
        raise InvalidParameter(f"max_times must be >= 1, not {max_times}")
    source = str(row[video_column])
    times = _times(row[times_column])
    with Video(open_source(source, storage_options), workers=1, index=index) as video:
        groups, _ = video.keyframe_groups(video.check_times(times))
    if max_times is not None:
        joined: list[list[int]] = []
        for group in groups:
            if joined and len(joined[-1]) + len(group) <= max_times:
                joined[-1].extend(group)
            else:
                joined.append(list(group))
        groups = joined
    return [{**row, times_column: [times[i] for i in group]} for group in groups]


def split_at_keyframes(dataset: Any, *, num_cpus: float = SPLIT_CPUS, **options: Any) -> Any:
    """`dataset.flat_map` of keyframe_rows (options as keyframe_rows), asking Ray for
    `num_cpus` a task: none by default, so that the split never waits for a CPU the
    actors downstream hold."""
    return dataset.flat_map(keyframe_rows, fn_kwargs=options, num_cpus=num_cpus)


def extract_frames(
    dataset: Any,
    *,
    actors: int | None = None,
    batch_size: int = 8,
    max_times: int | None = 32,
    **options: Any,
) -> Any:
    """The whole stage, with what it needs declared: the rows cut at keyframes
    (split_at_keyframes, `max_times` a row), then FrameExtractor on a pool of 1 to
    `actors` actors (default: as many as the cluster's CPUs allow) of ACTOR_CPUS
    each, `batch_size` rows a call. Options are FrameExtractor's; bad ones raise
    InvalidParameter here, before anything runs."""
    if actors is not None and actors < 1:
        raise InvalidParameter(f"actors must be >= 1, not {actors}")
    FrameExtractor(**options)  # checks the options here rather than in every actor
    split = split_at_keyframes(dataset, max_times=max_times, **{k: options[k] for k in _SPLIT_OPTIONS if k in options})
    pool = ray.data.ActorPoolStrategy(min_size=1, max_size=actors)
    return split.map_batches(
        FrameExtractor, fn_constructor_kwargs=options, compute=pool, num_cpus=ACTOR_CPUS, batch_size=batch_size
    )
