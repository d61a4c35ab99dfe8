"""Device decoders kept for the life of the process, by codec, size and parameter
sets: handed out to one Video at a time, given back when it closes, reused by the
next request and the next Video, counted when opened. Run here with FFmpeg's
software h264 standing in for the device (the same lane, by name), so the pooling
is tested on any machine."""

from __future__ import annotations

import threading

import pytest

import stillframe as sf
from stillframe import _decoders, devices, testsrc
from stillframe._shared import DecoderKey, SharedDecoders
from stillframe.devices import Backend

STAND_IN = Backend("cpu", "decoder", "h264")
TIMES = [0.1, 1.1, 2.1, 3.1]  # four keyframe groups


@pytest.fixture
def shared(monkeypatch) -> SharedDecoders:
    """A fresh process pool, and "cuda" answered by the stand-in."""
    pool = SharedDecoders()
    monkeypatch.setattr(_decoders, "SHARED", pool)
    monkeypatch.setattr(devices, "select", lambda spec, codec: devices.Selection(STAND_IN))
    return pool


@pytest.fixture(scope="module")
def clip(clips):
    return clips("share-a.mp4", frames=120, size=(320, 240), gop=30, bframes=2)


def indices(frames):
    return [testsrc.read_index(f.to_ndarray("gray")) for f in frames]


def test_the_pool_hands_out_and_takes_back_by_key():
    pool = SharedDecoders(keep=3)
    a = DecoderKey(STAND_IN, False, "h264", 320, 240, "yuv420p", b"a")
    b = DecoderKey(STAND_IN, False, "h264", 640, 480, "yuv420p", b"a")
    made = []

    def make():
        made.append(object())
        return made[-1]

    class Flushable:
        def __init__(self, inner):
            self.inner = inner

        def flush_buffers(self):
            pass

    x, reused = pool.take(a, lambda: Flushable(make()))
    assert not reused and pool.opened[a] == 1 and pool.idle(a) == 0
    pool.give(a, x)
    y, reused = pool.take(a, lambda: Flushable(make()))
    assert reused and y is x and pool.opened[a] == 1
    z, reused = pool.take(b, lambda: Flushable(make()))  # another size: its own
    assert not reused and pool.opened[b] == 1
    for cc in (y, z, Flushable(None), Flushable(None)):
        pool.give(a, cc)
    assert pool.idle(a) == 3  # at most `keep` in all, the oldest dropped


def test_decoders_are_reused_across_requests_and_videos(shared, clip):
    want = indices(sf.open(clip).frames_at(TIMES))
    with sf.open(clip, device="cuda", workers=2) as v:
        assert v.decoding.hardware and v.decoding.decoder == "h264"
        key = v._decoders.key
        assert indices(v.frames_at(TIMES)) == want
        assert indices(v.frames_at(TIMES[::-1])) == want[::-1]
        opened = shared.opened[key]
        assert 1 <= opened <= 2  # two decoders at most, kept between requests
        assert all(d.cc is not d.stream.codec_context for d in v._decoders.hw.all)
    assert shared.idle(key) == opened  # given back when the video closed
    for _ in range(4):
        with sf.open(clip, device="cuda", workers=2) as v:
            assert indices(v.frames_at(TIMES)) == want
        assert shared.idle(key) == shared.opened[key]
    assert shared.opened[key] <= 2  # five videos, ten requests: never more than the two at once
    assert shared.proven(key)


def test_another_size_or_other_parameter_sets_get_decoders_of_their_own(shared, clip, clips):
    other_size = clips("share-b.mp4", frames=60, size=(256, 144), gop=30, bframes=2)
    other_sets = clips("share-c.mp4", frames=60, size=(320, 240), gop=30, bframes=0, options={"profile": "baseline"})
    keys = []
    for path in (clip, other_size, other_sets, clip):
        with sf.open(path, device="cuda", workers=1) as v:
            keys.append(v._decoders.key)
            assert indices(v.frames_at([0.5, 1.5])) == [15, 45]
    assert len({keys[0], keys[1], keys[2]}) == 3 and keys[3] == keys[0]
    assert keys[0].width == 320 and keys[1].width == 256 and keys[2].extradata != keys[0].extradata
    assert [shared.opened[k] for k in keys[:3]] == [1, 1, 1]


def test_videos_at_once_take_decoders_of_their_own(shared, clip):
    want = indices(sf.open(clip).frames_at(TIMES))
    got, errors = [], []
    start = threading.Barrier(3)

    def run():
        try:
            with sf.open(clip, device="cuda", workers=2) as v:
                start.wait()
                got.append(indices(v.frames_at(TIMES)))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and got == [want] * 3
    (key,) = shared.opened
    assert 3 <= shared.opened[key] <= 6 and shared.idle(key) == shared.opened[key]


def test_a_cuda_lane_takes_a_decoder_an_engine(shared, clip, monkeypatch):
    """On CUDA, as many groups in flight as the GPU has NVDEC engines (here named by
    the setting), and twice as many threads, half reading ahead on the CPU."""
    from stillframe._gpu import engines

    cuda = Backend("cuda", "hwaccel", "h264")
    real = _decoders.DecoderPool._open_device_decoder
    monkeypatch.setattr(devices, "select", lambda spec, codec: devices.Selection(cuda))
    monkeypatch.setattr(_decoders.DecoderPool, "_open_device_decoder", lambda self, b, key: real(self, STAND_IN, key))
    monkeypatch.setenv(engines.ENV, "7")
    engines.nvdec_engines.cache_clear()
    try:
        want = indices(sf.open(clip).frames_at(TIMES))
        with sf.open(clip, device="cuda") as v:
            assert v._decoders.hw.limit == 7 and v._decoders.most_lanes >= 14
            assert indices(v.frames_at(TIMES)) == want
            assert v.stats.workers == 4  # four groups asked for: four of the seven busy
        assert engines.nvdec_engines(0) == (7, f"{engines.ENV}=7")
    finally:
        engines.nvdec_engines.cache_clear()


def test_engines_are_read_off_the_name_where_the_driver_does_not_say():
    from stillframe._gpu.engines import by_name

    assert by_name("NVIDIA H200") == 7 and by_name("NVIDIA H100 80GB HBM3") == 7
    assert by_name("NVIDIA A100-SXM4-80GB") == 5 and by_name("NVIDIA A10") == 2
    assert by_name("NVIDIA L40S") == 3 and by_name("NVIDIA L4") == 4
    assert by_name("Some GPU") is None
