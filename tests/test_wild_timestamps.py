"""One wild timestamp (damage, not time) sets neither the duration nor the end:
in MPEG-TS (a PES header's PTS or DTS), MP4 (a ctts offset) and Matroska (a
block's or a cluster's timecode), read through the container's index and by a
scan, the duration is the stream's, the frames are the stream's own and an
interval schedule takes the snapshots the real timeline holds."""

from __future__ import annotations

import random
from fractions import Fraction

import av
import numpy as np
import pytest

import stillframe as sf
from stillframe._index import damaged_times
from stillframe.sampling import Interval

from .timestamp_damage import wild_mkv, wild_mp4, wild_ts

CLIPS = {
    "h264.ts": dict(frames=150, gop=30, bframes=2, start=10.0),
    "mpeg2.ts": dict(frames=150, gop=12, bframes=2, codec="mpeg2video"),
    "h264.mp4": dict(frames=150, gop=30, bframes=2),
    "h264.mkv": dict(frames=150, gop=30, bframes=2, container_options={"cluster_time_limit": "500"}),
}
DAMAGE = {
    "ts": lambda data, rng: wild_ts(data, rng),
    "mp4": lambda data, rng: wild_mp4(data, rng),
    "mkv-block": lambda data, rng: wild_mkv(data, rng),
    "mkv-cluster": lambda data, rng: wild_mkv(data, rng, cluster=True),
}
CASES = [
    ("h264.ts", "ts"),
    ("mpeg2.ts", "ts"),
    ("h264.mp4", "mp4"),
    ("h264.mkv", "mkv-block"),
    ("h264.mkv", "mkv-cluster"),
]


@pytest.fixture(scope="module")
def damaged(clips, tmp_path_factory):
    root = tmp_path_factory.mktemp("wild")

    def make(name: str, damage: str, seed: int):
        src = clips(f"wild-{name}", size=(128, 72), **CLIPS[name])
        data, what = DAMAGE[damage](src.read_bytes(), random.Random(seed))
        assert what is not None
        path = root / f"{damage}-{seed}-{name}"
        path.write_bytes(data)
        return src, path

    return make


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("name,damage", CASES)
def test_a_wild_timestamp_sets_neither_duration_nor_frames(damaged, name, damage, seed, tmp_path):
    src, path = damaged(name, damage, seed)
    with av.open(str(src)) as c:
        ref = {f.pts: f.to_ndarray(format="gray") for f in c.decode(video=0)}
    want = sf.probe(src).duration
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        stamps = [t for p in c.demux(s) if p.size for t in (p.pts, p.dts) if t is not None]
        assert (max(stamps) - min(stamps)) * s.time_base > want + 10  # the damage is there
    for index in ("auto", "scan"):
        with sf.open(path, index=index) as video:
            assert video.info.duration == pytest.approx(want, abs=0.05), index
            times = [x * 0.25 for x in range(int(want * 4))]
            for t, f in zip(times, video.frames_at(times)):
                assert f.pts in ref and np.array_equal(f.to_ndarray("gray"), ref[f.pts]), (index, t)
                # The frame on screen then, or, where the damage hid the frames (a cluster's
                # half second), the last one before them.
                assert t - 0.6 < f.time <= t + 1e-6, (index, t)
    result = sf.snapshot(path, Interval(1), tmp_path / "{Count}.jpg")
    assert result.count == int(want)


def test_the_issue_case_mpeg2_ts_with_one_damaged_pes(damaged):
    """A 5 s MPEG-2 TS whose one PES timestamp has a high bit flipped: hours, not seconds."""
    src, path = damaged("mpeg2.ts", "ts", 7)
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        spread = (max(p.pts for p in c.demux(s) if p.size) - s.start_time) * float(s.time_base)
    assert spread > 3600
    assert sf.probe(path).duration == pytest.approx(sf.probe(src).duration, abs=0.05)


def frames(n: int, step: int = 3000) -> np.ndarray:
    return np.arange(n, dtype=np.int64) * step


def test_damaged_times_tell_damage_from_time():
    tb = Fraction(1, 90000)
    dts = frames(200)
    # One packet hours away and back: not shown.
    pts = dts.copy()
    pts[50] = dts[50] + 2**32
    bad_dts = dts.copy()
    bad_dts[50] = pts[50]
    hidden, _ = damaged_times(pts, bad_dts, tb)
    assert hidden.tolist() == [i == 50 for i in range(200)]
    # Only the decode time damaged: the frame kept, its decode time mended.
    wrong = dts.copy()
    wrong[80] -= 2**31
    hidden, mended = damaged_times(dts, wrong, tb)
    assert not hidden.any() and mended[79] < mended[80] < mended[81]
    # A reset (the clock starts again and stays) and a pause (a minute with no frames) are time.
    reset = np.concatenate([frames(100), 10**9 + frames(100)])
    assert not damaged_times(reset, reset, tb)[0].any()
    pause = np.concatenate([frames(100), 60 * 90000 + frames(100)])
    assert not damaged_times(pause, pause, tb)[0].any()
    # A short run at the start far from the rest of the stream: damage.
    head = frames(200)
    head[:3] += 5 * 3600 * 90000
    assert damaged_times(head, head, tb)[0].tolist() == [i < 3 for i in range(200)]
