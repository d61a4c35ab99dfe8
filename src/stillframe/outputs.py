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
    Ledger        what a run planned and wrote, so that a failed run leaves nothing
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from stillframe._files import check_destination, is_confined, write_atomic
from stillframe.covers import BlackTest, histogram, most_representative
from stillframe.errors import InvalidParameter
from stillframe.frame import Frame
from stillframe.jpeg import YUV420Planes, encode_jpegs
from stillframe.sprites import Sprite, SpriteLayout, compose_page, fit_cell, page_names, parse_color
from stillframe.webvtt import cues_for, storyboard_json, write_webvtt

if TYPE_CHECKING:
    from stillframe.snapshot import Snapshot, SnapshotResult

__all__ = [
    "Batch",
    "Cover",
    "Finished",
    "Ledger",
    "SingleFiles",
    "SpriteSheets",
    "Storyboard",
    "WebVTTTrack",
    "Writer",
    "output_names",
]

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


def _require_jpeg(path: str | os.PathLike[str]) -> None:
    if Path(path).suffix.lower() not in (".jpg", ".jpeg"):
        raise InvalidParameter(f"{os.fspath(path)}: snapshots are JPEG: name the file .jpg or .jpeg")


def _payload(target: str, beside: str, base_url: str | None) -> str:
    """How a track or storyboard names `target`: relative to itself, or under base_url."""
    rel = os.path.relpath(target, os.path.dirname(os.path.abspath(beside)) or ".").replace(os.sep, "/")
    return base_url.rstrip("/") + "/" + rel if base_url else rel


class Ledger:
    """What one run meant to write and has written. `rollback()` removes it all,
    including what an interrupt caught between a rename and its being recorded, or
    between a temporary's creation and its cleanup (.NAME.*.part)."""

    def __init__(self) -> None:
        self.began = time.time()
        self.planned: list[str] = []
        self.written: list[str] = []

    def check(self, paths: Sequence[str]) -> None:
        """Each destination's folder can be made and written (one check a folder)."""
        seen: set[str] = set()
        for path in paths:
            folder = os.path.dirname(os.path.abspath(path))
            if folder not in seen or os.path.isdir(path):
                seen.add(folder)
                check_destination(path)
        self.planned.extend(paths)

    def write(self, path: str | os.PathLike[str], data: bytes) -> str:
        written = os.fspath(write_atomic(path, data))
        self.written.append(written)
        return written

    def keep(self, path: str) -> str:
        """Record a file written by other means (the WebVTT writer)."""
        self.written.append(path)
        return path

    def rollback(self) -> None:
        """Remove what the run wrote, and what it planned that appeared since it began
        (with any .NAME.*.part beside it): one listing a folder, however many files
        were planned there. A folder that no longer resolves inside the run's bound
        (stillframe._files.confined_to) is left alone: it is not the run's to clean."""
        folders: dict[str, set[str]] = {}
        written: dict[str, set[str]] = {}
        for path in self.written:
            written.setdefault(os.path.dirname(path) or ".", set()).add(os.path.basename(path))
        for path in [*self.written, *self.planned]:
            folders.setdefault(os.path.dirname(path) or ".", set()).add(os.path.basename(path))
        for folder, names in folders.items():
            if not is_confined(folder):
                continue
            mine = written.get(folder, set())
            with contextlib.suppress(OSError), os.scandir(folder) as entries:
                for entry in list(entries):
                    name = entry.name
                    part = name.startswith(".") and name.endswith(".part")
                    owner = name[1:-5].rsplit(".", 1)[0] if part else name
                    if owner not in names:
                        continue
                    with contextlib.suppress(OSError):
                        if part or name in mine or entry.stat(follow_symlinks=False).st_mtime >= self.began:
                            os.unlink(entry.path)


@dataclass
class Batch:
    """Frames as they stream, with their pictures; JPEG bytes encoded once, on the
    first writer's asking, for all the writers."""

    requests: list[int]  # 0-based snapshot index of each frame
    frames: list[Frame]
    quality: int
    planes: list[YUV420Planes] = field(init=False)
    _jpegs: list[bytes] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.planes = [f.planes() for f in self.frames]

    def jpegs(self) -> list[bytes]:
        if self._jpegs is None:
            self._jpegs = encode_jpegs(self.planes, quality=self.quality)
        return self._jpegs

    def jpeg(self, k: int) -> bytes:
        return self.jpegs()[k] if self._jpegs is not None else encode_jpegs([self.planes[k]], quality=self.quality)[0]

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

    def destinations(self) -> list[str]:
        return []

    def take(self, batch: Batch, ledger: Ledger) -> None:
        pass

    def finish(self, run: Finished) -> None:
        pass


class SingleFiles(Writer):
    def __init__(self, names: list[str]) -> None:
        _require_jpeg(names[0])
        self.names = names

    def destinations(self) -> list[str]:
        return list(self.names)

    def take(self, batch: Batch, ledger: Ledger) -> None:
        for request, data in zip(batch.requests, batch.jpegs()):
            ledger.write(self.names[request], data)

    def file_for(self, request: int) -> str:
        return self.names[request]


class SpriteSheets(Writer):
    """Every `cell_sel_step`-th snapshot as a cell; a page is encoded and written as
    soon as its cells are in (frames may stream out of order)."""

    def __init__(self, sprite: Sprite, count: int, snap_w: int, snap_h: int, pattern: str | os.PathLike[str]) -> None:
        self.layout: SpriteLayout = sprite.layout(snap_w, snap_h)
        self.color = parse_color(sprite.color)
        self.selected = list(range(0, count, sprite.cell_sel_step))
        self.slot = {r: k for k, r in enumerate(self.selected)}
        self.names = page_names(pattern, self.layout.pages(len(self.selected)))
        _require_jpeg(self.names[0])
        self.cells: dict[int, YUV420Planes] = {}
        self.written: dict[int, str] = {}

    def destinations(self) -> list[str]:
        return list(self.names)

    def take(self, batch: Batch, ledger: Ledger) -> None:
        for request, planes in zip(batch.requests, batch.planes):
            if request in self.slot:
                self.cells[self.slot[request]] = fit_cell(planes, self.layout.cell_w, self.layout.cell_h)
        self._flush(batch.quality, ledger)

    def _flush(self, quality: int, ledger: Ledger) -> None:
        per = self.layout.per_page
        for page in range(len(self.names)):
            members = range(page * per, min((page + 1) * per, len(self.selected)))
            if page in self.written or not all(k in self.cells for k in members):
                continue
            sheet = compose_page(self.layout, [self.cells.pop(k) for k in members], self.color)
            self.written[page] = ledger.write(self.names[page], encode_jpegs([sheet], quality=quality)[0])

    def finish(self, run: Finished) -> None:
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
        return [self.path]

    def finish(self, run: Finished) -> None:
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
        run.result.webvtt = run.ledger.keep(write_webvtt(self.path, cues_for(times, payloads, run.duration)))


class Storyboard(Writer):
    """The sheets as JSON: each page's URL, tile size and tiles' start times."""

    def __init__(self, path: str | os.PathLike[str], sheets: SpriteSheets, base_url: str | None) -> None:
        self.path = os.fspath(path)
        self.sheets = sheets
        self.base_url = base_url

    def destinations(self) -> list[str]:
        return [self.path]

    def finish(self, run: Finished) -> None:
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
        return [self.path]

    def take(self, batch: Batch, ledger: Ledger) -> None:
        for k, (request, planes) in enumerate(zip(batch.requests, batch.planes)):
            if self.position == "auto":
                self.hists[request] = histogram(planes)
                self.blacks[request] = self.black(planes)
            elif self.position == request + 1:
                self.data = batch.jpeg(k)

    def finish(self, run: Finished) -> None:
        n = len(run.snapshots)
        if self.position == "auto":
            chosen = most_representative([self.hists[i] for i in range(n)], [self.blacks[i] for i in range(n)])
            held = run.snapshots[chosen].file
            self.data = Path(held).read_bytes() if held else run.redecode(run.snapshots[chosen].time)
            run.result.cover_index = chosen + 1
        else:
            run.result.cover_index = int(self.position)
        assert self.data is not None
        run.result.cover = run.ledger.write(self.path, self.data)


def plan_writers(
    names: list[str],
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
        out_dir = os.path.dirname(names[0]) or "."
        pattern = sprite_output if sprite_output is not None else os.path.join(out_dir, "sprite-{TileCount}.jpg")
        sheets = SpriteSheets(sprite, len(names), *geometry, pattern)
        writers.append(sheets)
    if webvtt is not None:
        writers.append(WebVTTTrack(webvtt, sheets, base_url))
    if storyboard is not None:
        if sheets is None:
            raise InvalidParameter("a storyboard describes sprite sheets: give sprite= too")
        writers.append(Storyboard(storyboard, sheets, base_url))
    if cover is not None and cover_position is not None:
        writers.append(Cover(cover, cover_position, len(names), black))
    return writers
