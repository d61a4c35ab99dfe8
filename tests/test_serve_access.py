"""Who may do what: the action an RPC request runs and the Host a Huawei request goes
to must be signed; the preview site's sessions live in the store (sign-out ends
them, no other site signs a browser in or out, sign-ins are rate-limited); URLs the
server would connect to stay off private addresses unless allowed; a replayed
request is refused by every server sharing a PostgreSQL store; each account sees
only its own jobs, pipelines, templates and live jobs; `stillframe serve` keeps a
store of its own; and every route passes one door (authentication middleware, one
body cap, the service's methods)."""

from __future__ import annotations

import ast
import base64
import hashlib
import json
import os
import shutil
import socket
import threading
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
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException  # noqa: E402
from huaweicloudsdkmpc.v1 import DeleteThumbnailsTaskRequest, ListThumbnailsTaskRequest, MpcClient  # noqa: E402

import stillframe.server  # noqa: E402
from stillframe.jobs import JobService  # noqa: E402
from stillframe.server.acs_sign import RpcHmacSha1  # noqa: E402
from stillframe.server.app import ServerThread, create_app  # noqa: E402
from stillframe.server.buckets import Buckets, parse_bucket  # noqa: E402
from stillframe.server.context import ServerContext  # noqa: E402
from stillframe.server.huawei_sign import SdkHmacSha256, SignedRequest  # noqa: E402
from stillframe.server.ui import SIGNIN_COOKIE  # noqa: E402

from .serve_proc import serve_process  # noqa: E402
from .test_serve_ui import COOKIE, form_token, sign_in  # noqa: E402

ICE_V = "2020-11-09"
KEYS = {"AK-ALPHA": "alpha-secret", "AK-BETA": "beta-secret", "AK-PLAIN": "plain-secret"}
ACCOUNTS = {"AK-ALPHA": "alpha", "AK-BETA": "beta"}  # AK-PLAIN: the default account
PROJECT = "stillframe"


@pytest.fixture(scope="module")
def server(tmp_path_factory, clips):
    root = tmp_path_factory.mktemp("access")
    media = root / "media"
    media.mkdir()
    shutil.copy(clips("access.mp4", frames=30, size=(64, 48)), media / "clip.mp4")
    svc = JobService(root / "jobs.db", workers=1, stream_timeout=0.5).start()
    ctx = ServerContext(svc, dict(KEYS), Buckets([parse_bucket(f"media={media}")]), accounts=dict(ACCOUNTS))
    with ServerThread(ctx) as st:
        yield SimpleNamespace(st=st, svc=svc, ctx=ctx, media=media, root=root)
    svc.close()


def config(server, ak: str) -> Config:
    return Config(access_key_id=ak, access_key_secret=KEYS[ak], endpoint=server.st.endpoint, protocol="http")


def ice(server, ak: str = "AK-ALPHA") -> IceClient:
    return IceClient(config(server, ak))


def mts(server, ak: str = "AK-ALPHA") -> MtsClient:
    return MtsClient(config(server, ak))


def mpc(server, ak: str = "AK-ALPHA") -> MpcClient:
    cred = BasicCredentials(ak, KEYS[ak], PROJECT)
    return MpcClient.new_builder().with_credentials(cred).with_endpoints([server.st.base_url]).build()


def refused(call, status: int) -> ClientException:
    with pytest.raises(ClientException) as info:
        call()
    assert info.value.status_code == status, info.value
    return info.value


# -- 11: what a signature must cover ----------------------------------------------------------


def test_the_rpc_action_and_the_huawei_host_must_be_signed(server):
    # Signed with no Action or Version in the query: the header's are not signed, so
    # the call is not made (it would answer JobNotFound).
    query = RpcHmacSha1().sign("POST", {"JobId": "0" * 32}, "AK-ALPHA", KEYS["AK-ALPHA"])
    answer = httpx.post(
        server.st.base_url + "/", params=query, headers={"x-acs-action": "GetSnapshotJob", "x-acs-version": ICE_V}
    )
    assert answer.status_code == 400 and answer.json()["Code"] == "MissingParameter", answer.text
    assert "Action" in answer.json()["Message"]

    path = f"/v1/{PROJECT}/thumbnails"
    headers = {"content-type": "application/json", "x-project-id": PROJECT}  # no host: it goes unsigned
    signed = SdkHmacSha256().sign(SignedRequest("GET", path, [], headers), "AK-ALPHA", KEYS["AK-ALPHA"])
    answer = httpx.get(server.st.base_url + path, headers={**signed, "host": "anything.example"})
    assert answer.status_code == 401 and answer.json()["error_code"] == "APIGW.0301", answer.text
    assert "host" in answer.json()["error_msg"]


# -- 12: the preview site's sessions --------------------------------------------------------


def test_sessions_are_kept_in_the_store(server):
    base = server.st.base_url
    with httpx.Client(base_url=base) as c:
        assert sign_in(c, "AK-PLAIN", KEYS["AK-PLAIN"]).status_code == 303
        token = c.cookies[COOKIE]
        assert c.get("/ui/jobs").status_code == 200
        # Nothing in the cookie comes from the key or its secret.
        secret = KEYS["AK-PLAIN"].encode()
        raw = base64.urlsafe_b64decode(token.split(".")[0] + "==")
        assert b"AK-PLAIN" not in raw and hashlib.sha256(b"stillframe.ui\0" + secret).hexdigest()[:16] not in token
        # A sign-out needs the page's token and the site's own origin...
        csrf = form_token(c, "/ui/jobs")
        assert c.post("/ui/signout").status_code == 403
        assert c.post("/ui/signout", data={"csrf": csrf}, headers={"origin": "http://evil.example"}).status_code == 403
        assert c.get("/ui/jobs").status_code == 200
        # ...and ends the session: the old cookie is refused from then on.
        assert c.post("/ui/signout", data={"csrf": csrf}).status_code == 303
    with httpx.Client(base_url=base) as stale:
        stale.cookies.set(COOKIE, token, path="/ui")
        assert stale.get("/ui/jobs").status_code == 303
        assert stale.get("/ui/data/live/x/latest").status_code == 401


def test_no_other_site_signs_a_browser_in(server):
    base = server.st.base_url
    with httpx.Client(base_url=base) as c:
        good = {"access_key_id": "AK-PLAIN", "access_key_secret": KEYS["AK-PLAIN"], "next": "/ui/jobs"}
        # Another origin, or a form not paired with this browser's sign-in cookie: refused.
        csrf = form_token(c)
        assert c.cookies.get(SIGNIN_COOKIE) == csrf
        r = c.post("/ui/signin", data={**good, "csrf": csrf}, headers={"origin": "http://evil.example"})
        assert r.status_code == 403 and COOKIE not in r.cookies
        r = c.post("/ui/signin", data={**good, "csrf": "guessed"})
        assert r.status_code == 403 and COOKIE not in r.cookies
        c.cookies.clear()
        r = c.post("/ui/signin", data={**good, "csrf": csrf})
        assert r.status_code == 403 and COOKIE not in r.cookies


def test_sign_ins_are_rate_limited(tmp_path):
    with JobService(tmp_path / "jobs.db", workers=0) as svc:
        ctx = ServerContext(svc, {"AK-PLAIN": KEYS["AK-PLAIN"]})
        with ServerThread(ctx) as st, httpx.Client(base_url=st.base_url) as c:
            codes = [sign_in(c, "AK-PLAIN", "wrong").status_code for _ in range(10)]
            assert codes == [401] * 10
            r = sign_in(c, "AK-PLAIN", KEYS["AK-PLAIN"])  # right, but too soon
            assert r.status_code == 429 and COOKIE not in r.cookies and "try again" in r.text


# -- 14: private addresses --------------------------------------------------------------------


PRIVATE = [
    "http://127.0.0.1:9/hook",
    "http://localhost:9/hook",
    "http://[::1]:9/hook",
    "http://10.1.2.3/hook",
    "http://169.254.169.254/latest/meta-data",
    "http://192.168.0.1/hook",
    "http://0.0.0.0:9/hook",
]


@pytest.mark.parametrize("url", PRIVATE)
def test_callbacks_and_streams_stay_off_private_addresses(server, url):
    err = refused(
        lambda: mts(server).add_pipeline(
            mts_models.AddPipelineRequest(name="p", notify_config=json.dumps({"Topic": url}))
        ),
        400,
    )
    assert err.code == "InvalidParameter" and "--allow-private-urls" in err.message
    client = ice(server)
    tid = client.create_live_snapshot_template(
        ice_models.CreateLiveSnapshotTemplateRequest(template_name="t", time_interval=5)
    ).body.template_id
    output = ice_models.SubmitLiveSnapshotJobRequestSnapshotOutput(storage_type="oss", endpoint="e", bucket="media")
    for stream, callback in ((url.replace("http", "rtmp", 1), None), ("rtmp://93.184.216.34/live/x", url)):
        req = ice_models.SubmitLiveSnapshotJobRequest(
            job_name="cam",
            template_id=tid,
            snapshot_output=output,
            callback_url=callback,
            stream_input=ice_models.SubmitLiveSnapshotJobRequestStreamInput(type="rtmp", url=stream),
        )
        assert refused(lambda r=req: client.submit_live_snapshot_job(r), 400).code == "InvalidParameter"


def test_private_addresses_by_allow_list(tmp_path):
    from stillframe.server.tenant import PrivateUrls

    allowed = PrivateUrls.parse("127.0.0.1/32,10.0.0.0/8")
    allowed.check("http://127.0.0.1:9/hook", "x")
    allowed.check("http://10.9.9.9/hook", "x")
    allowed.check("http://93.184.216.34/hook", "x")  # public: always
    for url in ("http://192.168.1.1/", "http://[::1]/"):
        with pytest.raises(Exception, match="allow-private-urls"):
            allowed.check(url, "x")
    PrivateUrls.parse("all").check("http://[::1]/", "x")
    with pytest.raises(ValueError):
        PrivateUrls.parse("ten-dot")


# -- 15: one replay guard for every instance --------------------------------------------------


class Recorder:
    """A one-shot TCP relay to `port` that keeps the request it carried."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.request = b""
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        threading.Thread(target=self._relay, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.sock.getsockname()[1]}"

    def _relay(self) -> None:
        conn, _ = self.sock.accept()
        with conn, socket.create_connection(("127.0.0.1", self.port)) as up:
            self.request = _read_message(conn)
            up.sendall(self.request)
            conn.sendall(_read_message(up))


def _read_message(s: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        data += s.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (
            int(v)
            for k, _, v in (ln.partition(b":") for ln in head.split(b"\r\n"))
            if k.strip().lower() == b"content-length"
        ),
        0,
    )
    while len(body) < length:
        body += s.recv(65536)
    return head + b"\r\n\r\n" + body


def _send(port: int, raw: bytes) -> dict:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(raw)
        answer = _read_message(s)
    return json.loads(answer.partition(b"\r\n\r\n")[2])


def test_a_replayed_sdk_request_is_refused_by_every_instance(tmp_path, postgres_url):
    args = ["--store", postgres_url, "--access-key", "AK-ALPHA:alpha-secret", "--workers", "0"]
    with serve_process(*args) as a, serve_process(*args) as b:
        relay = Recorder(a.port)
        client = IceClient(
            Config(access_key_id="AK-ALPHA", access_key_secret="alpha-secret", endpoint=relay.endpoint, protocol="http")
        )
        assert client.list_snapshot_jobs(ice_models.ListSnapshotJobsRequest()).body.jobs == []
        assert b"x-acs-signature-nonce" in relay.request.lower()
        for port in (b.port, a.port):  # the same bytes again, to the other server and to the first
            answer = _send(port, relay.request)
            assert answer.get("Code") == "SignatureNonceUsed", (port, answer)


# -- 16: accounts -------------------------------------------------------------------------------


def test_each_account_sees_only_its_own(server):
    alpha, beta = ice(server, "AK-ALPHA"), ice(server, "AK-BETA")
    params = ice_models.SubmitSnapshotJobRequestTemplateConfigOverwriteParams(count=2, interval=0.3)
    job_id = alpha.submit_snapshot_job(
        ice_models.SubmitSnapshotJobRequest(
            input=ice_models.SubmitSnapshotJobRequestInput(type="OSS", media="oss://media/clip.mp4"),
            output=ice_models.SubmitSnapshotJobRequestOutput(type="OSS", media="oss://media/alpha/{Count}.jpg"),
            template_config=ice_models.SubmitSnapshotJobRequestTemplateConfig(overwrite_params=params),
        )
    ).body.job_id
    assert server.svc.wait(job_id, 30).status == "Success"
    get = ice_models.GetSnapshotJobRequest(job_id=job_id)
    assert alpha.get_snapshot_job(get).body.snapshot_job.job_id == job_id
    assert refused(lambda: beta.get_snapshot_job(get), 404).code == "JobNotFound"
    assert job_id not in [j.job_id for j in beta.list_snapshot_jobs(ice_models.ListSnapshotJobsRequest()).body.jobs]
    assert job_id not in [
        j.job_id for j in ice(server, "AK-PLAIN").list_snapshot_jobs(ice_models.ListSnapshotJobsRequest()).body.jobs
    ]
    urls = ice_models.GetSnapshotUrlsRequest(job_id=job_id)
    assert refused(lambda: beta.get_snapshot_urls(urls), 404).code == "JobNotFound"
    queried = (
        mts(server, "AK-BETA")
        .query_snapshot_job_list(mts_models.QuerySnapshotJobListRequest(snapshot_job_ids=job_id))
        .body
    )
    assert queried.non_exist_snapshot_job_ids.string == [job_id]
    tasks = mpc(server, "AK-BETA").list_thumbnails_task(ListThumbnailsTaskRequest(task_id=[job_id]))
    assert tasks.total == 0
    with pytest.raises(ClientRequestException) as info:
        mpc(server, "AK-BETA").delete_thumbnails_task(DeleteThumbnailsTaskRequest(task_id=job_id))
    assert info.value.status_code == 404

    pipe = mts(server).add_pipeline(mts_models.AddPipelineRequest(name="alpha's")).body.pipeline.id
    found = mts(server, "AK-BETA").query_pipeline_list(mts_models.QueryPipelineListRequest(pipeline_ids=pipe)).body
    assert found.non_exist_pids.string == [pipe]
    delete = mts_models.DeletePipelineRequest(pipeline_id=pipe)
    assert refused(lambda: mts(server, "AK-BETA").delete_pipeline(delete), 404).code == "PipelineNotFound"

    tpl = alpha.create_custom_template(
        ice_models.CreateCustomTemplateRequest(
            name="alpha's", type=2, subtype=1, template_config=json.dumps({"Count": 2})
        )
    ).body.custom_template
    get_tpl = ice_models.GetCustomTemplateRequest(template_id=tpl.template_id)
    assert refused(lambda: beta.get_custom_template(get_tpl), 404).code == "TemplateNotFound"
    gone = ice_models.DeleteCustomTemplateRequest(template_id=tpl.template_id)
    assert refused(lambda: beta.delete_custom_template(gone), 404).code == "TemplateNotFound"

    live_tpl = alpha.create_live_snapshot_template(
        ice_models.CreateLiveSnapshotTemplateRequest(template_name="alpha's", time_interval=5)
    ).body.template_id
    get_live_tpl = ice_models.GetLiveSnapshotTemplateRequest(template_id=live_tpl)
    assert refused(lambda: beta.get_live_snapshot_template(get_live_tpl), 404).code == "TemplateNotFound"
    output = ice_models.SubmitLiveSnapshotJobRequestSnapshotOutput(storage_type="oss", endpoint="e", bucket="media")
    live = alpha.submit_live_snapshot_job(
        ice_models.SubmitLiveSnapshotJobRequest(
            job_name="cam",
            template_id=live_tpl,
            snapshot_output=output,
            stream_input=ice_models.SubmitLiveSnapshotJobRequestStreamInput(type="rtmp", url="rtmp://93.184.216.34/x"),
        )
    ).body.job_id
    get_live = ice_models.GetLiveSnapshotJobRequest(job_id=live)
    assert alpha.get_live_snapshot_job(get_live).body.job_id == live
    assert refused(lambda: beta.get_live_snapshot_job(get_live), 404).code == "JobNotFound"
    stop = ice_models.SendLiveSnapshotJobCommandRequest(job_id=live, command="stop")
    assert refused(lambda: beta.send_live_snapshot_job_command(stop), 404).code == "JobNotFound"
    listing = beta.list_live_snapshot_jobs(ice_models.ListLiveSnapshotJobsRequest(page_size=100)).body
    assert live not in [j.job_id for j in listing.job_list]

    # The preview pages too: beta's session sees neither the job nor its files.
    with httpx.Client(base_url=server.st.base_url) as c:
        assert sign_in(c, "AK-BETA", KEYS["AK-BETA"]).status_code == 303
        assert c.get(f"/ui/jobs/{job_id}").status_code == 404
        assert c.get(f"/ui/data/jobs/{job_id}/snapshot/0").status_code == 404
        assert job_id not in c.get("/ui/jobs").text
        assert c.get(f"/ui/live/{live}").status_code == 404
    with httpx.Client(base_url=server.st.base_url) as c:
        assert sign_in(c, "AK-ALPHA", KEYS["AK-ALPHA"]).status_code == 303
        assert c.get(f"/ui/data/jobs/{job_id}/snapshot/0").status_code == 200


# -- 17: the server's own store ------------------------------------------------------------------


def test_serve_keeps_a_store_of_its_own(tmp_path, tiny):
    env = {"XDG_DATA_HOME": str(tmp_path / "data"), "STILLFRAME_DB": ""}
    os.environ.pop("STILLFRAME_DB", None)
    media = tmp_path / "media"
    media.mkdir()
    old = dict(os.environ)
    os.environ.update(env)
    try:
        with JobService(workers=1) as local:  # the library's default store
            done = local.wait(
                local.submit_snapshot_job(
                    tiny, str(tmp_path / "local" / "{Count}.jpg"), {"Interval": 0.5, "Num": 2}
                ).id,
                30,
            )
            assert done.status == "Success"
    finally:
        os.environ.clear()
        os.environ.update(old)
    with serve_process("--access-key", "AK-PLAIN:plain-secret", "--bucket", f"media={media}", env=env) as served:
        client = IceClient(
            Config(
                access_key_id="AK-PLAIN", access_key_secret="plain-secret", endpoint=served.endpoint, protocol="http"
            )
        )
        assert client.list_snapshot_jobs(ice_models.ListSnapshotJobsRequest()).body.jobs == []
        cred = BasicCredentials("AK-PLAIN", "plain-secret", PROJECT)
        listed = (
            MpcClient.new_builder()
            .with_credentials(cred)
            .with_endpoints([served.url])
            .build()
            .list_thumbnails_task(ListThumbnailsTaskRequest())
        )
        assert listed.total == 0
        with httpx.Client(base_url=served.url) as c:
            assert sign_in(c, "AK-PLAIN", "plain-secret").status_code == 303
            assert done.id not in c.get("/ui/jobs").text
            assert c.get(f"/ui/data/jobs/{done.id}/snapshot/0").status_code == 404
    assert (tmp_path / "data" / "stillframe" / "serve.db").is_file()


# -- 18: one door -------------------------------------------------------------------------------


def test_the_server_reaches_jobs_only_through_the_service():
    """No module that answers requests touches the job tables or SQL itself (the
    command that starts the server only names where its store lives)."""
    for path in Path(stillframe.server.__file__).parent.glob("*.py"):
        if path.name == "cli.py":
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [f"{node.module}.{a.name}" for a in node.names]
            bad = [n for n in names if n.startswith(("sqlalchemy", "stillframe.jobs.store"))]
            assert not bad, (path.name, bad)


def test_every_route_is_behind_one_door(tmp_path):
    """Each route: an oversized body answers 413 before anything else, in the route's
    own shape; an unsigned request never reaches the route's handler; and the service
    as a route sees it offers only the service's own calls."""
    with JobService(tmp_path / "jobs.db", workers=0) as svc:
        ctx = ServerContext(svc, dict(KEYS), accounts=dict(ACCOUNTS))
        app = create_app(ctx)
        with ServerThread(ctx) as st, httpx.Client(base_url=st.base_url) as c:
            calls = []
            for route in app.routes:
                for sub in getattr(route, "routes", None) or [route]:
                    path = route.path + sub.path if sub is not route else route.path
                    calls += [(m, path) for m in sorted(set(sub.methods) - {"HEAD"})]
            for method, path in calls:
                path = path.replace("{project_id}", PROJECT).replace("{job_id}", "0" * 32)
                path = path.replace("{kind}", "snapshot").replace("{index:int}", "0").replace("//", "/")
                big = c.request(method, path, content=b"x" * (5 << 20))
                assert big.status_code == 413, (method, path, big.status_code)
                if path == "/healthz":
                    continue
                plain = c.request(method, path)
                if path == "/ui/signin":  # open, but a form from nowhere is refused
                    assert plain.status_code == (200 if method == "GET" else 403)
                    continue
                assert plain.status_code in (303, 400, 401), (method, path, plain.status_code)
                if path.startswith(("/v1", "/v3")):
                    assert plain.json()["error_code"] == "APIGW.0301"
                elif path == "/":
                    assert plain.json()["Code"] == "IncompleteSignature"
            assert len(calls) >= 18
        tenant = ctx.tenant("alpha")
        for name in ("engine", "runner", "storage", "close", "use_nonce", "get_ui_session"):
            with pytest.raises(AttributeError):
                getattr(tenant, name)
