"""Batches over worker processes and a Dask cluster: the same files as sf.snapshot
one video at a time, a bad video failing only its own item, and one long video
split over workers giving the frames, sheets and track of one process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import stillframe as sf
from stillframe.cli import main
from stillframe.distributed import BatchItem, keyframe_groups, snapshot_many, snapshot_split
from stillframe.distributed._runners import LocalRunner
from stillframe.distributed._split import balance

distributed = pytest.importorskip("distributed", reason="the dask extra is not installed")

SAMPLING = sf.Interval(0.5)
OPTIONS: dict[str, Any] = dict(width=160, quality=80)


@pytest.fixture(scope="module")
def client():
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        distributed.Client(cluster) as c,
    ):
        yield c


@pytest.fixture(scope="module")
def videos(clips, tmp_path_factory) -> list[Path]:
    """Three short clips of different shapes, and a file of garbage bytes."""
    made = [
        clips("batch-a.mp4", frames=60, size=(320, 180), gop=15, bframes=2),
        clips("batch-b.mkv", frames=45, size=(240, 320), gop=10),
        clips("batch-c.mp4", frames=75, size=(320, 240), gop=30, bframes=3),
    ]
    bad = tmp_path_factory.mktemp("bad") / "batch-bad.mp4"
    bad.write_bytes(os.urandom(4096))
    return [*made, bad]


def one_by_one(videos: list[Path], root: Path) -> dict[str, dict[str, bytes]]:
    """What sf.snapshot writes for each good video: file name -> bytes."""
    out = {}
    for video in videos[:-1]:
        result = sf.snapshot(video, SAMPLING, root / video.stem / "{Count}.jpg", **OPTIONS)
        out[video.stem] = {Path(f).name: Path(f).read_bytes() for f in result.files}
    return out


def check_items(items: list[BatchItem], videos: list[Path], expected: dict[str, dict[str, bytes]]) -> None:
    assert [item.source for item in items] == [os.fspath(v) for v in videos]
    *good, bad = items
    for item in good:
        assert item.ok and item.result is not None, item.error
        written = {Path(f).name: Path(f).read_bytes() for f in item.result.files}
        assert written == expected[item.name]  # byte-identical JPEGs
    assert not bad.ok and bad.result is None
    assert isinstance(bad.error, sf.ResourceContentBad)
    assert bad.to_dict()["error"]["Code"] == "InvalidParameter.ResourceContentBad"


def test_dask_cluster_gives_the_files_of_one_by_one(client, videos, tmp_path):
    expected = one_by_one(videos, tmp_path / "ref")
    items = snapshot_many(videos, SAMPLING, tmp_path / "out/{Name}/{Count}.jpg", client=client, **OPTIONS)
    check_items(items, videos, expected)


def test_local_pool_gives_the_files_of_one_by_one(videos, tmp_path):
    expected = one_by_one(videos, tmp_path / "ref")
    items = snapshot_many(videos, SAMPLING, tmp_path / "out/{Name}/{Count}.jpg", processes=2, **OPTIONS)
    check_items(items, videos, expected)
    json.dumps([item.to_dict() for item in items])


def test_names_and_destinations_are_checked_before_anything_runs(videos, tmp_path):
    twin = tmp_path / "other" / videos[0].name
    twin.parent.mkdir()
    twin.write_bytes(videos[0].read_bytes())
    with pytest.raises(sf.InvalidParameter, match="would both write"):
        snapshot_many([videos[0], twin], SAMPLING, tmp_path / "out/{Name}/{Count}.jpg")
    with pytest.raises(sf.InvalidParameter, match="has no {Name}"):
        snapshot_many(videos[:2], SAMPLING, tmp_path / "out/{Count}.jpg")
    with pytest.raises(sf.InvalidParameter, match="webvtt .* has no {Name}"):
        snapshot_many(videos[:2], SAMPLING, tmp_path / "out/{Name}/{Count}.jpg", webvtt=tmp_path / "t.vtt")
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(sf.InvalidParameter, match="blocker"):
        snapshot_many(videos[:2], SAMPLING, blocker / "{Name}/{Count}.jpg")
    with pytest.raises(sf.InvalidParameter, match="not an option"):
        snapshot_many(videos[:2], SAMPLING, tmp_path / "out/{Name}/{Count}.jpg", widht=160)
    assert not (tmp_path / "out").exists()


def _maybe_die(x: int) -> int:
    if x == 3:
        os._exit(7)  # a crash inside a decoder looks like this to the pool
    return x * 10


def test_a_dying_process_fails_only_its_own_task():
    got = dict(LocalRunner(2).map_unordered(_maybe_die, [(i,) for i in range(6)]))
    assert {i: v for i, v in got.items() if i != 3} == {0: 0, 1: 10, 2: 20, 4: 40, 5: 50}
    assert isinstance(got[3], Exception)


@pytest.fixture(scope="module")
def long_clip(clips) -> Path:
    return clips("split-long.mp4", frames=450, size=(320, 180), gop=30, bframes=2)


def test_parts_are_keyframe_aligned_and_balanced(long_clip):
    with sf.open(long_clip) as video:
        times = [i * 0.5 for i in range(30)]
        groups, weights = keyframe_groups(video, times)
        keys = video.info.keyframe_times
    starts = [max(k for k in keys if k <= times[g[0]] + 1e-6) for g in groups]
    assert starts == sorted(set(starts))  # one group a keyframe, in time order
    parts = balance(groups, weights, 3)
    assert len(parts) == 3 and sum(parts, []) == list(range(30))
    assert balance(groups[:2], weights[:2], 5) == [groups[0], groups[1]]  # never more parts than groups


def test_split_video_gives_the_frames_sheets_and_track_of_one_process(client, long_clip, tmp_path):
    options: dict[str, Any] = dict(width=160, sprite=sf.Sprite(columns=4, lines=3), cover="auto", quality=80)
    ref = sf.snapshot(long_clip, SAMPLING, tmp_path / "one/{Count}.jpg", webvtt=tmp_path / "one/t.vtt", **options)
    got = snapshot_split(
        long_clip,
        SAMPLING,
        tmp_path / "split/{Count}.jpg",
        webvtt=tmp_path / "split/t.vtt",
        client=client,
        parts=2,
        **options,
    )
    assert got.stats.workers == 2
    assert [(s.time, s.pts, s.is_keyframe) for s in got.frames] == [(s.time, s.pts, s.is_keyframe) for s in ref.frames]
    for a, b in zip(got.files + got.sprites + [got.cover], ref.files + ref.sprites + [ref.cover]):
        assert Path(a).read_bytes() == Path(b).read_bytes(), (a, b)
    assert len(got.sprites) == len(ref.sprites) == 3
    assert Path(got.webvtt).read_text() == Path(ref.webvtt).read_text()
    assert got.cover_index == ref.cover_index


def test_split_on_local_processes(long_clip, tmp_path):
    ref = sf.snapshot(long_clip, sf.Quantity(7), tmp_path / "one/{Count}.jpg", snap="next")
    got = snapshot_split(long_clip, sf.Quantity(7), tmp_path / "split/{Count}.jpg", snap="next", processes=2)
    assert [(s.time, s.pts) for s in got.frames] == [(s.time, s.pts) for s in ref.frames]
    assert [Path(f).read_bytes() for f in got.files] == [Path(f).read_bytes() for f in ref.files]


def test_cli_batch_with_a_list_and_json(client, videos, tmp_path, capsys):
    listing = tmp_path / "list.txt"
    listing.write_text("# the clips\n" + "\n".join(os.fspath(v) for v in videos[:2]) + "\n\n")
    out = tmp_path / "cli/{Name}/{Count}.jpg"
    code = main(
        [
            "batch",
            f"@{listing}",
            os.fspath(videos[-1]),
            "-o",
            os.fspath(out),
            "--interval",
            "1",
            "--width",
            "160",
            "--sprite",
            "2x2",
            "--vtt",
            os.fspath(tmp_path / "cli/{Name}/t.vtt"),
            "--workers",
            "2",
            "--json",
        ]
    )
    captured = capsys.readouterr()
    assert code == 1  # the garbage file
    report = json.loads(captured.out)
    assert report["summary"]["ok"] == 2 and report["summary"]["failed"] == 1
    assert [i["ok"] for i in report["items"]] == [True, True, False]
    assert (tmp_path / "cli" / videos[0].stem / "t.vtt").exists()
    (line,) = captured.err.strip().splitlines()
    assert os.fspath(videos[-1]) in line and "InvalidParameter.ResourceContentBad" in line

    assert main(["batch", os.fspath(videos[0]), "-o", os.fspath(out), "--dots", "0.5", "--overwrite"]) == 0
    assert "1 of 1 videos done, 0 failed" in capsys.readouterr().out
    scheduler = ["--scheduler", client.scheduler.address]
    again = ["batch", os.fspath(videos[1]), "-o", os.fspath(out), "--quantity", "2", *scheduler]
    assert main(again) == 1 and "OutputExists" in capsys.readouterr().err  # checked on a worker, before the run
    assert main([*again, "--overwrite"]) == 0
    assert "1 of 1 videos done" in capsys.readouterr().out


def test_cli_batch_takes_snapshots_frame_and_cover_flags(videos, tmp_path, capsys):
    out = tmp_path / "{Name}/{Count}.jpg"
    code = main(
        [
            "batch",
            os.fspath(videos[2]),
            "-o",
            os.fspath(out),
            "--dots",
            "0.5,1",
            "--width",
            "160",
            "--aspect",
            "16:9",
            "--tolerance",
            "1",
            "--black-level",
            "90",
            "--cover",
            "auto",
            "--workers",
            "1",
        ]
    )
    assert code == 0, capsys.readouterr().err
    folder = tmp_path / videos[2].stem
    ref = sf.snapshot(
        videos[2],
        sf.Dots([0.5, 1.0]),
        tmp_path / "ref/{Count}.jpg",
        width=160,
        aspect_ratio="16:9",
        tolerance=1.0,
        black_level=90,
        cover="auto",
    )
    assert sorted(p.name for p in folder.iterdir()) == ["00001.jpg", "00002.jpg", "cover.jpg"]
    for name in ("00001.jpg", "00002.jpg", "cover.jpg"):
        assert (folder / name).read_bytes() == (tmp_path / "ref" / name).read_bytes(), name
    from PIL import Image

    assert Image.open(folder / "00001.jpg").size == (214, 120)  # 160x120 padded out to 16:9
    assert [s.is_keyframe for s in ref.frames] == [True, True]  # a keyframe within 1 s stood in


def test_the_command_line_imports_no_engine():
    code = (
        "import sys, stillframe.cli as c; c._parser(); print(sorted({'dask', 'distributed', 'ray'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_split_batch_on_dask_keeps_a_bad_video_to_its_own_item(client, long_clip, videos, tmp_path):
    ref = sf.snapshot(long_clip, SAMPLING, tmp_path / "one/{Count}.jpg", **OPTIONS)
    good, bad = snapshot_many(
        [long_clip, videos[-1]], SAMPLING, tmp_path / "out/{Name}/{Count}.jpg", client=client, split=2, **OPTIONS
    )
    assert good.result is not None and good.result.stats.workers == 2
    assert [Path(f).read_bytes() for f in good.result.files] == [Path(f).read_bytes() for f in ref.files]
    assert isinstance(bad.error, sf.ResourceContentBad)


def test_object_store_inputs_are_read_on_the_workers(videos, tmp_path):
    from .servers import s3_server

    with s3_server("media") as (endpoint, s3):
        s3.upload_file(os.fspath(videos[0]), "media", "in/remote.mp4")
        options = {"key": "testing", "secret": "testing", "client_kwargs": {"endpoint_url": endpoint}}
        items = snapshot_many(
            ["s3://media/in/remote.mp4", "s3://media/in/missing.mp4"],
            SAMPLING,
            tmp_path / "{Name}/{Count}.jpg",
            processes=2,
            storage_options=options,
            **OPTIONS,
        )
    ref = sf.snapshot(videos[0], SAMPLING, tmp_path / "ref/{Count}.jpg", **OPTIONS)
    assert items[0].result is not None, items[0].error
    assert [Path(f).read_bytes() for f in items[0].result.files] == [Path(f).read_bytes() for f in ref.files]
    assert isinstance(items[1].error, sf.ResourceNotFound)


def test_an_unexpected_exception_becomes_an_internal_error_naming_the_file(videos, tmp_path, monkeypatch):
    from stillframe.distributed import _batch

    def broken(*args, **kwargs):
        raise RuntimeError("something deep broke")

    monkeypatch.setattr(_batch, "snapshot", broken)
    item = _batch.snapshot_one(os.fspath(videos[0]), SAMPLING, os.fspath(tmp_path / "{Count}.jpg"), {})
    assert isinstance(item.error, sf.InternalError)
    assert os.fspath(videos[0]) in str(item.error) and "something deep broke" in str(item.error)


def test_object_store_outputs_are_put_by_the_workers(client, videos, long_clip, tmp_path, capsys):
    from .servers import s3_server

    expected = one_by_one(videos, tmp_path / "ref")
    with s3_server("out") as (endpoint, s3):
        options = {"key": "testing", "secret": "testing", "client_kwargs": {"endpoint_url": endpoint}}

        def stored(prefix: str) -> dict[str, bytes]:
            listing = s3.list_objects_v2(Bucket="out", Prefix=prefix).get("Contents", [])
            return {o["Key"][len(prefix) :]: s3.get_object(Bucket="out", Key=o["Key"])["Body"].read() for o in listing}

        with pytest.raises(sf.InvalidParameter, match="bucket missing does not exist"):
            snapshot_many(videos, SAMPLING, "s3://missing/{Name}/{Count}.jpg", client=client, storage_options=options)
        items = snapshot_many(
            videos, SAMPLING, "s3://out/{Name}/{Count}.jpg", client=client, storage_options=options, **OPTIONS
        )
        for item in items[:-1]:
            assert item.result is not None and item.result.files[0] == f"s3://out/{item.name}/00001.jpg"
            assert stored(f"{item.name}/") == expected[item.name]
        assert isinstance(items[-1].error, sf.ResourceContentBad) and stored(f"{items[-1].name}/") == {}

        split_options: dict[str, Any] = dict(width=160, sprite=sf.Sprite(columns=4, lines=3), quality=80)
        ref = sf.snapshot(
            long_clip, SAMPLING, tmp_path / "one/{Count}.jpg", webvtt=tmp_path / "one/t.vtt", **split_options
        )
        got = snapshot_split(
            long_clip,
            SAMPLING,
            "s3://out/split/{Count}.jpg",
            webvtt="s3://out/split/t.vtt",
            client=client,
            parts=2,
            storage_options=options,
            **split_options,
        )
        assert got.sprites[0] == "s3://out/split/sprite-00001.jpg"
        assert stored("split/") == {Path(f).name: Path(f).read_bytes() for f in (tmp_path / "one").iterdir()}
        assert ref.webvtt is not None

        code = main(
            [
                "batch",
                os.fspath(videos[0]),
                "-o",
                "s3://out/cli/{Name}/{Count}.jpg",
                "--dots",
                "0.5",
                "--width",
                "160",
                "--quality",
                "80",
                "--workers",
                "1",
                "--storage-options",
                json.dumps(options),
            ]
        )
        assert code == 0, capsys.readouterr().err
        assert stored("cli/") == {f"{videos[0].stem}/00001.jpg": expected[videos[0].stem]["00002.jpg"]}  # t = 0.5 s
