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

# `snapshot`'s sampling and output flags, worded for many videos ({Name} in file names).
BATCH_HELP = {
    "--start": "seconds from the start (with --interval)",
    "--quantity": "this many, spread over each video",
    "--frame-type": "intra: nearest keyframe (default: %(default)s)",
    "--snap": "which frame a time selects (default: %(default)s)",
    "--height": "pixels",
    "--sprite-output": "sheet file names; {Name}, {TileCount}",
    "--vtt": "a WebVTT thumbnail track per video, e.g. 'out/{Name}/thumbs.vtt'",
    "--storyboard": "the sheets' storyboard JSON per video ({Name})",
    "--cover": "a cover per video ({Name}; 'auto': cover.jpg beside the snapshots)",
}


CONNECT_TIMEOUT = 10.0


def add_parser(sub: Any) -> None:
    """Add the `batch` command to the command line's subparsers."""
    from stillframe.cli import INDEX_CHOICES, INDEX_HELP, add_snapshot_options, int_arg, seconds_arg

    p = sub.add_parser(
        "batch",
        help="snapshots of many videos, over this machine's cores or a Dask cluster",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EXAMPLES,
        description="Write exact JPEG snapshots (and sheets, tracks, covers) of many videos, one task a video.",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="paths, URLs or s3:// / oss:// URLs; @FILE for a list")
    p.add_argument("-o", "--output", default="out/{Name}/{Count}.jpg", help="file names (default: %(default)s)")
    p.add_argument("--index", choices=INDEX_CHOICES, default="auto", help=INDEX_HELP)
    p.add_argument("--scheduler", metavar="ADDRESS", help="a Dask scheduler, e.g. tcp://HOST:8786 (default: local)")
    p.add_argument(
        "--connect-timeout",
        type=seconds_arg,
        default=CONNECT_TIMEOUT,
        metavar="TIME",
        help="how long to try to reach the --scheduler (default: %(default)s s)",
    )
    p.add_argument("--workers", type=int_arg(1), metavar="N", help="local worker processes (default: one a core)")
    p.add_argument(
        "--split",
        type=int_arg(1),
        metavar="N",
        help="one video at a time, its frames decoded in N parts "
        "side by side (for a few long videos; sheets and tracks as from one process)",
    )
    p.add_argument("--json", action="store_true", help="print every item and the summary as JSON")
    add_snapshot_options(p, BATCH_HELP)
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
    """Run `stillframe batch` with its parsed arguments; returns the exit status (1 when any input failed)."""
    from stillframe.cli import _sampling, snapshot_options
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
        try:
            client = Client(args.scheduler, timeout=args.connect_timeout)
        except (OSError, ValueError) as exc:  # unreachable (a timeout is an OSError), or a malformed address
            print(f"stillframe: error: cannot reach the Dask scheduler at {args.scheduler}: {exc}", file=sys.stderr)
            return 1
    started = time.monotonic()
    try:
        items = snapshot_many(
            inputs,
            _sampling(args),
            args.output,
            client=client,
            processes=args.workers,
            progress=None if not args.json else False,
            split=args.split,
            index=args.index,
            **snapshot_options(args),
        )
    finally:
        if client is not None:
            client.close()
    seconds = time.monotonic() - started
    failed = [item for item in items if not item.ok]
    frames = sum(item.result.count for item in items if item.result is not None)
    summary = {
        "videos": len(items),
        "ok": len(items) - len(failed),
        "failed": len(failed),
        "frames": frames,
        "seconds": round(seconds, 3),
    }
    if args.json:
        print(json.dumps({"items": [item.to_dict() for item in items], "summary": summary}, indent=2))
    for item in failed:
        assert item.error is not None
        text = str(item.error)
        where = "" if text.startswith(item.source) else f"{item.source}: "  # most messages name the file already
        print(f"stillframe: error: {where}{item.error.code}: {text}", file=sys.stderr)
    if not args.json:
        rate = len(items) / seconds if seconds > 0 else 0.0
        print(
            f"{summary['ok']} of {len(items)} videos done, {len(failed)} failed; {frames} snapshots "
            f"in {seconds:.2f} s ({rate:.1f} videos/s)"
        )
    return 1 if failed else 0
