"""Many hosts for real, on this machine: a storage host (S3 server, PostgreSQL), a Dask
scheduler, two worker hosts and two `stillframe serve` hosts, each a network namespace
with a file system of its own (tests/cluster.py). Every input and output is an object
in the S3 server. Shown: a batch of 40 videos and a split video across both worker
hosts, byte for byte a local run; jobs through the vendors' SDKs to either server,
run by the worker hosts and listed alike by both; and the faults hosts meet: a worker
host lost mid-batch and mid-job, PostgreSQL restarting, a store that misbehaves, a
clock ten minutes fast, a full disk."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

import stillframe as sf
from stillframe.distributed import snapshot_many

from . import pg
from .netns import Host, netns_pids, sweep, unavailable

pytest.importorskip("distributed", reason="the dask extra is not installed")
pytest.importorskip("moto.server", reason="moto[server] is not installed")
pytest.importorskip("psycopg", reason="the postgres extra is not installed")
ice_models = pytest.importorskip("alibabacloud_ice20201109.models")
mts_models = pytest.importorskip("alibabacloud_mts20140618.models")

from alibabacloud_ice20201109.client import Client as IceClient  # noqa: E402
from alibabacloud_mts20140618.client import Client as MtsClient  # noqa: E402
from alibabacloud_tea_openapi.exceptions import ServerException  # noqa: E402
from alibabacloud_tea_openapi.models import Config  # noqa: E402

from .cluster import AK, LEASE, SK, Cluster, batch_clips, dask_processing, run_batch, run_split  # noqa: E402
from .s3proxy import shares  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.postgres]  # a cluster of hosts, PostgreSQL on one

SAMPLING = sf.Interval(0.25)
OPTIONS: dict[str, Any] = dict(width=96, quality=80, sprite=sf.Sprite(columns=2, lines=2))
N_VIDEOS = 40  # every length, shape and B-frame setting batch_clips makes, twice over: twenty a host
clean: dict[str, Any] = {}  # the clean batch's time and bytes, to set the faulty one's against


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    reason = unavailable()
    if reason:
        pytest.skip(reason)
    if pg.find_bindir() is None:
        pytest.skip(pg.MISSING)
    with Cluster(tmp_path_factory.mktemp("cluster")) as c:
        yield c


@pytest.fixture(scope="module")
def videos(cluster, tmp_path_factory) -> list[Path]:
    """N_VIDEOS short clips of a few shapes, uploaded to s3://media/batch/."""
    made = batch_clips(tmp_path_factory.mktemp("many"), N_VIDEOS)
    cluster.upload({f"media/batch/{p.name}": p for p in made})
    return made


@pytest.fixture(scope="module")
def reference(videos, tmp_path_factory) -> dict[str, bytes]:
    """What a local run writes for the clips: "{Name}/file" -> bytes."""
    root = tmp_path_factory.mktemp("local")
    items = snapshot_many(
        videos,
        SAMPLING,
        root / "{Name}/{Count}.jpg",
        webvtt=root / "{Name}/thumbs.vtt",
        processes=2,
        progress=False,
        **OPTIONS,
    )
    assert all(item.ok for item in items)
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def job_clip(clips, cluster) -> str:
    """A 3 s clip at s3://media/jobs/clip.mp4, and the same at jobs/slow.mp4 (whose
    reads the tests hold at the proxy, to catch a job mid-run)."""
    clip = clips("cluster-job.mp4", frames=90, size=(160, 120), gop=15)
    cluster.upload({"media/jobs/clip.mp4": clip, "media/jobs/slow.mp4": clip})
    return "oss://media/jobs/clip.mp4"


def batch(cluster: Cluster, prefix: str, **options: Any) -> Future[dict[str, Any]]:
    """The N_VIDEOS videos from s3://media/batch/ to s3://out/PREFIX/{Name}/, on the cluster."""
    inputs = [f"s3://media/batch/many-{i:02d}.mp4" for i in range(N_VIDEOS)]
    out = f"s3://out/{prefix}/{{Name}}"
    return cluster.dask(
        run_batch,
        cluster.scheduler_address,
        inputs,
        SAMPLING,
        f"{out}/{{Count}}.jpg",
        dict(OPTIONS, webvtt=f"{out}/thumbs.vtt", **options),
        cluster.storage_options,
    )


def check_batch(cluster: Cluster, got: dict[str, Any], prefix: str, reference: dict[str, bytes]) -> None:
    assert [i["ok"] for i in got["items"]] == [True] * N_VIDEOS, [i["error"] for i in got["items"] if not i["ok"]]
    stored = cluster.objects("out", f"{prefix}/")
    assert {k[len(prefix) + 1 :]: v for k, v in stored.items()} == reference  # byte for byte, nothing else


KILLED_RUN = """
import sys, time
from pathlib import Path
from tests.netns import Network
net = Network(Path(sys.argv[1])).__enter__()
net.host("a").spawn("sleep", ["sleep", "600"])
print(net.prefix, net.bridge, flush=True)
time.sleep(600)
"""


def running(pid: int) -> bool:
    """Alive, and not a zombie waiting for whichever process adopted it to reap it."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_what_a_run_killed_outright_leaves_is_removed_when_the_next_begins(tmp_path):
    reason = unavailable()
    if reason:
        pytest.skip(reason)
    root = str(Path(__file__).resolve().parents[1])
    run = subprocess.Popen(
        [sys.executable, "-c", KILLED_RUN, str(tmp_path)], cwd=root, stdout=subprocess.PIPE, text=True
    )
    assert run.stdout is not None
    prefix, bridge = run.stdout.readline().split()
    sleeper = netns_pids(f"{prefix}-a")
    run.kill()  # no finalizer runs
    run.wait()
    assert sleeper and all(running(pid) for pid in sleeper)  # left behind, still running
    removed = sweep()
    assert {f"{prefix}-a", bridge} <= set(removed)
    assert not any(running(pid) for pid in sleeper)
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert (
        bridge not in links
        and f"{prefix}-a" not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    )


# -- the cluster at work ------------------------------------------------------------------------


def test_a_batch_across_two_hosts_gives_the_files_of_a_local_run(cluster, videos, reference):
    cluster.proxy.reset_counts()
    got = batch(cluster, "batch").result(timeout=300)
    check_batch(cluster, got, "batch", reference)
    assert got["busy"] == ["w1", "w2"]  # both worker hosts ran videos
    # Every byte went through the S3 server: the inputs read there, the outputs put there.
    assert cluster.proxy.bytes_in >= sum(map(len, reference.values()))
    clean.update(
        seconds=got["seconds"], requests=cluster.proxy.requests, bytes=cluster.proxy.bytes_in + cluster.proxy.bytes_out
    )


def test_a_long_video_split_across_both_hosts(cluster, clips, tmp_path):
    clip = clips("cluster-long.mp4", frames=450, size=(320, 180), gop=30, bframes=2)
    cluster.upload({"media/long/clip.mp4": clip})
    options: dict[str, Any] = dict(width=160, sprite=sf.Sprite(columns=4, lines=3), cover="auto", quality=80)
    ref = sf.snapshot(clip, sf.Interval(0.5), tmp_path / "{Count}.jpg", webvtt=tmp_path / "t.vtt", **options)
    got = cluster.dask(
        run_split,
        cluster.scheduler_address,
        "s3://media/long/clip.mp4",
        sf.Interval(0.5),
        "s3://out/split/{Count}.jpg",
        dict(options, webvtt="s3://out/split/t.vtt"),
        cluster.storage_options,
    ).result(timeout=300)
    assert got["workers"] == 2
    assert [f["time"] for f in got["result"]["frames"]] == [round(f.time, 6) for f in ref.frames]
    expected = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert {k[len("split/") :]: v for k, v in cluster.objects("out", "split/").items()} == expected


def ice(cluster: Cluster, k: int) -> IceClient:
    return IceClient(
        Config(access_key_id=AK, access_key_secret=SK, endpoint=cluster.server_endpoint(k), protocol="http")
    )


def mps(cluster: Cluster, k: int) -> MtsClient:
    return MtsClient(
        Config(access_key_id=AK, access_key_secret=SK, endpoint=cluster.server_endpoint(k), protocol="http")
    )


def submit_ice(cluster: Cluster, k: int, source: str, output: str, count: int = 3, **kw: Any) -> str:
    params = ice_models.SubmitSnapshotJobRequestTemplateConfigOverwriteParams(count=count, interval=0.5, width=64)
    req = ice_models.SubmitSnapshotJobRequest(
        input=ice_models.SubmitSnapshotJobRequestInput(type="OSS", media=source),
        output=ice_models.SubmitSnapshotJobRequestOutput(type="OSS", media=output),
        template_config=ice_models.SubmitSnapshotJobRequestTemplateConfig(overwrite_params=params),
        **kw,
    )
    with cluster.client.entered():
        return ice(cluster, k).submit_snapshot_job(req).body.job_id


def submit_mps(cluster: Cluster, k: int, obj: str, output: str, num: int = 3) -> str:
    config = {
        "OutputFile": {"Bucket": "out", "Location": "local", "Object": output},
        "Time": "0",
        "Interval": "0.5",
        "Num": str(num),
        "Width": "64",
        "FrameType": "normal",
    }
    req = mts_models.SubmitSnapshotJobRequest(
        input=json.dumps({"Bucket": "media", "Location": "local", "Object": obj}), snapshot_config=json.dumps(config)
    )
    with cluster.client.entered():
        return mps(cluster, k).submit_snapshot_job(req).body.snapshot_job.id


def jobs_table(cluster: Cluster, ids: list[str]) -> dict[str, tuple[str, int, str]]:
    """job id -> (status, runs, claimed_by), from the database."""
    rows = cluster.sql("SELECT id, status, runs, claimed_by FROM jobs WHERE id = ANY(%s)", ids)
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def wait_jobs(cluster: Cluster, ids: list[str], timeout: float = 90) -> dict[str, tuple[str, int, str]]:
    deadline = time.monotonic() + timeout
    while True:
        table = jobs_table(cluster, ids)
        if len(table) == len(ids) and all(s in ("Success", "Fail") for s, _, _ in table.values()):
            return table
        if time.monotonic() > deadline:
            raise AssertionError(f"jobs still running after {timeout} s: {table}")
        time.sleep(0.1)


def wait_for(check, what: str, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)
    return value


def ice_listing(cluster: Cluster, k: int) -> list[dict[str, Any]]:
    """Every job ICE ListSnapshotJobs shows on server k, page by page."""
    seen, token = [], None
    with cluster.client.entered():
        client = ice(cluster, k)
        while True:
            req = ice_models.ListSnapshotJobsRequest(page_size=100, next_page_token=token)
            body = client.list_snapshot_jobs(req).body
            seen += [j.to_map() for j in body.jobs]
            token = body.next_page_token
            if not token:
                return seen


def mps_listing(cluster: Cluster, k: int, ids: list[str]) -> list[dict[str, Any]]:
    with cluster.client.entered():
        req = mts_models.QuerySnapshotJobListRequest(snapshot_job_ids=",".join(ids))
        return [j.to_map() for j in mps(cluster, k).query_snapshot_job_list(req).body.snapshot_job_list.snapshot_job]


def test_jobs_through_either_server_run_on_the_worker_hosts_and_are_listed_alike(cluster, job_clip):
    ids = [submit_ice(cluster, i % 2, job_clip, f"oss://out/ice/{i}/{{Count}}.jpg", name=f"ice {i}") for i in range(4)]
    ids += [submit_mps(cluster, i % 2, "jobs/clip.mp4", f"mps/{i}/{{Count}}.jpg") for i in range(4)]
    table = wait_jobs(cluster, ids)
    assert {s for s, _, _ in table.values()} == {"Success"}
    assert {by for _, _, by in table.values()} <= set(cluster.idents.values())  # run by the worker hosts
    assert all(runs == 1 for _, runs, _ in table.values())
    stored = cluster.keys("out")
    for i in range(4):
        assert [k for k in stored if k.startswith(f"ice/{i}/")] == [f"ice/{i}/0000{n}.jpg" for n in (1, 2, 3)]
        assert [k for k in stored if k.startswith(f"mps/{i}/")] == [f"mps/{i}/0000{n}.jpg" for n in (1, 2, 3)]
    one, two = ice_listing(cluster, 0), ice_listing(cluster, 1)
    assert one == two and set(ids) <= {j["JobId"] for j in one}
    assert mps_listing(cluster, 0, ids[4:]) == mps_listing(cluster, 1, ids[4:]) != []


# -- faults -------------------------------------------------------------------------------------


class Gate:
    """A proxy fault that holds every read of jobs/slow.mp4 until opened: a job on it
    stays mid-run, under its worker's lease, for as long as a test needs."""

    def __init__(self) -> None:
        self.opened = threading.Event()

    def __call__(self, method: str, path: str, attempt: int) -> None:
        if "/jobs/slow.mp4" in path:
            self.opened.wait(120)


def held_by(cluster: Cluster, ident: str) -> list[str]:
    return [r[0] for r in cluster.sql("SELECT id FROM jobs WHERE status = 'Processing' AND claimed_by = %s", ident)]


def freeze_mid_video(cluster: Cluster, host: Host, running: Future, timeout: float = 60) -> None:
    """Freeze `host` (SIGSTOP every process) at a moment its Dask worker runs a video."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not running.done():
        if cluster.dask(dask_processing, cluster.scheduler_address).result().get(host.name):
            host.signal_all(signal.SIGSTOP)
            if cluster.dask(dask_processing, cluster.scheduler_address).result().get(host.name):
                return
            host.signal_all(signal.SIGCONT)
        time.sleep(0.02)
    raise AssertionError(f"{host.name} never ran a video while the batch ran")


def test_a_worker_host_lost_mid_batch_and_mid_job(cluster, videos, reference, job_clip):
    # An earlier run's objects under the batch's names: the lost run keeps them aside, its rerun puts them back first.
    with cluster.client.entered():
        for i in range(N_VIDEOS):
            cluster._s3.put_object(Bucket="out", Key=f"lost/many-{i:02d}/00001.jpg", Body=b"earlier")
    gate = cluster.proxy.fault = Gate()
    victim, victim_ident = cluster.net.hosts["w1"], cluster.idents["w1"]
    try:
        ids = [
            submit_ice(cluster, i % 2, "oss://media/jobs/slow.mp4", f"oss://out/lostjobs/{i}/{{Count}}.jpg")
            for i in range(6)
        ]
        lost = wait_for(lambda: held_by(cluster, victim_ident), "w1 taking a job")
        running = batch(cluster, "lost", overwrite=True)  # replacing the earlier run's objects
        freeze_mid_video(cluster, victim, running)
        victim.kill()  # every process of the host, at once
        gate.opened.set()
        got = running.result(timeout=300)
        table = wait_jobs(cluster, ids, timeout=120)
    finally:
        gate.opened.set()
        cluster.proxy.fault = lambda method, path, attempt: None
        if victim.init is None:
            cluster.revive(victim)
    assert got["held"]["w1"] >= 1  # it was running a video when it was lost
    assert got["workers"] == ["w2"]  # and the batch ended on the other host
    check_batch(cluster, got, "lost", reference)  # every video whole, no `.keep` left aside
    assert {s for s, _, _ in table.values()} == {"Success"}
    runs = {job: r for job, (_, r, _) in table.items()}
    assert {job for job, r in runs.items() if r != 1} == set(lost) and all(runs[j] == 2 for j in lost)
    assert all(table[j][2] != victim_ident for j in lost)  # ended by the host that took them over
    keys = cluster.keys("out", "lostjobs/")
    assert sorted(keys) == sorted(f"lostjobs/{i}/0000{n}.jpg" for i in range(6) for n in (1, 2, 3))


def test_postgresql_restarting_mid_run(cluster, job_clip):
    from huaweicloudsdkcore.auth.credentials import BasicCredentials
    from huaweicloudsdkcore.exceptions.exceptions import ServerResponseException
    from huaweicloudsdkmpc.v1 import ListThumbnailsTaskRequest, MpcClient

    before = cluster.sql("SELECT count(*) FROM jobs")[0][0]
    gate = cluster.proxy.fault = Gate()
    try:
        ids = [submit_mps(cluster, i % 2, "jobs/slow.mp4", f"restart/{i}/{{Count}}.jpg") for i in range(6)]
        # Both worker hosts mid-job, their reads held at the proxy.
        wait_for(lambda: all(held_by(cluster, ident) for ident in cluster.idents.values()), "both hosts taking a job")
        cluster.pg.stop()
        try:
            gate.opened.set()  # the jobs run on and end while the database is down: their ends wait for it
            refused = []
            with cluster.client.entered():
                calls = [
                    lambda: ice(cluster, 0).get_snapshot_job(ice_models.GetSnapshotJobRequest(job_id=ids[0])),
                    lambda: mps(cluster, 1).query_snapshot_job_list(
                        mts_models.QuerySnapshotJobListRequest(snapshot_job_ids=ids[0])
                    ),
                ]
                for call in calls:
                    with pytest.raises(ServerException) as info:
                        call()
                    refused.append((info.value.status_code, info.value.code))
                mpc = (
                    MpcClient.new_builder()
                    .with_credentials(BasicCredentials(AK, SK, "stillframe"))
                    .with_endpoints([f"http://{cluster.server_endpoint(1)}"])
                    .build()
                )
                with pytest.raises(ServerResponseException) as hw:
                    mpc.list_thumbnails_task(ListThumbnailsTaskRequest(task_id=[ids[0]]))
            with pytest.raises(ServerException) as info:
                submit_mps(cluster, 0, "jobs/clip.mp4", "restart/refused/{Count}.jpg")
            refused.append((info.value.status_code, info.value.code))
            time.sleep(1.0)
        finally:
            cluster.pg.start()
        table = wait_jobs(cluster, ids, timeout=120)
    finally:
        gate.opened.set()
        cluster.proxy.fault = lambda method, path, attempt: None
    assert refused == [(503, "ServiceUnavailable")] * 3
    assert (hw.value.status_code, hw.value.error_code) == (503, "APIG.0202")
    assert {s for s, _, _ in table.values()} == {"Success"}
    assert all(runs == 1 for _, runs, _ in table.values())  # none run again: every lease held through the restart
    assert cluster.sql("SELECT count(*) FROM jobs")[0][0] == before + len(ids)  # the refused submit made nothing
    assert mps_listing(cluster, 0, ids) == mps_listing(cluster, 1, ids)


def test_a_misbehaving_store_costs_retries_never_frames(cluster, videos, reference, record_property):
    cluster.proxy.reset_counts()
    cluster.proxy.fault = shares(latency=0.005, slow_down=0.03, cut=0.06, reset=0.06, seed=3)
    try:
        got = batch(cluster, "flaky").result(timeout=300)
    finally:
        cluster.proxy.fault = lambda method, path, attempt: None
        faults, requests = dict(cluster.proxy.faults), cluster.proxy.requests
        moved = cluster.proxy.bytes_in + cluster.proxy.bytes_out
    check_batch(cluster, got, "flaky", reference)
    assert faults["503"] > 0 and faults["cut"] > 0 and faults["reset"] > 0, faults
    retries = sum(i["result"]["writes"]["s3"]["retries"] for i in got["items"])
    assert retries > 0  # the uploads' own retries, reported in each result
    if clean:
        extra = {
            "seconds": got["seconds"] - clean["seconds"],
            "requests": requests - clean["requests"],
            "bytes": moved - clean["bytes"],
        }
        record_property("faulty_store_extra", extra)
        print(
            f"faults {faults}: {extra['requests']:+d} requests, {extra['bytes']:+,d} bytes, "
            f"{extra['seconds']:+.2f} s against the clean batch"
        )


def heartbeats(cluster: Cluster, ident: str) -> float | None:
    """A worker's last heartbeat less the database's clock now, or None before its first."""
    rows = cluster.sql(
        "SELECT value::float - EXTRACT(EPOCH FROM clock_timestamp())::float FROM meta WHERE key = %s",
        f"worker:{ident}"[:64],
    )
    return rows[0][0] if rows else None


def test_a_host_ten_minutes_fast_neither_steals_a_job_nor_holds_one_late(cluster, job_clip):
    hosts = [cluster.net.hosts["w1"], cluster.net.hosts["w2"]]
    for host in hosts:
        host.stop("jobs")
    gate = cluster.proxy.fault = Gate()
    try:
        on_time = cluster.start_job_worker(hosts[0], "on-time")
        first = submit_ice(cluster, 0, "oss://media/jobs/slow.mp4", "oss://out/clock/a/{Count}.jpg")
        wait_for(lambda: held_by(cluster, on_time) == [first], "the on-time worker taking the job")
        fast = cluster.start_job_worker(hosts[1], "fast", clock_ahead=600)
        # By its own clock the job's lease ended ten minutes ago; it polls the queue twice (its heartbeats).
        wait_for(lambda: heartbeats(cluster, fast) is not None, "the fast worker polling")
        time.sleep(2.5)
        assert held_by(cluster, on_time) == [first] and held_by(cluster, fast) == []
        gate.opened.set()
        assert wait_jobs(cluster, [first])[first] == ("Success", 1, on_time)  # not stolen: run once, by its holder
        assert abs(heartbeats(cluster, fast) or 0.0) < 60  # its heartbeat is in the database's time, not its own

        gate = cluster.proxy.fault = Gate()
        hosts[0].stop("on-time")
        second = submit_ice(cluster, 1, "oss://media/jobs/slow.mp4", "oss://out/clock/b/{Count}.jpg")
        wait_for(lambda: held_by(cluster, fast) == [second], "the fast worker taking the job")
        (left,) = cluster.sql(
            "SELECT lease_until - EXTRACT(EPOCH FROM clock_timestamp())::float FROM jobs WHERE id = %s", second
        )[0]
        assert 0 < left <= LEASE + 1  # its lease ends LEASE from now by the database's clock, not ten minutes later
        hosts[1].stop("fast", signal.SIGKILL)
        gate.opened.set()
        taker = cluster.start_job_worker(hosts[0], "taker")
        assert wait_jobs(cluster, [second], timeout=60)[second] == ("Success", 2, taker)  # taken over on time
    finally:
        gate.opened.set()
        cluster.proxy.fault = lambda method, path, attempt: None
        for host in hosts:
            for name in [n for n in host.procs if n != "dask"]:
                host.stop(name)
        cluster.start_job_workers(hosts)


def test_a_full_disk_is_one_error_naming_the_file_and_the_earlier_files_stay(cluster, job_clip):
    host = cluster.net.hosts["w2"]
    host.run(["sh", "-c", "mkdir -p /tmp/small && mount -t tmpfs -o size=160k small /tmp/small"])
    try:
        snapshot = [
            sys.executable,
            "-m",
            "stillframe",
            "snapshot",
            "s3://media/jobs/clip.mp4",
            "--storage-options",
            json.dumps(cluster.storage_options),
            "-o",
            "/tmp/small/out/{Count}.jpg",
        ]
        host.run([*snapshot, "--interval", "0.5", "--width", "64"])
        listing = ["sh", "-c", "cd /tmp/small/out && ls -A && sha256sum *"]
        before = host.run(listing).stdout
        bigger = host.run(
            [
                *snapshot,
                "--interval",
                "0.1",
                "--quality",
                "100",
                "--sprite",
                "3x3",
                "--vtt",
                "/tmp/small/out/thumbs.vtt",
                "--overwrite",
            ],
            check=False,
        )
        assert host.run(listing).stdout == before  # the files it replaced are back, nothing else left
    finally:
        host.run(["umount", "/tmp/small"], check=False)
    assert bigger.returncode == 1
    line = r"stillframe: error: InternalError: /tmp/small/out/[\w.-]+: cannot write the file: the file system is full"
    assert re.fullmatch(line + r" \(No space left on device\)\n", bigger.stderr), bigger.stderr
