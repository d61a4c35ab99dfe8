"""Hardware decoding: device names, the capability report, `auto` and explicit
devices on this machine (with or without a GPU), the fallback path, and the
dedicated-decoder plumbing."""

from __future__ import annotations

import json

import av
import numpy as np
import pytest

import stillframe as sf
from stillframe import _calibration, cli, devices, testsrc
from stillframe._workers import Pool
from stillframe.devices import Backend, DeviceSpec, parse_device
from stillframe.jobs.config import SnapshotConfig, config_from

REPORT = sf.hardware()
USABLE = REPORT.usable()
UNUSABLE = [k for k in devices.KINDS if k not in USABLE]
TIMES = [0.0, 0.5, 1.7, 2.9, 3.3]


@pytest.fixture(scope="module")
def clip(clips):
    return clips("hw-h264.mp4", frames=120, size=(320, 240), gop=30, bframes=2)


def cpu_indices(clip, times):
    with sf.open(clip) as v:
        return [testsrc.read_index(f.to_ndarray("gray")) for f in v.frames_at(times)]


@pytest.mark.parametrize(
    "text, kind, device",
    [
        (None, "cpu", None),
        ("cpu", "cpu", None),
        (" AUTO ", "auto", None),
        ("cuda", "cuda", None),
        ("cuda:1", "cuda", "1"),
        ("vaapi:/dev/dri/renderD129", "vaapi", "/dev/dri/renderD129"),
        ("qsv", "qsv", None),
        ("videotoolbox", "videotoolbox", None),
        ("d3d11va", "d3d11va", None),
    ],
)
def test_device_names_parse(text, kind, device):
    spec = parse_device(text)
    assert (spec.kind, spec.device) == (kind, device)
    assert parse_device(str(spec)) == spec


@pytest.mark.parametrize("text", ["gpu", "nvdec", "cuda:x", "cuda:", "cpu:0", "auto:1", "", 3])
def test_bad_device_names_are_invalid_parameters(text, clip):
    with pytest.raises(sf.InvalidParameter):
        parse_device(text)
    with pytest.raises(sf.InvalidParameter):
        sf.open(clip, device=text)


def test_report_is_consistent_with_this_pyav_build():
    d = REPORT.to_dict()
    assert d["built"] == list(av.codec.hwaccel.hwdevices_available())
    assert d["pyav"] == av.__version__
    for kind in devices.KINDS:
        dev = d["devices"][kind]
        assert dev["built"] == (kind in d["built"])
        assert dev["usable"] == (dev["reason"] is None)
        if not dev["built"]:
            assert not dev["usable"] and f"no {kind} support" in dev["reason"]
    for row in d["codecs"].values():
        for kind, entry in row.items():
            assert entry["method"] in ("hwaccel", "decoder")
            assert entry["usable"] == d["devices"][kind]["usable"]
            if entry["method"] == "decoder":
                assert entry["decoder"] in av.codecs_available
    # A build with the cuda device type decodes H.264 through NVDEC's hwaccel.
    if "cuda" in d["built"]:
        assert d["codecs"]["h264"]["cuda"]["method"] == "hwaccel"
    assert (d["auto"] is None) == (d["auto_reason"] is not None)


def test_hw_command_prints_the_report(capsys):
    assert cli.main(["hw", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["devices"].keys() == set(devices.KINDS)
    assert cli.main(["hw"]) == 0
    text = capsys.readouterr().out
    assert "auto:" in text and "h264" in text


def test_auto_uses_a_device_or_says_why_not(clip):
    want = cpu_indices(clip, TIMES)
    with sf.open(clip, device="auto") as v:
        frames = v.frames_at(TIMES)
        got = [testsrc.read_index(f.to_ndarray("gray")) for f in frames]
        decoding = v.decoding
    assert got == want  # the same frames whichever decoder ran
    assert decoding.device == "auto"
    if USABLE:
        # Chosen for the request by cost (test_auto.py): what it chose, and why.
        assert decoding.fallback is None and decoding.reason.startswith("auto chose")
        assert decoding.hardware == ("(" in decoding.decoder)
        assert all(f.decoder == decoding.decoder for f in frames)
    else:
        assert not decoding.hardware and decoding.decoder == "h264"
        assert decoding.fallback == REPORT.auto_reason
        for kind in devices.auto_order():
            assert kind in decoding.fallback
        assert all(f.decoder == "h264" and f.fallback == decoding.fallback for f in frames)


@pytest.mark.parametrize("kind", UNUSABLE)
def test_an_explicit_device_that_is_not_usable_raises(kind, clip):
    with pytest.raises(sf.HardwareUnavailable) as info:
        sf.open(clip, device=kind)
    assert isinstance(info.value, sf.StillframeError)
    assert info.value.code == "HardwareUnavailable"
    assert f"device {kind} cannot decode" in str(info.value)
    assert REPORT.devices[kind]["reason"] in str(info.value)


def test_a_device_is_probed_once_and_says_the_same_everywhere(clip, monkeypatch):
    """FFmpeg says why a device fails once (qsv's "No supported child device type is
    enabled"), and PyAV holds back a log line that repeats the one before: each
    device is probed once a process, however it is named, with every line let
    through, so the report and every later error carry the same words."""
    probes = []
    real = devices._probe
    monkeypatch.setattr(devices, "_probe", lambda kind, device: probes.append(kind) or real(kind, device))
    for _ in range(2):
        devices.forget()
        first = {kind: devices.open_device(kind) for kind in devices.KINDS}
        again = {kind: devices.open_device(kind, None) for kind in devices.KINDS}
        assert first == again == {k: REPORT.devices[k]["reason"] for k in devices.KINDS}
    assert probes == list(devices.KINDS) * 2  # once a (kind, device), after each forget()
    for kind in UNUSABLE:
        with pytest.raises(sf.HardwareUnavailable) as info:
            sf.open(clip, device=kind)
        assert first[kind] in str(info.value)
    assert probes == list(devices.KINDS) * 2


@pytest.mark.parametrize("kind", UNUSABLE)
def test_fallback_true_decodes_on_the_cpu_and_says_why(kind, clip, tmp_path):
    result = sf.snapshot(clip, TIMES, tmp_path / "{Count}.jpg", device=kind, fallback=True)
    assert result.count == len(TIMES)
    assert result.decoding["device"] == kind and not result.decoding["hardware"]
    assert REPORT.devices[kind]["reason"] in result.decoding["fallback"]
    assert all(s.decoder == "h264" and s.fallback == result.decoding["fallback"] for s in result.frames)


def test_cli_device_flags(clip, tmp_path, capsys):
    args = ["snapshot", str(clip), "-o", str(tmp_path / "{Count}.jpg"), "--dots", "1,2", "--json", "--overwrite"]
    assert cli.main([*args, "--device", "auto"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["decoding"]["device"] == "auto"
    assert [f["decoder"] for f in out["frames"]] == [out["decoding"]["decoder"]] * 2
    if "videotoolbox" in UNUSABLE:
        assert cli.main([*args, "--device", "videotoolbox"]) == 1
        assert "HardwareUnavailable" in capsys.readouterr().err
        assert cli.main([*args, "--device", "videotoolbox", "--fallback"]) == 0
        assert json.loads(capsys.readouterr().out)["decoding"]["fallback"]


def test_a_file_object_cannot_go_to_a_device(clip):
    with open(clip, "rb") as fh, sf.open(fh, device="auto") as v:
        assert "file object" in v.decoding.fallback
        assert len(v.frames_at([1.0])) == 1


def test_job_configs_carry_the_device():
    cfg = config_from({"Time": "1000", "Device": "CUDA:1", "Fallback": "true"})
    assert (cfg.device, cfg.fallback) == ("cuda:1", True)
    assert SnapshotConfig.from_dict(cfg.to_dict()) == cfg
    assert config_from({"type": "dots", "dots": [1], "device": "auto"}).device == "auto"
    with pytest.raises(sf.InvalidParameter):
        config_from({"Time": "1000", "Device": "gpu"})


def test_a_job_on_an_unusable_device_fails_with_the_code(clip, tmp_path):
    if "videotoolbox" not in UNUSABLE:
        pytest.skip("videotoolbox works here")
    from stillframe.jobs import JobService

    svc = JobService(tmp_path / "jobs.db", workers=0)
    try:
        out = str(tmp_path / "out" / "{Count}.jpg")
        job = svc.submit_snapshot_job(str(clip), out, {"Time": "1000", "Device": "videotoolbox"})
        assert job.status == "Fail" and job.code == "HardwareUnavailable"
        job = svc.submit_snapshot_job(str(clip), out, {"Time": "1000", "Device": "auto"})
        assert job.status == "Success"
        assert job.result["decoding"]["device"] == "auto"
    finally:
        svc.close()


def test_the_dedicated_decoder_path_returns_the_same_frames(clip):
    """A decoder made by name and fed the demuxer's packets (the path h264_qsv and
    h264_cuvid take), run here with FFmpeg's software h264 by name."""
    want = cpu_indices(clip, TIMES)
    with sf.open(clip, workers=1) as v:
        backend = Backend("cpu", "decoder", "h264")
        v._decoders.use_device(Pool(lambda: v._decoders.open_decoder(backend), 1))
        frames = v.frames_at(TIMES)
        assert [testsrc.read_index(f.to_ndarray("gray")) for f in frames] == want
        assert all(f.decoder == "h264" and f.fallback is None for f in frames)
        device = v._decoders.hw
        assert device.all and all(d.cc is not d.stream.codec_context for d in device.all)


def test_a_device_that_fails_mid_run_falls_back_per_group(clip):
    """A 'device' decoder that cannot decode these packets (hevc fed H.264): each
    group is decoded again on the CPU and its frames say why; without fallback
    the run raises HardwareUnavailable."""
    want = cpu_indices(clip, TIMES)
    with sf.open(clip, workers=1, device="auto") as v:
        v._decoders.use_device(Pool(lambda: v._decoders.open_decoder(Backend("cpu", "decoder", "hevc")), 1))
        frames = v.frames_at(TIMES)
        assert [testsrc.read_index(f.to_ndarray("gray")) for f in frames] == want
        assert all(f.decoder == "h264" and f.fallback.startswith("hevc failed on") for f in frames)
        v._decoders.may_fall_back = False
        with pytest.raises(sf.HardwareUnavailable, match="hevc failed on"):
            v.frames_at([2.0])


@pytest.mark.gpu
@pytest.mark.skipif(not USABLE, reason=f"no usable hardware decoder here: {REPORT.auto_reason}")
@pytest.mark.parametrize("snap", ["displayed", "next"])
def test_device_frames_match_the_cpu(clip, clips, snap):
    """On a machine with a device: the same frames as the CPU, pixels within what a
    different decoder and colour conversion give, every frame from the device."""
    hevc10 = clips("hw-hevc10.mp4", frames=90, size=(320, 240), gop=30, codec="libx265", pix_fmt="yuv420p10le")
    for path in (clip, hevc10):
        times = [0.0, 0.9, 1.55, 2.2, 2.9]
        with sf.open(path) as cpu, sf.open(path, device=DeviceSpec(USABLE[0])) as hw:
            a, b = cpu.frames_at(times, snap=snap), hw.frames_at(times, snap=snap)
            assert hw.decoding.hardware and all(f.fallback is None and "(" in f.decoder for f in b)
            assert [f.pts for f in a] == [f.pts for f in b]
            for x, y in zip(a, b):
                if y.device != "cpu":  # kept on the GPU: RGB made there (chroma upsampled its own way)
                    diff = np.abs(x.to_ndarray().astype(int) - y.to_ndarray().astype(int))
                    assert diff.mean() < 1.5 and np.percentile(diff, 99.9) <= 32
                    assert testsrc.read_index(x.to_ndarray("gray")) == testsrc.read_index(y.to_ndarray("gray"))
                    continue
                pa, pb = x.planes(), y.planes()
                for p, q in zip(pa[:3], pb[:3]):
                    diff = np.abs(p.astype(int) - q.astype(int))
                    assert diff.mean() < 1.5 and np.percentile(diff, 99.9) <= 12
                assert testsrc.read_index(pa.y) == testsrc.read_index(pb.y)


@pytest.mark.skipif("cuda" in USABLE or "cuda" not in REPORT.built, reason="needs a PyAV with cuda and no GPU")
def test_a_device_that_fails_to_open_after_selection_falls_back(clip, monkeypatch, tmp_path):
    """The device check passed (say, a GPU that went away) but the decoder's own
    device context cannot be made: the open falls back with FFmpeg's reason, or
    raises for a named device."""
    monkeypatch.setattr(devices, "select", lambda spec, codec: devices.Selection(Backend("cuda", "hwaccel", codec)))
    monkeypatch.setenv("STILLFRAME_CACHE_DIR", str(tmp_path))
    _calibration.forget()
    with sf.open(clip, device="auto") as v:
        assert not v.decoding.hardware and v.decoding.fallback is None  # chosen when a request says what it is
        assert len(v.frames_at([1.0])) == 1
        assert not v.decoding.hardware
        assert v.decoding.fallback.startswith("h264 (cuda) could not be set up")
    _calibration.forget()
    assert not list(tmp_path.iterdir())  # a device that failed is not written down as measured
    with pytest.raises(sf.HardwareUnavailable, match="could not be set up"):
        sf.open(clip, device="cuda")
