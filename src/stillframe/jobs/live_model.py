"""Live snapshot templates, jobs and files as callers see them (ICE field names), and
the rules their parameters follow."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from stillframe.errors import InvalidParameter, MissingParameter
from stillframe.jobs.model import iso

LIVE_STATUSES = ("init", "started", "paused")
COMMANDS = ("start", "stop", "restart")
INTERVAL_RANGE = (5, 3600)
DEFAULT_OVERWRITE = "snapshot/{JobId}.jpg"
DEFAULT_SEQUENCE = "snapshot/{JobId}/{UnixTimestamp}.jpg"
FORMAT_MAX = 255
NAME_MAX = 128
STORAGE_TYPES = ("oss", "s3", "local")
# ICE takes rtmp only; the capture reads anything FFmpeg opens, named by its protocol.
STREAM_TYPES = ("rtmp", "rtmps", "hls", "http-flv", "http", "rtsp", "srt", "udp", "file")

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_OVERWRITE_VARS = {"JobId"}
_SEQUENCE_VARS = {"JobId", "Date", "UnixTimestamp", "Sequence"}


def check_name(value: Any, what: str) -> str:
    """`value` as a name of at most NAME_MAX characters; MissingParameter or InvalidParameter naming `what`."""
    if value is None or value == "":
        raise MissingParameter(f"{what} is required")
    if not isinstance(value, str) or len(value) > NAME_MAX:
        raise InvalidParameter(f"{what} must be a string of at most {NAME_MAX} characters")
    return value


def check_interval(value: Any) -> int:
    """The TimeInterval, whole seconds in INTERVAL_RANGE; MissingParameter or InvalidParameter."""
    if value is None:
        raise MissingParameter("TimeInterval is required")
    lo, hi = INTERVAL_RANGE
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise InvalidParameter(f"TimeInterval must be a whole number of seconds in {lo}..{hi}, not {value!r}")
    return value


def check_format(value: str, what: str, allowed: set[str]) -> str:
    """A naming format: at most 255 characters, no leading '/', '.jpg' at the end,
    and only the placeholders the service allows for that kind of file."""
    if not isinstance(value, str):
        raise InvalidParameter(f"{what} must be a string, not {value!r}")
    if len(value) > FORMAT_MAX:
        raise InvalidParameter(f"{what} is over {FORMAT_MAX} characters")
    if value.startswith("/"):
        raise InvalidParameter(f"{what} must not start with '/': {value!r}")
    # Names stay inside the job's bucket: no parent segments, no Windows separators or drives.
    if "\\" in value or "\0" in value or ":" in value or ".." in value.split("/"):
        raise InvalidParameter(f"{what} must name a file inside the bucket (no '..', '\\' or ':'): {value!r}")
    if not value.endswith(".jpg"):
        raise InvalidParameter(f"{what} must end with .jpg: {value!r}")
    bare = _PLACEHOLDER.sub("", value)
    if "{" in bare or "}" in bare:
        raise InvalidParameter(f"{what} has an unbalanced brace: {value!r}")
    used = set(_PLACEHOLDER.findall(value))
    if used - allowed:
        bad = ", ".join("{" + v + "}" for v in sorted(used - allowed))
        raise InvalidParameter(f"{what} may use only {', '.join('{' + v + '}' for v in sorted(allowed))}, not {bad}")
    return value


def check_formats(overwrite: str | None, sequence: str | None) -> tuple[str | None, str | None]:
    """Both None: the services' defaults. An empty string turns that kind off; at
    least one kind must remain."""
    if overwrite is None and sequence is None:
        return DEFAULT_OVERWRITE, DEFAULT_SEQUENCE
    overwrite = overwrite or None
    sequence = sequence or None
    if overwrite is None and sequence is None:
        raise MissingParameter("give OverwriteFormat or SequenceFormat (or both)")
    if overwrite is not None:
        check_format(overwrite, "OverwriteFormat", _OVERWRITE_VARS)
    if sequence is not None:
        check_format(sequence, "SequenceFormat", _SEQUENCE_VARS)
        if "{UnixTimestamp}" not in sequence and "{Sequence}" not in sequence:
            raise InvalidParameter("SequenceFormat must contain {UnixTimestamp} or {Sequence}, or its files collide")
    return overwrite, sequence


def render(fmt: str, job_id: str, when_ms: int, sequence: int) -> str:
    """A file name from a format. {UnixTimestamp} is in milliseconds and {Date} is
    the UTC day (YYYY-MM-DD), both of the snapshot's wall-clock time."""
    day = datetime.fromtimestamp(when_ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d")
    values = {"JobId": job_id, "UnixTimestamp": str(when_ms), "Sequence": str(sequence), "Date": day}
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], fmt)


def check_stream_input(spec: Any) -> dict[str, str]:
    """StreamInput as {Url, Type} with a known Type (rtmp by default)."""
    if not isinstance(spec, dict):
        raise InvalidParameter(f"StreamInput must be {{Url, Type}}, not {spec!r}")
    url = spec.get("Url")
    if not url:
        raise MissingParameter("StreamInput.Url is required")
    kind = spec.get("Type", "rtmp")
    if kind not in STREAM_TYPES:
        raise InvalidParameter(f"StreamInput.Type must be one of {STREAM_TYPES}, not {kind!r}")
    return {"Url": str(url), "Type": kind}


def check_snapshot_output(spec: Any) -> dict[str, str]:
    """{StorageType, Endpoint, Bucket}: oss/s3 write objects into Bucket (Endpoint an
    http(s) URL of an S3-compatible store, or a host name); local writes under the
    directory named by Bucket."""
    if not isinstance(spec, dict):
        raise InvalidParameter(f"SnapshotOutput must be {{StorageType, Endpoint, Bucket}}, not {spec!r}")
    kind = spec.get("StorageType", "oss")
    if kind not in STORAGE_TYPES:
        raise InvalidParameter(f"SnapshotOutput.StorageType must be one of {STORAGE_TYPES}, not {kind!r}")
    bucket = spec.get("Bucket")
    if not bucket:
        raise MissingParameter("SnapshotOutput.Bucket is required")
    endpoint = spec.get("Endpoint")
    if kind != "local" and not endpoint:
        raise MissingParameter("SnapshotOutput.Endpoint is required for object storage")
    out = {"StorageType": kind, "Bucket": str(bucket)}
    if endpoint:
        out["Endpoint"] = str(endpoint)
    return out


def check_callback(url: Any) -> str | None:
    """The callback URL (http or https), None when none is given; InvalidParameter otherwise."""
    if url is None or url == "":
        return None
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise InvalidParameter(f"CallbackUrl must be an http or https URL, not {url!r}")
    return url


def ms(t: float) -> int:
    """Seconds as whole milliseconds."""
    return int(round(t * 1000))


def iso_ms(when_ms: int) -> str:
    """ISO 8601 UTC with milliseconds, so a NextStartTime loses nothing."""
    dt = datetime.fromtimestamp(when_ms / 1000, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when_ms % 1000:03d}Z"


@dataclass
class LiveTemplate:
    """A live snapshot template: how often to capture (seconds) and how files are named."""

    id: str
    name: str
    time_interval: int
    overwrite_format: str | None
    sequence_format: str | None
    create_time: float
    modified_time: float

    @classmethod
    def from_row(cls, r: Any) -> LiveTemplate:
        """The template of a store row."""
        return cls(r.id, r.name, r.time_interval, r.overwrite_format, r.sequence_format, r.create_time, r.modified_time)

    def to_dict(self) -> dict[str, Any]:
        """The ICE shape (GetLiveSnapshotTemplate); times ISO 8601 UTC."""
        return {
            "TemplateId": self.id,
            "TemplateName": self.name,
            "Type": "custom",
            "TimeInterval": self.time_interval,
            "OverwriteFormat": self.overwrite_format,
            "SequenceFormat": self.sequence_format,
            "CreateTime": iso(self.create_time),
            "LastModified": iso(self.modified_time),
        }


@dataclass
class LiveSnapshotJob:
    """A live snapshot job. `to_dict()` has GetLiveSnapshotJob's fields; `reason` says
    why a job is paused, `sequence` how many snapshots it has taken."""

    id: str
    name: str
    template_id: str
    template_name: str
    status: str
    stream_input: dict[str, str]
    snapshot_output: dict[str, str]
    overwrite_format: str | None
    sequence_format: str | None
    time_interval: int
    callback_url: str | None
    create_time: float
    modified_time: float
    reason: str | None = None
    sequence: int = 0
    running: bool = False

    @classmethod
    def from_row(cls, r: Any) -> LiveSnapshotJob:
        """The job of a store row."""
        return cls(
            id=r.id,
            name=r.name,
            template_id=r.template_id,
            template_name=r.template_name,
            status=r.status,
            stream_input=r.stream_input,
            snapshot_output=r.snapshot_output,
            overwrite_format=r.overwrite_format,
            sequence_format=r.sequence_format,
            time_interval=r.time_interval,
            callback_url=r.callback_url,
            create_time=r.create_time,
            modified_time=r.modified_time,
            reason=r.reason,
            sequence=r.sequence,
            running=bool(r.want),
        )

    def to_dict(self) -> dict[str, Any]:
        """The ICE shape (GetLiveSnapshotJob); times ISO 8601 UTC."""
        return {
            "JobId": self.id,
            "JobName": self.name,
            "TemplateId": self.template_id,
            "TemplateName": self.template_name,
            "Status": self.status,
            "StreamInput": self.stream_input,
            "SnapshotOutput": self.snapshot_output,
            "OverwriteFormat": self.overwrite_format,
            "SequenceFormat": self.sequence_format,
            "TimeInterval": self.time_interval,
            "CallbackUrl": self.callback_url,
            "LastModified": iso(self.modified_time),
            "CreateTime": iso(self.create_time),
        }


@dataclass
class LiveFile:
    """One file a live job wrote: its object name, when, its sequence number and stream time."""

    job_id: str
    object: str
    create_ms: int
    is_overlay: bool
    sequence: int
    stream_time: float
    storage: dict[str, str]

    @classmethod
    def from_row(cls, r: Any, storage: dict[str, str]) -> LiveFile:
        """The file of a store row, in the job's `storage`."""
        return cls(r.job_id, r.object, r.create_ms, r.is_overlay, r.sequence, r.stream_time, storage)

    def to_dict(self) -> dict[str, Any]:
        """The ICE shape (ListLiveSnapshotFiles)."""
        return {
            "OssEndpoint": self.storage.get("Endpoint"),
            "OssBucket": self.storage["Bucket"],
            "OssObject": self.object,
            "CreateTime": iso_ms(self.create_ms),
            "CreateTimestamp": self.create_ms,
            "IsOverlay": self.is_overlay,
        }
