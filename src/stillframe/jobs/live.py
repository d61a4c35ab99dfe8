"""Live snapshot jobs (ICE's live snapshot family), a service of JobService: templates,
jobs, start/stop/restart, and the files each job has written."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from stillframe.errors import (
    InvalidParameter,
    JobAlreadyStarted,
    JobNotFound,
    MissingParameter,
    StreamNotFound,
    TemplateNotFound,
)
from stillframe.jobs.capture import stream_is_live
from stillframe.jobs.live_model import (
    COMMANDS,
    LIVE_STATUSES,
    LiveFile,
    LiveSnapshotJob,
    LiveTemplate,
    check_callback,
    check_formats,
    check_interval,
    check_name,
    check_snapshot_output,
    check_stream_input,
    iso_ms,
    ms,
)
from stillframe.jobs.live_repository import LiveRepository
from stillframe.jobs.model import parse_iso
from stillframe.jobs.notify import Notifier
from stillframe.jobs.repository import owner
from stillframe.jobs.storage import LiveOutput, Storage
from stillframe.jobs.supervisor import LiveSupervisor

DAY = 86400.0
LIST_WINDOW = 30 * DAY
LIST_DEFAULT_SPAN = 7 * DAY
PAGE_NO_MAX = 1_000_000


def _page(page_no: Any, page_size: Any, most: int = 100) -> tuple[int, int]:
    if isinstance(page_no, bool) or not isinstance(page_no, int) or not 1 <= page_no <= PAGE_NO_MAX:
        raise InvalidParameter(f"PageNo must be in 1..{PAGE_NO_MAX}, not {page_no!r}")
    if isinstance(page_size, bool) or not isinstance(page_size, int) or not 1 <= page_size <= most:
        raise InvalidParameter(f"PageSize must be in 1..{most}, not {page_size!r}")
    return page_no, page_size


def _sort(sort_by: str) -> bool:
    """True for descending."""
    if sort_by not in ("asc", "desc"):
        raise InvalidParameter(f"SortBy must be asc or desc, not {sort_by!r}")
    return sort_by == "desc"


class LiveJobs:
    """Live snapshot templates, jobs and their files. Jobs capture on a LiveSupervisor
    (`supervisor`, once this process runs one, which start and stop commands then
    reach at once) or on `stillframe worker` processes sharing the store;
    `live_job_limit` caps how many may capture at once (ICE: 100 an account);
    `stream_timeout` bounds the check that a stream is live when a job is submitted
    or started; `notifier` sends each snapshot's callback."""

    def __init__(
        self,
        repo: LiveRepository,
        storage: Storage,
        notifier: Notifier,
        *,
        live_job_limit: int = 100,
        stream_timeout: float = 5.0,
    ) -> None:
        self.repo = repo
        self.storage = storage
        self.notifier = notifier
        self.live_job_limit = live_job_limit
        self.stream_timeout = stream_timeout
        self.supervisor: LiveSupervisor | None = None

    def on_live_snapshot(self, callback: Callable[[dict[str, Any]], None]) -> None:
        """Call `callback(message)` (the CallbackUrl message) for every live snapshot."""
        self.notifier.callbacks.append(callback)

    # -- templates -----------------------------------------------------------------------

    def create_live_snapshot_template(
        self,
        name: str,
        time_interval: int,
        overwrite_format: str | None = None,
        sequence_format: str | None = None,
        *,
        account: str | None = None,
    ) -> str:
        """A template: snapshot every `time_interval` s (5..3600), named by
        `overwrite_format` (the latest, replaced; only {JobId}) and/or
        `sequence_format` (one per snapshot; {JobId} {Date} {UnixTimestamp} {Sequence}).
        Neither given: both defaults; "" turns one kind off."""
        name = check_name(name, "TemplateName")
        interval = check_interval(time_interval)
        over, seq = check_formats(overwrite_format, sequence_format)
        now = time.time()
        tid = uuid.uuid4().hex
        self.repo.insert_template(
            dict(
                id=tid,
                account=owner(account),
                name=name,
                time_interval=interval,
                overwrite_format=over,
                sequence_format=seq,
                create_time=now,
                modified_time=now,
            )
        )
        return tid

    def get_live_snapshot_template(self, template_id: str, *, account: str | None = None) -> LiveTemplate:
        """The live snapshot template with that id; TemplateNotFound when there is none."""
        row = self.repo.template(template_id, account)
        if row is None:
            raise TemplateNotFound(f"live snapshot template {template_id} does not exist")
        return LiveTemplate.from_row(row)

    def list_live_snapshot_templates(
        self,
        page_no: int = 1,
        page_size: int = 10,
        sort_by: str = "desc",
        search_keyword: str | None = None,
        template_ids: Iterable[str] | None = None,
        *,
        account: str | None = None,
    ) -> dict[str, Any]:
        """ICE ListLiveSnapshotTemplates: {TemplateList, PageNo, PageSize, TotalCount},
        newest first by default; `search_keyword` matches names, whatever their case."""
        page_no, page_size = _page(page_no, page_size)
        desc = _sort(sort_by)
        total, rows = self.repo.template_page(
            account,
            keyword=search_keyword,
            ids=None if template_ids is None else list(template_ids),
            desc=desc,
            offset=(page_no - 1) * page_size,
            limit=page_size,
        )
        return {
            "TemplateList": [LiveTemplate.from_row(r).to_dict() for r in rows],
            "PageNo": page_no,
            "PageSize": page_size,
            "TotalCount": total,
        }

    def update_live_snapshot_template(
        self,
        template_id: str,
        name: str | None = None,
        time_interval: int | None = None,
        overwrite_format: str | None = None,
        sequence_format: str | None = None,
        *,
        account: str | None = None,
    ) -> LiveTemplate:
        """Change a template; jobs already submitted keep the values they were given."""
        cur = self.get_live_snapshot_template(template_id, account=account)
        values: dict[str, Any] = {"modified_time": time.time()}
        if name is not None:
            values["name"] = check_name(name, "TemplateName")
        if time_interval is not None:
            values["time_interval"] = check_interval(time_interval)
        if overwrite_format is not None or sequence_format is not None:
            over = cur.overwrite_format if overwrite_format is None else overwrite_format
            seq = cur.sequence_format if sequence_format is None else sequence_format
            values["overwrite_format"], values["sequence_format"] = check_formats(over or "", seq or "")
        self.repo.update_template(template_id, values)
        return self.get_live_snapshot_template(template_id, account=account)

    def delete_live_snapshot_template(self, template_id: str, *, account: str | None = None) -> None:
        """Delete the live snapshot template with that id; TemplateNotFound when there is none."""
        self.get_live_snapshot_template(template_id, account=account)
        self.repo.delete_template(template_id)

    # -- jobs ----------------------------------------------------------------------------

    def submit_live_snapshot_job(
        self,
        job_name: str,
        stream_input: dict[str, str],
        template_id: str,
        snapshot_output: dict[str, str],
        callback_url: str | None = None,
        *,
        account: str | None = None,
    ) -> LiveSnapshotJob:
        """A live job. It starts at once when the stream is live (JobLimitExceeded if
        `live_job_limit` jobs already capture); otherwise it waits in `init` for a
        start command."""
        name = check_name(job_name, "JobName")
        stream = check_stream_input(stream_input)
        if not template_id:
            raise MissingParameter("TemplateId is required")
        output = check_snapshot_output(snapshot_output)
        callback = check_callback(callback_url)
        tpl = self.get_live_snapshot_template(template_id, account=account)
        live = stream_is_live(stream["Url"], self.stream_timeout)
        now = time.time()
        job_id = uuid.uuid4().hex
        # A job that starts at once counts against the limit; supervisors of other
        # processes (PostgreSQL) are told at commit.
        self.repo.insert_job(
            dict(
                id=job_id,
                account=owner(account),
                name=name,
                template_id=tpl.id,
                template_name=tpl.name,
                time_interval=tpl.time_interval,
                overwrite_format=tpl.overwrite_format,
                sequence_format=tpl.sequence_format,
                stream_input=stream,
                snapshot_output=output,
                callback_url=callback,
                status="started" if live else "init",
                want=live,
                epoch=0,
                reason=None if live else "the stream was not live at submission",
                sequence=0,
                create_time=now,
                modified_time=now,
            ),
            self.live_job_limit,
        )
        if live and self.supervisor is not None:
            self.supervisor.wake()
        return self.get_live_snapshot_job(job_id)

    def _live_row(self, job_id: str, account: str | None = None) -> Any:
        row = self.repo.job(job_id, account)
        if row is None:
            raise JobNotFound(f"live snapshot job {job_id} does not exist")
        return row

    def get_live_snapshot_job(self, job_id: str, *, account: str | None = None) -> LiveSnapshotJob:
        """The live snapshot job with that id; JobNotFound when there is none."""
        return LiveSnapshotJob.from_row(self._live_row(job_id, account))

    def list_live_snapshot_jobs(
        self,
        page_no: int = 1,
        page_size: int = 10,
        sort_by: str = "desc",
        status: str | None = None,
        search_keyword: str | None = None,
        start_time: Any = None,
        end_time: Any = None,
        *,
        account: str | None = None,
    ) -> dict[str, Any]:
        """ICE ListLiveSnapshotJobs: {JobList, PageNo, PageSize, TotalCount}. The
        creation-time window is at most 30 days; without one, the last 7 days.
        `search_keyword` matches names, whatever their case."""
        page_no, page_size = _page(page_no, page_size)
        desc = _sort(sort_by)
        if status is not None and status not in LIVE_STATUSES:
            raise InvalidParameter(f"Status must be one of {LIVE_STATUSES}, not {status!r}")
        end = parse_iso(end_time)
        start = parse_iso(start_time)
        end = time.time() if end is None else end
        start = end - LIST_DEFAULT_SPAN if start is None else start
        if end < start:
            raise InvalidParameter("EndTime is before StartTime")
        if end - start > LIST_WINDOW:
            raise InvalidParameter("StartTime and EndTime may be at most 30 days apart")
        total, rows = self.repo.job_page(
            account,
            created_from=start,
            created_to=end,
            status=status,
            keyword=search_keyword,
            desc=desc,
            offset=(page_no - 1) * page_size,
            limit=page_size,
        )
        return {
            "JobList": [LiveSnapshotJob.from_row(r).to_dict() for r in rows],
            "PageNo": page_no,
            "PageSize": page_size,
            "TotalCount": total,
        }

    def send_live_snapshot_job_command(
        self, job_id: str, command: str, *, account: str | None = None
    ) -> LiveSnapshotJob:
        """start: capture (JobAlreadyStarted if it is; StreamNotFound if the stream is
        not live; JobLimitExceeded at the limit). stop: pause it. restart: stop and
        start afresh, with a new connection."""
        if not command:
            raise MissingParameter("Command is required")
        if command not in COMMANDS:
            raise InvalidParameter(f"Command must be one of {COMMANDS}, not {command!r}")
        row = self._live_row(job_id, account)
        if command == "stop":
            self.repo.stop_job(
                job_id,
                dict(
                    status="init" if row.status == "init" else "paused",
                    reason="stopped by command" if row.status != "init" else row.reason,
                    modified_time=time.time(),
                ),
            )
            if self.supervisor is not None:
                self.supervisor.halt(job_id)
            return self.get_live_snapshot_job(job_id)
        if command == "start" and row.want:
            raise JobAlreadyStarted(f"live snapshot job {job_id} is {row.status} already")
        if not stream_is_live(row.stream_input["Url"], self.stream_timeout):
            raise StreamNotFound(f"{row.stream_input['Url']}: the stream is not live")
        self.repo.start_job(job_id, restart=command == "restart", limit=self.live_job_limit, now=time.time())
        if self.supervisor is not None:
            self.supervisor.halt(job_id)  # a restart begins anew at once; a start is claimed at the next tick
        return self.get_live_snapshot_job(job_id)

    # -- files ---------------------------------------------------------------------------

    def list_live_snapshot_files(
        self,
        job_id: str,
        start_time: Any,
        end_time: Any,
        limit: int = 10,
        next_start_time: Any = None,
        sort_by: str = "asc",
        *,
        account: str | None = None,
    ) -> dict[str, Any]:
        """ICE ListLiveSnapshotFiles: {FileList, NextStartTime} for a window of at most
        a day. Each snapshot is one entry: its sequence file, or the overwrite file
        (IsOverlay) when the job keeps no sequence. Pass NextStartTime back to page on."""
        if start_time is None or start_time == "":
            raise MissingParameter("StartTime is required")
        if end_time is None or end_time == "":
            raise MissingParameter("EndTime is required")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 100:
            raise InvalidParameter(f"Limit must be in 1..100, not {limit!r}")
        desc = _sort(sort_by)
        start, end = parse_iso(start_time), parse_iso(end_time)
        assert start is not None and end is not None
        if end < start:
            raise InvalidParameter("EndTime is before StartTime")
        if end - start > DAY:
            raise InvalidParameter("StartTime and EndTime may be at most a day apart")
        job = self._live_row(job_id, account)
        lo, hi = ms(start), ms(end)
        cursor = parse_iso(next_start_time)
        if cursor is not None:
            if desc:
                hi = min(hi, ms(cursor))
            else:
                lo = max(lo, ms(cursor))
        rows = self.repo.files(job_id, lo, hi, desc=desc, limit=limit + 1)
        # One entry per snapshot and at least 5 s between snapshots: timestamps are
        # unique within a job, so the next page starts exactly at the first one left.
        files = [LiveFile.from_row(r, job.snapshot_output).to_dict() for r in rows[:limit]]
        return {"FileList": files, "NextStartTime": iso_ms(rows[limit].create_ms) if len(rows) > limit else None}

    def delete_live_snapshot_files(
        self,
        job_id: str,
        create_timestamps: Iterable[int],
        delete_file: bool = False,
        *,
        account: str | None = None,
    ) -> dict[str, Any]:
        """ICE DeleteLiveSnapshotFiles: forget the entries at these CreateTimestamps
        (milliseconds) and, with `delete_file`, remove their files too.
        {DeleteFileResultList: [{CreateTimestamp, Result}]}, Result SUCCESS or NOT_FOUND."""
        stamps = list(create_timestamps or [])
        if not stamps:
            raise MissingParameter("CreateTimestampList is required")
        if len(stamps) > 200 or not all(
            isinstance(s, int) and not isinstance(s, bool) and 0 <= s < 1 << 62 for s in stamps
        ):
            raise InvalidParameter("CreateTimestampList takes up to 200 whole millisecond timestamps")
        job = self._live_row(job_id, account)
        output = LiveOutput(job.snapshot_output, self.storage.options) if delete_file else None
        results = []
        for stamp in stamps:
            rows, unused = self.repo.delete_files(job_id, stamp)  # an overwrite file goes with its last entry
            if output is not None:
                for name in unused:
                    output.remove(name)
            results.append({"CreateTimestamp": stamp, "Result": "SUCCESS" if rows else "NOT_FOUND"})
        return {"DeleteFileResultList": results}
