"""`stillframe serve`, Huawei side: a real server on loopback driven by the unchanged
huaweicloudsdkvod / huaweicloudsdkmpc clients, plus raw requests the SDK never sends
(unsigned, stale, replayed)."""

from __future__ import annotations

import json
import shutil
import threading
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

pytest.importorskip("huaweicloudsdkmpc")
pytest.importorskip("huaweicloudsdkvod")

from huaweicloudsdkcore.auth.credentials import BasicCredentials  # noqa: E402
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException  # noqa: E402
from huaweicloudsdkcore.region.region import Region  # noqa: E402
from huaweicloudsdkcore.sdk_request import SdkRequest  # noqa: E402
from huaweicloudsdkcore.signer.signer import Signer  # noqa: E402
from huaweicloudsdkmpc.v1 import (  # noqa: E402
    CreateThumbnailsTaskRequest,
    CreateThumbReq,
    DeleteThumbnailsTaskRequest,
    ListThumbnailsTaskRequest,
    ListTranscodingTaskRequest,
    MpcClient,
    ObsObjInfo,
    ThumbnailPara,
)
from huaweicloudsdkvod.v1 import (  # noqa: E402
    AssetProcessReq,
    CreateAssetProcessTaskRequest,
    FileAddr,
    ListThumbnailDetailsRequest,
    ListThumbnailInfoRequest,
    PublishAssetFromObsReq,
    PublishAssetFromObsRequest,
    ShowAssetDetailRequest,
    Thumbnail,
    VodClient,
)

from stillframe.errors import Conflict, JobNotFound  # noqa: E402
from stillframe.jobs import JobService  # noqa: E402
from stillframe.jobs.config import SnapshotConfig  # noqa: E402
from stillframe.sampling import Interval  # noqa: E402
from stillframe.server.app import serving  # noqa: E402
from stillframe.server.buckets import Bucket, Buckets  # noqa: E402
from stillframe.server.context import ServerContext  # noqa: E402
from stillframe.server.huawei_sign import SdkHmacSha256, SignedRequest  # noqa: E402
from stillframe.server.replay import ReplayGuard  # noqa: E402

AK, SK, PROJECT = "HWAKSTILLFRAME", "hw-secret-key", "0123456789abcdef0123456789abcdef"


@pytest.fixture(scope="module")
def bucket(clips, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("obs")
    shutil.copy(clips("hw3s.mp4", frames=90, size=(160, 120), gop=15), root / "in.mp4")
    return root


def _context(service: JobService, bucket: Path, **kw) -> ServerContext:
    return ServerContext(service, {AK: SK}, Buckets([Bucket("media", str(bucket))]), project_id=PROJECT, **kw)


@pytest.fixture(scope="module")
def server(bucket, tmp_path_factory):
    with JobService(tmp_path_factory.mktemp("db") / "jobs.db", workers=1) as service:
        ctx = _context(service, bucket)
        with serving(ctx) as url:
            yield ctx, url


def _clients(url: str, sk: str = SK, project: str = PROJECT) -> tuple[MpcClient, VodClient]:
    cred = BasicCredentials(AK, sk, project)
    mpc = MpcClient.new_builder().with_credentials(cred).with_endpoints([url]).build()
    vod = VodClient.new_builder().with_credentials(cred).with_endpoints([url]).build()
    return mpc, vod


def _thumbs(
    obj: str = "in.mp4", out: str = "shots", sync: int | None = None, user_data: str | None = None, **para
) -> CreateThumbnailsTaskRequest:
    body = CreateThumbReq(
        input=ObsObjInfo(bucket="media", location="local", object=obj),
        output=ObsObjInfo(bucket="media", location="local", object=out),
        thumbnail_para=ThumbnailPara(**para),
        sync=sync,
        user_data=user_data,
    )
    return CreateThumbnailsTaskRequest(body=body)


# -- the signature itself ---------------------------------------------------------------------


def test_canonical_uri_ends_in_a_slash_and_round_trip():
    s = SdkHmacSha256()
    assert s.canonical_uri("/v1/p/asset/thumbnails") == "/v1/p/asset/thumbnails/"
    assert s.canonical_uri("/v1/a b/") == "/v1/a%20b/"
    assert s.canonical_query([("task_id", "b"), ("size", "3"), ("task_id", "a")]) == "size=3&task_id=a&task_id=b"
    req = SignedRequest("GET", "/v1/p/thumbnails", [("task_id", "x y")], {"host": "h:1", "content-type": "a/b"})
    headers = s.sign(req, AK, SK)
    assert headers["authorization"].startswith("SDK-HMAC-SHA256 Access=HWAKSTILLFRAME, SignedHeaders=content-type;")
    signed = SignedRequest(req.method, req.path, req.query, headers)
    assert s.verify(signed, {AK: SK}, ReplayGuard()) == AK
    tampered = SignedRequest(req.method, req.path, [("task_id", "x z")], headers)
    with pytest.raises(PermissionError, match="signature"):
        s.verify(tampered, {AK: SK}, ReplayGuard())


@pytest.mark.parametrize(
    "method, path, query, ctype, body",
    [
        ("GET", "/v1/p/thumbnails", [("task_id", ["b", "a"]), ("size", 3)], "application/json", b""),
        ("POST", "/v1.0/p/asset/process", [], "application/json", b'{"asset_id": "x y"}'),
        ("PUT", "/v1/p/up load", [("name", "a+b c")], "application/octet-stream", b"\x00\x01"),
    ],
)
def test_signature_matches_the_sdk_signer(method, path, query, ctype, body):
    """The same request signed by huaweicloudsdkcore and by SdkHmacSha256, at the same date."""
    date = "20260102T030405Z"
    headers = {"Content-Type": ctype, "X-Project-Id": "p", "X-Sdk-Date": date, "User-Agent": "t"}
    sdk = SdkRequest(method, "http", "h:8", path, None, list(query), dict(headers), body)
    theirs = Signer(BasicCredentials(AK, SK, "p")).sign(sdk).header_params
    flat = [(k, str(x)) for k, v in query for x in (v if isinstance(v, list) else [v])]
    ours_in = SignedRequest(method, path, flat, {**{k.lower(): v for k, v in headers.items()}, "host": "h:8"}, body)
    if "X-Sdk-Content-Sha256" in theirs:  # the SDK leaves non-JSON bodies unsigned
        ours_in = SignedRequest(
            method, path, flat, {**ours_in.headers, "x-sdk-content-sha256": "UNSIGNED-PAYLOAD"}, body
        )
    ours = SdkHmacSha256().sign(ours_in, AK, SK)
    assert ours["authorization"] == theirs["Authorization"]


# -- the SDKs, unchanged ----------------------------------------------------------------------


def test_mpc_sync_snapshot(server, bucket):
    ctx, url = server
    mpc, _ = _clients(url)
    resp = mpc.create_thumbnails_task(_thumbs(sync=1, type="DOTS", dots=[1], output_filename="cover", width=96))
    assert resp.status == "SUCCEEDED" and len(resp.task_id) == 32
    assert len(resp.create_time) == 14 and resp.create_time.isdigit()
    assert resp.output.bucket == "media" and resp.output.object.startswith("shots/")
    assert resp.output_file_name == "cover.jpg" and resp.thumbnail_time == "1"
    assert (bucket / resp.output.object / "cover.jpg").stat().st_size > 0


def test_a_queued_task_that_a_worker_failed_at_once_is_still_answered_as_a_task(server, monkeypatch):
    """A queued task a worker took and failed before the create call answered (a symlinked
    folder is found at the first write, in milliseconds): the call answers the task, FAILED,
    not the task's error as a synchronous one does."""
    import dataclasses

    from stillframe.jobs.snapshots import SnapshotJobs

    ctx, url = server
    mpc, _ = _clients(url)
    seen = SnapshotJobs.get_snapshot_job

    def failed_at_once(self, job_id, *args, **kwargs):
        job = seen(self, job_id, *args, **kwargs)
        return dataclasses.replace(job, status="Fail", code="InvalidObject.Forbidden", message="out of its bucket")

    monkeypatch.setattr(SnapshotJobs, "get_snapshot_job", failed_at_once)
    resp = mpc.create_thumbnails_task(_thumbs(type="DOTS", dots=[0, 1]))
    monkeypatch.undo()
    assert len(resp.task_id) == 32 and resp.status == "FAILED"
    ctx.service.wait(resp.task_id, timeout=30)


def test_mpc_async_then_list(server, bucket):
    ctx, url = server
    mpc, _ = _clients(url)
    resp = mpc.create_thumbnails_task(_thumbs(type="TIME", time=1, user_data="mine"))
    assert resp.status in ("WAITING", "PROCESSING", "SUCCEEDED") and resp.task_id
    ctx.service.wait(resp.task_id, timeout=30)
    listed = mpc.list_thumbnails_task(ListThumbnailsTaskRequest(task_id=[resp.task_id, "0" * 32]))
    assert listed.total == 1 and listed.is_truncated == 0
    task = listed.task_array[0]
    assert task.task_id == resp.task_id and task.status == "SUCCEEDED" and task.user_data == "mine"
    assert task.input.bucket == "media" and task.input.object == "in.mp4"
    assert task.output.bucket == "media" and task.output.object.startswith("shots/")
    names = [p.pic_name for p in task.thumbnail_info]
    assert len(names) == 3 and names[0] == "00001.jpg"
    assert all((bucket / task.output.object / n).is_file() for n in names)
    assert len(task.end_time) == 14
    page = mpc.list_thumbnails_task(ListThumbnailsTaskRequest(status="SUCCEEDED", page=0, size=1))
    assert page.total >= 1 and len(page.task_array) == 1 and page.task_array[0].status == "SUCCEEDED"


def test_region_and_iam_lookup(server):
    _, url = server
    cred = BasicCredentials(AK, SK).with_iam_endpoint(url)
    region = Region(f"sf-{uuid.uuid4().hex[:8]}", url)  # a fresh name: the SDK caches project ids
    mpc = MpcClient.new_builder().with_credentials(cred).with_region(region).build()
    assert cred.project_id == PROJECT
    assert mpc.list_thumbnails_task(ListThumbnailsTaskRequest(size=1)).total >= 0


def test_vod_asset_thumbnails(server, bucket):
    ctx, url = server
    _, vod = _clients(url)
    pub = vod.publish_asset_from_obs(
        PublishAssetFromObsRequest(
            body=PublishAssetFromObsReq(
                video_type="MP4", title="in", input=FileAddr(bucket="media", location="local", object="in.mp4")
            )
        )
    )
    asset = pub.asset_id
    assert asset
    made = vod.create_asset_process_task(
        CreateAssetProcessTaskRequest(
            body=AssetProcessReq(asset_id=asset, thumbnail=Thumbnail(type="time", time=1, max_length=80))
        )
    )
    assert made.asset_id == asset and made.thumbnail_task_id
    ctx.service.wait(made.thumbnail_task_id, timeout=30)
    info = vod.list_thumbnail_info(ListThumbnailInfoRequest(asset_id=asset))
    assert info.total == 1
    th = info.thumbnails[0]
    assert th.task_id == made.thumbnail_task_id and th.thumbnail_count == 3
    assert th.thumbnail_para.type == "time" and th.thumbnail_para.time == 1 and th.thumbnail_para.max_length == 80
    details = vod.list_thumbnail_details(ListThumbnailDetailsRequest(task_id=made.thumbnail_task_id, limit=2))
    assert details.total == 3 and len(details.thumbnail_result) == 2
    assert [r.offset for r in details.thumbnail_result] == [0, 1]
    first = details.thumbnail_result[0].url
    assert first.startswith(f"obs://media/thumbnails/{asset}/")
    assert (bucket / first[len("obs://media/") :]).is_file()


# -- refusals ---------------------------------------------------------------------------------


def _refused(call) -> ClientRequestException:
    with pytest.raises(ClientRequestException) as caught:
        call()
    err = caught.value
    assert err.request_id  # from X-Request-Id
    return err


def test_wrong_secret_unknown_key_and_project(server):
    _, url = server
    mpc, _ = _clients(url, sk="not-the-secret")
    err = _refused(lambda: mpc.list_thumbnails_task(ListThumbnailsTaskRequest()))
    assert (err.status_code, err.error_code) == (401, "APIGW.0301") and "signature" in err.error_msg
    cred = BasicCredentials("NOSUCHKEY", SK, PROJECT)
    stranger = MpcClient.new_builder().with_credentials(cred).with_endpoints([url]).build()
    err = _refused(lambda: stranger.list_thumbnails_task(ListThumbnailsTaskRequest()))
    assert (err.status_code, err.error_code) == (401, "APIGW.0301") and "ak not exist" in err.error_msg
    _, vod = _clients(url, project="someone-elses")
    err = _refused(lambda: vod.list_thumbnail_info(ListThumbnailInfoRequest()))
    assert (err.status_code, err.error_code) == (403, "APIGW.0302")


def test_object_outside_the_bucket(server, bucket):
    _, url = server
    mpc, _ = _clients(url)
    err = _refused(lambda: mpc.create_thumbnails_task(_thumbs(obj="../in.mp4", type="DOTS", dots=[1])))
    assert (err.status_code, err.error_code) == (403, "InvalidObject.Forbidden")
    err = _refused(lambda: mpc.create_thumbnails_task(_thumbs(out="a/../../x", type="DOTS", dots=[1])))
    assert err.status_code == 403
    err = _refused(lambda: mpc.create_thumbnails_task(_thumbs(type="FRAMES")))
    assert (err.status_code, err.error_code) == (400, "InvalidParameter")
    err = _refused(lambda: mpc.create_thumbnails_task(_thumbs(obj="gone.mp4", sync=1, type="DOTS", dots=[1])))
    assert (err.status_code, err.error_code) == (404, "InvalidParameter.ResourceNotFound")
    assert "obs://media/gone.mp4" in err.error_msg and str(bucket) not in err.error_msg  # no server paths


def _raw(url: str, method: str, path: str, body: dict | None = None, when: datetime | None = None):
    """A signed request as the SDK would send it: (method, url, headers, content)."""
    host = url.split("://", 1)[1]
    content = json.dumps(body).encode() if body is not None else b""
    headers = {"host": host, "content-type": "application/json", "x-project-id": PROJECT}
    req = SignedRequest(method, path, [], headers, content)
    return method, url + path, SdkHmacSha256().sign(req, AK, SK, when=when), content


def test_unsigned_stale_and_replayed(server):
    _, url = server
    listing = f"/v1/{PROJECT}/thumbnails"
    with httpx.Client() as http:
        bare = http.get(url + listing)
        assert bare.status_code == 401 and bare.json()["error_code"] == "APIGW.0301"
        assert bare.headers["x-request-id"]
        method, target, headers, content = _raw(
            url, "GET", listing, when=datetime.now(timezone.utc) - timedelta(minutes=20)
        )
        stale = http.request(method, target, headers=headers, content=content)
        assert stale.status_code == 401 and "expired" in stale.json()["error_msg"]
        body = {
            "input": {"bucket": "media", "location": "local", "object": "in.mp4"},
            "output": {"bucket": "media", "location": "local", "object": "replay"},
            "thumbnail_para": {"type": "TIME", "time": 1},
        }
        method, target, headers, content = _raw(url, "POST", listing, body)
        first = http.request(method, target, headers=headers, content=content)
        assert first.status_code == 200, first.text
        again = http.request(method, target, headers=headers, content=content)
        assert again.status_code == 401 and "replayed" in again.json()["error_msg"]
        method, target, headers, content = _raw(url, "GET", listing)
        for _ in range(2):  # reads are only held to the date window
            assert http.request(method, target, headers=headers, content=content).status_code == 200


def test_insecure_server_and_cancel(bucket, tmp_path):
    with JobService(tmp_path / "jobs.db", workers=0) as service:  # nothing runs: tasks stay WAITING
        ctx = _context(service, bucket, insecure=True)
        with serving(ctx) as url, httpx.Client(base_url=url) as http:
            body = {
                "input": {"bucket": "media", "location": "local", "object": "in.mp4"},
                "output": {"bucket": "media", "location": "local", "object": "later"},
                "thumbnail_para": {"type": "TIME", "time": 1},
            }
            made = http.post(f"/v1/{PROJECT}/thumbnails", json=body)
            assert made.status_code == 200 and made.json()["status"] == "WAITING"
            task_id = made.json()["task_id"]
            mpc, _ = _clients(url, sk="anything")  # signed or not, no key is checked
            mpc.delete_thumbnails_task(DeleteThumbnailsTaskRequest(task_id=task_id))
            listed = mpc.list_thumbnails_task(ListThumbnailsTaskRequest(task_id=[task_id]))
            assert listed.task_array[0].status == "CANCELED"
            err = _refused(lambda: mpc.delete_thumbnails_task(DeleteThumbnailsTaskRequest(task_id=task_id)))
            assert (err.status_code, err.error_code) == (409, "Conflict")
            err = _refused(lambda: mpc.delete_thumbnails_task(DeleteThumbnailsTaskRequest(task_id="0" * 32)))
            assert (err.status_code, err.error_code) == (404, "JobNotFound")


def test_unknown_apis_answer_as_api_gateway(server):
    """An API this server does not have, or a method its path does not take: 404
    APIG.0101, which the SDK raises as ClientRequestException with that code."""
    _, url = server
    mpc, vod = _clients(url)
    for call in (
        lambda: vod.show_asset_detail(ShowAssetDetailRequest(asset_id="0" * 32)),
        lambda: mpc.list_transcoding_task(ListTranscodingTaskRequest()),
    ):
        err = _refused(call)
        assert (err.status_code, err.error_code) == (404, "APIG.0101") and "does not exist" in err.error_msg
    with httpx.Client(base_url=url) as http:
        for method, path in [("PUT", f"/v1/{PROJECT}/thumbnails"), ("GET", f"/v1.0/{PROJECT}/asset/nothing")]:
            answer = http.request(method, path)
            body = answer.json()
            assert answer.status_code == 404 and body["error_code"] == "APIG.0101", (method, path)
            assert body["request_id"] == answer.headers["x-request-id"]


def _queued(service: JobService, bucket: Path, tmp_path: Path) -> str:
    config = SnapshotConfig(sampling=Interval(1.0, count=2))
    return service.submit_snapshot_job(str(bucket / "in.mp4"), str(tmp_path / "{Count}.jpg"), config=config).id


def test_cancel_snapshot_job_only_while_waiting(bucket, tmp_path):
    with JobService(tmp_path / "jobs.db", workers=0) as service:  # jobs wait until claimed here
        running, waiting = _queued(service, bucket, tmp_path), _queued(service, bucket, tmp_path)
        assert service.runner.claim().id == running  # the oldest first
        cancelled = service.cancel_snapshot_job(waiting)
        assert (cancelled.status, cancelled.code) == ("Fail", JobService.CANCELED) and cancelled.finish_time
        assert service.runner.claim() is None  # a cancelled job is never run
        with pytest.raises(Conflict, match="Processing"):
            service.cancel_snapshot_job(running)
        assert service.get_snapshot_job(running).status == "Processing"
        with pytest.raises(Conflict, match="Fail"):
            service.cancel_snapshot_job(waiting)
        with pytest.raises(JobNotFound):
            service.cancel_snapshot_job("0" * 32)


def test_cancel_races_a_workers_claim(bucket, tmp_path):
    with JobService(tmp_path / "jobs.db", workers=0) as service:
        ids = [_queued(service, bucket, tmp_path) for _ in range(30)]
        claimed: list[str] = []
        cancelled: list[str] = []

        def claim_all() -> None:
            while (row := service.runner.claim()) is not None:
                claimed.append(row.id)

        def cancel_all() -> None:
            for job_id in reversed(ids):  # meets the claims halfway
                try:
                    cancelled.append(service.cancel_snapshot_job(job_id).id)
                except Conflict:
                    pass

        threads = [threading.Thread(target=claim_all), threading.Thread(target=cancel_all)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert sorted(claimed + cancelled) == sorted(ids)  # each job exactly once: run or cancelled
        assert {service.get_snapshot_job(j).status for j in claimed} <= {"Processing"}
        assert {service.get_snapshot_job(j).code for j in cancelled} <= {JobService.CANCELED}
