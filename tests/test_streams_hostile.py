"""Hostile and damaged input to the stream parsers: one clear error from the error
tree (or the part that is there, for a recording cut short), never a traceback,
a hang or unbounded work."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from stillframe.errors import InvalidParameter, ResourceContentBad, ResourceNotFound
from stillframe.streams import FileReader, dash, hls, read_dash, read_fmp4, read_hls, read_matroska
from stillframe.streams._reader import MAX_READ

from .streams_media import top_level_boxes

HEAD = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n"


def write(tmp_path: Path, name: str, text: str | bytes) -> str:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return str(path)


@pytest.mark.parametrize(
    "text,match",
    [
        (b"\x00\x01binary\xff", "not a playlist|not an HLS"),
        ("<html>hello</html>", "no #EXTM3U"),
        (HEAD + "#EXTINF:-1,\na.ts\n#EXT-X-ENDLIST\n", "impossible duration"),
        (HEAD + "#EXTINF:nan,\na.ts\n#EXT-X-ENDLIST\n", "impossible duration"),
        (HEAD + "#EXTINF:1e12,\na.ts\n#EXT-X-ENDLIST\n", "impossible duration"),
        (HEAD + "#EXTINF:1,\n#EXT-X-BYTERANGE:100\na.ts\n", "no offset"),
        (HEAD + "#EXTINF:1,\n#EXT-X-BYTERANGE:x@y\na.ts\n", "malformed byte range"),
        (HEAD + "#EXTINF:1,\n#EXT-X-BYTERANGE:-5@0\na.ts\n", "impossible byte range|malformed"),
        (HEAD + '#EXT-X-KEY:METHOD=AES-128,URI="k",IV=0xZZ\n#EXTINF:1,\na.ts\n', "malformed key IV"),
        (HEAD + "#EXT-X-ENDLIST\n", "no segments"),
    ],
)
def test_bad_playlists(tmp_path, text, match):
    with pytest.raises(ResourceContentBad, match=match):
        read_hls(FileReader(), write(tmp_path, "p.m3u8", text))


def test_playlist_bounds(tmp_path, monkeypatch):
    many = HEAD + "".join(f"#EXTINF:1,\ns{i}.ts\n" for i in range(10)) + "#EXT-X-ENDLIST\n"
    monkeypatch.setattr(hls, "MAX_SEGMENTS", 5)
    with pytest.raises(ResourceContentBad, match="over the limit"):
        read_hls(FileReader(), write(tmp_path, "many.m3u8", many))
    monkeypatch.setattr(hls, "MAX_PLAYLIST_BYTES", 100)
    with pytest.raises(ResourceContentBad, match="too large"):
        read_hls(FileReader(), write(tmp_path, "big.m3u8", many))
    with pytest.raises(ResourceNotFound):
        read_hls(FileReader(), str(tmp_path / "absent.m3u8"))


def test_a_master_naming_a_master(tmp_path):
    master = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nm.m3u8\n"
    write(tmp_path, "m.m3u8", master)
    with pytest.raises(ResourceContentBad, match="another master"):
        read_hls(FileReader(), str(tmp_path / "m.m3u8"))


def test_a_live_playlist_says_so(tmp_path):
    index = read_hls(FileReader(), write(tmp_path, "live.m3u8", HEAD + "#EXTINF:2,\na.ts\n#EXTINF:2,\nb.ts\n"))
    assert not index.complete and "live" in index.notes[0] and index.duration == 4


MPD = """<?xml version="1.0"?>{doctype}
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="{type}" mediaPresentationDuration="{duration}">
  <Period><AdaptationSet contentType="video">
    <Representation id="v" bandwidth="1" width="16" height="16">{info}</Representation>
  </AdaptationSet></Period>
</MPD>"""
TEMPLATE = '<SegmentTemplate media="$Number$.m4s" timescale="1" duration="1"/>'
BOMB = '<!DOCTYPE lol [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'


@pytest.mark.parametrize(
    "fields,error,match",
    [
        ({"doctype": BOMB}, ResourceContentBad, "not a readable MPD"),
        ({"doctype": '<!DOCTYPE MPD SYSTEM "file:///etc/passwd">'}, ResourceContentBad, "not a readable MPD"),
        ({"type": "dynamic"}, InvalidParameter, "live"),
        ({"duration": "PT1H-3S"}, ResourceContentBad, "malformed duration"),
        ({"duration": "P10000000Y"}, ResourceContentBad, "over the limit"),
        ({"info": '<SegmentTemplate media="$Number$.m4s" timescale="1"/>'}, ResourceContentBad, "neither a duration"),
        ({"info": '<SegmentTemplate media="x" timescale="0" duration="1"/>'}, ResourceContentBad, "timescale"),
        (
            {
                "info": '<SegmentTemplate media="$Time$.m4s"><SegmentTimeline><S t="0" d="1" r="1000000000000"/>'
                "</SegmentTimeline></SegmentTemplate>"
            },
            ResourceContentBad,
            "over",
        ),
        (
            {
                "info": '<SegmentTemplate media="$Time$.m4s"><SegmentTimeline><S t="0" d="0"/>'
                "</SegmentTimeline></SegmentTemplate>"
            },
            ResourceContentBad,
            "without a duration",
        ),
        ({"info": ""}, ResourceContentBad, "no segment information"),
        ({"info": '<SegmentBase indexRange="9-3"/>'}, ResourceContentBad, "impossible byte range"),
        ({"info": TEMPLATE.replace('timescale="1"', 'timescale="x"')}, ResourceContentBad, "not a whole number"),
        ({"info": TEMPLATE.replace('duration="1"', 'duration="1e3"')}, ResourceContentBad, "not a whole number"),
        ({"info": TEMPLATE.replace("/>", ' startNumber="-5"/>')}, ResourceContentBad, "out of range"),
    ],
)
def test_bad_manifests(tmp_path, fields, error, match):
    text = MPD.format(**{"doctype": "", "type": "static", "duration": "PT10S", "info": TEMPLATE, **fields})
    with pytest.raises(error, match=match):
        read_dash(FileReader(), write(tmp_path, "m.mpd", text))


def test_manifest_bounds(tmp_path, monkeypatch):
    monkeypatch.setattr(dash, "MAX_MPD_BYTES", 200)
    text = MPD.format(doctype="", type="static", duration="PT10S", info=TEMPLATE)
    with pytest.raises(ResourceContentBad, match="too large"):
        read_dash(FileReader(), write(tmp_path, "m.mpd", text))
    with pytest.raises(ResourceContentBad, match="not a DASH manifest"):
        read_dash(FileReader(), write(tmp_path, "x.mpd", "<html/>"))


def test_fmp4_damage(tmp_path, stream_media, clips):
    good = stream_media.fmp4("walk").read_bytes()
    boxes = top_level_boxes(stream_media.fmp4("walk"))
    moof = next(o for t, o, _ in boxes if t == b"moof")
    cases = {
        "progressive": (clips("progressive.mp4", frames=10, size=(64, 64)).read_bytes(), "not a fragmented MP4"),
        "noise": (bytes(range(256)) * 8, "not an MP4|damaged"),
        "huge moof": (good[:moof] + struct.pack(">I", 1 << 31) + good[moof + 4 :], "damaged moof"),
    }
    # A trun claiming more samples than it holds.
    trun = good.index(b"trun", moof)
    cases["trun"] = (good[: trun + 8] + struct.pack(">I", 1 << 30) + good[trun + 12 :], "trun box of")
    mfra = stream_media.fmp4("mfra").read_bytes()
    cases["mfro"] = (mfra[:-4] + struct.pack(">I", len(mfra) * 2), "damaged mfro")
    for name, (data, match) in cases.items():
        with pytest.raises(ResourceContentBad, match=match):
            read_fmp4(FileReader(), write(tmp_path, f"{name}.mp4", data))
    # A recording cut off mid-fragment keeps the fragments that are there.
    cut = read_fmp4(FileReader(), write(tmp_path, "cut.mp4", good[: len(good) - 30_000]))
    assert len(cut.segments) == 6 and cut.segments[-1].byte_range.end == len(good) - 30_000  # type: ignore[union-attr]


def test_matroska_damage(tmp_path, stream_media):
    good = stream_media.matroska("mkv").read_bytes()
    for data, match in [
        (b"\x00" * 64, "damaged Matroska|not a Matroska"),
        (b"\x1a\x45\xdf\xa3\x80" + b"\x00" * 20, "damaged Matroska|no Segment"),
        (bytes(range(256)), "not a Matroska"),
    ]:
        with pytest.raises(ResourceContentBad, match=match):
            read_matroska(FileReader(), write(tmp_path, "bad.mkv", data))
    whole = read_matroska(FileReader(), str(stream_media.matroska("mkv")))
    cut = read_matroska(FileReader(), write(tmp_path, "cut.mkv", good[: len(good) - 20_000]))
    assert 0 < len(cut.segments) <= len(whole.segments)
    assert [s.start for s in cut.segments] == [s.start for s in whole.segments[: len(cut.segments)]]


def test_reader_bounds(tmp_path):
    reader = FileReader()
    with pytest.raises(ResourceContentBad, match="limit"):
        reader.read(write(tmp_path, "f", b"x"), 0, MAX_READ + 1)
    with pytest.raises(ResourceContentBad, match="directory"):
        reader.size(str(tmp_path))
    with pytest.raises(InvalidParameter):
        reader.read(str(tmp_path / "f"), -1, 1)
