"""Static DASH manifests (MPD) as an index: one video representation chosen as
for HLS, its segments from SegmentTemplate (with or without SegmentTimeline),
SegmentList, or SegmentBase (the `sidx` its indexRange points at), URLs
resolved through every level's BaseURL.

The XML is parsed with defusedxml (no DTDs, no entities), from at most
MAX_MPD_BYTES; repeat counts and segment counts are bounded. A segment's `start`
is its media time in seconds (the timestamps its packets carry, the
presentationTimeOffset not taken off); each Period after the first starts a new
`discontinuity`."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, replace
from fractions import Fraction

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from stillframe.errors import InvalidParameter, ResourceContentBad
from stillframe.streams._model import ByteRange, InitSection, Segment, StreamIndex, Variant
from stillframe.streams._reader import RangeReader, read_document, resolve
from stillframe.streams._variants import choose_variant
from stillframe.streams.fmp4 import sidx_segments

__all__ = ["MAX_MPD_BYTES", "MAX_SEGMENTS", "parse_duration", "read_dash"]

MAX_MPD_BYTES = 8 << 20
MAX_SEGMENTS = 500_000
MAX_PERIODS = 1_000
_DURATION = re.compile(
    r"^P(?:(?P<y>\d+(?:\.\d+)?)Y)?(?:(?P<mo>\d+(?:\.\d+)?)M)?(?:(?P<d>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<mi>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)
_TEMPLATE = re.compile(r"\$(RepresentationID|Number|Time|Bandwidth|SubNumber)(%0?(\d{1,2})[diuxX])?\$|\$\$")


def parse_duration(text: str | None, where: str) -> float | None:
    """An xs:duration ("PT1H2M3.5S", "P1DT2H") in seconds; None for None."""
    if text is None:
        return None
    m = _DURATION.match(text.strip())
    if not m or text.strip() in ("P", "PT"):
        raise ResourceContentBad(f"{where}: a malformed duration {text!r}")
    units = {"y": 365 * 86400, "mo": 30 * 86400, "d": 86400, "h": 3600, "mi": 60, "s": 1}
    return sum(float(m.group(k)) * v for k, v in units.items() if m.group(k))


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _kids(el: ET.Element | None, name: str) -> list[ET.Element]:
    return [] if el is None else [c for c in el if _local(c.tag) == name]


def _kid(el: ET.Element | None, name: str) -> ET.Element | None:
    found = _kids(el, name)
    return found[0] if found else None


def _int(el: ET.Element | None, name: str, default: int | None, where: str) -> int | None:
    value = None if el is None else el.get(name)
    if value is None:
        return default
    try:
        out = int(value)
    except ValueError:
        raise ResourceContentBad(f"{where}: {name}={value!r} is not a whole number") from None
    if out < -1 or out > 1 << 62:
        raise ResourceContentBad(f"{where}: {name}={value!r} is out of range")
    return out


def _range(text: str | None, where: str) -> ByteRange | None:
    if text is None:
        return None
    first, _, last = text.partition("-")
    try:
        a, b = int(first), int(last)
    except ValueError:
        raise ResourceContentBad(f"{where}: a malformed byte range {text!r}") from None
    if a < 0 or b < a:
        raise ResourceContentBad(f"{where}: an impossible byte range {text!r}")
    return ByteRange(a, b - a + 1)


def read_dash(reader: RangeReader, uri: str, *, variant: str | int | None = None) -> StreamIndex:
    """The index of the static MPD at `uri`: the video representation `variant`
    names (see `choose_variant`; the highest bandwidth by default), in every
    Period. Raises ResourceContentBad for a manifest that is not one, too large,
    or holding impossible values; InvalidParameter for a dynamic (live) MPD or a
    `variant` that matches nothing."""
    raw = read_document(reader, uri, MAX_MPD_BYTES)
    try:
        root = SafeET.fromstring(raw, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (ET.ParseError, DefusedXmlException, ValueError) as exc:
        raise ResourceContentBad(f"{uri}: not a readable MPD ({type(exc).__name__}: {exc})") from None
    if _local(root.tag) != "MPD":
        raise ResourceContentBad(f"{uri}: not a DASH manifest (root element {_local(root.tag)!r})")
    if (root.get("type") or "static") != "static":
        raise InvalidParameter(f"{uri}: a live (dynamic) MPD; only static manifests are an index")
    total = parse_duration(root.get("mediaPresentationDuration"), uri)
    base = _base(uri, root)
    periods = _kids(root, "Period")
    if not periods or len(periods) > MAX_PERIODS:
        raise ResourceContentBad(f"{uri}: {len(periods)} periods")
    segments: list[Segment] = []
    variants: tuple[Variant, ...] = ()
    chosen: Variant | None = None
    how = ""
    end: float | None = 0.0
    for p, period in enumerate(periods):
        # A Period without @start follows the one before it.
        own = parse_duration(period.get("start"), uri)
        start = own if own is not None else end if end is not None else 0.0
        end = _period_end(periods, p, start, total, uri)
        pbase = _base(base, period)
        adaptation, reps = _video_set(period, uri)
        offered = tuple(_variant(r, adaptation, uri) for r in reps)
        pick = choose_variant(offered, variant if chosen is None else chosen.name or variant, uri)
        if chosen is None:
            variants, chosen = offered, pick
        rep = reps[offered.index(pick)]
        ctx = _Context(uri, _base(_base(pbase, adaptation), rep), rep, adaptation, period, end - start if end else None)
        got, how = _representation(reader, ctx, p)
        segments.extend(got)
        if len(segments) > MAX_SEGMENTS:
            raise ResourceContentBad(f"{uri}: over {MAX_SEGMENTS} segments")
    return StreamIndex("dash", uri, tuple(segments), how, variants=variants, variant=chosen)


def _base(parent: str, el: ET.Element) -> str:
    found = _kid(el, "BaseURL")
    text = (found.text or "").strip() if found is not None else ""
    return resolve(parent, text) if text else parent


def _period_end(periods: list[ET.Element], p: int, start: float, total: float | None, uri: str) -> float | None:
    own = parse_duration(periods[p].get("duration"), uri)
    if own is not None:
        return start + own
    if p + 1 < len(periods) and periods[p + 1].get("start"):
        return parse_duration(periods[p + 1].get("start"), uri)
    return total


def _video_set(period: ET.Element, uri: str) -> tuple[ET.Element, list[ET.Element]]:
    for a in _kids(period, "AdaptationSet"):
        reps = _kids(a, "Representation")
        kinds = [a.get("contentType"), a.get("mimeType")] + [r.get("mimeType") for r in reps]
        if any(k and k.startswith("video") for k in kinds) or any(r.get("width") for r in reps):
            if reps:
                return a, reps
    raise ResourceContentBad(f"{uri}: a Period without a video AdaptationSet")


def _variant(rep: ET.Element, adaptation: ET.Element, uri: str) -> Variant:
    width, height = _int(rep, "width", None, uri), _int(rep, "height", None, uri)
    rate = rep.get("frameRate") or adaptation.get("frameRate")
    fps = None
    if rate:
        try:
            fps = float(Fraction(rate))
        except (ValueError, ZeroDivisionError):
            fps = None
    return Variant(
        uri=rep.get("id") or "",
        bandwidth=_int(rep, "bandwidth", 0, uri) or 0,
        resolution=(width, height) if width and height else None,
        codecs=rep.get("codecs") or adaptation.get("codecs"),
        frame_rate=fps,
        name=rep.get("id"),
    )


@dataclass
class _Context:
    mpd: str
    base: str  # the representation's resolved BaseURL
    rep: ET.Element
    adaptation: ET.Element
    period: ET.Element
    length: float | None  # the Period's length in seconds, when known

    def find(self, name: str) -> list[ET.Element]:
        """The segment-info element `name` from the Representation up (inherited)."""
        return [
            e for e in (_kid(self.rep, name), _kid(self.adaptation, name), _kid(self.period, name)) if e is not None
        ]

    def attr(self, elements: list[ET.Element], name: str) -> str | None:
        return next((e.get(name) for e in elements if e.get(name) is not None), None)

    def number(self, elements: list[ET.Element], name: str, default: int) -> int:
        """A whole-number attribute, from the nearest level that has it."""
        holder = next((e for e in elements if e.get(name) is not None), None)
        value = _int(holder, name, default, self.mpd)
        return default if value is None else value

    def fill(self, template: str, number: int = 0, time: int = 0) -> str:
        def sub(m: re.Match[str]) -> str:
            if m.group(0) == "$$":
                return "$"
            value: object = {
                "RepresentationID": self.rep.get("id") or "",
                "Number": number,
                "Time": time,
                "Bandwidth": _int(self.rep, "bandwidth", 0, self.mpd),
                "SubNumber": 0,
            }[m.group(1)]
            if m.group(2) and m.group(1) != "RepresentationID":
                return f"{int(value):0{int(m.group(3) or 1)}d}"  # type: ignore[call-overload]
            return str(value)

        return resolve(self.base, _TEMPLATE.sub(sub, template))


def _representation(reader: RangeReader, ctx: _Context, period: int) -> tuple[list[Segment], str]:
    if ctx.find("SegmentTemplate"):
        return _template(ctx, period), "SegmentTemplate"
    if ctx.find("SegmentList"):
        return _list(ctx, period), "SegmentList"
    base = ctx.find("SegmentBase")
    index = _range(ctx.attr(base, "indexRange"), ctx.mpd)
    if index is None:
        raise ResourceContentBad(f"{ctx.mpd}: a Representation with no segment information")
    init = _range(ctx.attr([e for b in base if (e := _kid(b, "Initialization")) is not None], "range"), ctx.mpd)
    found = sidx_segments(reader, ctx.base, index, init)
    return [_with(s, discontinuity=period, init=InitSection(ctx.base, init) if init else None) for s in found], "sidx"


def _with(s: Segment, **changes: object) -> Segment:
    return replace(s, **changes)  # type: ignore[arg-type]


def _timeline(
    ctx: _Context, elements: list[ET.Element], start_number: int, count: int | None = None
) -> Iterator[tuple[int, int, int]]:
    """(number, media time, duration) per segment, in the timescale's units;
    `count` segments when a SegmentList says how many."""
    timescale = _scale(ctx, elements)
    pto = ctx.number(elements, "presentationTimeOffset", 0)
    timeline = next((tl for e in elements if (tl := _kid(e, "SegmentTimeline")) is not None), None)
    if timeline is not None:
        ss = _kids(timeline, "S")
        t: int = 0
        n = start_number
        for i, s in enumerate(ss):
            if s.get("t") is not None:
                t = _int(s, "t", 0, ctx.mpd) or 0
            d = _int(s, "d", None, ctx.mpd)
            r = _int(s, "r", 0, ctx.mpd) or 0
            if not d or d <= 0:
                raise ResourceContentBad(f"{ctx.mpd}: a SegmentTimeline S without a duration")
            if r < 0:  # repeat to the next S's time, or to the Period's end
                nxt = _int(ss[i + 1], "t", None, ctx.mpd) if i + 1 < len(ss) else None
                stop = nxt if nxt is not None else pto + int((ctx.length or 0) * timescale)
                r = max(0, math.ceil((stop - t) / d) - 1)
            if r >= MAX_SEGMENTS or n - start_number + r >= MAX_SEGMENTS:
                raise ResourceContentBad(f"{ctx.mpd}: over {MAX_SEGMENTS} segments in a SegmentTimeline")
            for _ in range(r + 1):
                yield n, t, d
                t, n = t + d, n + 1
        return
    duration = ctx.number(elements, "duration", 0)
    if duration <= 0:
        raise ResourceContentBad(f"{ctx.mpd}: a segment template with neither a duration nor a SegmentTimeline")
    if count is None:
        if ctx.length is None:
            raise ResourceContentBad(f"{ctx.mpd}: the presentation's length is not given (mediaPresentationDuration)")
        count = math.ceil(ctx.length * timescale / duration - 1e-9)
    if count > MAX_SEGMENTS:
        raise ResourceContentBad(f"{ctx.mpd}: {count} segments, over the limit of {MAX_SEGMENTS}")
    # The last segment ends with the Period, not a whole `duration` after its start.
    end = pto + round(ctx.length * timescale) if ctx.length is not None else None
    for k in range(count):
        t = pto + k * duration
        yield start_number + k, t, max(1, min(duration, end - t)) if end is not None else duration


def _scale(ctx: _Context, elements: list[ET.Element]) -> int:
    timescale = ctx.number(elements, "timescale", 1)
    if timescale <= 0:
        raise ResourceContentBad(f"{ctx.mpd}: timescale {timescale}")
    return timescale


def _template(ctx: _Context, period: int) -> list[Segment]:
    elements = ctx.find("SegmentTemplate")
    media = ctx.attr(elements, "media")
    if not media:
        raise ResourceContentBad(f"{ctx.mpd}: a SegmentTemplate without a media template")
    init_t = ctx.attr(elements, "initialization")
    init = InitSection(ctx.fill(init_t)) if init_t else None
    timescale = _scale(ctx, elements)
    start_number = ctx.number(elements, "startNumber", 1)
    return [
        Segment(
            ctx.fill(media, n, t),
            t / timescale,
            d / timescale,
            keyframe=_sap(ctx),
            discontinuity=period,
            init=init,
            number=n,
        )
        for n, t, d in _timeline(ctx, elements, start_number)
    ]


def _list(ctx: _Context, period: int) -> list[Segment]:
    elements = ctx.find("SegmentList")
    urls = _kids(elements[0], "SegmentURL")
    if len(urls) > MAX_SEGMENTS:
        raise ResourceContentBad(f"{ctx.mpd}: over {MAX_SEGMENTS} segments")
    init_el = next((i for e in elements if (i := _kid(e, "Initialization")) is not None), None)
    init = None
    if init_el is not None:
        source = init_el.get("sourceURL")
        init = InitSection(resolve(ctx.base, source) if source else ctx.base, _range(init_el.get("range"), ctx.mpd))
    timescale = _scale(ctx, elements)
    times = _timeline(ctx, elements, ctx.number(elements, "startNumber", 1), len(urls))
    out = []
    for url, (n, t, d) in zip(urls, times):
        media = url.get("media")
        out.append(
            Segment(
                resolve(ctx.base, media) if media else ctx.base,
                t / timescale,
                d / timescale,
                byte_range=_range(url.get("mediaRange"), ctx.mpd),
                keyframe=_sap(ctx),
                discontinuity=period,
                init=init,
                number=n,
            )
        )
    return out


def _sap(ctx: _Context) -> bool | None:
    """Segments start with a keyframe when the set says startWithSAP 1 or 2."""
    sap = ctx.rep.get("startWithSAP") or ctx.adaptation.get("startWithSAP")
    return True if sap in ("1", "2") else None
