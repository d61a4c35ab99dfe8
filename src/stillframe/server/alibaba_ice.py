"""ICE 2020-11-09 snapshot jobs and snapshot templates (CustomTemplate, Type 2)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from stillframe.errors import InvalidParameter, MissingParameter, StillframeError
from stillframe.jobs.config import from_ice_config
from stillframe.jobs.model import iso
from stillframe.server.alibaba_rpc import ICE, Call, action, ice_location, ice_media

SNAPSHOT_TEMPLATE = 2  # CustomTemplate Type
SUBTYPES = {1: "Normal", 2: "Sprite", 3: "WebVtt"}
SUBTYPE_OF = {v: k for k, v in SUBTYPES.items()}


def _number(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def ice_template_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """A job's settings (SnapshotConfig.to_dict) in ICE's template spelling (Time in
    milliseconds): the template's settings with OverwriteParams applied, which
    `from_ice_config` reads back into the same settings."""
    s = config.get("sampling") or {}
    out: dict[str, Any] = {"Type": config.get("type"), "FrameType": config.get("frame_type")}
    if s.get("kind") == "dots":
        out["Time"] = round((s.get("times") or [0.0])[0] * 1000)  # ICE names one time point, not a list
    elif s.get("kind") == "interval":
        out.update(Time=round((s.get("start") or 0.0) * 1000), Interval=_number(s.get("every")), Count=s.get("count"))
    elif s.get("kind") == "quantity":
        out.update(Interval=_number(s.get("every") or 0), Count=s.get("count"))
    out.update(
        Width=config.get("width"),
        Height=config.get("height"),
        BlackLevel=config.get("black_level"),
        PixelBlackThreshold=config.get("pixel_black_threshold"),
    )
    if config.get("type") == "WebVtt":
        out["IsSptFrag"] = bool(config.get("is_spt_frag"))
    sprite = config.get("sprite")
    if sprite and config.get("type") != "Normal":
        out["SpriteSnapshotConfig"] = {
            "Lines": sprite.get("lines"),
            "Columns": sprite.get("columns"),
            "CellWidth": sprite.get("cell_width"),
            "CellHeight": sprite.get("cell_height"),
            "Margin": sprite.get("margin"),
            "Padding": sprite.get("padding"),
            "Color": sprite.get("color"),
            "IsKeepCellPic": sprite.get("keep_cell_pic"),
            "CellSelStep": sprite.get("cell_sel_step"),
        }
        out["SpriteSnapshotConfig"] = {k: v for k, v in out["SpriteSnapshotConfig"].items() if v is not None}
    return {k: v for k, v in out.items() if v is not None}


def ice_job(call: Call, job: Any) -> dict[str, Any]:
    """A job as ICE answers it, with its input and output named as the client named them."""
    d = job.to_dict()
    d["Input"] = ice_media(call.ctx, job.input)
    d["Output"] = ice_media(call.ctx, job.output)
    d["Message"] = call.ctx.buckets.scrub(job.message)
    return d


# What a job writes into the folder an Output media ID names, by its Type.
MEDIA_OUTPUT = {"Normal": "{Count}.jpg", "Sprite": "sprite-{TileCount}.jpg", "WebVtt": "snapshots.vtt"}


def _config(call: Call, template_config: Mapping[str, Any] | None) -> dict[str, Any]:
    """submit_snapshot_job's config / template_id from ICE's TemplateConfig: a
    TemplateId, OverwriteParams alone, or both (the template's settings overwritten)."""
    if template_config is None:
        raise MissingParameter("TemplateConfig is mandatory for this action.")
    tid = template_config.get("TemplateId")
    over = template_config.get("OverwriteParams")
    if over is not None and not isinstance(over, Mapping):
        raise InvalidParameter("TemplateConfig.OverwriteParams must be an object")
    if not tid and not over:
        raise MissingParameter("TemplateConfig needs a TemplateId or OverwriteParams")
    if not over:
        return {"template_id": tid}
    if not tid:
        return {"config": from_ice_config(over)}
    tpl = call.service.get_snapshot_template(tid)
    source = dict(tpl.config.get("source") or {})
    source.update(over)
    return {"template_id": tid, "config": from_ice_config(source, over.get("Type") or tpl.type)}


@action(ICE, "SubmitSnapshotJob")
def submit_snapshot_job(call: Call) -> dict[str, Any]:
    """The Alibaba ICE SubmitSnapshotJob action: a snapshot job from its input, output and TemplateConfig."""
    p = call.params
    schedule = p.obj("ScheduleConfig") or {}
    template_config = p.obj("TemplateConfig", required=True)
    job = call.service.submit_snapshot_job(
        ice_location(call, p.obj("Input", required=True), "Input"),
        ice_location(call, p.obj("Output", required=True), "Output", _media_output_name(call, template_config)),
        name=p.get("Name"),
        user_data=p.get("UserData"),
        pipeline_id=schedule.get("PipelineId") or None,
        **_config(call, template_config),
    )
    return {"JobId": job.id}


def _media_output_name(call: Call, template_config: Mapping[str, Any] | None) -> str:
    """The file name a job of this TemplateConfig writes into an Output media's folder
    (by its Type); what the TemplateConfig lacks is for _config to say."""
    tc = template_config or {}
    over = tc.get("OverwriteParams")
    kind = over.get("Type") if isinstance(over, Mapping) else None
    if not kind and tc.get("TemplateId"):
        try:
            kind = call.service.get_snapshot_template(str(tc["TemplateId"])).type
        except StillframeError:
            kind = None
    return MEDIA_OUTPUT.get(str(kind), "{Count}.jpg")


@action(ICE, "GetSnapshotJob")
def get_snapshot_job(call: Call) -> dict[str, Any]:
    """The Alibaba ICE GetSnapshotJob action: one snapshot job."""
    job = call.service.get_snapshot_job(call.params.get("JobId", required=True))
    # The SDK's model reads TemplateConfig as a string of JSON, as templates carry theirs.
    return {"SnapshotJob": {**ice_job(call, job), "TemplateConfig": json.dumps(ice_template_config(job.config))}}


@action(ICE, "ListSnapshotJobs")
def list_snapshot_jobs(call: Call) -> dict[str, Any]:
    """The Alibaba ICE ListSnapshotJobs action: snapshot jobs by status and time, with a page token."""
    p = call.params
    page = call.service.list_snapshot_jobs(
        job_id=p.get("JobId"),
        status=p.get("Status"),
        start_of_create_time=p.get("StartOfCreateTime"),
        end_of_create_time=p.get("EndOfCreateTime"),
        order_by=p.get("OrderBy") or "CreateTimeDesc",
        page_size=p.integer("PageSize", 20),
        next_page_token=p.get("NextPageToken"),
    )
    return {"Jobs": [ice_job(call, j) for j in page.jobs], "NextPageToken": page.next_page_token}


@action(ICE, "GetSnapshotUrls")
def get_snapshot_urls(call: Call) -> dict[str, Any]:
    """The Alibaba ICE GetSnapshotUrls action: the URLs of a job's snapshots, a page at a time."""
    p = call.params
    size, number, order = p.integer("PageSize", 10), p.integer("PageNumber", 1), p.get("OrderBy") or "Asc"
    if not isinstance(size, int) or not 1 <= size <= 30:
        raise InvalidParameter(f"PageSize must be in 1..30, not {size!r}")
    if order not in ("Asc", "Desc"):
        raise InvalidParameter(f"OrderBy must be Asc or Desc, not {order!r}")
    if not isinstance(number, int) or number < 1:
        raise InvalidParameter(f"PageNumber must be >= 1, not {number!r}")
    job = call.service.get_snapshot_job(p.get("JobId", required=True))
    urls = job.outputs()  # a job's own result: its pages are cut here, not in the store
    if order == "Desc":
        urls.reverse()
    oss = call.ctx.buckets.oss_url
    vtt = (job.result or {}).get("webvtt")
    return {
        "Total": len(urls),
        "SnapshotUrls": [oss(u) for u in urls[(number - 1) * size : number * size]],
        "WebVTTUrl": oss(vtt) if vtt else None,
    }


# -- snapshot templates --------------------------------------------------------------------


def _custom_template(tpl: Any) -> dict[str, Any]:
    source = tpl.config.get("source") or {}
    return {
        "TemplateId": tpl.id,
        "TemplateName": tpl.name,
        "Type": SNAPSHOT_TEMPLATE,
        "TypeName": "SnapshotTemplate",
        "Subtype": SUBTYPE_OF.get(tpl.type, 1),
        "SubtypeName": tpl.type,
        "TemplateConfig": json.dumps(source),
        "IsDefault": False,
        "Status": "Normal",
        "CreateTime": iso(tpl.create_time),
        "ModifiedTime": iso(tpl.modified_time),
    }


def _snapshot_type(call: Call) -> None:
    kind = call.params.integer("Type")
    if kind is not None and kind != SNAPSHOT_TEMPLATE:
        raise InvalidParameter(f"only snapshot templates (Type {SNAPSHOT_TEMPLATE}) are served here, not Type {kind}")


def _subtype(call: Call) -> str | None:
    sub = call.params.integer("Subtype")
    if sub is None:
        return None
    if sub not in SUBTYPES:
        raise InvalidParameter(f"Subtype of a snapshot template must be 1, 2 or 3, not {sub}")
    return SUBTYPES[sub]


@action(ICE, "CreateCustomTemplate")
def create_custom_template(call: Call) -> dict[str, Any]:
    """The Alibaba ICE CreateCustomTemplate action: a snapshot template from its TemplateConfig."""
    p = call.params
    if p.integer("Type") is None:
        raise MissingParameter("Type is mandatory for this action.")
    _snapshot_type(call)
    config = p.obj("TemplateConfig", required=True) or {}
    tid = call.service.create_snapshot_template(p.get("Name", required=True), config, _subtype(call))
    tpl = _custom_template(call.service.get_snapshot_template(tid))
    tpl["Subtype"] = str(tpl["Subtype"])  # this one response spells it as a string
    return {"CustomTemplate": tpl}


@action(ICE, "GetCustomTemplate")
def get_custom_template(call: Call) -> dict[str, Any]:
    """The Alibaba ICE GetCustomTemplate action: one snapshot template."""
    _snapshot_type(call)
    tpl = call.service.get_snapshot_template(call.params.get("TemplateId", required=True))
    return {"CustomTemplate": _custom_template(tpl)}


@action(ICE, "ListCustomTemplates")
def list_custom_templates(call: Call) -> dict[str, Any]:
    """The Alibaba ICE ListCustomTemplates action: snapshot templates, a page at a time."""
    p = call.params
    _snapshot_type(call)
    number, size = p.integer("PageNumber", 1) or 1, p.integer("PageSize", 20) or 20
    if number < 1 or not 1 <= size <= 100:
        raise InvalidParameter("PageNumber must be >= 1 and PageSize in 1..100")
    found = call.service.find_snapshot_templates(
        _subtype(call),
        ids=[p.get("TemplateId")] if p.get("TemplateId") else None,
        name=p.get("Name") or None,
        newest_first=(p.get("OrderBy") or "CreateTimeDesc") == "CreateTimeDesc",
        offset=(number - 1) * size,
        limit=size,
    )
    return {"CustomTemplateList": [_custom_template(t) for t in found.items], "Total": found.total}


@action(ICE, "UpdateCustomTemplate")
def update_custom_template(call: Call) -> dict[str, Any]:
    """The Alibaba ICE UpdateCustomTemplate action: rename a template or replace its configuration."""
    p = call.params
    call.service.update_snapshot_template(p.get("TemplateId", required=True), p.get("Name"), p.obj("TemplateConfig"))
    return {"Success": True}


@action(ICE, "DeleteCustomTemplate")
def delete_custom_template(call: Call) -> dict[str, Any]:
    """The Alibaba ICE DeleteCustomTemplate action: delete a snapshot template."""
    call.service.delete_snapshot_template(call.params.get("TemplateId", required=True))
    return {"Success": True}
