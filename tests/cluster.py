"""A stillframe cluster on this machine, one host a network namespace (tests/netns.py),
as the cluster tests, `scripts/cluster-demo` and `benchmarks/cluster.py` build it:

    storage    10.213.0.2  moto's S3 server (:9000); in front of it the fault-injecting
                           proxy (:9001, tests/s3proxy.py, run by this process on the
                           host's network), which every host uses as its S3 endpoint;
                           PostgreSQL (:5432)
    scheduler  10.213.0.3  the Dask scheduler (:8786)
    w1, w2     .4, .5      a Dask worker and a `stillframe worker` each
    s1, s2     .6, .7      `stillframe serve` (:8080) on the same PostgreSQL, running no
                           jobs itself
    client     .8          the user: this process's SDK calls and checks (a thread at a
                           time, by Host.entered) and a process holding the Dask client

Every input and output lives in the S3 server; no host sees another's files.
"""

from __future__ import annotations

import contextlib
import json
import pwd
import socket
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from . import pg
from .netns import SUBNET, Host, Network, enter_netns
from .s3proxy import FaultProxy

AK, SK = "LTAI-cluster-key", "cluster-secret"
S3_PORT, PROXY_PORT, PG_PORT, SCHEDULER_PORT, SERVE_PORT = 9000, 9001, 5432, 8786, 8080
LEASE = 10.0  # seconds: a lost worker's job is taken over this long after its last renewal
BUCKETS = ("media", "out")
PY = sys.executable


def wait_port(host: Host, ip: str, port: int, timeout: float, proc: Any = None, what: str = "") -> None:
    """Until `ip:port` accepts a connection from `host`'s network."""
    deadline = time.monotonic() + timeout
    with host.entered():
        while True:
            try:
                socket.create_connection((ip, port), timeout=1).close()
                return
            except OSError:
                if proc is not None and proc.poll() is not None:
                    raise RuntimeError(f"{what or ip} exited with {proc.returncode} before listening") from None
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{what or ip}:{port} did not listen within {timeout} s") from None
                time.sleep(0.1)


class HostPostgres:
    """PostgreSQL in a host's own /tmp, listening on its address."""

    def __init__(self, host: Host, port: int = PG_PORT) -> None:
        bindir = pg.find_bindir()
        if bindir is None:
            raise RuntimeError(pg.MISSING)
        self.host, self.port, self.bindir = host, port, bindir
        try:
            who = pwd.getpwnam("postgres")
        except KeyError:
            who = pwd.getpwnam("nobody")
        self.user = (who.pw_uid, who.pw_gid)
        self.data = "/tmp/pg/data"

    def _pg(self, *argv: str) -> None:
        self.host.run([str(self.bindir / argv[0]), *argv[1:]], user=self.user)

    def create(self) -> None:
        uid, gid = self.user
        self.host.run(["install", "-d", "-o", str(uid), "-g", str(gid), "/tmp/pg"])
        self._pg("initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--no-sync")
        self.host.run(
            ["sh", "-c", f"echo 'host all all {SUBNET}.0/24 trust' >> {self.data}/pg_hba.conf"], user=self.user
        )
        self.start()
        with self.host.entered():
            import psycopg

            with psycopg.connect(
                host=self.host.ip, port=self.port, user="postgres", dbname="postgres", autocommit=True
            ) as conn:
                conn.execute('CREATE DATABASE "stillframe"')

    def start(self) -> None:
        options = (
            f"-p {self.port} -k /tmp/pg -c listen_addresses={self.host.ip} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._pg("pg_ctl", "start", "-w", "-t", "60", "-D", self.data, "-l", "/tmp/pg/log", "-o", options)

    def stop(self) -> None:
        """A fast shutdown: sessions are ended, as by a restart for an upgrade."""
        self._pg("pg_ctl", "stop", "-w", "-m", "fast", "-D", self.data)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@{self.host.ip}:{self.port}/stillframe"


class Cluster:
    """The hosts above, started by `start()`, torn down by `close()` (every process,
    namespace, veth and the bridge), also when start() fails half way."""

    def __init__(self, root: Path, worker_hosts: int = 2, server_hosts: int = 2) -> None:
        self.root = root
        self.net = Network(root / "logs")
        self.n_workers, self.n_servers = worker_hosts, server_hosts
        self.workers: list[Host] = []
        self.servers: list[Host] = []
        self.idents: dict[str, str] = {}  # worker host -> its `stillframe worker`'s identity
        self._pool: ProcessPoolExecutor | None = None
        self._s3: Any = None
        self._stack = contextlib.ExitStack()

    # -- addresses -------------------------------------------------------------------------

    @property
    def s3_endpoint(self) -> str:
        """What every host uses: the proxy in front of the S3 server."""
        return self.proxy.url

    @property
    def storage_options(self) -> dict[str, Any]:
        return {"endpoint_url": self.s3_endpoint, "key": "testing", "secret": "testing"}

    @property
    def scheduler_address(self) -> str:
        return f"tcp://{self.scheduler.ip}:{SCHEDULER_PORT}"

    def server_endpoint(self, k: int) -> str:
        """host:port of server k, as the Alibaba SDKs take it."""
        return f"{self.servers[k].ip}:{SERVE_PORT}"

    # -- bringing it up ----------------------------------------------------------------------

    def start(self) -> Cluster:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def _start(self) -> None:
        net = self._stack.enter_context(self.net)
        self.storage = net.host("storage")
        self.scheduler = net.host("scheduler")
        self.workers = [net.host(f"w{k + 1}") for k in range(self.n_workers)]
        self.servers = [net.host(f"s{k + 1}") for k in range(self.n_servers)]
        self.client = net.host("client")
        moto = self.storage.spawn("s3", [PY, "-m", "moto.server", "-H", self.storage.ip, "-p", str(S3_PORT)])
        sched = self.scheduler.spawn(
            "dask",
            [
                PY,
                "-m",
                "dask",
                "scheduler",
                "--host",
                self.scheduler.ip,
                "--port",
                str(SCHEDULER_PORT),
                "--no-dashboard",
            ],
        )
        self.pg = HostPostgres(self.storage)
        self.pg.create()
        with self.storage.entered():  # the proxy's socket and threads live on the storage host
            self.proxy = self._stack.enter_context(
                FaultProxy(f"http://{self.storage.ip}:{S3_PORT}", host=self.storage.ip, port=PROXY_PORT)
            )
        for host in self.servers:
            self.start_server(host)
        self.start_worker_hosts(self.workers)
        wait_port(self.client, self.storage.ip, S3_PORT, 60, moto, "the S3 server")
        wait_port(self.client, self.scheduler.ip, SCHEDULER_PORT, 60, sched, "the Dask scheduler")
        with self.client.entered():
            import boto3

            self._s3 = boto3.client(
                "s3",
                endpoint_url=f"http://{self.storage.ip}:{S3_PORT}",
                region_name="us-east-1",
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )
            for bucket in BUCKETS:
                self._s3.create_bucket(Bucket=bucket)
        for host in self.servers:
            wait_port(self.client, host.ip, SERVE_PORT, 60, host.procs["serve"], f"stillframe serve on {host.name}")
        # Two processes: one can look at the scheduler while the other waits on a batch.
        self._pool = ProcessPoolExecutor(
            2, mp_context=get_context("spawn"), initializer=enter_netns, initargs=(self.client.ns,)
        )
        self.wait_workers(len(self.workers))

    def start_server(self, host: Host) -> None:
        host.spawn(
            "serve",
            [
                PY,
                "-m",
                "stillframe",
                "serve",
                "--host",
                host.ip,
                "--port",
                str(SERVE_PORT),
                "--store",
                self.pg.url,
                "--workers",
                "0",
                "--access-key",
                f"{AK}:{SK}",
                "--bucket",
                "media=s3://media",
                "--bucket",
                "out=s3://out",
                "--storage-options",
                json.dumps(self.storage_options),
                "--log-level",
                "warning",
            ],
        )

    def start_job_worker(self, host: Host, name: str = "jobs", clock_ahead: float = 0.0) -> str:
        """A `stillframe worker` on `host` (its wall clock `clock_ahead` seconds fast:
        tests/clockshift.py); returns its identity."""
        argv = [
            PY,
            "-m",
            "stillframe",
            "worker",
            "--store",
            self.pg.url,
            "--lease",
            str(LEASE),
            "--no-live",
            "--storage-options",
            json.dumps(self.storage_options),
        ]
        if clock_ahead:
            argv = [PY, "-m", "tests.clockshift", str(clock_ahead), *argv[1:]]
        proc = host.spawn(name, argv, stdout=-1)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the job worker on {host.name} did not start (see {self.net.logs})")
        ident = json.loads(line)["worker"]
        if name == "jobs":
            self.idents[host.name] = ident
        return ident

    def start_worker_host(self, host: Host) -> None:
        host.env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])  # tests.clockshift
        host.spawn(
            "dask",
            [
                PY,
                "-m",
                "dask",
                "worker",
                self.scheduler_address,
                "--name",
                host.name,
                "--host",
                host.ip,
                "--nthreads",
                "1",
                "--nworkers",
                "1",
                "--no-nanny",
                "--no-dashboard",
                "--local-directory",
                "/tmp/dask",
            ],
        )
        self.start_job_worker(host)

    def start_worker_hosts(self, hosts: Sequence[Host]) -> None:
        """start_worker_host on each of `hosts` at once: their workers start side by side."""
        with ThreadPoolExecutor(len(hosts)) as pool:
            list(pool.map(self.start_worker_host, hosts))

    def start_job_workers(self, hosts: Sequence[Host]) -> list[str]:
        """start_job_worker on each of `hosts` at once; their identities."""
        with ThreadPoolExecutor(len(hosts)) as pool:
            return list(pool.map(self.start_job_worker, hosts))

    def revive(self, host: Host) -> None:
        """A worker host lost with kill() back: booted afresh, its workers started."""
        host.boot()
        self.start_worker_host(host)
        self.wait_workers(len(self.workers))

    def wait_workers(self, count: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while len(self.dask(dask_workers, self.scheduler_address).result()) < count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"fewer than {count} Dask workers joined within {timeout} s")
            time.sleep(0.2)

    # -- using it ---------------------------------------------------------------------------

    def dask(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        """Run fn(*args) in the client host's process that holds the Dask client."""
        assert self._pool is not None
        return self._pool.submit(fn, *args)

    def upload(self, files: dict[str, Path]) -> None:
        """Put local files into the S3 server: key "bucket/name" -> path."""
        with self.client.entered():
            for key, path in files.items():
                bucket, name = key.split("/", 1)
                self._s3.upload_file(str(path), bucket, name)

    def objects(self, bucket: str, prefix: str = "") -> dict[str, bytes]:
        """Every object under `prefix`, read from the S3 server itself (not the proxy)."""
        with self.client.entered():
            found: dict[str, bytes] = {}
            for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                for o in page.get("Contents", []):
                    found[o["Key"]] = self._s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
            return found

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        with self.client.entered():
            pages = self._s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            return [o["Key"] for page in pages for o in page.get("Contents", [])]

    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        """Rows of `query` on the cluster's database (a connection of its own)."""
        import psycopg

        with (
            self.client.entered(),
            psycopg.connect(
                host=self.storage.ip, port=PG_PORT, user="postgres", dbname="stillframe", connect_timeout=5
            ) as conn,
        ):
            return list(conn.execute(query, params).fetchall())

    def close(self) -> None:
        if self._s3 is not None:
            self._s3.close()
            self._s3 = None
        if self._pool is not None:
            procs = list((getattr(self._pool, "_processes", None) or {}).values())
            self._pool.shutdown(wait=False, cancel_futures=True)
            for proc in procs:  # a batch it was waiting on may never end
                proc.kill()
            self._pool = None
        self._stack.close()

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def batch_clips(root: Path, n: int = 40) -> list[Path]:
    """`n` short clips of three shapes, some with B-frames, named many-NN.mp4: the
    batch the cluster tests, the demo and the benchmark run."""
    from stillframe import testsrc

    sizes = ((160, 90), (128, 96), (96, 160))
    return [
        testsrc.make_video(root / f"many-{i:02d}.mp4", frames=24 + i % 9, size=sizes[i % 3], gop=8, bframes=i % 2 * 2)
        for i in range(n)
    ]


# -- run in the client host's process (pickled by reference) ---------------------------------

_clients: dict[str, Any] = {}


def dask_client(address: str) -> Any:
    if address not in _clients:
        from distributed import Client

        _clients[address] = Client(address, timeout=30)
    return _clients[address]


def dask_workers(address: str) -> dict[str, str]:
    """Worker address -> name, as the scheduler knows them now."""
    info = dask_client(address).scheduler_info()["workers"]
    return {addr: w.get("name") for addr, w in info.items()}


def dask_processing(address: str) -> dict[str, int]:
    """Worker name -> how many tasks the scheduler has it running now."""
    client = dask_client(address)
    names = dask_workers(address)
    return {names[a]: len(keys) for a, keys in client.processing().items() if a in names}


def run_batch(
    address: str,
    inputs: Sequence[str],
    sampling: Any,
    output: str,
    options: dict[str, Any],
    storage_options: dict[str, Any],
) -> dict[str, Any]:
    """snapshot_many over the cluster: its items, wall time, the workers that ran
    videos ("busy"), how many tasks each held when last seen ("held": a worker lost
    mid-batch shows what it held) and the workers left at the end."""
    import threading

    from stillframe.distributed import snapshot_many

    client = dask_client(address)
    last_seen: dict[str, int] = {}
    busy: set[str] = set()
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.02):
            with contextlib.suppress(Exception):
                names = {a: w.get("name") for a, w in client.scheduler_info()["workers"].items()}
                for addr, keys in client.processing().items():
                    if addr in names:
                        last_seen[names[addr]] = len(keys)
                        if keys:
                            busy.add(names[addr])

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    started = time.perf_counter()
    try:
        items = snapshot_many(
            inputs, sampling, output, client=client, storage_options=storage_options, progress=False, **options
        )
    finally:
        done.set()
        watcher.join()
    return {
        "items": [i.to_dict() for i in items],
        "seconds": time.perf_counter() - started,
        "held": last_seen,
        "busy": sorted(busy),
        "workers": sorted(dask_workers(address).values()),
    }


def run_split(
    address: str, source: str, sampling: Any, output: str, options: dict[str, Any], storage_options: dict[str, Any]
) -> dict[str, Any]:
    from stillframe.distributed import snapshot_split

    started = time.perf_counter()
    result = snapshot_split(
        source,
        sampling,
        output,
        client=dask_client(address),
        parts=2,
        storage_options=storage_options,
        progress=False,
        **options,
    )
    return {"result": result.to_dict(), "workers": result.stats.workers, "seconds": time.perf_counter() - started}
