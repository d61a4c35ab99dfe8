"""Frames through a streaming format's own index: HLS playlists (TS and fMP4
segments, byte ranges, AES-128, a discontinuity, a master playlist's variants),
DASH manifests (SegmentTemplate with and without SegmentTimeline, SegmentList,
SegmentBase with a sidx), fragmented MP4 (mfra, sidx, moof headers) and Matroska
without cues, each packaged from one clip by the ffmpeg CLI. Every frame is the
one a full decode of the clip shows at that time, pixel for pixel, at the same
time; over HTTP (nginx, bytes counted from its access log) a frame reads a few
segments, never the stream."""

from __future__ import annotations

import bisect
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import pytest

import stillframe as sf
from stillframe import testsrc
from stillframe.errors import InvalidParameter, ResourceNotFound

from .servers import nginx_files, s3_server, settled_bytes
from .streams_media import FPS, GOP, ffmpeg

TIMES = [0.0, 0.5, 1.0, 1.01, 2.345, 2.99, 4.0, 5.95]
DURATION = 6.0


@dataclass
class Decoded:
    """A full decode with PyAV: each frame's time from the first (presentation
    order) and its planes, as Frame.to_ndarray("yuv420p") gives them."""

    times: list[float]
    planes: list[np.ndarray]
    keyframes: list[bool]

    def shown(self, t: float) -> int:
        return max(0, bisect.bisect_right(self.times, t + 1e-6) - 1)

    def next(self, t: float) -> int:
        return min(len(self.times) - 1, bisect.bisect_left(self.times, t - 1e-6))


def full_decode(path: Path) -> Decoded:
    frames = []
    with av.open(str(path)) as c:
        for f in c.decode(c.streams.video[0]):
            frames.append((f.pts, f.time, f.to_ndarray(format="yuv420p"), f.key_frame))
    frames.sort(key=lambda x: x[0])
    origin = frames[0][1]
    return Decoded([t - origin for _, t, _, _ in frames], [p for _, _, p, _ in frames], [k for *_, k in frames])


@pytest.fixture(scope="module")
def clip_frames(stream_media) -> Decoded:
    return full_decode(stream_media.clip())


SOURCES = {
    "hls-ts": ("hls", "ts"),
    "hls-fmp4": ("hls", "fmp4"),
    "hls-fmp4-single": ("hls", "fmp4-single"),
    "hls-byterange": ("hls", "byterange"),
    "hls-aes": ("hls", "aes"),
    "hls-discontinuity": ("hls", "discontinuity"),
    "dash-timeline": ("dash", "timeline"),
    "dash-template": ("dash", "template"),
    "dash-list": ("dash", "list"),
    "dash-base": ("dash", "base"),
    "fmp4-mfra": ("fmp4", "mfra"),
    "fmp4-walk": ("fmp4", "walk"),
    "fmp4-dash": ("fmp4", "dash"),
    "fmp4-cmaf": ("fmp4", "cmaf"),
    "mkv": ("matroska", "mkv"),
    "mkv-unknown": ("matroska", "unknown"),
}
NOTES = {
    "hls": "HLS playlist",
    "dash": "DASH manifest",
    "fmp4": "fragmented MP4: fragments from its ",
    "matroska": "no Cues",
}


def made(stream_media, name: str) -> Path:
    family, kind = SOURCES[name]
    return getattr(stream_media, family)(kind)


def check_frames(frames, want: Decoded, times, rule: str = "shown", offset: float = 0.0) -> None:
    for t, f in zip(times, frames):
        i = want.shown(t - offset) if rule == "shown" else want.next(t - offset)
        assert f.time == pytest.approx(want.times[i] + offset, abs=1e-3), (t, f.time)
        assert np.array_equal(f.to_ndarray("yuv420p"), want.planes[i]), (t, i)


@pytest.mark.parametrize("name", list(SOURCES))
def test_the_frames_of_a_full_decode_at_the_same_times(stream_media, clip_frames, name):
    path = made(stream_media, name)
    family = SOURCES[name][0]
    with sf.open(str(path)) as video:
        info = video.info
        assert info.index == ("scan" if family == "matroska" else "container"), info
        assert NOTES[family] in info.index_note, info.index_note
        assert (info.width, info.height, info.codec) == (160, 96, "h264")
        span = 2 * DURATION if name == "hls-discontinuity" else DURATION
        assert info.duration == pytest.approx(span, abs=2e-3)
        assert info.start_time >= 0 and not info.pending() or "frame_count" in info.pending()
        check_frames(video.frames_at(TIMES), clip_frames, TIMES)
        check_frames(video.frames_at(TIMES, snap="next"), clip_frames, TIMES, "next")
        if name == "hls-discontinuity":  # the second run's timestamps start again: on the playlist's timeline
            later = [t + DURATION for t in TIMES]
            check_frames(video.frames_at(later), clip_frames, later, offset=DURATION)
        # Keyframes and a tolerance: what a full decode's keyframes say, as a scan of every packet gives.
        keys = [t for t, k in zip(clip_frames.times, clip_frames.keyframes) if k]
        keys += [t + DURATION for t in keys] if name == "hls-discontinuity" else []
        for t, f in zip(TIMES, video.frames_at(TIMES, frame_type="intra")):
            nearest = min(keys, key=lambda k: (abs(k - t), k))
            assert f.is_keyframe and f.time == pytest.approx(nearest, abs=1e-3), (t, f.time)
        near = video.frames_at([1.95, 2.5], tolerance=0.1)
        assert [round(f.time, 3) for f in near] == [2.0, 2.5] and near[0].rule == "tolerance"


@pytest.mark.parametrize("name", ["hls-ts", "dash-timeline", "fmp4-mfra", "mkv"])
def test_what_is_read_and_what_is_worked_out_later(stream_media, clip_frames, name):
    path = made(stream_media, name)
    info = sf.probe(str(path))
    # Known at once: the stream's facts; the frame count and every keyframe need every segment.
    assert {"frame_count", "keyframe_times"} <= set(info.pending())
    assert info.frame_count == len(clip_frames.times)
    assert info.keyframe_times == pytest.approx(
        [t for t, k in zip(clip_frames.times, clip_frames.keyframes) if k], abs=1e-3
    )
    scanned = sf.probe(str(path), index="scan")
    assert scanned.index == "scan" and scanned.index_note == "asked" and not scanned.pending()
    assert scanned.frame_count == info.frame_count and scanned.duration == pytest.approx(info.duration)
    with sf.open(str(path)) as video:
        assert video.frame_times(1.9, 2.2) == pytest.approx([t for t in clip_frames.times if 1.9 <= t <= 2.2], abs=1e-3)
        assert video.index.count == len(clip_frames.times)


def test_a_master_playlist_chooses_its_variant(stream_media):
    master = str(stream_media.hls_master())
    with sf.open(master) as video:  # the highest bandwidth by default
        assert (video.info.width, video.info.height) == (320, 192)
        assert video.frame_at(2.345).to_ndarray().shape == (192, 320, 3)
    for rule in ("lowest", "96p", "160x96", 1):
        assert (sf.probe(master, variant=rule).width, sf.probe(master, variant=rule).height) == (160, 96), rule
    with pytest.raises(InvalidParameter, match="no variant matches '1080p'; offered: v0.m3u8"):
        sf.probe(master, variant="1080p")
    with pytest.raises(InvalidParameter, match="variant='720p' chooses a rendition"):
        sf.probe(str(stream_media.clip()), variant="720p")


def test_the_command_line_chooses_a_variant(stream_media, tmp_path):
    master = str(stream_media.hls_master())
    run = [sys.executable, "-m", "stillframe.cli"]
    probed = subprocess.run([*run, "probe", master, "--variant", "lowest"], capture_output=True, text=True, check=True)
    assert (json.loads(probed.stdout)["width"], json.loads(probed.stdout)["index"]) == (160, "container")
    out = tmp_path / "one.jpg"
    subprocess.run(
        [*run, "snapshot", master, "--variant", "320x192", "-o", str(out), "--dots", "2.5"],
        check=True,
        capture_output=True,
    )
    assert out.exists() and sf.probe(str(out)).width == 320
    bad = subprocess.run([*run, "probe", master, "--variant", "4k"], capture_output=True, text=True)
    assert bad.returncode != 0 and bad.stderr.strip().count("\n") == 0 and "no variant matches '4k'" in bad.stderr


def test_snapshots_of_a_playlist(stream_media, clip_frames, tmp_path):
    result = sf.snapshot(str(stream_media.hls("ts")), sf.Interval(2), str(tmp_path / "{Count}.jpg"))
    assert [s.time for s in result.frames] == pytest.approx([0.0, 2.0, 4.0], abs=1e-3)
    assert result.stats.index == "container" and len(result.files) == 3


def test_a_sample_aes_segment_is_refused_in_one_line(stream_media, tmp_path):
    folder = stream_media.hls("ts").parent
    text = (
        (folder / "index.m3u8").read_text().replace("#EXTINF", '#EXT-X-KEY:METHOD=SAMPLE-AES,URI="key.bin"\n#EXTINF', 1)
    )
    playlist = folder / "sample-aes.m3u8"
    playlist.write_text(text)
    with pytest.raises(InvalidParameter, match="SAMPLE-AES cannot be read"):
        sf.probe(str(playlist))


# Over HTTP and from an object store: a 30-second clip, so that what one frame
# reads can be told from the whole.

LONG_FRAMES = 900


@pytest.fixture(scope="module")
def long_forms(tmp_path_factory):
    root = tmp_path_factory.mktemp("long-forms")
    clip = testsrc.make_video(
        root / "clip.mp4", frames=LONG_FRAMES, size=(320, 192), fps=FPS, gop=GOP, bframes=3, grain=True
    )
    hls, dash = root / "hls", root / "dash"
    hls.mkdir()
    dash.mkdir()
    ffmpeg(
        "-i",
        str(clip),
        "-c",
        "copy",
        "-f",
        "hls",
        "-hls_time",
        "1",
        "-hls_playlist_type",
        "vod",
        "-hls_segment_filename",
        str(hls / "s%03d.ts"),
        str(hls / "index.m3u8"),
    )
    ffmpeg(
        "-i",
        str(clip),
        "-c",
        "copy",
        "-f",
        "dash",
        "-seg_duration",
        "1",
        "-use_template",
        "1",
        "-use_timeline",
        "1",
        str(dash / "manifest.mpd"),
    )
    ffmpeg("-i", str(clip), "-c", "copy", "-movflags", "frag_keyframe+empty_moov", str(root / "frag.mp4"))
    with (root / "pipe.mkv").open("wb") as out:
        subprocess.run(
            ["ffmpeg", "-nostdin", "-v", "error", "-i", str(clip), "-c", "copy", "-f", "matroska", "-"],
            stdout=out,
            check=True,
        )
    forms = {
        "hls": hls / "index.m3u8",
        "dash": dash / "manifest.mpd",
        "fmp4": root / "frag.mp4",
        "mkv": root / "pipe.mkv",
    }
    return root, clip, forms


def total_bytes(path: Path) -> int:
    return (
        sum(p.stat().st_size for p in path.parent.iterdir())
        if path.suffix in (".m3u8", ".mpd")
        else (path.stat().st_size)
    )


@pytest.mark.parametrize("form", ["hls", "dash", "fmp4", "mkv"])
def test_one_frame_over_http_reads_a_few_segments(long_forms, tmp_path, form):
    root, clip, forms = long_forms
    path = forms[form]
    want = full_decode(clip)
    times = [15.5]
    with nginx_files(root, tmp_path) as server:
        url = f"{server.url}/{path.relative_to(root).as_posix()}"
        before = settled_bytes(server)
        with sf.open(url) as video:
            frames = video.frames_at(times)
            index = video.info.index
        sent = settled_bytes(server) - before
        statuses = {status for status, _, _ in server.requests()}
    check_frames(frames, want, times)
    assert index == ("scan" if form == "mkv" else "container")
    # The playlist or the index, the first segment's head (and HLS's last one's), and
    # the one segment holding the frame: a second of thirty, give or take a segment.
    # A file (fMP4, Matroska) is opened by FFmpeg first, which reads its head too.
    bound = 0.15 if form in ("hls", "dash") else 0.25
    assert sent < bound * total_bytes(path), (sent, total_bytes(path))
    assert statuses == {206}  # Range requests only, never a whole file


@pytest.mark.parametrize("form", ["hls", "dash", "fmp4"])
def test_probe_reads_the_index_and_a_segment_head_or_two(long_forms, tmp_path, form):
    root, clip, forms = long_forms
    path = forms[form]
    with nginx_files(root, tmp_path) as server:
        before, asked = settled_bytes(server), len(server.requests())
        info = sf.probe(f"{server.url}/{path.relative_to(root).as_posix()}")
        sent = settled_bytes(server) - before
        open_ended = [r for _, _, r in server.requests()[asked:] if r.endswith("-")]
    assert info.duration == pytest.approx(LONG_FRAMES / FPS, abs=2e-3) and info.index == "container"
    # The playlist (or mfra, or manifest), the first segment's head and, for HLS, the
    # last one's: under two of the thirty one-second segments. The fMP4 file is opened
    # by FFmpeg too, with the one request that asks for the rest of the file: what nginx
    # sends on it before FFmpeg hangs up is what the sockets take in meanwhile (0.6 to
    # 1.8 MB seen on loopback), so five segments bound it; stillframe's own reads ask
    # for bounded ranges.
    assert open_ended == (["bytes=0-"] if form == "fmp4" else [])
    assert sent < (5 if form == "fmp4" else 2) * total_bytes(path) / 30, (sent, total_bytes(path))


@pytest.mark.parametrize("form", ["hls", "fmp4"])
def test_many_frames_over_http_each_segment_once(long_forms, tmp_path, form):
    root, clip, forms = long_forms
    path = forms[form]
    want = full_decode(clip)
    times = [i * 3 + 0.4 for i in range(10)]
    with nginx_files(root, tmp_path) as server:
        url = f"{server.url}/{path.relative_to(root).as_posix()}"
        before = settled_bytes(server)
        with sf.open(url, workers=2) as video:
            frames = video.frames_at(times)
        sent = settled_bytes(server) - before
    check_frames(frames, want, times)
    # Ten of thirty segments, each read up to its frame (0.4 s of a second) at most once
    # (and the fMP4 file's head, which FFmpeg reads as it opens it, its connection
    # sent what the socket takes).
    assert sent < (0.4 if form == "hls" else 0.55) * total_bytes(path), (sent, total_bytes(path))


def test_hls_and_fmp4_from_an_object_store(long_forms):
    root, clip, forms = long_forms
    want = full_decode(clip)
    with s3_server("media") as (endpoint, s3):
        for p in [*forms["hls"].parent.iterdir(), forms["fmp4"]]:
            key = f"vod/{p.name}" if p.parent.name == "hls" else p.name
            s3.put_object(Bucket="media", Key=key, Body=p.read_bytes())  # type: ignore[attr-defined]
        options = {"key": "testing", "secret": "testing", "client_kwargs": {"endpoint_url": endpoint}}
        for url in ("s3://media/vod/index.m3u8", "s3://media/frag.mp4"):
            source = sf.RangeSource.from_url(url, **options)
            with sf.open(source) as video:
                assert video.info.index == "container", video.info.index_note
                check_frames(video.frames_at([7.25, 22.0]), want, [7.25, 22.0])
            whole = total_bytes(forms["hls" if url.endswith(".m3u8") else "fmp4"])
            assert 0 < source.bytes_read < 0.25 * whole, (source.bytes_read, whole)  # what the store sent, counted


def test_a_missing_segment_says_which_in_one_line(long_forms, tmp_path):
    root, _, forms = long_forms
    folder = tmp_path / "hls"
    folder.mkdir()
    for p in forms["hls"].parent.iterdir():
        if p.name != "s010.ts":
            (folder / p.name).write_bytes(p.read_bytes())
    with sf.open(str(folder / "index.m3u8")) as video:
        assert video.frame_at(3.0).time == pytest.approx(3.0)
        with pytest.raises(ResourceNotFound, match="s010.ts: no such file"):
            video.frame_at(10.5)


def test_a_moov_with_samples_and_fragments_too_is_scanned(stream_media, clip_frames, tmp_path):
    """`-movflags frag_keyframe` alone: the moov holds the first fragment's samples.
    Neither its sample table nor its fragments index the whole file: a scan, right."""
    folder = tmp_path / "files"
    folder.mkdir()
    path = folder / "frag-keyframe.mp4"
    ffmpeg("-i", str(stream_media.clip()), "-c", "copy", "-movflags", "frag_keyframe", str(path))
    with nginx_files(folder, tmp_path / "nginx") as server:
        for source in (str(path), f"{server.url}/{path.name}"):
            with sf.open(source) as video:
                assert video.info.index == "scan" and video.info.duration == pytest.approx(DURATION, abs=2e-3)
                check_frames(video.frames_at(TIMES), clip_frames, TIMES)
