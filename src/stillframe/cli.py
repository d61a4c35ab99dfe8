"""The `stillframe` command line: probe, snapshot, demo."""

from __future__ import annotations

import argparse
import json
import os
import stat
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

from stillframe import __version__
from stillframe.errors import InvalidParameter, StillframeError


def _progress(enabled: bool) -> tuple[Callable[[int, int], None] | None, Callable[[], None]]:
    """A progress bar on a terminal (tqdm when installed), nothing otherwise."""
    if not enabled or not sys.stderr.isatty():
        return None, lambda: None
    try:
        from tqdm import tqdm
    except ImportError:

        def text(done: int, total: int) -> None:
            print(f"\rsnapshots {done}/{total}", end="" if done < total else "\n", file=sys.stderr, flush=True)

        return text, lambda: None
    bar: Any = None

    def update(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, unit="frame", file=sys.stderr)
        bar.n = done
        bar.refresh()

    return update, lambda: bar.close() if bar is not None else None


class Parser(argparse.ArgumentParser):
    """argparse, with a value refused by its flag's own check (a time, say) told in
    one line; what is missing or unknown still shows the usage."""

    def error(self, message: str) -> NoReturn:
        """Exit with `message`: one line for a value its flag's type refused, else with the usage."""
        exc = sys.exc_info()[1]
        if exc is not None and isinstance(exc.__context__, argparse.ArgumentTypeError):
            self.exit(2, f"{self.prog}: error: {message}\n")
        super().error(message)


def seconds_arg(text: str) -> float:
    """argparse type: a time in FFmpeg's syntax (7.25, 90s, 1500ms, 00:01:30.5)."""
    from stillframe._timespec import parse_time

    try:
        return parse_time(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def times_arg(text: str) -> list[float]:
    """argparse type: comma-separated times (1.5,00:00:07.25,9s)."""
    return [seconds_arg(t) for t in text.split(",") if t.strip()]


def _sampling(args: argparse.Namespace):
    from stillframe.sampling import Dots, Interval, Quantity

    chosen = [x for x in (args.interval, args.dots, args.quantity) if x is not None]
    if len(chosen) > 1:
        raise SystemExit("stillframe: error: give one of --interval, --dots, --quantity")
    # Flags that belong to another way of sampling are refused, not ignored.
    stray = {
        "--start": args.start is not None and args.interval is None,
        "--count": args.count is not None and args.interval is None,
        "--quantity-time": args.quantity_time is not None and args.quantity is None,
    }
    if any(stray.values()):
        flag = next(k for k, v in stray.items() if v)
        owner = "--quantity" if flag == "--quantity-time" else "--interval"
        raise SystemExit(f"stillframe: error: {flag} applies only with {owner}")
    if args.interval is not None:
        return Interval(args.interval, start=args.start or 0.0, count=args.count)
    if args.dots is not None:
        return Dots(args.dots)
    if args.quantity is not None:
        return Quantity(args.quantity, args.quantity_time)
    return Dots([0.0])


def _grid(text: str, what: str) -> tuple[int, int]:
    try:
        a, b = text.lower().split("x")
        return int(a), int(b)
    except ValueError:
        raise SystemExit(f"stillframe: error: {what} must look like 10x10, not {text!r}") from None


# The sheets' flags Sprite takes as they are given: flag -> Sprite's field.
_SHEET_FIELDS = {"--margin": "margin", "--padding": "padding", "--color": "color", "--cell-step": "cell_sel_step"}


def _sprite(args: argparse.Namespace):
    # The sheets' own flags are refused without sheets, not ignored.
    def given(flag: str) -> Any:
        return getattr(args, flag[2:].replace("-", "_"))

    if args.sprite is None:
        stray = ("--cell-size", "--sprites-only", "--sprite-output", *_SHEET_FIELDS)
        flag = next((f for f in stray if given(f) is not None), None)  # no defaults: given or not
        if flag is not None:
            raise SystemExit(f"stillframe: error: {flag} applies only with --sprite")
        return None
    from stillframe.sprites import Sprite

    columns, lines = _grid(args.sprite, "--sprite")
    cell_w, cell_h = _grid(args.cell_size, "--cell-size") if args.cell_size else (None, None)
    return Sprite(
        columns=columns,
        lines=lines,
        cell_width=cell_w,
        cell_height=cell_h,
        keep_cell_pic=not args.sprites_only,
        **{field: given(flag) for flag, field in _SHEET_FIELDS.items() if given(flag) is not None},
    )


def cover_position_arg(text: str) -> int | str:
    """argparse type: a 1-based snapshot number, or auto."""
    if text == "auto":
        return text
    try:
        position = int(text)
    except ValueError:
        position = 0
    if position < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a 1-based snapshot number or auto")
    return position


def int_arg(lowest: int, highest: int | None = None) -> Callable[[str], int]:
    """argparse type: a whole number in lowest..highest (no upper bound without
    `highest`), so that 0 workers or port 99999 is one line naming the flag."""

    def whole(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = lowest - 1
        if value < lowest or (highest is not None and value > highest):
            bounds = f"in {lowest}..{highest}" if highest is not None else f">= {lowest}"
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number {bounds}")
        return value

    return whole


def add_storage_options(parser: argparse._ActionsContainer, help: str) -> None:  # noqa: A002 - argparse's name
    """--storage-options JSON: what fsspec (s3fs) is given for object stores."""
    parser.add_argument("--storage-options", type=json_object_arg, default=None, metavar="JSON", help=help)


def json_object_arg(text: str) -> dict[str, Any]:
    """argparse type: a JSON object ({...}), a malformed one told in one line."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("give a JSON object: {...}")
    return value


SNAPSHOT_OPTIONS = "sampling and output"


def add_snapshot_options(parser: argparse.ArgumentParser, helps: Mapping[str, str] | None = None) -> None:
    """The sampling and output flags of `stillframe snapshot`, as one group of
    `parser`: every command that snapshots videos (`batch` too) takes these, read
    back by _sampling() and snapshot_options(). `helps` rewords a flag's help for
    a command, keyed by the flag ("--vtt"); names, types and defaults stay. (Long for
    the flags alone.)"""
    group = parser.add_argument_group(SNAPSHOT_OPTIONS)
    words = dict(helps or {})

    def add(flag: str, help: str, **kwargs: Any) -> None:
        group.add_argument(flag, help=words.pop(flag, help), **kwargs)

    add(
        "--interval",
        "time between snapshots: seconds (10, 2.5s, 500ms) or [HH:]MM:SS[.m]",
        type=seconds_arg,
        metavar="TIME",
    )
    add("--start", "time of the first one (with --interval; default 0)", type=seconds_arg, default=None, metavar="TIME")
    add("--count", "at most this many (with --interval; --interval 0 spreads them)", type=int)
    add(
        "--dots",
        "comma-separated times: 1.5,7.25 or 00:01:30,00:02:05.5 (units s, ms, us)",
        type=times_arg,
        metavar="T1,T2,...",
    )
    add("--quantity", "this many, spread over the video", type=int)
    add("--quantity-time", "with --quantity: the time between them", type=seconds_arg, metavar="TIME")
    add(
        "--frame-type",
        "normal: the exact frame; intra: the nearest keyframe, decoding keyframes only (default: %(default)s)",
        choices=("normal", "intra"),
        default="normal",
    )
    add(
        "--snap",
        "displayed: the frame on screen at t; next: the first frame at or after t, as ffmpeg -ss "
        "(default: %(default)s)",
        choices=("displayed", "next"),
        default="displayed",
    )
    add(
        "--tolerance",
        "how far a keyframe may be from the exact frame and stand in for it (default: 0, exact)",
        type=seconds_arg,
        default=0.0,
        metavar="TIME",
    )
    add("--width", "pixels; the height follows the display aspect unless given too", type=int)
    add("--height", "pixels; the width follows the display aspect unless given too", type=int)
    add("--max-length", "longest side in pixels", type=int)
    add(
        "--aspect",
        "16:9 pads with black to that shape, never cropping (default: %(default)s)",
        choices=("keep", "16:9"),
        default="keep",
    )
    add(
        "--deinterlace",
        "auto: frames flagged interlaced go through FFmpeg's bwdif, one picture a frame (default: off)",
        choices=("auto",),
        default=None,
    )
    add("--quality", "JPEG quality 1..100 (default: %(default)s)", type=int_arg(1, 100), default=85, metavar="Q")
    add("--sprite", "sprite sheets of C columns and L lines, e.g. 10x10", metavar="CxL")
    add("--cell-size", "sprite cell size (default: the snapshot size)", metavar="WxH")
    # No argparse defaults for the sheets' flags: Sprite's apply, and a flag given
    # without --sprite is told apart from one left out.
    add("--margin", "pixels around a sprite sheet's edge (default: 0)", type=int)
    add("--padding", "pixels between sprite cells (default: 0)", type=int)
    add("--color", "sprite background: a name, #rrggbb or random (default: black)")
    add("--cell-step", "every nth snapshot goes on the sheet (default: 1)", type=int)
    add("--sprites-only", "write the sheets, not the single snapshots", action="store_true", default=None)
    add(
        "--sprite-output",
        "sheet file name; {TileCount} = 00001, ... (default: sprite-{TileCount}.jpg beside the snapshots)",
    )
    add("--vtt", "write a WebVTT thumbnail track here")
    add("--storyboard", "write the sheets' storyboard JSON here")
    group.add_argument(
        "--vtt-base-url",
        "--base-url",
        dest="vtt_base_url",
        metavar="URL",
        help=words.pop(
            "--vtt-base-url", "prefix for the VTT and storyboard image URLs (default: relative to the track)"
        ),
    )
    add(
        "--black-level",
        "30..100: percent of dark pixels that makes a frame black; either black flag turns the "
        "test on (default then: 100)",
        type=int,
    )
    add(
        "--pixel-black-threshold", "0..255: darker than this is a dark pixel (default with --black-level: 32)", type=int
    )
    add("--cover", "write the cover here ('auto': cover.jpg beside the snapshots, the most representative one)")
    add(
        "--cover-position",
        "1-based snapshot to use as the cover, or auto (default: 1 with --cover PATH); "
        "without --cover, the cover is cover.jpg beside the snapshots",
        type=cover_position_arg,
    )
    add(
        "--overwrite",
        "replace files that exist (without it, an existing file stops the run before anything "
        "is decoded, as ffmpeg -n)",
        action="store_true",
    )
    add(
        "--clean",
        "remove the files the output names match that this run did not write (an earlier "
        "run's 00004.jpg when this one writes 3)",
        action="store_true",
    )
    add_storage_options(
        group,
        words.pop(
            "--storage-options",
            "JSON for fsspec, for s3://, oss://... inputs and outputs "
            '(e.g. \'{"endpoint_url": "http://127.0.0.1:9000", "key": "...", "secret": "..."}\')',
        ),
    )
    if words:  # a misspelt key would leave the help it meant to change unchanged
        raise InvalidParameter(f"not flags of {SNAPSHOT_OPTIONS}: {', '.join(sorted(words))}")


def snapshot_options(args: argparse.Namespace) -> dict[str, Any]:
    """sf.snapshot's keyword arguments from add_snapshot_options' flags (the
    sampling aside: _sampling(args))."""
    if args.vtt_base_url is not None and args.vtt is None and args.storyboard is None:
        raise SystemExit("stillframe: error: --vtt-base-url applies only with --vtt or --storyboard")
    return {
        "frame_type": args.frame_type,
        "snap": args.snap,
        "tolerance": args.tolerance,
        "width": args.width,
        "height": args.height,
        "max_length": args.max_length,
        "aspect_ratio": args.aspect,
        "deinterlace": args.deinterlace or False,
        "quality": args.quality,
        "sprite": _sprite(args),
        "sprite_output": args.sprite_output,
        "webvtt": args.vtt,
        "storyboard": args.storyboard,
        "vtt_base_url": args.vtt_base_url,
        "black_level": args.black_level,
        "pixel_black_threshold": args.pixel_black_threshold,
        "cover": args.cover,
        "cover_position": args.cover_position,
        "overwrite": args.overwrite,
        "clean": args.clean,
        "storage_options": args.storage_options,
    }


def _input(args: argparse.Namespace) -> Any:
    """The command's source: an object store's URL read by byte range, as the library
    does with a RangeSource; anything else as given."""
    from stillframe._objects import OBJECT_STORES

    if not args.source.startswith(OBJECT_STORES):
        return args.source
    from stillframe._source import RangeSource

    return RangeSource.from_url(args.source, **(args.storage_options or {})).check()


def _probe(args: argparse.Namespace) -> int:
    from stillframe.video import probe

    info = probe(_input(args), stream=args.stream, index=args.index, variant=args.variant)
    print(json.dumps(info.to_dict(work_out=args.all), indent=2))
    return 0


def _snapshot(args: argparse.Namespace) -> int:
    from stillframe.snapshot import snapshot

    source = _input(args)
    progress, close = _progress(not args.json)
    try:
        result = snapshot(
            source,
            _sampling(args),
            args.output,
            stream=args.stream,
            workers=args.workers,
            timeout=args.timeout,
            progress=progress,
            device=args.device,
            fallback=args.fallback,
            index=args.index,
            variant=args.variant,
            **snapshot_options(args),
        )
    finally:
        close()
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(_summary(result))
        if result.decoding.get("fallback"):
            print(f"device {result.decoding['device']} not used: {result.decoding['fallback']}", file=sys.stderr)
    return 0


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _some(paths: Sequence[str], shown: int = 3) -> str:
    return ", ".join(paths[:shown]) + (f" and {len(paths) - shown} more" if len(paths) > shown else "")


def _summary(result) -> str:
    """What was written, where, and what was left out or found beside it."""
    import os

    parts = []
    files = result.files
    folders = {os.path.dirname(f) for f in files}
    if len(files) == 1:
        parts.append(f"1 snapshot written: {files[0]}")
    elif files and len(folders) == 1:
        folder = folders.pop() or "."
        first, last = os.path.basename(files[0]), os.path.basename(files[-1])
        parts.append(f"{len(files)} snapshots written to {folder}/ ({first} .. {last})")
    elif files:
        parts.append(f"{len(files)} snapshots written: {files[0]} .. {files[-1]}")
    if result.sprites:
        parts.append(
            f"{_plural(len(result.sprites), 'sprite sheet')} of {result.count} frames: {', '.join(result.sprites)}"
        )
    for what in ("webvtt", "storyboard", "cover"):
        if getattr(result, what):
            parts.append(f"{what} {getattr(result, what)}")
    if result.removed:
        parts.append(f"removed {_plural(len(result.removed), 'earlier file')}: {_some(result.removed)}")
    if result.stale:
        hint = "" if result.removed else " (--clean removes them)"
        parts.append(f"{_plural(len(result.stale), 'earlier file')} left beside them: {_some(result.stale)}{hint}")
    text = "; ".join(parts) or "nothing written"
    if result.dropped:
        text += f" ({result.dropped} left out: {result.reason})"
    return f"{text}; decoded by {result.decoding['decoder']}"


def _hw(args: argparse.Namespace) -> int:
    from stillframe.devices import hardware

    if args.measure:
        from stillframe._calibration import for_auto

        print(json.dumps(for_auto(), indent=2))
        return 0
    report = hardware()
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
        return 0
    print(
        f"PyAV {report.pyav}, FFmpeg {report.ffmpeg} (libavcodec {report.libavcodec}); "
        f"device types built in: {', '.join(report.built) or 'none'}"
    )
    for kind, d in report.devices.items():
        state = "usable" if d["usable"] else f"not usable: {d['reason']}"
        print(f"  {kind:13} {state}")
    print("codecs (backend per device; * = usable here):")
    for codec, row in report.codecs.items():
        cells = [
            f"{k}={v['decoder']}{' (hwaccel)' if v['method'] == 'hwaccel' else ''}{'*' if v['usable'] else ''}"
            for k, v in row.items()
        ]
        print(f"  {codec:11} {', '.join(cells) or 'software only'}")
    print(f"auto: {report.auto or 'cpu (' + (report.auto_reason or '') + ')'}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from stillframe import testsrc
    from stillframe.sampling import Interval
    from stillframe.snapshot import snapshot

    out = Path(args.out)
    try:
        video = testsrc.make_video(out / "demo.mp4", frames=300, size=(1280, 720), gop=60, bframes=2)
    except OSError as exc:  # a folder that cannot be made or written (PyAV's errors are OSErrors too)
        raise InvalidParameter(f"{out}: cannot write the demo there ({exc.strerror or exc})") from None
    # The demo's folder holds the demo's own files: a second run replaces them.
    result = snapshot(video, Interval(1.0), out / "{Count}.jpg", width=480, quality=args.quality, overwrite=True)
    print(
        json.dumps(
            {"video": str(video), "count": result.count, "files": result.files, "stats": result.stats.to_dict()},
            indent=2,
        )
    )
    return 0


INDEX_CHOICES = ("auto", "scan")
INDEX_HELP = (
    "auto: find frames through the file's own index (MP4/MOV sample tables, Matroska cues; an HLS playlist's or "
    "a DASH manifest's segments, a fragmented MP4's fragments), reading only what is needed; scan: demux every "
    "packet first (default: %(default)s)"
)
VARIANT_HELP = (
    "the rendition of an HLS master playlist or a DASH manifest: highest (the default), lowest, 720p, 1280x720, "
    "a bandwidth cap in bits a second (<=N), or its playlist's name or Representation id"
)


_JOB_COMMANDS = ("jobs", "worker", "live")

SNAPSHOT_EXAMPLES = """examples:
  stillframe snapshot video.mp4 -o 'out/{Count}.jpg' --interval 10 --width 480
  stillframe snapshot video.mp4 -o one.jpg --dots 7.25
  stillframe snapshot video.mp4 -o 'out/{Count}.jpg' --quantity 10 --frame-type intra --max-length 320
  stillframe snapshot video.mp4 -o 'out/{Count}.jpg' --interval 3 --width 160 --sprite 10x10 --sprites-only \\
      --vtt out/thumbs.vtt
  stillframe snapshot s3://media/in.mp4 -o 's3://media/thumbs/{Count}.jpg' --interval 10 \\
      --storage-options '{"endpoint_url": "https://oss-cn-hangzhou.aliyuncs.com"}'
"""


# Commands of the engine itself: run alone, they load no other layer's command line.
CORE_COMMANDS = ("probe", "snapshot", "hw", "demo")


def _parser(core_only: bool = False) -> argparse.ArgumentParser:
    """The command line's parser; `core_only` leaves out the jobs, server and batch
    commands (and what they import), for a run of one of CORE_COMMANDS. (Long for the
    flags alone.)"""
    parser = Parser(prog="stillframe", description="Exact still frames out of video, fast.")
    parser.add_argument("--version", action="version", version=f"stillframe {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    probe = sub.add_parser("probe", help="describe a video as JSON")
    probe.add_argument("source", help="a video: a path, a file:// or http(s):// URL, or s3://, oss://... (fsspec)")
    probe.add_argument("--stream", type=int, default=None, help="the video stream's index (default: FFmpeg's best)")
    probe.add_argument("--index", choices=INDEX_CHOICES, default="auto", help=INDEX_HELP)
    probe.add_argument("--variant", default=None, metavar="RULE", help=VARIANT_HELP)
    probe.add_argument(
        "--all",
        action="store_true",
        help="also what needs every keyframe read (keyframe_times; a Matroska file's frame_count), "
        "left out otherwise when the file's own index describes it",
    )
    add_storage_options(probe, "JSON for fsspec, for an s3://, oss://... source")
    probe.set_defaults(run=_probe, parser=probe)

    snap = sub.add_parser(
        "snapshot",
        help="write JPEG snapshots",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Write exact JPEG snapshots of a video (one at 0 s when no sampling is given).",
        epilog=SNAPSHOT_EXAMPLES,
    )
    snap.add_argument("source", help="a video: a path, a file:// or http(s):// URL, or s3://, oss://... (fsspec)")
    snap.add_argument(
        "-o",
        "--output",
        default="out/{Count}.jpg",
        help="JPEG file name, .jpg or .jpeg, or an s3://, oss://... URL; {Count} = 00001, 00002, ... "
        "(default: %(default)s)",
    )
    snap.add_argument("--stream", type=int, default=None, help="the video stream's index (default: FFmpeg's best)")
    snap.add_argument("--index", choices=INDEX_CHOICES, default="auto", help=INDEX_HELP)
    snap.add_argument("--variant", default=None, metavar="RULE", help=VARIANT_HELP)
    snap.add_argument(
        "--workers",
        type=int_arg(1),
        default=None,
        metavar="N",
        help="parallel decoders (default: one a core; 1 for one snapshot)",
    )
    snap.add_argument(
        "--timeout",
        type=seconds_arg,
        default=None,
        metavar="TIME",
        help="how long before giving up (SnapshotTimeOut; default: no limit)",
    )
    snap.add_argument(
        "--device",
        default="cpu",
        help="cpu, auto, cuda[:N], vaapi[:/dev/dri/renderD128], qsv, videotoolbox, d3d11va (default: %(default)s)",
    )
    snap.add_argument("--fallback", action="store_true", help="decode on the CPU when the device cannot (says why)")
    snap.add_argument("--json", action="store_true", help="print the result as JSON")
    add_snapshot_options(snap)
    snap.set_defaults(run=_snapshot, parser=snap)

    if not core_only:
        _add_layer_commands(sub)

    hw = sub.add_parser("hw", help="what hardware decoding this machine and PyAV build can do")
    hw.add_argument("--json", action="store_true", help="print the report as JSON")
    hw.add_argument(
        "--measure",
        action="store_true",
        help="measure what auto weighs on this machine now (kept in the cache folder) and print it",
    )
    hw.set_defaults(run=_hw)

    demo = sub.add_parser(
        "demo",
        help="make a test video and snapshot it (nothing of yours needed)",
        description="Make a 10 s 720p test clip (OUT/demo.mp4), write one exact 480 px snapshot a second "
        "(OUT/00001.jpg ...) and print the result as JSON. A second run replaces the demo's files.",
    )
    demo.add_argument("out", nargs="?", default="stillframe-demo", help="output folder (default: %(default)s)")
    demo.add_argument(
        "--quality", type=int_arg(1, 100), default=85, metavar="Q", help="JPEG quality 1..100 (default: %(default)s)"
    )
    demo.set_defaults(run=_demo)
    return parser


def _add_layer_commands(sub: Any) -> None:
    """jobs, worker, live (the jobs extra), serve and batch."""
    try:
        from stillframe.jobs.cli import add_parsers
    except ImportError as exc:  # the jobs extra (SQLAlchemy) is not installed: say so when asked
        for name in _JOB_COMMANDS:  # listed in --help; main() answers them
            sub.add_parser(name, help=f"(not installed: {exc})", add_help=False)
    else:
        add_parsers(sub)
    from stillframe.server.cli import add_parser as add_serve_parser  # stdlib only until `serve` runs

    add_serve_parser(sub)
    from stillframe.distributed.cli import add_parser as add_batch_parser

    add_batch_parser(sub)


# What `ls | head` exits with: 128 + SIGPIPE, as if the signal had ended it.
EXIT_PIPE_CLOSED = 141


def _reader_gone() -> bool:
    """Whether stdout is a pipe or socket (whose reader, `head`, may have gone)."""
    try:
        mode = os.fstat(sys.stdout.fileno()).st_mode
    except (OSError, ValueError, AttributeError):
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `stillframe` command with `argv` (default: the process's arguments); returns the exit status: 0, 1
    with one line on stderr for an error of the tree, 130 when interrupted (what the run wrote is removed and what
    it replaced put back), 143 when terminated, 141 when the reader of its output (`| head`) has gone."""
    try:
        return _main(argv)
    except BrokenPipeError:
        if not _reader_gone():
            print("stillframe: error: InternalError: broken pipe", file=sys.stderr)
            return 1
        # Nothing more reaches the reader: point stdout at nothing so that the
        # interpreter's last flush does not complain either.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_PIPE_CLOSED
    finally:
        if argv is None:  # the process's own command, which ends when this returns
            _ending()


def _main(argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in _JOB_COMMANDS:
        try:
            import stillframe.jobs.cli  # noqa: F401
        except ImportError as exc:  # one line naming the extra, whatever the arguments
            print(f"stillframe: error: {exc}", file=sys.stderr)
            return 1
    core = bool(argv) and (argv[0] in CORE_COMMANDS or argv[0] == "--version")
    if core:
        _one_blas_thread()
    parser = _parser(core_only=core)
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # the subcommand's own usage, not the top level's
        getattr(args, "parser", parser).error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.command in _WRITING_COMMANDS:
        _terminate_on_sigterm()
    try:
        return int(args.run(args))
    except StillframeError as exc:
        print(f"stillframe: error: {exc.code}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # what was written in this run is removed, what it replaced put back
        print("stillframe: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print("stillframe: terminated", file=sys.stderr)
        return 143


_WRITING_COMMANDS = ("snapshot", "batch")


def _ending() -> None:
    """The interpreter's last collections would visit every object of PyAV, NumPy and
    the engine (a tenth of a one-frame run) for garbage that is about to go with the
    process: leave them out. Everything written is closed by now, and Python never
    promised finalizers at exit."""
    import gc

    gc.freeze()


def _one_blas_thread() -> None:
    """NumPy's OpenBLAS starts a thread a core as it loads (tens of milliseconds of
    CPU, a third of NumPy's import), for linear algebra no engine command does: one
    is enough, unless the caller says otherwise or NumPy is loaded already."""
    if "numpy" not in sys.modules:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


class Terminated(BaseException):
    """SIGTERM, raised where the program is so that a run rolls back as it does on
    Ctrl-C (a BaseException: no `except Exception` on the way takes it for a failure)."""


def _terminate_on_sigterm() -> None:
    import signal
    import threading

    def stop(signum: int, frame: Any) -> None:
        raise Terminated()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, stop)


if __name__ == "__main__":
    sys.exit(main())
