"""Times as people type them, in FFmpeg's duration syntax (ffmpeg-utils(1), "Time
duration"): `[-][HH:]MM:SS[.m...]` or `[-]S+[.m...][s|ms|us]`.

    90, 90.5, 90s     seconds
    1500ms, 250us     milliseconds, microseconds
    01:30, 1:30.5     minutes and seconds (MM and SS each 0..59, one or two digits)
    00:01:30.25       hours, minutes and seconds (any number of hours)

As FFmpeg reads them, fractions end at the microsecond. A sign is read here and
left to the caller to refuse where a time cannot be negative.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["SYNTAX", "parse_time", "time_value"]

SYNTAX = "seconds (7.25, 90s, 1500ms, 250us) or [HH:]MM:SS[.m] (01:30, 00:01:30.5)"

_FRACTION = r"(?:\.(?P<frac>\d*))?"
_CLOCK = re.compile(r"(?P<sign>-?)(?:(?P<h>\d+):)?(?P<m>\d{1,2}):(?P<s>\d{1,2})" + _FRACTION)
_PLAIN = re.compile(r"(?P<sign>-?)(?P<s>\d+)" + _FRACTION + r"(?P<unit>s|ms|us)?")
_UNIT = {None: 1.0, "s": 1.0, "ms": 1e-3, "us": 1e-6}


def _fraction(frac: str | None) -> str:
    """FFmpeg's fraction: its first six digits (to the microsecond)."""
    return (frac or "")[:6] or "0"


def parse_time(text: str) -> float:
    """Seconds from `text` in FFmpeg's duration syntax; ValueError naming the
    syntax for anything else."""
    s = text.strip()
    m = _CLOCK.fullmatch(s)
    if m is not None:
        minutes, secs = int(m["m"]), int(m["s"])
        if minutes > 59 or secs > 59:
            raise ValueError(f"{text!r} is not a time: minutes and seconds run 0..59; give {SYNTAX}")
        whole = int(m["h"] or 0) * 3600 + minutes * 60 + secs
        value = whole + float("0." + _fraction(m["frac"]))
        return -value if m["sign"] else value
    m = _PLAIN.fullmatch(s)
    if m is None:
        raise ValueError(f"{text!r} is not a time: give {SYNTAX}")
    # As FFmpeg: microseconds count nothing smaller than themselves.
    number = m["s"] if m["unit"] == "us" else f"{m['s']}.{_fraction(m['frac'])}"
    value = float(number) * _UNIT[m["unit"]]
    return -value if m["sign"] else value


def time_value(value: Any, what: str, unit: float = 1.0) -> float:
    """A number of `unit`s (seconds, or 0.001 for a field in milliseconds) from a
    number, or from a string: a plain number is in the field's own unit, and a
    time with a unit or in clock form ("5s", "00:01:30") is converted to it.
    ValueError naming `what` for anything else."""
    if not isinstance(value, str):
        try:
            return float(value)  # numbers of any kind (numpy's too)
        except (TypeError, ValueError):
            raise ValueError(f"{what} must be a time, not {value!r}") from None
    text = value.strip()
    try:
        return float(text) if re.fullmatch(r"-?\d+(\.\d*)?|-?\.\d+", text) else parse_time(text) / unit
    except ValueError as exc:
        raise ValueError(f"{what}: {exc}") from None
