"""ICE 2020-11-09 live snapshot jobs, their templates and files.

A job's SnapshotOutput names a served bucket; the service is given that bucket's
folder (or object-store prefix), and answers name it by the bucket again. Streams
are read from the network only: a client may not point a job at a file here."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from stillframe.errors import InvalidParameter, MissingParameter
from stillframe.server.alibaba_rpc import ICE, Call, action

NETWORK_STREAMS = ("rtmp", "rtmps", "hls", "http-flv", "http", "rtsp", "srt")
NETWORK_SCHEMES = ("rtmp", "rtmps", "http", "https", "rtsp", "srt")


def _stream_input(spec: Any) -> dict[str, Any]:
    if not isinstance(spec, dict):
        raise InvalidParameter("StreamInput must be {Type, Url}")
    kind = spec.get("Type", "rtmp")
    scheme = urlsplit(str(spec.get("Url") or "")).scheme.lower()
    if spec.get("Url") and (kind not in NETWORK_STREAMS or scheme not in NETWORK_SCHEMES):
        raise InvalidParameter(f"StreamInput must be a network stream ({', '.join(NETWORK_STREAMS)})")
    return spec


def _snapshot_output(call: Call, spec: Any) -> dict[str, str]:
    """The client's {StorageType, Endpoint, Bucket} -> the service's, by bucket name."""
    if not isinstance(spec, dict):
        raise InvalidParameter("SnapshotOutput must be {StorageType, Endpoint, Bucket}")
    if not spec.get("Bucket"):
        raise MissingParameter("SnapshotOutput.Bucket is mandatory for this action.")
    bucket = call.ctx.buckets.get(str(spec["Bucket"]))
    if not bucket.remote:
        return {"StorageType": "local", "Bucket": bucket.root}
    rest = bucket.root.split("://", 1)[1]
    endpoint = call.service.object_store_endpoint() or "s3.amazonaws.com"
    return {"StorageType": "s3", "Bucket": rest, "Endpoint": endpoint}


def _bucket_name(call: Call, stored: str) -> str:
    for b in call.ctx.buckets:
        if stored in (b.root, b.root.split("://", 1)[-1]):
            return b.name
    return stored.rstrip("/").rsplit("/", 1)[-1]  # a folder no bucket serves: never its server path


def _client_output(call: Call, stored: dict[str, Any]) -> dict[str, Any]:
    return {"StorageType": "oss", "Endpoint": call.host, "Bucket": _bucket_name(call, stored["Bucket"])}


def _live_job(call: Call, job: Any) -> dict[str, Any]:
    d = job.to_dict()
    d["SnapshotOutput"] = _client_output(call, job.snapshot_output)
    return d


# -- templates -----------------------------------------------------------------------------


@action(ICE, "CreateLiveSnapshotTemplate")
def create_live_snapshot_template(call: Call) -> dict[str, Any]:
    """The Alibaba ICE CreateLiveSnapshotTemplate action: a live snapshot template."""
    p = call.params
    tid = call.service.create_live_snapshot_template(
        p.get("TemplateName", required=True),
        p.integer("TimeInterval"),
        p.raw("OverwriteFormat"),
        p.raw("SequenceFormat"),
    )
    return {"TemplateId": tid}


@action(ICE, "GetLiveSnapshotTemplate")
def get_live_snapshot_template(call: Call) -> dict[str, Any]:
    """The Alibaba ICE GetLiveSnapshotTemplate action: one live snapshot template."""
    return call.service.get_live_snapshot_template(call.params.get("TemplateId", required=True)).to_dict()


@action(ICE, "ListLiveSnapshotTemplates")
def list_live_snapshot_templates(call: Call) -> dict[str, Any]:
    """The Alibaba ICE ListLiveSnapshotTemplates action: live snapshot templates, a page at a time."""
    p = call.params
    sort = p.get("SortBy") or "desc"
    if p.get("Type") == "system":  # no system templates here
        return {
            "TemplateList": [],
            "PageNo": p.integer("PageNo", 1),
            "PageSize": p.integer("PageSize", 10),
            "TotalCount": 0,
            "SortBy": sort,
        }
    got = call.service.list_live_snapshot_templates(
        p.integer("PageNo", 1),
        p.integer("PageSize", 10),
        sort,
        p.get("SearchKeyWord"),
        p.array("TemplateIds"),
    )
    return {**got, "SortBy": sort}


@action(ICE, "UpdateLiveSnapshotTemplate")
def update_live_snapshot_template(call: Call) -> dict[str, Any]:
    """The Alibaba ICE UpdateLiveSnapshotTemplate action: rename a live template or change its interval and names."""
    p = call.params
    call.service.update_live_snapshot_template(
        p.get("TemplateId", required=True),
        p.get("TemplateName"),
        p.integer("TimeInterval"),
        p.raw("OverwriteFormat"),
        p.raw("SequenceFormat"),
    )
    return {}


@action(ICE, "DeleteLiveSnapshotTemplate")
def delete_live_snapshot_template(call: Call) -> dict[str, Any]:
    """The Alibaba ICE DeleteLiveSnapshotTemplate action: delete a live snapshot template."""
    call.service.delete_live_snapshot_template(call.params.get("TemplateId", required=True))
    return {}


# -- jobs ------------------------------------------------------------------------------------


@action(ICE, "SubmitLiveSnapshotJob")
def submit_live_snapshot_job(call: Call) -> dict[str, Any]:
    """The Alibaba ICE SubmitLiveSnapshotJob action: start capturing a live stream."""
    p = call.params
    job = call.service.submit_live_snapshot_job(
        p.get("JobName", required=True),
        _stream_input(p.obj("StreamInput", required=True)),
        p.get("TemplateId", required=True),
        _snapshot_output(call, p.obj("SnapshotOutput", required=True)),
        p.get("CallbackUrl"),
    )
    return {"JobId": job.id}


@action(ICE, "GetLiveSnapshotJob")
def get_live_snapshot_job(call: Call) -> dict[str, Any]:
    """The Alibaba ICE GetLiveSnapshotJob action: one live snapshot job."""
    return _live_job(call, call.service.get_live_snapshot_job(call.params.get("JobId", required=True)))


@action(ICE, "ListLiveSnapshotJobs")
def list_live_snapshot_jobs(call: Call) -> dict[str, Any]:
    """The Alibaba ICE ListLiveSnapshotJobs action: live snapshot jobs, a page at a time."""
    p = call.params
    sort = p.get("SortBy") or "desc"
    got = call.service.list_live_snapshot_jobs(
        p.integer("PageNo", 1),
        p.integer("PageSize", 10),
        sort,
        p.get("Status"),
        p.get("SearchKeyWord"),
        p.get("StartTime"),
        p.get("EndTime"),
    )
    for job in got["JobList"]:
        job["SnapshotOutput"] = _client_output(call, job["SnapshotOutput"])
    return {**got, "SortBy": sort}


@action(ICE, "SendLiveSnapshotJobCommand")
def send_live_snapshot_job_command(call: Call) -> dict[str, Any]:
    """The Alibaba ICE SendLiveSnapshotJobCommand action: start, stop or restart a live job."""
    p = call.params
    call.service.send_live_snapshot_job_command(p.get("JobId", required=True), p.get("Command", required=True))
    return {}


@action(ICE, "ListLiveSnapshotFiles")
def list_live_snapshot_files(call: Call) -> dict[str, Any]:
    """The Alibaba ICE ListLiveSnapshotFiles action: the files a live job wrote, by time."""
    p = call.params
    got = call.service.list_live_snapshot_files(
        p.get("JobId", required=True),
        p.get("StartTime"),
        p.get("EndTime"),
        p.integer("Limit", 10),
        sort_by=p.get("SortBy") or "asc",
    )
    for f in got["FileList"]:
        f["OssBucket"] = _bucket_name(call, f["OssBucket"])
        f["OssEndpoint"] = call.host
    return got


@action(ICE, "DeleteLiveSnapshotFiles")
def delete_live_snapshot_files(call: Call) -> dict[str, Any]:
    """The Alibaba ICE DeleteLiveSnapshotFiles action: delete a live job's files by their timestamps."""
    p = call.params
    stamps = p.array("CreateTimestampList")
    try:
        stamps = [int(s) for s in stamps or []]
    except (TypeError, ValueError):
        raise InvalidParameter("CreateTimestampList takes whole millisecond timestamps") from None
    return call.service.delete_live_snapshot_files(
        p.get("JobId", required=True), stamps, delete_file=p.flag("DeleteOriginalFile")
    )
