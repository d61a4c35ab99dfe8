"""The options the batch and split entry points pass on to sf.snapshot are typed
once (SnapshotOptions) and kept in step with sf.snapshot's own parameters, so a
type checker catches a misspelt option there as it does on sf.snapshot."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import stillframe as sf
from stillframe.options import FrameKeywords, FrameOptions, VideoOptions
from stillframe.snapshot import SnapshotOptions

# sf.snapshot's parameters that the batch and split entry points take themselves.
OWN = {"progress", "storage_options"}


def _keywords(fn) -> set[str]:
    params = inspect.signature(fn).parameters.values()
    return {p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}


def test_snapshot_options_are_snapshots_keywords():
    keywords = _keywords(sf.snapshot) - {"source", "sampling", "output"} - OWN
    assert set(SnapshotOptions.__annotations__) | set(VideoOptions.__annotations__) == keywords


def test_video_options_are_opens_and_frame_options_are_among_them():
    assert set(VideoOptions.__annotations__) == _keywords(sf.open) - {"source"}
    assert set(FrameOptions.names()) <= set(SnapshotOptions.__annotations__)
    assert set(FrameKeywords.__annotations__) == set(FrameOptions.names())


def test_the_entry_points_take_them_typed():
    from stillframe.distributed import snapshot_many, snapshot_split

    for fn in (snapshot_many, snapshot_split):
        (var,) = [p for p in inspect.signature(fn).parameters.values() if p.kind is p.VAR_KEYWORD]
        assert "Unpack[SnapshotOptions]" in str(var.annotation)


def test_a_type_checker_catches_a_misspelt_or_mistyped_option(tmp_path):
    pytest.importorskip("mypy", reason="the test extra: pip install -e '.[test]'")
    program = tmp_path / "use.py"
    program.write_text(
        textwrap.dedent("""
        from stillframe.distributed import snapshot_many, snapshot_split

        snapshot_many(["a.mp4"], None, "out/{Name}/{Count}.jpg", widht=480)
        snapshot_split("a.mp4", None, "out/{Count}.jpg", width="480")
        snapshot_many(["a.mp4"], None, "out/{Name}/{Count}.jpg", width=480, overwrite=True, index="scan")
    """)
    )
    # An editable install's import hook hides the package from mypy: name its folder.
    root = Path(sf.__file__).parents[1]
    env = {**os.environ, "MYPYPATH": str(root)} if root.name == "src" else dict(os.environ)
    run = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", "--cache-dir", str(tmp_path / "cache"), str(program)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    errors = [line for line in run.stdout.splitlines() if ": error:" in line]
    assert len(errors) == 2, run.stdout
    assert '"widht"' in errors[0] and "use.py:4:" in errors[0]
    assert '"width"' in errors[1] and "use.py:5:" in errors[1]


def test_the_ray_stages_options_are_its_frame_and_video_options():
    pytest.importorskip("ray", reason="the ray extra: pip install 'stillframe[ray]'")
    from stillframe.distributed.ray import VIDEO_OPTIONS, FrameExtractor, FrameExtractorOptions

    assert set(FrameExtractorOptions.__annotations__) == set(FrameOptions.names()) | set(VIDEO_OPTIONS)
    (var,) = [p for p in inspect.signature(FrameExtractor).parameters.values() if p.kind is p.VAR_KEYWORD]
    assert "Unpack[FrameExtractorOptions]" in str(var.annotation)
