"""snapshot(): times in, JPEG files out (single snapshots, sprite sheets, a WebVTT
track, a storyboard, a cover), with the provenance of every frame."""

from __future__ import annotations

import contextlib
import glob
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Union

import numpy as np

from stillframe import _source
from stillframe._files import check_destination, write_atomic
from stillframe._workers import Stats
from stillframe.covers import SEARCH_SECONDS, BlackTest, histogram, most_representative
from stillframe.errors import InvalidParameter, SnapshotTimeOut
from stillframe.frame import Frame
from stillframe.info import rounded, rounded_repr
from stillframe.jpeg import YUV420Planes, encode_jpegs
from stillframe.plan import Pick
from stillframe.sampling import Dots, Sampling, Schedule, sampling_from_dict
from stillframe.sprites import Sprite, SpriteLayout, compose_page, fit_cell, page_names, parse_color
from stillframe.video import Video, VideoInfo
from stillframe.webvtt import cues_for, storyboard_json, write_webvtt

__all__ = ["Snapshot", "SnapshotResult", "output_names", "snapshot"]

SamplingLike = Union[Sampling, Mapping[str, Any], Sequence[float], float, None]
_BATCH = 16


@dataclass(frozen=True, repr=False)
class Snapshot:
    """Where one output came from. `file` is empty when single pictures were not
    kept (a sprite with keep_cell_pic=False)."""

    index: int  # 1-based, the {Count} of its file
    requested_time: float
    time: float
    pts: int
    is_keyframe: bool
    rule: str
    decoder: str
    file: str
    fallback: str | None = None  # why the CPU decoded it when a device was asked for

    __repr__ = rounded_repr

    @classmethod
    def of(cls, frame: Frame, index: int, file: str) -> Snapshot:
        return cls(
            index,
            frame.requested_time,
            frame.time,
            frame.pts,
            frame.is_keyframe,
            frame.rule,
            frame.decoder,
            file,
            frame.fallback,
        )


@dataclass
class SnapshotResult:
    files: list[str]
    frames: list[Snapshot]
    requested: int | None  # how many the sampling asked for, when a number
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

    @property
    def count(self) -> int:
        return len(self.frames)

    def to_dict(self) -> dict[str, Any]:
        """Plain values for JSON; times to the microsecond (no float noise)."""
        out = asdict(self)
        out["count"] = self.count
        return rounded(out)


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


def _keep(written: list[str], path: str | os.PathLike[str]) -> str:
    written.append(os.fspath(path))
    return os.fspath(path)


def _check_destinations(paths: Sequence[str | os.PathLike[str]]) -> None:
    """Each output's folder can be made and written (one check a folder)."""
    seen: set[str] = set()
    for path in paths:
        folder = os.path.dirname(os.path.abspath(path))
        if folder not in seen or os.path.isdir(path):
            seen.add(folder)
            check_destination(path)


def _one_snapshot(plan: Sampling) -> bool:
    """Whether `plan` asks for a single snapshot, whatever the video's length."""
    if isinstance(plan, Dots):
        return len(plan.times) == 1
    return getattr(plan, "count", None) == 1


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


def _payload(target: str, beside: str, base_url: str | None) -> str:
    rel = os.path.relpath(target, os.path.dirname(os.path.abspath(beside)) or ".")
    rel = rel.replace(os.sep, "/")
    if base_url:
        return base_url.rstrip("/") + "/" + rel
    return rel


def _avoid_black(video: Video, times: list[float], test: BlackTest, options: dict[str, Any]) -> dict[str, Any] | None:
    """MPS: a black first snapshot becomes the first non-black frame of the next
    5 s (or stays, when there is none). Returns what was done, or None."""
    t0 = times[0]
    first = video.frames_at([t0], **options)[0]
    if not test(first.planes()):
        return None
    frame_times = video.frame_times(first.time, first.time + SEARCH_SECONDS)
    window = [t for t in frame_times if first.time < t < video.info.duration]
    for k in range(0, len(window), 30):
        chunk = window[k : k + 30]
        for frame in video.frames_at(chunk, **{**options, "snap": "displayed"}):
            if not test(frame.planes()):
                times[0] = frame.time
                return {"index": 1, "requested_time": t0, "black_time": first.time, "time": frame.time}
    return {
        "index": 1,
        "requested_time": t0,
        "black_time": first.time,
        "time": first.time,
        "kept": "no non-black frame within 5 s",
    }


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
    sprite: Sprite | None = None,
    sprite_output: str | os.PathLike[str] | None = None,
    webvtt: str | os.PathLike[str] | None = None,
    storyboard: str | os.PathLike[str] | None = None,
    base_url: str | None = None,
    black_level: int | None = None,
    pixel_black_threshold: int | None = None,
    cover: str | os.PathLike[str] | None = None,
    cover_position: int | str | None = None,
    stream: int | None = None,
    workers: int | None = None,
    timeout: float | None = None,
    device: str | None = None,
    fallback: bool = False,
    index: str = "auto",
    progress: Callable[[int, int], None] | None = None,
) -> SnapshotResult:
    """Write snapshots of `source` at the times `sampling` gives (an Interval, Dots,
    Quantity, a service's dict, a list of seconds, or None for one at 0 s).

    Times past the end are left out and the result says how many and why. Every
    file is written to a temporary name and renamed into place. `timeout` (seconds)
    raises SnapshotTimeOut. See Video.frames_at for the frame options.

    `sprite` adds sprite sheets (`sprite_output`, default `sprite-{TileCount}.jpg`
    beside the snapshots); `webvtt` writes a thumbnail track (cues into the sheets
    when there are sheets, else to the single files; `base_url` prefixes them);
    `storyboard` writes the sheets' JSON. `black_level` / `pixel_black_threshold`
    (MPS) replace a black first snapshot when sampling starts at 0 or takes one
    snapshot. `cover` is a path for the cover: snapshot `cover_position` (1-based,
    default 1) or, with `cover_position="auto"` (or `cover="auto"`, written as
    cover.jpg beside the snapshots), the most representative non-black one.
    `device`/`fallback` choose the decoder (see Video); `result.decoding` and each
    snapshot's `decoder`/`fallback` say what ran. `index="scan"` demuxes every
    packet first instead of reading the container's own index (see Video);
    `result.stats["index"]` says which way the frames were found.
    """
    if not 1 <= int(quality) <= 100:
        raise InvalidParameter(f"quality must be in 1..100, not {quality}")
    if storyboard is not None and sprite is None:
        raise InvalidParameter("a storyboard describes sprite sheets: give sprite= too")
    if cover is not None and os.fspath(cover) == "auto":
        cover, cover_position = None, "auto"
        auto_cover_beside = True
    else:
        auto_cover_beside = False
    if cover_position is not None and cover_position != "auto":
        if not isinstance(cover_position, int) or cover_position < 1:
            raise InvalidParameter(f"cover_position must be a 1-based index or 'auto', not {cover_position!r}")
    black = (
        BlackTest(black_level, pixel_black_threshold) if (black_level or pixel_black_threshold is not None) else None
    )
    color = parse_color(sprite.color) if sprite is not None else None
    plan = as_sampling(sampling)
    started = time.monotonic()
    deadline = started + timeout if timeout else None
    options: dict[str, Any] = dict(frame_type=frame_type, snap=snap, tolerance=tolerance, width=width, height=height,
                   max_length=max_length, aspect_ratio=aspect_ratio)  # fmt: skip

    if workers is None and _one_snapshot(plan) and black is None:
        workers = 1  # one decoder for one frame: frame threads on every core
    written: list[str] = []  # what this run wrote: removed again if it fails
    began = time.time()
    planned: list[str | os.PathLike[str]] = []  # what it meant to write (for temporaries cut off mid-write)
    try:
        with Video(
            source, stream, workers=workers, timeout=timeout, device=device, fallback=fallback, index=index
        ) as video:
            schedule: Schedule = plan.resolve(video.info.duration)
            reason, dropped = schedule.reason, schedule.dropped
            header = video.info.header_duration
            if video.info.truncated and header is not None:
                # What the header's length would have given, less what the data holds:
                # an interval with no count is cut short too, and says so.
                lost = max(dropped, len(plan.resolve(header).times) - len(schedule.times))
                if lost:
                    cut = f"the file's data ends at {video.info.duration:.3f} s but its header says {header:.3f} s (cut off)"
                    reason = f"{reason}; {cut}" if reason else f"{lost} snapshot(s) past where {cut}"
                    dropped = lost
            if not schedule.times:
                raise InvalidParameter(f"no snapshot can be taken: {reason}")
            times = list(schedule.times)
            n = len(times)
            names = output_names(output, n)
            out_dir = os.path.dirname(names[0]) or "."
            geo = video.geometry(width, height, max_length, aspect_ratio)

            layout: SpriteLayout | None = None
            selected: list[int] = []
            page_files: list[str] = []
            if sprite is not None:
                layout = sprite.layout(geo.width, geo.height)
                selected = list(range(0, n, sprite.cell_sel_step))
                pattern = (
                    sprite_output if sprite_output is not None else os.path.join(out_dir, "sprite-{TileCount}.jpg")
                )
                page_files = page_names(pattern, layout.pages(len(selected)))
            keep_singles = sprite is None or sprite.keep_cell_pic
            if cover_position is not None and cover is None:
                cover = os.path.join(out_dir, "cover.jpg") if auto_cover_beside or cover_position == "auto" else None
            if cover is not None and cover_position is None:
                cover_position = 1
            if isinstance(cover_position, int) and cover_position > n:
                raise InvalidParameter(f"cover_position {cover_position} is past the {n} snapshots")

            # Every destination is checked before the first frame is decoded.
            for image in (names[0] if keep_singles else None, *page_files[:1], cover):
                if image is not None and Path(image).suffix.lower() not in (".jpg", ".jpeg"):
                    raise InvalidParameter(f"{image}: snapshots are JPEG: name the file .jpg or .jpeg")
            planned.extend(p for p in (*(names if keep_singles else []), *page_files, webvtt, storyboard, cover) if p)
            _check_destinations(planned)

            replaced = []
            if black is not None and (n == 1 or times[0] == 0.0):
                swap = _avoid_black(video, times, black, options)
                if swap is not None:
                    replaced.append(swap)

            records: list[Snapshot | None] = [None] * n
            slot = {r: k for k, r in enumerate(selected)}
            cells: dict[int, YUV420Planes] = {}
            written_pages: dict[int, str] = {}
            hists: dict[int, np.ndarray] = {}
            blacks: dict[int, bool] = {}
            cover_bytes: bytes | None = None
            picks: list[Pick] = []
            batch: list[tuple[Pick, Any]] = []
            done = 0

            def check_time() -> None:
                if deadline is not None and time.monotonic() > deadline:
                    raise SnapshotTimeOut(f"the snapshot took longer than {timeout} s")

            def flush_pages() -> None:
                assert layout is not None and color is not None
                for page in range(len(page_files)):
                    if page in written_pages:
                        continue
                    first = page * layout.per_page
                    members = range(first, min(first + layout.per_page, len(selected)))
                    if not all(k in cells for k in members):
                        continue
                    data = encode_jpegs(
                        [compose_page(layout, [cells.pop(k) for k in members], color)], quality=quality
                    )[0]
                    written_pages[page] = _keep(written, write_atomic(page_files[page], data))

            def flush() -> None:
                nonlocal done, cover_bytes
                check_time()
                planes = [f.planes() for _, f in batch]
                jpegs = encode_jpegs(planes, quality=quality) if keep_singles else [b""] * len(batch)
                for (pick, frame), data, pl in zip(batch, jpegs, planes):
                    name = names[pick.request]
                    if keep_singles:
                        _keep(written, write_atomic(name, data))
                    if pick.request in slot:
                        assert layout is not None
                        cells[slot[pick.request]] = fit_cell(pl, layout.cell_w, layout.cell_h)
                    if cover_position == "auto":
                        hists[pick.request] = histogram(pl)
                        blacks[pick.request] = black(pl) if black is not None else BlackTest()(pl)
                    elif cover_position == pick.request + 1:
                        cover_bytes = data or encode_jpegs([pl], quality=quality)[0]
                    records[pick.request] = Snapshot.of(frame, pick.request + 1, name if keep_singles else "")
                done += len(batch)
                batch.clear()
                if layout is not None:
                    flush_pages()
                if progress is not None:
                    progress(done, n)

            for pair in video._stream_frames(
                times, **options, deadline=deadline, ordered=sprite is not None, _picks_out=picks
            ):
                batch.append(pair)
                if len(batch) >= _BATCH:
                    flush()
            if batch:
                flush()
            if layout is not None:
                flush_pages()

            frames = [r for r in records if r is not None]
            result = SnapshotResult(
                files=[r.file for r in frames if r.file],
                frames=frames,
                requested=schedule.requested,
                dropped=dropped,
                reason=reason,
                info=video.info,
                sprites=[written_pages[p] for p in sorted(written_pages)],
                replaced=replaced,
                decoding=video.decoding.to_dict(),
            )

            if layout is not None:
                tiles = []
                for k, r in enumerate(selected):
                    page, x, y = layout.place(k)
                    tiles.append((frames[r].time, page, x, y))
            if webvtt is not None:
                if layout is not None:
                    payloads = [
                        _payload(result.sprites[p], os.fspath(webvtt), base_url)
                        + f"#xywh={x},{y},{layout.cell_w},{layout.cell_h}"
                        for _, p, x, y in tiles
                    ]
                    cue_times = [t for t, *_ in tiles]
                else:
                    payloads = [_payload(r.file, os.fspath(webvtt), base_url) for r in frames]
                    cue_times = [r.time for r in frames]
                result.webvtt = _keep(written, write_webvtt(webvtt, cues_for(cue_times, payloads, video.info.duration)))
            if storyboard is not None and layout is not None:
                pages = []
                for p, page_file in enumerate(result.sprites):
                    pages.append({
                        "url": _payload(page_file, os.fspath(storyboard), base_url),
                        "tile_width": layout.cell_w,
                        "tile_height": layout.cell_h,
                        "duration": video.info.duration,
                        "tiles": [{"start": t, "x": x, "y": y} for t, page, x, y in tiles if page == p],
                    })  # fmt: skip
                result.storyboard = _keep(written, write_atomic(storyboard, storyboard_json(pages).encode("utf-8")))

            if cover is not None and cover_position is not None:
                if cover_position == "auto":
                    chosen = most_representative([hists[i] for i in range(n)], [blacks[i] for i in range(n)])
                    source_file = frames[chosen].file
                    if source_file:
                        cover_bytes = Path(source_file).read_bytes()
                    else:
                        cover_bytes = video.frames_at([frames[chosen].time], **options)[0].to_jpeg(quality)
                    result.cover_index = chosen + 1
                else:
                    result.cover_index = int(cover_position)
                assert cover_bytes is not None
                result.cover = _keep(written, write_atomic(cover, cover_bytes))

            result.stats = replace(video.stats, seconds=round(time.monotonic() - started, 4))
            return result
    except BaseException:
        for path in reversed(written):
            with contextlib.suppress(OSError):
                os.unlink(path)
        # An interrupt can land between a file's rename and its being recorded, or
        # between a temporary's creation and its cleanup (.NAME.*.part): what this
        # run planned and touched since it began goes too.
        for target in planned:
            with contextlib.suppress(OSError):
                if os.stat(target).st_mtime >= began:
                    os.unlink(target)
            for part in Path(target).parent.glob(f".{glob.escape(Path(target).name)}.*.part"):
                with contextlib.suppress(OSError):
                    part.unlink()
        raise
