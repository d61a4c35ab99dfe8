"""Snapshot jobs: the services' semantics over real stores (each test on SQLite and on PostgreSQL),
real workers (threads and processes), a real HTTP receiver and a real S3-compatible server on loopback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from stillframe.errors import (
    InvalidParameter,
    JobNotFound,
    MissingParameter,
    PipelineNotFound,
    SnapshotTimeOut,
    TemplateNotFound,
)
from stillframe.jobs import JobService, SnapshotConfig
from stillframe.sampling import Interval

from .servers import post_receiver, s3_server, wait_for

ASYNC_ONE = {"Interval": 1, "Num": 1}  # one snapshot, but Interval/Num given: async


@pytest.fixture
def svc(store):
    service = JobService(store, workers=2, lease_seconds=5).start()
    yield service
    service.close()


def test_sync_and_async_jobs(svc, tiny, tmp_path):
    job = svc.submit_snapshot_job(tiny, tmp_path / "one.jpg", {"Time": 500})
    assert job.status == "Success" and not job.is_async and job.count == 1
    assert (tmp_path / "one.jpg").exists()
    job = svc.submit_snapshot_job(tiny, str(tmp_path / "many/{Count}.jpg"), {"Time": 0, "Interval": 0.25, "Num": 3})
    assert job.status in ("Init", "Processing", "Success") and job.is_async
    done = svc.wait(job.id, timeout=30)
    assert done.status == "Success" and done.count == 3
    assert sorted(os.listdir(tmp_path / "many")) == ["00001.jpg", "00002.jpg", "00003.jpg"]
    d = done.to_dict()
    assert list(d) == [
        "JobId",
        "TriggerSource",
        "Name",
        "Type",
        "Input",
        "Output",
        "Count",
        "Async",
        "TemplateId",
        "PipelineId",
        "Status",
        "SubmitTime",
        "FinishTime",
        "CreateTime",
        "ModifiedTime",
        "Code",
        "Message",
        "UserData",
    ]
    assert d["Input"] == {"Type": "File", "Media": tiny}
    assert d["CreateTime"].endswith("Z") and "T" in d["CreateTime"]


def test_sync_timeout(store, tmp_path, tiny):
    with JobService(store, workers=0, sync_timeout=1e-6) as svc:
        with pytest.raises(SnapshotTimeOut) as info:
            svc.submit_snapshot_job(tiny, tmp_path / "slow.jpg", {"Time": 500})
        job = svc.get_snapshot_job(info.value.job.id)
        assert (job.status, job.code) == ("Fail", "SnapshotTimeOut")


def test_failures_get_the_service_codes(svc, tmp_path):
    missing = svc.submit_snapshot_job(tmp_path / "nope.mp4", tmp_path / "o/{Count}.jpg", ASYNC_ONE)
    bad = tmp_path / "bad.mp4"
    bad.write_text("not a video at all\n" * 50)
    broken = svc.submit_snapshot_job(bad, tmp_path / "o/{Count}.jpg", ASYNC_ONE)
    assert svc.wait(missing.id, 20).code == "InvalidParameter.ResourceNotFound"
    done = svc.wait(broken.id, 20)
    assert (done.status, done.code) == ("Fail", "InvalidParameter.ResourceContentBad")
    assert done.message


def test_validation(svc, tiny, tmp_path):
    with pytest.raises(InvalidParameter, match="UserData"):
        svc.submit_snapshot_job(tiny, tmp_path / "a.jpg", {"Time": 0}, user_data="x" * 1025)
    with pytest.raises(InvalidParameter, match="Count"):
        svc.submit_snapshot_job(tiny, tmp_path / "a.jpg", {"Interval": 1, "Num": 3})
    with pytest.raises(InvalidParameter, match="TileCount"):
        svc.submit_snapshot_job(tiny, tmp_path / "s.jpg", {"Interval": 1, "Num": 3, "TileOut": {"Lines": 2}})
    with pytest.raises(InvalidParameter, match=".vtt"):
        svc.submit_snapshot_job(tiny, tmp_path / "t.txt", {"Interval": 1, "Num": 3, "Format": "vtt"})
    with pytest.raises(TemplateNotFound):
        svc.submit_snapshot_job(tiny, tmp_path / "a.jpg", template_id="0" * 32)
    with pytest.raises(PipelineNotFound):
        svc.submit_snapshot_job(tiny, tmp_path / "a.jpg", {"Time": 0}, pipeline_id="nope")
    with pytest.raises(MissingParameter):
        svc.submit_snapshot_job(None, tmp_path / "a.jpg")
    with pytest.raises(InvalidParameter, match="Width"):
        svc.submit_snapshot_job(tiny, tmp_path / "a.jpg", {"Time": 0, "Width": 5000})
    with pytest.raises(JobNotFound):
        svc.get_snapshot_job("missing")
    for bad in (0, 101):
        with pytest.raises(InvalidParameter, match="PageSize"):
            svc.list_snapshot_jobs(page_size=bad)
    with pytest.raises(InvalidParameter, match="offset"):
        svc.find_snapshot_jobs(offset=-1)
    with pytest.raises(InvalidParameter, match="limit"):
        svc.find_snapshot_jobs(limit=0)
    with pytest.raises(InvalidParameter, match="OrderBy"):
        svc.list_snapshot_jobs(order_by="Newest")


def test_listing_filters_orders_and_tokens(store, tmp_path, tiny):
    with JobService(store, workers=0) as svc:
        ids = [svc.submit_snapshot_job(tiny, tmp_path / f"{i}/{{Count}}.jpg", ASYNC_ONE).id for i in range(5)]
        mid = svc.get_snapshot_job(ids[2]).create_time
        desc = svc.list_snapshot_jobs().jobs
        assert [j.id for j in desc] == ids[::-1]
        assert [j.id for j in svc.list_snapshot_jobs(order_by="CreateTimeAsc").jobs] == ids
        assert [j.id for j in svc.list_snapshot_jobs(job_id=ids[3]).jobs] == [ids[3]]
        assert len(svc.list_snapshot_jobs(status="Init").jobs) == 5
        assert svc.list_snapshot_jobs(status="Success").jobs == []
        since = svc.list_snapshot_jobs(start_of_create_time=mid, order_by="CreateTimeAsc").jobs
        assert [j.id for j in since][0] == ids[2]
        until = svc.list_snapshot_jobs(end_of_create_time=time.time() + 60).jobs
        assert len(until) == 5
        assert svc.list_snapshot_jobs(end_of_create_time="2000-01-01T00:00:00Z").jobs == []
        page = svc.list_snapshot_jobs(page_size=2)
        token = page.next_page_token
        assert token
        with pytest.raises(InvalidParameter, match="not valid"):
            svc.list_snapshot_jobs(page_size=2, next_page_token=token[:-1] + ("0" if token[-1] != "0" else "1"))
        body, mac = token.split(".")
        forged = json.loads(__import__("base64").urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        forged["a"] = 10**9
        raw = __import__("base64").urlsafe_b64encode(json.dumps(forged).encode()).decode().rstrip("=")
        with pytest.raises(InvalidParameter, match="not valid"):
            svc.list_snapshot_jobs(page_size=2, next_page_token=f"{raw}.{mac}")
        with pytest.raises(InvalidParameter, match="another query"):
            svc.list_snapshot_jobs(status="Init", page_size=2, next_page_token=token)


def test_paging_while_jobs_are_added(store, tmp_path, tiny):
    with JobService(store, workers=0) as svc:
        original = {svc.submit_snapshot_job(tiny, tmp_path / "x/{Count}.jpg", ASYNC_ONE).id for _ in range(30)}
        for order in ("CreateTimeDesc", "CreateTimeAsc"):
            seen: list[str] = []
            token = None
            added = 0
            while True:
                page = svc.list_snapshot_jobs(page_size=7, order_by=order, next_page_token=token)
                seen += [j.id for j in page.jobs]
                if added < 10:  # jobs arrive while the listing is walked
                    for _ in range(5):
                        svc.submit_snapshot_job(tiny, tmp_path / "y/{Count}.jpg", ASYNC_ONE)
                    added += 5
                token = page.next_page_token
                if not token:
                    break
            assert len(seen) == len(set(seen))
            assert original <= set(seen)


def test_jobs_survive_a_restart_and_another_process_sees_them(store, tmp_path, tiny):
    with JobService(store, workers=0) as svc:
        job = svc.submit_snapshot_job(tiny, tmp_path / "r/{Count}.jpg", ASYNC_ONE, name="kept")
    code = (
        "import json, sys; from stillframe.jobs import JobService;"
        f"s = JobService({store!r}, workers=0); j = s.get_snapshot_job({job.id!r});"
        "print(json.dumps([j.name, j.status])); s.close()"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == ["kept", "Init"]
    with JobService(store, workers=1) as svc:  # a restarted service resumes the queue
        assert svc.wait(job.id, timeout=30).status == "Success"


def test_many_jobs_from_many_threads_none_lost_or_run_twice(store, tmp_path, tiny):
    with JobService(store, workers=2) as svc:
        ids: list[str] = []
        lock = threading.Lock()

        def submit(k: int) -> None:
            for i in range(25):
                job = svc.submit_snapshot_job(tiny, tmp_path / f"t{k}/{i}/{{Count}}.jpg", ASYNC_ONE)
                with lock:
                    ids.append(job.id)

        threads = [threading.Thread(target=submit, args=(k,)) for k in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert len(ids) == 200 and len(set(ids)) == 200
        jobs = [svc.wait(i, timeout=120) for i in ids]
        assert all(j.status == "Success" for j in jobs)
        assert all(j.runs == 1 for j in jobs)


def test_killed_worker_process_job_is_claimed_again(store, tmp_path, clips):
    slow = str(clips("slow.mp4", frames=900, size=(640, 360), gop=300, bframes=3))
    with JobService(store, workers=0) as svc:
        job = svc.submit_snapshot_job(
            slow, tmp_path / "k/{Count}.jpg", {"Interval": 0.1, "Num": 300, "FrameType": "normal"}
        )
    worker = subprocess.Popen(
        [sys.executable, "-m", "stillframe", "worker", "--store", store, "--lease", "2"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        with JobService(store, workers=0) as svc:
            deadline = time.monotonic() + 30
            while svc.get_snapshot_job(job.id).status != "Processing":
                assert time.monotonic() < deadline
                time.sleep(0.05)
            os.kill(worker.pid, signal.SIGKILL)  # mid-job
            worker.wait()
            assert svc.get_snapshot_job(job.id).status == "Processing"
        with JobService(store, workers=1, lease_seconds=2) as svc:
            done = svc.wait(job.id, timeout=120)
            assert done.status == "Success" and done.count == 300
            assert done.runs == 2
    finally:
        if worker.poll() is None:
            worker.kill()


def test_a_worker_that_lost_its_lease_neither_overwrites_nor_notifies(store, tmp_path, tiny):
    from stillframe.jobs.worker import JobRunner

    told: list[dict] = []
    with JobService(store, workers=0) as svc:
        svc.on_finished(told.append)
        job = svc.submit_snapshot_job(tiny, str(tmp_path / "l/{Count}.jpg"), ASYNC_ONE)
        stalled = JobRunner(svc.engine, svc.storage, svc.notifier, lease_seconds=0.05)
        assert stalled.claim().id == job.id
        time.sleep(0.1)  # its lease runs out while it works
        svc.runner.execute(svc.runner.claim())
        late = stalled.finish(job.id, "Fail", "InternalError", "too late", None)
        assert (late.status, late.runs) == ("Success", 2)
        # Threads of one worker share its identity: the run number tells their claims apart.
        again = svc.submit_snapshot_job(tiny, str(tmp_path / "m/{Count}.jpg"), ASYNC_ONE)
        first = stalled.claim()
        time.sleep(0.1)
        second = stalled.claim()
        assert first.id == second.id == again.id and (first.runs, second.runs) == (1, 2)
        assert stalled.finish(again.id, "Fail", "InternalError", "too late", None, run=1).status == "Processing"
        assert stalled.finish(again.id, "Success", None, None, {"count": 1}, run=2).status == "Success"
    assert [(m["JobId"], m["State"]) for m in told] == [(job.id, "Success"), (again.id, "Success")]


def test_pipeline_notify_url_and_callbacks(store, tmp_path, tiny):
    got: list[dict] = []
    with post_receiver() as (url, received), JobService(store, workers=2) as svc:
        svc.on_finished(got.append)
        pid = svc.create_pipeline("thumbs", max_concurrency=1, notify_url=url)
        ids = [
            svc.submit_snapshot_job(
                tiny, tmp_path / f"n{i}/{{Count}}.jpg", ASYNC_ONE, pipeline_id=pid, user_data=f"u{i}"
            ).id
            for i in range(5)
        ]
        for i in ids:
            svc.wait(i, timeout=30)
        wait_for(lambda: len(received) >= 5, 10, "five notifications")
    assert sorted(m["JobId"] for m in received) == sorted(ids)
    assert all(m["State"] == "Success" and m["PipelineId"] == pid for m in received)
    assert sorted(m["UserData"] for m in received) == [f"u{i}" for i in range(5)]
    assert sorted(m["JobId"] for m in got) == sorted(ids)


def test_templates_pipelines_media_and_urls(svc, tiny, tmp_path):
    tid = svc.create_snapshot_template(
        "sprite",
        {
            "Type": "Sprite",
            "Count": 4,
            "Interval": 0.25,
            "Width": 64,
            "SpriteSnapshotConfig": {"Lines": 2, "Columns": 2},
        },
    )
    assert svc.get_snapshot_template(tid).type == "Sprite"
    assert [t.id for t in svc.list_snapshot_templates()] == [tid]
    assert svc.update_snapshot_template(tid, name="renamed").name == "renamed"
    media = svc.register_media(tiny)
    job = svc.submit_snapshot_job(media, str(tmp_path / "sp/sprite-{TileCount}.jpg"), template_id=tid)
    done = svc.wait(job.id, timeout=30)
    assert done.status == "Success" and done.type == "Sprite" and done.tile_count == 1
    assert done.to_dict()["Input"] == {"Type": "Media", "Media": media}
    assert done.outputs() == [str(tmp_path / "sp/sprite-00001.jpg")] + [
        str(tmp_path / f"sp/sprite-cell-0000{i}.jpg") for i in range(1, 5)
    ]
    assert sorted(os.listdir(tmp_path / "sp")) == ["sprite-00001.jpg"] + [
        f"sprite-cell-0000{i}.jpg" for i in range(1, 5)
    ]
    vtt = svc.submit_snapshot_job(tiny, str(tmp_path / "v/thumbs.vtt"), {"Interval": 0.5, "Num": 2, "Format": "vtt"})
    assert svc.wait(vtt.id, 30).result["webvtt"].endswith("thumbs.vtt")
    listing = svc.find_snapshot_jobs(ids=[job.id])
    assert listing.total == 1 and listing.items[0].count == 4
    assert svc.find_snapshot_jobs(media=media).total == 1
    assert done.result["times"] == pytest.approx([0.0, 7 / 30, 15 / 30, 22 / 30])  # frames shown then
    svc.delete_snapshot_template(tid)
    with pytest.raises(TemplateNotFound):
        svc.get_snapshot_template(tid)
    pid = svc.create_pipeline("p", max_concurrency=2)
    assert svc.update_pipeline(pid, state="Paused").state == "Paused"
    assert [p.id for p in svc.list_pipelines()] == [pid]
    svc.delete_pipeline(pid)
    with pytest.raises(PipelineNotFound):
        svc.get_pipeline(pid)
    with pytest.raises(InvalidParameter, match="NotifyUrl"):
        svc.create_pipeline("q", notify_url="ftp://x")


def test_configs_from_every_service():
    from stillframe.jobs.config import config_from

    mps = config_from({"Time": "1500", "Interval": "2", "Num": "3", "Width": 320, "FrameType": "normal"})
    assert mps.sampling == Interval(2.0, start=1.5, count=3) and mps.width == 320 and mps.frame_type == "normal"
    assert config_from({"Time": 0}).frame_type == "intra"  # MPS's documented default
    tile = config_from(
        {"Interval": 1, "Num": 9, "TileOut": {"Lines": 3, "Columns": 3, "Color": "white", "IsKeepCellPic": "false"}}
    )
    assert tile.type == "Sprite" and tile.sprite.columns == 3 and not tile.sprite.keep_cell_pic
    vtt = config_from({"Interval": 1, "Num": 9, "Format": "vtt", "SubOut": {"IsSptFrag": "true"}})
    assert vtt.type == "WebVtt" and vtt.is_spt_frag and vtt.sprite is not None
    hw = config_from({"type": "quantity", "quantity": 3, "aspect_ratio": 1, "max_length": 320})
    assert hw.aspect_ratio == "16:9" and hw.max_length == 320 and hw.cover_position == 1
    ours = SnapshotConfig(sampling=Interval(5), width=160)
    assert config_from(ours.to_dict()) == ours
    with pytest.raises(InvalidParameter):
        config_from({"Format": "png"})


def test_s3_input_and_output_on_a_local_s3_server(store, tmp_path, tiny):
    with s3_server("media") as (endpoint, s3):
        s3.upload_file(tiny, "media", "in/clip.mp4")
        options = {"endpoint_url": endpoint, "key": "testing", "secret": "testing"}
        with JobService(store, workers=1, storage_options=options) as svc:
            job = svc.submit_snapshot_job(
                {"Type": "OSS", "Media": "s3://media/in/clip.mp4"},
                "s3://media/out/{Count}.jpg",
                {"Interval": 0.25, "Num": 3},
            )
            done = svc.wait(job.id, timeout=60)
            assert done.status == "Success", done.message
            assert done.result["files"] == [f"s3://media/out/0000{i}.jpg" for i in (1, 2, 3)]
            oss = svc.submit_snapshot_job(
                {"Bucket": "media", "Object": "in/clip.mp4"}, "oss://media/o2/{Count}.jpg", ASYNC_ONE
            )
            assert svc.wait(oss.id, timeout=60).status == "Success"
            missing = svc.submit_snapshot_job("s3://media/in/none.mp4", "s3://media/x/{Count}.jpg", ASYNC_ONE)
            assert svc.wait(missing.id, timeout=60).code == "InvalidParameter.ResourceNotFound"
        keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="media", Prefix="out/")["Contents"])
        assert keys == ["out/00001.jpg", "out/00002.jpg", "out/00003.jpg"]
        body = s3.get_object(Bucket="media", Key="out/00002.jpg")["Body"].read()
        assert body[:2] == b"\xff\xd8"
        assert any(o["Key"].startswith("o2/") for o in s3.list_objects_v2(Bucket="media")["Contents"])


def test_sprite_and_vtt_jobs_put_every_file_into_the_store(tmp_path, tiny):
    with s3_server("media") as (endpoint, s3):
        options = {"endpoint_url": endpoint, "key": "testing", "secret": "testing"}
        with JobService(tmp_path / "jobs.db", workers=1, storage_options=options) as svc:
            vtt = svc.submit_snapshot_job(
                tiny,
                "s3://media/vtt/thumbs.vtt",
                {
                    "Interval": 0.25,
                    "Num": 4,
                    "Format": "vtt",
                    "SubOut": {"IsSptFrag": "true"},
                    "TileOut": {"Lines": 2, "Columns": 2},
                },
            )
            sprite = svc.submit_snapshot_job(
                tiny,
                "oss://media/sp/sprite-{TileCount}.jpg",
                {"Interval": 0.25, "Num": 4, "TileOut": {"Lines": 1, "Columns": 2}},
            )
            for job in (vtt, sprite):
                done = svc.wait(job.id, timeout=60)
                assert done.status == "Success", done.message
        keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="media")["Contents"])
        assert [k for k in keys if k.startswith("vtt/")] == [
            *(f"vtt/thumbs-0000{i}.jpg" for i in range(1, 5)),
            "vtt/thumbs-sprite-00001.jpg",
            "vtt/thumbs.vtt",
        ]
        track = s3.get_object(Bucket="media", Key="vtt/thumbs.vtt")["Body"].read().decode()
        assert "\nthumbs-sprite-00001.jpg#xywh=0,0," in track  # relative to the track, as on a disk
        assert [k for k in keys if k.startswith("sp/")] == [
            "sp/sprite-00001.jpg",
            "sp/sprite-00002.jpg",
            *(f"sp/sprite-cell-0000{i}.jpg" for i in range(1, 5)),
        ]
        assert done.result["sprites"] == ["oss://media/sp/sprite-00001.jpg", "oss://media/sp/sprite-00002.jpg"]
        assert done.result["writes"]["oss"]["objects"] == 6


def test_cli_jobs(store, tmp_path, tiny, capsys):
    from stillframe import cli

    assert (
        cli.main(
            [
                "jobs",
                "submit",
                tiny,
                "-o",
                str(tmp_path / "c/{Count}.jpg"),
                "--store",
                store,
                "--config",
                json.dumps({"Interval": 0.5, "Num": 2}),
            ]
        )
        == 0
    )
    job = json.loads(capsys.readouterr().out)
    assert job["Status"] == "Init" and job["Async"] is True
    assert cli.main(["worker", "--store", store, "--drain"]) == 0
    capsys.readouterr()
    assert cli.main(["jobs", "get", job["JobId"], "--store", store]) == 0
    assert json.loads(capsys.readouterr().out)["Status"] == "Success"
    assert cli.main(["jobs", "list", "--store", store, "--status", "Success"]) == 0
    assert len(json.loads(capsys.readouterr().out)["Jobs"]) == 1
    assert cli.main(["jobs", "pipelines", "create", "--name", "p", "--store", store]) == 0
    assert "PipelineId" in json.loads(capsys.readouterr().out)
    assert cli.main(["jobs", "get", "nope", "--store", store]) == 1
    assert "JobNotFound" in capsys.readouterr().err


def test_job_results_say_what_ran_and_what_was_left_out(store, tmp_path, clips, monkeypatch):
    clip = clips("jobs-13s.mp4", frames=390, size=(256, 144), gop=30, bframes=2)
    with JobService(store, workers=1) as svc:
        # MPS: 5 snapshots 2 s apart from 0 fit a 13 s clip; from 6 s only 4 do.
        job = svc.wait(
            svc.submit_snapshot_job(
                str(clip), str(tmp_path / "a/{Count}.jpg"), {"Time": 6000, "Interval": 2, "Num": 5}
            ).id,
            timeout=60,
        )
        assert job.status == "Success"
        assert job.result["count"] == 4 and job.result["dropped"] == 1 and job.result["requested"] == 5
        assert job.result["frame_type"] == "intra"  # MPS's documented default, recorded
        assert "4 of 5 snapshots written" in job.message and "past the end" in job.message
        exact = svc.wait(
            svc.submit_snapshot_job(
                str(clip), str(tmp_path / "b/{Count}.jpg"), {"Time": 0, "Interval": 2, "Num": 3, "FrameType": "normal"}
            ).id,
            timeout=60,
        )
        assert exact.result["frame_type"] == "normal" and exact.result["dropped"] == 0 and not exact.message

        # Relative paths are taken in the submitter's folder, whatever folder the worker runs in.
        monkeypatch.chdir(clip.parent)
        rel = svc.submit_snapshot_job(clip.name, "rel-out/{Count}.jpg", {"Time": 0, "Interval": 1, "Num": 2})
        assert rel.to_dict()["Input"]["Media"] == str(clip)
        monkeypatch.chdir(tmp_path)
        done = svc.wait(rel.id, timeout=60)
        assert done.status == "Success", done.message
        assert sorted(p.name for p in (clip.parent / "rel-out").glob("*.jpg")) == ["00001.jpg", "00002.jpg"]


def test_a_cut_off_file_is_reported_in_the_job(store, tmp_path, clips):
    mp4 = clips(
        "jobs-faststart.mp4",
        frames=300,
        size=(256, 144),
        gop=30,
        bframes=2,
        container_options={"movflags": "+faststart"},
    )
    cut = tmp_path / "cut.mp4"
    data = mp4.read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.8)])
    with JobService(store, workers=1) as svc:
        job = svc.wait(
            svc.submit_snapshot_job(
                str(cut), str(tmp_path / "c/{Count}.jpg"), {"Time": 0, "Interval": 2, "FrameType": "normal"}
            ).id,
            timeout=60,
        )
    assert job.status == "Success"
    assert job.result["dropped"] > 0 and "cut off" in job.result["reason"] and "cut off" in job.message
    assert job.result["count"] == len(list((tmp_path / "c").glob("*.jpg")))


def test_jobs_wait_says_when_no_worker_runs(store, tmp_path, tiny, capsys):
    from stillframe import cli

    assert (
        cli.main(
            [
                "jobs",
                "submit",
                tiny,
                "-o",
                str(tmp_path / "w/{Count}.jpg"),
                "--store",
                store,
                "--config",
                json.dumps({"Interval": 0.5, "Num": 2}),
            ]
        )
        == 0
    )
    job_id = json.loads(capsys.readouterr().out)["JobId"]
    assert cli.main(["jobs", "wait", job_id, "--store", store, "--timeout", "0.3"]) == 1
    err = capsys.readouterr().err
    assert "waits for a worker" in err and f"stillframe worker --store {store}" in err
    with JobService(store, workers=1) as svc:  # its runner polls the store, and says so
        from stillframe.jobs.store import live_workers

        wait_for(lambda: live_workers(svc.engine) or svc.get_snapshot_job(job_id).status != "Init", 10, "a heartbeat")
        assert cli.main(["jobs", "wait", job_id, "--store", store, "--timeout", "60"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["Status"] == "Success" and "waits for a worker" not in err
