"""AV1 through libdav1d, which latches skip_frame when it opens: exact frames by
every rule, on parallel decoders and on decoders reused across requests, from
SVT-AV1 in MP4 (moov at the end) and libaom in WebM (alt-ref frames)."""

from __future__ import annotations

import numpy as np
import pytest

import stillframe as sf

from .codec_media import FRAMES
from .test_engine_exact import expected, probe_times, reference

AV1 = ["svt.mp4", "aom.webm"]


def check(frames, times, ref, snap: str) -> None:
    assert len(frames) == len(times)
    for t, f in zip(times, frames):
        want = expected(ref, t, snap)
        assert f.time == pytest.approx(want[0], abs=1e-6), (snap, t)
        assert np.array_equal(f.to_ndarray("gray"), want[1]), (snap, t)


def nearest_keys(ref, times):
    keys = [r for r in ref if r[2]]
    key_times = np.array([r[0] for r in keys])
    return [keys[int(np.argmin(np.abs(key_times - t)))] for t in times]


@pytest.mark.parametrize("index", ["auto", "scan"])
@pytest.mark.parametrize("workers", [None, 1, 2], ids=["default", "1-worker", "2-workers"])
@pytest.mark.parametrize("snap", ["displayed", "next"])
@pytest.mark.parametrize("clip", AV1)
def test_av1_frames_match_a_full_decode(codec_clips, clip, snap, workers, index):
    path = str(codec_clips(clip))
    ref = reference(path)
    assert len(ref) == FRAMES
    with sf.open(path, workers=workers, index=index) as video:
        assert video.decoding.decoder == "libdav1d"
        times = probe_times(ref, video.info.duration, seed=7) + [1.9999, 3.96]
        check(video.frames_at(times, snap=snap), times, ref, snap)


@pytest.mark.parametrize("clip", AV1)
def test_av1_decoders_reused_across_rules_stay_exact(codec_clips, clip):
    """Keyframes first, then exact frames, then a tolerance, then exact again, on
    the same Video (its decoders and containers kept between requests)."""
    path = str(codec_clips(clip))
    ref = reference(path)
    times = [0.5, 1.0, 1.5, 1.9999, 2.5, 3.2, 3.96]
    with sf.open(path) as video:
        intra = video.frames_at(times, frame_type="intra")
        for f, want in zip(intra, nearest_keys(ref, times)):
            assert f.is_keyframe and np.array_equal(f.to_ndarray("gray"), want[1])
        check(video.frames_at(times), times, ref, "displayed")
        for f in video.frames_at(times, tolerance=0.1):
            assert np.array_equal(f.to_ndarray("gray"), next(r[1] for r in ref if abs(r[0] - f.time) < 1e-6))
        check(video.frames_at(times[::-1], snap="next"), times[::-1], ref, "next")
        assert video.frames_at([3.9], frame_type="intra")[0].is_keyframe


@pytest.mark.parametrize("clip", AV1)
def test_av1_snapshot_every_frame_rate(codec_clips, clip, tmp_path):
    """A schedule over the whole clip (every group, on the default decoders)."""
    path = str(codec_clips(clip))
    ref = reference(path)
    with sf.open(path) as video:
        times = [i / 10 for i in range(int(video.info.duration * 10))]
        check(video.frames_at(times), times, ref, "displayed")
