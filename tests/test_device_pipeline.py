"""The device pipeline (frames kept on the GPU, worked on there) run on CPU tensors:
the same PyTorch code NVDEC's frames go through on CUDA, fed here by the CPU's
decoder through DLPack. Its pictures and JPEGs are held to the CPU path's, decoded
back, against what two JPEG encoders give on the same pixels; and the lane that
keeps frames on a device runs end to end (frames, DLPack, JPEGs, sprite sheets).

Skips only where PyTorch is not installed (the `gpu` extra); marked `gpu` with the GPU's tests."""

from __future__ import annotations

import io
import subprocess
import sys

import av
import numpy as np
import pytest
from PIL import Image

import stillframe as sf
from stillframe import testsrc
from stillframe._workers import Pool
from stillframe.devices import Backend
from stillframe.geometry import plan_geometry, scale
from stillframe.outputs import Batch, Ledger, plan_writers

try:
    import torch
    import torchvision  # noqa: F401
except ImportError:
    torch = None

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(torch is None, reason="PyTorch and torchvision are not installed (the gpu extra)"),
]

if torch is not None:  # the GPU lane imports PyTorch
    from stillframe._gpu import pixels, unavailable
    from stillframe._gpu.picture import DevicePicture

SIZES = {
    "480 wide": {"width": 480},
    "max 160": {"max_length": 160},
    "as decoded": {},
    "grown to 960": {"width": 960},
    "16:9 padded": {"width": 320, "height": 320, "aspect_ratio": "16:9"},
}


@pytest.fixture(scope="module")
def clip(clips):
    return clips("device-h264.mp4", frames=30, size=(640, 360), gop=10, bframes=2)


@pytest.fixture(scope="module")
def decoded(clip):
    with av.open(str(clip)) as c:
        return list(c.decode(video=0))


def cpu_frame(frame: av.VideoFrame, geo) -> sf.Frame:
    """The CPU path's Frame for a decoded frame (what FrameRun makes)."""
    return sf.Frame(
        requested_time=0.0,
        time=0.0,
        pts=0,
        is_keyframe=False,
        rule="displayed",
        decoder="h264",
        _picture=scale(frame, geo, keep_format=True),
        _geometry=geo,
    )


def rgb(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(np.float64)


def agreement(a: bytes, b: bytes) -> tuple[float, float]:
    """(mean absolute difference, PSNR in dB) of two JPEGs decoded back."""
    d = rgb(a) - rgb(b)
    return float(np.abs(d).mean()), float(10 * np.log10(255**2 / max((d**2).mean(), 1e-9)))


def pillow_jpeg(array: np.ndarray, quality: int = 85) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array).save(out, "JPEG", quality=quality)
    return out.getvalue()


def test_the_layouts_read_the_same_samples(decoded):
    """NV12 (NVDEC's 8-bit), planar 4:2:0, P010 (NVDEC's 10-bit, bits at the top) and
    10-bit planar give the same samples in 8-bit units, without copying the frame."""
    frame = decoded[7]
    ref_y, ref_c, div, full, matrix = pixels.yuv_planes(frame)
    assert (div, full, matrix) == (1.0, False, "bt601")
    assert ref_y.data_ptr() == frame.planes[0].buffer_ptr  # the decoder's memory, not a copy
    for fmt in ("nv12", "p010le", "yuv420p10le"):
        y, c, div, _, _ = pixels.yuv_planes(frame.reformat(format=fmt))
        assert y.shape == ref_y.shape and c.shape == ref_c.shape, fmt
        got_y, got_c = (y.float() / div).round(), (c.float() / div).round()
        assert torch.equal(got_y, ref_y.float()), fmt
        assert (got_c - ref_c.float()).abs().max() <= 1, fmt


@pytest.mark.parametrize("size", SIZES.values(), ids=SIZES.keys())
def test_pictures_and_jpegs_match_the_cpu_path(decoded, size, record_property):
    """Per frame, the device pipeline's JPEG against the CPU path's (libjpeg-turbo
    from the planes), decoded back: no further from it than Pillow's JPEG of the CPU
    path's own pixels is (two encoders, same quality)."""
    ours, baseline = [], []
    for frame in decoded[::5]:
        geo = plan_geometry(640, 360, 0, **size)
        cpu = cpu_frame(frame, geo)
        picture = pixels.picture(frame.reformat(format="nv12"), geo)
        assert (picture.height, picture.width) == (geo.height, geo.width) and picture.device == "cpu"
        assert testsrc.read_index(picture.to_ndarray("gray")) == testsrc.read_index(cpu.to_ndarray("gray"))
        reference = cpu.to_jpeg(85)
        ours.append(agreement(reference, pixels.encode_jpegs([picture], 85)[0]))
        baseline.append(agreement(reference, pillow_jpeg(cpu.to_ndarray("rgb24"))))
    mad, psnr = np.mean(ours, axis=0)
    base_mad, base_psnr = np.mean(baseline, axis=0)
    said = f"device pipeline mad {mad:.2f}, PSNR {psnr:.1f} dB; two encoders {base_mad:.2f}, {base_psnr:.1f} dB"
    record_property("agreement", said)
    print(f"\n{size}: {said}")
    assert mad <= base_mad + 0.5
    assert psnr >= base_psnr - 3.0 and psnr > 33


def test_the_matrix_and_the_range_are_the_videos(decoded):
    """BT.709 and full range are mapped as the CPU path maps them, and mapping with
    the wrong matrix is visibly wrong (the test can fail)."""
    geo = plan_geometry(640, 360, 0, width=320)
    for colorspace, color_range in ((1, 1), (5, 2), (9, 1)):
        frame = decoded[12].reformat(format="yuv420p")
        frame.colorspace, frame.color_range = colorspace, color_range
        want = cpu_frame(frame, geo).to_ndarray("rgb24").astype(float)
        got = pixels.picture(frame.reformat(format="nv12"), geo).to_ndarray("rgb24").astype(float)
        assert np.abs(got - want).mean() < 2.0, (colorspace, color_range)
    frame = decoded[12].reformat(format="yuv420p")
    frame.colorspace = 1
    want = cpu_frame(frame, geo).to_ndarray("rgb24").astype(float)
    frame.colorspace = 5
    wrong = pixels.picture(frame, geo).to_ndarray("rgb24").astype(float)
    assert np.abs(wrong - want).mean() > 2.0


def test_ten_bit_frames_come_through_p010(clips):
    """10-bit HEVC, as NVDEC hands it over (P010), against the CPU path's 8-bit picture."""
    path = clips("device-hevc10.mp4", frames=12, size=(320, 240), gop=6, codec="libx265", pix_fmt="yuv420p10le")
    geo = plan_geometry(320, 240, 0)
    with av.open(str(path)) as c:
        for frame in c.decode(video=0):
            want = cpu_frame(frame, geo).to_ndarray("rgb24").astype(float)
            got = pixels.picture(frame.reformat(format="p010le"), geo).to_ndarray("rgb24").astype(float)
            assert np.abs(got - want).mean() < 1.5
            assert testsrc.read_index(got.astype(np.uint8)) == testsrc.read_index(want.astype(np.uint8))


def test_a_turned_video_comes_out_upright(clips):
    path = clips("device-rotated.mp4", frames=10, size=(320, 180), gop=5, rotation=90)
    with sf.open(path) as v:
        want = v.frame_at(0.1, width=90)
        geo = want._geometry
    with av.open(str(path)) as c:
        frame = next(f for f in c.decode(video=0) if f.pts == want.pts)
    got = pixels.picture(frame, geo)
    assert (got.height, got.width) == (want.height, want.width) == (160, 90)
    assert np.abs(got.to_ndarray("rgb24").astype(float) - want.to_ndarray("rgb24").astype(float)).mean() < 3.0


def test_a_picture_downloads_in_every_format(decoded):
    picture = pixels.picture(decoded[3], plan_geometry(640, 360, 0, width=160))
    rgb24 = picture.to_ndarray("rgb24")
    assert rgb24.shape == (90, 160, 3) and rgb24.dtype == np.uint8
    assert np.array_equal(picture.to_ndarray("bgr24"), rgb24[..., ::-1])
    assert picture.to_ndarray("rgba").shape == (90, 160, 4) and (picture.to_ndarray("bgra")[..., 3] == 255).all()
    assert picture.to_ndarray("gray").shape == (90, 160)
    assert picture.to_ndarray("yuv420p").shape == (135, 160)
    y, u, v, full, matrix, *_ = picture.planes()
    assert (y.shape, u.shape, full, matrix) == ((90, 160), (45, 80), True, "bt601")


# -- the lane that keeps frames on a device, run on CPU tensors ---------------------------


def resident_lane(video: sf.Video) -> None:
    """Make `video` decode on a lane whose frames go through the device pipeline
    (software decoders standing in for NVDEC: their frames are CPU tensors)."""
    pool = video._decoders
    backend = Backend("cpu", "decoder", "h264")
    pool.use_device(Pool(lambda: pool.open_decoder(backend), 2), resident=True)


def test_frames_from_a_resident_lane(clip):
    times = [0.0, 0.4, 0.55, 0.9]
    with sf.open(clip) as cpu, sf.open(clip) as dev:
        resident_lane(dev)
        want, got = cpu.frames_at(times, width=320), dev.frames_at(times, width=320)
    assert [f.pts for f in got] == [f.pts for f in want]
    for a, b in zip(want, got):
        assert isinstance(b._picture, DevicePicture) and b.device == "cpu" and a.device == "cpu"
        assert testsrc.read_index(b.to_ndarray("gray")) == testsrc.read_index(a.to_ndarray("gray"))
        # DLPack: the device picture itself, no copy; a CPU frame gives its converted array.
        t = torch.from_dlpack(b)
        assert t.shape == (180, 320, 3) and t.data_ptr() == b._picture.rgb.data_ptr()
        assert np.array_equal(torch.from_dlpack(a).numpy(), a.to_ndarray("rgb24"))
        assert torch.equal(torch.from_dlpack(b.to_dlpack()), t)
        mad, psnr = agreement(a.to_jpeg(85), b.to_jpeg(85))
        assert mad < 2.5 and psnr > 35


def test_batches_and_sheets_from_a_resident_lane(clip, tmp_path):
    """JPEGs and sprite sheets of device pictures are made by the device's encoder,
    and agree with the CPU path's files; a sheet mixing device and CPU cells works."""
    times = [i / 10 for i in range(8)]
    sprite = sf.Sprite(4, 2)
    made = {}
    for name in ("cpu", "device", "mixed"):
        with sf.open(clip) as v:
            if name != "cpu":
                resident_lane(v)
            frames = [f for _, f in sorted(v.stream(times, sf.FrameOptions(width=160)))]
        if name == "mixed":
            with sf.open(clip) as v:
                frames[3] = v.frame_at(times[3], width=160)
        out = tmp_path / name
        names = [str(out / f"{i}.jpg") for i in range(len(times))]
        writers = plan_writers(
            names,
            (160, 90),
            keep_singles=True,
            sprite=sprite,
            sprite_output=str(out / "sheet.jpg"),
            webvtt=None,
            storyboard=None,
            base_url=None,
            cover=None,
            cover_position=None,
            black=None,
        )
        batch = Batch(list(range(len(times))), frames, 85)
        for w in writers:
            w.take(batch, Ledger())
        made[name] = [open(n, "rb").read() for n in names] + [(out / "sheet.jpg").read_bytes()]
    for name in ("device", "mixed"):
        for a, b in zip(made["cpu"], made[name]):
            # At 160 px two encoders of the same pixels differ by about 2.6 (35 dB); a
            # device cell on a CPU-composed sheet is converted once more.
            mad, psnr = agreement(a, b)
            assert mad < 3.5 and psnr > 32, name
    sheet = rgb(made["device"][-1])
    assert sheet.shape == (180, 640, 3)
    assert testsrc.read_index(sheet[90:, 480:640].astype(np.uint8)) == 21  # cell 8 (0.7 s) at its place


def test_without_pytorch_the_package_imports_and_says_why(clip):
    code = (
        "import sys; sys.modules['torch'] = None; sys.modules['torchvision'] = None\n"
        "import stillframe as sf, stillframe._gpu as g\n"
        f"v = sf.open({str(clip)!r}, device='auto'); f = v.frame_at(0.5); print(g.unavailable('cuda')); "
        "print(f.device, f.to_jpeg()[:2] == b'\\xff\\xd8')"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["torch is not installed (pip install 'stillframe[gpu]')", "cpu True"]


def test_here_frames_can_stay_on_the_cpu_only():
    assert unavailable("cpu") is None
    if not torch.cuda.is_available():
        assert "no CUDA device" in unavailable("cuda")
