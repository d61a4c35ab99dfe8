"""Streaming-format test media, made from a small generated clip by the ffmpeg CLI
with stream copy (as packagers and recorders do): HLS (TS, fMP4, byte ranges, a
master with two variants, AES-128, a discontinuity), DASH (SegmentTemplate with
and without SegmentTimeline, SegmentList, SegmentBase), fragmented MP4 (sidx,
mfra, neither) and Matroska/WebM written to a pipe (no cues; also with clusters
of unknown size). Each maker returns the path to open; `packet_times` is the
reference: what a full demux with PyAV gives."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import av
import pytest

from stillframe import testsrc

FRAMES, FPS, GOP = 180, 30, 30  # 6 s, a keyframe a second, 3 B-frames
KEY = bytes(range(16))
IV = "000102030405060708090a0b0c0d0e0f"


def ffmpeg(*args: str) -> None:
    if shutil.which("ffmpeg") is None:
        pytest.fail("the ffmpeg CLI is not installed (.ci/run installs it)")
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True)


class StreamMedia:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._made: dict[str, Path] = {}

    def _once(self, name: str, make) -> Path:
        if name not in self._made:
            self._made[name] = make(self.root / name)
        return self._made[name]

    def clip(self, size: tuple[int, int] = (160, 96)) -> Path:
        def make(path: Path) -> Path:
            return testsrc.make_video(path, frames=FRAMES, size=size, fps=FPS, gop=GOP, bframes=3, grain=True)

        return self._once(f"clip-{size[0]}x{size[1]}.mp4", make)

    def hls(self, kind: str = "ts") -> Path:
        """kind: "ts", "fmp4", "fmp4-single", "byterange", "aes", "discontinuity"."""

        def make(folder: Path) -> Path:
            folder.mkdir()
            out = folder / "index.m3u8"
            args = ["-i", str(self.clip()), "-c", "copy", "-f", "hls", "-hls_time", "1", "-hls_playlist_type", "vod"]
            if kind == "fmp4":
                args += [
                    "-hls_segment_type",
                    "fmp4",
                    "-hls_fmp4_init_filename",
                    "init.mp4",
                    "-hls_segment_filename",
                    str(folder / "s%03d.m4s"),
                ]
            elif kind == "fmp4-single":  # one file; EXT-X-MAP and every segment by byte range
                args += [
                    "-hls_segment_type",
                    "fmp4",
                    "-hls_flags",
                    "single_file",
                    "-hls_segment_filename",
                    str(folder / "all.mp4"),
                ]
            elif kind == "byterange":
                args += ["-hls_flags", "single_file", "-hls_segment_filename", str(folder / "all.ts")]
            elif kind == "aes":
                (folder / "key.bin").write_bytes(KEY)
                (folder / "keyinfo").write_text(f"key.bin\n{folder / 'key.bin'}\n{IV}\n")
                args += [
                    "-hls_key_info_file",
                    str(folder / "keyinfo"),
                    "-hls_segment_filename",
                    str(folder / "s%03d.ts"),
                ]
            else:
                args += ["-hls_segment_filename", str(folder / "s%03d.ts")]
            if kind == "discontinuity":
                # A second run appended to the playlist: its timestamps start again.
                ffmpeg(*[a if a != "vod" else "event" for a in args], str(out))
                args = [
                    "-i",
                    str(self.clip()),
                    "-c",
                    "copy",
                    "-f",
                    "hls",
                    "-hls_time",
                    "1",
                    "-hls_playlist_type",
                    "vod",
                    "-hls_flags",
                    "append_list",
                    "-start_number",
                    "100",
                    "-hls_segment_filename",
                    str(folder / "t%03d.ts"),
                ]
            ffmpeg(*args, str(out))
            return out

        return self._once(f"hls-{kind}", make)

    def hls_master(self) -> Path:
        def make(folder: Path) -> Path:
            folder.mkdir()
            ffmpeg(
                "-i",
                str(self.clip()),
                "-i",
                str(self.clip((320, 192))),
                "-map",
                "0:v",
                "-map",
                "1:v",
                "-c",
                "copy",
                "-f",
                "hls",
                "-hls_time",
                "1",
                "-hls_playlist_type",
                "vod",
                "-var_stream_map",
                "v:0 v:1",
                "-master_pl_name",
                "master.m3u8",
                "-hls_segment_filename",
                str(folder / "v%v_%03d.ts"),
                str(folder / "v%v.m3u8"),
            )
            return folder / "master.m3u8"

        return self._once("hls-master", make)

    def dash(self, kind: str = "timeline") -> Path:
        """kind: "timeline", "template" (no SegmentTimeline), "list" (one file,
        SegmentList with ranges), "base" (SegmentBase with a sidx)."""

        def make(folder: Path) -> Path:
            folder.mkdir()
            mpd = folder / "manifest.mpd"
            if kind == "base":
                return self._segment_base(folder, mpd)
            args = ["-i", str(self.clip()), "-c", "copy", "-f", "dash", "-seg_duration", "1"]
            args += {
                "timeline": ["-use_template", "1", "-use_timeline", "1"],
                "template": ["-use_template", "1", "-use_timeline", "0"],
                "list": ["-single_file", "1"],
            }[kind]
            ffmpeg(*args, str(mpd))
            return mpd

        return self._once(f"dash-{kind}", make)

    def _segment_base(self, folder: Path, mpd: Path) -> Path:
        """The on-demand profile packagers write: one fragmented file with a sidx
        at its head, the MPD pointing at it with SegmentBase@indexRange."""
        media = self.fmp4("cmaf")
        target = folder / "video.mp4"
        shutil.copy(media, target)
        boxes = top_level_boxes(target)
        init_end = next(o + s for t, o, s in boxes if t == b"moov")
        sidx = next((o, s) for t, o, s in boxes if t == b"sidx")
        mpd.write_text(f"""<?xml version="1.0" encoding="utf-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" mediaPresentationDuration="PT6S"
     profiles="urn:mpeg:dash:profile:isoff-on-demand:2011" minBufferTime="PT2S">
  <Period id="p0">
    <AdaptationSet contentType="video" mimeType="video/mp4" startWithSAP="1">
      <Representation id="v" bandwidth="40000" width="160" height="96" codecs="avc1.64000b">
        <BaseURL>video.mp4</BaseURL>
        <SegmentBase indexRange="{sidx[0]}-{sidx[0] + sidx[1] - 1}">
          <Initialization range="0-{init_end - 1}"/>
        </SegmentBase>
      </Representation>
    </AdaptationSet>
  </Period>
</MPD>
""")
        return mpd

    def fmp4(self, kind: str = "mfra") -> Path:
        """kind: "mfra" (frag_keyframe+empty_moov: an mfra at the end), "sidx"
        (+global_sidx), "walk" (+skip_trailer: neither), "dash" (a sidx per fragment),
        "cmaf" (a global sidx and data offsets from each moof, so a fragment stands alone)."""
        flags = {
            "mfra": "",
            "sidx": "+global_sidx",
            "walk": "+skip_trailer",
            "dash": "+dash+skip_trailer",
            "cmaf": "+global_sidx+default_base_moof+skip_trailer",
        }[kind]

        def make(path: Path) -> Path:
            ffmpeg("-i", str(self.clip()), "-c", "copy", "-movflags", "frag_keyframe+empty_moov" + flags, str(path))
            return path

        return self._once(f"frag-{kind}.mp4", make)

    def matroska(self, kind: str = "mkv") -> Path:
        """kind: "mkv" (H.264 to a pipe), "webm" (VP9 to a pipe), "unknown"
        (the mkv with every Cluster's size unknown, as live muxers write)."""

        def make(path: Path) -> Path:
            if kind == "unknown":
                unknown_size_clusters(self.matroska("mkv"), path)
                return path
            src = self.clip()
            if kind == "webm":
                src = testsrc.make_video(
                    self.root / "vp9.webm",
                    frames=90,
                    size=(96, 64),
                    fps=FPS,
                    gop=GOP,
                    codec="libvpx-vp9",
                    options={"deadline": "realtime", "cpu-used": "8"},
                )
            with path.open("wb") as out:
                fmt = "webm" if kind == "webm" else "matroska"
                subprocess.run(
                    ["ffmpeg", "-nostdin", "-v", "error", "-i", str(src), "-c", "copy", "-f", fmt, "-"],
                    stdout=out,
                    check=True,
                )
            return path

        return self._once(f"pipe-{kind}.{'webm' if kind == 'webm' else 'mkv'}", make)


def packet_times(path: Path | str, options: dict[str, str] | None = None) -> list[tuple[float, float, bool, int]]:
    """(pts s, dts s, keyframe, byte position) of every video packet, by a full demux."""
    out = []
    with av.open(str(path), options=options or {}) as c:
        s = c.streams.video[0]
        for p in c.demux(s):
            if p.size and p.pts is not None:
                dts = p.dts if p.dts is not None else p.pts
                out.append((float(p.pts * p.time_base), float(dts * p.time_base), p.is_keyframe, p.pos))
    return out


def top_level_boxes(path: Path) -> list[tuple[bytes, int, int]]:
    """(type, offset, size) of an MP4's top-level boxes."""
    data = path.read_bytes()
    out, pos = [], 0
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        if size == 1:
            size = int.from_bytes(data[pos + 8 : pos + 16], "big")
        out.append((kind, pos, size or len(data) - pos))
        pos += size or len(data)
    return out


def _vint(data: bytes, pos: int) -> tuple[int, int]:
    length = 9 - data[pos].bit_length()
    value = int.from_bytes(data[pos : pos + length], "big") & ((1 << (7 * length)) - 1)
    return value, length


def unknown_size_clusters(src: Path, dst: Path) -> None:
    """`src` rewritten with the Segment's and every Cluster's size unknown."""
    data = src.read_bytes()
    size, n = _vint(data, 4)  # the EBML header: a 4-byte id, its size, its payload
    pos = 4 + n + size
    assert data[pos : pos + 4] == b"\x18\x53\x80\x67"
    _, n = _vint(data, pos + 4)
    out = bytearray(data[:pos] + b"\x18\x53\x80\x67\x01\xff\xff\xff\xff\xff\xff\xff")
    pos += 4 + n
    while pos < len(data):
        id_len = 9 - data[pos].bit_length()
        ident = data[pos : pos + id_len]
        size, n = _vint(data, pos + id_len)
        body = data[pos + id_len + n : pos + id_len + n + size]
        if ident == b"\x1f\x43\xb6\x75":
            out += ident + b"\x01\xff\xff\xff\xff\xff\xff\xff" + body
        else:
            out += data[pos : pos + id_len + n + size]
        pos += id_len + n + size
    dst.write_bytes(bytes(out))
