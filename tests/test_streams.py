"""The streaming formats' own indexes, checked against a full demux with PyAV:
HLS, DASH, fragmented MP4 and cue-less Matroska made by the ffmpeg CLI."""

from __future__ import annotations

import io
from pathlib import Path

import av
import pytest

from stillframe.errors import InvalidParameter, ResourceContentBad
from stillframe.streams import (
    ByteRange,
    FileReader,
    Key,
    Segment,
    SegmentStream,
    StreamIndex,
    first_timestamp,
    read_dash,
    read_fmp4,
    read_hls,
    read_matroska,
    resolve,
)

from .streams_media import FPS, FRAMES, IV, KEY, packet_times, top_level_boxes

TOL = 0.002  # EXTINF is written to the microsecond; media times are exact


def first_pts(data: bytes) -> float:
    """The first video packet's pts (seconds) of a standalone piece of media."""
    with av.open(io.BytesIO(data)) as c:
        s = c.streams.video[0]
        for p in c.demux(s):
            if p.size and p.pts is not None:
                return float(p.pts * p.time_base)
    raise AssertionError("no packet")


def segment_bytes(seg: Segment) -> bytes:
    path = Path(seg.uri)
    data = path.read_bytes()
    if seg.byte_range is not None:
        data = data[seg.byte_range.start : seg.byte_range.end]
    if seg.init is not None:
        init = Path(seg.init.uri).read_bytes()
        if seg.init.byte_range is not None:
            init = init[seg.init.byte_range.start : seg.init.byte_range.end]
        data = init + data
    return data


def assert_whole(index: StreamIndex, duration: float = FRAMES / FPS) -> None:
    assert index.segments and index.complete
    assert index.duration == pytest.approx(duration, abs=0.05)
    for a, b in zip(index.segments, index.segments[1:]):
        assert b.start == pytest.approx(a.end, abs=TOL)


# HLS


@pytest.mark.parametrize("kind", ["ts", "fmp4", "fmp4-single", "byterange"])
def test_hls_segment_times_are_the_streams(stream_media, kind):
    playlist = stream_media.hls(kind)
    index = read_hls(FileReader(), str(playlist))
    assert index.kind == "hls" and index.how == "playlist" and index.variant is None
    assert len(index.segments) == 6
    assert_whole(index)
    firsts = [first_pts(segment_bytes(s)) for s in index.segments]
    for seg, pts in zip(index.segments, firsts):
        assert seg.start - index.segments[0].start == pytest.approx(pts - firsts[0], abs=TOL)
    # The playlist's times are the stream's once the first segment's timestamp is added.
    demuxed = sorted(t for t, _, key, _ in packet_times(playlist) if key)
    reader = FileReader()
    origin = first_timestamp(reader, index.segments[0])
    assert origin == pytest.approx(firsts[0], abs=1e-6) and reader.stats.bytes < 300_000
    assert [s.start + origin for s in index.segments] == pytest.approx(demuxed, abs=TOL)  # type: ignore[operator]
    if kind == "fmp4":
        assert all(s.init is not None and Path(s.init.uri).name == "init.mp4" for s in index.segments)
    if kind == "fmp4-single":
        init = index.segments[0].init
        assert init is not None and init.uri == index.segments[0].uri and init.byte_range.start == 0  # type: ignore[union-attr]
        assert index.segments[0].byte_range.start == init.byte_range.end  # type: ignore[union-attr]
    if kind in ("byterange", "fmp4-single"):
        ranges = [s.byte_range for s in index.segments]
        assert all(r is not None for r in ranges) and len({s.uri for s in index.segments}) == 1
        assert [r.start for r in ranges[1:]] == [r.end for r in ranges[:-1]]  # type: ignore[union-attr]
        assert ranges[-1].end <= Path(index.segments[0].uri).stat().st_size  # type: ignore[union-attr]


def test_hls_master_playlist_variants(stream_media):
    master = str(stream_media.hls_master())
    index = read_hls(FileReader(), master)
    assert [v.resolution for v in index.variants] == [(160, 96), (320, 192)]
    assert index.variant is not None and index.variant.resolution == (320, 192)  # the highest bandwidth
    assert Path(index.segments[0].uri).name == "v1_000.ts"
    for rule, name in [
        ("lowest", "v0.m3u8"),
        ("96p", "v0.m3u8"),
        ("320x192", "v1.m3u8"),
        ("v0.m3u8", "v0.m3u8"),
        (index.variants[1].bandwidth - 1, "v0.m3u8"),
        ("<=1", "v0.m3u8"),
    ]:
        assert read_hls(FileReader(), master, variant=rule).variant.name == name, rule  # type: ignore[union-attr]
    with pytest.raises(InvalidParameter, match="offered: v0.m3u8 .*160x96"):
        read_hls(FileReader(), master, variant="1080p")
    # An audio-only rendition (a player's fallback for slow links) is never chosen for frames.
    text = (
        Path(master)
        .read_text()
        .replace(
            "#EXT-X-STREAM-INF", '#EXT-X-STREAM-INF:BANDWIDTH=64000,CODECS="mp4a.40.2"\nv0.m3u8\n#EXT-X-STREAM-INF', 1
        )
    )
    with_audio = Path(master).with_name("with-audio.m3u8")
    with_audio.write_text(text)
    assert len(read_hls(FileReader(), str(with_audio)).variants) == 2
    assert read_hls(FileReader(), str(with_audio), variant="lowest").variant.resolution == (160, 96)  # type: ignore[union-attr]


def test_hls_aes_128(stream_media):
    playlist = stream_media.hls("aes")
    index = read_hls(FileReader(), str(playlist))
    key = index.segments[0].key
    assert key == Key("AES-128", str(playlist.parent / "key.bin"), bytes.fromhex(IV))
    assert Path(key.uri).read_bytes() == KEY  # type: ignore[arg-type]
    assert first_timestamp(FileReader(), index.segments[0]) is None  # FFmpeg decrypts as it reads
    # FFmpeg fetches the key and decrypts (a key file not named .key needs
    # allowed_extensions): the times agree with the playlist's.
    demuxed = sorted(t for t, _, k, _ in packet_times(playlist, {"allowed_extensions": "ALL"}) if k)
    assert [s.start - index.segments[0].start for s in index.segments] == pytest.approx(
        [t - demuxed[0] for t in demuxed], abs=TOL
    )


def test_hls_discontinuity(stream_media):
    index = read_hls(FileReader(), str(stream_media.hls("discontinuity")))
    assert [s.discontinuity for s in index.segments] == [0] * 6 + [1] * 6
    assert index.duration == pytest.approx(12.0, abs=0.05)
    second = index.segments[6:]
    firsts = [first_pts(segment_bytes(s)) for s in second]
    assert firsts[0] < 2  # the timestamps started again after the discontinuity
    assert [s.start - second[0].start for s in second] == pytest.approx([t - firsts[0] for t in firsts], abs=TOL)


# DASH


@pytest.mark.parametrize(
    "kind,how",
    [("timeline", "SegmentTemplate"), ("template", "SegmentTemplate"), ("list", "SegmentList"), ("base", "sidx")],
)
def test_dash_segment_times_are_the_media_times(stream_media, kind, how):
    index = read_dash(FileReader(), str(stream_media.dash(kind)))
    assert index.kind == "dash" and index.how == how
    assert len(index.segments) == 6
    assert_whole(index)
    for seg in index.segments:
        assert seg.keyframe is True and seg.init is not None
        assert first_pts(segment_bytes(seg)) == pytest.approx(seg.start, abs=1e-6), seg


# fragmented MP4


@pytest.mark.parametrize("kind,how", [("mfra", "mfra"), ("sidx", "sidx"), ("walk", "moof walk"), ("dash", "moof walk")])
def test_fmp4_fragments_from_headers_only(stream_media, kind, how):
    path = stream_media.fmp4(kind)
    reader = FileReader()
    index = read_fmp4(reader, str(path))
    assert index.how == how and len(index.segments) == 6
    assert_whole(index)
    packets = packet_times(path)
    for seg in index.segments:
        assert seg.byte_range is not None
        inside = [p for p in packets if seg.byte_range.start <= p[3] < seg.byte_range.end]
        assert inside and seg.keyframe is True
        assert seg.start == pytest.approx(inside[0][0], abs=1e-6)  # the first sample's pts
        assert seg.end == pytest.approx(max(p[0] for p in inside) + 1 / FPS, abs=0.002)
    size = path.stat().st_size
    assert reader.stats.bytes < size * 0.05, (reader.stats, size)
    # FFmpeg's fragments without +dash address samples from the file's start: cut out, they would not decode.
    assert bool(index.notes) == (kind != "dash")
    moov_end = next(o + n for t, o, n in top_level_boxes(path) if t == b"moov")
    assert {s.init.byte_range for s in index.segments} == {ByteRange(0, moov_end)}  # type: ignore[union-attr]


# Matroska


@pytest.mark.parametrize("kind", ["mkv", "webm", "unknown"])
def test_matroska_clusters_from_headers_only(stream_media, kind):
    path = stream_media.matroska(kind)
    reader = FileReader()
    index = read_matroska(reader, str(path))
    assert index.how == "cluster walk" and not index.notes
    packets = packet_times(path)
    keys = [p for p in packets if p[2]]
    starts = [s.start for s in index.segments]
    # Every keyframe starts a cluster, and each cluster's time is its first packet's.
    assert {round(t, 3) for t, *_ in keys} <= {round(t, 3) for t in starts}
    for seg in index.segments:
        inside = [p for p in packets if seg.byte_range.start <= p[3] < seg.byte_range.end]  # type: ignore[union-attr]
        assert inside and seg.start == pytest.approx(inside[0][0], abs=1e-6)
        assert seg.keyframe == inside[0][2]
    assert index.segments[-1].end == pytest.approx(max(p[0] for p in packets) + 1 / FPS, abs=0.002)
    if kind != "unknown":  # a sized cluster is stepped over; an unknown one by its blocks' headers
        assert reader.stats.bytes < path.stat().st_size * 0.05, reader.stats


def test_matroska_with_cues_says_so(tmp_path, stream_media):
    path = tmp_path / "cues.mkv"
    from .streams_media import ffmpeg

    ffmpeg("-i", str(stream_media.clip()), "-c", "copy", str(path))
    index = read_matroska(FileReader(), str(path))
    assert index.notes and "Cues" in index.notes[0]


# URIs


@pytest.mark.parametrize(
    "parent,ref,want",
    [
        ("http://cdn/a/b/index.m3u8", "s1.ts", "http://cdn/a/b/s1.ts"),
        ("http://cdn/a/b/index.m3u8", "../c/s1.ts?x=1", "http://cdn/a/c/s1.ts?x=1"),
        ("https://cdn/a/index.m3u8", "https://other/s.ts", "https://other/s.ts"),
        ("s3://bucket/hls/index.m3u8", "s1.ts", "s3://bucket/hls/s1.ts"),
        ("oss://bucket/hls/index.m3u8", "/root/s1.ts", "oss://bucket/root/s1.ts"),
        ("/data/hls/index.m3u8", "seg/s1.ts", "/data/hls/seg/s1.ts"),
        ("/data/hls/index.m3u8", "http://cdn/s1.ts", "http://cdn/s1.ts"),
        ("file:///data/hls/index.m3u8", "s%201.ts", "/data/hls/s 1.ts"),
    ],
)
def test_resolve(parent, ref, want):
    assert resolve(parent, ref) == want


@pytest.mark.parametrize(
    "parent,ref",
    [
        ("http://cdn/index.m3u8", "file:///etc/passwd"),
        ("s3://bucket/index.m3u8", "../../other/x.ts"),
        ("s3://bucket/index.m3u8", "file:///etc/passwd"),
        ("/data/index.m3u8", "ftp://host/x.ts"),
    ],
)
def test_resolve_keeps_a_remote_playlist_remote(parent, ref):
    with pytest.raises(ResourceContentBad):
        resolve(parent, ref)
    # An absolute path in a served playlist is a path on that server, never a local file.
    assert resolve("http://cdn/a/index.m3u8", "/etc/passwd") == "http://cdn/etc/passwd"


MULTI = """<?xml version="1.0"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" mediaPresentationDuration="PT1M0.5S">
  <BaseURL>https://cdn.example/vod/</BaseURL>
  <Period id="a" duration="PT20S">
    <BaseURL>p1/</BaseURL>
    <AdaptationSet mimeType="audio/mp4"><Representation id="aud" bandwidth="128000"/></AdaptationSet>
    <AdaptationSet mimeType="video/mp4" startWithSAP="1">
      <SegmentTemplate timescale="90000" media="$RepresentationID$/$Bandwidth$/t$Time$-n$Number%05d$.m4s"
                       initialization="$RepresentationID$/init.mp4" startNumber="7" presentationTimeOffset="900">
        <SegmentTimeline><S t="900" d="180000" r="2"/><S d="90000" r="-1"/></SegmentTimeline>
      </SegmentTemplate>
      <Representation id="lo" bandwidth="300000" width="640" height="360"/>
      <Representation id="hi" bandwidth="3000000" width="1920" height="1080"><BaseURL>hd/</BaseURL></Representation>
    </AdaptationSet>
  </Period>
  <Period id="b">
    <AdaptationSet contentType="video">
      <Representation id="lo" bandwidth="300000" width="640" height="360">
        <SegmentTemplate timescale="1000" duration="4000" media="b-$Number$.m4s" startNumber="0"/>
      </Representation>
      <Representation id="hi" bandwidth="3000000" width="1920" height="1080">
        <SegmentTemplate timescale="1000" duration="4000" media="b-hi-$Number$.m4s"/>
      </Representation>
    </AdaptationSet>
  </Period>
</MPD>"""


def test_dash_templates_periods_and_base_urls(tmp_path):
    path = tmp_path / "multi.mpd"
    path.write_text(MULTI)
    index = read_dash(FileReader(), str(path))
    assert [v.name for v in index.variants] == ["lo", "hi"] and index.variant.name == "hi"  # type: ignore[union-attr]
    first = index.segments[:3]
    # The remote BaseURL wins over the MPD's own location; the representation's adds to the period's.
    assert [s.uri for s in first] == [
        f"https://cdn.example/vod/p1/hd/hi/3000000/t{t}-n{n:05d}.m4s" for t, n in [(900, 7), (180900, 8), (360900, 9)]
    ]
    assert first[0].init.uri == "https://cdn.example/vod/p1/hd/hi/init.mp4"  # type: ignore[union-attr]
    assert [s.start for s in first] == [0.01, 2.01, 4.01] and all(s.duration == 2 for s in first)
    period_a = [s for s in index.segments if s.discontinuity == 0]
    # r="-1" repeats 1 s segments to the Period's end: 3 x 2 s, then 14 x 1 s.
    assert len(period_a) == 17 and period_a[-1].end == pytest.approx(20.01)
    period_b = [s for s in index.segments if s.discontinuity == 1]
    # 40.5 s left of the presentation: 11 segments of 4 s, numbered from 1 (startNumber's default).
    assert len(period_b) == 11 and period_b[0].uri == "https://cdn.example/vod/b-hi-1.m4s"
    assert [s.start for s in period_b[:2]] == [0.0, 4.0]
    low = read_dash(FileReader(), str(path), variant="360p")
    assert low.segments[0].uri == "https://cdn.example/vod/p1/lo/300000/t900-n00007.m4s"
    assert [s.uri for s in low.segments if s.discontinuity == 1][:2] == [
        "https://cdn.example/vod/b-0.m4s",
        "https://cdn.example/vod/b-1.m4s",
    ]


def test_all_is_sorted_and_complete():
    from stillframe import streams

    assert streams.__all__ == sorted(streams.__all__)
    public = {n for n, v in vars(streams).items() if not n.startswith("_") and not isinstance(v, type(streams))}
    assert public - {"annotations"} <= set(streams.__all__)


@pytest.mark.parametrize("source", ["dash-timeline", "dash-base", "hls-fmp4", "hls-ts", "fmp4-sidx"])
def test_a_few_segments_decode_alone(stream_media, source):
    """Segments 3 and 4 of the stream, opened by PyAV as one file: the packets are
    those a full demux gives for that span, and nothing else is read."""
    family, kind = source.split("-")
    if family == "dash":
        index = read_dash(FileReader(), str(stream_media.dash(kind)))
        full = stream_media.clip() if kind == "timeline" else stream_media.fmp4("cmaf")
    elif family == "hls":
        index = read_hls(FileReader(), str(stream_media.hls(kind)))
        full = stream_media.hls(kind)
    else:
        index = read_fmp4(FileReader(), str(stream_media.fmp4("cmaf")))
        full = stream_media.fmp4("cmaf")
    reader = FileReader()
    stream = SegmentStream(reader, index.segments[3:5], block=16 << 10)
    with av.open(stream) as c:
        got = [(float(p.pts * p.time_base), p.is_keyframe) for p in c.demux(c.streams.video[0]) if p.size]
    want = [(t, k) for t, _, k, _ in packet_times(full)]
    origin = want[0][0] if family == "hls" else 0.0  # playlist times start at 0; the stream's do not
    lo, hi = index.segments[3].start + origin, index.segments[4].end + origin
    assert got == [w for w in want if lo - 1e-6 <= w[0] < hi - 1e-6] and got[0][1]
    # Each byte read once, but for a block at the end where the mov demuxer looks for an mfra.
    assert stream.size <= reader.stats.bytes <= stream.size + (16 << 10), (reader.stats, stream.size)
    # A demuxer that stops after the first packet stops the reading too.
    early = FileReader()
    with av.open(SegmentStream(early, index.segments[3:], block=16 << 10)) as c:
        next(p for p in c.demux(c.streams.video[0]) if p.size)
    assert early.stats.bytes < sum(s.byte_range.length if s.byte_range else 1 << 30 for s in index.segments[3:4]) + (
        64 << 10
    )
