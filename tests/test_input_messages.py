"""Inputs that are not quite what was expected get a message that says what they
are: a still picture is a one-frame video, a server that ignores Range says so,
and FFmpeg's error numbers stay out of the words."""

from __future__ import annotations

import av
import numpy as np
import pytest

import stillframe as sf

from . import livesrc


@pytest.fixture(scope="module")
def pictures(clips, tmp_path_factory) -> dict[str, str]:
    """The first frame of a small clip as JPEG (FFmpeg's image2) and PNG."""
    clip = clips("pictures.mp4", frames=10, size=(160, 90), gop=5)
    root = tmp_path_factory.mktemp("pictures")
    out = {}
    with av.open(str(clip)) as src:
        frame = next(src.decode(video=0))
    for ext, codec, fmt in (("jpg", "mjpeg", "yuvj420p"), ("png", "png", "rgb24")):
        path = root / f"still.{ext}"
        with av.open(str(path), "w", format="image2") as dst:
            stream = dst.add_stream(codec)
            stream.width, stream.height, stream.pix_fmt = frame.width, frame.height, fmt
            for packet in [*stream.encode(frame.reformat(format=fmt)), *stream.encode(None)]:
                dst.mux(packet)
        out[ext] = str(path)
    return out


@pytest.mark.parametrize("ext", ["jpg", "png"])
def test_a_still_picture_is_a_one_frame_video(pictures, tmp_path, ext):
    path = pictures[ext]
    info = sf.probe(path)
    assert info.frame_count == 1 and (info.width, info.height) == (160, 90) and info.keyframe_times == [0.0]
    with sf.open(path) as video:
        frame = video.frame_at(0.0)
    with av.open(path) as container:
        theirs = next(container.decode(video=0)).to_ndarray(format="rgb24")
    assert np.array_equal(frame.to_ndarray("rgb24"), theirs)  # the picture as FFmpeg decodes it
    result = sf.snapshot(path, sf.Dots([0.0, 5.0]), tmp_path / "{Count}.jpg")
    assert result.count == 1 and result.dropped == 1 and "past the end" in result.reason
    assert "the input is a single picture, its one frame at 0.000 s" in result.reason
    with pytest.raises(sf.InvalidParameter, match="no snapshot can be taken: .* single picture"):
        sf.snapshot(path, sf.Dots([1.0]), tmp_path / "late.jpg")


def test_ffmpeg_error_numbers_stay_out_of_messages(tmp_path):
    noise = tmp_path / "noise.mp4"
    noise.write_bytes(np.random.default_rng(7).integers(0, 256, 20_000, dtype=np.uint8).tobytes())
    with pytest.raises(sf.ResourceContentBad) as caught:
        sf.snapshot(str(noise), None, tmp_path / "one.jpg")
    text = str(caught.value)
    assert text == f"{noise}: not a readable media file (FFmpeg: invalid data found when processing input)"


def test_a_server_that_ignores_range_is_named(clips, tmp_path):
    if livesrc.nginx_binary() is None:  # .ci/run installs it
        pytest.skip("nginx is not installed (Debian: apt-get install nginx)")
    clip = clips("no-range.mp4", frames=300, size=(320, 180), gop=60, bframes=2)  # more than FFmpeg buffers
    with livesrc.http_server(clip.parent, tmp_path / "nginx", ranges=False) as server:
        url = f"{server.url}/{clip.name}"
        with pytest.raises(sf.ResourceContentBad) as caught:
            sf.snapshot(url, sf.Dots([7.0]), tmp_path / "one.jpg")
    assert str(caught.value).startswith(f"{url}: the server does not answer byte-range requests")
    assert "download it first" in str(caught.value) and "Errno" not in str(caught.value)
    assert not (tmp_path / "one.jpg").exists()


def _no_aws(tmp_path) -> dict[str, str]:
    """The environment without any AWS credentials (nor a config to find them in,
    nor the instance metadata service to ask)."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return {**env, "HOME": str(tmp_path), "AWS_EC2_METADATA_DISABLED": "true"}


def test_an_object_store_input_is_probed_and_missing_credentials_are_named(clips, tmp_path):
    import json
    import subprocess
    import sys

    from .servers import s3_server

    clip = clips("pictures.mp4", frames=10, size=(160, 90), gop=5)
    with s3_server("media") as (endpoint, s3):
        s3.upload_file(str(clip), "media", "in/clip.mp4")
        url = "s3://media/in/clip.mp4"
        keyed = json.dumps({"endpoint_url": endpoint, "key": "testing", "secret": "testing"})
        run = [sys.executable, "-m", "stillframe.cli", "probe", url, "--storage-options"]
        r = subprocess.run([*run, keyed], capture_output=True, text=True, timeout=120, env=_no_aws(tmp_path))
        assert r.returncode == 0 and json.loads(r.stdout)["frame_count"] == 10, r.stderr
        # Without credentials: one line saying what is missing, not botocore's traceback, nor six tries.
        bare = json.dumps({"endpoint_url": endpoint})
        for command in (
            [*run, bare],
            [
                sys.executable,
                "-m",
                "stillframe.cli",
                "snapshot",
                str(clip),
                "-o",
                "s3://media/out/{Count}.jpg",
                "--storage-options",
                bare,
            ],
        ):
            r = subprocess.run(command, capture_output=True, text=True, timeout=120, env=_no_aws(tmp_path))
            assert r.returncode == 1 and r.stderr.count("\n") == 1, r.stderr
            assert r.stderr.startswith("stillframe: error: PermissionDenied.ResourceAccess: s3://media/")
            assert "no credentials for the store" in r.stderr and "--storage-options" in r.stderr
        assert "Contents" not in s3.list_objects_v2(Bucket="media", Prefix="out/")
    # FFmpeg has no protocol for a store: the library says what to give instead.
    with pytest.raises(sf.InvalidParameter, match=r"give sf\.RangeSource\.from_url\('s3://media/in/clip\.mp4'"):
        sf.probe("s3://media/in/clip.mp4")


def test_a_host_that_does_not_resolve_is_named():
    # .invalid never resolves (RFC 6761); FFmpeg itself says only "input/output error".
    with pytest.raises(sf.TransientNetworkError, match=r"the host nowhere\.invalid cannot be found"):
        sf.probe("https://nowhere.invalid/clip.mp4")
