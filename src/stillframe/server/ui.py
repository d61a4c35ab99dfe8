"""The read-only preview pages under /ui/: snapshot jobs with their snapshots, sprite
sheets and a player whose seek bar shows the WebVTT thumbnails, and live jobs with
their latest snapshot.

Security model: signing in checks an access key's secret against the server's key
pairs and starts a session kept in the store (auth.SessionBackend): the cookie holds a
random token and nothing else (HttpOnly, SameSite=Strict, Path=/ui); signing out ends
the session for every server sharing the store. The sign-in form carries a token that
must match a cookie set with the form (no other site can sign a browser in), and
failed sign-ins from one address are limited. Every other route needs the session;
forms that change state must come from these pages and carry the session's CSRF
token. A caller sees its own account's jobs only. Files are named by job and
position in the job's result, never by path, and are served only when they resolve
inside a served bucket. `ctx.insecure` turns sign-in off.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import mimetypes
import os
import secrets
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from stillframe.errors import InvalidParameter, NotFound
from stillframe.jobs.live_model import LIVE_STATUSES, render
from stillframe.jobs.model import STATUSES, SnapshotJob
from stillframe.server import _ui_pages as pages
from stillframe.server.auth import (
    COOKIE,
    SESSION_MAX_AGE,
    Authenticate,
    SessionBackend,
    client_address,
    same_origin,
)
from stillframe.server.buckets import Buckets
from stillframe.server.context import ServerContext
from stillframe.server.tenant import Tenant

__all__ = ["COOKIE", "SESSION_MAX_AGE", "routes"]

SIGNIN_COOKIE = "stillframe_ui_signin"  # pairs the sign-in form with the browser it was given to
PAGE_SIZE = 20  # jobs a list page shows unless ?size= says otherwise (1..100)
GALLERY_MAX = 300  # snapshots shown on a job page
VTT_MAX = 8 << 20  # bytes; a thumbnail track is a few KB an hour
_NO_STORE = {"Cache-Control": "no-store"}
LIVE_WINDOW = 30 * 86400.0  # seconds, ListLiveSnapshotJobs' widest window
# What a browser's <video> can be expected to play; other inputs get no player.
PLAYABLE = {".mp4": "video/mp4", ".m4v": "video/mp4", ".webm": "video/webm", ".ogv": "video/ogg", ".mov": "video/mp4"}


def _who(request: Request) -> Any:
    return request.scope.get("state", {}).get("principal")


def _html(request: Request, title: str, body: str, status: int = 200, script: str = "") -> HTMLResponse:
    """A page with a per-response CSP nonce: only this page's own script and style run."""
    nonce = secrets.token_urlsafe(16)
    base = request.scope.get("root_path", "")
    who = _who(request)
    user = None if who is None else (who.access_key_id or "")
    csrf = None if who is None else who.csrf
    csp = (
        f"default-src 'none'; img-src 'self'; media-src 'self'; connect-src 'self'; style-src 'nonce-{nonce}'; "
        f"script-src 'nonce-{nonce}'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
    headers = {
        **_NO_STORE,
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "X-Frame-Options": "DENY",
    }
    page = pages.page(title, body, nonce, base, user, script, csrf=csrf)
    return HTMLResponse(page, status_code=status, headers=headers)


def _local(location: str | None) -> str | None:
    """A local file path from a job's location, or None for URLs and object stores."""
    if not location:
        return None
    if location.startswith("file://"):
        location = location[len("file://") :]
    if "://" in location or not os.path.isabs(location):
        return None
    return location


def _files(job: SnapshotJob, buckets: Buckets) -> dict[str, list[str]]:
    """The job's previewable local files by kind, each named inside a served bucket
    (else left out): the only paths a data route serves, once it has resolved the
    one asked for inside a bucket too. The input counts when it is a video a browser
    plays."""
    r = job.result or {}
    kinds = {
        "snapshot": list(r.get("files") or []),
        "sprite": list(r.get("sprites") or []),
        "cover": [r["cover"]] if r.get("cover") else [],
        "vtt": [r["webvtt"]] if r.get("webvtt") else [],
    }
    out = {k: [p for p in (_local(v) for v in v) if p and buckets.name_of(p)] for k, v in kinds.items()}
    src = _local(job.input.get("Media")) if job.input.get("Type") == "File" else None
    out["input"] = [src] if src and Path(src).suffix.lower() in PLAYABLE and buckets.name_of(src) else []
    return out


def _vtt_for_browser(vtt: str, files: Mapping[str, list[str]], url: Callable[[str, int], str]) -> str:
    """The job's track with each cue's image (relative to the .vtt) replaced by its
    preview URL; an image that is not one of the job's files is dropped."""
    known = {os.path.normpath(p): (kind, i) for kind in ("sprite", "snapshot") for i, p in enumerate(files[kind])}
    text = Path(vtt).read_bytes()[:VTT_MAX].decode("utf-8", "replace").replace("\r\n", "\n")
    out, in_cue = [], False
    for line in text.split("\n"):
        if "-->" in line:
            in_cue = True
        elif not line.strip():
            in_cue = False
        elif in_cue:
            ref, _, frag = line.strip().partition("#")
            target = os.path.normpath(os.path.join(os.path.dirname(vtt), unquote(ref)))
            hit = known.get(target) if "://" not in ref else None
            if hit is None:
                continue
            line = url(*hit) + (f"#{frag}" if frag else "")
        out.append(line)
    return "\n".join(out)


# -- what the routes share -----------------------------------------------------------------
# Each route is a plain function of its request; what the server shares (the service,
# the keys, the buckets) is the app's ServerContext, `request.app.state.ctx`.


def _ctx(request: Request) -> ServerContext:
    ctx: ServerContext = request.app.state.ctx
    return ctx


def _base(request: Request) -> str:
    return str(request.scope.get("root_path", ""))


def _tenant(request: Request) -> Tenant:
    return _ctx(request).tenant(_who(request).account)


async def _run(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    # The service talks to its database synchronously: keep it off the event loop.
    return await asyncio.to_thread(fn, *args, **kwargs)


def _safe_next(request: Request, value: str | None) -> str:
    root = _base(request)
    if value and value.startswith(root + "/") and not value.startswith("//") and "\\" not in value:
        return value
    return f"{root}/jobs"


def _signin_page(request: Request, nxt: str, error: str | None, status: int = 200) -> Response:
    token = secrets.token_urlsafe(32)
    response = _html(request, "Sign in", pages.signin_form(_base(request), nxt, error, token), status=status)
    response.set_cookie(
        SIGNIN_COOKIE,
        token,
        max_age=3600,
        path=_base(request) or "/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


async def _find(request: Request, job_id: str) -> SnapshotJob | None:
    try:
        return await _run(_tenant(request).get_snapshot_job, job_id)
    except NotFound:
        return None


def _data_url(request: Request, job_id: str) -> Callable[[str, int], str]:
    return lambda kind, i: f"{_base(request)}/data/jobs/{job_id}/{kind}/{i}"


def _latest_path(request: Request, job_id: str) -> str | None:
    """The file of a local live job's latest snapshot, inside a served bucket, else None."""
    scoped = _tenant(request)
    found = scoped.get_live_snapshot_job(job_id)
    out = found.snapshot_output
    if out.get("StorageType") != "local":
        return None
    if found.overwrite_format:
        path = os.path.join(out["Bucket"], render(found.overwrite_format, found.id, 0, 0))
    else:
        now = time.time()
        listed = scoped.list_live_snapshot_files(found.id, now - 86400, now + 60, limit=1, sort_by="desc")
        if not listed["FileList"]:
            return None
        path = os.path.join(out["Bucket"], listed["FileList"][0]["OssObject"])
    return _ctx(request).buckets.confined(path)


# -- the routes ------------------------------------------------------------------------------


async def home(request: Request) -> Response:
    """/ui/: the job list."""
    return RedirectResponse(f"{_base(request)}/jobs", status_code=303)


async def signin(request: Request) -> Response:
    """The sign-in form (GET) and its answer (POST): a session for a key of this server."""
    ctx = _ctx(request)
    if ctx.insecure:
        return RedirectResponse(f"{_base(request)}/jobs", status_code=303)
    if request.method == "GET":
        return _signin_page(request, _safe_next(request, request.query_params.get("next")), None)
    form = await request.form()
    nxt = _safe_next(request, str(form.get("next") or ""))
    paired = request.cookies.get(SIGNIN_COOKIE) or ""
    if (
        not same_origin(request.scope)
        or not paired
        or not hmac.compare_digest(paired.encode(), str(form.get("csrf") or "").encode())
    ):
        return PlainTextResponse("sign in from this site's own sign-in page", status_code=403, headers=_NO_STORE)
    client = client_address(request.scope)
    wait = ctx.signins.wait(client)
    if wait:
        error = f"Too many failed sign-ins: try again in {wait:.0f} s."
        return _signin_page(request, nxt, error, status=429)
    ak, sk = str(form.get("access_key_id") or ""), str(form.get("access_key_secret") or "")
    known = ctx.keys.get(ak)
    # Digests compare in the same time whatever the lengths.
    if known is None or not hmac.compare_digest(_digest(known), _digest(sk)):
        ctx.signins.failed(client)
        error = "That access key id and secret do not match a key of this server."
        return _signin_page(request, nxt, error, status=401)
    token, _ = await _run(ctx.service.create_ui_session, ak, ctx.account_of(ak), known, SESSION_MAX_AGE)
    response = RedirectResponse(nxt, status_code=303)
    response.set_cookie(
        COOKIE,
        token,
        max_age=SESSION_MAX_AGE,
        path=_base(request) or "/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    response.delete_cookie(SIGNIN_COOKIE, path=_base(request) or "/", httponly=True, samesite="strict")
    return response


async def signout(request: Request) -> Response:
    """End the session, for every server sharing the store."""
    who = _who(request)
    if who is not None and who.session:
        await _run(_ctx(request).service.end_ui_session, who.session)
    response = RedirectResponse(f"{_base(request)}/signin", status_code=303)
    response.delete_cookie(COOKIE, path=_base(request) or "/", httponly=True, samesite="strict")
    return response


async def jobs(request: Request) -> Response:
    """The caller's snapshot jobs, newest first, by status, a page at a time."""
    status = request.query_params.get("status") or None
    token = request.query_params.get("token") or None
    size = request.query_params.get("size") or None
    try:
        if status is not None and status not in STATUSES:
            raise InvalidParameter(f"status must be one of {', '.join(STATUSES)}")
        if size is not None and (not size.isdigit() or len(size) > 3):
            raise InvalidParameter("size must be a whole number of jobs, 1..100")
        listing = await _run(
            _tenant(request).list_snapshot_jobs, status=status, page_size=int(size or PAGE_SIZE), next_page_token=token
        )
    except InvalidParameter as exc:
        return _html(request, "Jobs", pages.message(str(exc)), status=400)
    query = {k: v for k, v in (("status", status), ("size", size)) if v}
    return _html(request, "Jobs", pages.job_list(_base(request), listing.jobs, query, listing.next_page_token))


async def job(request: Request) -> Response:
    """One job: its fields, snapshots, sprite sheets and a player with its thumbnail track."""
    ctx = _ctx(request)
    found = await _find(request, request.path_params["job_id"])
    if found is None:
        return _html(request, "Job not found", pages.message("There is no such job."), status=404)
    files, url = _files(found, ctx.buckets), _data_url(request, found.id)
    urls = {
        "snapshots": [url("snapshot", i) for i in range(len(files["snapshot"]))],
        "sprites": [url("sprite", i) for i in range(len(files["sprite"]))],
        "cover": url("cover", 0) if files["cover"] else None,
        "vtt": url("vtt", 0) if files["vtt"] else None,
        "input": url("input", 0) if files["input"] else None,
    }
    times = (found.result or {}).get("times") or []
    times = times if len(times) == len(files["snapshot"]) else []
    named = {
        "Input": ctx.buckets.oss_url(str(found.input.get("Media") or "")),
        "Output": ctx.buckets.oss_url(str(found.output.get("Media") or "")),
        "Message": ctx.buckets.scrub(found.message),
    }
    body = pages.job_page(found, urls, times, GALLERY_MAX, named)
    script = pages.PLAYER_JS if urls["input"] and urls["vtt"] else ""
    return _html(request, f"Job {found.id}", body, script=script)


async def job_file(request: Request) -> Response:
    """A job's file by kind and position in its result, when it lies inside a served bucket."""
    ctx = _ctx(request)
    p = request.path_params
    found = await _find(request, p["job_id"])
    files = _files(found, ctx.buckets) if found is not None else {}
    listed = files.get(p["kind"], [])
    real = ctx.buckets.confined(listed[p["index"]]) if 0 <= p["index"] < len(listed) else None
    if real is None or not os.path.isfile(real):
        return PlainTextResponse("not found", status_code=404, headers=_NO_STORE)
    headers = {"Cache-Control": "private, no-cache", "X-Content-Type-Options": "nosniff"}
    if p["kind"] == "vtt":
        assert found is not None
        text = await _run(_vtt_for_browser, real, files, _data_url(request, found.id))
        return Response(text, media_type="text/vtt; charset=utf-8", headers=headers)
    if p["kind"] == "input":
        media_type = PLAYABLE[Path(real).suffix.lower()]
    else:
        media_type = mimetypes.guess_type(real)[0] or "application/octet-stream"
    # FileResponse answers Range requests (206), which <video> seeking needs.
    return FileResponse(real, media_type=media_type, headers=headers)


async def live_jobs(request: Request) -> Response:
    """The caller's live jobs of the last 30 days, by status, a page at a time."""
    status = request.query_params.get("status") or None
    try:
        raw = request.query_params.get("page") or "1"
        if not raw.isdigit() or len(raw) > 7:
            raise InvalidParameter("page must be a whole number, 1..1000000")
        if status is not None and status not in LIVE_STATUSES:
            raise InvalidParameter(f"status must be one of {', '.join(LIVE_STATUSES)}")
        now = time.time()
        listing = await _run(
            _tenant(request).list_live_snapshot_jobs,
            page_no=int(raw),
            page_size=20,
            status=status,
            start_time=now - LIVE_WINDOW,
            end_time=now,
        )
    except InvalidParameter as exc:
        return _html(request, "Live jobs", pages.message(str(exc)), status=400)
    return _html(request, "Live jobs", pages.live_list(_base(request), listing, status, LIVE_STATUSES))


async def live_job(request: Request) -> Response:
    """One live job, with its latest snapshot when it writes to a local bucket."""
    try:
        found = await _run(_tenant(request).get_live_snapshot_job, request.path_params["job_id"])
    except NotFound:
        return _html(request, "Live job not found", pages.message("There is no such live job."), status=404)
    local = found.snapshot_output.get("StorageType") == "local"
    latest = f"{_base(request)}/data/live/{found.id}/latest" if local else None
    shown = found.to_dict()
    shown["SnapshotOutput"] = {"Bucket": _bucket_of(_ctx(request).buckets, found.snapshot_output.get("Bucket", ""))}
    body = pages.live_page(shown, latest, min(max(found.time_interval, 2), 60))
    return _html(request, f"Live job {found.name}", body, script=pages.LIVE_JS if local else "")


async def live_latest(request: Request) -> Response:
    """A live job's latest snapshot, read whole."""
    try:
        path = await _run(_latest_path, request, request.path_params["job_id"])
        # Read whole: the capture replaces the file by rename, and a streamed
        # response could mix its length with the next snapshot's bytes.
        data = await _run(Path(path).read_bytes) if path is not None else None
    except (NotFound, FileNotFoundError, IsADirectoryError):
        data = None
    if data is None:
        return PlainTextResponse("no snapshot yet", status_code=404, headers=_NO_STORE)
    return Response(data, media_type="image/jpeg", headers={**_NO_STORE, "X-Content-Type-Options": "nosniff"})


PAGES: list[BaseRoute] = [
    Route("/", home, methods=["GET"]),
    Route("/signin", signin, methods=["GET", "POST"]),
    Route("/signout", signout, methods=["POST"]),
    Route("/jobs", jobs, methods=["GET"]),
    Route("/jobs/{job_id}", job, methods=["GET"]),
    Route("/live", live_jobs, methods=["GET"]),
    Route("/live/{job_id}", live_job, methods=["GET"]),
    Route("/data/jobs/{job_id}/{kind}/{index:int}", job_file, methods=["GET", "HEAD"]),
    Route("/data/live/{job_id}/latest", live_latest, methods=["GET", "HEAD"]),
]


def routes(ctx: ServerContext) -> list[BaseRoute]:
    """The preview site, mounted at /ui behind the session gate (`ctx`'s keys and sessions)."""
    gate = Middleware(Authenticate, backend=SessionBackend(ctx))
    return [Mount("/ui", routes=PAGES, middleware=[gate])]


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def _bucket_of(buckets: Buckets, folder: str) -> str:
    """A live job's output folder by its bucket's name (never the server path)."""
    for b in buckets:
        if folder in (b.root, b.root.split("://", 1)[-1]):
            return b.name
    return folder.rstrip("/").rsplit("/", 1)[-1]
