"""Live snapshot jobs against real streams: nginx-rtmp fed by a publisher the test
runs (at PACE times real time), and live HLS served over HTTP. Every clip carries its frame
index as a barcode, so each snapshot says which frame it is. Whatever uses the store
runs on an SQLite file and on a PostgreSQL database."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from stillframe import testsrc
from stillframe.errors import (
    InvalidParameter,
    JobAlreadyStarted,
    JobLimitExceeded,
    JobNotFound,
    MissingParameter,
    StreamNotFound,
    TemplateNotFound,
)
from stillframe.jobs import JobService
from stillframe.jobs.capture import stream_is_live
from stillframe.jobs.storage import LiveOutput

from .servers import Publisher, nginx_rtmp, post_receiver, s3_server, static_http, wait_for
from .wakeups import LISTENER, WakeupLog

pytestmark = pytest.mark.live

FPS, GOP = 30, 30  # a keyframe every second
SEED_FIELDS = [
    "JobId",
    "JobName",
    "TemplateId",
    "TemplateName",
    "Status",
    "StreamInput",
    "SnapshotOutput",
    "OverwriteFormat",
    "SequenceFormat",
    "TimeInterval",
    "CallbackUrl",
    "LastModified",
    "CreateTime",
]
FAST = {"max_backoff": 1.0, "read_timeout": 5.0}
# The publisher plays the clip this many times as fast as real time: snapshots follow
# the stream's own clock, 5 s of it apart, which then pass in 5 / PACE s.
PACE = 4.0
SUPERVISOR = "stillframe-live"  # the thread of a service's live supervisor


@pytest.fixture(scope="module")
def clip(clips):
    return clips("live.mp4", frames=20 * FPS, size=(320, 240), fps=FPS, gop=GOP, bframes=2)


@pytest.fixture(scope="module")
def rtmp(tmp_path_factory):
    with nginx_rtmp(tmp_path_factory.mktemp("nginx")) as base:
        yield base


@pytest.fixture
def stream(rtmp, request):
    return f"{rtmp}/{request.node.name.replace('[', '_').strip(']')}"


def frame_index(data: bytes) -> int:
    return testsrc.read_index(np.asarray(Image.open(io.BytesIO(data)).convert("L")))


def local(tmp_path: Path) -> dict:
    return {"StorageType": "local", "Bucket": str(tmp_path / "out")}


def capturing(job_id: str) -> bool:
    """Whether a capture thread of `job_id` runs in this process."""
    return any(th.name == f"stillframe-live-{job_id[:8]}" for th in threading.enumerate())


def test_rtmp_job_end_to_end(tmp_path, clip, stream, store, monkeypatch):
    log = WakeupLog(monkeypatch)
    out = tmp_path / "out"
    with (
        post_receiver() as (callback, received),
        Publisher(clip, stream, speed=PACE),
        JobService(store, workers=1, capture_options=FAST) as svc,
    ):
        tid = svc.create_live_snapshot_template("every 5 s", 5)
        job = svc.submit_live_snapshot_job("cam 1", {"Url": stream, "Type": "rtmp"}, tid, local(tmp_path), callback)
        assert job.status == "started"
        d = job.to_dict()
        assert list(d) == SEED_FIELDS
        assert d["OverwriteFormat"] == "snapshot/{JobId}.jpg"
        assert d["SequenceFormat"] == "snapshot/{JobId}/{UnixTimestamp}.jpg"
        assert d["TimeInterval"] == 5 and d["TemplateName"] == "every 5 s" and d["CallbackUrl"] == callback
        with pytest.raises(JobAlreadyStarted):
            svc.send_live_snapshot_job_command(job.id, "start")

        wait_for(lambda: len(received) >= 3, 30, "three snapshots")
        first3 = sorted(received, key=lambda m: m["Sequence"])[:3]
        assert [m["Sequence"] for m in first3] == [1, 2, 3]
        # Stream-time spacing is the interval exactly: keyframes fall on whole seconds.
        gaps = np.diff([m["StreamTime"] for m in first3])
        assert np.allclose(gaps, 5.0, atol=0.01), gaps
        indexes = []
        for m in first3:
            assert m["JobId"] == job.id and m["JobName"] == "cam 1" and (m["Width"], m["Height"]) == (320, 240)
            seq_file = Path(m["SequenceFile"])
            assert seq_file == out / "snapshot" / job.id / f"{m['CreateTimestamp']}.jpg"
            assert m["OverwriteFile"] == str(out / "snapshot" / f"{job.id}.jpg")
            indexes.append(frame_index(seq_file.read_bytes()))
        assert all(i % GOP == 0 for i in indexes), indexes  # keyframes only
        assert np.diff(indexes).tolist() == [5 * FPS, 5 * FPS]

        # Files listing: one entry a snapshot, paged by NextStartTime, both orders.
        now = time.time()
        window = dict(start_time=now - 600, end_time=now + 60)
        page = svc.list_live_snapshot_files(job.id, limit=2, **window)
        assert len(page["FileList"]) == 2 and page["NextStartTime"]
        rest = svc.list_live_snapshot_files(job.id, limit=100, next_start_time=page["NextStartTime"], **window)
        listed = page["FileList"] + rest["FileList"]
        stamps = [f["CreateTimestamp"] for f in listed]
        assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps) >= 3
        assert {"OssEndpoint", "OssBucket", "OssObject", "CreateTime", "CreateTimestamp", "IsOverlay"} == set(listed[0])
        assert all(not f["IsOverlay"] and (out / f["OssObject"]).exists() for f in listed)
        desc = svc.list_live_snapshot_files(job.id, limit=100, sort_by="desc", **window)["FileList"]
        assert [f["CreateTimestamp"] for f in desc][: len(stamps)] == sorted(stamps, reverse=True)[: len(desc)]

        # Stop: paused, its capture ends, and the supervisor's next ticks leave it be.
        stopped = svc.send_live_snapshot_job_command(job.id, "stop")
        assert stopped.status == "paused" and stopped.reason == "stopped by command"
        wait_for(lambda: not capturing(job.id), 15, "the capture to end")
        settled = svc.get_live_snapshot_job(job.id).sequence
        wait_for(lambda: len(received) == settled, 15, "the callbacks of its last snapshots")
        files = sorted((out / "snapshot" / job.id).iterdir())
        ticks = len(log.of(SUPERVISOR, ("tick",)))
        wait_for(lambda: len(log.of(SUPERVISOR, ("tick",))) >= ticks + 2, 15, "two more ticks")
        assert not capturing(job.id)
        assert len(received) == settled and sorted((out / "snapshot" / job.id).iterdir()) == files
        # The overwrite file is the latest snapshot.
        latest = max(received, key=lambda m: m["Sequence"])
        assert (out / "snapshot" / f"{job.id}.jpg").read_bytes() == Path(latest["SequenceFile"]).read_bytes()

        # Start again: the sequence carries on.
        assert svc.send_live_snapshot_job_command(job.id, "start").status == "started"
        wait_for(lambda: len(received) > settled, 15, "a snapshot after start")
        assert max(m["Sequence"] for m in received) == settled + 1

        # Deleting entries, and their files on request.
        victim = listed[0]
        res = svc.delete_live_snapshot_files(job.id, [victim["CreateTimestamp"], 1], delete_file=True)
        assert res["DeleteFileResultList"] == [
            {"CreateTimestamp": victim["CreateTimestamp"], "Result": "SUCCESS"},
            {"CreateTimestamp": 1, "Result": "NOT_FOUND"},
        ]
        assert not (out / victim["OssObject"]).exists()
        after = svc.list_live_snapshot_files(job.id, limit=100, **window)["FileList"]
        assert victim["CreateTimestamp"] not in [f["CreateTimestamp"] for f in after]
        svc.delete_live_snapshot_files(job.id, [listed[1]["CreateTimestamp"]])  # the entry only
        assert (out / listed[1]["OssObject"]).exists()


def test_reconnects_when_the_publisher_returns(tmp_path, clip, stream, store):
    publisher = Publisher(clip, stream, speed=PACE).start()
    try:
        with JobService(store, workers=1, capture_options=FAST) as svc:
            shots: list[dict] = []
            svc.on_live_snapshot(shots.append)
            tid = svc.create_live_snapshot_template(
                "t", 5, sequence_format="{JobId}/{Sequence}.jpg", overwrite_format=""
            )
            job = svc.submit_live_snapshot_job("j", {"Url": stream}, tid, local(tmp_path))
            wait_for(lambda: shots, 15, "the first snapshot")
            publisher.stop()
            paused = wait_for(
                lambda: (j := svc.get_live_snapshot_job(job.id)).status == "paused" and j, 15, "the job to pause"
            )
            assert "reconnecting" in paused.reason or "not live" in paused.reason
            count = len(shots)
            publisher.start()
            wait_for(lambda: svc.get_live_snapshot_job(job.id).status == "started", 15, "the job to resume")
            wait_for(lambda: len(shots) > count, 15, "a snapshot after reconnecting")
            assert [m["Sequence"] for m in shots] == list(range(1, len(shots) + 1))
            assert all(m["OverwriteFile"] is None for m in shots)
            names = sorted(p.name for p in (tmp_path / "out" / job.id).iterdir())
            assert names == sorted(f"{m['Sequence']}.jpg" for m in shots)
            listed = svc.list_live_snapshot_files(job.id, time.time() - 600, time.time() + 60, limit=100)
            assert [f["OssObject"] for f in listed["FileList"]] == [f"{job.id}/{m['Sequence']}.jpg" for m in shots]
    finally:
        publisher.stop()


def test_worker_process_captures_and_a_restarted_service_resumes(tmp_path, clip, stream, store):
    with Publisher(clip, stream, speed=PACE):
        with JobService(store, workers=0) as svc:
            tid = svc.create_live_snapshot_template(
                "t", 5, overwrite_format="latest/{JobId}.jpg", sequence_format="seq/{Date}/{Sequence}.jpg"
            )
            job = svc.submit_live_snapshot_job("j", {"Url": stream}, tid, local(tmp_path))
            assert job.status == "started"
        # A `stillframe worker` process captures it ...
        worker = subprocess.Popen(
            [sys.executable, "-m", "stillframe", "worker", "--store", store, "--lease", "5"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            with JobService(store, workers=0) as svc:
                wait_for(lambda: svc.get_live_snapshot_job(job.id).sequence >= 1, 30, "the worker's first snapshot")
        finally:
            worker.send_signal(signal.SIGTERM)
            assert worker.wait(20) == 0, worker.stderr.read().decode() if worker.stderr else ""
        # ... which hands the job back when it stops; still started, resumed by the next service.
        with JobService(store, workers=0) as svc:
            held = svc.get_live_snapshot_job(job.id)
            assert held.status == "started"
        before = held.sequence
        with JobService(store, workers=1, capture_options=FAST) as svc:
            wait_for(lambda: svc.get_live_snapshot_job(job.id).sequence > before, 20, "a snapshot after the restart")
    day = time.strftime("%Y-%m-%d", time.gmtime())
    seq_dir = tmp_path / "out" / "seq"
    names = sorted(int(p.stem) for d in seq_dir.iterdir() for p in d.iterdir())
    assert names[: before + 1] == list(range(1, before + 2))
    assert any(d.name == day for d in seq_dir.iterdir())
    assert (tmp_path / "out" / "latest" / f"{job.id}.jpg").exists()


def test_hls_over_http(tmp_path, clip, store):
    hls = tmp_path / "hls"
    hls.mkdir()
    options = {"hls_time": "1", "hls_list_size": "6", "hls_flags": "delete_segments"}
    with Publisher(clip, str(hls / "live.m3u8"), options=options, speed=PACE), static_http(hls) as base:
        wait_for(lambda: (hls / "live.m3u8").exists(), 10, "the playlist")
        with JobService(store, workers=1, capture_options=FAST) as svc:
            shots: list[dict] = []
            svc.on_live_snapshot(shots.append)
            tid = svc.create_live_snapshot_template("hls", 5)
            job = svc.submit_live_snapshot_job("h", {"Url": f"{base}/live.m3u8", "Type": "hls"}, tid, local(tmp_path))
            assert job.status == "started"
            wait_for(lambda: len(shots) >= 2, 30, "two snapshots")
    gaps = np.diff([m["StreamTime"] for m in shots[:2]])
    assert np.allclose(gaps, 5.0, atol=0.01), gaps
    index = frame_index(Path(shots[1]["SequenceFile"]).read_bytes())
    assert index % GOP == 0


def test_stream_checks_and_the_job_limit(tmp_path, clip, stream, rtmp, store):
    with Publisher(clip, stream, speed=PACE), JobService(store, workers=0, live_job_limit=1) as svc:
        tid = svc.create_live_snapshot_template("t", 5)
        idle = svc.submit_live_snapshot_job("idle", {"Url": f"{rtmp}/nobody-here"}, tid, local(tmp_path))
        assert idle.status == "init" and "not live" in idle.reason
        with pytest.raises(StreamNotFound) as err:
            svc.send_live_snapshot_job_command(idle.id, "start")
        assert err.value.http_status == 400
        wait_for(lambda: svc.submit_live_snapshot_job("a", {"Url": stream}, tid, local(tmp_path)), 10, "a live job")
        with pytest.raises(JobLimitExceeded):
            svc.submit_live_snapshot_job("b", {"Url": stream}, tid, local(tmp_path))
        assert svc.list_live_snapshot_jobs()["TotalCount"] == 2  # the refused one was not kept
        # Stopping an init job leaves it init; restart needs the stream live too.
        assert svc.send_live_snapshot_job_command(idle.id, "stop").status == "init"
        with pytest.raises(StreamNotFound):
            svc.send_live_snapshot_job_command(idle.id, "restart")


def claimed_by(svc: JobService, job_id: str) -> str | None:
    from sqlalchemy import select

    from stillframe.jobs import store as t

    with svc.engine.connect() as conn:
        return conn.execute(select(t.live_jobs.c.claimed_by).where(t.live_jobs.c.id == job_id)).scalar()


def test_an_idle_supervisor_takes_a_job_submitted_here_at_once(tmp_path, clip, stream, store, monkeypatch):
    """Its waits are held (tests/wakeups.py): only the submission's ring can end one."""
    log = WakeupLog(monkeypatch, speed=20.0)
    with Publisher(clip, stream, speed=PACE), JobService(store, workers=1, capture_options=FAST) as svc:
        assert svc.live_supervisor is not None
        tid = svc.create_live_snapshot_template("t", 5)
        wait_for(lambda: stream_is_live(stream, 5.0), 10, "the stream")
        log.hold()
        log.settle(svc.live_supervisor._wakeup, 1)
        since = log.mark()
        job = svc.submit_live_snapshot_job("now", {"Url": stream}, tid, local(tmp_path))
        wait_for(lambda: claimed_by(svc, job.id), 30, "the claim")
    woke = log.of(SUPERVISOR, ("woke",), since)
    assert woke and woke[0].rung


def test_another_process_s_start_and_stop_reach_an_idle_supervisor_at_once(
    tmp_path, clip, stream, postgres_url, monkeypatch
):
    """On PostgreSQL, by NOTIFY: the submitting service runs no workers of its own, and
    the worker's waits are held (tests/wakeups.py), so only a notification ends one (a
    capturing supervisor would otherwise tick every 0.5 s anyway)."""
    log = WakeupLog(monkeypatch, speed=20.0)
    with (
        Publisher(clip, stream, speed=PACE),
        JobService(postgres_url, workers=1, capture_options=FAST) as worker,
        JobService(postgres_url, workers=0) as front,
    ):
        supervisor = worker.live_supervisor
        assert supervisor is not None
        tid = front.create_live_snapshot_template("t", 5)
        wait_for(lambda: stream_is_live(stream, 5.0), 10, "the stream")
        log.hold()
        log.settle(supervisor._wakeup, 1)
        since = log.mark()
        job = front.submit_live_snapshot_job("elsewhere", {"Url": stream}, tid, local(tmp_path))
        wait_for(lambda: job.id in supervisor.capturing(), 30, "the capture")
        assert claimed_by(front, job.id) == worker.runner.ident
        assert [e.wakeup for e in log.of(LISTENER, ("ring",), since)].count(supervisor._wakeup) >= 1
        log.settle(supervisor._wakeup, 1)
        since = log.mark()
        front.send_live_snapshot_job_command(job.id, "stop")
        wait_for(lambda: job.id not in supervisor.capturing(), 30, "the capture to stop")
        assert [e.wakeup for e in log.of(LISTENER, ("ring",), since)].count(supervisor._wakeup) >= 1
        assert worker.get_live_snapshot_job(job.id).status == "paused"


def test_the_job_limit_holds_when_starts_race(tmp_path, clip, stream, store):
    with JobService(store, workers=0, live_job_limit=2) as svc:
        tid = svc.create_live_snapshot_template("t", 5)
        ids = [svc.submit_live_snapshot_job(f"j{i}", {"Url": stream}, tid, local(tmp_path)).id for i in range(6)]
        with Publisher(clip, stream, speed=PACE):
            wait_for(lambda: stream_is_live(stream, 2), 10, "the stream")
            gate = threading.Barrier(len(ids))
            outcomes: list[str] = []

            def start(job_id: str) -> None:
                gate.wait()
                try:
                    outcomes.append(svc.send_live_snapshot_job_command(job_id, "start").status)
                except JobLimitExceeded:
                    outcomes.append("refused")

            threads = [threading.Thread(target=start, args=(job_id,)) for job_id in ids]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(30)
        assert sorted(outcomes) == ["refused"] * 4 + ["started"] * 2
        assert svc.list_live_snapshot_jobs(status="started")["TotalCount"] == 2


def test_validation_rules(tmp_path, store):
    with JobService(store, workers=0, stream_timeout=1) as svc:
        make = svc.create_live_snapshot_template
        for bad in (4, 3601, 5.5, "5", True):
            with pytest.raises(InvalidParameter):
                make("t", bad)
        with pytest.raises(MissingParameter):
            make("t", None)
        with pytest.raises(MissingParameter):
            make("", 5)
        with pytest.raises(InvalidParameter):
            make("x" * 129, 5)
        with pytest.raises(MissingParameter):
            make("t", 5, overwrite_format="", sequence_format="")
        bad_formats = [
            dict(overwrite_format="snap/{JobId}/{Sequence}.jpg"),  # overwrite: {JobId} only
            dict(overwrite_format="/snap/{JobId}.jpg"),  # leading slash
            dict(overwrite_format="snap/{JobId}.png"),  # .jpg only
            dict(overwrite_format="a" * 252 + ".jpg"),  # over 255
            dict(sequence_format="snap/{JobId}/{Date}.jpg"),  # needs {UnixTimestamp} or {Sequence}
            dict(sequence_format="snap/{Foo}/{Sequence}.jpg"),  # unknown placeholder
            dict(sequence_format="snap/{JobId/{Sequence}.jpg"),  # unbalanced
        ]
        for kwargs in bad_formats:
            with pytest.raises(InvalidParameter):
                make("t", 5, **kwargs)
        only_seq = svc.get_live_snapshot_template(make("s", 10, sequence_format="{JobId}/{UnixTimestamp}.jpg"))
        assert only_seq.overwrite_format is None and only_seq.time_interval == 10
        a = make("alpha", 5)
        tpl = svc.get_live_snapshot_template(a).to_dict()
        assert tpl["OverwriteFormat"] == "snapshot/{JobId}.jpg" and tpl["TimeInterval"] == 5
        listing = svc.list_live_snapshot_templates(search_keyword="alpha")
        assert [x["TemplateId"] for x in listing["TemplateList"]] == [a] and listing["TotalCount"] == 1
        assert svc.list_live_snapshot_templates(search_keyword="ALPHA")["TotalCount"] == 1  # on every store
        assert svc.list_live_snapshot_templates(page_size=1, sort_by="asc")["TemplateList"][0]["TemplateId"] == (
            only_seq.id
        )
        with pytest.raises(InvalidParameter):
            svc.update_live_snapshot_template(a, time_interval=2)
        with pytest.raises(MissingParameter):
            svc.update_live_snapshot_template(a, overwrite_format="", sequence_format="")
        with pytest.raises(InvalidParameter):
            svc.list_live_snapshot_templates(page_size=101)
        with pytest.raises(TemplateNotFound):
            svc.get_live_snapshot_template("nope")
        with pytest.raises(TemplateNotFound):
            svc.delete_live_snapshot_template("nope")

        url = "rtmp://127.0.0.1:9/live/none"  # nothing listens on the discard port
        out = {"StorageType": "local", "Bucket": str(tmp_path)}
        submit = svc.submit_live_snapshot_job
        job = submit("j", {"Url": url, "Type": "rtmp"}, a, out)
        assert job.status == "init"
        # A template changed later leaves the job as it was submitted.
        svc.update_live_snapshot_template(a, time_interval=60, name="renamed")
        assert svc.get_live_snapshot_job(job.id).time_interval == 5
        assert svc.get_live_snapshot_job(job.id).template_name == "alpha"
        for args, err in [
            (("", {"Url": url}, a, out), MissingParameter),
            (("j", {"Type": "rtmp"}, a, out), MissingParameter),
            (("j", {"Url": url, "Type": "webrtc"}, a, out), InvalidParameter),
            (("j", "rtmp://x", a, out), InvalidParameter),
            (("j", {"Url": url}, "", out), MissingParameter),
            (("j", {"Url": url}, "nope", out), TemplateNotFound),
            (("j", {"Url": url}, a, {"StorageType": "oss", "Endpoint": "e"}), MissingParameter),
            (("j", {"Url": url}, a, {"StorageType": "oss", "Bucket": "b"}), MissingParameter),
            (("j", {"Url": url}, a, {"StorageType": "ftp", "Bucket": "b"}), InvalidParameter),
        ]:
            with pytest.raises(err):
                submit(*args)
        with pytest.raises(InvalidParameter):
            submit("j", {"Url": url}, a, out, callback_url="ftp://x")
        with pytest.raises(JobNotFound) as nf:
            svc.get_live_snapshot_job("nope")
        assert nf.value.http_status == 404
        with pytest.raises(JobNotFound):
            svc.send_live_snapshot_job_command("nope", "start")
        with pytest.raises(InvalidParameter):
            svc.send_live_snapshot_job_command(job.id, "pause")
        with pytest.raises(MissingParameter):
            svc.send_live_snapshot_job_command(job.id, "")
        for kwargs in (
            dict(page_size=0),
            dict(page_size=101),
            dict(page_no=0),
            dict(sort_by="up"),
            dict(status="running"),
            dict(start_time="2026-01-01T00:00:00Z", end_time="2026-03-01T00:00:00Z"),
            dict(start_time="yesterday"),
        ):
            with pytest.raises(InvalidParameter):
                svc.list_live_snapshot_jobs(**kwargs)
        listing = svc.list_live_snapshot_jobs(status="init", search_keyword="j")
        assert listing["TotalCount"] == 1 and list(listing["JobList"][0]) == SEED_FIELDS
        assert svc.list_live_snapshot_jobs(search_keyword="J")["TotalCount"] == 1
        now = time.time()
        with pytest.raises(MissingParameter):
            svc.list_live_snapshot_files(job.id, None, now)
        with pytest.raises(MissingParameter):
            svc.list_live_snapshot_files(job.id, now, "")
        for kwargs in (dict(limit=0), dict(limit=101), dict(sort_by="newest")):
            with pytest.raises(InvalidParameter):
                svc.list_live_snapshot_files(job.id, now - 60, now, **kwargs)
        with pytest.raises(InvalidParameter):
            svc.list_live_snapshot_files(job.id, now - 2 * 86400, now)
        with pytest.raises(JobNotFound):
            svc.list_live_snapshot_files("nope", now - 60, now)
        assert svc.list_live_snapshot_files(job.id, now - 60, now) == {"FileList": [], "NextStartTime": None}
        with pytest.raises(MissingParameter):
            svc.delete_live_snapshot_files(job.id, [])
        with pytest.raises(InvalidParameter):
            svc.delete_live_snapshot_files(job.id, ["soon"])


def test_live_output_to_an_s3_compatible_store():
    with s3_server("snaps") as (endpoint, s3):
        creds = {"key": "testing", "secret": "testing"}
        out = LiveOutput({"StorageType": "oss", "Endpoint": endpoint, "Bucket": "snaps"}, creds)
        out.put("snapshot/j.jpg", b"\xff\xd8one")
        out.put("snapshot/j.jpg", b"\xff\xd8two")
        assert s3.get_object(Bucket="snaps", Key="snapshot/j.jpg")["Body"].read() == b"\xff\xd8two"
        assert out.url("snapshot/j.jpg") == "oss://snaps/snapshot/j.jpg"
        assert out.remove("snapshot/j.jpg") and not out.remove("snapshot/j.jpg")


def test_cli(tmp_path, capsys, store):
    from stillframe.cli import main

    flags = ["--store", store]

    def run(*args: str):
        assert main(["live", *args, *flags]) == 0
        return json.loads(capsys.readouterr().out)

    tid = run("templates", "create", "--name", "cli", "--interval", "5")["TemplateId"]
    assert run("templates", "get", "--id", tid)["TimeInterval"] == 5
    job = run(
        "submit",
        "--name",
        "c",
        "--url",
        "rtmp://127.0.0.1:9/live/none",
        "--template",
        tid,
        "--bucket",
        str(tmp_path / "out"),
        "--storage-type",
        "local",
    )
    assert job["Status"] == "init" and list(job) == SEED_FIELDS
    assert run("get", job["JobId"])["JobName"] == "c"
    assert run("list", "--status", "init")["TotalCount"] == 1
    assert run("command", job["JobId"], "stop")["Status"] == "init"
    now = int(time.time())
    files = run("files", job["JobId"], "--start", str(now - 60), "--end", str(now))
    assert files == {"FileList": [], "NextStartTime": None}
    assert main(["live", "command", job["JobId"], "start", *flags]) == 1
    assert "StreamNotFound" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # nothing captured, nothing written
