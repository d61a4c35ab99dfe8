"""A folder that holds an earlier run's files: refused unless replacing is asked for
(as `ffmpeg -n` / `-y`), the earlier files the new run leaves beside its own named,
or removed with `clean`; jobs replace, as the services do."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import stillframe as sf
from stillframe.distributed import snapshot_many


@pytest.fixture(scope="module")
def clip(clips) -> str:
    return str(clips("overwrite.mp4", frames=60, size=(128, 96), gop=15))


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "stillframe.cli", *args], capture_output=True, text=True)


def _state(folder: Path) -> dict[str, tuple[int, bytes]]:
    return {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(folder.iterdir())}


def test_an_existing_file_stops_the_run_before_anything_is_decoded(clip, tmp_path, monkeypatch):
    out = tmp_path / "out"
    first = sf.snapshot(clip, sf.Interval(0.25), out / "{Count}.jpg")
    assert len(first.files) == 8
    before = _state(out)
    decoded = []
    monkeypatch.setattr(sf.Video, "stream", lambda *a, **k: decoded.append(1) or iter(()))
    with pytest.raises(sf.OutputExists, match=r"00001\.jpg is there already \(and 2 more of the run's 3 files\)"):
        sf.snapshot(clip, sf.Interval(0.5, count=3), out / "{Count}.jpg")
    assert decoded == [] and _state(out) == before  # nothing decoded, nothing touched
    # A file of another kind counts the same: the track is there.
    (tmp_path / "t.vtt").write_text("WEBVTT\n")
    with pytest.raises(FileExistsError, match="t.vtt"):
        sf.snapshot(clip, sf.Interval(0.5), tmp_path / "new/{Count}.jpg", webvtt=tmp_path / "t.vtt")
    assert not (tmp_path / "new").exists()


def test_the_command_line_refuses_in_one_line_then_replaces_and_names_what_is_left(clip, tmp_path):
    out = tmp_path / "out"
    assert cli("snapshot", clip, "-o", str(out / "{Count}.jpg"), "--interval", "0.25").returncode == 0
    assert len(list(out.glob("*.jpg"))) == 8
    r = cli("snapshot", clip, "-o", str(out / "{Count}.jpg"), "--interval", "0.75")
    assert r.returncode == 1 and r.stderr.count("\n") == 1
    assert r.stderr.startswith(f"stillframe: error: InvalidParameter.OutputExists: {out / '00001.jpg'} is there")
    assert "--overwrite" in r.stderr
    r = cli("snapshot", clip, "-o", str(out / "{Count}.jpg"), "--interval", "0.75", "--overwrite")
    assert r.returncode == 0, r.stderr
    assert "3 snapshots written" in r.stdout
    assert f"5 earlier files left beside them: {out / '00004.jpg'}, {out / '00005.jpg'}" in r.stdout
    assert "(--clean removes them)" in r.stdout and len(list(out.glob("*.jpg"))) == 8
    r = cli("snapshot", clip, "-o", str(out / "{Count}.jpg"), "--interval", "0.75", "--overwrite", "--clean")
    assert r.returncode == 0, r.stderr
    assert "removed 5 earlier files" in r.stdout
    assert sorted(p.name for p in out.iterdir()) == ["00001.jpg", "00002.jpg", "00003.jpg"]


def test_clean_removes_only_what_the_patterns_name_and_only_after_the_run(clip, tmp_path):
    out = tmp_path / "out"
    sf.snapshot(clip, sf.Interval(0.25), out / "{Count}.jpg", sprite=sf.Sprite(2, 1))
    mine = ["notes.txt", "0001.jpg", "123456.jpg.bak", "sprite-1.jpg"]  # not what {Count}/{TileCount} make
    for name in mine:
        (out / name).write_text("keep")
    result = sf.snapshot(
        clip, sf.Interval(0.5), out / "{Count}.jpg", sprite=sf.Sprite(2, 2), overwrite=True, clean=True
    )
    assert [Path(p).name for p in result.removed] == [
        "00005.jpg",
        "00006.jpg",
        "00007.jpg",
        "00008.jpg",
        "sprite-00002.jpg",
        "sprite-00003.jpg",
        "sprite-00004.jpg",
    ]
    assert result.stale == []
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["00001.jpg", "00002.jpg", "00003.jpg", "00004.jpg", "sprite-00001.jpg", *mine]
    )
    # A run that fails leaves every earlier file where it was, clean or not.
    before = _state(out)
    with pytest.raises(sf.InvalidParameter):
        sf.snapshot(clip, sf.Dots([0.5, 9.0]), out / "{Count}.jpg", cover_position=5, overwrite=True, clean=True)
    assert _state(out) == before


def test_without_clean_a_replacing_run_lists_the_earlier_files(clip, tmp_path):
    sf.snapshot(clip, sf.Interval(0.5), tmp_path / "{Count}.jpg")
    result = sf.snapshot(clip, sf.Dots([1.0]), tmp_path / "{Count}.jpg", overwrite=True)
    assert [Path(p).name for p in result.stale] == ["00002.jpg", "00003.jpg", "00004.jpg"]
    assert result.removed == [] and result.to_dict()["stale"] == result.stale


def test_a_batch_refuses_before_it_starts_and_passes_the_switches_on(clip, tmp_path):
    out = str(tmp_path / "{Name}/{Count}.jpg")
    (item,) = snapshot_many([clip], sf.Interval(0.25), out, processes=1)
    assert item.ok and item.result is not None and item.result.count == 8
    with pytest.raises(sf.OutputExists, match="overwrite/00001.jpg"):
        snapshot_many([clip], sf.Interval(0.5), out, processes=1)
    (item,) = snapshot_many([clip], sf.Interval(0.5), out, processes=1, overwrite=True, clean=True)
    assert item.ok and item.result is not None and len(item.result.removed) == 4
    assert len(list((tmp_path / "overwrite").glob("*.jpg"))) == 4


def test_a_split_run_refuses_and_cleans_too(clip, tmp_path):
    from stillframe.distributed import snapshot_split

    out = tmp_path / "{Count}.jpg"
    sf.snapshot(clip, sf.Interval(0.25), out)
    with pytest.raises(sf.OutputExists):
        snapshot_split(clip, sf.Interval(0.5), str(out), parts=2, processes=1)
    result = snapshot_split(clip, sf.Interval(0.5), str(out), parts=2, processes=1, overwrite=True, clean=True)
    assert len(result.removed) == 4 and len(list(tmp_path.glob("*.jpg"))) == 4


def test_jobs_replace_their_outputs_as_the_services_do(clip, tmp_path):
    from stillframe.jobs import JobService

    out = str(tmp_path / "job/{Count}.jpg")
    with JobService(tmp_path / "j.db", workers=0) as svc:
        for _ in range(2):
            job = svc.submit_snapshot_job(clip, out, {"Time": 0, "Interval": 1, "Num": 2, "FrameType": "normal"})
            job = svc.runner.run_once() and svc.get_snapshot_job(job.id)
            assert job.status == "Success", job.message
    assert sorted(p.name for p in (tmp_path / "job").iterdir()) == ["00001.jpg", "00002.jpg"]


def test_a_failed_run_removes_the_folders_it_made(clip, tmp_path, monkeypatch):
    from stillframe import outputs

    def refuse(cues):
        raise sf.errors.PermissionDenied("t.vtt: the disk said no")

    monkeypatch.setattr(outputs, "webvtt_text", refuse)  # the track is the last writer to finish
    kept = tmp_path / "kept"
    kept.mkdir()
    with pytest.raises(sf.errors.PermissionDenied):
        sf.snapshot(clip, sf.Interval(0.5), tmp_path / "new/deeper/{Count}.jpg", webvtt=kept / "t.vtt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept"]  # new/deeper made by the run, gone again


def test_requested_is_a_number_whatever_the_sampling(clip, tmp_path):
    cases = [
        (sf.Interval(0.5), 4, 0),  # as many as fit: 0, 0.5, 1, 1.5 s of 2 s
        (sf.Interval(0.5, count=6), 6, 2),
        (sf.Dots([0.5, 1.0, 9.0]), 3, 1),
        (sf.Quantity(3), 3, 0),
    ]
    for k, (sampling, requested, dropped) in enumerate(cases):
        result = sf.snapshot(clip, sampling, tmp_path / f"{k}/{{Count}}.jpg")
        assert (result.requested, result.dropped, result.count) == (requested, dropped, requested - dropped)
        assert result.to_dict()["requested"] == requested
