"""The read-only preview pages under /ui/: snapshot jobs with their snapshots, sprite
sheets and a player whose seek bar shows the WebVTT thumbnails, and live jobs with
their latest snapshot.

Security model: signing in checks an access key's secret against the server's key
pairs and sets a signed, expiring session cookie (HttpOnly, SameSite=Strict,
Path=/ui). A gate in front of every route sends a request without a valid session
to the sign-in page (pages) or answers 401 (files under /ui/data/). Files are named
by job and position in the job's result, never by path, so only what a job made
(and its local input video) can be read. `ctx.insecure` turns sign-in off.
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
from urllib.parse import unquote, urlencode

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from stillframe.errors import InvalidParameter, NotFound, StillframeError
from stillframe.jobs.live_model import LIVE_STATUSES, render
from stillframe.jobs.model import STATUSES, SnapshotJob
from stillframe.server import _ui_pages as pages
from stillframe.server.buckets import Buckets
from stillframe.server.context import ServerContext

__all__ = ["COOKIE", "SESSION_MAX_AGE", "Sessions", "routes"]

COOKIE = "stillframe_ui"
SESSION_MAX_AGE = 8 * 3600  # seconds
PUBLIC = ("/signin",)  # the only paths the gate lets through without a session
PAGE_SIZE = 20  # jobs a list page shows unless ?size= says otherwise (1..100)
GALLERY_MAX = 300  # snapshots shown on a job page
VTT_MAX = 8 << 20  # bytes; a thumbnail track is a few KB an hour
_NO_STORE = {"Cache-Control": "no-store"}
LIVE_WINDOW = 30 * 86400.0  # seconds, ListLiveSnapshotJobs' widest window
# What a browser's <video> can be expected to play; other inputs get no player.
PLAYABLE = {".mp4": "video/mp4", ".m4v": "video/mp4", ".webm": "video/webm", ".ogv": "video/ogg", ".mov": "video/mp4"}


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


class Sessions:
    """Signed session tokens. A token names its access key and a digest of that key's
    secret, so removing a key or changing its secret ends its sessions."""

    def __init__(self, secret: bytes, keys: Mapping[str, str], max_age: int = SESSION_MAX_AGE) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="stillframe.ui.session")
        self._keys = keys
        self.max_age = max_age

    def _tag(self, secret: str) -> str:
        return hashlib.sha256(b"stillframe.ui\0" + secret.encode()).hexdigest()[:16]

    def sign_in(self, access_key_id: str, secret: str) -> str | None:
        """A token when `secret` is `access_key_id`'s, else None (in constant time)."""
        known = self._keys.get(access_key_id)
        # Digests compare in the same time whatever the lengths.
        ok = hmac.compare_digest(_digest(known if known is not None else "\0"), _digest(secret))
        if known is None or not ok:
            return None
        return self._serializer.dumps({"ak": access_key_id, "t": self._tag(known)})

    def check(self, token: str | None) -> str | None:
        """The access key id a valid, unexpired token names, else None."""
        if not token:
            return None
        try:
            data = self._serializer.loads(token, max_age=self.max_age)
        except BadSignature:  # also SignatureExpired
            return None
        if not isinstance(data, dict):
            return None
        known = self._keys.get(str(data.get("ak")))
        if known is None or not hmac.compare_digest(str(data.get("t")), self._tag(known)):
            return None
        return str(data["ak"])


class SessionGate:
    """Every request under the mount passes here first, so no handler sees one
    without a session. Pages redirect to sign-in; files under /data/ answer 401."""

    def __init__(self, app: ASGIApp, sessions: Sessions, insecure: bool) -> None:
        self.app = app
        self.sessions = sessions
        self.insecure = insecure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        root = scope.get("root_path", "")
        path = scope["path"]
        rel = path[len(root) :] if path.startswith(root) else path
        request = Request(scope)
        who = "" if self.insecure else self.sessions.check(request.cookies.get(COOKIE))
        if rel in PUBLIC or who is not None:
            scope.setdefault("state", {})["ui_user"] = who
            await self.app(scope, receive, send)
            return
        if rel.startswith("/data/"):
            response: Response = PlainTextResponse("sign in first", status_code=401, headers=_NO_STORE)
        else:
            back = path + (f"?{scope['query_string'].decode('latin-1')}" if scope.get("query_string") else "")
            target = f"{root}/signin?{urlencode({'next': back})}" if request.method == "GET" else f"{root}/signin"
            response = RedirectResponse(target, status_code=303, headers=_NO_STORE)
        await response(scope, receive, send)


def _html(request: Request, title: str, body: str, status: int = 200, script: str = "") -> HTMLResponse:
    """A page with a per-response CSP nonce: only this page's own script and style run."""
    nonce = secrets.token_urlsafe(16)
    base = request.scope.get("root_path", "")
    who = request.scope.get("state", {}).get("ui_user")
    csp = (
        f"default-src 'none'; img-src 'self'; media-src 'self'; connect-src 'self'; style-src 'nonce-{nonce}'; "
        f"script-src 'nonce-{nonce}'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
    headers = {**_NO_STORE, "Content-Security-Policy": csp, "X-Content-Type-Options": "nosniff",
               "Referrer-Policy": "same-origin", "X-Frame-Options": "DENY"}  # fmt: skip
    return HTMLResponse(pages.page(title, body, nonce, base, who, script), status_code=status, headers=headers)


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
    """The job's previewable local files by kind; the only paths a data route serves.
    The input counts only when it is a video in one of the served buckets (or when
    none is configured): a job may have been submitted with any path."""
    r = job.result or {}
    kinds = {
        "snapshot": list(r.get("files") or []),
        "sprite": list(r.get("sprites") or []),
        "cover": [r["cover"]] if r.get("cover") else [],
        "vtt": [r["webvtt"]] if r.get("webvtt") else [],
    }
    out = {k: [p for p in (_local(v) for v in v) if p] for k, v in kinds.items()}
    src = _local(job.input.get("Media")) if job.input.get("Type") == "File" else None
    out["input"] = [src] if src and Path(src).suffix.lower() in PLAYABLE and _in_buckets(src, buckets) else []
    return out


def _in_buckets(path: str, buckets: Buckets) -> bool:
    if not any(True for _ in buckets):
        return True
    named = buckets.name_of(path)
    if named is None:
        return False
    try:
        buckets.resolve(*named)  # refuses a symlink that leads out of the bucket
    except StillframeError:
        return False
    return True


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


def routes(ctx: ServerContext) -> list[BaseRoute]:
    """The preview site, mounted at /ui."""
    # Without a configured secret, sessions last as long as this process.
    sessions = Sessions(ctx.session_secret or secrets.token_bytes(32), ctx.keys)
    svc = ctx.service

    def base(request: Request) -> str:
        return request.scope.get("root_path", "")

    async def run(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        # The service talks to its database synchronously: keep it off the event loop.
        return await asyncio.to_thread(fn, *args, **kwargs)

    def safe_next(request: Request, value: str | None) -> str:
        root = base(request)
        if value and value.startswith(root + "/") and not value.startswith("//") and "\\" not in value:
            return value
        return f"{root}/jobs"

    async def home(request: Request) -> Response:
        return RedirectResponse(f"{base(request)}/jobs", status_code=303)

    async def signin(request: Request) -> Response:
        if ctx.insecure:
            return RedirectResponse(f"{base(request)}/jobs", status_code=303)
        request.scope["state"]["ui_user"] = None
        if request.method == "GET":
            nxt = safe_next(request, request.query_params.get("next"))
            return _html(request, "Sign in", pages.signin_form(base(request), nxt, None))
        form = await request.form()
        ak, sk = str(form.get("access_key_id") or ""), str(form.get("access_key_secret") or "")
        nxt = safe_next(request, str(form.get("next") or ""))
        token = sessions.sign_in(ak, sk)
        if token is None:
            error = "That access key id and secret do not match a key of this server."
            return _html(request, "Sign in", pages.signin_form(base(request), nxt, error), status=401)
        response = RedirectResponse(nxt, status_code=303)
        response.set_cookie(
            COOKIE, token, max_age=sessions.max_age, path=base(request) or "/", httponly=True, samesite="strict",
            secure=request.url.scheme == "https",
        )  # fmt: skip
        return response

    async def signout(request: Request) -> Response:
        response = RedirectResponse(f"{base(request)}/signin", status_code=303)
        response.delete_cookie(COOKIE, path=base(request) or "/", httponly=True, samesite="strict")
        return response

    async def jobs(request: Request) -> Response:
        status = request.query_params.get("status") or None
        token = request.query_params.get("token") or None
        size = request.query_params.get("size") or None
        try:
            if status is not None and status not in STATUSES:
                raise InvalidParameter(f"status must be one of {', '.join(STATUSES)}")
            if size is not None and not size.isdigit():
                raise InvalidParameter("size must be a whole number of jobs")
            listing = await run(svc.list_snapshot_jobs, status=status, page_size=int(size or PAGE_SIZE),
                                next_page_token=token)  # fmt: skip
        except InvalidParameter as exc:
            return _html(request, "Jobs", pages.message(str(exc)), status=400)
        query = {k: v for k, v in (("status", status), ("size", size)) if v}
        return _html(request, "Jobs", pages.job_list(base(request), listing.jobs, query, listing.next_page_token))

    async def find(job_id: str) -> SnapshotJob | None:
        try:
            return await run(svc.get_snapshot_job, job_id)
        except NotFound:
            return None

    def data_url(request: Request, job_id: str) -> Callable[[str, int], str]:
        return lambda kind, i: f"{base(request)}/data/jobs/{job_id}/{kind}/{i}"

    async def job(request: Request) -> Response:
        found = await find(request.path_params["job_id"])
        if found is None:
            return _html(request, "Job not found", pages.message("There is no such job."), status=404)
        files, url = _files(found, ctx.buckets), data_url(request, found.id)
        urls = {
            "snapshots": [url("snapshot", i) for i in range(len(files["snapshot"]))],
            "sprites": [url("sprite", i) for i in range(len(files["sprite"]))],
            "cover": url("cover", 0) if files["cover"] else None,
            "vtt": url("vtt", 0) if files["vtt"] else None,
            "input": url("input", 0) if files["input"] else None,
        }
        times = (found.result or {}).get("times") or []
        times = times if len(times) == len(files["snapshot"]) else []
        body = pages.job_page(found, urls, times, GALLERY_MAX)
        script = pages.PLAYER_JS if urls["input"] and urls["vtt"] else ""
        return _html(request, f"Job {found.id}", body, script=script)

    async def job_file(request: Request) -> Response:
        p = request.path_params
        found = await find(p["job_id"])
        listed = _files(found, ctx.buckets).get(p["kind"], []) if found is not None else []
        if not 0 <= p["index"] < len(listed) or not os.path.isfile(listed[p["index"]]):
            return PlainTextResponse("not found", status_code=404, headers=_NO_STORE)
        path = listed[p["index"]]
        headers = {"Cache-Control": "private, no-cache", "X-Content-Type-Options": "nosniff"}
        if p["kind"] == "vtt":
            assert found is not None
            text = await run(_vtt_for_browser, path, _files(found, ctx.buckets), data_url(request, found.id))
            return Response(text, media_type="text/vtt; charset=utf-8", headers=headers)
        if p["kind"] == "input":
            media_type = PLAYABLE[Path(path).suffix.lower()]
        else:
            media_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
        # FileResponse answers Range requests (206), which <video> seeking needs.
        return FileResponse(path, media_type=media_type, headers=headers)

    async def live_jobs(request: Request) -> Response:
        status = request.query_params.get("status") or None
        try:
            page_no = int(request.query_params.get("page") or 1)
            if status is not None and status not in LIVE_STATUSES:
                raise InvalidParameter(f"status must be one of {', '.join(LIVE_STATUSES)}")
            now = time.time()
            listing = await run(svc.list_live_snapshot_jobs, page_no=page_no, page_size=20, status=status,
                                start_time=now - LIVE_WINDOW, end_time=now)  # fmt: skip
        except (InvalidParameter, ValueError) as exc:
            return _html(request, "Live jobs", pages.message(str(exc)), status=400)
        return _html(request, "Live jobs", pages.live_list(base(request), listing, status, LIVE_STATUSES))

    async def live_job(request: Request) -> Response:
        try:
            found = await run(svc.get_live_snapshot_job, request.path_params["job_id"])
        except NotFound:
            return _html(request, "Live job not found", pages.message("There is no such live job."), status=404)
        local = found.snapshot_output.get("StorageType") == "local"
        latest = f"{base(request)}/data/live/{found.id}/latest" if local else None
        body = pages.live_page(found.to_dict(), latest, min(max(found.time_interval, 2), 60))
        return _html(request, f"Live job {found.name}", body, script=pages.LIVE_JS if local else "")

    def latest_path(job_id: str) -> Path | None:
        found = svc.get_live_snapshot_job(job_id)
        out = found.snapshot_output
        if out.get("StorageType") != "local":
            return None
        if found.overwrite_format:
            return Path(out["Bucket"], render(found.overwrite_format, found.id, 0, 0))
        now = time.time()
        listed = svc.list_live_snapshot_files(found.id, now - 86400, now + 60, limit=1, sort_by="desc")["FileList"]
        return Path(out["Bucket"], listed[0]["OssObject"]) if listed else None

    async def live_latest(request: Request) -> Response:
        try:
            path = await run(latest_path, request.path_params["job_id"])
            # Read whole: the capture replaces the file by rename, and a streamed
            # response could mix its length with the next snapshot's bytes.
            data = await run(path.read_bytes) if path is not None else None
        except (NotFound, FileNotFoundError):
            data = None
        if data is None:
            return PlainTextResponse("no snapshot yet", status_code=404, headers=_NO_STORE)
        return Response(data, media_type="image/jpeg", headers={**_NO_STORE, "X-Content-Type-Options": "nosniff"})

    inner: list[BaseRoute] = [
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
    gate = Middleware(SessionGate, sessions=sessions, insecure=ctx.insecure)
    return [Mount("/ui", routes=inner, middleware=[gate])]
