"""JobService: one object over one store, composing the services of the jobs layer
(SnapshotJobs, Catalog, LiveJobs, Access) and the workers that run their jobs, which
start only when asked (`start()`, or `with`)."""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from stillframe.jobs import store as t
from stillframe.jobs.access import Access
from stillframe.jobs.catalog import Catalog
from stillframe.jobs.live import LiveJobs
from stillframe.jobs.live_repository import LiveRepository
from stillframe.jobs.notify import Notifier
from stillframe.jobs.repository import Repository
from stillframe.jobs.snapshots import SNAPSHOT_LIMIT, SnapshotJobs, known_count
from stillframe.jobs.storage import Storage
from stillframe.jobs.supervisor import LiveSupervisor
from stillframe.jobs.worker import JobRunner

__all__ = ["SNAPSHOT_LIMIT", "JobService", "known_count"]


def _by(part: str, method: Callable[..., Any]) -> Any:
    """JobService's `method`: the same call on its service `part`, with its name and docstring."""
    name = method.__name__

    @functools.wraps(method)
    def call(self: JobService, *args: Any, **kwargs: Any) -> Any:
        return getattr(getattr(self, part), name)(*args, **kwargs)

    return call


class JobService:
    """Submit, run, get and list snapshot jobs (`jobs`: SnapshotJobs), with templates,
    pipelines and media (`catalog`: Catalog), live snapshot jobs (`live`: LiveJobs)
    and what servers sharing the store agree on (`access`: Access); each of their
    methods is a method of this object too, under the same name.

    `store`: a path or SQLAlchemy URL (default: an SQLite file in the user's data
    directory; STILLFRAME_DB overrides); an empty store is made, one at an older
    schema refused (StoreOutdated: `stillframe jobs migrate`). `workers`: the worker
    threads `start()` runs in this process (default 1; 0 runs none, for `stillframe
    worker` processes to do the work), plus a live capture supervisor when not 0:
    nothing runs until `start()` is called or the service is entered with `with`.
    `storage_options` go to fsspec/s3fs for s3:// and oss:// (endpoint_url, key,
    secret...). `lease_seconds`: how long a claimed job stays claimed without a
    renewal. `sync_timeout`: the limit of a synchronous job (MPS: SnapshotTimeOut).
    `live_job_limit` caps how many live jobs capture at once, `stream_timeout` bounds
    the is-it-live check, and `capture_options` go to each Capture (open_timeout,
    read_timeout, min_backoff, max_backoff, quality). `snapshot_limit`: the most
    snapshots one job may make (InvalidParameter at submission when the count is
    known, else the job fails with that code before it writes anything).

    Every method takes `account=`: a server passes its caller's, so that each account
    sees only its own jobs; None (the library, the CLI) sees them all and makes the
    default account's.
    """

    CANCELED = SnapshotJobs.CANCELED  # the Code of a job cancelled while it waited

    def __init__(
        self,
        store: str | os.PathLike[str] | None = None,
        workers: int | None = None,
        *,
        storage_options: Mapping[str, Any] | None = None,
        lease_seconds: float = 30.0,
        sync_timeout: float = 30.0,
        job_timeout: float | None = None,
        live_job_limit: int = 100,
        stream_timeout: float = 5.0,
        capture_options: Mapping[str, Any] | None = None,
        snapshot_limit: int = SNAPSHOT_LIMIT,
    ) -> None:
        self.workers = 1 if workers is None else workers
        self.engine = t.connect(store)
        try:
            self._abandon = threading.Event()  # set by close(abandon=True): running jobs are given up
            self.storage = Storage(storage_options)
            self.notifier = Notifier()
            self.live_notifier = Notifier()
            self.runner = JobRunner(
                self.engine,
                self.storage,
                self.notifier,
                lease_seconds=lease_seconds,
                job_timeout=job_timeout,
                stopping=self._abandon,
            )
            self.repository = Repository(self.engine)
            self.catalog = Catalog(self.repository, self.storage, self.runner.wakeup.ring)
            self.jobs = SnapshotJobs(
                self.repository,
                self.catalog,
                self.runner,
                t.secret(self.engine),
                sync_timeout=sync_timeout,
                snapshot_limit=snapshot_limit,
            )
            self.live = LiveJobs(
                LiveRepository(self.engine),
                self.storage,
                self.live_notifier,
                live_job_limit=live_job_limit,
                stream_timeout=stream_timeout,
            )
            self.access = Access(self.engine)
        except BaseException:  # a setting refused: the store's connections go with it
            self.engine.dispose()
            raise
        self._capture_options = capture_options
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._started = False

    @property
    def snapshot_limit(self) -> int:
        """The most snapshots one job may make."""
        return self.jobs.snapshot_limit

    @property
    def sync_timeout(self) -> float:
        """The limit of a synchronous job, in seconds."""
        return self.jobs.sync_timeout

    @property
    def live_supervisor(self) -> LiveSupervisor | None:
        """The live capture supervisor `start()` runs here, if any."""
        return self.live.supervisor

    @property
    def shared_store(self) -> bool:
        """Whether servers on other hosts may share this store (anything but SQLite)."""
        return self.access.shared_store

    def start(self) -> JobService:
        """Start the `workers` job threads and, with any, the live capture supervisor
        (once: a second call does nothing); returns the service."""
        if self._started:
            return self
        self._started = True
        for i in range(self.workers):
            self._thread(self.runner.run_forever, f"stillframe-job-{i}")
        if self.workers:
            self.live.supervisor = self.live_worker(self._capture_options)
            self._thread(self.live.supervisor.run_forever, "stillframe-live")
        return self

    def _thread(self, target: Callable[[threading.Event], None], name: str) -> None:
        th = threading.Thread(target=target, args=(self._stop,), name=name, daemon=True)
        th.start()
        self._threads.append(th)

    def live_worker(self, capture_options: Mapping[str, Any] | None = None) -> LiveSupervisor:
        """A supervisor for live jobs sharing this service's store, notifier and identity."""
        return LiveSupervisor(
            self.engine,
            self.live_notifier,
            self.runner.ident,
            lease_seconds=self.runner.lease,
            storage_options=self.storage.options,
            capture_options=capture_options,
        )

    def close(self, *, abandon: bool = False, timeout: float = 10.0) -> None:
        """Stop the workers and flush notifications. By default a job running here is
        finished first. With `abandon` (a server told to stop) it is given up at its
        next batch of frames instead: what it wrote is removed and its lease handed
        back, so another worker (or this service's next start) runs it again; the
        threads are then waited for at most `timeout` seconds (one still inside a long
        decoder call ends with the process)."""
        if abandon:
            self._abandon.set()
        self._stop.set()
        deadline = time.monotonic() + timeout
        for th in self._threads:
            th.join(max(0.1, deadline - time.monotonic()) if abandon else None)
        self.runner.wakeup.close()
        self.notifier.close()
        self.live_notifier.close()
        self.engine.dispose()

    def __enter__(self) -> JobService:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def on_finished(self, callback: Callable[[dict[str, Any]], None]) -> None:
        """Call `callback(message)` (the notify message) whenever a job ends."""
        self.notifier.callbacks.append(callback)

    # -- the services' methods, each under its own name --------------------------------------

    submit_snapshot_job = _by("jobs", SnapshotJobs.submit_snapshot_job)
    get_snapshot_job = _by("jobs", SnapshotJobs.get_snapshot_job)
    wait = _by("jobs", SnapshotJobs.wait)
    cancel_snapshot_job = _by("jobs", SnapshotJobs.cancel_snapshot_job)
    list_snapshot_jobs = _by("jobs", SnapshotJobs.list_snapshot_jobs)
    find_snapshot_jobs = _by("jobs", SnapshotJobs.find_snapshot_jobs)

    create_snapshot_template = _by("catalog", Catalog.create_snapshot_template)
    get_snapshot_template = _by("catalog", Catalog.get_snapshot_template)
    list_snapshot_templates = _by("catalog", Catalog.list_snapshot_templates)
    find_snapshot_templates = _by("catalog", Catalog.find_snapshot_templates)
    update_snapshot_template = _by("catalog", Catalog.update_snapshot_template)
    delete_snapshot_template = _by("catalog", Catalog.delete_snapshot_template)
    create_pipeline = _by("catalog", Catalog.create_pipeline)
    get_pipeline = _by("catalog", Catalog.get_pipeline)
    list_pipelines = _by("catalog", Catalog.list_pipelines)
    find_pipelines = _by("catalog", Catalog.find_pipelines)
    update_pipeline = _by("catalog", Catalog.update_pipeline)
    delete_pipeline = _by("catalog", Catalog.delete_pipeline)
    register_media = _by("catalog", Catalog.register_media)
    get_media = _by("catalog", Catalog.get_media)
    object_store_endpoint = _by("catalog", Catalog.object_store_endpoint)

    on_live_snapshot = _by("live", LiveJobs.on_live_snapshot)
    create_live_snapshot_template = _by("live", LiveJobs.create_live_snapshot_template)
    get_live_snapshot_template = _by("live", LiveJobs.get_live_snapshot_template)
    list_live_snapshot_templates = _by("live", LiveJobs.list_live_snapshot_templates)
    update_live_snapshot_template = _by("live", LiveJobs.update_live_snapshot_template)
    delete_live_snapshot_template = _by("live", LiveJobs.delete_live_snapshot_template)
    submit_live_snapshot_job = _by("live", LiveJobs.submit_live_snapshot_job)
    get_live_snapshot_job = _by("live", LiveJobs.get_live_snapshot_job)
    list_live_snapshot_jobs = _by("live", LiveJobs.list_live_snapshot_jobs)
    send_live_snapshot_job_command = _by("live", LiveJobs.send_live_snapshot_job_command)
    list_live_snapshot_files = _by("live", LiveJobs.list_live_snapshot_files)
    delete_live_snapshot_files = _by("live", LiveJobs.delete_live_snapshot_files)

    use_nonce = _by("access", Access.use_nonce)
    create_ui_session = _by("access", Access.create_ui_session)
    get_ui_session = _by("access", Access.get_ui_session)
    end_ui_session = _by("access", Access.end_ui_session)
