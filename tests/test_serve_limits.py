"""Bounded, whatever a caller sends: a job's snapshot count (refused at submission,
or failed before it writes when the count waits on the video's length), the server's
memory under huge schedules and huge unsigned bodies (measured on a `stillframe
serve` process), malformed input answered with the vendor's 4xx (never a 500), slow
clients cut off, and SIGTERM stopping the server in seconds with its running job
handed back whole."""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlencode

import pytest

pytest.importorskip("starlette")
httpx = pytest.importorskip("httpx")
ice_models = pytest.importorskip("alibabacloud_ice20201109.models")
mts_models = pytest.importorskip("alibabacloud_mts20140618.models")

from alibabacloud_ice20201109.client import Client as IceClient  # noqa: E402
from alibabacloud_mts20140618.client import Client as MtsClient  # noqa: E402
from alibabacloud_tea_openapi.exceptions import ClientException  # noqa: E402
from alibabacloud_tea_openapi.models import Config  # noqa: E402

from stillframe.errors import InvalidParameter  # noqa: E402
from stillframe.jobs import JobService  # noqa: E402
from stillframe.jobs import store as t  # noqa: E402
from stillframe.jobs.config import SnapshotConfig  # noqa: E402
from stillframe.sampling import Dots, Interval  # noqa: E402
from stillframe.server.acs_sign import Acs3HmacSha256, AcsRequest, RpcHmacSha1  # noqa: E402
from stillframe.server.app import ServerThread  # noqa: E402
from stillframe.server.buckets import Buckets, parse_bucket  # noqa: E402
from stillframe.server.context import ServerContext  # noqa: E402
from stillframe.server.huawei_sign import SdkHmacSha256, SignedRequest  # noqa: E402

from .serve_proc import serve_process  # noqa: E402
from .servers import wait_for  # noqa: E402
from .test_serve_ui import sign_in  # noqa: E402

AK, SK, PROJECT = "LTAI-limits", "limits-secret", "stillframe"
ICE_V, MPS_V = "2020-11-09", "2014-06-18"
MB = 1 << 20


@pytest.fixture(scope="module")
def long_clip(clips) -> Path:
    """A 20-minute video, one small frame a second."""
    return clips("twenty-minutes.mp4", frames=1200, size=(160, 120), fps=1, gop=60)


def _folders(root: Path, clip: Path) -> tuple[Path, Path]:
    media, out = root / "media", root / "out"
    media.mkdir(exist_ok=True)
    out.mkdir(exist_ok=True)
    if not (media / "long.mp4").exists():
        (media / "long.mp4").write_bytes(clip.read_bytes())
    return media, out


def _serve_args(root: Path, media: Path, out: Path, *extra: str) -> list[str]:
    return [
        "--store",
        str(root / "jobs.db"),
        "--access-key",
        f"{AK}:{SK}",
        "--bucket",
        f"media={media}",
        "--bucket",
        f"out={out}",
        "--project-id",
        PROJECT,
        *extra,
    ]


@pytest.fixture(scope="module")
def proc(tmp_path_factory, long_clip):
    """`stillframe serve` in a process of its own, so its memory is its own."""
    root = tmp_path_factory.mktemp("limits")
    media, out = _folders(root, long_clip)
    with serve_process(*_serve_args(root, media, out)) as served:
        yield SimpleNamespace(served=served, root=root, media=media, out=out)


def ice_for(endpoint: str) -> IceClient:
    return IceClient(Config(access_key_id=AK, access_key_secret=SK, endpoint=endpoint, protocol="http"))


def overwrite(**kw) -> ice_models.SubmitSnapshotJobRequestTemplateConfig:
    params = ice_models.SubmitSnapshotJobRequestTemplateConfigOverwriteParams(**kw)
    return ice_models.SubmitSnapshotJobRequestTemplateConfig(overwrite_params=params)


def submit_long(client: IceClient, folder: str, **kw) -> str:
    return client.submit_snapshot_job(
        ice_models.SubmitSnapshotJobRequest(
            input=ice_models.SubmitSnapshotJobRequestInput(type="OSS", media="oss://media/long.mp4"),
            output=ice_models.SubmitSnapshotJobRequestOutput(type="OSS", media=f"oss://out/{folder}/{{Count}}.jpg"),
            template_config=overwrite(**kw),
        )
    ).body.job_id


def job_of(client: IceClient, job_id: str):
    return client.get_snapshot_job(ice_models.GetSnapshotJobRequest(job_id=job_id)).body.snapshot_job


# -- 3: snapshots a job may make -------------------------------------------------------------


def test_the_service_caps_snapshots_a_job(tmp_path, tiny):
    """20,000 by default (Huawei's listing reaches offset 20,000): a count known at
    submission is refused then; one that waits on the video's length fails the job."""
    with JobService(tmp_path / "jobs.db", workers=0) as svc:
        assert svc.snapshot_limit == 20000
        with pytest.raises(InvalidParameter, match="20000"):
            svc.submit_snapshot_job(
                tiny, str(tmp_path / "{Count}.jpg"), SnapshotConfig(sampling=Interval(0, count=20001))
            )
        with pytest.raises(InvalidParameter):
            svc.submit_snapshot_job(tiny, str(tmp_path / "{Count}.jpg"), SnapshotConfig(sampling=Dots([0.0] * 20001)))
    with JobService(tmp_path / "jobs2.db", workers=1, snapshot_limit=10) as svc:
        job = svc.wait(
            svc.submit_snapshot_job(
                tiny, str(tmp_path / "o" / "{Count}.jpg"), SnapshotConfig(sampling=Interval(0.05))
            ).id,
            30,
        )
        assert (job.status, job.code) == ("Fail", "InvalidParameter") and "at most 10" in job.message
        assert not (tmp_path / "o").exists()


def test_a_huge_schedule_is_refused_and_memory_stays_flat(proc):
    """ICE Interval 0.0001 s with no Count on a 20-minute video (12 million times), and
    Interval 0 with Count 1e9: the first fails before a time is made, the second is
    refused at submission; the server's peak RSS hardly moves."""
    served = proc.served
    client = ice_for(served.endpoint)
    with pytest.raises(ClientException) as info:
        submit_long(client, "billion", interval=0, count=10**9)
    assert (info.value.status_code, info.value.code) == (400, "InvalidParameter")
    before = served.memory()
    job_id = submit_long(client, "dense", interval=0.0001)
    job = wait_for(lambda: (j := job_of(client, job_id)).status in ("Success", "Fail") and j, 60, "the job to end")
    grew = served.memory()["VmHWM"] - before["VmHWM"]
    print(f"peak RSS growth for a 12-million-snapshot schedule: {grew / MB:.1f} MB")
    assert (job.status, job.code) == ("Fail", "InvalidParameter")
    assert "12000000 snapshots" in job.message and "at most 20000" in job.message
    assert not (proc.out / "dense").exists()
    assert grew < 64 * MB


def test_mpc_time_is_1_to_100_seconds(proc):
    served = proc.served
    body = {
        "input": {"bucket": "media", "location": "local", "object": "long.mp4"},
        "output": {"bucket": "out", "location": "local", "object": "mpc"},
        "thumbnail_para": {"type": "TIME", "time": 0.0001},
    }
    answer = _huawei(served.url, "POST", f"/v1/{PROJECT}/thumbnails", json.dumps(body).encode())
    assert answer.status_code == 400 and answer.json()["error_code"] == "InvalidParameter", answer.text
    assert "1..100" in answer.json()["error_msg"]


@pytest.mark.slow
def test_sigterm_stops_the_server_without_finishing_its_job(tmp_path, long_clip):
    """A job writing many snapshots when SIGTERM comes: the server exits by itself with
    the job unfinished (not after its 20,000 snapshots), the job's files are removed and
    its lease handed back, and the next worker takes it."""
    media, out = _folders(tmp_path, long_clip)
    with serve_process(*_serve_args(tmp_path, media, out)) as served:
        job_id = submit_long(ice_for(served.endpoint), "busy", interval=0.06, width=320)  # 20,000 snapshots
        wait_for(lambda: (out / "busy").exists() and len(list((out / "busy").iterdir())) > 50, 60, "snapshots")
        took = served.stop(timeout=30)  # inf where it had to be killed
    print(f"SIGTERM to exit: {took:.2f} s")
    assert took != float("inf")
    assert not (out / "busy").exists()  # nothing half-done left behind: the folder the run made is gone too
    with JobService(tmp_path / "jobs.db", workers=0) as svc:
        with svc.engine.connect() as conn:
            row = conn.execute(t.jobs.select().where(t.jobs.c.id == job_id)).first()
        assert (row.status, row.claimed_by, row.attempts) == ("Processing", None, 0)
        assert svc.runner.claim().id == job_id  # its lease is over: the next worker takes it


# -- 8: one body cap, before authentication -------------------------------------------------


def _upload(port: int, path: str, total: int, declared: bool) -> tuple[int | None, int]:
    """An unsigned POST of `total` bytes, with or without Content-Length; stops
    sending once the server answers. (status or None, bytes sent)."""
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
    head += f"Content-Length: {total}\r\n\r\n" if declared else "Transfer-Encoding: chunked\r\n\r\n"
    chunk = b"x" * MB
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(head.encode())
        try:
            # A moment for an answer to the headers alone, then none between parts.
            while sent < total and not select.select([s], [], [], 0 if sent else 1.0)[0]:
                s.sendall(chunk if declared else b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
            if not declared and sent >= total:
                s.sendall(b"0\r\n\r\n")
            reply = s.recv(4096)
        except OSError:  # the server closed the connection under us
            return None, sent
    return (int(reply.split()[1]) if reply.startswith(b"HTTP/1.1") else None), sent


def test_huge_unsigned_bodies_are_refused_while_read(proc):
    served = proc.served
    before = served.memory()
    results = [_upload(served.port, f"/v1/{PROJECT}/thumbnails", 48 * MB, declared=k == 0) for k in range(4)]
    grew = served.memory()["VmHWM"] - before["VmHWM"]
    print(f"peak RSS growth after four unsigned 48 MB bodies: {grew / MB:.1f} MB; answers {results}")
    assert results[0] == (413, 0)  # a declared length over the cap: refused unread
    # The rest were refused once over the cap: the server stopped reading (the socket
    # buffers took a few MB more), and answered 413 or closed the connection.
    assert all(status in (413, None) and sent < 24 * MB for status, sent in results)
    assert grew < 24 * MB
    with httpx.Client(base_url=served.url) as c:
        answer = c.post(f"/v1/{PROJECT}/thumbnails", content=b"{" + b" " * (5 * MB) + b"}")
        assert answer.status_code == 413 and answer.json()["error_code"] == "APIG.0201"
        answer = c.post("/", content=b"x" * (5 * MB), headers={"content-type": "application/x-www-form-urlencoded"})
        assert answer.status_code == 413 and answer.json()["Code"] == "InvalidParameter.BodyTooLarge"


# -- 9: malformed input is a 4xx ------------------------------------------------------------


@pytest.fixture(scope="module")
def local(tmp_path_factory, clips):
    root = tmp_path_factory.mktemp("four")
    (root / "media").mkdir()
    (root / "media" / "clip.mp4").write_bytes(clips("four.mp4", frames=30, size=(64, 48)).read_bytes())
    svc = JobService(root / "jobs.db", workers=0)
    ctx = ServerContext(svc, {AK: SK}, Buckets([parse_bucket(f"media={root / 'media'}")]), project_id=PROJECT)
    with ServerThread(ctx) as st:
        yield SimpleNamespace(st=st, svc=svc, url=st.base_url)
    svc.close()


def _huawei(url: str, method: str, path: str, body: bytes = b"", **headers: str) -> httpx.Response:
    host = url.split("://", 1)[1]
    signed = SdkHmacSha256().sign(
        SignedRequest(method, path, [], {"host": host, "content-type": "application/json", **headers}, body), AK, SK
    )
    return httpx.request(method, url + path, headers={k: v.encode("latin-1") for k, v in signed.items()}, content=body)


def _acs3(url: str, action: str, version: str, query: dict, form: dict | None = None) -> httpx.Response:
    host = url.split("://", 1)[1]
    body = urlencode(form) if form else None
    headers = {"host": [host], "x-acs-action": [action], "x-acs-version": [version]}
    if body:
        headers["content-type"] = ["application/x-www-form-urlencoded"]
    signed = Acs3HmacSha256().sign(
        AcsRequest("POST", "/", sorted(query.items()), headers, (body or "").encode()), AK, SK
    )
    return httpx.post(url + "/", params=query, headers=signed, content=body)


def test_malformed_input_gets_the_vendors_4xx(local):
    url = local.url
    deep = "[" * 5000 + "]" * 5000
    with httpx.Client(base_url=url) as c:
        acs = Acs3HmacSha256().sign(
            AcsRequest(
                "POST",
                "/",
                [],
                {"host": [local.st.endpoint], "x-acs-action": ["ListSnapshotJobs"], "x-acs-version": [ICE_V]},
            ),
            AK,
            SK,
        )
        acs["authorization"] = acs["authorization"][:-4] + "\u00e9\u00e9\u00e9\u00e9"
        r = c.post("/", headers={k: v.encode("latin-1") for k, v in acs.items()})
        assert r.status_code == 400 and r.json()["Code"] == "SignatureDoesNotMatch", r.text
        rpc = RpcHmacSha1().sign("POST", {"Action": "ListSnapshotJobs", "Version": ICE_V}, AK, SK)
        rpc["Signature"] = "\u00e9" * 28
        r = c.post("/", params=rpc)
        assert r.status_code == 400 and r.json()["Code"] == "SignatureDoesNotMatch", r.text

        hw = _huawei(url, "GET", f"/v1/{PROJECT}/thumbnails")
        assert hw.status_code == 200
        headers = dict(hw.request.headers)
        headers["authorization"] = headers["authorization"][:-4] + "\u00e9\u00e9\u00e9\u00e9"
        r = c.get(f"/v1/{PROJECT}/thumbnails", headers={k: v.encode("latin-1") for k, v in headers.items()})
        assert r.status_code == 401 and r.json()["error_code"] == "APIGW.0301", r.text
        body = b'{"a": 1}'
        r = _huawei(url, "POST", f"/v1/{PROJECT}/thumbnails", body, **{"x-sdk-content-sha256": "\u00e9" * 64})
        assert r.status_code == 401 and r.json()["error_code"] == "APIGW.0301", r.text

    r = _huawei(url, "POST", f"/v1/{PROJECT}/thumbnails", deep.encode())
    assert r.status_code == 400 and r.json()["error_code"] == "InvalidParameter", r.text
    r = _acs3(url, "SubmitSnapshotJob", ICE_V, {}, {"Input": deep, "Output": "{}", "TemplateConfig": "{}"})
    assert r.status_code == 400 and r.json()["Code"] == "InvalidParameter", r.text
    mts = MtsClient(Config(access_key_id=AK, access_key_secret=SK, endpoint=local.st.endpoint, protocol="http"))
    with pytest.raises(ClientException) as info:
        mts.submit_snapshot_job(
            mts_models.SubmitSnapshotJobRequest(
                input=json.dumps({"Bucket": "media", "Object": "clip.mp4"}), snapshot_config="[" * 1500 + "]" * 1500
            )
        )
    assert (info.value.status_code, info.value.code) == (400, "InvalidParameter")

    tid = local.svc.create_live_snapshot_template("t", 5)
    live = local.svc.submit_live_snapshot_job(
        "cam", {"Url": "rtmp://127.0.0.1:9/x"}, tid, {"StorageType": "local", "Bucket": "/nowhere"}
    )
    ice = IceClient(Config(access_key_id=AK, access_key_secret=SK, endpoint=local.st.endpoint, protocol="http"))
    with pytest.raises(ClientException) as info:
        ice.delete_live_snapshot_files(
            ice_models.DeleteLiveSnapshotFilesRequest(job_id=live.id, create_timestamp_list=[10**20])
        )
    assert (info.value.status_code, info.value.code) == (400, "InvalidParameter")

    task = {
        "input": {"bucket": "media", "location": "local", "object": "clip.mp4"},
        "output": {"bucket": "media", "location": "local", "object": "o"},
        "thumbnail_para": {"type": "TIME", "time": 1},
        "user_data": {"an": "object"},
    }
    r = _huawei(url, "POST", f"/v1/{PROJECT}/thumbnails", json.dumps(task).encode())
    assert r.status_code == 400 and r.json()["error_code"] == "InvalidParameter", r.text

    with httpx.Client(base_url=url) as c:
        assert sign_in(c, AK, SK).status_code == 303
        r = c.get("/ui/live?page=99999999999999999999")
        assert r.status_code == 400 and "page" in r.text


# -- 13: slow clients -----------------------------------------------------------------------


def first_lines(socks: list[socket.socket], at_least: int, timeout: float = 30) -> list[bytes]:
    """The status line each of `socks` has been sent (b"" for none yet), read once
    `at_least` of them have an answer."""
    answered: dict[int, bytes] = {}
    deadline = time.monotonic() + timeout
    while len(answered) < at_least and time.monotonic() < deadline:
        ready, _, _ = select.select([s for i, s in enumerate(socks) if i not in answered], [], [], 0.1)
        for s in ready:
            answered[socks.index(s)] = s.recv(4096).split(b"\r\n")[0]
    return [answered.get(i, b"") for i in range(len(socks))]


def closed(socks: list[socket.socket]) -> int:
    """How many of `socks` the server has closed."""
    count = 0
    for s in socks:
        s.setblocking(False)
        try:
            count += s.recv(1) == b""
        except BlockingIOError:
            pass
        except ConnectionResetError:
            count += 1
    return count


def test_slow_bodies_connections_past_the_cap_and_a_full_budget(tmp_path):
    from stillframe.server.limits import Limits

    with JobService(tmp_path / "jobs.db", workers=0) as svc:
        quick = Limits(body_timeout=1.0)
        with ServerThread(ServerContext(svc, {AK: SK}, limits=quick)) as st:
            with socket.create_connection(("127.0.0.1", st.port), timeout=10) as s:  # a body that stops coming
                s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
                assert b" 408 " in s.recv(4096).split(b"\r\n")[0]
        # Bodies that wait long for their rest, so that what is refused is refused at once.
        limits = Limits(body_timeout=60.0, max_connections=20, bodies_max=7 * MB // 2)
        with ServerThread(ServerContext(svc, {AK: SK}, limits=limits)) as st:
            held = []
            for _ in range(3):  # three bodies of 1.5 MB in flight: the third is over the 3.5 MB budget
                s = socket.create_connection(("127.0.0.1", st.port), timeout=10)
                s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n" + b"x" * 1_500_000)
                held.append(s)
            answers = first_lines(held, at_least=1)
            # One is refused (429 Throttling); the two the budget holds still wait for their bodies.
            assert sum(b" 429 " in a for a in answers) == 1 and answers.count(b"") == 2, answers
            for s in held:
                s.close()
        with ServerThread(ServerContext(svc, {AK: SK}, limits=limits)) as st:
            extra = [socket.create_connection(("127.0.0.1", st.port), timeout=5) for _ in range(25)]
            try:
                wait_for(lambda: closed(extra) >= 5, 30, "the connections past the cap to be closed")
                assert closed(extra) == 5  # past the cap of 20, each new connection is closed at once; no others
            finally:
                for s in extra:
                    s.close()


def test_slow_clients_are_cut_off_and_healthz_stays_fast(tmp_path):
    from stillframe.server.limits import Limits

    with JobService(tmp_path / "jobs.db", workers=0) as svc:
        ctx = ServerContext(svc, {AK: SK}, limits=Limits(header_timeout=1.0))
        with ServerThread(ctx) as st:
            slow = [socket.create_connection(("127.0.0.1", st.port)) for _ in range(300)]
            for s in slow:
                s.sendall(b"GET /healthz HTTP/1.1\r\n")
            stop = threading.Event()
            closed: set[int] = set()

            def drip() -> None:  # one header line every 0.3 s, as long as the server listens
                while not stop.wait(0.3):
                    for i, s in enumerate(slow):
                        if i in closed:
                            continue
                        try:
                            s.sendall(b"X-Slow: 1\r\n")
                        except OSError:
                            closed.add(i)

            dripper = threading.Thread(target=drip, daemon=True)
            dripper.start()
            try:
                started = time.monotonic()
                # Answered all along; the time-out only bounds a server the slow clients hold up.
                with httpx.Client(base_url=st.base_url, timeout=10.0) as c:
                    while time.monotonic() - started < 3.0:
                        assert c.get("/healthz").status_code == 200
                        time.sleep(0.2)
                for s in slow:  # every slow connection has been closed by the server
                    s.settimeout(5)
                    try:
                        assert s.recv(1024) == b""
                    except ConnectionResetError:
                        pass
            finally:
                stop.set()
                dripper.join()
                for s in slow:
                    s.close()
