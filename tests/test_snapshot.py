"""snapshot(): names, atomic files, provenance, the CLI, and http sources."""

from __future__ import annotations

import functools
import http.server
import io
import json
import os
import threading

import numpy as np
import pytest
from PIL import Image

import stillframe as sf
from stillframe import cli, testsrc
from stillframe.errors import InvalidParameter
from stillframe.snapshot import output_names


@pytest.fixture(scope="module")
def clip(clips):
    return clips("snap.mp4", frames=300, size=(320, 240), gop=60, bframes=3)


def read(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("L"))


def test_interval_snapshot_writes_exact_frames(clip, tmp_path):
    result = sf.snapshot(clip, sf.Interval(1.0), tmp_path / "out/{Count}.jpg", width=160, quality=90)
    assert result.count == 10
    assert [p.rsplit("/", 1)[1] for p in result.files] == [f"{i:05d}.jpg" for i in range(1, 11)]
    for i, (name, rec) in enumerate(zip(result.files, result.frames)):
        img = read(name)
        assert img.shape == (120, 160)
        assert testsrc.read_index(img) == 30 * i
        assert rec.index == i + 1 and rec.time == pytest.approx(i) and rec.file == name
    assert result.stats["frames_decoded"] < 300
    assert not list((tmp_path / "out").glob(".*"))  # no temporary files left behind
    d = result.to_dict()
    assert d["count"] == 10 and d["info"]["frame_count"] == 300


def test_dots_keep_their_order_and_duplicates(clip, tmp_path):
    result = sf.snapshot(clip, [5.0, 1.0, 5.0], tmp_path / "{Count}.jpg", snap="next")
    assert [testsrc.read_index(read(p)) for p in result.files] == [150, 30, 150]


def test_past_the_end_is_reported(clip, tmp_path):
    result = sf.snapshot(clip, sf.Interval(4, count=5), tmp_path / "{Count}.jpg")
    assert (result.count, result.requested, result.dropped) == (3, 5, 2)
    assert "past the end" in result.reason
    with pytest.raises(InvalidParameter, match="no snapshot"):
        sf.snapshot(clip, [20.0], tmp_path / "x.jpg")


def test_output_names():
    assert output_names("a/{Count}.jpg", 2) == ["a/00001.jpg", "a/00002.jpg"]
    assert output_names("a/one.jpg", 1) == ["a/one.jpg"]
    assert output_names("dir/", 1) == ["dir/00001.jpg"]
    with pytest.raises(InvalidParameter, match="Count"):
        output_names("a/one.jpg", 2)


def test_intra_and_sizes(clip, tmp_path):
    result = sf.snapshot(clip, sf.Quantity(4), tmp_path / "{Count}.jpg", frame_type="intra", max_length=100)
    assert all(r.is_keyframe for r in result.frames)
    assert read(result.files[0]).shape == (76, 100)
    padded = sf.snapshot(clip, [1.0], tmp_path / "wide.jpg", aspect_ratio="16:9").files[0]
    assert Image.open(padded).size == (426, 240)


def test_service_dicts_are_samplings(clip, tmp_path):
    mps = sf.snapshot(clip, {"Time": 2000, "Interval": 3, "Num": 2}, tmp_path / "m{Count}.jpg")
    assert [r.time for r in mps.frames] == pytest.approx([2.0, 5.0])
    hw = sf.snapshot(clip, {"type": "quantity", "quantity": 2}, tmp_path / "h{Count}.jpg")
    assert [r.time for r in hw.frames] == pytest.approx([0.0, 5.0])


def test_jpeg_colours_match_the_decoded_frame(clip, tmp_path):
    path = sf.snapshot(clip, [2.0], tmp_path / "c.jpg", quality=95).files[0]
    with sf.open(clip) as video:
        ref = video.frames_at([2.0])[0].to_ndarray("rgb24")
    got = np.asarray(Image.open(path).convert("RGB")).astype(int)
    assert np.abs(got - ref).mean() < 3


def test_cli_probe_and_snapshot(clip, tmp_path, capsys):
    assert cli.main(["probe", str(clip)]) == 0
    assert json.loads(capsys.readouterr().out)["frame_count"] == 300
    out = tmp_path / "cli/{Count}.jpg"
    assert cli.main(["snapshot", str(clip), "-o", str(out), "--interval", "2", "--width", "64", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["count"] == 5
    assert Image.open(result["files"][0]).size == (64, 48)
    assert cli.main(["snapshot", str(clip), "-o", str(tmp_path / "d{Count}.jpg"), "--dots", "1,2.5"]) == 0
    assert f"2 snapshots written to {tmp_path}/ (d00001.jpg .. d00002.jpg)" in capsys.readouterr().out
    assert cli.main(["snapshot", str(tmp_path / "missing.mp4"), "-o", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("stillframe: error: InvalidParameter.ResourceNotFound") and "\n" not in err


def test_cli_demo(tmp_path, capsys):
    assert cli.main(["demo", str(tmp_path / "demo")]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["count"] == 10
    assert testsrc.read_index(read(result["files"][3])) == 90


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Static files with byte ranges, as real web servers and object stores serve
    them (the standard library's handler ignores Range, so nothing could seek)."""

    def log_message(self, *args):  # keep the test output clean
        pass

    def send_head(self):
        ranged = self.headers.get("Range", "")
        path = self.translate_path(self.path)
        if not ranged.startswith("bytes=") or not os.path.isfile(path):
            return super().send_head()
        size = os.path.getsize(path)
        first, _, last = ranged[len("bytes=") :].partition("-")
        start = int(first or 0)
        end = min(int(last) if last else size - 1, size - 1)
        if start >= size:
            self.send_error(416)
            return None
        with open(path, "rb") as f:
            f.seek(start)
            body = f.read(end - start + 1)
        self.send_response(206)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        return io.BytesIO(body)


@pytest.fixture
def http_server(clip):
    handler = functools.partial(RangeHandler, directory=str(clip.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_http_source(http_server, clip, tmp_path):
    url = f"{http_server}/{clip.name}"
    assert sf.probe(url).frame_count == 300
    result = sf.snapshot(url, [1.0, 7.0], tmp_path / "{Count}.jpg")
    assert [testsrc.read_index(read(p)) for p in result.files] == [30, 210]
    with pytest.raises(sf.ResourceNotFound):
        sf.probe(f"{http_server}/missing.mp4")


def test_file_object_source(clip, tmp_path):
    data = io.BytesIO(clip.read_bytes())
    result = sf.snapshot(data, [3.0], tmp_path / "f.jpg")
    assert testsrc.read_index(read(result.files[0])) == 90


@pytest.mark.parametrize("kind", ["ten-bit", "full-range"], ids=["10-bit HEVC", "full-range BT.709"])
def test_ten_bit_and_full_range_make_correct_jpegs(clips, tmp_path, kind):
    if kind == "ten-bit":
        path = clips("ten.mkv", frames=3, size=(320, 240), codec="libx265", pix_fmt="yuv420p10le")
    else:
        from .conftest import media

        path = media("bt709_full_range.mp4")
    out = sf.snapshot(path, [0.0], tmp_path / "c.jpg", quality=95).files[0]
    import av

    with av.open(str(path)) as c:
        ref = next(c.decode(video=0)).to_ndarray(format="rgb24").astype(int)
    got = np.asarray(Image.open(out).convert("RGB")).astype(int)
    assert got.shape == ref.shape
    assert np.abs(got - ref).mean() < 3
