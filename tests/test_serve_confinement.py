"""Nothing outside the buckets: what a signed caller names, through the vendors' SDKs
or raw signed requests, is read and written inside its bucket when it is used, not
only when it is submitted: live template names, folders whose {Count} meets a
symlink, playlists naming other files, inputs swapped for symlinks while they wait,
media IDs as outputs, object-store outputs under their bucket's prefix; the preview
pages serve nothing from elsewhere; messages name objects, never server paths."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

pytest.importorskip("starlette")
httpx = pytest.importorskip("httpx")
ice_models = pytest.importorskip("alibabacloud_ice20201109.models")
mts_models = pytest.importorskip("alibabacloud_mts20140618.models")
pytest.importorskip("huaweicloudsdkmpc")

from alibabacloud_ice20201109.client import Client as IceClient  # noqa: E402
from alibabacloud_mts20140618.client import Client as MtsClient  # noqa: E402
from alibabacloud_tea_openapi.exceptions import ClientException  # noqa: E402
from alibabacloud_tea_openapi.models import Config  # noqa: E402
from huaweicloudsdkcore.auth.credentials import BasicCredentials  # noqa: E402
from huaweicloudsdkmpc.v1 import (  # noqa: E402
    CreateThumbnailsTaskRequest,
    CreateThumbReq,
    MpcClient,
    ObsObjInfo,
    ThumbnailPara,  # noqa: E402
)

from stillframe import testsrc  # noqa: E402
from stillframe.errors import PermissionDenied  # noqa: E402
from stillframe.jobs import JobService  # noqa: E402
from stillframe.jobs.storage import LiveOutput  # noqa: E402
from stillframe.jobs.store import jobs as jobs_table  # noqa: E402
from stillframe.server.acs_sign import Acs3HmacSha256, AcsRequest  # noqa: E402
from stillframe.server.app import ServerThread  # noqa: E402
from stillframe.server.buckets import Buckets, parse_bucket  # noqa: E402
from stillframe.server.context import ServerContext  # noqa: E402

from .servers import s3_server  # noqa: E402
from .test_serve_ui import sign_in  # noqa: E402

AK, SK, PROJECT = "LTAI-confine", "confine-secret", "stillframe"


@pytest.fixture(scope="module")
def server(tmp_path_factory, clips):
    root = tmp_path_factory.mktemp("confine")
    media, out, outside = root / "media", root / "out", root / "outside"
    for folder in (media, out, outside):
        folder.mkdir()
    clip = clips("confine.mp4", frames=60, size=(96, 64), gop=15)
    shutil.copy(clip, media / "clip.mp4")
    (outside / "secret.jpg").write_bytes(b"\xff\xd8 a secret outside every bucket")
    svc = JobService(root / "jobs.db", workers=1).start()
    buckets = Buckets([parse_bucket(f"media={media}"), parse_bucket(f"out={out}")])
    ctx = ServerContext(svc, {AK: SK}, buckets, project_id=PROJECT)
    with ServerThread(ctx) as st:
        yield SimpleNamespace(st=st, svc=svc, ctx=ctx, media=media, out=out, outside=outside, root=root)
    svc.close()


def ice(server) -> IceClient:
    return IceClient(Config(access_key_id=AK, access_key_secret=SK, endpoint=server.st.endpoint, protocol="http"))


def mts(server) -> MtsClient:
    return MtsClient(Config(access_key_id=AK, access_key_secret=SK, endpoint=server.st.endpoint, protocol="http"))


def mpc(server) -> MpcClient:
    cred = BasicCredentials(AK, SK, PROJECT)
    return MpcClient.new_builder().with_credentials(cred).with_endpoints([server.st.base_url]).build()


def refused(call, status: int = 400) -> ClientException:
    with pytest.raises(ClientException) as info:
        call()
    assert info.value.status_code == status, info.value
    return info.value


def nothing_outside(server) -> None:
    assert sorted(p.name for p in server.outside.iterdir()) == ["secret.jpg"]
    assert not list(server.root.glob("*.jpg"))


# -- 1: live templates -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "field, name",
    [
        ("overwrite_format", "../outside/live-{JobId}.jpg"),
        ("overwrite_format", "a/../../outside/{JobId}.jpg"),
        ("sequence_format", "../outside/{JobId}-{Sequence}.jpg"),
        ("sequence_format", "..\\outside\\{Sequence}.jpg"),
        ("sequence_format", "C:{Sequence}.jpg"),
        ("overwrite_format", "/abs/{JobId}.jpg"),
    ],
)
def test_live_template_names_stay_in_the_bucket(server, field, name):
    req = ice_models.CreateLiveSnapshotTemplateRequest(template_name="out", time_interval=5, **{field: name})
    assert refused(lambda: ice(server).create_live_snapshot_template(req)).code == "InvalidParameter"


def test_live_files_are_confined_when_written_and_deleted(server, tmp_path):
    bucket = tmp_path / "live"
    bucket.mkdir()
    (bucket / "snap").symlink_to(server.outside)  # planted in the bucket, pointing out
    out = LiveOutput({"StorageType": "local", "Bucket": str(bucket)})
    with pytest.raises(PermissionDenied):
        out.put("snap/job.jpg", b"\xff\xd8 live")
    nothing_outside(server)
    assert out.remove("snap/secret.jpg") is False
    assert (server.outside / "secret.jpg").exists()
    out.put("inside/job.jpg", b"\xff\xd8 live")  # a plain folder in the bucket is fine
    assert (bucket / "inside" / "job.jpg").read_bytes() == b"\xff\xd8 live"
    assert out.remove("inside/job.jpg") is True


# -- 2: the preview pages ----------------------------------------------------------------------


def test_the_pages_serve_no_file_outside_the_buckets(server):
    """A live job's latest snapshot through a symlink out of the bucket, a live job
    writing to a folder no bucket holds, a job whose files lie outside: all 404."""
    svc = server.svc
    tid = svc.create_live_snapshot_template("latest", 5, overwrite_format="snap/{JobId}.jpg")
    live_dir = server.out / "live"
    live_dir.mkdir(exist_ok=True)
    (live_dir / "snap").symlink_to(server.outside)
    through = svc.submit_live_snapshot_job(
        "cam", {"Url": "rtmp://127.0.0.1:9/x"}, tid, {"StorageType": "local", "Bucket": str(live_dir)}
    )
    shutil.copy(server.outside / "secret.jpg", server.outside / f"{through.id}.jpg")
    elsewhere = svc.submit_live_snapshot_job(
        "cam", {"Url": "rtmp://127.0.0.1:9/x"}, tid, {"StorageType": "local", "Bucket": str(server.outside)}
    )
    os.makedirs(server.outside / "snap", exist_ok=True)
    shutil.copy(server.outside / "secret.jpg", server.outside / "snap" / f"{elsewhere.id}.jpg")
    job = svc.submit_snapshot_job(str(server.media / "clip.mp4"), str(server.outside / "shot.jpg"), {"Time": 0})
    assert job.status == "Success"
    try:
        with httpx.Client(base_url=server.st.base_url) as c:
            assert sign_in(c, AK, SK).status_code == 303
            for path in (
                f"/ui/data/live/{through.id}/latest",
                f"/ui/data/live/{elsewhere.id}/latest",
                f"/ui/data/jobs/{job.id}/snapshot/0",
            ):
                r = c.get(path)
                assert r.status_code == 404 and b"secret" not in r.content, path
            assert f"/ui/data/jobs/{job.id}/snapshot/" not in c.get(f"/ui/jobs/{job.id}").text
    finally:
        for name in (f"{through.id}.jpg", "shot.jpg"):
            (server.outside / name).unlink(missing_ok=True)
        shutil.rmtree(server.outside / "snap")


# -- 4: {Count} in a folder name ----------------------------------------------------------------


def _plant(server, name: str) -> Path:
    """A symlink out of the `out` bucket where {Count} = 1 will be."""
    link = server.out / name
    link.symlink_to(server.outside)
    return link


def test_count_in_a_folder_meets_a_symlink(server):
    """The first snapshot's folder is a symlink out: checked as each file is written,
    the job fails (InvalidObject.Forbidden) and nothing lands outside."""
    links = [_plant(server, f"{k}00001") for k in ("mps", "ice", "mpc")]
    try:
        job = (
            mts(server)
            .submit_snapshot_job(
                mts_models.SubmitSnapshotJobRequest(
                    input=json.dumps({"Bucket": "media", "Location": "local", "Object": "clip.mp4"}),
                    snapshot_config=json.dumps(
                        {
                            "OutputFile": {"Bucket": "out", "Location": "local", "Object": "mps{Count}/x.jpg"},
                            "Time": "0",
                            "Interval": "1",
                            "Num": "2",
                        }
                    ),
                )
            )
            .body.snapshot_job
        )
        params = ice_models.SubmitSnapshotJobRequestTemplateConfigOverwriteParams(count=2, interval=1)
        ice_id = (
            ice(server)
            .submit_snapshot_job(
                ice_models.SubmitSnapshotJobRequest(
                    input=ice_models.SubmitSnapshotJobRequestInput(type="OSS", media="oss://media/clip.mp4"),
                    output=ice_models.SubmitSnapshotJobRequestOutput(type="OSS", media="oss://out/ice{Count}/x.jpg"),
                    template_config=ice_models.SubmitSnapshotJobRequestTemplateConfig(overwrite_params=params),
                )
            )
            .body.job_id
        )
        body = CreateThumbReq(
            input=ObsObjInfo(bucket="media", location="local", object="clip.mp4"),
            output=ObsObjInfo(bucket="out", location="local", object="mpc{Count}"),
            thumbnail_para=ThumbnailPara(type="DOTS", dots=[0, 1]),
            original_dir=1,
        )
        task = mpc(server).create_thumbnails_task(CreateThumbnailsTaskRequest(body=body)).task_id
        for job_id in (job.id, ice_id, task):
            done = server.svc.wait(job_id, 30)
            assert (done.status, done.code) == ("Fail", "InvalidObject.Forbidden"), done.message
            assert str(server.root) not in (done.message or "")
        nothing_outside(server)
        # An output file name is a name: a folder in it is refused at once.
        bad = CreateThumbReq(
            input=body.input,
            output=ObsObjInfo(bucket="out", location="local", object="o"),
            thumbnail_para=ThumbnailPara(type="DOTS", dots=[0, 1], output_filename="mpc{Count}/x"),
        )
        with pytest.raises(Exception) as info:
            mpc(server).create_thumbnails_task(CreateThumbnailsTaskRequest(body=bad))
        assert info.value.status_code == 400
    finally:
        for link in links:
            link.unlink()


# -- 5: playlists ---------------------------------------------------------------------------------


PLAYLIST = (
    "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:1.0,\n{}\n#EXT-X-ENDLIST\n"
)


def test_a_playlist_reads_only_its_own_bucket(server):
    testsrc.make_video(server.media / "seg.ts", frames=30, size=(64, 48), format="mpegts")
    testsrc.make_video(server.outside / "private.ts", frames=30, size=(64, 48), format="mpegts")
    (server.media / "inside.m3u8").write_text(PLAYLIST.format("seg.ts"))
    (server.media / "absolute.m3u8").write_text(PLAYLIST.format(server.outside / "private.ts"))
    (server.media / "parent.m3u8").write_text(PLAYLIST.format("../outside/private.ts"))
    (server.media / "remote.m3u8").write_text(PLAYLIST.format("http://127.0.0.1:9/private.ts"))
    (server.media / "nested.m3u8").write_text("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nparent.m3u8\n")
    (server.media / "list.ffconcat").write_text(f"ffconcat version 1.0\nfile '{server.outside / 'private.ts'}'\n")
    try:
        client = mts(server)

        def run(obj: str):
            return client.submit_snapshot_job(
                mts_models.SubmitSnapshotJobRequest(
                    input=json.dumps({"Bucket": "media", "Location": "local", "Object": obj}),
                    snapshot_config=json.dumps(
                        {
                            "OutputFile": {"Bucket": "out", "Location": "local", "Object": f"hls/{obj}.jpg"},
                            "Time": "500",
                        }
                    ),
                )
            ).body.snapshot_job

        ok = run("inside.m3u8")
        assert ok.state == "Success", ok.message
        for obj in ("absolute.m3u8", "parent.m3u8", "remote.m3u8", "nested.m3u8", "list.ffconcat"):
            job = run(obj)
            assert (job.state, job.code) == ("Fail", "InvalidObject.Forbidden"), (obj, job.message)
            assert str(server.root) not in job.message
    finally:
        (server.outside / "private.ts").unlink()


# -- 6: checked when opened --------------------------------------------------------------------


def test_an_input_swapped_for_a_symlink_while_it_waits(server):
    """Submitted while the pipeline is paused, the input is then replaced by a symlink
    to a video outside the bucket: the job, run later, refuses to read it."""
    client = mts(server)
    pipe = client.add_pipeline(mts_models.AddPipelineRequest(name="held")).body.pipeline.id
    client.update_pipeline(mts_models.UpdatePipelineRequest(pipeline_id=pipe, name="held", state="Paused"))
    victim = server.media / "swapped.mp4"
    shutil.copy(server.media / "clip.mp4", victim)
    job = client.submit_snapshot_job(
        mts_models.SubmitSnapshotJobRequest(
            input=json.dumps({"Bucket": "media", "Location": "local", "Object": "swapped.mp4"}),
            pipeline_id=pipe,
            snapshot_config=json.dumps(
                {
                    "OutputFile": {"Bucket": "out", "Location": "local", "Object": "sw/{Count}.jpg"},
                    "Time": "0",
                    "Interval": "1",
                    "Num": "2",
                }
            ),
        )
    ).body.snapshot_job
    assert job.state == "Submitted"
    shutil.copy(server.media / "clip.mp4", server.outside / "private.mp4")
    victim.unlink()
    victim.symlink_to(server.outside / "private.mp4")
    try:
        client.update_pipeline(mts_models.UpdatePipelineRequest(pipeline_id=pipe, name="held", state="Active"))
        done = server.svc.wait(job.id, 30)
        assert (done.status, done.code) == ("Fail", "InvalidObject.Forbidden"), done.message
        assert not (server.out / "sw").exists() or not list((server.out / "sw").iterdir())
    finally:
        victim.unlink()
        (server.outside / "private.mp4").unlink()


# -- 7: media IDs as outputs --------------------------------------------------------------------


def test_a_media_id_output_resolves_to_a_bucket_or_is_refused(server, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # where a path relative to the server's folder would land
    client = ice(server)
    params = ice_models.SubmitSnapshotJobRequestTemplateConfigOverwriteParams(count=2, interval=1)

    def submit(media_id: str):
        return client.submit_snapshot_job(
            ice_models.SubmitSnapshotJobRequest(
                input=ice_models.SubmitSnapshotJobRequestInput(type="OSS", media="oss://media/clip.mp4"),
                output=ice_models.SubmitSnapshotJobRequestOutput(type="Media", media=media_id),
                template_config=ice_models.SubmitSnapshotJobRequestTemplateConfig(overwrite_params=params),
            )
        ).body.job_id

    # One snapshot, and a folder of that name where the server runs: still not a place.
    (tmp_path / ("cd" * 16)).mkdir()
    single = ice_models.SubmitSnapshotJobRequest(
        input=ice_models.SubmitSnapshotJobRequestInput(type="OSS", media="oss://media/clip.mp4"),
        output=ice_models.SubmitSnapshotJobRequestOutput(type="Media", media="cd" * 16),
        template_config=ice_models.SubmitSnapshotJobRequestTemplateConfig(
            overwrite_params=ice_models.SubmitSnapshotJobRequestTemplateConfigOverwriteParams(time=0)
        ),
    )
    assert refused(lambda: client.submit_snapshot_job(single), status=404).code == "InvalidParameter.ResourceNotFound"
    assert list((tmp_path / ("cd" * 16)).iterdir()) == []
    (tmp_path / ("cd" * 16)).rmdir()
    err = refused(lambda: submit("ab" * 16), status=404)
    assert err.code == "InvalidParameter.ResourceNotFound"
    outside = server.svc.register_media(str(server.outside / "secret.jpg"))  # in no bucket
    assert refused(lambda: submit(outside), status=404).code == "InvalidParameter.ResourceNotFound"
    registered = server.svc.register_media(str(server.media / "clip.mp4"), root=str(server.media))
    job = server.svc.wait(submit(registered), 30)
    assert job.status == "Success", job.message
    files = [Path(f) for f in job.result["files"]]
    assert len(files) == 2 and all(f.is_relative_to(server.media / "snapshots" / registered) for f in files)
    got = client.get_snapshot_job(ice_models.GetSnapshotJobRequest(job_id=job.id)).body.snapshot_job
    assert got.output.media.startswith(f"oss://media/snapshots/{registered}/")
    assert list(tmp_path.iterdir()) == []


# -- 10: messages name objects ------------------------------------------------------------------


def test_messages_name_objects_never_server_paths(server):
    client = mts(server)
    job = client.submit_snapshot_job(
        mts_models.SubmitSnapshotJobRequest(
            input=json.dumps({"Bucket": "media", "Location": "local", "Object": "missing.mp4"}),
            snapshot_config=json.dumps({"OutputFile": {"Bucket": "out", "Location": "local", "Object": "m.jpg"}}),
        )
    ).body.snapshot_job
    assert job.state == "Fail" and "oss://media/missing.mp4" in job.message
    queried = client.query_snapshot_job_list(mts_models.QuerySnapshotJobListRequest(snapshot_job_ids=job.id))
    ice_job = ice(server).get_snapshot_job(ice_models.GetSnapshotJobRequest(job_id=job.id)).body.snapshot_job
    messages = [job.message, queried.body.snapshot_job_list.snapshot_job[0].message, ice_job.message]
    assert all(m and str(server.root) not in m and "/tmp" not in m for m in messages), messages
    # ICE's list model keeps no Message: read the answer as sent.
    query = {"Status": "Fail", "PageSize": "100"}
    headers = {"host": [server.st.endpoint], "x-acs-action": ["ListSnapshotJobs"], "x-acs-version": ["2020-11-09"]}
    signed = Acs3HmacSha256().sign(AcsRequest("POST", "/", sorted(query.items()), headers), AK, SK)
    listed = httpx.post(server.st.base_url + "/", params=query, headers=signed).json()
    assert job.id in [j["JobId"] for j in listed["Jobs"]]
    assert str(server.root) not in json.dumps(listed) and "oss://media/missing.mp4" in json.dumps(listed)
    with httpx.Client(base_url=server.st.base_url) as c:
        assert sign_in(c, AK, SK).status_code == 303
        page = c.get(f"/ui/jobs/{job.id}").text
    assert "oss://media/missing.mp4" in page and str(server.root) not in page


# -- 11: a bucket that is an object-store prefix ---------------------------------------------------


def test_object_store_outputs_stay_under_their_buckets_prefix(tmp_path, clips):
    """A bucket served from s3://store/stills: a job's outputs are put straight into
    the store under that prefix, and the job carries the prefix as the bound every
    object it puts is checked against."""
    media = tmp_path / "media"
    media.mkdir()
    shutil.copy(clips("confine.mp4", frames=60, size=(96, 64), gop=15), media / "clip.mp4")
    with s3_server("store") as (endpoint, s3):
        options = {"endpoint_url": endpoint, "key": "testing", "secret": "testing"}
        svc = JobService(tmp_path / "jobs.db", workers=1, storage_options=options).start()
        buckets = Buckets([parse_bucket(f"media={media}"), parse_bucket("out=s3://store/stills")])
        ctx = ServerContext(svc, {AK: SK}, buckets, project_id=PROJECT)
        try:
            with ServerThread(ctx) as st:
                client = IceClient(
                    Config(access_key_id=AK, access_key_secret=SK, endpoint=st.endpoint, protocol="http")
                )
                params = ice_models.SubmitSnapshotJobRequestTemplateConfigOverwriteParams(count=2, interval=1)
                job_id = client.submit_snapshot_job(
                    ice_models.SubmitSnapshotJobRequest(
                        input=ice_models.SubmitSnapshotJobRequestInput(type="OSS", media="oss://media/clip.mp4"),
                        output=ice_models.SubmitSnapshotJobRequestOutput(
                            type="OSS", media="oss://out/shots/{Count}.jpg"
                        ),
                        template_config=ice_models.SubmitSnapshotJobRequestTemplateConfig(overwrite_params=params),
                    )
                ).body.job_id
                done = svc.wait(job_id, 60)
                assert done.status == "Success", done.message
                with svc.engine.connect() as conn:
                    row = conn.execute(jobs_table.select().where(jobs_table.c.id == job_id)).first()
                assert row.output["Root"] == "s3://store/stills"
                got = client.get_snapshot_job(ice_models.GetSnapshotJobRequest(job_id=job_id)).body.snapshot_job
                assert got.output.media == "oss://out/shots/{Count}.jpg"
        finally:
            svc.close()
        keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="store").get("Contents", []))
    assert keys == ["stills/shots/00001.jpg", "stills/shots/00002.jpg"]
