"""JobService: snapshot jobs with the cloud services' semantics over the engine."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import func, insert, select, update

from stillframe.errors import Conflict, InvalidParameter, JobNotFound, MissingParameter, SnapshotTimeOut
from stillframe.jobs import store as t
from stillframe.jobs.access import Access
from stillframe.jobs.catalog import Catalog, mine, owner
from stillframe.jobs.config import SnapshotConfig, config_from
from stillframe.jobs.live import LiveSnapshots
from stillframe.jobs.model import FINISHED, STATUSES, Page, SnapshotJob, location_type, parse_iso
from stillframe.jobs.notify import Notifier
from stillframe.jobs.storage import Storage, normalise_location
from stillframe.jobs.supervisor import LiveSupervisor
from stillframe.jobs.worker import JobRunner
from stillframe.sampling import Dots, Interval, Quantity

__all__ = ["SNAPSHOT_LIMIT", "JobService"]

USER_DATA_MAX = 1024
# The most snapshots one job may make unless the service is given another cap. Huawei's
# snapshot listing pages up to offset 20,000: no cloud lists more for one task.
SNAPSHOT_LIMIT = 20000
_ID = re.compile(r"^[0-9a-f]{32}$")


def _absolute(location: str) -> str:
    """A local path made absolute here, at submission: the worker that runs the job
    may be in another folder. URLs and media IDs are left as they are."""
    if "://" in location or _ID.match(location):
        return location
    return os.path.abspath(location)


def _new_id() -> str:
    return uuid.uuid4().hex


def _root(spec: Any) -> str | None:
    """The folder (or object-store prefix) a location given as a dict must stay in
    (its `Root`), if any."""
    root = spec.get("Root") if isinstance(spec, Mapping) else None
    if not root:
        return None
    return str(root).rstrip("/") if "://" in str(root) else os.path.realpath(str(root))


def known_count(cfg: SnapshotConfig) -> int | None:
    """How many snapshots a job's sampling asks for, when that does not depend on the
    video's length (None for an interval with no count)."""
    s = cfg.sampling
    if isinstance(s, Dots):
        return len(s.times)
    if isinstance(s, (Interval, Quantity)):
        return s.count
    return None


def _several(cfg: SnapshotConfig) -> bool:
    s = cfg.sampling
    if isinstance(s, Dots):
        return len(s.times) > 1
    return (getattr(s, "count", None) or 2) > 1


class JobService(LiveSnapshots, Catalog, Access):
    """Submit, run, get and list snapshot jobs, with templates, pipelines and media
    (see Catalog), and live snapshot jobs (see LiveSnapshots).

    `store`: a path or SQLAlchemy URL (default: an SQLite file in the user's data
    directory; STILLFRAME_DB overrides). `workers`: background worker threads in this
    process (default 1; 0 runs none, for `stillframe worker` processes to do the work).
    `storage_options` go to fsspec/s3fs for s3:// and oss:// (endpoint_url, key,
    secret...). `lease_seconds`: how long a claimed job stays claimed without a
    renewal. `sync_timeout`: the limit of a synchronous job (MPS: SnapshotTimeOut).
    Live jobs capture on this process when `workers` is not 0: `live_job_limit` caps
    how many capture at once, `stream_timeout` bounds the is-it-live check, and
    `capture_options` go to each Capture (open_timeout, read_timeout, min_backoff,
    max_backoff, quality). `snapshot_limit`: the most snapshots one job may make
    (InvalidParameter at submission when the count is known, else the job fails
    with that code before it writes anything).

    Every method takes `account=`: a server passes its caller's, so that each account
    sees only its own jobs; None (the library, the CLI) sees them all and makes the
    default account's.
    """

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
        if isinstance(snapshot_limit, bool) or not isinstance(snapshot_limit, int) or snapshot_limit < 1:
            raise InvalidParameter(f"snapshot_limit must be a whole number >= 1, not {snapshot_limit!r}")
        self.snapshot_limit = snapshot_limit
        self.engine = t.connect(store)
        self._abandon = threading.Event()  # set by close(abandon=True): running jobs are given up
        self._key = t.secret(self.engine)
        self.storage = Storage(storage_options)
        self.notifier = Notifier()
        self.sync_timeout = sync_timeout
        self.runner = JobRunner(
            self.engine, self.storage, self.notifier, lease_seconds=lease_seconds, job_timeout=job_timeout,
            stopping=self._abandon,
        )  # fmt: skip
        self.live_job_limit = live_job_limit
        self.stream_timeout = stream_timeout
        self.live_notifier = Notifier()
        self._stop = threading.Event()
        self._threads = []
        count = 1 if workers is None else workers
        for i in range(count):
            th = threading.Thread(
                target=self.runner.run_forever, args=(self._stop,), name=f"stillframe-job-{i}", daemon=True
            )
            th.start()
            self._threads.append(th)
        self.live_supervisor = None
        if count:
            self.live_supervisor = self.live_worker(capture_options)
            th = threading.Thread(
                target=self.live_supervisor.run_forever, args=(self._stop,), name="stillframe-live", daemon=True
            )
            th.start()
            self._threads.append(th)

    def live_worker(self, capture_options: Mapping[str, Any] | None = None) -> LiveSupervisor:
        """A supervisor for live jobs sharing this service's store, notifier and identity."""
        return LiveSupervisor(
            self.engine, self.live_notifier, self.runner.ident, lease_seconds=self.runner.lease,
            storage_options=self.storage.options, capture_options=capture_options,
        )  # fmt: skip

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
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def on_finished(self, callback: Callable[[dict[str, Any]], None]) -> None:
        """Call `callback(message)` (the notify message) whenever a job ends."""
        self.notifier.callbacks.append(callback)

    # -- jobs --------------------------------------------------------------------------

    def submit_snapshot_job(
        self,
        input: Any = None,
        output: Any = None,
        config: SnapshotConfig | Mapping[str, Any] | None = None,
        template_id: str | None = None,
        name: str | None = None,
        user_data: str | None = None,
        pipeline_id: str | None = None,
        *,
        account: str | None = None,
    ) -> SnapshotJob:
        """Queue a job (Init), or, for one snapshot and no Interval/Num, run it now
        and return it finished (MPS's synchronous mode; SnapshotTimeOut past
        `sync_timeout`). `input`: a path, URL, media ID from register_media, ICE
        `{Type, Media}` or MPS `{Bucket, Location, Object}`; `output` likewise. A
        dict's `Root` names a folder the file must resolve inside, symlinks followed,
        (or an object-store prefix it must lie under) whenever the job reads or
        writes it (checked when the job runs)."""
        if input is None:
            raise MissingParameter("Input is required")
        if output is None:
            raise MissingParameter("Output is required")
        if user_data is not None and not isinstance(user_data, str):
            raise InvalidParameter(f"UserData must be a string, not {type(user_data).__name__}")
        if user_data is not None and len(user_data.encode("utf-8")) > USER_DATA_MAX:
            raise InvalidParameter(f"UserData is over {USER_DATA_MAX} bytes")
        if template_id is not None:
            template = self.get_snapshot_template(template_id, account=account)
            # With both, `config` is the template's settings with the caller's changes
            # applied (ICE's OverwriteParams); the job still records its template.
            cfg = config_from(config) if config is not None else SnapshotConfig.from_dict(template.config["stillframe"])
        else:
            cfg = config_from(config)
        self._check_count(cfg)
        if pipeline_id is not None:
            self.get_pipeline(pipeline_id, account=account)
        in_url = _absolute(normalise_location(input, "Input"))
        media_id = None
        if _ID.match(in_url):
            media_id = self.get_media(in_url, account=account).id
        out_url = _absolute(normalise_location(output, "Output"))
        self._check_output(cfg, out_url)
        now = time.time()
        job_id = _new_id()
        sync = cfg.synchronous
        places = [{"Type": location_type(url, mid), "Media": url} for url, mid in ((in_url, media_id), (out_url, None))]
        for place, spec in zip(places, (input, output)):
            root = _root(spec)
            if root is not None:
                place["Root"] = root
        row = dict(
            id=job_id, account=owner(account), name=name, type=cfg.type, trigger_source="API", input=places[0],
            output=places[1], config=cfg.to_dict(), template_id=template_id, pipeline_id=pipeline_id,
            user_data=user_data, is_async=not sync, status="Init", create_time=now, submit_time=now,
            modified_time=now, attempts=0, runs=0, snapshot_limit=self.snapshot_limit,
        )  # fmt: skip
        if sync:
            row.update(status="Processing", claimed_by=self.runner.ident, attempts=1, runs=1)
        with self.engine.begin() as conn:
            if sync:  # a lease like a worker's claim, by the store's clock
                row["lease_until"] = t.db_now(conn) + self.sync_timeout + 60
            conn.execute(insert(t.jobs).values(**row))
            if not sync:
                t.announce(conn)  # idle workers of other processes (PostgreSQL), at commit
        if not sync:
            self.runner.wakeup.ring()  # and this process's, now that the job is visible
            return self.get_snapshot_job(job_id)
        return self._run_sync(job_id)

    def _check_count(self, cfg: SnapshotConfig) -> None:
        count = known_count(cfg)
        if count is not None and count > self.snapshot_limit:
            raise InvalidParameter(f"the job asks for {count} snapshots; a job may make at most {self.snapshot_limit}")

    def _check_output(self, cfg: SnapshotConfig, out: str) -> None:
        if cfg.type == "WebVtt":
            if not out.endswith(".vtt"):
                raise InvalidParameter("a WebVtt job's Output must end in .vtt")
            return
        if cfg.type == "Sprite":
            if "{TileCount}" not in out:
                raise InvalidParameter("a sprite job's Output must contain {TileCount}")
            return
        if _several(cfg) and "{Count}" not in out:
            raise InvalidParameter("several snapshots need {Count} in the Output name")

    def _run_sync(self, job_id: str) -> SnapshotJob:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.jobs).where(t.jobs.c.id == job_id)).first()
        final = self.runner.execute(row, timeout=self.sync_timeout)
        job = SnapshotJob.from_row(final)
        if not job.finished:  # the service is stopping: the job waits for the next worker
            raise SnapshotTimeOut(f"the service stopped before the snapshot was taken; job {job_id} is queued again")
        if job.code == SnapshotTimeOut.code:
            err = SnapshotTimeOut(job.message or "the snapshot took too long")
            err.job = job  # type: ignore[attr-defined]
            raise err
        return job

    def get_snapshot_job(self, job_id: str, *, account: str | None = None) -> SnapshotJob:
        """The snapshot job with that id; JobNotFound when there is none."""
        with self.engine.connect() as conn:
            row = conn.execute(select(t.jobs).where(t.jobs.c.id == job_id, *mine(t.jobs, account))).first()
        if row is None:
            raise JobNotFound(f"job {job_id} does not exist")
        return SnapshotJob.from_row(row)

    def wait(self, job_id: str, timeout: float | None = None, poll: float = 0.05) -> SnapshotJob:
        """The job once it is Success or Fail; SnapshotTimeOut after `timeout` s."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = self.get_snapshot_job(job_id)
            if job.status in FINISHED:
                return job
            if deadline is not None and time.monotonic() > deadline:
                raise SnapshotTimeOut(f"job {job_id} is still {job.status} after {timeout} s")
            time.sleep(poll)

    CANCELED = "TaskCanceled"  # the Code of a job cancelled while it waited

    def cancel_snapshot_job(self, job_id: str, *, account: str | None = None) -> SnapshotJob:
        """Cancel a job still waiting (Init): it ends Fail with Code `CANCELED` and
        is never run. A job already claimed by a worker, or finished, raises
        Conflict; an unknown one JobNotFound. Atomic against a worker's claim, which
        only takes a job whose status is still Init."""
        now = time.time()
        with self.engine.begin() as conn:
            done = conn.execute(
                update(t.jobs)
                .where(t.jobs.c.id == job_id, t.jobs.c.status == "Init", *mine(t.jobs, account))
                .values(
                    status="Fail",
                    code=self.CANCELED,
                    message="the job was cancelled",
                    finish_time=now,
                    modified_time=now,
                )
            )
        job = self.get_snapshot_job(job_id, account=account)
        if done.rowcount != 1:
            raise Conflict(f"job {job_id} is {job.status}: only a job still waiting (Init) can be cancelled")
        return job

    # -- listing -------------------------------------------------------------------------

    def _sign(self, payload: dict[str, Any]) -> str:
        body = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")
        mac = hmac.new(self._key, body.encode(), hashlib.sha256).hexdigest()[:32]
        return f"{body}.{mac}"

    def _unsign(self, token: str, fingerprint: str) -> dict[str, Any]:
        try:
            body, mac = token.rsplit(".", 1)
            good = hmac.new(self._key, body.encode(), hashlib.sha256).hexdigest()[:32]
            if not hmac.compare_digest(mac, good):
                raise ValueError
            payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        except (ValueError, TypeError, json.JSONDecodeError):
            raise InvalidParameter("NextPageToken is not valid") from None
        if payload.get("f") != fingerprint:
            raise InvalidParameter("NextPageToken belongs to another query")
        return payload

    def list_snapshot_jobs(
        self,
        job_id: str | None = None,
        status: str | None = None,
        start_of_create_time: Any = None,
        end_of_create_time: Any = None,
        order_by: str = "CreateTimeDesc",
        page_size: int = 20,
        next_page_token: str | None = None,
        *,
        account: str | None = None,
    ) -> Page:
        """ICE ListSnapshotJobs. Paging is keyset over the creation order, so a listing
        walked while jobs are added returns every job that existed when it began
        exactly once; tokens are signed and tied to their query."""
        if order_by not in ("CreateTimeDesc", "CreateTimeAsc"):
            raise InvalidParameter(f"OrderBy must be CreateTimeDesc or CreateTimeAsc, not {order_by!r}")
        if not isinstance(page_size, int) or not 1 <= page_size <= 100:
            raise InvalidParameter(f"PageSize must be in 1..100, not {page_size!r}")
        if status is not None and status not in STATUSES:
            raise InvalidParameter(f"Status must be one of {STATUSES}, not {status!r}")
        start, end = parse_iso(start_of_create_time), parse_iso(end_of_create_time)
        query = [job_id, status, start, end, order_by, account]
        fingerprint = hashlib.sha256(json.dumps(query).encode()).hexdigest()[:16]
        conds = mine(t.jobs, account)
        if job_id is not None:
            conds.append(t.jobs.c.id == job_id)
        if status is not None:
            conds.append(t.jobs.c.status == status)
        if start is not None:
            conds.append(t.jobs.c.create_time >= start)
        if end is not None:
            conds.append(t.jobs.c.create_time <= end)
        with self.engine.connect() as conn:
            if next_page_token:
                tok = self._unsign(next_page_token, fingerprint)
                high, after = tok["h"], tok["a"]
            else:
                high = conn.execute(select(func.max(t.jobs.c.seq))).scalar() or 0
                after = None
            conds.append(t.jobs.c.seq <= high)
            desc = order_by == "CreateTimeDesc"
            if after is not None:
                conds.append(t.jobs.c.seq < after if desc else t.jobs.c.seq > after)
            q = select(t.jobs).where(*conds)
            q = q.order_by(t.jobs.c.seq.desc() if desc else t.jobs.c.seq.asc()).limit(page_size + 1)
            rows = conn.execute(q).all()
        more = len(rows) > page_size
        rows = rows[:page_size]
        token = self._sign({"f": fingerprint, "h": high, "a": rows[-1].seq}) if more else None
        return Page([SnapshotJob.from_row(r) for r in rows], token)

    def list_thumbnails(
        self, asset_id: str | None = None, task_id: str | None = None, offset: int = 0, limit: int = 10, *,
        account: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Huawei's thumbnail task listing: {total, thumbnails: [{task_id,
        thumbnail_para, thumbnail_count}]}, newest first; offset 0..20000, limit 1..100."""
        if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset <= 20000:
            raise InvalidParameter(f"offset must be in 0..20000, not {offset!r}")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 100:
            raise InvalidParameter(f"limit must be in 1..100, not {limit!r}")
        conds = mine(t.jobs, account)
        if task_id is not None:
            conds.append(t.jobs.c.id == task_id)
        if asset_id is not None:
            conds.append(t.jobs.c.input["Media"].as_string() == asset_id)
        with self.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(t.jobs).where(*conds)).scalar() or 0
            rows = conn.execute(
                select(t.jobs).where(*conds).order_by(t.jobs.c.seq.desc()).offset(offset).limit(limit)
            ).all()
        return {
            "total": total,
            "thumbnails": [
                {"task_id": r.id, "thumbnail_para": r.config, "thumbnail_count": r._mapping["count"] or 0,
                 "status": r.status}
                for r in rows
            ],
        }  # fmt: skip

    def list_thumbnail_details(self, task_id: str, *, account: str | None = None) -> list[dict[str, Any]]:
        """Huawei's snapshot details: `[{offset (seconds), url}]` of a finished task."""
        result = self.get_snapshot_job(task_id, account=account).result or {}
        return [{"offset": t, "url": u} for t, u in zip(result.get("times") or [], result.get("files") or [])]

    def get_snapshot_urls(
        self, job_id: str, page_size: int = 10, page_number: int = 1, order_by: str = "Asc", *,
        account: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """ICE GetSnapshotUrls: the job's outputs (PageSize 1..30, OrderBy Asc|Desc)
        and its WebVTT URL."""
        if not isinstance(page_size, int) or not 1 <= page_size <= 30:
            raise InvalidParameter(f"PageSize must be in 1..30, not {page_size!r}")
        if order_by not in ("Asc", "Desc"):
            raise InvalidParameter(f"OrderBy must be Asc or Desc, not {order_by!r}")
        if not isinstance(page_number, int) or page_number < 1:
            raise InvalidParameter(f"PageNumber must be >= 1, not {page_number!r}")
        job = self.get_snapshot_job(job_id, account=account)
        result = job.result or {}
        urls = (
            list(result.get("sprites") or []) + list(result.get("files") or [])
            if job.type == "Sprite"
            else list(result.get("files") or [])
        )
        if order_by == "Desc":
            urls.reverse()
        start = (page_number - 1) * page_size
        return {"Total": len(urls), "SnapshotUrls": urls[start : start + page_size], "WebVTTUrl": result.get("webvtt")}
