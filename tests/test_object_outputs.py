"""Outputs straight into an object store (moto's S3 server on loopback, behind a
fault-injecting proxy): every kind of output byte for byte as on a local disk,
each object put as soon as it is complete with a bounded number in flight,
destinations checked before the first decode, 503s and reset connections retried,
and a failed or interrupted run leaving the bucket as it was."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import stillframe as sf
from stillframe import _objects
from stillframe.video import Video

from .s3proxy import FaultProxy
from .servers import s3_server


@pytest.fixture(scope="module")
def store():
    with s3_server() as (endpoint, s3), FaultProxy(endpoint) as proxy:
        yield SimpleNamespace(endpoint=endpoint, s3=s3, proxy=proxy)


@pytest.fixture
def bucket(store) -> str:
    name = f"out-{uuid.uuid4().hex[:10]}"
    store.s3.create_bucket(Bucket=name)
    store.proxy.fault = lambda method, path, attempt: None
    store.proxy.reset_counts()
    return name


@pytest.fixture
def quick_retries(monkeypatch):
    monkeypatch.setattr(_objects, "FIRST_WAIT", 0.01)
    monkeypatch.setattr(_objects, "LONGEST_WAIT", 0.05)


@pytest.fixture(scope="module")
def clip(clips) -> str:
    return str(clips("objects.mp4", frames=90, size=(256, 144), gop=30, bframes=2))


def options(store) -> dict[str, Any]:
    return {"endpoint_url": store.proxy.url, "key": "testing", "secret": "testing"}


def objects(store, bucket: str) -> dict[str, bytes]:
    listing = store.s3.list_objects_v2(Bucket=bucket).get("Contents", [])
    return {o["Key"]: store.s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listing}


def everything(clip: str, where: str, **kwargs: Any) -> sf.SnapshotResult:
    """Singles, two sheets, a track, a storyboard and the cover, all under `where`."""
    return sf.snapshot(
        clip,
        sf.Interval(0.25),
        f"{where}/{{Count}}.jpg",
        width=128,
        sprite=sf.Sprite(3, 2),
        webvtt=f"{where}/thumbs.vtt",
        storyboard=f"{where}/storyboard.json",
        cover="auto",
        **kwargs,
    )


def local_files(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(root.iterdir())}


@pytest.mark.parametrize("scheme", ["s3", "oss"])
def test_every_kind_of_output_lands_in_the_store_as_on_disk(store, bucket, clip, tmp_path, scheme):
    local = everything(clip, str(tmp_path / "v"))
    got = everything(clip, f"{scheme}://{bucket}/v", storage_options=options(store))
    assert objects(store, bucket) == {f"v/{name}": data for name, data in local_files(tmp_path / "v").items()}
    assert got.files == [f"{scheme}://{bucket}/v/{k:05d}.jpg" for k in range(1, 13)]
    assert got.sprites == [f"{scheme}://{bucket}/v/sprite-0000{k}.jpg" for k in (1, 2)]
    assert (got.webvtt, got.cover) == (f"{scheme}://{bucket}/v/thumbs.vtt", f"{scheme}://{bucket}/v/cover.jpg")
    assert got.cover_index == local.cover_index
    assert got.writes[scheme]["objects"] == 17 and got.writes[scheme]["replaced"] == 0


def test_any_file_system_fsspec_writes(clip, tmp_path, monkeypatch, quick_retries):
    fsspec = pytest.importorskip("fsspec")
    memory = fsspec.filesystem("memory")
    root = f"memory://{uuid.uuid4().hex[:8]}/v"
    everything(clip, str(tmp_path / "v"))
    everything(clip, root, quality=90)
    before = {p: memory.cat_file(p) for p in memory.find(root)}
    assert {p.rsplit("/", 1)[1] for p in before} == set(local_files(tmp_path / "v"))

    def broken(self, source, target):  # the cover: the last file of the run
        if source.endswith("cover.jpg"):
            raise OSError(5, "Input/output error")
        memory.cp_file(source, target)

    monkeypatch.setattr(_objects.ObjectStore, "_copy", broken)
    with pytest.raises(sf.TransientNetworkError, match=f"{root}/cover.jpg: cannot keep the object it replaces"):
        everything(clip, root, quality=60, overwrite=True)
    assert {p: memory.cat_file(p) for p in memory.find(root)} == before


def test_cues_name_the_sheets_relative_to_the_track_or_under_the_base_url(store, bucket, clip):
    opts = options(store)
    sf.snapshot(
        clip,
        sf.Interval(0.5),
        f"s3://{bucket}/v/{{Count}}.jpg",
        sprite=sf.Sprite(3, 2),
        sprite_output=f"s3://{bucket}/v/sheets/s-{{TileCount}}.jpg",
        webvtt=f"s3://{bucket}/v/vtt/t.vtt",
        storage_options=opts,
    )
    track = objects(store, bucket)["v/vtt/t.vtt"].decode()
    assert "\n../sheets/s-00001.jpg#xywh=0,0," in track
    sf.snapshot(
        clip,
        sf.Interval(0.5),
        f"s3://{bucket}/w/{{Count}}.jpg",
        sprite=sf.Sprite(3, 2),
        webvtt=f"s3://{bucket}/w/t.vtt",
        storyboard=f"s3://{bucket}/w/sb.json",
        vtt_base_url="https://cdn.example/w/",
        storage_options=opts,
    )
    stored = objects(store, bucket)
    assert "\nhttps://cdn.example/w/sprite-00001.jpg#xywh=" in stored["w/t.vtt"].decode()
    assert json.loads(stored["w/sb.json"])[0]["url"] == "https://cdn.example/w/sprite-00001.jpg"


def _no_decoding(monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("a frame was decoded before the destinations were checked")

    monkeypatch.setattr(Video, "stream", refuse)


def test_destinations_are_checked_before_the_first_decode(store, bucket, clip, tmp_path, monkeypatch, quick_retries):
    _no_decoding(monkeypatch)
    opts = options(store)
    with pytest.raises(sf.InvalidParameter, match=r"s3://no-such-bucket/v/00001.jpg: .*bucket no-such-bucket does not"):
        sf.snapshot(clip, sf.Interval(1), "s3://no-such-bucket/v/{Count}.jpg", storage_options=opts)
    store.proxy.fault = lambda method, path, attempt: "403" if method == "PUT" else None
    with pytest.raises(sf.errors.PermissionDenied, match=f"s3://{bucket}/v/00001.jpg: cannot write there: access"):
        sf.snapshot(clip, sf.Interval(1), f"s3://{bucket}/v/{{Count}}.jpg", storage_options=opts)
    store.proxy.fault = lambda method, path, attempt: "503"
    with pytest.raises(sf.TransientNetworkError, match=f"{bucket}/v/00001.jpg: .* still failed after 6 attempts"):
        sf.snapshot(clip, sf.Interval(1), f"s3://{bucket}/v/{{Count}}.jpg", storage_options=opts)
    store.proxy.fault = lambda method, path, attempt: None
    with pytest.raises(sf.InvalidParameter, match="give a base URL"):  # a local track cannot point into a bucket
        sf.snapshot(
            clip, sf.Interval(1), f"s3://{bucket}/v/{{Count}}.jpg", webvtt=tmp_path / "t.vtt", storage_options=opts
        )
    with pytest.raises(sf.InvalidParameter, match="names where to read"):
        sf.snapshot(clip, sf.Interval(1), "https://cdn.example/{Count}.jpg")
    assert objects(store, bucket) == {}  # not even the probe is left


def test_each_object_is_put_as_soon_as_it_is_complete_a_few_at_a_time(store, bucket, clip):
    store.proxy.fault = lambda method, path, attempt: 0.1 if method == "PUT" and path.endswith(".jpg") else None
    seen_during_run: list[int] = []

    def progress(done: int, total: int) -> None:
        if done < total:
            seen_during_run.append(store.s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0))

    result = sf.snapshot(
        clip,
        sf.Interval(0.075),
        f"s3://{bucket}/{{Count}}.jpg",
        width=64,
        progress=progress,
        storage_options=options(store),
    )
    assert result.count == 40 and len(objects(store, bucket)) == 40
    assert max(seen_during_run) > 0  # objects were in the store while frames were still being decoded
    assert 2 <= result.writes["s3"]["max_in_flight"] <= _objects.UPLOADS


def test_503s_and_reset_connections_are_retried(store, bucket, clip, tmp_path, quick_retries):
    everything(clip, str(tmp_path / "v"))

    def flaky(method: str, path: str, attempt: int) -> str | None:
        if method != "PUT" or "/v/0000" not in path:
            return None
        k = int(path[-5])  # 00001.jpg .. 00009.jpg
        if k % 2 and attempt == 1:
            return "503"
        # Twice: the HTTP client re-sends an idempotent request once by itself on a kept-alive connection.
        return "reset" if k % 2 == 0 and attempt <= 2 else None

    store.proxy.fault = flaky
    got = everything(clip, f"s3://{bucket}/v", storage_options=options(store))
    assert objects(store, bucket) == {f"v/{name}": data for name, data in local_files(tmp_path / "v").items()}
    assert store.proxy.faults["503"] == 5 and store.proxy.faults["reset"] >= 4
    assert got.writes["s3"]["retries"] >= 5


def test_a_failed_rerun_leaves_the_objects_it_would_have_replaced(store, bucket, clip, quick_retries):
    opts = options(store)
    everything(clip, f"s3://{bucket}/v", storage_options=opts, quality=90)
    before = objects(store, bucket)

    def busy(method: str, path: str, attempt: int) -> str | None:  # every try of the run's put, then well again
        return "503" if method == "PUT" and path.endswith("/v/00007.jpg") and attempt <= _objects.ATTEMPTS else None

    store.proxy.reset_counts()
    store.proxy.fault = busy
    with pytest.raises(sf.TransientNetworkError, match=f"s3://{bucket}/v/00007.jpg: cannot put the object"):
        everything(clip, f"s3://{bucket}/v", storage_options=opts, quality=60, overwrite=True)
    store.proxy.fault = lambda method, path, attempt: None
    assert objects(store, bucket) == before


def _wait(check, timeout: float, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while not check() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)


def _snapshot_into(store, bucket: str, path: str, width: int, stderr: int, opts: dict | None = None):
    """`stillframe snapshot` of `path` every 0.04 s into s3://BUCKET/v/, replacing what is there."""
    opts = options(store) if opts is None else opts
    argv = [
        sys.executable,
        "-m",
        "stillframe.cli",
        "snapshot",
        path,
        "-o",
        f"s3://{bucket}/v/{{Count}}.jpg",
        "--interval",
        "0.04",
        "--width",
        str(width),
        "--overwrite",
        "--storage-options",
        json.dumps(opts),
    ]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=stderr, text=True)


def test_a_rerun_interrupted_part_way_leaves_the_bucket_as_it_was(store, bucket, clips):
    path = str(clips("sigint.mp4", frames=900, size=(640, 360), gop=300, bframes=3))
    for k in range(1, 61):  # an earlier, shorter run's objects, under the first names this one writes
        store.s3.put_object(Bucket=bucket, Key=f"v/{k:05d}.jpg", Body=f"earlier {k}".encode())
    before = objects(store, bucket)
    store.proxy.fault = lambda method, path, attempt: 0.02 if method == "PUT" else None  # a store far away
    proc = _snapshot_into(store, bucket, path, 160, subprocess.PIPE)

    def kept() -> bool:
        listing = store.s3.list_objects_v2(Bucket=bucket, Prefix="v/.").get("Contents", [])
        return len([o for o in listing if o["Key"].endswith(".keep")]) >= 3

    _wait(kept, 60, proc)
    assert proc.poll() is None, proc.communicate()[1]
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and err.strip() == "stillframe: interrupted"
    assert objects(store, bucket) == before


def test_a_run_killed_outright_is_undone_by_the_next_run_into_its_names(store, bucket, clips, monkeypatch):
    path = str(clips("sigint.mp4", frames=900, size=(640, 360), gop=300, bframes=3))
    for k in range(1, 61):
        store.s3.put_object(Bucket=bucket, Key=f"v/{k:05d}.jpg", Body=f"earlier {k}".encode())
    before = objects(store, bucket)
    opts = options(store)
    proc = _snapshot_into(store, bucket, path, 64, subprocess.DEVNULL, opts)

    def kept() -> list[str]:
        listing = store.s3.list_objects_v2(Bucket=bucket, Prefix="v/.").get("Contents", [])
        return [o["Key"] for o in listing if o["Key"].endswith(".keep")]

    _wait(lambda: len(kept()) >= 3, 60, proc)
    proc.kill()  # no chance to roll back: what it replaced stays aside in the bucket
    proc.wait(30)
    assert len(kept()) >= 3

    real = _objects.ObjectStore.put
    puts = []

    def fails_at_the_fifth(self, url, data):
        puts.append(url)
        if len(puts) == 5:
            raise sf.TransientNetworkError(f"{url}: the store went away")
        return real(self, url, data)

    monkeypatch.setattr(_objects.ObjectStore, "put", fails_at_the_fifth)
    with pytest.raises(sf.TransientNetworkError, match="went away"):
        sf.snapshot(
            path, sf.Interval(0.04), f"s3://{bucket}/v/{{Count}}.jpg", width=64, storage_options=opts, overwrite=True
        )
    after = objects(store, bucket)
    assert {k: after[k] for k in before} == before  # what the killed run replaced is back
    assert not [k for k in after if k not in before and int(k[2:7]) <= 60]  # nothing else of either run there
    assert not kept()


def test_a_probe_a_killed_run_left_is_removed_by_the_next_run_there(store, bucket, clip):
    # A run killed between putting its probe object and deleting it leaves it; one still running keeps its own.
    from stillframe._runs import RunLock

    running = RunLock("5eed1e55")
    running.hold()
    try:
        for token in ("0badc0de", "5eed1e55"):
            store.s3.put_object(Bucket=bucket, Key=f"v/.stillframe-check-{token}", Body=b"")
        sf.snapshot(clip, sf.Interval(1), f"s3://{bucket}/v/{{Count}}.jpg", width=64, storage_options=options(store))
    finally:
        running.release()
    assert sorted(objects(store, bucket)) == [
        "v/.stillframe-check-5eed1e55",
        "v/00001.jpg",
        "v/00002.jpg",
        "v/00003.jpg",
    ]


HELD_BEFORE_COMMIT = """
import sys, time
from pathlib import Path
from stillframe import _ledger

real = _ledger.Ledger.commit

def held(self):
    for store in self.stores.values():
        store.wait()
    Path(sys.argv[1]).write_text("ready")
    time.sleep(120)

_ledger.Ledger.commit = held
from stillframe.cli import main
sys.exit(main(sys.argv[2:]))
"""


def test_ctrl_c_just_before_the_commit_puts_back_every_object(store, bucket, clip, tmp_path):
    opts = options(store)
    everything(clip, f"s3://{bucket}/v", storage_options=opts, quality=90)
    before = objects(store, bucket)
    ready = tmp_path / "ready"
    v = f"s3://{bucket}/v"
    args = [
        "snapshot",
        clip,
        "-o",
        f"{v}/{{Count}}.jpg",
        "--interval",
        "0.25",
        "--width",
        "128",
        "--quality",
        "60",
        "--sprite",
        "3x2",
        "--vtt",
        f"{v}/thumbs.vtt",
        "--storyboard",
        f"{v}/storyboard.json",
        "--cover",
        "auto",
        "--overwrite",
        "--storage-options",
        json.dumps(opts),
    ]
    proc = subprocess.Popen(
        [sys.executable, "-c", HELD_BEFORE_COMMIT, str(ready), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait(ready.exists, 60, proc)
    assert ready.exists(), proc.communicate()[1]
    held = objects(store, bucket)
    assert len([k for k in held if k.endswith(".keep")]) == len(before) == 17
    assert all(held[k] != before[k] for k in before if k.endswith(".jpg"))  # the new run's, all in place
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert objects(store, bucket) == before


def test_objects_there_already_stop_the_run_unless_overwrite(store, bucket, clip):
    opts = options(store)
    everything(clip, f"s3://{bucket}/v", storage_options=opts, quality=90)
    before = objects(store, bucket)
    with pytest.raises(sf.errors.OutputExists, match=f"s3://{bucket}/v/00001.jpg is there already"):
        everything(clip, f"s3://{bucket}/v", storage_options=opts, quality=60)
    assert objects(store, bucket) == before  # refused before anything was put
    everything(clip, f"s3://{bucket}/v", storage_options=opts, quality=60, overwrite=True)
    after = objects(store, bucket)
    assert after.keys() == before.keys() and after["v/00001.jpg"] != before["v/00001.jpg"]
