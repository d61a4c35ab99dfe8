"""`stillframe batch`: snapshots of many videos, on this machine's cores or a Dask
cluster. Dask is imported only for --scheduler."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

EXAMPLES = """examples:
  stillframe batch videos/*.mp4 -o 'out/{Name}/{Count}.jpg' --interval 10 --width 480
  stillframe batch @list.txt -o 'out/{Name}/{Count}.jpg' --interval 3 --width 160 --sprite 10x10 \\
      --sprites-only --vtt 'out/{Name}/thumbs.vtt' --scheduler tcp://scheduler:8786
  stillframe batch s3://bucket/in/a.mp4 https://cdn/b.mp4 -o 'out/{Name}/{Count}.jpg' --quantity 10 --json

{Name} is each input's file name without its extension. @FILE reads inputs from FILE, one a line
(blank lines and lines starting with # are skipped). Exit status: 0 when every video succeeded, 1 when
any failed (one line each, with its error code).
"""


def add_parser(sub: Any) -> None:
    from stillframe.cli import INDEX_CHOICES, INDEX_HELP

    p = sub.add_parser(
        "batch", help="snapshots of many videos, over this machine's cores or a Dask cluster",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EXAMPLES,
        description="Write exact JPEG snapshots (and sheets, tracks, covers) of many videos, one task a video.",
    )  # fmt: skip
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="paths, URLs or s3:// / oss:// URLs; @FILE for a list")
    p.add_argument("-o", "--output", default="out/{Name}/{Count}.jpg", help="file names (default: %(default)s)")
    p.add_argument("--interval", type=float, help="seconds between snapshots")
    p.add_argument("--start", type=float, default=None, help="seconds from the start (with --interval)")
    p.add_argument("--count", type=int, help="at most this many (with --interval; --interval 0 spreads them)")
    p.add_argument("--dots", help="comma-separated times in seconds")
    p.add_argument("--quantity", type=int, help="this many, spread over each video")
    p.add_argument("--quantity-time", type=float, help="with --quantity: seconds apart")
    p.add_argument("--frame-type", choices=("normal", "intra"), default="normal", help="intra: nearest keyframe")
    p.add_argument("--snap", choices=("displayed", "next"), default="displayed", help="which frame a time selects")
    p.add_argument("--width", type=int, help="pixels; the height follows the display aspect unless given too")
    p.add_argument("--height", type=int, help="pixels")
    p.add_argument("--max-length", type=int, help="longest side in pixels")
    p.add_argument("--quality", type=int, default=85, help="JPEG quality 1..100 (default: %(default)s)")
    p.add_argument("--index", choices=INDEX_CHOICES, default="auto", help=INDEX_HELP)
    p.add_argument("--sprite", metavar="CxL", help="sprite sheets of C columns and L lines, e.g. 10x10")
    p.add_argument("--cell-size", metavar="WxH", help="sprite cell size (default: the snapshot size)")
    p.add_argument("--margin", type=int, default=0, help="pixels around a sprite sheet's edge")
    p.add_argument("--padding", type=int, default=0, help="pixels between sprite cells")
    p.add_argument("--color", default="black", help="sprite background: a name, #rrggbb or random")
    p.add_argument("--cell-step", type=int, default=1, help="every nth snapshot goes on the sheet")
    p.add_argument("--sprites-only", action="store_true", help="write the sheets, not the single snapshots")
    p.add_argument("--sprite-output", help="sheet file names; {Name}, {TileCount}")
    p.add_argument("--vtt", help="a WebVTT thumbnail track per video, e.g. 'out/{Name}/thumbs.vtt'")
    p.add_argument("--storyboard", help="the sheets' storyboard JSON per video ({Name})")
    p.add_argument("--base-url", help="prefix for the VTT and storyboard image URLs")
    p.add_argument("--cover", help="a cover per video ({Name}; 'auto': cover.jpg beside the snapshots)")
    p.add_argument("--cover-position", help="1-based snapshot to use as the cover, or auto")
    p.add_argument("--scheduler", metavar="ADDRESS", help="a Dask scheduler, e.g. tcp://HOST:8786 (default: local)")
    p.add_argument("--workers", type=int, help="local worker processes (default: one a core)")
    p.add_argument("--split", type=int, metavar="N", help="one video at a time, its frames decoded in N parts "
                   "side by side (for a few long videos; sheets and tracks as from one process)")  # fmt: skip
    p.add_argument("--json", action="store_true", help="print every item and the summary as JSON")
    p.set_defaults(run=run, parser=p)


def read_inputs(args: list[str]) -> list[str]:
    """Inputs as given, with @FILE replaced by FILE's lines."""
    out: list[str] = []
    for arg in args:
        if not arg.startswith("@"):
            out.append(arg)
            continue
        from stillframe.errors import InvalidParameter

        try:
            lines = Path(arg[1:]).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise InvalidParameter(f"{arg[1:]}: cannot read the input list ({exc.strerror or exc})") from None
        out.extend(s for s in (line.strip() for line in lines) if s and not s.startswith("#"))
    return out


def run(args: argparse.Namespace) -> int:
    from stillframe.cli import _cover_position, _sampling, _sprite
    from stillframe.distributed import snapshot_many

    inputs = read_inputs(args.inputs)
    client = None
    if args.scheduler:
        if args.workers is not None:
            raise SystemExit("stillframe: error: --workers applies to local processes, not to --scheduler")
        try:
            from distributed import Client
        except ImportError:
            print("stillframe: error: --scheduler needs Dask: pip install 'stillframe[dask]'", file=sys.stderr)
            return 1
        client = Client(args.scheduler)
    started = time.monotonic()
    try:
        items = snapshot_many(
            inputs, _sampling(args), args.output, client=client, processes=args.workers,
            progress=None if not args.json else False, split=args.split, frame_type=args.frame_type, snap=args.snap,
            width=args.width, height=args.height, max_length=args.max_length, quality=args.quality,
            index=args.index, sprite=_sprite(args), sprite_output=args.sprite_output, webvtt=args.vtt,
            storyboard=args.storyboard, base_url=args.base_url, cover=args.cover,
            cover_position=_cover_position(args.cover_position),
        )  # fmt: skip
    finally:
        if client is not None:
            client.close()
    seconds = time.monotonic() - started
    failed = [item for item in items if not item.ok]
    frames = sum(item.result.count for item in items if item.result is not None)
    summary = {"videos": len(items), "ok": len(items) - len(failed), "failed": len(failed), "frames": frames,
               "seconds": round(seconds, 3)}  # fmt: skip
    if args.json:
        print(json.dumps({"items": [item.to_dict() for item in items], "summary": summary}, indent=2))
    for item in failed:
        assert item.error is not None
        text = str(item.error)
        where = "" if text.startswith(item.source) else f"{item.source}: "  # most messages name the file already
        print(f"stillframe: error: {where}{item.error.code}: {text}", file=sys.stderr)
    if not args.json:
        rate = len(items) / seconds if seconds > 0 else 0.0
        print(f"{summary['ok']} of {len(items)} videos done, {len(failed)} failed; {frames} snapshots "
              f"in {seconds:.2f} s ({rate:.1f} videos/s)")  # fmt: skip
    return 1 if failed else 0
