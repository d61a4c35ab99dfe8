"""The `stillframe` command line."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from stillframe import __version__
from stillframe.errors import StillframeError


def _demo(args: argparse.Namespace) -> int:
    import av

    from stillframe import testsrc
    from stillframe._files import write_atomic
    from stillframe.jpeg import encode_jpegs

    out = Path(args.out)
    video = testsrc.make_video(out / "demo.mp4", frames=300, size=(1280, 720), gop=60, bframes=2)
    started = time.perf_counter()
    with av.open(str(video)) as container:
        frames = [f for i, f in enumerate(container.decode(video=0)) if i % 30 == 0]
    jpegs = encode_jpegs(frames, quality=args.quality)
    files = [str(write_atomic(out / f"{i + 1:05d}.jpg", data)) for i, data in enumerate(jpegs)]
    print(
        json.dumps(
            {
                "video": str(video),
                "files": files,
                "count": len(files),
                "seconds": round(time.perf_counter() - started, 3),
            },
            indent=2,
        )
    )
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stillframe", description="Exact still frames out of video, fast.")
    parser.add_argument("--version", action="version", version=f"stillframe {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="make a test video and snapshot it (nothing of yours needed)")
    demo.add_argument("out", nargs="?", default="stillframe-demo", help="output directory")
    demo.add_argument("--quality", type=int, default=85)
    demo.set_defaults(run=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return int(args.run(args))
    except StillframeError as exc:
        print(f"stillframe: error: {exc.code}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
