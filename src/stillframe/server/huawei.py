"""Huawei VOD and MPC thumbnail endpoints and the IAM project lookup, as
huaweicloudsdkvod / huaweicloudsdkmpc call them (snake_case JSON, errors as
`{"error_code", "error_msg"}` with the request id in the X-Request-Id header).

    GET    /v3/projects?name=REGION                   IAM: {"projects": [{"id": project_id}]}
    POST   /v1/{project_id}/thumbnails                MPC CreateThumbnailsTask
    GET    /v1/{project_id}/thumbnails                MPC ListThumbnailsTask
    DELETE /v1/{project_id}/thumbnails?task_id=       MPC DeleteThumbnailsTask (cancels a waiting task)
    POST   /v1.0/{project_id}/asset/reproduction      VOD PublishAssetFromObs: a bucket object becomes an asset
    POST   /v1.0/{project_id}/asset/process           VOD CreateAssetProcessTask (thumbnail only)
    GET    /v1/{project_id}/asset/thumbnails          VOD ListThumbnailInfo
    GET    /v1/{project_id}/asset/thumbnail/details   VOD ListThumbnailDetails

An asset is a media ID of the JobService (register_media) made from a served
bucket's object by PublishAssetFromObs; its thumbnails are written to the same
bucket under thumbnails/{asset_id}/{random}/. MPC outputs go to the output folder
plus a random folder (unless original_dir=1), as MPC does. Files are named in
results as obs://bucket/object.
"""

from __future__ import annotations

import os
import posixpath
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from stillframe.errors import (
    Conflict,
    InvalidParameter,
    JobNotFound,
    MissingParameter,
    PermissionDenied,
    ResourceNotFound,
    StillframeError,
    error_for_code,
)
from stillframe.jobs.config import SnapshotConfig, from_huawei_para
from stillframe.jobs.model import SnapshotJob
from stillframe.jobs.service import JobService
from stillframe.sampling import Dots, Interval
from stillframe.server.answers import error_response, json_response
from stillframe.server.auth import Authenticate, HuaweiBackend, principal
from stillframe.server.buckets import REMOTE
from stillframe.server.context import ServerContext
from stillframe.server.limits import parse_json
from stillframe.server.tenant import Tenant

__all__ = ["mpc_config", "routes", "vod_thumbnail_para"]

MPC_TIME = "%Y%m%d%H%M%S"  # MPC prints and takes times as yyyymmddhhmmss, UTC
MPC_STATUS = {"Init": "WAITING", "Processing": "PROCESSING", "Success": "SUCCEEDED", "Fail": "FAILED"}
CANCELED = JobService.CANCELED  # the job Code of a cancelled MPC task (status CANCELED)
TASK_IDS_MAX = 10


class ProjectMismatch(PermissionDenied):
    code = "APIGW.0302"
    http_status = 403


@dataclass
class HwCall:
    """One call: the shared context, the query and JSON body, and the job service as
    the caller's account may use it."""

    ctx: ServerContext
    query: QueryParams
    body: dict[str, Any]
    service: Tenant


Handler = Callable[[HwCall], dict[str, Any]]


# -- plumbing -----------------------------------------------------------------------------


def _endpoint(ctx: ServerContext, action: str, handler: Handler, project: bool = True):
    """Check the path's project, then run `handler` on a worker thread (JobService
    calls block; a synchronous snapshot runs inside the request). The request was
    read and authenticated before (limits.BodyLimit, auth.HuaweiBackend). `action`
    (the SDK's operation name) goes into the request's log line."""

    async def endpoint(request: Request) -> Response:
        request.state.action = action
        rid = request.state.request_id
        try:
            if project and request.path_params.get("project_id") != ctx.project_id:
                raise ProjectMismatch(
                    f"The IAM user is not authorized to access the API: project "
                    f"{request.path_params.get('project_id')!r} is not served here"
                )
            body: dict[str, Any] = {}
            raw = request.state.body
            if raw and request.method in ("POST", "PUT"):
                body = parse_json(raw, "the request body", ctx.limits.json_depth)
                if not isinstance(body, dict):
                    raise InvalidParameter("the request body must be a JSON object")
            call = HwCall(ctx, request.query_params, body, ctx.tenant(principal(request.scope).account))
            result = await run_in_threadpool(handler, call)
        except StillframeError as exc:
            return error_response(request.scope, exc, ctx.buckets)
        return json_response(result, headers={"X-Request-Id": rid})

    return endpoint


def _qint(q: QueryParams, name: str, default: int, lo: int, hi: int) -> int:
    raw = q.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidParameter(f"{name} must be an integer, not {raw!r}") from None
    if not lo <= value <= hi:
        raise InvalidParameter(f"{name} must be in {lo}..{hi}, not {value}")
    return value


def _num(d: Mapping[str, Any], name: str) -> float | None:
    v = d.get(name)
    if v is None or v == "":
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        raise InvalidParameter(f"thumbnail_para.{name} must be a number, not {v!r}") from None


def _bint(body: Mapping[str, Any], name: str, default: int) -> int:
    v = body.get(name)
    if v is None or v == "":
        return default
    try:
        return int(v)
    except (TypeError, ValueError):
        raise InvalidParameter(f"{name} must be an integer, not {v!r}") from None


def _obs(spec: Any, what: str) -> tuple[str, str]:
    """(bucket, object) of an ObsObjInfo / FileAddr."""
    if not isinstance(spec, Mapping):
        raise MissingParameter(f"{what} is required: {{bucket, location, object}}")
    bucket, obj = spec.get("bucket"), spec.get("object")
    if not bucket:
        raise MissingParameter(f"{what}.bucket is required")
    if obj is None:
        raise MissingParameter(f"{what}.object is required")
    return str(bucket), str(obj)


def _named(ctx: ServerContext, path_or_url: str | None) -> tuple[str, str] | None:
    """(bucket, object) of a file this server reads or wrote."""
    if not path_or_url:
        return None
    named = ctx.buckets.name_of(path_or_url)
    if named is None and path_or_url.startswith(REMOTE):  # oss://bucket/object as given
        bucket, _, obj = path_or_url.split("://", 1)[1].partition("/")
        return bucket, obj
    return named


def _obs_url(ctx: ServerContext, path_or_url: str) -> str:
    named = _named(ctx, path_or_url)
    return f"obs://{named[0]}/{named[1]}" if named else path_or_url


def _scrub(ctx: ServerContext, text: str | None) -> str | None:
    """A message with server paths written as obs://bucket/object (the engine names
    the files it read; callers know objects, not server paths)."""
    return ctx.buckets.scrub(text, "obs")


def _stamp(t_: float | None) -> str | None:
    return None if t_ is None else datetime.fromtimestamp(t_, tz=timezone.utc).strftime(MPC_TIME)


def _parse_stamp(raw: str | None, name: str) -> datetime | None:
    if not raw:
        return None
    try:
        return datetime.strptime(raw, MPC_TIME).replace(tzinfo=timezone.utc)
    except ValueError:
        raise InvalidParameter(f"{name} must be yyyymmddhhmmss (UTC), not {raw!r}") from None


# -- MPC ----------------------------------------------------------------------------------


def mpc_config(p: Mapping[str, Any]) -> SnapshotConfig:
    """MPC `thumbnail_para`: type TIME (every `time` s, default 12, from `start_time`
    for `duration` s), DOTS (`dots`, seconds) or DOTS_MS (`dots_ms`); `width` and
    `height` (0 = follow the source), else `max_length` (long side, default 480)."""
    kind = str(p.get("type") or "TIME").upper()
    fmt = _num(p, "format")
    if fmt not in (None, 1):
        raise InvalidParameter(f"thumbnail_para.format must be 1 (jpg), not {fmt:g}")
    sampling: Interval | Dots
    if kind == "TIME":
        every = _num(p, "time") or 12.0
        if not 1 <= every <= 100:
            raise InvalidParameter(f"thumbnail_para.time must be in 1..100 seconds, not {every:g}")
        start, duration = _num(p, "start_time") or 0.0, _num(p, "duration")
        sampling = Interval(every, start, None if duration is None else int(duration // every) + 1)
    elif kind in ("DOTS", "DOTS_MS"):
        field, scale = ("dots", 1.0) if kind == "DOTS" else ("dots_ms", 1000.0)
        dots = p.get(field)
        if not dots or not isinstance(dots, list):
            raise MissingParameter(f"thumbnail_para.{field} is required when type is {kind}")
        if not all(isinstance(d, (int, float)) and not isinstance(d, bool) for d in dots):
            raise InvalidParameter(f"thumbnail_para.{field} must be a list of numbers, not {dots!r}")
        sampling = Dots([d / scale for d in dots])
    else:
        raise InvalidParameter(f"thumbnail_para.type must be TIME, DOTS or DOTS_MS, not {kind!r}")
    width, height = (int(_num(p, k) or 0) or None for k in ("width", "height"))
    max_length = None if width or height else int(_num(p, "max_length") or 480)
    return SnapshotConfig(sampling=sampling, width=width, height=height, max_length=max_length)


def _mpc_task(ctx: ServerContext, job: SnapshotJob) -> dict[str, Any]:
    """A ThumbTask: input and output as {bucket, location, object}, the pictures by name."""
    canceled = job.status == "Fail" and job.code == CANCELED
    result = job.result or {}
    files = list(result.get("files") or [])
    task: dict[str, Any] = {
        "task_id": job.id,
        "status": "CANCELED" if canceled else MPC_STATUS.get(job.status, job.status),
        "create_time": _stamp(job.create_time),
        "end_time": _stamp(job.finish_time),
        "user_data": job.user_data,
        "description": _scrub(ctx, job.message) or (job.code or ""),
        "thumbnail_info": [{"pic_name": posixpath.basename(str(f))} for f in files],
    }
    src = _named(ctx, job.input.get("Media"))
    if src:
        task["input"] = {"bucket": src[0], "location": ctx.region, "object": src[1]}
    out = _named(ctx, job.output.get("Media"))
    if out:
        task["output"] = {"bucket": out[0], "location": ctx.region, "object": posixpath.dirname(out[1])}
    if files:
        task["output_file_name"] = posixpath.basename(str(files[0]))
    return {k: v for k, v in task.items() if v is not None}


def mpc_create(call: HwCall) -> dict[str, Any]:
    ctx, body = call.ctx, call.body
    in_bucket, in_obj = _obs(body.get("input"), "input")
    out_bucket, out_obj = _obs(body.get("output"), "output")
    para = body.get("thumbnail_para")
    if not isinstance(para, Mapping):
        raise MissingParameter("thumbnail_para is required")
    cfg = mpc_config(para)
    if _bint(body, "tar", 1) == 0:
        raise InvalidParameter("tar=0 (a tar package of the pictures) is not offered here; give tar=1")
    if _bint(body, "sync", 0) == 1 and not cfg.synchronous:
        raise InvalidParameter("sync=1 takes one time point: type DOTS with a single dot")
    folder = out_obj.strip("/")
    if _bint(body, "original_dir", 0) != 1:  # as MPC: a random folder keeps tasks apart
        folder = posixpath.join(folder, uuid.uuid4().hex[:16]) if folder else uuid.uuid4().hex[:16]
    stem = str(para.get("output_filename") or "")
    if "/" in stem or "\\" in stem:
        raise InvalidParameter(f"thumbnail_para.output_filename is a file name, not a path: {stem!r}")
    one = isinstance(cfg.sampling, Dots) and len(cfg.sampling.times) == 1
    name = f"{stem}.jpg" if stem and one else f"{stem + '_' if stem else ''}{{Count}}.jpg"
    job = call.service.submit_snapshot_job(
        input=ctx.buckets.locate(in_bucket, in_obj),
        output=ctx.buckets.locate(out_bucket, posixpath.join(folder, name)),
        config=cfg,
        user_data=body.get("user_data"),
    )
    # A synchronous task that failed answers with its error; a queued one is a task,
    # whatever a worker has done with it since (it may have failed already).
    if cfg.synchronous and job.status == "Fail":
        raise error_for_code(job.code or "InternalError", _scrub(ctx, job.message) or "the snapshot failed")
    task = _mpc_task(ctx, job)
    reply: dict[str, Any] = {
        k: task[k] for k in ("task_id", "status", "create_time", "output", "output_file_name") if k in task
    }
    times = (job.result or {}).get("times") or []
    if job.finished and times:
        reply["thumbnail_time"] = f"{times[0]:g}"
    return reply


def mpc_list(call: HwCall) -> dict[str, Any]:
    ctx, q = call.ctx, call.query
    ids = q.getlist("task_id")
    if len(ids) > TASK_IDS_MAX:
        raise InvalidParameter(f"at most {TASK_IDS_MAX} task_id may be given, not {len(ids)}")
    status = q.get("status") or None
    wanted = {v: k for k, v in MPC_STATUS.items()} | {"CANCELED": "Fail"}
    if status is not None and status not in wanted:
        raise InvalidParameter(f"status must be one of {sorted(wanted)}, not {status!r}")
    page, size = _qint(q, "page", 0, 0, 100000), _qint(q, "size", 10, 1, 100)
    if ids:  # the docs: with task_id, the other filters do not apply
        jobs = []
        for job_id in ids:
            try:
                jobs.append(call.service.get_snapshot_job(job_id))
            except JobNotFound:
                continue
        tasks = [_mpc_task(ctx, j) for j in jobs]
        return {"task_array": tasks, "is_truncated": 0, "total": len(tasks)}
    found = call.service.find_snapshot_jobs(
        status=wanted.get(status) if status else None,
        code=CANCELED if status == "CANCELED" else None,
        not_code=CANCELED if status == "FAILED" else None,
        start_of_create_time=_parse_stamp(q.get("start_time"), "start_time"),
        end_of_create_time=_parse_stamp(q.get("end_time"), "end_time"),
        offset=page * size,
        limit=size,
    )
    return {
        "task_array": [_mpc_task(ctx, j) for j in found.items],
        "is_truncated": int(found.total > (page + 1) * size),
        "total": found.total,
    }


def cancel_task(call: HwCall, job_id: str) -> None:
    """A task still waiting becomes FAILED with Code TaskCanceled (MPC: CANCELED);
    one running or finished answers Conflict, in MPC's words."""
    try:
        call.service.cancel_snapshot_job(job_id)
    except Conflict:
        job = call.service.get_snapshot_job(job_id)
        status = "CANCELED" if job.code == CANCELED else MPC_STATUS.get(job.status, job.status)
        raise Conflict(f"task {job_id} is {status}: only waiting tasks can be cancelled") from None


def mpc_delete(call: HwCall) -> dict[str, Any]:
    job_id = call.query.get("task_id")
    if not job_id:
        raise MissingParameter("task_id is required")
    cancel_task(call, job_id)
    return {}


# -- VOD ----------------------------------------------------------------------------------


def vod_thumbnail_para(config: Mapping[str, Any]) -> dict[str, Any]:
    """A job's SnapshotConfig dict as VOD's `thumbnail_para` (integer seconds)."""
    s = config.get("sampling") or {}
    para: dict[str, Any]
    if s.get("kind") == "interval":
        para = {"type": "time", "time": round(s["every"])}
    elif s.get("kind") == "dots":
        para = {"type": "dots", "dots": [round(x) for x in s["times"]]}
    else:
        para = {"type": "quantity", "quantity": s.get("count")}
        if s.get("every"):
            para["quantity_time"] = round(s["every"])
    para.update(
        format=1,
        aspect_ratio=1 if config.get("aspect_ratio") == "16:9" else 0,
        max_length=config.get("max_length"),
        cover_position=config.get("cover_position"),
    )
    return {k: v for k, v in para.items() if v is not None}


def _vod_thumbnail(call: HwCall, asset_id: str, para: Any) -> str:
    if not isinstance(para, Mapping):
        raise MissingParameter("thumbnail is required: {type, time | dots | quantity, ...}")
    cfg = from_huawei_para(para)
    try:
        url = call.service.get_media(asset_id).url
    except ResourceNotFound:
        raise ResourceNotFound(f"asset {asset_id} does not exist") from None
    named = _named(call.ctx, url)
    if named is None:
        raise InvalidParameter(f"asset {asset_id} is not in a bucket served here: its thumbnails have nowhere to go")
    obj = f"thumbnails/{asset_id}/{uuid.uuid4().hex[:16]}/{{Count}}.jpg"
    job = call.service.submit_snapshot_job(input=asset_id, output=call.ctx.buckets.locate(named[0], obj), config=cfg)
    return str(job.id)


def vod_publish_from_obs(call: HwCall) -> dict[str, Any]:
    ctx, body = call.ctx, call.body
    bucket, obj = _obs(body.get("input"), "input")
    where = ctx.buckets.locate(bucket, obj)
    path = where["Media"]
    if not path.startswith(REMOTE) and not os.path.isfile(path):
        raise ResourceNotFound(f"object {obj!r} is not in bucket {bucket!r}")
    asset_id = call.service.register_media(path, root=where.get("Root"))
    if body.get("thumbnail") is not None:
        _vod_thumbnail(call, asset_id, body["thumbnail"])
    return {"asset_id": asset_id}


def vod_process(call: HwCall) -> dict[str, Any]:
    body = call.body
    asset_id = body.get("asset_id")
    if not asset_id:
        raise MissingParameter("asset_id is required")
    if body.get("template_group_name") or body.get("auto_encrypt") or body.get("subtitle_id"):
        raise InvalidParameter("only thumbnail processing is offered here (no transcoding, encryption or subtitles)")
    return {"asset_id": asset_id, "thumbnail_task_id": _vod_thumbnail(call, str(asset_id), body.get("thumbnail"))}


def vod_list(call: HwCall) -> dict[str, Any]:
    q = call.query
    task_id = q.get("task_id") or None
    found = call.service.find_snapshot_jobs(
        ids=None if task_id is None else [task_id],
        media=q.get("asset_id") or None,
        offset=_qint(q, "offset", 0, 0, 20000),
        limit=_qint(q, "limit", 10, 1, 100),
    )
    return {
        "total": found.total,
        "thumbnails": [
            {"task_id": job.id, "thumbnail_para": vod_thumbnail_para(job.config), "thumbnail_count": job.count or 0}
            for job in found.items
        ],
    }


def vod_details(call: HwCall) -> dict[str, Any]:
    ctx, q = call.ctx, call.query
    task_id = q.get("task_id")
    if not task_id:
        raise MissingParameter("task_id is required")
    offset, limit = _qint(q, "offset", 0, 0, 20000), _qint(q, "limit", 10, 1, 100)
    result = call.service.get_snapshot_job(task_id).result or {}
    shots = list(zip(result.get("times") or [], result.get("files") or []))  # a job's own result, cut here
    return {
        "total": len(shots),
        "thumbnail_result": [
            {"offset": round(at), "url": _obs_url(ctx, str(url))} for at, url in shots[offset : offset + limit]
        ],
    }


# -- IAM ----------------------------------------------------------------------------------


def iam_projects(call: HwCall) -> dict[str, Any]:
    """Every region name maps to this server's one project, so SDK code that names
    a real region (cn-north-4) finds it too."""
    ctx = call.ctx
    name = call.query.get("name") or ctx.region
    project = {
        "id": ctx.project_id,
        "name": name,
        "domain_id": ctx.project_id,
        "enabled": True,
        "is_domain": False,
        "parent_id": ctx.project_id,
        "description": "",
    }
    return {"projects": [project], "links": {"self": "/v3/projects", "next": None, "previous": None}}


def routes(ctx: ServerContext) -> list[BaseRoute]:
    """The routes of Huawei's VOD and MPC thumbnail APIs and IAM's project lookup."""
    v1, v10 = "/v1/{project_id}", "/v1.0/{project_id}"
    table: list[tuple[str, str, str, Handler]] = [
        ("GET", "/v3/projects", "KeystoneListProjects", iam_projects),
        ("POST", f"{v1}/thumbnails", "CreateThumbnailsTask", mpc_create),
        ("GET", f"{v1}/thumbnails", "ListThumbnailsTask", mpc_list),
        ("DELETE", f"{v1}/thumbnails", "DeleteThumbnailsTask", mpc_delete),
        ("POST", f"{v10}/asset/reproduction", "PublishAssetFromObs", vod_publish_from_obs),
        ("POST", f"{v10}/asset/process", "CreateAssetProcessTask", vod_process),
        ("GET", f"{v1}/asset/thumbnails", "ListThumbnailInfo", vod_list),
        ("GET", f"{v1}/asset/thumbnail/details", "ListThumbnailDetails", vod_details),
    ]
    signed = [Middleware(Authenticate, backend=HuaweiBackend(ctx))]
    return [
        Route(
            path, _endpoint(ctx, action, handler, project="{project_id}" in path), methods=[method], middleware=signed
        )
        for method, path, action, handler in table
    ]
