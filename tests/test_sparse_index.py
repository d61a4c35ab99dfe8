"""The container's sample table: the same frames as a full scan, which way each
file is read, and what a request costs in bytes over a Range-serving server."""

from __future__ import annotations

import json
import math
import pickle
import shutil
import subprocess

import av
import numpy as np
import pytest
from PIL import Image

import stillframe as sf
from stillframe import testsrc

from . import livesrc
from .test_engine_exact import ALL, clip, probe_times, reference  # noqa: F401 (clip: a fixture)


def _frames(path: str, index: str, times, **options):
    with sf.open(path, index=index) as video:
        frames = video.frames_at(times, **options)
        return [(f.time, f.pts, f.is_keyframe, f.to_ndarray("gray")) for f in frames], video.info, video.stats


@pytest.mark.parametrize("name", ALL)
def test_sample_table_and_scan_give_identical_frames(clip, name):  # noqa: F811 (the fixture)
    path = clip(name)
    ref = reference(path)
    duration = sf.probe(path).duration
    times = probe_times(ref, duration, seed=11)
    for options in ({"snap": "displayed"}, {"snap": "next"}, {"frame_type": "intra"}):
        table, info, stats = _frames(path, "auto", times, **options)
        scan, scan_info, _ = _frames(path, "scan", times, **options)
        for a, b in zip(table, scan):
            assert a[:3] == b[:3], (name, options)
            assert np.array_equal(a[3], b[3]), (name, options)
        ts = name.endswith(".ts")
        assert info.index == ("scan" if ts else "container"), info.index_note
        assert scan_info.index == "scan" and scan_info.index_note == "asked"
        if ts:
            assert "mpegts carries no index of its own" in info.index_note
        # Whole-file facts agree too, keyframe times (and Matroska frame counts) read lazily.
        assert info.frame_count == scan_info.frame_count
        assert info.duration == pytest.approx(scan_info.duration, abs=1e-9)
        assert list(info.keyframe_times) == pytest.approx(list(scan_info.keyframe_times), abs=1e-9)


def test_info_from_the_index_works_out_the_rest_when_read(clips):
    path = str(clips("long-gops.mp4", frames=900, size=(256, 144), gop=60, bframes=3))
    info = sf.probe(path)  # the video is closed: what is left is read on a container of its own
    assert object.__getattribute__(info, "keyframe_times").__class__.__name__ == "Deferred"
    assert "keyframe_times=<not read yet>" not in repr(info)  # repr reads it
    assert info.keyframe_times == pytest.approx([k * 2.0 for k in range(15)])
    again = pickle.loads(pickle.dumps(sf.probe(path)))
    assert again == info and again.to_dict() == info.to_dict()
    assert json.loads(json.dumps(info.to_dict()))["keyframe_times"][1] == pytest.approx(2.0)


def test_sparse_request_reads_a_region_not_the_file(clips):
    path = str(clips("long-gops.mp4", frames=900, size=(256, 144), gop=60, bframes=3))
    with sf.open(path) as video:
        assert video.info.index == "container"
        f = video.frames_at([17.3])[0]
        assert testsrc.read_index(f.to_ndarray("gray")) == int(17.3 * 30)
        assert video.stats.index == "container" and video.stats.regions == 1
        total = sum(p.size for p in av.open(path).demux(video=0) if p.size)
        assert video.stats.bytes_demuxed < total / 10
        # Dense work falls back to one scan of every packet.
        video.frames_at(list(np.arange(0, 29.9, 0.5)))
        assert video.stats.index == "scan"


def test_region_reading_follows_frames_into_the_previous_gop(clips):
    # Just before a keyframe is shown (dts <= t < pts): the answer is in the GOP before.
    path = str(clips("gop-edge.mp4", frames=120, size=(256, 144), gop=30, bframes=3))
    ref = reference(path)
    key_times = [r[0] for r in ref if r[2]]
    times = [k - 1e-3 for k in key_times[1:]] + [k - 1 / 30 - 1e-3 for k in key_times[1:]]
    for snap in ("displayed", "next"):
        table, _, _ = _frames(path, "auto", times, snap=snap)
        scan, _, _ = _frames(path, "scan", times, snap=snap)
        assert [a[:3] for a in table] == [b[:3] for b in scan]


# ---- over HTTP: nginx on loopback, bytes counted from its access log -------------------


@pytest.fixture(scope="module")
def long_mp4(tmp_path_factory):
    """A long MP4 at a camera's bitrate, made by stream copy (as the benchmark's long
    files are): 12 copies of a 10 s 640x360 clip, about 500 MB, faststart."""
    root = tmp_path_factory.mktemp("long")
    frames, copies = 300, 12
    part = testsrc.make_video(
        root / "part.mp4",
        frames=frames,
        size=(640, 360),
        gop=60,
        bframes=3,
        grain=True,
        options={"crf": "10", "preset": "ultrafast"},
    )
    path = testsrc.repeat(part, root / "long.mp4", copies)
    part.unlink()
    return path, frames, copies


@pytest.fixture(scope="module")
def nginx(long_mp4, tmp_path_factory):
    if livesrc.nginx_binary() is None:  # .ci/run installs it
        pytest.skip("nginx is not installed (Debian: apt-get install nginx)")
    with livesrc.http_server(long_mp4[0].parent, tmp_path_factory.mktemp("nginx")) as server:
        yield server


def test_one_frame_over_http_reads_about_what_ffmpeg_reads(long_mp4, nginx, tmp_path):
    path, frames, copies = long_mp4
    url = f"{nginx.url}/{path.name}"
    size = path.stat().st_size
    # Half-way through a GOP past the middle (51.7 % of this file is one frame after a
    # keyframe, where ffmpeg reads next to nothing and the comparison says little).
    t = (frames * copies // 2 // 60 * 60 + 30) / 30
    before = nginx.bytes_sent()
    info = sf.probe(url)
    probed = nginx.bytes_sent() - before
    assert info.index == "container" and info.frame_count == frames * copies
    assert probed < size / 100, f"probe read {probed} of {size} bytes"
    assert all(status in (200, 206) for status, _, _ in nginx.requests())

    before = nginx.bytes_sent()
    result = sf.snapshot(url, [t], tmp_path / "one.jpg", width=480)
    ours = nginx.bytes_sent() - before
    assert result.count == 1 and result.stats["index"] == "container"
    assert result.frames[0].time == pytest.approx(math.floor(t * 30) / 30)
    picture = np.asarray(Image.open(result.files[0]).convert("L"))
    assert testsrc.read_index(picture) == math.floor(t * 30) % frames

    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        # Without the CLI the bound is the file: a region, not the whole object.
        assert ours < size / 20
        return
    before = nginx.bytes_sent()
    subprocess.run(
        [
            ffmpeg,
            "-nostdin",
            "-loglevel",
            "error",
            "-y",
            "-ss",
            f"{t}",
            "-i",
            url,
            "-frames:v",
            "1",
            "-vf",
            "scale=480:-2",
            str(tmp_path / "ff.jpg"),
        ],
        check=True,
    )
    theirs = nginx.bytes_sent() - before
    assert ours < 3 * theirs, (ours, theirs)


def test_object_store_input_is_read_by_range(long_mp4, tmp_path):
    """A job whose input is an S3 object (moto's server on loopback) fetches the
    byte ranges its frame needs, not the object, and says how many bytes."""
    from stillframe.jobs import JobService

    from .servers import s3_server

    path, frames, copies = long_mp4
    size = path.stat().st_size
    t = 0.517 * frames * copies / 30
    with s3_server("media") as (endpoint, s3):
        s3.upload_file(str(path), "media", "in/long.mp4")
        options = {"endpoint_url": endpoint, "key": "testing", "secret": "testing"}
        with JobService(tmp_path / "j.db", workers=1, storage_options=options) as svc:
            job = svc.submit_snapshot_job(
                "s3://media/in/long.mp4",
                str(tmp_path / "out/{Count}.jpg"),
                {"Time": int(t * 1000), "Num": 1, "FrameType": "normal", "Width": 480},
            )
            done = svc.wait(job.id, timeout=120)
        assert done.status == "Success", done.message
        assert done.result["index"] == "container"
        assert 0 < done.result["bytes_read"] < size / 50, (done.result["bytes_read"], size)
        assert done.result["times"] == [pytest.approx(math.floor(t * 30) / 30)]
        picture = np.asarray(Image.open(done.result["files"][0]).convert("L"))
        assert testsrc.read_index(picture) == math.floor(t * 30) % frames

        # The same in the engine: several regions on two decoders, each with its own reader.
        source = sf.RangeSource.from_url(
            "s3://media/in/long.mp4", key="testing", secret="testing", client_kwargs={"endpoint_url": endpoint}
        )
        times = [t, t + 20.0, t - 30.0]
        with sf.open(source, workers=2) as video:
            got = video.frames_at(times)
            assert video.workers == 2 and video.stats.regions == 3
        assert [testsrc.read_index(f.to_ndarray("gray")) for f in got] == [math.floor(x * 30) % frames for x in times]
        assert 0 < source.bytes_read < size / 20, (source.bytes_read, size)


def test_one_snapshot_runs_one_decoder_on_every_core(clips, tmp_path):
    from stillframe._native import cpu_count

    path = str(clips("long-gops.mp4", frames=900, size=(256, 144), gop=60, bframes=3))
    one = sf.snapshot(path, [17.3], tmp_path / "a.jpg")
    assert one.stats["workers"] == 1 and one.stats["regions"] == 1
    assert sf.snapshot(path, {"Time": 17300, "Num": 1}, tmp_path / "b.jpg").stats["workers"] == 1
    many = sf.snapshot(path, [1.0, 17.3], tmp_path / "c/{Count}.jpg")
    assert many.stats["workers"] == min(cpu_count(), 2) and many.stats["regions"] == 2  # a decoder a group
