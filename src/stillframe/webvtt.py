"""WebVTT thumbnail tracks and storyboard JSON for scrubbing previews."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

from stillframe.info import rounded

__all__ = ["Cue", "format_time", "storyboard_json", "webvtt_text"]


def format_time(seconds: float) -> str:
    """HH:MM:SS.mmm, hours with as many digits as they need (10:00:00.000, 100:00:00.000)."""
    ms = int(math.floor(seconds * 1000 + 0.5))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


@dataclass(frozen=True)
class Cue:
    """One WebVTT cue: from `start` to `end` (seconds), showing `payload` (an image URL, with #xywh= for a sprite
    cell)."""

    start: float
    end: float
    payload: str


def cues_for(times: Sequence[float], payloads: Sequence[str], duration: float) -> list[Cue]:
    """Cue i runs from time i to time i+1 (in time order); the last ends at the
    duration. Zero-length cues (the same frame twice) are left out."""
    order = sorted(range(len(times)), key=lambda i: times[i])
    cues = []
    for k, i in enumerate(order):
        end = times[order[k + 1]] if k + 1 < len(order) else duration
        end = min(end, duration)
        if end > times[i]:
            cues.append(Cue(times[i], end, payloads[i]))
    return cues


def webvtt_text(cues: Sequence[Cue]) -> str:
    """The track's text: the WEBVTT header, then each cue."""
    lines = ["WEBVTT", ""]
    for cue in cues:
        lines += [f"{format_time(cue.start)} --> {format_time(cue.end)}", cue.payload, ""]
    return "\n".join(lines)


def storyboard_json(pages: Sequence[dict]) -> str:
    """The pages as JSON, times to the microsecond as every result's to_dict()."""
    return json.dumps(rounded(list(pages)), indent=2)
