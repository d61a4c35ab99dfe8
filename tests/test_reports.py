"""What results, reports and the README's examples say: the README's frame loop runs
on the demo's clip, a bare number is one time, storyboard times are rounded as
results are, versions are named for what they are, Pillow's absence is an
ImportError."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import av
import pytest

import stillframe as sf

README = Path(__file__).resolve().parents[1] / "README.md"
SNAPSHOTS_GUIDE = README.parent / "docs" / "snapshots.md"


@pytest.fixture(scope="module")
def demo_length(clips) -> str:
    """As long as `stillframe demo`'s clip (10 s at 30 fps), smaller."""
    return str(clips("demo-length.mp4", frames=300, size=(160, 90), gop=60, bframes=2))


def test_the_readmes_frame_loop_runs_on_the_demo_clip(demo_length):
    block = README.read_text().split("```python\nimport stillframe as sf\n", 1)[1].split("```", 1)[0]
    (line,) = [ln.strip() for ln in block.splitlines() if "iter_frames_at(" in ln]
    loop = line.split("#")[0].replace("...", "seen.append(f.time)").strip()
    seen: list[float] = []
    with sf.open(demo_length) as video:
        exec(loop, {"video": video, "seen": seen})  # noqa: S102 - the README's own line
    assert seen == [0.0, 2.0, 4.0, 6.0, 8.0]


def test_a_bare_number_is_one_snapshot_at_that_time_as_the_guide_says(demo_length, tmp_path):
    assert "`sf.snapshot(v, 5, ...)` is one snapshot at 5 s" in " ".join(SNAPSHOTS_GUIDE.read_text().split())
    result = sf.snapshot(demo_length, 5, tmp_path / "{Count}.jpg")
    assert result.count == 1 and result.frames[0].requested_time == 5.0
    assert "A bare number is one time" in sf.snapshot.__doc__.replace("\n    ", " ")


def test_storyboard_times_are_rounded_as_results_are(demo_length, tmp_path):
    result = sf.snapshot(
        demo_length,
        sf.Interval(0.1, count=8),
        tmp_path / "{Count}.jpg",
        width=64,
        sprite=sf.Sprite(4, 2),
        storyboard=tmp_path / "board.json",
    )
    (page,) = json.loads((tmp_path / "board.json").read_text())
    starts = [tile["start"] for tile in page["tiles"]]
    assert starts == [f["time"] for f in result.to_dict()["frames"]]
    assert result.frames[7].time != starts[7] == 0.7  # the frame's time is 0.7000000000000001
    assert all(re.fullmatch(r"-?\d+(\.\d{1,6})?", repr(s)) for s in [*starts, page["duration"]])


def test_the_report_names_ffmpegs_version_and_libavcodecs_apart():
    report = sf.hardware().to_dict()
    assert report["ffmpeg"] == av.ffmpeg_version_info
    assert report["libavcodec"] == ".".join(str(x) for x in av.library_versions["libavcodec"])
    assert report["ffmpeg"] != report["libavcodec"]


def test_to_image_without_pillow_is_an_import_error_naming_it(clips, monkeypatch):
    path = str(clips("to-image.mp4", frames=10, size=(64, 48), gop=5))
    with sf.open(path) as video:
        frame = video.frame_at(0.1)
    monkeypatch.setitem(sys.modules, "PIL", None)  # what an environment without Pillow imports
    with pytest.raises(ImportError, match=r"needs Pillow: pip install pillow"):
        frame.to_image()
