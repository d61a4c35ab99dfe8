"""Choosing one rendition of several (an HLS master playlist's variants, a DASH
adaptation set's representations)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from stillframe.errors import InvalidParameter, ResourceContentBad
from stillframe.streams._model import Variant

_HEIGHT = re.compile(r"^(\d{2,5})p$")
_SIZE = re.compile(r"^(\d{1,5})x(\d{1,5})$")
_BANDWIDTH = re.compile(r"^(?:bandwidth)?<=\s*(\d+)$")


def choose_variant(variants: Sequence[Variant], rule: str | int | None, where: str) -> Variant:
    """The variant `rule` names:

    - None or "highest": the highest bandwidth (what a player settles on with a
      fast link); "lowest": the lowest;
    - "720p": the highest bandwidth of those 720 pixels high; "1280x720": of that size;
    - an int N or "<=N": the highest bandwidth at or under N bits a second (the
      lowest when none is);
    - anything else: the variant whose URI (HLS) or id (DASH) is exactly that.

    Raises InvalidParameter naming what was offered when none matches."""
    if not variants:
        raise ResourceContentBad(f"{where}: offers no video rendition")
    by_bw = sorted(variants, key=lambda v: v.bandwidth)
    text = str(rule).strip().lower() if rule is not None else "highest"
    if isinstance(rule, int) or _BANDWIDTH.match(text):
        cap = rule if isinstance(rule, int) else int(_BANDWIDTH.match(text).group(1))  # type: ignore[union-attr]
        under = [v for v in by_bw if v.bandwidth <= cap]
        return under[-1] if under else by_bw[0]
    if text == "highest":
        return by_bw[-1]
    if text == "lowest":
        return by_bw[0]
    picked: list[Variant] = []
    if m := _HEIGHT.match(text):
        picked = [v for v in by_bw if v.resolution and v.resolution[1] == int(m.group(1))]
    elif m := _SIZE.match(text):
        size = (int(m.group(1)), int(m.group(2)))
        picked = [v for v in by_bw if v.resolution == size]
    else:
        picked = [v for v in by_bw if str(rule) in (v.uri, v.name)]
    if picked:
        return picked[-1]
    offered = ", ".join(_describe(v) for v in by_bw)
    raise InvalidParameter(f"{where}: no variant matches {rule!r}; offered: {offered}")


def _describe(v: Variant) -> str:
    size = f" {v.resolution[0]}x{v.resolution[1]}" if v.resolution else ""
    return f"{v.name or v.uri} ({v.bandwidth} b/s{size})"
