"""The `stillframe` command line: probe, snapshot, demo."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

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
        return Dots([float(t) for t in args.dots.split(",") if t.strip()])
    if args.quantity is not None:
        return Quantity(args.quantity, args.quantity_time)
    return Dots([0.0])


def _grid(text: str, what: str) -> tuple[int, int]:
    try:
        a, b = text.lower().split("x")
        return int(a), int(b)
    except ValueError:
        raise SystemExit(f"stillframe: error: {what} must look like 10x10, not {text!r}") from None


def _sprite(args: argparse.Namespace):
    if args.sprite is None:
        return None
    from stillframe.sprites import Sprite

    columns, lines = _grid(args.sprite, "--sprite")
    cell_w, cell_h = _grid(args.cell_size, "--cell-size") if args.cell_size else (None, None)
    return Sprite(
        columns=columns,
        lines=lines,
        cell_width=cell_w,
        cell_height=cell_h,
        margin=args.margin,
        padding=args.padding,
        color=args.color,
        keep_cell_pic=not args.sprites_only,
        cell_sel_step=args.cell_step,
    )


def _cover_position(text: str | None) -> int | str | None:
    if text is None or text == "auto":
        return text
    return int(text)


SNAPSHOT_OPTIONS = "sampling and output"


def add_snapshot_options(parser: argparse.ArgumentParser, helps: Mapping[str, str] | None = None) -> None:
    """The sampling and output flags of `stillframe snapshot`, as one group of
    `parser`: every command that snapshots videos (`batch` too) takes these, read
    back by _sampling() and snapshot_options(). `helps` rewords a flag's help for
    a command, keyed by the flag ("--vtt"); names, types and defaults stay."""
    group = parser.add_argument_group(SNAPSHOT_OPTIONS)
    words = dict(helps or {})

    def add(flag: str, help: str, **kwargs: Any) -> None:
        group.add_argument(flag, help=words.pop(flag, help), **kwargs)

    add("--interval", "seconds between snapshots", type=float)
    add("--start", "seconds from the start (with --interval; default 0)", type=float, default=None)
    add("--count", "at most this many (with --interval; --interval 0 spreads them)", type=int)
    add("--dots", "comma-separated times in seconds")
    add("--quantity", "this many, spread over the video", type=int)
    add("--quantity-time", "with --quantity: seconds apart", type=float)
    add("--frame-type", "normal: the exact frame; intra: the nearest keyframe, decoding keyframes only "
        "(default: %(default)s)", choices=("normal", "intra"), default="normal")  # fmt: skip
    add("--snap", "displayed: the frame on screen at t; next: the first frame at or after t, as ffmpeg -ss "
        "(default: %(default)s)", choices=("displayed", "next"), default="displayed")  # fmt: skip
    add("--tolerance", "seconds a keyframe may stand in for the exact frame", type=float, default=0.0)
    add("--width", "pixels; the height follows the display aspect unless given too", type=int)
    add("--height", "pixels; the width follows the display aspect unless given too", type=int)
    add("--max-length", "longest side in pixels", type=int)
    add("--aspect", "16:9 pads with black to that shape, never cropping (default: %(default)s)",
        choices=("keep", "16:9"), default="keep")  # fmt: skip
    add("--quality", "JPEG quality 1..100 (default: %(default)s)", type=int, default=85)
    add("--sprite", "sprite sheets of C columns and L lines, e.g. 10x10", metavar="CxL")
    add("--cell-size", "sprite cell size (default: the snapshot size)", metavar="WxH")
    add("--margin", "pixels around a sprite sheet's edge", type=int, default=0)
    add("--padding", "pixels between sprite cells", type=int, default=0)
    add("--color", "sprite background: a name, #rrggbb or random", default="black")
    add("--cell-step", "every nth snapshot goes on the sheet", type=int, default=1)
    add("--sprites-only", "write the sheets, not the single snapshots", action="store_true")
    add("--sprite-output", "sheet file name; {TileCount} = 00001, ...")
    add("--vtt", "write a WebVTT thumbnail track here")
    add("--storyboard", "write the sheets' storyboard JSON here")
    add("--base-url", "prefix for the VTT and storyboard image URLs")
    add("--black-level", "30..100: percent of dark pixels that makes a frame black", type=int)
    add("--pixel-black-threshold", "0..255: darker than this is a dark pixel", type=int)
    add("--cover", "write the cover here ('auto': cover.jpg beside the snapshots)")
    add("--cover-position", "1-based snapshot to use as the cover, or auto")
    if words:  # a misspelt key would leave the help it meant to change unchanged
        raise InvalidParameter(f"not flags of {SNAPSHOT_OPTIONS}: {', '.join(sorted(words))}")


def snapshot_options(args: argparse.Namespace) -> dict[str, Any]:
    """sf.snapshot's keyword arguments from add_snapshot_options' flags (the
    sampling aside: _sampling(args))."""
    return {
        "frame_type": args.frame_type, "snap": args.snap, "tolerance": args.tolerance, "width": args.width,
        "height": args.height, "max_length": args.max_length, "aspect_ratio": args.aspect, "quality": args.quality,
        "sprite": _sprite(args), "sprite_output": args.sprite_output, "webvtt": args.vtt,
        "storyboard": args.storyboard, "base_url": args.base_url, "black_level": args.black_level,
        "pixel_black_threshold": args.pixel_black_threshold, "cover": args.cover,
        "cover_position": _cover_position(args.cover_position),
    }  # fmt: skip


def _probe(args: argparse.Namespace) -> int:
    from stillframe.video import probe

    info = probe(args.source, stream=args.stream, index=args.index)
    print(json.dumps(info.to_dict(work_out=args.all), indent=2))
    return 0


def _snapshot(args: argparse.Namespace) -> int:
    from stillframe.snapshot import snapshot

    progress, close = _progress(not args.json)
    try:
        result = snapshot(
            args.source,
            _sampling(args),
            args.output,
            stream=args.stream,
            workers=args.workers,
            timeout=args.timeout,
            progress=progress,
            device=args.device,
            fallback=args.fallback,
            index=args.index,
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


def _summary(result) -> str:
    """What was written, where, and what was left out."""
    import os

    parts = []
    if result.files:
        parts.append(f"{len(result.files)} snapshot(s) written to {os.path.dirname(result.files[0]) or '.'}/")
    if result.sprites:
        parts.append(f"{len(result.sprites)} sprite sheet(s) of {result.count} frames: {', '.join(result.sprites)}")
    for what in ("webvtt", "storyboard", "cover"):
        if getattr(result, what):
            parts.append(f"{what} {getattr(result, what)}")
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
    print(f"PyAV {report.pyav}, libavcodec {report.ffmpeg}; device types built in: {', '.join(report.built) or 'none'}")
    for kind, d in report.devices.items():
        state = "usable" if d["usable"] else f"not usable: {d['reason']}"
        print(f"  {kind:13} {state}")
    print("codecs (backend per device; * = usable here):")
    for codec, row in report.codecs.items():
        cells = [f"{k}={v['decoder']}{' (hwaccel)' if v['method'] == 'hwaccel' else ''}{'*' if v['usable'] else ''}"
                 for k, v in row.items()]  # fmt: skip
        print(f"  {codec:11} {', '.join(cells) or 'software only'}")
    print(f"auto: {report.auto or 'cpu (' + (report.auto_reason or '') + ')'}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from stillframe import testsrc
    from stillframe.sampling import Interval
    from stillframe.snapshot import snapshot

    out = Path(args.out)
    video = testsrc.make_video(out / "demo.mp4", frames=300, size=(1280, 720), gop=60, bframes=2)
    result = snapshot(video, Interval(1.0), out / "{Count}.jpg", width=480, quality=args.quality)
    print(
        json.dumps(
            {"video": str(video), "count": result.count, "files": result.files, "stats": result.stats.to_dict()},
            indent=2,
        )
    )
    return 0


INDEX_CHOICES = ("auto", "scan")
INDEX_HELP = (
    "auto: find frames through the file's own index (MP4/MOV sample tables, Matroska cues), reading only "
    "what is needed; scan: demux every packet first"
)


_JOB_COMMANDS = ("jobs", "worker", "live")

SNAPSHOT_EXAMPLES = """examples:
  stillframe snapshot video.mp4 -o 'out/{Count}.jpg' --interval 10 --width 480
  stillframe snapshot video.mp4 -o one.jpg --dots 7.25
  stillframe snapshot video.mp4 -o 'out/{Count}.jpg' --quantity 10 --frame-type intra --max-length 320
  stillframe snapshot video.mp4 -o 'out/{Count}.jpg' --interval 3 --width 160 --sprite 10x10 --sprites-only \\
      --vtt out/thumbs.vtt
"""


# Commands of the engine itself: run alone, they load no other layer's command line.
CORE_COMMANDS = ("probe", "snapshot", "hw", "demo")


def _parser(core_only: bool = False) -> argparse.ArgumentParser:
    """The command line's parser; `core_only` leaves out the jobs, server and batch
    commands (and what they import), for a run of one of CORE_COMMANDS."""
    parser = argparse.ArgumentParser(prog="stillframe", description="Exact still frames out of video, fast.")
    parser.add_argument("--version", action="version", version=f"stillframe {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    probe = sub.add_parser("probe", help="describe a video as JSON")
    probe.add_argument("source", help="a video: a path, a file:// or http(s):// URL")
    probe.add_argument("--stream", type=int, default=None, help="the video stream's index (default: FFmpeg's best)")
    probe.add_argument("--index", choices=INDEX_CHOICES, default="auto", help=INDEX_HELP)
    probe.add_argument(
        "--all", action="store_true",
        help="also what needs every keyframe read (keyframe_times; a Matroska file's frame_count), "
        "left out otherwise when the file's own index describes it",
    )  # fmt: skip
    probe.set_defaults(run=_probe, parser=probe)

    snap = sub.add_parser(
        "snapshot", help="write JPEG snapshots", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Write exact JPEG snapshots of a video (one at 0 s when no sampling is given).",
        epilog=SNAPSHOT_EXAMPLES,
    )  # fmt: skip
    snap.add_argument("source", help="a video: a path, a file:// or http(s):// URL")
    snap.add_argument(
        "-o", "--output", default="out/{Count}.jpg",
        help="JPEG file name, .jpg or .jpeg; {Count} = 00001, 00002, ... (default: %(default)s)",
    )  # fmt: skip
    snap.add_argument("--stream", type=int, default=None, help="the video stream's index (default: FFmpeg's best)")
    snap.add_argument("--index", choices=INDEX_CHOICES, default="auto", help=INDEX_HELP)
    snap.add_argument(
        "--workers", type=int, default=None, help="parallel decoders (default: one a core; 1 for one snapshot)"
    )
    snap.add_argument("--timeout", type=float, default=None, help="seconds before giving up (SnapshotTimeOut)")
    snap.add_argument(
        "--device", default="cpu", help="cpu, auto, cuda[:N], vaapi[:/dev/dri/renderD128], qsv, videotoolbox, d3d11va"
    )
    snap.add_argument("--fallback", action="store_true", help="decode on the CPU when the device cannot (says why)")
    snap.add_argument("--json", action="store_true", help="print the result as JSON")
    add_snapshot_options(snap)
    snap.set_defaults(run=_snapshot, parser=snap)

    if not core_only:
        _add_layer_commands(sub)

    hw = sub.add_parser("hw", help="what hardware decoding this machine and PyAV build can do")
    hw.add_argument("--json", action="store_true", help="print the report as JSON")
    hw.add_argument("--measure", action="store_true",
                    help="measure what auto weighs on this machine now (kept in the cache folder) and print it")  # fmt: skip
    hw.set_defaults(run=_hw)

    demo = sub.add_parser("demo", help="make a test video and snapshot it (nothing of yours needed)")
    demo.add_argument("out", nargs="?", default="stillframe-demo", help="output directory")
    demo.add_argument("--quality", type=int, default=85)
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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `stillframe` command with `argv` (default: the process's arguments); returns the exit status: 0, 1
    with one line on stderr for an error of the tree, 130 when interrupted (what the run wrote is removed)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in _JOB_COMMANDS:
        try:
            import stillframe.jobs.cli  # noqa: F401
        except ImportError as exc:  # one line naming the extra, whatever the arguments
            print(f"stillframe: error: {exc}", file=sys.stderr)
            return 1
    parser = _parser(core_only=bool(argv) and argv[0] in CORE_COMMANDS)
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # the subcommand's own usage, not the top level's
        getattr(args, "parser", parser).error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        return int(args.run(args))
    except StillframeError as exc:
        print(f"stillframe: error: {exc.code}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # what was written in this run is removed again
        print("stillframe: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
