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

from sqlalchemy import delete, func, insert, select, update

from stillframe.errors import (
    Conflict,
    InvalidParameter,
    JobNotFound,
    MissingParameter,
    NotFound,
    PipelineNotFound,
    SnapshotTimeOut,
    TemplateNotFound,
)
from stillframe.jobs import store as t
from stillframe.jobs.config import SnapshotConfig, config_from, from_ice_config
from stillframe.jobs.live import LiveSnapshots
from stillframe.jobs.model import FINISHED, STATUSES, Page, Pipeline, SnapshotJob, Template, location_type, parse_iso
from stillframe.jobs.notify import Notifier
from stillframe.jobs.storage import Storage, normalise_location
from stillframe.jobs.supervisor import LiveSupervisor
from stillframe.jobs.worker import JobRunner
from stillframe.sampling import Dots

__all__ = ["JobService"]

USER_DATA_MAX = 1024
_ID = re.compile(r"^[0-9a-f]{32}$")


def _absolute(location: str) -> str:
    """A local path made absolute here, at submission: the worker that runs the job
    may be in another folder. URLs and media IDs are left as they are."""
    if "://" in location or _ID.match(location):
        return location
    return os.path.abspath(location)


def _new_id() -> str:
    return uuid.uuid4().hex


def _several(cfg: SnapshotConfig) -> bool:
    s = cfg.sampling
    if isinstance(s, Dots):
        return len(s.times) > 1
    return (getattr(s, "count", None) or 2) > 1


class JobService(LiveSnapshots):
    """Submit, run, get and list snapshot jobs, with templates, pipelines and media,
    and live snapshot jobs (see LiveSnapshots).

    `store`: a path or SQLAlchemy URL (default: an SQLite file in the user's data
    directory; STILLFRAME_DB overrides). `workers`: background worker threads in this
    process (default 1; 0 runs none, for `stillframe worker` processes to do the work).
    `storage_options` go to fsspec/s3fs for s3:// and oss:// (endpoint_url, key,
    secret...). `lease_seconds`: how long a claimed job stays claimed without a
    renewal. `sync_timeout`: the limit of a synchronous job (MPS: SnapshotTimeOut).
    Live jobs capture on this process when `workers` is not 0: `live_job_limit` caps
    how many capture at once, `stream_timeout` bounds the is-it-live check, and
    `capture_options` go to each Capture (open_timeout, read_timeout, min_backoff,
    max_backoff, quality).
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
    ) -> None:
        self.engine = t.connect(store)
        self._key = t.secret(self.engine)
        self.storage = Storage(storage_options)
        self.notifier = Notifier()
        self.sync_timeout = sync_timeout
        self.runner = JobRunner(
            self.engine, self.storage, self.notifier, lease_seconds=lease_seconds, job_timeout=job_timeout
        )
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

    def close(self) -> None:
        """Stop the workers after their current jobs and flush notifications."""
        self._stop.set()
        for th in self._threads:
            th.join()
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
    ) -> SnapshotJob:
        """Queue a job (Init), or, for one snapshot and no Interval/Num, run it now
        and return it finished (MPS's synchronous mode; SnapshotTimeOut past
        `sync_timeout`). `input`: a path, URL, media ID from register_media, ICE
        `{Type, Media}` or MPS `{Bucket, Location, Object}`; `output` likewise."""
        if input is None:
            raise MissingParameter("Input is required")
        if output is None:
            raise MissingParameter("Output is required")
        if user_data is not None and len(str(user_data).encode("utf-8")) > USER_DATA_MAX:
            raise InvalidParameter(f"UserData is over {USER_DATA_MAX} bytes")
        if template_id is not None:
            template = self.get_snapshot_template(template_id)
            # With both, `config` is the template's settings with the caller's changes
            # applied (ICE's OverwriteParams); the job still records its template.
            cfg = config_from(config) if config is not None else SnapshotConfig.from_dict(template.config["stillframe"])
        else:
            cfg = config_from(config)
        if pipeline_id is not None:
            self.get_pipeline(pipeline_id)
        in_url = _absolute(normalise_location(input, "Input"))
        media_id = None
        if _ID.match(in_url):
            media_id = in_url
            with self.engine.connect() as conn:
                if conn.execute(select(t.media.c.id).where(t.media.c.id == media_id)).first() is None:
                    raise NotFound(f"media {media_id} is not registered", code="InvalidParameter.ResourceNotFound")
        out_url = _absolute(normalise_location(output, "Output"))
        self._check_output(cfg, out_url)
        now = time.time()
        job_id = _new_id()
        sync = cfg.synchronous
        row = dict(
            id=job_id, name=name, type=cfg.type, trigger_source="API",
            input={"Type": location_type(in_url, media_id), "Media": in_url},
            output={"Type": location_type(out_url, None), "Media": out_url},
            config=cfg.to_dict(), template_id=template_id, pipeline_id=pipeline_id, user_data=user_data,
            is_async=not sync, status="Init", create_time=now, submit_time=now, modified_time=now,
            attempts=0, runs=0,
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
        if job.code == SnapshotTimeOut.code:
            err = SnapshotTimeOut(job.message or "the snapshot took too long")
            err.job = job  # type: ignore[attr-defined]
            raise err
        return job

    def get_snapshot_job(self, job_id: str) -> SnapshotJob:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.jobs).where(t.jobs.c.id == job_id)).first()
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

    def cancel_snapshot_job(self, job_id: str) -> SnapshotJob:
        """Cancel a job still waiting (Init): it ends Fail with Code `CANCELED` and
        is never run. A job already claimed by a worker, or finished, raises
        Conflict; an unknown one JobNotFound. Atomic against a worker's claim, which
        only takes a job whose status is still Init."""
        now = time.time()
        with self.engine.begin() as conn:
            done = conn.execute(
                update(t.jobs)
                .where(t.jobs.c.id == job_id, t.jobs.c.status == "Init")
                .values(
                    status="Fail",
                    code=self.CANCELED,
                    message="the job was cancelled",
                    finish_time=now,
                    modified_time=now,
                )
            )
        job = self.get_snapshot_job(job_id)
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
        fingerprint = hashlib.sha256(json.dumps([job_id, status, start, end, order_by]).encode()).hexdigest()[:16]
        conds = []
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
        self, asset_id: str | None = None, task_id: str | None = None, offset: int = 0, limit: int = 10
    ) -> dict[str, Any]:
        """Huawei's thumbnail task listing: {total, thumbnails: [{task_id,
        thumbnail_para, thumbnail_count}]}; offset 0..20000, limit 1..100."""
        if not isinstance(offset, int) or not 0 <= offset <= 20000:
            raise InvalidParameter(f"offset must be in 0..20000, not {offset!r}")
        if not isinstance(limit, int) or not 1 <= limit <= 100:
            raise InvalidParameter(f"limit must be in 1..100, not {limit!r}")
        conds = []
        if task_id is not None:
            conds.append(t.jobs.c.id == task_id)
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.jobs).where(*conds).order_by(t.jobs.c.seq.desc())).all()
        if asset_id is not None:
            rows = [r for r in rows if r.input.get("Media") == asset_id]
        page = rows[offset : offset + limit]
        return {
            "total": len(rows),
            "thumbnails": [
                {
                    "task_id": r.id,
                    "thumbnail_para": r.config,
                    "thumbnail_count": r._mapping["count"] or 0,
                    "status": r.status,
                }
                for r in page
            ],
        }

    def list_thumbnail_details(self, task_id: str) -> list[dict[str, Any]]:
        """Huawei's snapshot details: `[{offset (seconds), url}]` of a finished task."""
        result = self.get_snapshot_job(task_id).result or {}
        return [{"offset": t, "url": u} for t, u in zip(result.get("times") or [], result.get("files") or [])]

    def get_snapshot_urls(
        self, job_id: str, page_size: int = 10, page_number: int = 1, order_by: str = "Asc"
    ) -> dict[str, Any]:
        """ICE GetSnapshotUrls: the job's outputs (PageSize 1..30, OrderBy Asc|Desc)
        and its WebVTT URL."""
        if not isinstance(page_size, int) or not 1 <= page_size <= 30:
            raise InvalidParameter(f"PageSize must be in 1..30, not {page_size!r}")
        if order_by not in ("Asc", "Desc"):
            raise InvalidParameter(f"OrderBy must be Asc or Desc, not {order_by!r}")
        if not isinstance(page_number, int) or page_number < 1:
            raise InvalidParameter(f"PageNumber must be >= 1, not {page_number!r}")
        job = self.get_snapshot_job(job_id)
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

    # -- templates ---------------------------------------------------------------------

    def create_snapshot_template(
        self, name: str, config: Mapping[str, Any] | SnapshotConfig, type: str | None = None
    ) -> str:
        """ICE AddTemplate for snapshots: Type Normal / Sprite / WebVtt."""
        if not name:
            raise MissingParameter("Name is required")
        cfg = config if isinstance(config, SnapshotConfig) else from_ice_config(config, type)
        if type is not None and isinstance(config, SnapshotConfig):
            cfg = cfg.with_type(type)
        now = time.time()
        tid = _new_id()
        stored = {"stillframe": cfg.to_dict(), "source": dict(config) if isinstance(config, Mapping) else None}
        with self.engine.begin() as conn:
            conn.execute(
                insert(t.templates).values(
                    id=tid, name=name, type=cfg.type, config=stored, create_time=now, modified_time=now
                )
            )
        return tid

    def get_snapshot_template(self, template_id: str) -> Template:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.templates).where(t.templates.c.id == template_id)).first()
        if row is None:
            raise TemplateNotFound(f"template {template_id} does not exist")
        return Template.from_row(row)

    def list_snapshot_templates(self, type: str | None = None) -> list[Template]:
        q = select(t.templates).order_by(t.templates.c.seq)
        if type is not None:
            q = q.where(t.templates.c.type == type)
        with self.engine.connect() as conn:
            return [Template.from_row(r) for r in conn.execute(q)]

    def update_snapshot_template(
        self, template_id: str, name: str | None = None, config: Mapping[str, Any] | None = None
    ) -> Template:
        current = self.get_snapshot_template(template_id)
        values: dict[str, Any] = {"modified_time": time.time()}
        if name:
            values["name"] = name
        if config is not None:
            cfg = from_ice_config(config, current.type)
            values["config"] = {"stillframe": cfg.to_dict(), "source": dict(config)}
        with self.engine.begin() as conn:
            conn.execute(update(t.templates).where(t.templates.c.id == template_id).values(**values))
        return self.get_snapshot_template(template_id)

    def delete_snapshot_template(self, template_id: str) -> None:
        self.get_snapshot_template(template_id)
        with self.engine.begin() as conn:
            conn.execute(delete(t.templates).where(t.templates.c.id == template_id))

    # -- pipelines -----------------------------------------------------------------------

    def create_pipeline(self, name: str, max_concurrency: int = 10, notify_url: str | None = None) -> str:
        """A named queue: at most `max_concurrency` of its jobs run at once; when a job
        ends, `notify_url` (http/https) receives a JSON POST."""
        if not name:
            raise MissingParameter("Name is required")
        self._check_pipeline(max_concurrency, notify_url)
        now = time.time()
        pid = _new_id()
        with self.engine.begin() as conn:
            conn.execute(insert(t.pipelines).values(id=pid, name=name, max_concurrency=max_concurrency,
                                                    notify_url=notify_url, state="Active", create_time=now,
                                                    modified_time=now))  # fmt: skip
        return pid

    @staticmethod
    def _check_pipeline(max_concurrency: int | None, notify_url: str | None) -> None:
        if max_concurrency is not None and (not isinstance(max_concurrency, int) or not 1 <= max_concurrency <= 1000):
            raise InvalidParameter(f"MaxConcurrency must be in 1..1000, not {max_concurrency!r}")
        if notify_url and not notify_url.startswith(("http://", "https://")):
            raise InvalidParameter(f"NotifyUrl must be an http or https URL, not {notify_url!r}")

    def get_pipeline(self, pipeline_id: str) -> Pipeline:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.pipelines).where(t.pipelines.c.id == pipeline_id)).first()
        if row is None:
            raise PipelineNotFound(f"pipeline {pipeline_id} does not exist")
        return Pipeline.from_row(row)

    def list_pipelines(self) -> list[Pipeline]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.pipelines).order_by(t.pipelines.c.seq)).all()
        return [Pipeline.from_row(r) for r in rows]

    def update_pipeline(self, pipeline_id: str, name: str | None = None, max_concurrency: int | None = None,
                        notify_url: str | None = None, state: str | None = None) -> Pipeline:  # fmt: skip
        self.get_pipeline(pipeline_id)
        self._check_pipeline(max_concurrency, notify_url)
        if state is not None and state not in ("Active", "Paused"):
            raise InvalidParameter(f"State must be Active or Paused, not {state!r}")
        values: dict[str, Any] = {
            k: v
            for k, v in dict(name=name, max_concurrency=max_concurrency, notify_url=notify_url, state=state).items()
            if v is not None
        }
        values["modified_time"] = time.time()
        with self.engine.begin() as conn:
            conn.execute(update(t.pipelines).where(t.pipelines.c.id == pipeline_id).values(**values))
            t.announce(conn)  # resumed, or given more room: its waiting jobs may be claimable now
        self.runner.wakeup.ring()
        return self.get_pipeline(pipeline_id)

    def delete_pipeline(self, pipeline_id: str) -> None:
        self.get_pipeline(pipeline_id)
        with self.engine.begin() as conn:
            conn.execute(delete(t.pipelines).where(t.pipelines.c.id == pipeline_id))

    # -- media -----------------------------------------------------------------------------

    def register_media(self, path_or_url: str | os.PathLike[str]) -> str:
        """A media ID for ICE `{Type: Media}` inputs."""
        url = normalise_location(path_or_url, "media")
        mid = _new_id()
        with self.engine.begin() as conn:
            conn.execute(insert(t.media).values(id=mid, url=url, create_time=time.time()))
        return mid
