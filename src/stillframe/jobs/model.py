"""Jobs, templates and pipelines as callers see them, serialised with the field
names of the services' documents (ICE: JobId, Status, CreateTime, ...)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Generic, TypeVar

_T = TypeVar("_T")

STATUSES = ("Init", "Processing", "Success", "Fail")
FINISHED = ("Success", "Fail")


def iso(t: float | None) -> str | None:
    """ISO 8601 UTC with seconds, as the services print times."""
    if t is None:
        return None
    return datetime.fromtimestamp(t, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(value: str | datetime | float | None) -> float | None:
    """Seconds since the epoch from an ISO 8601 string, a datetime (UTC when naive) or a number; None for none;
    InvalidParameter otherwise."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, datetime):
        dt = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return dt.timestamp()
    from stillframe.errors import InvalidParameter

    try:
        dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise InvalidParameter(f"{value!r} is not an ISO 8601 time (e.g. 2026-01-31T12:00:00Z)") from None
    return (dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)).timestamp()


def location_type(url: str, media_id: str | None) -> str:
    """The services' input/output Type of a location: Media, OSS, URL or File."""
    if media_id:
        return "Media"
    if url.startswith(("oss://", "s3://")):
        return "OSS"
    if url.startswith(("http://", "https://")):
        return "URL"
    return "File"


@dataclass
class SnapshotJob:
    """A snapshot job as the store holds it: its input, output and configuration, status, and result."""

    id: str
    name: str | None
    type: str
    status: str
    input: dict[str, Any]
    output: dict[str, Any]
    config: dict[str, Any]
    is_async: bool
    template_id: str | None = None
    pipeline_id: str | None = None
    user_data: str | None = None
    code: str | None = None
    message: str | None = None
    count: int | None = None
    tile_count: int | None = None
    result: dict[str, Any] | None = None
    create_time: float = field(default_factory=time.time)
    submit_time: float = field(default_factory=time.time)
    finish_time: float | None = None
    modified_time: float = field(default_factory=time.time)
    trigger_source: str = "API"
    runs: int = 0

    @property
    def finished(self) -> bool:
        """Whether the job has ended (Success or Fail)."""
        return self.status in FINISHED

    def outputs(self) -> list[str]:
        """The pictures the job wrote, in order: a sprite job's sheets, then its cells
        (none before it succeeds). Its WebVTT track is `result["webvtt"]`."""
        r = self.result or {}
        sheets = list(r.get("sprites") or []) if self.type == "Sprite" else []
        return sheets + list(r.get("files") or [])

    def to_dict(self) -> dict[str, Any]:
        """The ICE job shape (GetSnapshotJob / ListSnapshotJobs), plus Code, Message
        and UserData; times ISO 8601 UTC."""
        return {
            "JobId": self.id,
            "TriggerSource": self.trigger_source,
            "Name": self.name,
            "Type": self.type,
            "Input": self.input,
            "Output": self.output,
            "Count": self.count,
            "Async": self.is_async,
            "TemplateId": self.template_id,
            "PipelineId": self.pipeline_id,
            "Status": self.status,
            "SubmitTime": iso(self.submit_time),
            "FinishTime": iso(self.finish_time),
            "CreateTime": iso(self.create_time),
            "ModifiedTime": iso(self.modified_time),
            "Code": self.code,
            "Message": self.message,
            "UserData": self.user_data,
        }

    @classmethod
    def from_row(cls, row: Any) -> SnapshotJob:
        """The job of a store row."""
        m = row._mapping
        return cls(
            id=m["id"],
            name=m["name"],
            type=m["type"],
            status=m["status"],
            input=m["input"],
            output=m["output"],
            config=m["config"],
            is_async=m["is_async"],
            template_id=m["template_id"],
            pipeline_id=m["pipeline_id"],
            user_data=m["user_data"],
            code=m["code"],
            message=m["message"],
            count=m["count"],
            tile_count=m["tile_count"],
            result=m["result"],
            create_time=m["create_time"],
            submit_time=m["submit_time"],
            finish_time=m["finish_time"],
            modified_time=m["modified_time"],
            trigger_source=m["trigger_source"],
            runs=m["runs"],
        )


@dataclass
class Page:
    """One page of a job listing, and the token of the next (None on the last)."""

    jobs: list[SnapshotJob]
    next_page_token: str | None

    def to_dict(self) -> dict[str, Any]:
        """The ICE shape (ListSnapshotJobs)."""
        return {"Jobs": [j.to_dict() for j in self.jobs], "NextPageToken": self.next_page_token}


@dataclass
class Found(Generic[_T]):
    """One page of a listing (`items`), and how many match in all (`total`)."""

    total: int
    items: list[_T]


@dataclass
class Template:
    """A snapshot template: a named configuration that jobs refer to by id."""

    id: str
    name: str
    type: str
    config: dict[str, Any]
    create_time: float
    modified_time: float

    @classmethod
    def from_row(cls, r: Any) -> Template:
        """The template of a store row."""
        return cls(r.id, r.name, r.type, r.config, r.create_time, r.modified_time)

    def to_dict(self) -> dict[str, Any]:
        """The ICE shape (GetCustomTemplate); times ISO 8601 UTC."""
        return {
            "TemplateId": self.id,
            "Name": self.name,
            "Type": self.type,
            "TemplateConfig": self.config,
            "CreationTime": iso(self.create_time),
            "ModifiedTime": iso(self.modified_time),
        }


@dataclass
class Pipeline:
    """A pipeline: a named queue whose jobs run at most `max_concurrency` at once, with a notify URL."""

    id: str
    name: str
    max_concurrency: int
    notify_url: str | None
    state: str
    create_time: float
    modified_time: float

    @classmethod
    def from_row(cls, r: Any) -> Pipeline:
        """The pipeline of a store row."""
        return cls(r.id, r.name, r.max_concurrency, r.notify_url, r.state, r.create_time, r.modified_time)

    def to_dict(self) -> dict[str, Any]:
        """The MPS shape (QueryPipelineList); times ISO 8601 UTC."""
        return {
            "PipelineId": self.id,
            "Name": self.name,
            "MaxConcurrency": self.max_concurrency,
            "NotifyUrl": self.notify_url,
            "State": self.state,
            "CreationTime": iso(self.create_time),
            "ModifiedTime": iso(self.modified_time),
        }
