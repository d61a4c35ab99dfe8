"""Run by tests/test_fuzz.py in a process of its own: for each (damaged) file named on
the command line, in turn, probe it, take three frames and make a sprite, and print one
JSON line saying how it ended. Each file has TIME_LIMIT seconds: past it SIGALRM, left
at its default, ends the process even inside native code, so a hang is told from a
crash by the signal."""

from __future__ import annotations

import json
import signal
import sys
import traceback
from pathlib import Path

import stillframe as sf
from stillframe.errors import StillframeError

TIME_LIMIT = 60  # seconds a file may take


def main(path: str, out: str) -> dict:
    stage = "probe"
    said: dict = {}
    try:
        info = sf.probe(path)
        said["duration"] = info.duration
        stage = "frames"
        with sf.open(path) as video:
            video.frames_at([0.0, info.duration * 0.5, max(0.0, info.duration - 0.01)])
        stage = "sprite"
        sf.snapshot(path, sf.Quantity(6), Path(out) / "{Count}.jpg", width=64, sprite=sf.Sprite(3, 2))
        return {"ended": "ok", **said}
    except StillframeError as exc:
        return {"ended": "error", "stage": stage, "error": f"{type(exc).__name__}: {exc}"[:300], **said}
    except Exception as exc:  # what the test is looking for
        return {
            "ended": "stray",
            "stage": stage,
            "error": f"{type(exc).__name__}: {exc}"[:300],
            "traceback": traceback.format_exc()[-2000:],
        }


if __name__ == "__main__":
    args = sys.argv[1:]
    for path, out in zip(args[::2], args[1::2]):
        signal.alarm(TIME_LIMIT)
        print(json.dumps({"path": path, **main(path, out)}), flush=True)
        signal.alarm(0)
