"""snapshot_many(): one sf.snapshot per video, spread over worker processes or a
Dask cluster, each video's failure its own."""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import unquote, urlparse

from stillframe._ledger import check_destinations
from stillframe._objects import OBJECT_STORES, is_object_url
from stillframe._overwrite import refuse_existing
from stillframe._source import RangeSource, Source
from stillframe.distributed._runners import Progress, runner_for
from stillframe.errors import InternalError, InvalidParameter, StillframeError
from stillframe.outputs import check_placeholders, output_names
from stillframe.snapshot import SamplingLike, SnapshotResult, as_sampling, snapshot
from stillframe.sprites import Sprite, parse_color

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from stillframe.snapshot import SnapshotOptions

__all__ = ["BatchItem", "check_outputs", "input_name", "open_source", "snapshot_many", "snapshot_one"]

NAME = "{Name}"
# sf.snapshot's options that name files, and may hold {Name}.
PATH_OPTIONS = ("sprite_output", "webvtt", "storyboard", "cover")


@dataclass
class BatchItem:
    """One input's outcome: `result` when it was written, else `error` (a
    StillframeError; anything else that went wrong is an InternalError naming the
    file)."""

    source: str
    name: str  # the input's {Name}
    result: SnapshotResult | None = None
    error: StillframeError | None = None

    @property
    def ok(self) -> bool:
        """Whether the input's snapshots were written."""
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        """The outcome as JSON-ready data: source, name, ok, and the result's or the error's dict."""
        return {
            "source": self.source,
            "name": self.name,
            "ok": self.ok,
            "result": self.result.to_dict() if self.result is not None else None,
            "error": self.error.to_dict() if self.error is not None else None,
        }


def input_name(source: str) -> str:
    """{Name}: the file name without its extension (of a URL's path, for a URL)."""
    path = unquote(urlparse(source).path) if "://" in source else source.replace(os.sep, "/")
    name = PurePosixPath(path).stem
    if not name:
        raise InvalidParameter(f"{source}: has no file name to fill {NAME} with")
    return name


def open_source(source: str, storage_options: Mapping[str, Any] | None = None) -> Source:
    """What the engine reads: object-store URLs by byte range, anything else as is."""
    if source.startswith(OBJECT_STORES):
        return RangeSource.from_url(source, **dict(storage_options or {})).check()
    return source


def check_outputs(
    paths: Sequence[str], storage_options: Mapping[str, Any] | None = None, overwrite: bool = True
) -> None:
    """Each destination can be written: local folders can be made and written (one
    check a folder), object stores' buckets exist and take a probe object; and unless
    `overwrite` no local file is there yet. Raises PermissionDenied, InvalidParameter
    or OutputExists naming the path."""
    refuse_existing(paths, overwrite)
    check_destinations(paths, storage_options)


def snapshot_one(
    source: str,
    sampling: SamplingLike,
    output: str,
    options: Mapping[str, Any],
    storage_options: Mapping[str, Any] | None = None,
) -> BatchItem:
    """sf.snapshot of one input, never raising: the task every engine runs (plain
    and picklable, so Ray tasks, Celery or a shell loop can call it too)."""
    name = input_name(source)
    try:
        result = snapshot(
            open_source(source, storage_options), sampling, output, **options, storage_options=storage_options
        )
        return BatchItem(source, name, result=result)
    except StillframeError as exc:
        return BatchItem(source, name, error=exc)
    except Exception as exc:
        return BatchItem(source, name, error=InternalError(f"{source}: {type(exc).__name__}: {exc}"))


# -- checks before anything is submitted ------------------------------------------------------


def check_options(sampling: SamplingLike, output: str, options: Mapping[str, Any]) -> None:
    """What would fail every video fails once, here: unknown options, a bad sampling,
    quality, sprite colour, a storyboard without sheets, an output URL."""
    if "progress" in options:
        raise InvalidParameter("progress is per video; the batch has its own bar (progress=True/False)")
    try:
        inspect.signature(snapshot).bind(None, sampling, output, **options)
    except TypeError as exc:
        raise InvalidParameter(f"not an option of sf.snapshot: {exc}") from None
    as_sampling(sampling)
    quality = options.get("quality", 85)
    if not 1 <= int(quality) <= 100:
        raise InvalidParameter(f"quality must be in 1..100, not {quality}")
    sprite = options.get("sprite")
    if sprite is not None:
        if not isinstance(sprite, Sprite):
            raise InvalidParameter(f"sprite must be a stillframe.Sprite, not {type(sprite).__name__}")
        parse_color(sprite.color)
    if options.get("storyboard") is not None and sprite is None:
        raise InvalidParameter("a storyboard describes sprite sheets: give sprite= too")
    for path in [output, *(options.get(k) for k in PATH_OPTIONS)]:
        if path is not None:
            check_placeholders(os.fspath(path))
        if path is not None and os.fspath(path).startswith(("http://", "https://")):
            raise InvalidParameter(f"{os.fspath(path)}: outputs are paths the workers write, or object-store URLs")


def fill(template: str | os.PathLike[str], name: str) -> str:
    text = os.fspath(template)
    return text[len("file://") :].replace(NAME, name) if text.startswith("file://") else text.replace(NAME, name)


def destinations(output: str, options: Mapping[str, Any]) -> list[str]:
    """The first file of each kind one input writes: what is checked, and what two
    inputs must not share."""
    first = output_names(output, 1)[0]
    out = [first]
    if options.get("sprite") is not None:
        pattern = options.get("sprite_output") or os.path.join(os.path.dirname(first) or ".", "sprite-{TileCount}.jpg")
        out.append(os.fspath(pattern).replace("{TileCount}", "00001"))
    for key in ("webvtt", "storyboard"):
        if options.get(key) is not None:
            out.append(os.fspath(options[key]))
    cover = options.get("cover")
    if cover is None and options.get("cover_position") is not None:
        cover = "auto"  # cover.jpg beside the snapshots
    if cover is not None:
        out.append(os.path.join(os.path.dirname(first) or ".", "cover.jpg") if cover == "auto" else os.fspath(cover))
    return out


def plan_inputs(
    inputs: Iterable[str | os.PathLike[str]], output: str | os.PathLike[str], options: Mapping[str, Any]
) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(source, name, output, options) per input, {Name} filled in. Refuses two
    inputs that would write the same file, naming both."""
    sources = []
    for src in inputs:
        if not isinstance(src, (str, os.PathLike)):
            raise InvalidParameter(f"inputs are paths or URLs, not {type(src).__name__}")
        sources.append(os.fspath(src))
    if not sources:
        raise InvalidParameter("no inputs given")
    if len(sources) > 1:
        for what, template in [("output", output), *((k, options.get(k)) for k in PATH_OPTIONS)]:
            if template is not None and template != "auto" and NAME not in os.fspath(template):
                raise InvalidParameter(
                    f"{what} {os.fspath(template)!r} has no {NAME}: {len(sources)} inputs would overwrite "
                    f"each other's files (for example out/{NAME}/{{Count}}.jpg)"
                )
    planned = []
    owner: dict[str, str] = {}
    for src in sources:
        name = input_name(src)
        opts = dict(options)
        for key in PATH_OPTIONS:
            if opts.get(key) is not None and opts[key] != "auto":
                opts[key] = fill(opts[key], name)
        out = fill(output, name)
        for path in destinations(out, opts):
            key = path if is_object_url(path) else os.path.normcase(os.path.abspath(path))
            if key in owner:
                raise InvalidParameter(
                    f"{owner[key]} and {src} would both write {path} ({NAME} is {name!r} for both): "
                    "give them different file names, or run them as separate batches"
                )
            owner[key] = src
        planned.append((src, name, out, opts))
    return planned


# -- the batch --------------------------------------------------------------------------------


def snapshot_many(
    inputs: Iterable[str | os.PathLike[str]],
    sampling: SamplingLike = None,
    output: str | os.PathLike[str] = "out/{Name}/{Count}.jpg",
    *,
    client: Any = None,
    processes: int | None = None,
    storage_options: Mapping[str, Any] | None = None,
    progress: bool | None = None,
    split: int | None = None,
    **options: Unpack[SnapshotOptions],
) -> list[BatchItem]:
    """sf.snapshot of every input, one task a video; a BatchItem per input, in the
    order given. A bad video fails its own item (`item.error`), never the batch.

    `output` (and the sprite_output / webvtt / storyboard / cover options) may hold
    {Name}, the input's file name without its extension, beside sf.snapshot's
    {Count}; two inputs that would write the same file are refused before anything
    runs, and every destination is checked first (on a worker, with a cluster).
    Inputs are paths every worker sees, URLs FFmpeg reads, or object-store URLs
    (s3://, oss://, gs://...: read by byte range). Outputs are paths the workers
    write (a shared file system) or object-store URLs, which each worker puts
    straight into the store. `storage_options` go to fsspec, for the inputs and
    the outputs.

    `client=None` runs on this machine in `processes` worker processes (default
    one a core); a `dask.distributed.Client` runs one task a video on its cluster,
    results streamed back as they finish. `split=N` takes the videos one at a time
    instead, each cut into N keyframe-aligned parts decoded side by side
    (snapshot_split): for a few long videos. `progress`: a bar on stderr (default:
    on a terminal). The other options are sf.snapshot's (SnapshotOptions).
    """
    snapshot_options = cast("dict[str, Any]", options)  # a fresh dict already (**kwargs)
    check_options(sampling, os.fspath(output), snapshot_options)
    planned = plan_inputs(inputs, output, snapshot_options)
    runner = runner_for(client, processes)
    overwrite = bool(snapshot_options.get("overwrite", False))
    paths = [p for _, _, out, opts in planned for p in destinations(out, opts)]
    runner.call(check_outputs, paths, storage_options, overwrite)
    if split is not None:
        return [
            _split_one(src, name, sampling, out, opts, client, processes, split, storage_options, progress)
            for src, name, out, opts in planned
        ]
    args = [(src, sampling, out, opts, storage_options) for src, _, out, opts in planned]
    items: list[BatchItem | None] = [None] * len(planned)
    bar = Progress(len(planned), "video", progress)
    try:
        for i, value in runner.map_unordered(snapshot_one, args):
            if not isinstance(value, BatchItem):
                src, name = planned[i][0], planned[i][1]
                what = f"{type(value).__name__}: {value}" if isinstance(value, BaseException) else repr(value)
                value = BatchItem(src, name, error=InternalError(f"{src}: the task failed on its worker ({what})"))
            items[i] = value
            bar.update()
    finally:
        bar.close()
    return [item for item in items if item is not None]


def _split_one(
    src: str,
    name: str,
    sampling: SamplingLike,
    output: str,
    options: Mapping[str, Any],
    client: Any,
    processes: int | None,
    parts: int,
    storage_options: Mapping[str, Any] | None,
    progress: bool | None,
) -> BatchItem:
    from stillframe.distributed._split import snapshot_split

    try:
        result = snapshot_split(
            src,
            sampling,
            output,
            client=client,
            parts=parts,
            processes=processes,
            storage_options=storage_options,
            progress=progress,
            **options,
        )
        return BatchItem(src, name, result=result)
    except StillframeError as exc:
        return BatchItem(src, name, error=exc)
    except Exception as exc:
        return BatchItem(src, name, error=InternalError(f"{src}: {type(exc).__name__}: {exc}"))
