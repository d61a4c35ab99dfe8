"""A run confined to a bucket (stillframe._files.confined_to, as the job service runs
every job) writes, keeps aside, puts back and removes only inside it: a folder that
is a symlink out is refused as it is written, a folder swapped for one while the run
rolls back is left alone, and object-store outputs stay under their prefix."""

from __future__ import annotations

import os
from pathlib import Path

import fsspec
import pytest

import stillframe as sf
from stillframe._files import confined_to, inside
from stillframe.errors import PermissionDenied


@pytest.fixture(scope="module")
def clip(clips) -> str:
    return str(clips("confined.mp4", frames=60, size=(96, 64), gop=15))


@pytest.fixture
def places(tmp_path) -> tuple[Path, Path]:
    bucket, outside = tmp_path / "bucket", tmp_path / "outside"
    bucket.mkdir()
    outside.mkdir()
    (outside / "00001.jpg").write_bytes(b"outside the bucket")
    return bucket, outside


def _listing(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_a_folder_that_is_a_symlink_out_is_refused_before_anything_is_written(clip, places):
    bucket, outside = places
    (bucket / "link").symlink_to(outside)
    before = _listing(outside)
    with confined_to(bucket), pytest.raises(PermissionDenied) as info:
        sf.snapshot(clip, sf.Interval(0.5, count=3), str(bucket / "link" / "{Count}.jpg"), overwrite=True)
    assert info.value.code == "InvalidObject.Forbidden"
    assert str(outside) not in str(info.value)
    assert _listing(outside) == before


def test_a_rollback_leaves_a_folder_swapped_out_alone(clip, places):
    """The run's folder is swapped for a symlink out of the bucket, then the run
    fails: what it put there is not removed through the link (the files outside,
    named as the run's own, stay), and nothing of the run's lands outside."""
    bucket, outside = places
    before = _listing(outside)
    shots = bucket / "shots"

    def swap_then_fail(done: int, total: int) -> None:
        shots.rename(bucket / "moved")
        shots.symlink_to(outside)
        raise RuntimeError("failed after the swap")

    with confined_to(bucket), pytest.raises(RuntimeError, match="after the swap"):
        sf.snapshot(clip, sf.Interval(0.1, count=20), str(shots / "{Count}.jpg"), progress=swap_then_fail)
    assert _listing(outside) == before
    assert (bucket / "moved" / "00001.jpg").exists()  # left as the swap left it, for its owner


def test_without_a_bound_the_same_rollback_removes_what_the_run_added(clip, places):
    """The contrast: unconfined (the library as a user runs it), rollback follows
    the folder to where it points now, as before."""
    bucket, outside = places
    shots = bucket / "shots"
    removed: list[str] = []

    def fail(done: int, total: int) -> None:
        removed.extend(p.name for p in shots.iterdir())
        raise RuntimeError("failed")

    with pytest.raises(RuntimeError):
        sf.snapshot(clip, sf.Interval(0.1, count=20), str(shots / "{Count}.jpg"), progress=fail)
    assert removed and not shots.exists()


@pytest.fixture
def memory():
    fs = fsspec.filesystem("memory")
    yield fs
    for path in fs.find("/bkt"):
        fs.rm_file(path)


def _objects(fs) -> list[str]:
    return sorted(str(p) for p in fs.find("/bkt"))


def test_object_store_outputs_stay_under_their_prefix(clip, memory):
    with confined_to("memory://bkt/prefix"):
        for output in (
            "memory://bkt/other/{Count}.jpg",
            "memory://bkt/prefix/../other/{Count}.jpg",
            "memory://bkt/prefixed/{Count}.jpg",
        ):
            with pytest.raises(PermissionDenied) as info:
                sf.snapshot(clip, sf.Interval(0.5, count=2), output, overwrite=True)
            assert info.value.code == "InvalidObject.Forbidden", output
        assert _objects(memory) == []
        result = sf.snapshot(clip, sf.Interval(0.5, count=2), "memory://bkt/prefix/a/{Count}.jpg", overwrite=True)
    assert result.files == ["memory://bkt/prefix/a/00001.jpg", "memory://bkt/prefix/a/00002.jpg"]
    assert _objects(memory) == ["/bkt/prefix/a/00001.jpg", "/bkt/prefix/a/00002.jpg"]


def test_a_bound_of_one_kind_admits_nothing_of_the_other(tmp_path):
    assert not inside("s3://bkt/prefix/x.jpg", os.path.realpath(tmp_path))
    assert not inside(str(tmp_path / "x.jpg"), "s3://bkt/prefix")
    assert not inside("oss://bkt/prefix/x.jpg", "s3://bkt/prefix")
    assert inside("s3://bkt/prefix/a/x.jpg", "s3://bkt/prefix")
    assert not inside("s3://bkt/prefix/./x.jpg", "s3://bkt/prefix")
