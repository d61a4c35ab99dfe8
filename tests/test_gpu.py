"""On a machine with a CUDA GPU (the `gpu` marker: `pytest -m gpu`): frames decoded
by NVDEC stay on the device, are converted, scaled and encoded there (nvJPEG), and
agree with the CPU path's; DLPack hands the device memory over without a copy;
decoders are pooled across Videos; `auto` weighs the device it measured. Skipped,
saying why, wherever there is no such GPU (CI, the 2-core machine)."""

from __future__ import annotations

import io

import numpy as np
import pytest

import stillframe as sf
from stillframe import _calibration, _gpu, testsrc

REPORT = sf.hardware()


def _why_not() -> str | None:
    if "cuda" not in REPORT.usable():
        return f"no usable CUDA device here: {REPORT.devices['cuda']['reason']}"
    return _gpu.unavailable("cuda")


WHY = _why_not()
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(WHY is not None, reason=f"needs a CUDA GPU: {WHY}")]
TIMES = [0.0, 0.9, 1.55, 2.2, 2.9]


@pytest.fixture(scope="module")
def h264(clips):
    return clips("gpu-h264.mp4", frames=120, size=(640, 360), gop=30, bframes=2)


@pytest.fixture(scope="module")
def hevc10(clips):
    return clips("gpu-hevc10.mp4", frames=90, size=(640, 360), gop=30, codec="libx265", pix_fmt="yuv420p10le")


def rgb(data: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(np.float64)


def agreement(a: bytes, b: bytes) -> tuple[float, float]:
    d = rgb(a) - rgb(b)
    return float(np.abs(d).mean()), float(10 * np.log10(255**2 / max((d**2).mean(), 1e-9)))


@pytest.mark.parametrize("which", ["h264", "hevc10"])
@pytest.mark.parametrize("width", [None, 320])
def test_frames_stay_on_the_gpu_and_match_the_cpu(which, width, request):
    path = request.getfixturevalue(which)
    with sf.open(path) as cpu, sf.open(path, device="cuda") as gpu:
        a, b = cpu.frames_at(TIMES, width=width), gpu.frames_at(TIMES, width=width)
        decoding = gpu.decoding
    assert decoding.hardware and decoding.on_device and decoding.decoder.endswith("(cuda)")
    assert [f.pts for f in a] == [f.pts for f in b]
    figures = []
    for x, y in zip(a, b):
        assert y.device.startswith("cuda") and y.fallback is None
        diff = np.abs(x.to_ndarray().astype(int) - y.to_ndarray().astype(int))
        assert diff.mean() < 1.5 and np.percentile(diff, 99.9) <= 32
        assert testsrc.read_index(x.to_ndarray("gray")) == testsrc.read_index(y.to_ndarray("gray"))
        figures.append(agreement(x.to_jpeg(85), y.to_jpeg(85)))  # libjpeg-turbo 4:2:0 against nvJPEG 4:4:4
    mad, psnr = np.mean(figures, axis=0)
    print(f"\n{which} width={width}: nvJPEG against the CPU path, decoded back: mad {mad:.2f}, PSNR {psnr:.1f} dB")
    assert mad < 3.0 and psnr > 32


def test_dlpack_hands_over_the_device_memory(h264):
    import torch

    with sf.open(h264, device="cuda") as v:
        frame = v.frame_at(1.0, width=320)
        t = torch.from_dlpack(frame)
        assert t.is_cuda and t.shape == (180, 320, 3) and t.dtype == torch.uint8
        assert t.data_ptr() == frame._picture.rgb.data_ptr()  # no copy
        assert np.array_equal(t.cpu().numpy(), frame.to_ndarray("rgb24"))


def test_a_snapshot_on_the_gpu_writes_the_cpus_pictures(h264, tmp_path):
    runs = {}
    for device in ("cpu", "cuda"):
        runs[device] = sf.snapshot(
            h264, sf.Interval(0.25), tmp_path / device / "{Count}.jpg", width=160, device=device, sprite=sf.Sprite(4, 4)
        )
    cpu, gpu = runs["cpu"], runs["cuda"]
    assert gpu.decoding["on_device"] and gpu.count == cpu.count == 16
    assert [s.pts for s in gpu.frames] == [s.pts for s in cpu.frames]
    for a, b in zip(cpu.files + cpu.sprites, gpu.files + gpu.sprites):
        mad, psnr = agreement(open(a, "rb").read(), open(b, "rb").read())
        assert mad < 3.5 and psnr > 32, (a, mad, psnr)


def test_cuda_decoders_are_kept_for_the_next_video(h264):
    from stillframe import _decoders

    with sf.open(h264, device="cuda", workers=2) as v:
        v.frames_at(TIMES)
        key = v._decoders.key
    opened = _decoders.SHARED.opened[key]
    assert opened >= 1 and _decoders.SHARED.idle(key) >= 1
    for _ in range(3):
        with sf.open(h264, device="cuda", workers=2) as v:
            v.frames_at(TIMES)
    assert _decoders.SHARED.opened[key] <= max(opened, 2)


def test_the_gpu_says_how_many_engines_it_has():
    from stillframe._gpu.engines import nvdec_engines

    engines, source = nvdec_engines(0)
    print(f"\nNVDEC engines: {engines} ({source})")
    assert engines >= 1 and source


def test_auto_weighs_the_device_it_measured(h264, tmp_path, monkeypatch):
    monkeypatch.setenv("STILLFRAME_CACHE_DIR", str(tmp_path))
    _calibration.forget()
    with sf.open(h264) as cpu:
        want = [f.pts for f in cpu.frames_at(TIMES)]
    with sf.open(h264, device="auto") as v:
        got = v.frames_at(TIMES)
        decoding = v.decoding
    assert [f.pts for f in got] == want
    assert decoding.fallback is None and decoding.reason.startswith("auto chose"), decoding
    assert all(f.decoder == decoding.decoder for f in got)
    (kept,) = tmp_path.glob("costs-*.json")
    print(f"\n{decoding.reason}\n{kept.read_text()}")
    _calibration.forget()
