"""`stillframe serve` as the Alibaba SDKs see it: a real server on loopback, driven by
the official ICE (2020-11-09) and MPS (2014-06-18) clients configured with nothing
but an endpoint, http and a key pair. Every answer must parse into the SDK's model
with its fields set (a wrong shape makes the SDK return body=None, silently)."""

from __future__ import annotations

import json
import logging
import threading
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from urllib.parse import urlencode

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")
ice_models = pytest.importorskip("alibabacloud_ice20201109.models")
mts_models = pytest.importorskip("alibabacloud_mts20140618.models")

from alibabacloud_ice20201109.client import Client as IceClient  # noqa: E402
from alibabacloud_mts20140618.client import Client as MtsClient  # noqa: E402
from alibabacloud_tea_openapi import models as open_api_models  # noqa: E402
from alibabacloud_tea_openapi.exceptions import ClientException, ServerException  # noqa: E402
from alibabacloud_tea_openapi.models import Config  # noqa: E402
from alibabacloud_tea_util import models as util_models  # noqa: E402

from stillframe.jobs import JobService  # noqa: E402
from stillframe.jobs.config import from_ice_config  # noqa: E402
from stillframe.server.acs_sign import DATE_FORMAT, Acs3HmacSha256, AcsRequest, RpcHmacSha1  # noqa: E402
from stillframe.server.app import ServerThread, serving  # noqa: E402
from stillframe.server.buckets import Bucket, Buckets  # noqa: E402
from stillframe.server.context import ServerContext  # noqa: E402
from stillframe.server.tenant import PrivateUrls  # noqa: E402

from .servers import Publisher, nginx_rtmp, wait_for  # noqa: E402

AK, SK = "LTAI-test-key", "test-secret"
ICE_V, MPS_V = "2020-11-09", "2014-06-18"


@pytest.fixture(scope="module")
def server(tmp_path_factory, clips):
    root = tmp_path_factory.mktemp("serve")
    media, out = root / "media", root / "out"
    media.mkdir()
    out.mkdir()
    clip = clips("serve.mp4", frames=90, size=(160, 120), fps=30, gop=30)
    (media / "clip.mp4").write_bytes(clip.read_bytes())
    svc = JobService(root / "jobs.db", workers=1, capture_options={"max_backoff": 1.0, "read_timeout": 5.0}).start()
    buckets = Buckets([Bucket("media", str(media)), Bucket("out", str(out))])
    # Loopback callbacks and streams (the test's own servers) allowed, as a self-hosted setup would.
    ctx = ServerContext(svc, {AK: SK}, buckets, private_urls=PrivateUrls.parse("127.0.0.0/8"))
    with ServerThread(ctx) as st:
        yield SimpleNamespace(st=st, svc=svc, ctx=ctx, media=media, out=out, url=st.base_url)
    svc.close()


def config(server, ak: str = AK, sk: str = SK, **kw) -> Config:
    return Config(access_key_id=ak, access_key_secret=sk, endpoint=server.st.endpoint, protocol="http", **kw)


def ice(server, **kw) -> IceClient:
    return IceClient(config(server, **kw))


def mts(server, **kw) -> MtsClient:
    return MtsClient(config(server, **kw))


def oss(kind: str, media: str):
    cls = ice_models.SubmitSnapshotJobRequestInput if kind == "in" else ice_models.SubmitSnapshotJobRequestOutput
    return cls(type="OSS", media=media)


def overwrite(**kw) -> ice_models.SubmitSnapshotJobRequestTemplateConfig:
    params = ice_models.SubmitSnapshotJobRequestTemplateConfigOverwriteParams(**kw)
    return ice_models.SubmitSnapshotJobRequestTemplateConfig(overwrite_params=params)


def submit_ice(client, output: str, template_config, **kw) -> str:
    req = ice_models.SubmitSnapshotJobRequest(
        input=oss("in", "oss://media/clip.mp4"), output=oss("out", output), template_config=template_config, **kw
    )
    body = client.submit_snapshot_job(req).body
    assert body is not None and body.request_id and len(body.job_id) == 32
    return body.job_id


def rejected(call, *, status: int = 400) -> ClientException:
    with pytest.raises(ClientException) as info:
        call()
    assert info.value.status_code == status and info.value.request_id
    return info.value


# -- ICE ------------------------------------------------------------------------------------


def test_ice_jobs_get_list_to_the_end_and_urls(server):
    client = ice(server)
    ids = [
        submit_ice(
            client,
            f"oss://out/ice/{i}/{{Count}}.jpg",
            overwrite(count=2, interval=1, width=64),
            name=f"j{i}",
            user_data=json.dumps({"n": i}),
        )
        for i in range(5)
    ]
    for job_id in ids:
        server.svc.wait(job_id, 30)

    job = client.get_snapshot_job(ice_models.GetSnapshotJobRequest(job_id=ids[0])).body.snapshot_job
    assert job.job_id == ids[0] and job.status == "Success" and job.count == 2 and job.name == "j0"
    assert job.type == "Normal" and job.async_ is True and job.user_data == '{"n": 0}' and job.trigger_source == "API"
    assert job.input.type == "OSS" and job.input.media == "oss://media/clip.mp4"
    assert (job.input.oss_file.bucket, job.input.oss_file.object) == ("media", "clip.mp4")
    assert job.output.media == "oss://out/ice/0/{Count}.jpg" and job.output.oss_file.object == "ice/0/{Count}.jpg"
    assert job.create_time.endswith("Z") and job.finish_time

    seen, token, pages = [], None, 0
    while True:  # every job once, by NextPageToken, to the end
        body = client.list_snapshot_jobs(ice_models.ListSnapshotJobsRequest(page_size=2, next_page_token=token)).body
        assert body.request_id and len(body.jobs) <= 2
        seen += [j.job_id for j in body.jobs]
        assert all(j.input.media == "oss://media/clip.mp4" and j.status for j in body.jobs)
        pages += 1
        token = body.next_page_token
        if not token:
            break
    assert set(ids) <= set(seen) and len(seen) == len(set(seen)) and pages >= 3
    asc = client.list_snapshot_jobs(ice_models.ListSnapshotJobsRequest(order_by="CreateTimeAsc", page_size=100))
    assert [j.job_id for j in asc.body.jobs] == seen[::-1]

    urls = client.get_snapshot_urls(ice_models.GetSnapshotUrlsRequest(job_id=ids[1], order_by="Desc")).body
    assert urls.total == 2 and urls.snapshot_urls == ["oss://out/ice/1/00002.jpg", "oss://out/ice/1/00001.jpg"]
    assert (server.out / "ice/1/00001.jpg").read_bytes()[:2] == b"\xff\xd8"

    err = rejected(lambda: client.get_snapshot_job(ice_models.GetSnapshotJobRequest(job_id="0" * 32)), status=404)
    assert err.code == "JobNotFound"
    err = rejected(lambda: client.list_snapshot_jobs(ice_models.ListSnapshotJobsRequest(next_page_token="forged")))
    assert err.code == "InvalidParameter"


def test_ice_snapshot_templates(server):
    client = ice(server)
    created = client.create_custom_template(
        ice_models.CreateCustomTemplateRequest(
            name="two small",
            type=2,
            subtype=1,
            template_config=json.dumps({"Count": 2, "Interval": 1, "Width": 64}),
        )
    ).body.custom_template
    tid = created.template_id
    assert created.template_name == "two small" and created.type == 2 and created.subtype == "1"

    got = client.get_custom_template(ice_models.GetCustomTemplateRequest(template_id=tid)).body.custom_template
    assert got.template_id == tid and got.subtype == 1 and got.type_name == "SnapshotTemplate"
    assert json.loads(got.template_config) == {"Count": 2, "Interval": 1, "Width": 64}
    listed = client.list_custom_templates(ice_models.ListCustomTemplatesRequest(type="2", page_size=50)).body
    assert tid in [t.template_id for t in listed.custom_template_list] and listed.total >= 1

    by_id = submit_ice(
        client, "oss://out/tpl/{Count}.jpg", ice_models.SubmitSnapshotJobRequestTemplateConfig(template_id=tid)
    )
    over = submit_ice(
        client,
        "oss://out/tpl/over-{Count}.jpg",
        ice_models.SubmitSnapshotJobRequestTemplateConfig(
            template_id=tid, overwrite_params=ice_models.SubmitSnapshotJobRequestTemplateConfigOverwriteParams(count=3)
        ),
    )
    assert server.svc.wait(by_id, 30).count == 2
    assert server.svc.wait(over, 30).count == 3

    ok = client.update_custom_template(ice_models.UpdateCustomTemplateRequest(template_id=tid, name="renamed")).body
    assert ok.success is True
    got = client.get_custom_template(ice_models.GetCustomTemplateRequest(template_id=tid)).body.custom_template
    assert got.template_name == "renamed"
    assert client.delete_custom_template(ice_models.DeleteCustomTemplateRequest(template_id=tid)).body.success
    err = rejected(lambda: client.get_custom_template(ice_models.GetCustomTemplateRequest(template_id=tid)), status=404)
    assert err.code == "TemplateNotFound"
    err = rejected(
        lambda: client.create_custom_template(
            ice_models.CreateCustomTemplateRequest(name="transcode", type=1, template_config="{}")
        )
    )
    assert err.code == "InvalidParameter"


def test_get_snapshot_job_carries_its_template_config(server):
    client = ice(server)

    def template_config(job_id: str) -> dict:
        job = client.get_snapshot_job(ice_models.GetSnapshotJobRequest(job_id=job_id)).body.snapshot_job
        assert isinstance(job.template_config, str)  # the model reads a string of JSON
        return json.loads(job.template_config)

    alone = submit_ice(client, "oss://out/tc/a-{Count}.jpg", overwrite(time=500, count=2, interval=1, width=64))
    got = template_config(alone)
    assert got == {"Type": "Normal", "FrameType": "normal", "Time": 500, "Interval": 1, "Count": 2, "Width": 64}
    # Read back, it names the same settings the job ran with.
    assert from_ice_config(got).to_dict() == server.svc.get_snapshot_job(alone).config

    tid = client.create_custom_template(
        ice_models.CreateCustomTemplateRequest(
            name="tc",
            type=2,
            subtype=1,
            template_config=json.dumps({"Count": 3, "Interval": 2, "Height": 48, "FrameType": "intra"}),
        )
    ).body.custom_template.template_id
    by_id = submit_ice(
        client, "oss://out/tc/b-{Count}.jpg", ice_models.SubmitSnapshotJobRequestTemplateConfig(template_id=tid)
    )
    assert template_config(by_id) == {
        "Type": "Normal",
        "FrameType": "intra",
        "Time": 0,
        "Interval": 2,
        "Count": 3,
        "Height": 48,
    }
    over = submit_ice(
        client,
        "oss://out/tc/c-{Count}.jpg",
        ice_models.SubmitSnapshotJobRequestTemplateConfig(
            template_id=tid,
            overwrite_params=ice_models.SubmitSnapshotJobRequestTemplateConfigOverwriteParams(count=2, width=64),
        ),
    )
    assert template_config(over) == {
        "Type": "Normal",
        "FrameType": "intra",
        "Time": 0,
        "Interval": 2,
        "Count": 2,
        "Width": 64,
        "Height": 48,
    }
    # Overwritten or not, the job names the template it came from.
    for job_id, want in ((alone, None), (by_id, tid), (over, tid)):
        job = client.get_snapshot_job(ice_models.GetSnapshotJobRequest(job_id=job_id)).body.snapshot_job
        assert (job.template_id or None) == want, job_id

    tile_model = ice_models.SubmitSnapshotJobRequestTemplateConfigOverwriteParamsSpriteSnapshotConfig
    tiles = tile_model(columns=2, lines=2, cell_width=40)
    sprite = submit_ice(
        client,
        "oss://out/tc/s-{TileCount}.jpg",
        overwrite(type="Sprite", count=4, interval=1, sprite_snapshot_config=tiles),
    )
    got = template_config(sprite)
    assert got["Type"] == "Sprite" and got["Count"] == 4
    assert {k: got["SpriteSnapshotConfig"][k] for k in ("Columns", "Lines", "CellWidth")} == {
        "Columns": 2,
        "Lines": 2,
        "CellWidth": 40,
    }
    assert from_ice_config(got).to_dict() == server.svc.get_snapshot_job(sprite).config
    for job_id in (alone, by_id, over, sprite):
        assert server.svc.wait(job_id, 30).status == "Success"


# -- MPS ------------------------------------------------------------------------------------


def mps_input(obj: str = "clip.mp4") -> str:
    return json.dumps({"Bucket": "media", "Location": "oss-cn-hangzhou", "Object": obj})


def mps_output(obj: str) -> dict:
    return {"Bucket": "out", "Location": "oss-cn-hangzhou", "Object": obj}


def test_mps_sync_async_and_query(server):
    client = mts(server)
    sync = client.submit_snapshot_job(
        mts_models.SubmitSnapshotJobRequest(
            input=mps_input(),
            snapshot_config=json.dumps({"OutputFile": mps_output("mps/one.jpg"), "Time": "1000"}),
            user_data="sync",
        )
    ).body.snapshot_job
    assert sync.state == "Success" and sync.count == "1" and sync.user_data == "sync" and sync.code == ""
    assert (sync.input.bucket, sync.input.object) == ("media", "clip.mp4")
    assert sync.snapshot_config.output_file.object == "mps/one.jpg" and sync.snapshot_config.time == "1000"
    assert (server.out / "mps/one.jpg").read_bytes()[:2] == b"\xff\xd8"

    queued = client.submit_snapshot_job(
        mts_models.SubmitSnapshotJobRequest(
            input=mps_input(),
            snapshot_config=json.dumps(
                {
                    "OutputFile": mps_output("mps/many-{Count}.jpg"),
                    "Time": "0",
                    "Interval": "1",
                    "Num": "3",
                    "Width": "64",
                }
            ),
        )
    ).body.snapshot_job
    assert queued.state in ("Submitted", "Snapshoting", "Success") and queued.snapshot_config.num == "3"
    assert queued.snapshot_config.output_file.object == "mps/many-{Count}.jpg"
    server.svc.wait(queued.id, 30)

    body = client.query_snapshot_job_list(
        mts_models.QuerySnapshotJobListRequest(snapshot_job_ids=f"{queued.id},{'f' * 32},{sync.id}")
    ).body
    jobs = body.snapshot_job_list.snapshot_job
    assert [j.id for j in jobs] == [queued.id, sync.id] and jobs[0].state == "Success" and jobs[0].count == "3"
    assert body.non_exist_snapshot_job_ids.string == ["f" * 32]

    seen, token = [], None
    while True:
        body = client.query_snapshot_job_list(
            mts_models.QuerySnapshotJobListRequest(state="Success", maximum_page_size=1, next_page_token=token)
        ).body
        seen += [j.id for j in body.snapshot_job_list.snapshot_job]
        token = body.next_page_token
        if not token:
            break
    assert {queued.id, sync.id} <= set(seen) and len(seen) == len(set(seen))


def test_mps_missing_input_fails_the_job(server):
    job = (
        mts(server)
        .submit_snapshot_job(
            mts_models.SubmitSnapshotJobRequest(
                input=mps_input("missing.mp4"),
                snapshot_config=json.dumps({"OutputFile": mps_output("x.jpg")}),
            )
        )
        .body.snapshot_job
    )
    assert job.state == "Fail" and job.code == "InvalidParameter.ResourceNotFound"


def test_mps_pipelines(server):
    client = mts(server)
    added = client.add_pipeline(
        mts_models.AddPipelineRequest(name="stills", notify_config=json.dumps({"Topic": "http://127.0.0.1:9/hook"}))
    ).body.pipeline
    assert added.name == "stills" and added.state == "Active" and added.notify_config.topic == "http://127.0.0.1:9/hook"
    got = client.query_pipeline_list(mts_models.QueryPipelineListRequest(pipeline_ids=f"{added.id},nope")).body
    assert [p.id for p in got.pipeline_list.pipeline] == [added.id] and got.non_exist_pids.string == ["nope"]
    paused = client.update_pipeline(
        mts_models.UpdatePipelineRequest(pipeline_id=added.id, name="stills", state="Paused")
    ).body.pipeline
    assert paused.state == "Paused"
    found = client.search_pipeline(mts_models.SearchPipelineRequest(state="Paused")).body
    assert added.id in [p.id for p in found.pipeline_list.pipeline] and found.total_count >= 1
    assert client.delete_pipeline(mts_models.DeletePipelineRequest(pipeline_id=added.id)).body.pipeline_id == added.id
    err = rejected(
        lambda: client.add_pipeline(
            mts_models.AddPipelineRequest(name="mns", notify_config=json.dumps({"Topic": "mts-topic"}))
        )
    )
    assert err.code == "InvalidParameter"


def test_v2_signature_clients(server):
    client = ice(server, signature_algorithm="v2")
    job_id = submit_ice(client, "oss://out/v2/{Count}.jpg", overwrite(count=2, interval=1, width=64))
    assert client.get_snapshot_job(ice_models.GetSnapshotJobRequest(job_id=job_id)).body.snapshot_job.job_id == job_id
    body = (
        mts(server, signature_algorithm="v2")
        .query_snapshot_job_list(mts_models.QuerySnapshotJobListRequest(snapshot_job_ids=job_id))
        .body
    )
    assert body.snapshot_job_list.snapshot_job[0].id == job_id
    # A form body is signed too: verified, the call reaches the service.
    command = ice_models.SendLiveSnapshotJobCommandRequest(job_id="0" * 32, command="stop")
    assert rejected(lambda: client.send_live_snapshot_job_command(command), status=404).code == "JobNotFound"
    live = ice_models.GetLiveSnapshotJobRequest(job_id="0" * 32)  # sent as GET
    assert rejected(lambda: client.get_live_snapshot_job(live), status=404).code == "JobNotFound"
    err = rejected(
        lambda: ice(server, sk="wrong", signature_algorithm="v2").get_snapshot_job(
            ice_models.GetSnapshotJobRequest(job_id=job_id)
        )
    )
    assert err.code == "SignatureDoesNotMatch"


# -- live -----------------------------------------------------------------------------------


@pytest.mark.live
def test_live_snapshots(server, tmp_path_factory, clips):
    clip = clips("serve-live.mp4", frames=20 * 30, size=(160, 120), fps=30, gop=30)
    client = ice(server)
    tpl = client.create_live_snapshot_template(
        ice_models.CreateLiveSnapshotTemplateRequest(template_name="every 5 s", time_interval=5)
    ).body
    tid = tpl.template_id
    got = client.get_live_snapshot_template(ice_models.GetLiveSnapshotTemplateRequest(template_id=tid)).body
    assert got.time_interval == 5 and got.overwrite_format == "snapshot/{JobId}.jpg" and got.type == "custom"
    client.update_live_snapshot_template(
        ice_models.UpdateLiveSnapshotTemplateRequest(template_id=tid, template_name="five", overwrite_format="")
    )
    listed = client.list_live_snapshot_templates(
        ice_models.ListLiveSnapshotTemplatesRequest(template_ids=[tid], page_size=10)
    ).body
    assert [t.template_name for t in listed.template_list] == ["five"] and listed.total_count == 1

    output = ice_models.SubmitLiveSnapshotJobRequestSnapshotOutput(
        storage_type="oss", endpoint="oss-cn-shanghai.aliyuncs.com", bucket="out"
    )
    refused = ice_models.SubmitLiveSnapshotJobRequest(
        job_name="local file",
        template_id=tid,
        snapshot_output=output,
        stream_input=ice_models.SubmitLiveSnapshotJobRequestStreamInput(type="file", url=str(clip)),
    )
    assert rejected(lambda: client.submit_live_snapshot_job(refused)).code == "InvalidParameter"

    with nginx_rtmp(tmp_path_factory.mktemp("nginx")) as rtmp:
        stream = f"{rtmp}/serve"
        with Publisher(clip, stream):
            wait_for(lambda: _live(stream), 10, "the stream")
            job_id = client.submit_live_snapshot_job(
                ice_models.SubmitLiveSnapshotJobRequest(
                    job_name="cam",
                    template_id=tid,
                    snapshot_output=output,
                    stream_input=ice_models.SubmitLiveSnapshotJobRequestStreamInput(type="rtmp", url=stream),
                )
            ).body.job_id
            job = client.get_live_snapshot_job(ice_models.GetLiveSnapshotJobRequest(job_id=job_id)).body
            assert job.status == "started" and job.job_name == "cam" and job.time_interval == 5
            assert job.snapshot_output.bucket == "out" and job.stream_input.url == stream
            assert job.overwrite_format is None and job.sequence_format == "snapshot/{JobId}/{UnixTimestamp}.jpg"

            now = datetime.now(timezone.utc)
            window = dict(
                job_id=job_id,
                start_time=(now - timedelta(minutes=5)).strftime(DATE_FORMAT),
                end_time=(now + timedelta(minutes=5)).strftime(DATE_FORMAT),
            )

            def files():
                req = ice_models.ListLiveSnapshotFilesRequest(limit=10, **window)
                return client.list_live_snapshot_files(req).body.file_list

            first = wait_for(files, 20, "a live snapshot")[0]
            assert first.oss_bucket == "out" and first.oss_object.startswith(f"snapshot/{job_id}/")
            assert first.create_timestamp > 0 and first.is_overlay is False and first.create_time.endswith("Z")
            assert (server.out / first.oss_object).read_bytes()[:2] == b"\xff\xd8"

            client.send_live_snapshot_job_command(
                ice_models.SendLiveSnapshotJobCommandRequest(job_id=job_id, command="stop")
            )
            job = client.get_live_snapshot_job(ice_models.GetLiveSnapshotJobRequest(job_id=job_id)).body
            assert job.status == "paused"

    jobs = client.list_live_snapshot_jobs(ice_models.ListLiveSnapshotJobsRequest(page_size=100)).body
    assert job_id in [j.job_id for j in jobs.job_list] and jobs.job_list[0].snapshot_output.bucket == "out"
    deleted = client.delete_live_snapshot_files(
        ice_models.DeleteLiveSnapshotFilesRequest(
            job_id=job_id, create_timestamp_list=[first.create_timestamp, 1], delete_original_file=True
        )
    ).body
    assert [(d.create_timestamp, d.result) for d in deleted.delete_file_result_list] == [
        (first.create_timestamp, "SUCCESS"),
        (1, "NOT_FOUND"),
    ]
    assert not (server.out / first.oss_object).exists()
    client.delete_live_snapshot_template(ice_models.DeleteLiveSnapshotTemplateRequest(template_id=tid))


def _live(url: str) -> bool:
    from stillframe.jobs.capture import stream_is_live

    return stream_is_live(url, 2.0)


# -- authentication and errors -------------------------------------------------------------


def test_signers_match_the_sdks_own():
    """acs_sign's steps give what the SDK's own signing functions give, for awkward values."""
    import hashlib

    from alibabacloud_tea_openapi.utils import Utils

    query = {"JobId": "a b~/ü+%", "PageSize": "2", "Empty": ""}
    body = b"CallbackUrl=http%3A%2F%2Fx&JobName=cam+1"
    digest = hashlib.sha256(body).hexdigest()
    headers = {
        "host": "127.0.0.1:8080",
        "x-acs-action": "SubmitLiveSnapshotJob",
        "x-acs-version": ICE_V,
        "x-acs-date": "2026-01-31T12:00:00Z",
        "x-acs-signature-nonce": "0123abcd",
        "user-agent": "Tea Client  x",
        "x-acs-content-sha256": digest,
        "content-type": "application/x-www-form-urlencoded",
        "accept": "application/json",
    }
    req = AcsRequest("POST", "/", sorted(query.items()), {k: [v] for k, v in headers.items()}, body)
    ours = Acs3HmacSha256().sign(req, AK, SK)["authorization"]
    sdk_request = SimpleNamespace(pathname="/", query=query, headers=headers, method="POST")
    assert ours == Utils.get_authorization(sdk_request, "ACS3-HMAC-SHA256", digest, AK, SK)

    params = {"Action": "GetSnapshotJob", "Version": ICE_V, **query}
    signed = RpcHmacSha1().sign("GET", params, AK, SK, timestamp="2026-01-31T12:00:00Z", nonce="n-1")
    unsigned = {k: v for k, v in signed.items() if k != "Signature"}
    assert signed["Signature"] == Utils.get_rpcsignature(unsigned, "GET", SK)


def test_canonical_queries_of_both_schemes():
    """ACS3 encodes values only; the RPC signature names too, and leaves Signature out."""
    pairs = [("b k", "x y~*"), ("a", "1/2"), ("a", "0")]
    assert Acs3HmacSha256.canonical_query(pairs) == "a=0&a=1%2F2&b k=x%20y~%2A"
    assert RpcHmacSha1.canonical_query([*pairs, ("Signature", "s")]) == "a=0&a=1%2F2&b%20k=x%20y~%2A"


def test_bad_keys(server):
    req = ice_models.GetSnapshotJobRequest(job_id="0" * 32)
    err = rejected(lambda: ice(server, sk="not-the-secret").get_snapshot_job(req))
    assert err.code == "SignatureDoesNotMatch"
    err = rejected(lambda: ice(server, ak="LTAI-nobody").get_snapshot_job(req), status=404)
    assert err.code == "InvalidAccessKeyId.NotFound"
    err = rejected(
        lambda: mts(server, sk="not-the-secret").query_snapshot_job_list(
            mts_models.QuerySnapshotJobListRequest(snapshot_job_ids="x")
        )
    )
    assert err.code == "SignatureDoesNotMatch"


def signed_acs3(server, action: str, query: dict, *, date: str | None = None, nonce: str | None = None):
    """A request signed by acs_sign's own signer, as the SDK would send it."""
    headers = {
        "host": [server.st.endpoint],
        "x-acs-action": [action],
        "x-acs-version": [ICE_V],
        "accept": ["application/json"],
    }
    req = AcsRequest("POST", "/", sorted(query.items()), headers)
    return Acs3HmacSha256().sign(req, AK, SK, date=date, nonce=nonce)


def test_replayed_and_stale_requests(server):
    query = {"JobId": "0" * 32}
    headers = signed_acs3(server, "GetSnapshotJob", query)
    with httpx.Client(base_url=server.url) as http:
        first = http.post("/", params=query, headers=headers)
        assert first.status_code == 404 and first.json()["Code"] == "JobNotFound"  # signed right
        again = http.post("/", params=query, headers=headers)
        assert again.status_code == 400 and again.json()["Code"] == "SignatureNonceUsed"

        stale = (datetime.now(timezone.utc) - timedelta(minutes=20)).strftime(DATE_FORMAT)
        old = http.post("/", params=query, headers=signed_acs3(server, "GetSnapshotJob", query, date=stale))
        assert old.status_code == 400 and old.json()["Code"] == "InvalidTimeStamp.Expired"

        tampered = http.post("/", params={"JobId": "1" * 32}, headers=signed_acs3(server, "GetSnapshotJob", query))
        assert tampered.status_code == 400 and tampered.json()["Code"] == "SignatureDoesNotMatch"

        params = {"Action": "GetSnapshotJob", "Version": ICE_V, **query}
        v2 = RpcHmacSha1().sign("POST", params, AK, SK, nonce="fixed-nonce-1")
        assert http.post("/", params=v2).json()["Code"] == "JobNotFound"
        assert http.post("/", params=v2).json()["Code"] == "SignatureNonceUsed"


def test_unsigned_and_unknown_requests(server):
    with httpx.Client(base_url=server.url) as http:
        plain = http.post("/?" + urlencode({"Action": "GetSnapshotJob", "Version": ICE_V, "JobId": "x"}))
        body = plain.json()
        assert plain.status_code == 400 and body["Code"] == "IncompleteSignature" and body["RequestId"]
        assert plain.headers["x-request-id"] == body["RequestId"]
        headers = {**signed_acs3(server, "GetSnapshotJob", {}), "authorization": "Bearer nothing"}
        assert http.post("/", headers=headers).json()["Code"] == "IncompleteSignature"
        unknown = http.post("/", headers=signed_acs3(server, "DescribeEverything", {}))
        assert unknown.status_code == 404 and unknown.json()["Code"] == "InvalidAction.NotFound"
        assert http.get("/healthz").json() == {"status": "ok"}


def test_unknown_actions_and_paths_through_the_sdks(server):
    """What Alibaba answers for an API it does not have: 404 InvalidAction.NotFound,
    in its error shape, which each SDK raises as ClientException with that code."""
    err = rejected(lambda: ice(server).get_media_info(ice_models.GetMediaInfoRequest(media_id="0" * 32)), status=404)
    assert err.code == "InvalidAction.NotFound" and "GetMediaInfo" in err.message
    err = rejected(lambda: mts(server).query_media_list(mts_models.QueryMediaListRequest(media_ids="x")), status=404)
    assert err.code == "InvalidAction.NotFound"
    # A path other than `/`, called as the SDKs call ROA-style APIs.
    params = open_api_models.Params(
        action="DescribeNothing",
        version=ICE_V,
        protocol="HTTP",
        pathname="/nothing/here",
        method="GET",
        auth_type="AK",
        style="ROA",
        req_body_type="json",
        body_type="json",
    )
    runtime = util_models.RuntimeOptions()
    err = rejected(lambda: ice(server).call_api(params, open_api_models.OpenApiRequest(), runtime), status=404)
    assert err.code == "InvalidAction.NotFound"
    with httpx.Client(base_url=server.url) as http:
        wrong_method = http.put("/")
        body = wrong_method.json()
        assert wrong_method.status_code == 404 and body["Code"] == "InvalidAction.NotFound"
        assert body["RequestId"] == wrong_method.headers["x-request-id"] and body["Message"] and body["HostId"]


def test_names_that_leave_their_bucket(server):
    client = ice(server)
    for media, code, status in [
        ("oss://media/../../etc/passwd", "InvalidObject.Forbidden", 403),
        ("oss://elsewhere/clip.mp4", "InvalidBucket.NotFound", 404),
    ]:
        req = ice_models.SubmitSnapshotJobRequest(
            input=oss("in", media), output=oss("out", "oss://out/x.jpg"), template_config=overwrite(time=0)
        )
        assert rejected(lambda r=req: client.submit_snapshot_job(r), status=status).code == code
    req = ice_models.SubmitSnapshotJobRequest(
        input=oss("in", "oss://media/clip.mp4"),
        output=oss("out", "oss://out/a/../../x.jpg"),
        template_config=overwrite(),
    )
    assert rejected(lambda: client.submit_snapshot_job(req), status=403).code == "InvalidObject.Forbidden"
    err = rejected(
        lambda: mts(server).submit_snapshot_job(
            mts_models.SubmitSnapshotJobRequest(
                input=mps_input("..%2F..%2Fetc%2Fpasswd"),
                snapshot_config=json.dumps({"OutputFile": mps_output("x.jpg")}),
            )
        ),
        status=403,
    )
    assert err.code == "InvalidObject.Forbidden"


def test_concurrent_clients(server):
    job_id = submit_ice(ice(server), "oss://out/conc/{Count}.jpg", overwrite(count=2, interval=1, width=64))
    results, errors = [], []

    def work():
        client = ice(server)
        try:
            for _ in range(5):
                req = ice_models.GetSnapshotJobRequest(job_id=job_id)
                results.append(client.get_snapshot_job(req).body.snapshot_job.job_id)
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors and results == [job_id] * 80


def test_unexpected_errors_are_json_and_logged(caplog):
    class Broken:
        def get_snapshot_job(self, job_id, account=None):
            raise RuntimeError("disk on fire")

    ctx = ServerContext(Broken(), {}, insecure=True)
    with caplog.at_level(logging.INFO, logger="stillframe.server"), serving(ctx) as url:
        got = httpx.post(url + "/", params={"Action": "GetSnapshotJob", "Version": ICE_V, "JobId": "x"})
        client = IceClient(
            Config(access_key_id="a", access_key_secret="b", endpoint=url[len("http://") :], protocol="http")
        )
        with pytest.raises(ServerException) as info:
            client.get_snapshot_job(ice_models.GetSnapshotJobRequest(job_id="x"))
    body = got.json()
    assert got.status_code == 500 and body["Code"] == "InternalError" and "disk on fire" not in body["Message"]
    assert info.value.code == "InternalError" and info.value.status_code == 500
    lines = [r.getMessage() for r in caplog.records if r.name == "stillframe.server"]
    assert any("POST / GetSnapshotJob 500" in m and body["RequestId"] in m for m in lines)
    assert any(r.exc_info and body["RequestId"] in r.getMessage() for r in caplog.records)


def test_cli_refuses_to_serve_without_keys(capsys):
    from stillframe.cli import main

    assert main(["serve", "--port", "8080"]) == 2
    assert "--access-key" in capsys.readouterr().err
    assert main(["serve", "--insecure-local", "--host", "0.0.0.0"]) == 2
    assert "loopback" in capsys.readouterr().err
    assert main(["serve", "--access-key", "no-secret"]) == 2


def test_the_serve_command(tmp_path):
    """`stillframe serve` itself: keys and buckets from the command line, SDK calls answered."""
    import socket
    import subprocess
    import sys

    (tmp_path / "media").mkdir()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cmd = [
        sys.executable,
        "-m",
        "stillframe",
        "serve",
        "--port",
        str(port),
        "--store",
        str(tmp_path / "j.db"),
        "--access-key",
        f"{AK}:{SK}",
        "--bucket",
        f"media={tmp_path / 'media'}",
        "--workers",
        "0",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: _accepts(port) or proc.poll() is not None, 30, "stillframe serve")
        assert proc.poll() is None, proc.communicate()
        client = IceClient(
            Config(access_key_id=AK, access_key_secret=SK, endpoint=f"127.0.0.1:{port}", protocol="http")
        )
        assert client.list_snapshot_jobs(ice_models.ListSnapshotJobsRequest()).body.jobs == []
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and f"http://127.0.0.1:{port}" in out
    assert "POST / ListSnapshotJobs 200" in err


def _accepts(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False
