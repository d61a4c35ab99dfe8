"""Choices made from what a request is: CPU decoders and their frame threads sized to
the keyframe groups a request needs (right on 2 cores and on 16), and `auto`
choosing the device or the CPU by estimated cost, from what this machine was
measured to do (measured once, kept on disk). Without a GPU, `auto` is the CPU at
no extra cost."""

from __future__ import annotations

import json

import pytest

import stillframe as sf
from stillframe import _calibration, _cost, _decoders, devices, testsrc
from stillframe._cost import Costs, Job, choose, cpu_lanes, cpu_seconds, device_seconds
from stillframe.devices import Backend

HD = 1920 * 1080
SMALL = 480 * 270

# The H200 machine of the figures (16 cores): one decoder thread ~140 fps of 1080p
# H.264, frame threads scaling as t ** 0.7, NVDEC 586 fps on one decoder and
# 1,604 on seven side by side, 0.34 s for the first decoder, 0.13 s each further.
H200 = Costs(
    cores=16,
    cpu_pps=140 * HD,
    cpu_gain=0.7,
    cpu_seek=0.004,
    cpu_picture=0.004,
    device="h264 (cuda)",
    dev_pps=586 * HD,
    dev_gain=0.52,
    engines=7,
    dev_open=0.34,
    dev_open_more=0.13,
    dev_seek=0.002,
    dev_picture=0.0005,
)
# What the device must do for it to pay: seven decoders at 771 fps each, NVIDIA's figure.
FAST_DEVICE = Costs(**{**H200.to_dict(), "dev_pps": 771 * HD, "dev_gain": 1.0})


def job(groups: int, per_group: float, targets: int, *, intra: bool = False, out: int = SMALL) -> Job:
    return Job.of([per_group] * groups, targets, HD, out, intra)


# -- CPU decoders for a request ----------------------------------------------------------


@pytest.mark.parametrize(
    "groups, cores, want",
    [
        (1, 2, (1, 2)),  # one frame: one decoder, frame threads on every core
        (8, 2, (2, 1)),
        (30, 2, (2, 1)),
        (1, 16, (1, 16)),
        (8, 16, (8, 2)),  # the 60 s clip's 30 targets: 8 groups; 16 decoders left 8 idle
        (2, 16, (2, 8)),
        (30, 16, (16, 1)),
        (5, 16, (5, 3)),
    ],
)
def test_cpu_decoders_follow_the_groups(groups, cores, want):
    assert cpu_lanes(groups, cores) == want


def test_named_workers_share_the_cores():
    assert cpu_lanes(8, 16, workers=4) == (4, 4) and cpu_lanes(1, 16, workers=16) == (16, 1)


def test_the_estimates_bend_where_the_measured_curve_does():
    """30 exact targets on the 60 s clip (8 groups of up to 250 frames): on 16 cores
    the estimate is lowest with a decoder a group, as measured (1.42 s with one
    worker, 0.85 with 8, 1.56 with 16)."""
    j = job(8, 225, 30)
    times = {w: cpu_seconds(j, H200, workers=w) for w in (1, 2, 4, 8, 16)}
    assert min(times, key=times.get) == 8
    assert times[16] > 1.5 * times[8] and times[1] > 1.5 * times[8]
    assert cpu_seconds(j, H200) == times[8]  # the default


def test_a_job_describes_itself():
    j = Job.of([10, 250, 40], 12, HD, SMALL)
    assert (j.groups, j.frames, j.largest, j.targets) == (3, 300, 250, 12)
    assert j.describe() == "12 frames in 3 keyframe groups, about 300 frames to decode"
    assert "keyframes" in job(8, 1, 8, intra=True).describe()


# -- auto's choice -----------------------------------------------------------------------------


def test_auto_keeps_one_frame_and_keyframes_on_the_cpu():
    one = choose(job(1, 200, 1, out=HD), H200)
    assert not one.device and one.cpu < one.dev
    assert one.reason.startswith("auto chose the CPU (1 decoder x 16 threads):")
    assert "1 frame in 1 keyframe group" in one.reason and "on h264 (cuda)" in one.reason
    keys = choose(job(8, 1, 8, intra=True), H200)
    assert not keys.device  # eight keyframes: opening the device costs more than decoding them
    warm = choose(job(8, 1, 8, intra=True), H200, warm=7)
    assert warm.dev < keys.dev


def test_auto_takes_the_device_for_dense_work_only_when_it_pays():
    dense = job(8, 230, 120)
    assert not choose(dense, H200).device  # NVDEC as measured so far: slower than 16 cores
    fast = choose(dense, FAST_DEVICE, warm=7)
    assert fast.device and fast.dev <= _cost.MARGIN * fast.cpu
    assert fast.reason.startswith("auto chose h264 (cuda):") and "7 decoders open" in fast.reason
    # Many videos: the pool is warm after the first, so the opening is paid once.
    assert device_seconds(dense, FAST_DEVICE, warm=7) < device_seconds(dense, FAST_DEVICE, warm=0)


def test_without_a_device_nothing_is_chosen_but_the_cpu():
    cpu_only = Costs(cores=2, cpu_pps=100 * HD, cpu_gain=0.8, cpu_seek=0.004, cpu_picture=0.004)
    c = choose(job(8, 230, 120), cpu_only)
    assert not c.device and c.dev == float("inf") and "no device" in c.reason


# -- auto on this machine ------------------------------------------------------------------


@pytest.fixture(scope="module")
def clip(clips):
    return clips("auto.mp4", frames=150, size=(320, 240), gop=30, bframes=2)


def test_auto_without_a_device_is_the_cpu_at_no_extra_cost(clip, monkeypatch, tmp_path):
    """No device here (or none that works): auto measures nothing, opens nothing on a
    device, and decodes exactly as "cpu" does, with the same decoders."""
    if devices.select(devices.DeviceSpec("auto"), "h264").backend is not None:
        pytest.skip("a device works here: auto weighs it (see test_gpu.py)")
    monkeypatch.setenv("STILLFRAME_CACHE_DIR", str(tmp_path))

    def never(*args):
        raise AssertionError("auto measured a device that is not there")

    monkeypatch.setattr(_calibration, "costs", never)
    monkeypatch.setattr(_decoders.DecoderPool, "_start_device", never)
    times = [0.2, 1.3, 2.4, 3.5, 4.6]
    runs = {}
    for device in ("cpu", "auto"):
        out = tmp_path / device
        runs[device] = sf.snapshot(clip, times, out / "{Count}.jpg", device=device, width=160)
    cpu, auto = runs["cpu"], runs["auto"]
    assert [s.pts for s in auto.frames] == [s.pts for s in cpu.frames]
    assert [(tmp_path / "auto" / f"{i:05d}.jpg").read_bytes() for i in range(1, 6)] == [
        (tmp_path / "cpu" / f"{i:05d}.jpg").read_bytes() for i in range(1, 6)
    ]
    for key in ("frames_decoded", "packets_sent", "workers", "regions", "seeks"):
        assert auto.stats[key] == cpu.stats[key], key
    assert auto.decoding["device"] == "auto" and not auto.decoding["hardware"]
    assert auto.decoding["fallback"] == sf.hardware().auto_reason
    assert not list(tmp_path.glob("costs-*.json"))


def test_a_request_sizes_the_cpu_decoders(clip, monkeypatch):
    """On a 16-core machine (as the pool sees it), five groups run on five decoders
    of three frame threads each; one frame on one decoder of sixteen."""
    monkeypatch.setattr(_decoders, "cpu_count", lambda: 16)
    with sf.open(clip) as v:
        v.frames_at([0.1, 1.1, 2.1, 3.1, 4.1])
        assert v.stats.workers == 5 and v._decoders.threads == 3
        assert all(d.cc.thread_count == 3 for d in v._decoders.cpu.all[1:])
        v.frames_at([2.5])
        assert v.stats.workers == 1 and v._decoders.threads == 16
    with sf.open(clip, workers=4) as v:  # named: as named
        v.frames_at([0.1, 1.1, 2.1, 3.1, 4.1])
        assert v.stats.workers == 4


def test_the_first_decoder_does_not_outnumber_the_cores_beside_others(clip, monkeypatch):
    """The decoder the video was opened with has every core as frame threads (a
    one-frame request runs on it alone). A request of several groups runs decoders
    of one thread a core and leaves it idle, not run beside them (on 2 cores, 3
    threads decoding, which made a 100-frame sprite job 8 % slower); the next
    one-frame request runs on it again."""
    from stillframe import decode, video

    monkeypatch.setattr(_decoders, "cpu_count", lambda: 2)
    monkeypatch.setattr(video, "cpu_count", lambda: 2)
    ran: list[int] = []
    run = decode.GroupDecoder.run

    def recorded(self, *args, **kwargs):
        ran.append(self.cc.thread_count)
        return run(self, *args, **kwargs)

    monkeypatch.setattr(decode.GroupDecoder, "run", recorded)
    times = [0.1, 1.1, 2.1, 3.1, 4.1]
    with sf.open(clip) as v:
        assert [d.cc.thread_count for d in v._decoders.cpu.all] == [2]
        several = v.frames_at(times)
        assert v.stats.workers == 2
        assert ran == [1] * len(times)
        ran.clear()
        opened = len(v._decoders.cpu.all)
        again = v.frames_at([2.5])  # one frame: on the decoder with every core, none opened for it
        assert ran == [2] and len(v._decoders.cpu.all) == opened
    with sf.open(clip, workers=1) as plain:
        want = plain.frames_at([*times, 2.5])
    assert [f.pts for f in [*several, *again]] == [f.pts for f in want]
    for got, ref in zip([*several, *again], want):
        assert (got.to_ndarray() == ref.to_ndarray()).all()


def test_the_job_is_read_off_the_plan(clip):
    """Groups and frames to decode as the index plans them, for both kinds of index."""
    from stillframe._frames import FrameRun, windows

    for index in ("auto", "scan"):
        with sf.open(clip, index=index) as v:
            options = sf.FrameOptions(width=160)
            run = FrameRun(v._index, v._decoders, options, v.geometry(width=160), None)
            units = v._index.plan(next(windows([0.2, 0.9, 2.1], v.check_times, False)), options, v._decoders.borrow)
            j = run.job(units)
            assert (j.groups, j.targets, j.pixels, j.out_pixels) == (2, 3, 320 * 240, 160 * 120), index
            # frames 6 and 27 from keyframe 0, frame 63 from keyframe 60: about 28 + 4
            assert 20 <= j.frames <= 45 and 20 <= j.largest <= 35, (index, j)
            keys = sf.FrameOptions(frame_type="intra")
            run = FrameRun(v._index, v._decoders, keys, v.geometry(), None)
            intra = run.job(v._index.plan([(0, 0.2), (1, 2.1)], keys, v._decoders.borrow))
            assert intra.intra and intra.groups == 2 and intra.frames == 2, (index, intra)


# -- measuring this machine once ----------------------------------------------------------


def test_the_machine_is_measured_once_and_kept(monkeypatch, tmp_path):
    """Measured with FFmpeg's software h264 standing in for the device: the numbers
    are kept in the cache folder under this machine's key and read back, not measured
    again; another device (another key) is measured on its own."""
    monkeypatch.setenv("STILLFRAME_CACHE_DIR", str(tmp_path))
    _calibration.forget()
    stand_in = Backend("cpu", "decoder", "h264")
    costs, why = _calibration.costs(stand_in, False)
    assert why is None and costs.device == "h264" and costs.cores >= 1
    for name in ("cpu_pps", "cpu_seek", "cpu_picture", "dev_pps", "dev_open", "dev_seek", "dev_picture"):
        assert getattr(costs, name) > 0, name
    assert 0.2 <= costs.cpu_gain <= 1 and 0.2 <= costs.dev_gain <= 1
    (kept,) = tmp_path.glob("costs-*.json")
    data = json.loads(kept.read_text())
    assert data["machine"]["backend"] == "h264" and data["machine"]["cores"] == costs.cores

    def never(*args):
        raise AssertionError("measured again")

    monkeypatch.setattr(_calibration, "measure", never)
    _calibration.forget()
    assert _calibration.costs(stand_in, False) == (costs, None)  # from the file
    with pytest.raises(AssertionError, match="measured again"):
        _calibration.costs(Backend("cpu", "decoder", "h264", "1"), False)  # another device
    _calibration.forget()


def test_auto_with_a_measured_device_chooses_per_request(clip, monkeypatch, tmp_path):
    """auto with a device to weigh (the stand-in, measured here): each request is
    chosen by the estimates, `decoding.reason` says which and why, the frames are
    right either way, and a choice of the device sets its lane up then."""
    monkeypatch.setenv("STILLFRAME_CACHE_DIR", str(tmp_path))
    stand_in = Backend("cpu", "decoder", "h264")
    monkeypatch.setattr(devices, "select", lambda spec, codec: devices.Selection(stand_in))
    choices = iter([False, True])
    seen = []

    def scripted(job, costs, warm=0):
        seen.append(job)
        device = next(choices)
        return _cost.Choice(device, 1.0, 0.5 if device else 2.0, f"scripted {device}")

    monkeypatch.setattr(_cost, "choose", scripted)
    _calibration.forget()
    want = {}
    with sf.open(clip) as v:
        for t in ([2.5], [0.2, 1.3, 2.4, 3.5]):
            want[len(t)] = [testsrc.read_index(f.to_ndarray("gray")) for f in v.frames_at(t)]
    with sf.open(clip, device="auto") as v:
        assert v.decoding.reason == "chosen for each request by cost" and v._decoders.hw is None
        one = v.frames_at([2.5])
        assert v.decoding.reason == "scripted False" and not v.decoding.hardware and v._decoders.hw is None
        many = v.frames_at([0.2, 1.3, 2.4, 3.5])
        assert v.decoding.reason == "scripted True" and v.decoding.hardware and v._decoders.hw is not None
    assert [testsrc.read_index(f.to_ndarray("gray")) for f in one] == want[1]
    assert [testsrc.read_index(f.to_ndarray("gray")) for f in many] == want[4]
    assert [j.groups for j in seen] == [1, 4]
    _calibration.forget()


def test_hw_measure_says_what_auto_weighs(capsys, monkeypatch, tmp_path):
    from pathlib import Path

    from stillframe import cli

    monkeypatch.setenv("STILLFRAME_CACHE_DIR", str(tmp_path))
    _calibration.forget()
    assert cli.main(["hw", "--measure"]) == 0
    out = json.loads(capsys.readouterr().out)
    if out["device"] is None:
        assert out["why"] == sf.hardware().auto_reason
    # With a device to weigh (the stand-in): measured, printed and kept.
    monkeypatch.setattr(devices, "select", lambda spec, codec: devices.Selection(Backend("cpu", "decoder", "h264")))
    _calibration.forget()
    assert cli.main(["hw", "--measure"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["device"] == "h264" and out["why"] is None and out["costs"]["dev_pps"] > 0
    assert Path(out["kept_in"]).parent == tmp_path and Path(out["kept_in"]).exists()
    _calibration.forget()
