"""Exactness: every frame the engine returns is the frame a plain sequential decode
of every frame says it should be, by both snap rules and in intra mode."""

from __future__ import annotations

import av
import numpy as np
import pytest

import stillframe as sf
from stillframe import testsrc

from .conftest import media

X265 = "keyint={g}:min-keyint={g}:scenecut=0:open-gop=1:bframes=4:log-level=error"
VP9 = {"auto-alt-ref": "1", "lag-in-frames": "16", "deadline": "good", "cpu-used": "8"}

# Matroska clusters of half a second, so the files carry cues to seek by.
CLUSTERS = {"cluster_time_limit": "500"}

# name -> make_video arguments
CLIPS = {
    "h264-bframes.mp4": dict(frames=150, gop=40, bframes=3),
    "vfr.mp4": dict(frames=90, fps=[(10, 20), (30, 40), (24, 30)], gop=25, bframes=2),
    "rotated.mp4": dict(frames=60, gop=20, bframes=2, rotation=90),
    "offset.ts": dict(frames=90, gop=30, bframes=2, start=10.0),
    "open-gop-hevc.mkv": dict(
        frames=120, codec="libx265", options={"x265-params": X265.format(g=30)}, container_options=CLUSTERS
    ),
    "vp9-altref.webm": dict(frames=90, codec="libvpx-vp9", gop=30, options=VP9, container_options=CLUSTERS),
    "gop600-60fps.mp4": dict(frames=700, fps=60, gop=600, bframes=3, size=(128, 96)),
    "mpeg2.ts": dict(frames=90, codec="mpeg2video", gop=15, bframes=2),
    "hevc-10bit.mkv": dict(
        frames=60,
        codec="libx265",
        pix_fmt="yuv420p10le",
        options={"x265-params": X265.format(g=20)},
        container_options=CLUSTERS,
    ),
}


def edit_list_clip(clips, root) -> str:
    """`ffmpeg -ss 1.3 -c copy` of a B-frame clip, done with PyAV: packets before the
    cut keep negative times, so the MP4 muxer writes an edit list."""
    src = clips("edit-src.mp4", frames=120, size=(256, 144), gop=30, bframes=3)
    out_path = root / "edit-list.mp4"
    if not out_path.exists():
        with av.open(str(src)) as inp, av.open(str(out_path), "w") as out:
            s = inp.streams.video[0]
            o = out.add_stream_from_template(s)
            cut = int(1.3 / s.time_base)
            inp.seek(cut, stream=s, backward=True)
            for p in inp.demux(s):
                if p.dts is None:
                    continue
                p.pts -= cut
                p.dts -= cut
                p.stream = o
                out.mux(p)
    return str(out_path)


@pytest.fixture(scope="module")
def clip(clips, tmp_path_factory):
    root = tmp_path_factory.mktemp("edit")

    def get(name: str) -> str:
        if name == "edit-list.mp4":
            return edit_list_clip(clips, root)
        kwargs = {"size": (256, 144), **CLIPS[name]}
        return str(clips(name, **kwargs))

    return get


def reference(path: str, stream: int | None = None):
    """Every frame by a plain sequential decode: (seconds from start, gray, key)."""
    with av.open(path) as c:
        s = c.streams.video[0] if stream is None else c.streams[stream]
        start = s.start_time or 0
        out = [
            (float((f.pts - start) * s.time_base), f.to_ndarray(format="gray"), bool(f.key_frame), f.rotation)
            for f in c.decode(s)
        ]
    out.sort(key=lambda r: r[0])
    return out


def expected(ref, t: float, snap: str):
    times = np.array([r[0] for r in ref])
    if snap == "displayed":
        i = int(np.searchsorted(times, t + 1e-6, side="right")) - 1
        return ref[max(i, 0)]
    i = int(np.searchsorted(times, t - 1e-6, side="left"))
    return ref[min(i, len(ref) - 1)]


def probe_times(ref, duration: float, seed: int) -> list[float]:
    rng = np.random.default_rng(seed)
    times = [r[0] for r in ref]
    picks = [0.0, times[-1], duration - 1e-3]
    for i in rng.choice(len(times), size=min(12, len(times)), replace=False):
        picks.append(times[i])  # exactly on a frame
        if i + 1 < len(times):
            picks.append((times[i] + times[i + 1]) / 2)  # between two frames
            picks.append(times[i + 1] - 1e-4)  # just before the next one
    picks += list(rng.uniform(0, duration - 1e-3, size=10))
    return [float(t) for t in picks if 0 <= t < duration]


def same_picture(ours: np.ndarray, theirs: np.ndarray, rotation: int, exact: bool) -> bool:
    k = (rotation // 90) % 4
    if k:
        theirs = np.rot90(theirs, k)
    if ours.shape != theirs.shape:
        return False
    if exact:
        return bool(np.array_equal(ours, theirs))
    return float(np.abs(ours.astype(int) - theirs).mean()) < 1.5 and testsrc.read_index(ours) == testsrc.read_index(
        theirs
    )


ALL = [*CLIPS, "edit-list.mp4"]


INDEX = pytest.mark.parametrize("index", ["auto", "scan"])


@INDEX
@pytest.mark.parametrize("workers", [1, 2], ids=["1-worker-frame-threads", "2-workers"])
@pytest.mark.parametrize("snap", ["displayed", "next"])
@pytest.mark.parametrize("name", ALL)
def test_exact_frames_match_a_full_decode(clip, name, snap, workers, index):
    path = clip(name)
    ref = reference(path)
    exact = "10bit" not in name
    with sf.open(path, workers=workers, index=index) as video:
        info = video.info
        times = probe_times(ref, info.duration, seed=len(name))
        frames = video.frames_at(times, snap=snap)
        assert len(frames) == len(times)
        for t, f in zip(times, frames):
            want = expected(ref, t, snap)
            assert f.requested_time == pytest.approx(t)
            assert f.time == pytest.approx(want[0], abs=1e-6), (name, snap, t)
            assert same_picture(f.to_ndarray("gray"), want[1], info.rotation, exact), (name, snap, t)
        # Decoding only what is needed: never more frames than a full decode.
        assert video.stats.frames_decoded <= len(ref) * 2


@INDEX
@pytest.mark.parametrize("name", ALL)
def test_intra_returns_the_nearest_keyframe(clip, name, index):
    path = clip(name)
    ref = reference(path)
    keys = [r for r in ref if r[2]]
    key_times = np.array([r[0] for r in keys])
    with sf.open(path, index=index) as video:
        times = probe_times(ref, video.info.duration, seed=3)
        frames = video.frames_at(times, frame_type="intra")
        for t, f in zip(times, frames):
            gaps = np.abs(key_times - t)
            best = keys[int(np.flatnonzero(gaps <= gaps.min() + 1e-6)[0])]  # ties: the earlier
            assert f.is_keyframe
            assert f.rule == "intra"
            assert f.time == pytest.approx(best[0], abs=1e-6), (name, t)
            assert same_picture(f.to_ndarray("gray"), best[1], video.info.rotation, "10bit" not in name)


def test_rotation_is_applied(clip):
    path = clip("rotated.mp4")
    info = sf.probe(path)
    assert (info.width, info.height, info.rotation) == (144, 256, 90)
    with sf.open(path) as video:
        f = video.frames_at([0.5])[0]
        assert (f.width, f.height) == (144, 256)
        assert f.to_ndarray("rgb24").shape == (256, 144, 3)
        assert f.to_ndarray("yuv420p").shape == (256 * 3 // 2, 144)


def test_start_offset_is_subtracted(clip):
    info = sf.probe(clip("offset.ts"))
    assert info.start_time == pytest.approx(10.0, abs=0.01)
    assert info.duration == pytest.approx(3.0, abs=0.05)
    assert info.keyframe_times[0] == pytest.approx(0.0)


def test_vfr_times_come_from_the_index(clip):
    info = sf.probe(clip("vfr.mp4"))
    assert info.frame_count == 90
    assert info.duration == pytest.approx(2 + 40 / 30 + 30 / 24, abs=0.05)
    with sf.open(clip("vfr.mp4")) as video:
        # 2.5 s is inside the 30 fps part: 20 frames at 10 fps, then 15 at 30 fps.
        f = video.frames_at([2.5])[0]
        assert testsrc.read_index(f.to_ndarray("gray")) == 35


def test_skipping_decodes_fewer_frames_than_a_seek_and_decode_loop(clip):
    path = clip("gop600-60fps.mp4")
    with sf.open(path, workers=1) as video:
        video.frames_at([9.0])  # a B-frame far into one 10 s GOP
        decoded = video.stats.frames_decoded
    # A plain loop decodes all 541 frames from the keyframe; non-reference B-frames
    # that are not the target are skipped here.
    assert decoded < 300


# ---- the real-world media --------------------------------------------------------------


@INDEX
def test_nasa_reference_frames_by_index(index):
    path = media("nasa_13013.mp4")
    refs = np.load(media("nasa_13013_reference_rgb.npz"))
    import json

    info_json = json.loads(media("nasa_13013.mp4.stream3.all_frames_info.json").read_text())
    times = [float(f["pts_time"]) for f in info_json]
    keys = sorted(k for k in refs.files if k.startswith("stream3.frame"))
    wanted = [int(k.split("frame")[1]) for k in keys]
    with sf.open(path, index=index) as video:
        assert video.info.stream_index == 3
        assert video.info.frame_count == 390
        frames = video.frames_at([times[i] for i in wanted])
        for k, i, f in zip(keys, wanted, frames):
            assert f.time == pytest.approx(times[i], abs=1e-5)
            assert np.array_equal(f.to_ndarray("rgb24"), refs[k]), k


@INDEX
def test_nasa_reference_frames_by_time_next_rule(index):
    refs = np.load(media("nasa_13013_reference_rgb.npz"))
    keys = [k for k in refs.files if k.startswith("time")]
    assert keys
    with sf.open(media("nasa_13013.mp4"), index=index) as video:
        times = [float(k[len("time") :]) for k in keys]
        for k, f in zip(keys, video.frames_at(times, snap="next")):
            assert np.array_equal(f.to_ndarray("rgb24"), refs[k]), k
        f = video.frames_at([6.1], snap="next")[0]
        assert f.time == pytest.approx(6.1061, abs=1e-4)


@INDEX
@pytest.mark.parametrize(
    "name", ["h265_video.mp4", "av1_video.mkv", "h264_10bits.mp4", "h265_10bits.mp4", "bt709_full_range.mp4"]
)
def test_shared_media_match_full_decode(name, index):
    path = str(media(name))
    ref = reference(path)
    with sf.open(path, index=index) as video:
        times = probe_times(ref, video.info.duration, seed=7)
        for snap in ("displayed", "next"):
            for t, f in zip(times, video.frames_at(times, snap=snap)):
                want = expected(ref, t, snap)
                assert f.time == pytest.approx(want[0], abs=1e-6)
                ours = f.to_ndarray("gray")
                if "10bits" in name:
                    assert np.abs(ours.astype(int) - want[1]).mean() < 1.5
                else:
                    assert np.array_equal(ours, want[1]), (name, t)


def test_av1_without_header_duration_gets_one_from_the_index():
    info = sf.probe(media("av1_video.mkv"))
    assert info.frame_count > 0
    assert info.duration > 0
