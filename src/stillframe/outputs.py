"""Where snapshots go: small writers fed by one stream of frames, as logging's
handlers are fed records. Adding a kind of output adds a writer, not a branch in
the producer.

    Writer        destinations() (checked before the first decode), take(batch) as
                  frames stream, finish(run) once the last frame is in
    SingleFiles   one JPEG a snapshot ({Count} names)
    SpriteSheets  cells tiled into pages, each page written once it is full
    WebVTTTrack   a thumbnail track: cues into the sheets, or to the single files
    Storyboard    the sheets' JSON
    Cover         one snapshot (by position, or the most representative) as the cover
    Ledger        a run's files as one transaction: a failed or interrupted run removes
                  what it put and puts back what it replaced (stillframe._ledger)

Destinations are local paths or object-store URLs (s3://, oss://, ...; see
stillframe._objects); a track or storyboard names the pictures relative to
itself, or under a base URL.
"""

from __future__ import annotations

import difflib
import os
import posixpath
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from stillframe._gpu.picture import DevicePicture
from stillframe._ledger import Ledger
from stillframe._names import Names
from stillframe._objects import is_object_url
from stillframe.covers import BlackTest, histogram, most_representative
from stillframe.errors import InvalidParameter
from stillframe.frame import Frame, frame_jpegs
from stillframe.jpeg import YUV420Planes, encode_jpegs
from stillframe.sprites import TILE, Sprite, SpriteLayout, compose_page, fit_cell, page_names, parse_color
from stillframe.webvtt import cues_for, storyboard_json, webvtt_text

if TYPE_CHECKING:
    from stillframe.records import Snapshot, SnapshotResult

__all__ = [
    "Batch",
    "Cover",
    "Finished",
    "Ledger",
    "Names",
    "SingleFiles",
    "SpriteSheets",
    "Storyboard",
    "WebVTTTrack",
    "Writer",
    "check_placeholders",
    "names_for",
    "output_names",
    "output_pattern",
    "sprite_pattern",
]

_COUNT = re.compile(r"\{Count\}")
# The placeholders file names take ({Name}: stillframe.distributed's batches).
PLACEHOLDERS = ("Count", "TileCount", "Name")


def check_placeholders(text: str, what: str = "output") -> None:
    """InvalidParameter for a placeholder that is nearly one of ours ({count},
    {Cont}): it would be written as it stands."""
    for word in re.findall(r"\{(\w+)\}", text):
        if word in PLACEHOLDERS:
            continue
        lower = {p.lower(): p for p in PLACEHOLDERS}
        near = difflib.get_close_matches(word.lower(), list(lower), n=1, cutoff=0.8)
        if near:
            raise InvalidParameter(f"{what} {text!r} has {{{word}}}: did you mean {{{lower[near[0]]}}}?")


def output_pattern(output: str | os.PathLike[str]) -> str:
    """The snapshots' file-name pattern: `output`, or `{Count}.jpg` inside it when
    it is a directory (an existing one, or a name ending in /)."""
    text = os.fspath(output)
    if text.endswith(("/", os.sep)) or Path(text).is_dir():
        text = os.path.join(text, "{Count}.jpg")
    check_placeholders(text)
    return text


def sprite_pattern(first: str, sprite_output: str | os.PathLike[str] | None) -> str:
    """The sheets' file-name pattern: `sprite_output`, by default
    sprite-{TileCount}.jpg beside the first snapshot."""
    if sprite_output is not None:
        return os.fspath(sprite_output)
    return os.path.join(os.path.dirname(first) or ".", "sprite-{TileCount}.jpg")


def names_for(output: str | os.PathLike[str], count: int) -> Names:
    """File names for `count` snapshots, worked out when read (see output_names)."""
    text = output_pattern(output)
    if count > 1 and not _COUNT.search(text):
        raise InvalidParameter(
            f"output {text!r} has no {{Count}} but {count} snapshots are to be written: "
            "add {Count} to the name (for example out/{Count}.jpg)"
        )
    return Names(text, count, _COUNT)


def output_names(output: str | os.PathLike[str], count: int) -> list[str]:
    """File names for `count` snapshots. `{Count}` is the 1-based index in 5 digits
    (00001); it is required when there is more than one snapshot. A directory (an
    existing one, or a name ending in /) gets `{Count}.jpg` inside it."""
    return list(names_for(output, count))


def _require_jpeg(path: str | os.PathLike[str]) -> None:
    if Path(path).suffix.lower() not in (".jpg", ".jpeg"):
        raise InvalidParameter(f"{os.fspath(path)}: snapshots are JPEG: name the file .jpg or .jpeg")


def _where(path: str) -> tuple[str, str]:
    """(store, path in it): ("", an absolute local path) or ("s3://bucket", "/key")."""
    if is_object_url(path):
        scheme, rest = path.split("://", 1)
        bucket, _, key = rest.partition("/")
        return f"{scheme}://{bucket}", "/" + key
    return "", os.path.abspath(path).replace(os.sep, "/")


def _payload(target: str, beside: str, base_url: str | None) -> str:
    """How a track or storyboard names `target`: relative to itself, or under base_url."""
    (store, path), (own, here) = _where(target), _where(beside)
    if store != own:
        raise InvalidParameter(f"{beside} cannot name {target} by a relative URL: give a base URL (vtt_base_url=)")
    rel = posixpath.relpath(path, posixpath.dirname(here))
    return base_url.rstrip("/") + "/" + rel if base_url else rel


@dataclass
class Batch:
    """Frames as they stream, with their pictures; JPEG bytes encoded once, on the
    first writer's asking, for all the writers (on the device, for pictures kept
    there); planes made only for the writers that read them."""

    requests: list[int]  # 0-based snapshot index of each frame
    frames: list[Frame]
    quality: int
    _planes: list[YUV420Planes | None] = field(default_factory=list, init=False, repr=False)
    _jpegs: list[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def planes(self) -> list[YUV420Planes]:
        """Every frame's planes (downloaded, for a picture on a device), made once."""
        return [self.plane(k) for k in range(len(self.frames))]

    def plane(self, k: int) -> YUV420Planes:
        """Frame `k`'s planes, made once."""
        if not self._planes:
            self._planes = [None] * len(self.frames)
        got = self._planes[k]
        if got is None:
            got = self._planes[k] = self.frames[k].planes()
        return got

    def jpegs(self) -> list[bytes]:
        """Every frame's JPEG, encoded once (in one batch) for all the writers."""
        if self._jpegs is None:
            self._jpegs = frame_jpegs(self.frames, self.quality, self.plane, encode_jpegs)
        return self._jpegs

    def jpeg(self, k: int) -> bytes:
        """Frame `k`'s JPEG: from the batch's when they are made, else that one alone."""
        if self._jpegs is not None:
            return self._jpegs[k]
        return frame_jpegs([self.frames[k]], self.quality, lambda _: self.plane(k), encode_jpegs)[0]

    def cell(self, k: int, w: int, h: int, keep_shape: bool = False) -> YUV420Planes | DevicePicture:
        """Frame `k` at a sprite cell's size: on its device when its picture is there.
        `keep_shape`: letterboxed, not stretched (a frame of another shape)."""
        picture = getattr(self.frames[k], "_picture", None)
        if isinstance(picture, DevicePicture):
            from stillframe._gpu.sheets import fit

            return fit(picture, w, h, keep_shape)
        return fit_cell(self.plane(k), w, h, keep_shape)

    def use_jpegs(self, jpegs: Sequence[bytes]) -> None:
        """Take JPEGs already encoded elsewhere (a worker, say), one a frame in order,
        instead of encoding here. They must come from these planes at this batch's
        quality: the writers use them as they are."""
        if len(jpegs) != len(self.frames):
            raise InvalidParameter(f"{len(jpegs)} JPEGs given for a batch of {len(self.frames)} frames")
        self._jpegs = list(jpegs)


@dataclass
class Finished:
    """What the writers see once every frame is in."""

    result: SnapshotResult
    snapshots: list[Snapshot]  # in request order
    duration: float
    ledger: Ledger
    redecode: Callable[[float], bytes]  # a JPEG of the frame at a time, for an output no single file holds


class Writer:
    """One kind of output. Writers run in the order given; a writer that needs
    another's output (a track into the sheets) holds that writer."""

    def destinations(self) -> Sequence[str]:
        """The files this writer may write, checked before the first frame is decoded."""
        return []

    def take(self, batch: Batch, ledger: Ledger) -> None:
        """Take a batch of frames as they stream in (positions, frames, planes)."""
        pass

    def finish(self, run: Finished) -> None:
        """Write what needs every frame (a track, a storyboard, a chosen cover) and fill in the result."""
        pass


class SingleFiles(Writer):
    """One JPEG a snapshot, named by its position."""

    def __init__(self, names: Sequence[str]) -> None:
        _require_jpeg(names[0])
        self.names = names

    def destinations(self) -> Sequence[str]:
        """One name a snapshot (worked out when read, for a long run)."""
        return self.names if isinstance(self.names, Names) else list(self.names)

    def take(self, batch: Batch, ledger: Ledger) -> None:
        """Write each frame's JPEG under its snapshot's name."""
        for request, data in zip(batch.requests, batch.jpegs()):
            ledger.write(self.names[request], data)

    def file_for(self, request: int) -> str:
        """The file of snapshot `request` (0-based)."""
        return self.names[request]


class SpriteSheets(Writer):
    """Every `cell_sel_step`-th snapshot as a cell; a page is encoded and written as
    soon as its cells are in (frames may stream out of order)."""

    def __init__(self, sprite: Sprite, count: int, snap_w: int, snap_h: int, pattern: str | os.PathLike[str]) -> None:
        check_placeholders(os.fspath(pattern), "sprite output")
        self.layout: SpriteLayout = sprite.layout(snap_w, snap_h)
        self.snap = (snap_w, snap_h)  # the run's size; a frame of another (its picture changed) is letterboxed
        self.color = parse_color(sprite.color)
        self.step = sprite.cell_sel_step
        self.selected = range(0, count, self.step)
        pages = self.layout.pages(len(self.selected))
        page_names(pattern, min(pages, 2))  # refuses several pages without {TileCount}
        self.names = Names(os.fspath(pattern), pages, TILE)
        _require_jpeg(self.names[0])
        self.cells: dict[int, YUV420Planes | DevicePicture] = {}
        self.written: dict[int, str] = {}

    def destinations(self) -> Sequence[str]:
        """One name a page (worked out when read)."""
        return self.names

    def slot(self, request: int) -> int | None:
        """The cell of snapshot `request` (0-based), or None when it is not on a sheet."""
        if request % self.step or request >= self.selected.stop:
            return None
        return request // self.step

    def take(self, batch: Batch, ledger: Ledger) -> None:
        """Fit the batch's selected snapshots into their cells, and write every page whose cells are all in."""
        pages = set()
        for i, request in enumerate(batch.requests):
            k = self.slot(request)
            if k is not None:
                frame = batch.frames[i]
                other = (frame.width, frame.height) != self.snap
                self.cells[k] = batch.cell(i, self.layout.cell_w, self.layout.cell_h, other)
                pages.add(k // self.layout.per_page)
        self._flush(sorted(pages), batch.quality, ledger)

    def _flush(self, pages: Sequence[int], quality: int, ledger: Ledger) -> None:
        per = self.layout.per_page
        for page in pages:
            members = range(page * per, min((page + 1) * per, len(self.selected)))
            if page in self.written or not all(k in self.cells for k in members):
                continue
            cells = [self.cells.pop(k) for k in members]
            self.written[page] = ledger.write(self.names[page], self._encode(cells, quality))

    def _encode(self, cells: list[YUV420Planes | DevicePicture], quality: int) -> bytes:
        """One page's JPEG: tiled and encoded on the device when every cell is there."""
        if all(isinstance(c, DevicePicture) for c in cells):
            from stillframe._gpu.pixels import encode_jpegs as device_jpegs
            from stillframe._gpu.sheets import compose

            lay = self.layout
            places = [lay.place(i)[1:] for i in range(len(cells))]
            page = compose(lay.width, lay.page_height(len(cells)), places, cells, self.color)  # type: ignore[arg-type]
            return device_jpegs([page], quality)[0]
        planes = [c.planes() if isinstance(c, DevicePicture) else c for c in cells]
        return encode_jpegs([compose_page(self.layout, planes, self.color)], quality=quality)[0]

    def finish(self, run: Finished) -> None:
        """Name the pages written, in order, in the result."""
        run.result.sprites = [self.written[p] for p in sorted(self.written)]

    def tiles(self, snapshots: Sequence[Snapshot]) -> list[tuple[float, int, int, int]]:
        """(time, page, x, y) of each cell."""
        return [(snapshots[r].time, *self.layout.place(k)) for k, r in enumerate(self.selected)]


class WebVTTTrack(Writer):
    """Cues into the sheets when there are sheets, else to the single files;
    `base_url` prefixes them, else they are relative to the track."""

    def __init__(self, path: str | os.PathLike[str], sheets: SpriteSheets | None, base_url: str | None) -> None:
        self.path = os.fspath(path)
        self.sheets = sheets
        self.base_url = base_url

    def destinations(self) -> list[str]:
        """The track's path."""
        return [self.path]

    def finish(self, run: Finished) -> None:
        """Write the track: a cue a snapshot, from its frame's time to the next's (the last to the end of the
        video)."""
        if self.sheets is not None:
            lay, files = self.sheets.layout, run.result.sprites
            tiles = self.sheets.tiles(run.snapshots)
            payloads = [
                _payload(files[p], self.path, self.base_url) + f"#xywh={x},{y},{lay.cell_w},{lay.cell_h}"
                for _, p, x, y in tiles
            ]
            times = [t for t, *_ in tiles]
        else:
            payloads = [_payload(s.file, self.path, self.base_url) for s in run.snapshots]
            times = [s.time for s in run.snapshots]
        text = webvtt_text(cues_for(times, payloads, run.duration))
        run.result.webvtt = run.ledger.write(self.path, text.encode("utf-8"))


class Storyboard(Writer):
    """The sheets as JSON: each page's URL, tile size and tiles' start times."""

    def __init__(self, path: str | os.PathLike[str], sheets: SpriteSheets, base_url: str | None) -> None:
        self.path = os.fspath(path)
        self.sheets = sheets
        self.base_url = base_url

    def destinations(self) -> list[str]:
        """The storyboard's path."""
        return [self.path]

    def finish(self, run: Finished) -> None:
        """Write the storyboard JSON of the pages written."""
        lay = self.sheets.layout
        tiles = self.sheets.tiles(run.snapshots)
        pages = [
            {
                "url": _payload(page_file, self.path, self.base_url),
                "tile_width": lay.cell_w,
                "tile_height": lay.cell_h,
                "duration": run.duration,
                "tiles": [{"start": t, "x": x, "y": y} for t, page, x, y in tiles if page == p],
            }
            for p, page_file in enumerate(run.result.sprites)
        ]
        run.result.storyboard = run.ledger.write(self.path, storyboard_json(pages).encode("utf-8"))


class Cover(Writer):
    """Snapshot `position` (1-based) as the cover, or with "auto" the most
    representative non-black one (`black` decides what is black)."""

    def __init__(self, path: str | os.PathLike[str], position: int | str, count: int, black: BlackTest | None) -> None:
        _require_jpeg(path)
        if isinstance(position, int) and position > count:
            raise InvalidParameter(f"cover_position {position} is past the {count} snapshots")
        self.path = os.fspath(path)
        self.position = position
        self.black = black if black is not None else BlackTest()
        self.hists: dict[int, np.ndarray] = {}
        self.blacks: dict[int, bool] = {}
        self.data: bytes | None = None

    def destinations(self) -> list[str]:
        """The cover's path."""
        return [self.path]

    def take(self, batch: Batch, ledger: Ledger) -> None:
        """Keep the cover's JPEG (by position), or each frame's histogram and blackness (auto)."""
        for k, request in enumerate(batch.requests):
            if self.position == "auto":
                planes = batch.plane(k)
                self.hists[request] = histogram(planes)
                self.blacks[request] = self.black(planes)
            elif self.position == request + 1:
                self.data = batch.jpeg(k)

    def finish(self, run: Finished) -> None:
        """Write the cover, choosing the most representative non-black snapshot for auto."""
        n = len(run.snapshots)
        if self.position == "auto":
            chosen = most_representative([self.hists[i] for i in range(n)], [self.blacks[i] for i in range(n)])
            held = run.snapshots[chosen].file
            self.data = run.ledger.read(held) if held else run.redecode(run.snapshots[chosen].time)
            run.result.cover_index = chosen + 1
        else:
            run.result.cover_index = int(self.position)
        assert self.data is not None
        run.result.cover = run.ledger.write(self.path, self.data)


def plan_writers(
    names: Sequence[str],
    geometry: tuple[int, int],
    *,
    keep_singles: bool,
    sprite: Sprite | None,
    sprite_output: str | os.PathLike[str] | None,
    webvtt: str | os.PathLike[str] | None,
    storyboard: str | os.PathLike[str] | None,
    base_url: str | None,
    cover: str | os.PathLike[str] | None,
    cover_position: int | str | None,
    black: BlackTest | None,
) -> list[Writer]:
    """The writers for one run's options, in the order they must finish."""
    writers: list[Writer] = []
    if keep_singles:
        writers.append(SingleFiles(names))
    sheets = None
    if sprite is not None:
        sheets = SpriteSheets(sprite, len(names), *geometry, sprite_pattern(names[0], sprite_output))
        writers.append(sheets)
    pictures = sheets.names[0] if sheets is not None else names[0]
    if webvtt is not None:
        _payload(pictures, os.fspath(webvtt), base_url)  # a URL for the cues can be made: now, not at the end
        writers.append(WebVTTTrack(webvtt, sheets, base_url))
    if storyboard is not None:
        if sheets is None:
            raise InvalidParameter("a storyboard describes sprite sheets: give sprite= too")
        _payload(pictures, os.fspath(storyboard), base_url)
        writers.append(Storyboard(storyboard, sheets, base_url))
    if cover is not None and cover_position is not None:
        writers.append(Cover(cover, cover_position, len(names), black))
    return writers
