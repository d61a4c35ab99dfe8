"""MPS 2014-06-18: SubmitSnapshotJob (synchronous for one snapshot, else queued),
QuerySnapshotJobList, and the pipelines those jobs name.

MPS names files {Bucket, Location, Object} with the Object URL-encoded; answers give
them back the same way. A pipeline's notification target is an http(s) URL given as
NotifyConfig.Topic (MNS topics and queues are not served here)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, unquote

from stillframe.errors import InvalidParameter, JobNotFound, MissingParameter
from stillframe.jobs.config import from_mps_config
from stillframe.jobs.model import iso
from stillframe.server.alibaba_rpc import MPS, Call, action

STATES = {"Init": "Submitted", "Processing": "Snapshoting", "Success": "Success", "Fail": "Fail"}
STATUS_OF = {v: k for k, v in STATES.items()}
LIST_MAX = 300  # MaximumPageSize
SERVICE_PAGE_MAX = 100


def _location(call: Call, spec: Any, what: str) -> dict[str, str]:
    if not isinstance(spec, Mapping):
        raise InvalidParameter(f"{what} must be {{Bucket, Location, Object}}")
    if not spec.get("Bucket") or not spec.get("Object"):
        raise MissingParameter(f"{what} needs Bucket and Object")
    return call.ctx.buckets.locate(str(spec["Bucket"]), unquote(str(spec["Object"])))


def _file(call: Call, path_or_url: str | None) -> dict[str, str] | None:
    if not path_or_url:
        return None
    named = call.ctx.buckets.name_of(path_or_url)
    if named is None:
        return None
    return {"Bucket": named[0], "Location": call.ctx.region, "Object": quote(named[1], safe="/{}")}


def _str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def _snapshot_config(call: Call, job: Any) -> dict[str, Any]:
    """The job's settings in MPS's SnapshotConfig spelling (Time in milliseconds)."""
    c = job.config
    s = c.get("sampling") or {}
    out: dict[str, Any] = {
        "FrameType": c.get("frame_type"),
        "Width": _str(c.get("width")),
        "Height": _str(c.get("height")),
    }
    if s.get("kind") == "dots":
        times = s.get("times") or [0.0]
        out["Time"] = _str(round(times[0] * 1000))
        if len(times) > 1:
            out["TimeArray"] = {"TimePointList": [round(t * 1000) for t in times]}
    elif s.get("kind") == "interval":
        out.update(
            Time=_str(round((s.get("start") or 0.0) * 1000)), Interval=_str(s.get("every")), Num=_str(s.get("count"))
        )
    elif s.get("kind") == "quantity":
        out.update(Interval="0", Num=_str(s.get("count")))
    output = _file(call, (job.output or {}).get("Media"))
    out["OutputFile"] = output
    sprite = c.get("sprite")
    if job.type == "Sprite" and sprite:
        out["TileOutputFile"] = output
        out["TileOut"] = {
            "Lines": _str(sprite.get("lines")),
            "Columns": _str(sprite.get("columns")),
            "CellWidth": _str(sprite.get("cell_width")),
            "CellHeight": _str(sprite.get("cell_height")),
            "Margin": _str(sprite.get("margin")),
            "Padding": _str(sprite.get("padding")),
            "Color": sprite.get("color"),
            "IsKeepCellPic": _str(sprite.get("keep_cell_pic")),
            "CellSelStep": _str(sprite.get("cell_sel_step")),
        }
    return {k: v for k, v in out.items() if v is not None}


def mps_job(call: Call, job: Any) -> dict[str, Any]:
    """A job as MPS answers it."""
    return {
        "Id": job.id,
        "State": STATES.get(job.status, job.status),
        "Code": job.code or "",
        "Message": call.ctx.buckets.scrub(job.message) or "",
        "Count": _str(job.count),
        "TileCount": _str(job.tile_count),
        "PipelineId": job.pipeline_id,
        "UserData": job.user_data,
        "CreationTime": iso(job.create_time),
        "Input": _file(call, (job.input or {}).get("Media")),
        "SnapshotConfig": _snapshot_config(call, job),
    }


@action(MPS, "SubmitSnapshotJob")
def submit_snapshot_job(call: Call) -> dict[str, Any]:
    """The Alibaba MPS SubmitSnapshotJob action: a snapshot job from its Input, SnapshotConfig and pipeline."""
    p = call.params
    source = _location(call, p.obj("Input", required=True), "Input")
    config = dict(p.obj("SnapshotConfig", required=True) or {})
    output_file, tile_file = config.pop("OutputFile", None), config.pop("TileOutputFile", None)
    # One output per job here: a sprite job writes its sheets where TileOutputFile says.
    target = tile_file if config.get("TileOut") and tile_file else output_file
    if target is None:
        raise MissingParameter("SnapshotConfig.OutputFile is mandatory for this action.")
    job = call.service.submit_snapshot_job(
        source,
        _location(call, target, "SnapshotConfig.OutputFile"),
        from_mps_config(config),
        user_data=p.get("UserData"),
        pipeline_id=p.get("PipelineId"),
    )
    return {"SnapshotJob": mps_job(call, job)}


@action(MPS, "QuerySnapshotJobList")
def query_snapshot_job_list(call: Call) -> dict[str, Any]:
    """The Alibaba MPS QuerySnapshotJobList action: jobs by id, or by pipeline, state and time."""
    p = call.params
    ids = [i.strip() for i in (p.get("SnapshotJobIds") or "").split(",") if i.strip()]
    if ids:
        if len(ids) > 10:
            raise InvalidParameter("SnapshotJobIds takes at most 10 IDs")
        found, missing = [], []
        for job_id in ids:
            try:
                found.append(mps_job(call, call.service.get_snapshot_job(job_id)))
            except JobNotFound:
                missing.append(job_id)
        return {"SnapshotJobList": {"SnapshotJob": found}, "NonExistSnapshotJobIds": {"String": missing}}
    size = p.integer("MaximumPageSize", 30) or 30
    if not 1 <= size <= LIST_MAX:
        raise InvalidParameter(f"MaximumPageSize must be in 1..{LIST_MAX}, not {size}")
    state = p.get("State")
    if state is not None and state not in STATUS_OF:
        raise InvalidParameter(f"State must be one of {', '.join(STATUS_OF)}, not {state!r}")
    jobs: list[Any] = []
    token = p.get("NextPageToken")
    while True:  # the service pages by at most 100
        page = call.service.list_snapshot_jobs(
            status=STATUS_OF.get(state) if state else None,
            start_of_create_time=p.get("StartOfJobCreatedTimeRange"),
            end_of_create_time=p.get("EndOfJobCreatedTimeRange"),
            page_size=min(SERVICE_PAGE_MAX, size - len(jobs)),
            next_page_token=token,
            pipeline_id=p.get("PipelineId") or None,
        )
        jobs += page.jobs
        token = page.next_page_token
        if token is None or len(jobs) >= size:
            break
    return {
        "SnapshotJobList": {"SnapshotJob": [mps_job(call, j) for j in jobs]},
        "NextPageToken": token,
        "NonExistSnapshotJobIds": {"String": []},
    }


# -- pipelines -------------------------------------------------------------------------------


def _notify_url(call: Call) -> str | None:
    notify = call.params.obj("NotifyConfig")
    if not notify:
        return None
    for key in ("Topic", "QueueName", "MqTopic"):
        value = notify.get(key)
        if value:
            if not str(value).startswith(("http://", "https://")):
                raise InvalidParameter(f"NotifyConfig.{key} must be an http(s) URL here, not {value!r}")
            return str(value)
    return None


def mps_pipeline(pipe: Any) -> dict[str, Any]:
    """A pipeline as MPS answers it."""
    return {
        "Id": pipe.id,
        "Name": pipe.name,
        "State": pipe.state,
        "Speed": "Standard",
        "QuotaAllocate": pipe.max_concurrency,
        "Role": "",
        "CreationTime": iso(pipe.create_time),
        "NotifyConfig": {"Topic": pipe.notify_url} if pipe.notify_url else {},
    }


@action(MPS, "AddPipeline")
def add_pipeline(call: Call) -> dict[str, Any]:
    """The Alibaba MPS AddPipeline action: a pipeline, with its notify URL."""
    pid = call.service.create_pipeline(call.params.get("Name", required=True), notify_url=_notify_url(call))
    return {"Pipeline": mps_pipeline(call.service.get_pipeline(pid))}


@action(MPS, "UpdatePipeline")
def update_pipeline(call: Call) -> dict[str, Any]:
    """The Alibaba MPS UpdatePipeline action: a pipeline's name, state or notify URL."""
    p = call.params
    pipe = call.service.update_pipeline(
        p.get("PipelineId", required=True), name=p.get("Name"), notify_url=_notify_url(call), state=p.get("State")
    )
    return {"Pipeline": mps_pipeline(pipe)}


@action(MPS, "QueryPipelineList")
def query_pipeline_list(call: Call) -> dict[str, Any]:
    """The Alibaba MPS QueryPipelineList action: pipelines by id, with those not found."""
    ids = [i.strip() for i in (call.params.get("PipelineIds", required=True) or "").split(",") if i.strip()]
    known = {pipe.id: pipe for pipe in call.service.find_pipelines(ids=ids).items}
    return {
        "PipelineList": {"Pipeline": [mps_pipeline(known[i]) for i in ids if i in known]},
        "NonExistPids": {"String": [i for i in ids if i not in known]},
    }


@action(MPS, "SearchPipeline")
def search_pipeline(call: Call) -> dict[str, Any]:
    """The Alibaba MPS SearchPipeline action: pipelines by state, a page at a time."""
    p = call.params
    number, size = p.integer("PageNumber", 1) or 1, p.integer("PageSize", 10) or 10
    if number < 1 or not 1 <= size <= 100:
        raise InvalidParameter("PageNumber must be >= 1 and PageSize in 1..100")
    state = p.get("State")
    found = call.service.find_pipelines(
        state=None if state in (None, "All") else state, offset=(number - 1) * size, limit=size
    )
    return {
        "PipelineList": {"Pipeline": [mps_pipeline(x) for x in found.items]},
        "TotalCount": found.total,
        "PageNumber": number,
        "PageSize": size,
    }


@action(MPS, "DeletePipeline")
def delete_pipeline(call: Call) -> dict[str, Any]:
    """The Alibaba MPS DeletePipeline action: delete a pipeline."""
    pid = call.params.get("PipelineId", required=True)
    call.service.delete_pipeline(pid)
    return {"PipelineId": pid}
