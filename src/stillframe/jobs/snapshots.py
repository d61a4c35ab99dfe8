"""Snapshot jobs: submit (queued, or run now for MPS's synchronous mode), get, wait,
cancel and list (a service of JobService, over the store's Repository)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import time
import uuid
from collections.abc import Mapping
from typing import Any

from stillframe.errors import Conflict, InvalidParameter, JobNotFound, MissingParameter, SnapshotTimeOut
from stillframe.jobs.catalog import Catalog
from stillframe.jobs.config import SnapshotConfig, config_from
from stillframe.jobs.model import FINISHED, STATUSES, Found, Page, SnapshotJob, location_type, parse_iso
from stillframe.jobs.repository import JobFilter, Repository, owner
from stillframe.jobs.storage import normalise_location
from stillframe.jobs.worker import JobRunner
from stillframe.sampling import Dots, Interval, Quantity

__all__ = ["SNAPSHOT_LIMIT", "SnapshotJobs", "known_count"]

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


def _place(url: str, media_id: str | None, spec: Any) -> dict[str, Any]:
    """A job's input or output as stored: its type, its location and, when the
    caller's dict named one, the `Root` it must resolve inside."""
    place = {"Type": location_type(url, media_id), "Media": url}
    root = _root(spec)
    if root is not None:
        place["Root"] = root
    return place


def _check_submission(input: Any, output: Any, user_data: Any) -> None:
    """What a submission must give, and UserData's shape and size."""
    if input is None:
        raise MissingParameter("Input is required")
    if output is None:
        raise MissingParameter("Output is required")
    if user_data is not None and not isinstance(user_data, str):
        raise InvalidParameter(f"UserData must be a string, not {type(user_data).__name__}")
    if user_data is not None and len(user_data.encode("utf-8")) > USER_DATA_MAX:
        raise InvalidParameter(f"UserData is over {USER_DATA_MAX} bytes")


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


class SnapshotJobs:
    """Submit, run now, get, wait for, cancel and list snapshot jobs. Jobs refer to
    templates, pipelines and media of `catalog`; a synchronous job runs on `runner`
    in the caller's thread (SnapshotTimeOut past `sync_timeout`); `key` signs page
    tokens; `snapshot_limit` is the most snapshots one job may make."""

    CANCELED = "TaskCanceled"  # the Code of a job cancelled while it waited

    def __init__(
        self,
        repo: Repository,
        catalog: Catalog,
        runner: JobRunner,
        key: bytes,
        *,
        sync_timeout: float = 30.0,
        snapshot_limit: int = SNAPSHOT_LIMIT,
    ) -> None:
        if isinstance(snapshot_limit, bool) or not isinstance(snapshot_limit, int) or snapshot_limit < 1:
            raise InvalidParameter(f"snapshot_limit must be a whole number >= 1, not {snapshot_limit!r}")
        self.repo = repo
        self.catalog = catalog
        self.runner = runner
        self._key = key
        self.sync_timeout = sync_timeout
        self.snapshot_limit = snapshot_limit

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
        _check_submission(input, output, user_data)
        cfg = self._job_config(config, template_id, account)
        if pipeline_id is not None:
            self.catalog.get_pipeline(pipeline_id, account=account)
        places = self._places(input, output, cfg, account)
        now = time.time()
        job_id = _new_id()
        sync = cfg.synchronous
        row = dict(
            id=job_id,
            account=owner(account),
            name=name,
            type=cfg.type,
            trigger_source="API",
            input=places[0],
            output=places[1],
            config=cfg.to_dict(),
            template_id=template_id,
            pipeline_id=pipeline_id,
            user_data=user_data,
            is_async=not sync,
            status="Init",
            create_time=now,
            submit_time=now,
            modified_time=now,
            attempts=0,
            runs=0,
            snapshot_limit=self.snapshot_limit,
        )
        if sync:
            row.update(status="Processing", claimed_by=self.runner.ident, attempts=1, runs=1)
        # A synchronous job is leased like a worker's claim; a queued one is announced
        # to idle workers of other processes (PostgreSQL) at commit.
        self.repo.insert_job(row, lease=self.sync_timeout + 60 if sync else None)
        if not sync:
            self.runner.wakeup.ring()  # and this process's, now that the job is visible
            return self.get_snapshot_job(job_id)
        return self._run_sync(job_id)

    def _places(self, input: Any, output: Any, cfg: SnapshotConfig, account: str | None) -> list[dict[str, Any]]:
        """The job's input and output as stored: absolute locations, a media ID
        resolved for its account, the output checked against the settings."""
        in_url = _absolute(normalise_location(input, "Input"))
        media_id = None
        if _ID.match(in_url):
            media_id = self.catalog.get_media(in_url, account=account).id
        out_url = _absolute(normalise_location(output, "Output"))
        self._check_output(cfg, out_url)
        return [_place(url, mid, spec) for url, mid, spec in ((in_url, media_id, input), (out_url, None, output))]

    def _job_config(
        self, config: SnapshotConfig | Mapping[str, Any] | None, template_id: str | None, account: str | None
    ) -> SnapshotConfig:
        """The job's settings: `config`, or its template's; with both, the template's
        settings with the caller's changes applied (ICE's OverwriteParams; the job
        still records its template). Over the per-job snapshot cap: refused."""
        if template_id is not None:
            template = self.catalog.get_snapshot_template(template_id, account=account)
            cfg = config_from(config) if config is not None else SnapshotConfig.from_dict(template.config["stillframe"])
        else:
            cfg = config_from(config)
        self._check_count(cfg)
        return cfg

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
        final = self.runner.execute(self.repo.job(job_id), timeout=self.sync_timeout)
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
        row = self.repo.job(job_id, account)
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

    def cancel_snapshot_job(self, job_id: str, *, account: str | None = None) -> SnapshotJob:
        """Cancel a job still waiting (Init): it ends Fail with Code `CANCELED` and
        is never run. A job already claimed by a worker, or finished, raises
        Conflict; an unknown one JobNotFound. Atomic against a worker's claim, which
        only takes a job whose status is still Init."""
        now = time.time()
        ended = dict(
            status="Fail", code=self.CANCELED, message="the job was cancelled", finish_time=now, modified_time=now
        )
        done = self.repo.cancel_job(job_id, account, ended)
        job = self.get_snapshot_job(job_id, account=account)
        if not done:
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
        pipeline_id: str | None = None,
        account: str | None = None,
    ) -> Page:
        """ICE ListSnapshotJobs (and MPS's by pipeline). Paging is keyset over the
        creation order, so a listing walked while jobs are added returns every job
        that existed when it began exactly once; tokens are signed and tied to their
        query."""
        if order_by not in ("CreateTimeDesc", "CreateTimeAsc"):
            raise InvalidParameter(f"OrderBy must be CreateTimeDesc or CreateTimeAsc, not {order_by!r}")
        if not isinstance(page_size, int) or not 1 <= page_size <= 100:
            raise InvalidParameter(f"PageSize must be in 1..100, not {page_size!r}")
        if status is not None and status not in STATUSES:
            raise InvalidParameter(f"Status must be one of {STATUSES}, not {status!r}")
        start, end = parse_iso(start_of_create_time), parse_iso(end_of_create_time)
        query = [job_id, status, start, end, order_by, account] + ([pipeline_id] if pipeline_id else [])
        fingerprint = hashlib.sha256(json.dumps(query).encode()).hexdigest()[:16]
        where = JobFilter(
            account=account,
            ids=None if job_id is None else (job_id,),
            status=status,
            pipeline_id=pipeline_id,
            created_from=start,
            created_to=end,
        )
        if next_page_token:
            tok = self._unsign(next_page_token, fingerprint)
            high, after = tok["h"], tok["a"]
        else:
            high, after = self.repo.last_seq(), None
        rows = self.repo.job_keyset(
            where, high=high, after=after, desc=order_by == "CreateTimeDesc", limit=page_size + 1
        )
        more = len(rows) > page_size
        rows = rows[:page_size]
        token = self._sign({"f": fingerprint, "h": high, "a": rows[-1].seq}) if more else None
        return Page([SnapshotJob.from_row(r) for r in rows], token)

    def find_snapshot_jobs(
        self,
        *,
        ids: list[str] | None = None,
        status: str | None = None,
        code: str | None = None,
        not_code: str | None = None,
        pipeline_id: str | None = None,
        media: str | None = None,
        start_of_create_time: Any = None,
        end_of_create_time: Any = None,
        newest_first: bool = True,
        offset: int = 0,
        limit: int = 10,
        account: str | None = None,
    ) -> Found[SnapshotJob]:
        """Jobs by number rather than by token (as Huawei's listings page): those
        matching every filter given, newest first (or oldest), `limit` (1..100) from
        `offset`, with how many match. `media` is the input's path, URL or
        media ID; `code`/`not_code` keep the jobs that ended with (without) that Code."""
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise InvalidParameter(f"offset must be a whole number >= 0, not {offset!r}")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 100:
            raise InvalidParameter(f"limit must be in 1..100, not {limit!r}")
        if status is not None and status not in STATUSES:
            raise InvalidParameter(f"Status must be one of {STATUSES}, not {status!r}")
        where = JobFilter(
            account=account,
            ids=None if ids is None else tuple(ids),
            status=status,
            code=code,
            not_code=not_code,
            pipeline_id=pipeline_id,
            media=media,
            created_from=parse_iso(start_of_create_time),
            created_to=parse_iso(end_of_create_time),
        )
        total, rows = self.repo.job_page(where, offset=offset, limit=limit, desc=newest_first)
        return Found(total, [SnapshotJob.from_row(r) for r in rows])
