"""HLS playlists as an index: a master playlist's variants, a media playlist's
segments with their times (cumulative EXTINF), byte ranges, init sections
(EXT-X-MAP), keys (EXT-X-KEY) and discontinuities. Parsed with the `m3u8`
package; this module bounds the input and turns the result into `Segment`s."""

from __future__ import annotations

import math
from typing import Any

import m3u8

from stillframe.errors import ResourceContentBad
from stillframe.streams._model import ByteRange, InitSection, Key, Segment, StreamIndex, Variant
from stillframe.streams._reader import RangeReader, read_document, resolve
from stillframe.streams._variants import choose_variant

__all__ = ["MAX_PLAYLIST_BYTES", "MAX_SEGMENTS", "parse_playlist", "read_hls"]

MAX_PLAYLIST_BYTES = 16 << 20  # ten hours of 1 s segments is about 1.5 MB
MAX_SEGMENTS = 500_000
MAX_SEGMENT_SECONDS = 86_400.0


def read_hls(reader: RangeReader, uri: str, *, variant: str | int | None = None) -> StreamIndex:
    """The index of the HLS stream at `uri` (a master or a media playlist).

    A master playlist's variant is chosen by `variant` (see `choose_variant`:
    the highest bandwidth by default); its media playlist is then read. Raises
    ResourceContentBad for a playlist that is not one, is too large or holds
    impossible values; InvalidParameter when no variant matches `variant`."""
    playlist = _load(reader, uri)
    if not playlist.is_variant:
        return parse_playlist(playlist, uri)
    variants = tuple(_variants(playlist, uri))
    chosen = choose_variant(variants, variant, uri)
    media = _load(reader, chosen.uri)
    if media.is_variant:
        raise ResourceContentBad(f"{chosen.uri}: a master playlist names another master playlist")
    index = parse_playlist(media, chosen.uri)
    return StreamIndex(
        kind="hls",
        uri=index.uri,
        segments=index.segments,
        how=index.how,
        complete=index.complete,
        variants=variants,
        variant=chosen,
        notes=index.notes,
    )


def _load(reader: RangeReader, uri: str) -> Any:
    raw = read_document(reader, uri, MAX_PLAYLIST_BYTES)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ResourceContentBad(f"{uri}: not a playlist (not UTF-8 text)") from None
    if not text.lstrip().startswith("#EXTM3U"):
        raise ResourceContentBad(f"{uri}: not an HLS playlist (no #EXTM3U)")
    try:
        return m3u8.loads(text, uri=uri)
    except Exception as exc:  # the parser raises a wide family on bad input
        raise ResourceContentBad(f"{uri}: a malformed playlist ({type(exc).__name__}: {exc})") from exc


# What an audio-only rendition's CODECS name (a player's fallback for slow links): never the picture.
AUDIO_CODECS = ("mp4a", "ac-3", "ec-3", "opus", "flac", "mhm1", "mhm2", "dtsc", "dtse", "alac", "fLaC", "Opus")


def _variants(playlist: Any, uri: str) -> list[Variant]:
    out = []
    for p in playlist.playlists:
        info = p.stream_info
        if info is None or not p.uri:
            continue
        if info.codecs and all(c.strip().split(".")[0] in AUDIO_CODECS for c in info.codecs.split(",")):
            continue
        resolution = tuple(info.resolution) if info.resolution else None
        out.append(
            Variant(
                uri=resolve(uri, p.uri),
                bandwidth=int(info.bandwidth or info.average_bandwidth or 0),
                resolution=resolution,  # type: ignore[arg-type]
                codecs=info.codecs,
                frame_rate=float(info.frame_rate) if info.frame_rate else None,
                name=p.uri,
            )
        )
    return out


def parse_playlist(playlist: Any, uri: str) -> StreamIndex:
    """The segments of a parsed media playlist (an `m3u8.M3U8`) read from `uri`."""
    segments = playlist.segments
    if len(segments) > MAX_SEGMENTS:
        raise ResourceContentBad(f"{uri}: {len(segments)} segments, over the limit of {MAX_SEGMENTS}")
    if not segments:
        raise ResourceContentBad(f"{uri}: the playlist lists no segments")
    independent = bool(playlist.is_independent_segments or playlist.is_i_frames_only)
    sequence = int(playlist.media_sequence or 0)
    disc = int(playlist.discontinuity_sequence or 0)
    ends: dict[str, int] = {}  # where each resource's last byte range ended
    keys: dict[int, Key | None] = {}  # by the parser's key object: one Key each
    out = []
    t = 0.0
    for i, seg in enumerate(segments):
        duration = float(seg.duration or 0.0)
        if not math.isfinite(duration) or not 0 <= duration <= MAX_SEGMENT_SECONDS:
            raise ResourceContentBad(f"{uri}: segment {i} has an impossible duration ({seg.duration})")
        if seg.discontinuity and i:
            disc += 1
        seg_uri = resolve(uri, seg.uri)
        byte_range = _byte_range(seg.byterange, ends.get(seg_uri), uri, i)
        if byte_range is not None:
            ends[seg_uri] = byte_range.end
        init = None
        if seg.init_section is not None and seg.init_section.uri:
            init = InitSection(resolve(uri, seg.init_section.uri), _byte_range(seg.init_section.byterange, 0, uri, i))
        if id(seg.key) not in keys:
            keys[id(seg.key)] = _key(seg.key, uri)
        out.append(
            Segment(
                uri=seg_uri,
                start=t,
                duration=duration,
                byte_range=byte_range,
                keyframe=True if independent else None,
                discontinuity=disc,
                init=init,
                key=keys[id(seg.key)],
                number=sequence + i,
            )
        )
        t += duration
    complete = bool(playlist.is_endlist) or (playlist.playlist_type or "").lower() == "vod"
    notes = () if complete else ("a live playlist (no EXT-X-ENDLIST): only the segments listed now",)
    return StreamIndex(kind="hls", uri=uri, segments=tuple(out), how="playlist", complete=complete, notes=notes)


def _byte_range(spec: str | None, previous_end: int | None, uri: str, i: int) -> ByteRange | None:
    """EXT-X-BYTERANGE "n[@o]": without "@o" the range follows the previous one of
    the same resource."""
    if not spec:
        return None
    length_s, _, offset_s = str(spec).partition("@")
    try:
        length = int(length_s)
        offset = int(offset_s) if offset_s else previous_end
    except ValueError:
        raise ResourceContentBad(f"{uri}: segment {i} has a malformed byte range {spec!r}") from None
    if offset is None:
        raise ResourceContentBad(f"{uri}: segment {i}'s byte range {spec!r} has no offset and follows none")
    if length <= 0 or offset < 0 or length > 1 << 40 or offset > 1 << 50:
        raise ResourceContentBad(f"{uri}: segment {i} has an impossible byte range {spec!r}")
    return ByteRange(offset, length)


def _key(key: Any, uri: str) -> Key | None:
    if key is None or not key.method or key.method.upper() == "NONE":
        return None
    iv = None
    if key.iv:
        text = str(key.iv)
        text = text[2:] if text[:2].lower() == "0x" else text
        try:
            iv = bytes.fromhex(text.rjust(32, "0"))
        except ValueError:
            raise ResourceContentBad(f"{uri}: a malformed key IV {key.iv!r}") from None
        if len(iv) != 16:
            raise ResourceContentBad(f"{uri}: a key IV of {len(iv)} bytes (16 expected)")
    return Key(method=key.method.upper(), uri=resolve(uri, key.uri) if key.uri else None, iv=iv)
