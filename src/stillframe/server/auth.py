"""Authentication as middleware: every route that needs a caller is wrapped in
`Authenticate` with the backend of its scheme, so no endpoint ever sees a request
that was not signed (or signed in), and each backend answers a refusal in its
callers' shape. The body has been read (and capped) by limits.BodyLimit already.

    AcsBackend      Alibaba RPC on `/`: ACS3-HMAC-SHA256 or the HMAC-SHA1 RPC signature
    HuaweiBackend   Huawei APIs: SDK-HMAC-SHA256
    SessionBackend  the preview pages: a session kept in the store, CSRF checks

A backend returns the request's Principal (who, for which account, and for Alibaba
the action the signature covers), which endpoints read as scope["state"]["principal"].
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from stillframe.errors import PermissionDenied, StillframeError
from stillframe.jobs.access import key_tag
from stillframe.server._signing import same
from stillframe.server.acs_sign import AcsRequest, scheme_for
from stillframe.server.answers import error_response
from stillframe.server.context import DEFAULT_ACCOUNT, ServerContext
from stillframe.server.huawei_sign import SdkHmacSha256, SignedRequest
from stillframe.server.limits import SignInLimiter

__all__ = [
    "COOKIE",
    "SESSION_MAX_AGE",
    "Authenticate",
    "Principal",
    "SignInLimiter",
    "client_address",
    "principal",
    "same_origin",
]

COOKIE = "stillframe_ui"
SESSION_MAX_AGE = 8 * 3600  # seconds
PUBLIC = ("/signin",)  # the only preview paths open without a session
READS = ("GET", "HEAD")
_NO_STORE = {"Cache-Control": "no-store"}


@dataclass(frozen=True)
class Principal:
    """Who made a request. `access_key_id` is None on an --insecure-local server."""

    access_key_id: str | None
    account: str
    action: str | None = None  # Alibaba: the action and version the signature covers
    version: str | None = None
    csrf: str | None = None  # the preview pages: the session's form token
    session: str | None = None  # and its cookie's token


def principal(scope: Scope) -> Principal:
    """The request's Principal, set by Authenticate (a route without one is a bug)."""
    found = scope.get("state", {}).get("principal")
    if not isinstance(found, Principal):
        raise RuntimeError("the route was reached without authentication")
    return found


class Backend(Protocol):
    blocking: bool  # whether authenticate() may wait on the store (then it runs on a worker thread)

    def authenticate(self, scope: Scope, body: bytes) -> Principal | None: ...

    def refuse(self, scope: Scope, exc: StillframeError) -> Response: ...


class Authenticate:
    """Per-route ASGI middleware: the backend decides (on a worker thread when it may
    ask the store), then the route runs with scope["state"]["principal"] set."""

    def __init__(self, app: ASGIApp, backend: Backend) -> None:
        self.app = app
        self.backend = backend

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = scope.get("state", {}).get("body", b"")
        try:
            if self.backend.blocking:
                who = await run_in_threadpool(self.backend.authenticate, scope, body)
            else:
                who = self.backend.authenticate(scope, body)
        except StillframeError as exc:
            await self.backend.refuse(scope, exc)(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = who
        await self.app(scope, receive, send)


def _headers(scope: Scope) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for k, v in scope.get("headers") or []:
        out.setdefault(k.decode("latin-1").lower(), []).append(v.decode("latin-1"))
    return out


# -- Alibaba ---------------------------------------------------------------------------------


def acs_request(scope: Scope, body: bytes) -> AcsRequest:
    """A request as the ACS signatures cover it: query and form decoded."""
    headers = _headers(scope)
    form: list[tuple[str, str]] = []
    if (headers.get("content-type") or [""])[0].startswith("application/x-www-form-urlencoded") and body:
        form = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    return AcsRequest(scope["method"], scope["path"], query, headers, body, form)


class AcsBackend:
    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx
        self.blocking = ctx.guard.store is not None  # nonces kept in the store

    def authenticate(self, scope: Scope, body: bytes) -> Principal:
        req = acs_request(scope, body)
        state = scope.setdefault("state", {})
        state["acs"] = req
        # Named for the log line before it is verified, so a refused call is logged by name too.
        values = dict([*req.query, *req.form])
        state["action"] = req.header("x-acs-action") or values.get("Action")
        if self.ctx.insecure:
            version = req.header("x-acs-version") or values.get("Version")
            return Principal(None, DEFAULT_ACCOUNT, state["action"], version)
        who = scheme_for(req).verify(req, self.ctx.keys, self.ctx.guard)
        # What was signed decides; an unsigned duplicate cannot redirect the call.
        state["action"] = who.action
        return Principal(who.access_key_id, self.ctx.account_of(who.access_key_id), who.action, who.version)

    def refuse(self, scope: Scope, exc: StillframeError) -> Response:
        return error_response(scope, exc, self.ctx.buckets)


# -- Huawei ----------------------------------------------------------------------------------


class HuaweiBackend:
    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx
        self.blocking = ctx.guard.store is not None

    def authenticate(self, scope: Scope, body: bytes) -> Principal:
        if self.ctx.insecure:
            return Principal(None, DEFAULT_ACCOUNT)
        headers = {k: v[0] for k, v in _headers(scope).items()}
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        req = SignedRequest(scope["method"], scope["path"], query, headers, body)
        access = SdkHmacSha256().verify(req, self.ctx.keys, self.ctx.guard)
        return Principal(access, self.ctx.account_of(access))

    def refuse(self, scope: Scope, exc: StillframeError) -> Response:
        return error_response(scope, exc, self.ctx.buckets)


# -- the preview pages -----------------------------------------------------------------------


class SignInRequired(StillframeError):
    code = "SignInRequired"
    http_status = 401


class CrossSite(PermissionDenied):
    code = "Forbidden"


def same_origin(scope: Scope) -> bool:
    """Whether a browser's request comes from this site's own pages: its Origin (or
    else Referer) names the host it was sent to. A request with neither is not a
    browser's cross-site one."""
    headers = {k: v[0] for k, v in _headers(scope).items()}
    host = headers.get("host", "")
    origin = headers.get("origin") or headers.get("referer")
    if origin is None:
        return True
    try:
        return urlsplit(origin).netloc == host and bool(host)
    except ValueError:
        return False


def _relative(scope: Scope) -> str:
    root, path = scope.get("root_path", ""), scope["path"]
    return path[len(root) :] if root and path.startswith(root) else path


class SessionBackend:
    """A session is a row in the store named by the cookie's random token: it ends
    when it expires, when the user signs out (anywhere), or when its key is removed
    or given another secret. A request that changes state must come from the site's
    own pages (Origin) and carry the session's CSRF token."""

    blocking = True  # sessions are in the store

    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx

    def authenticate(self, scope: Scope, body: bytes) -> Principal | None:
        if self.ctx.insecure:
            return Principal(None, DEFAULT_ACCOUNT)
        if _relative(scope) in PUBLIC:
            return None  # the sign-in page checks what it is sent itself
        token = Request(scope).cookies.get(COOKIE) or ""
        session = self.ctx.service.get_ui_session(token) if token else None
        secret = self.ctx.keys.get(session.access_key_id) if session is not None else None
        if (
            session is None
            or secret is None
            or not same(session.key_tag, key_tag(token, secret))
            or self.ctx.account_of(session.access_key_id) != session.account
        ):
            raise SignInRequired("sign in first")
        if scope["method"] not in READS:
            sent = dict(parse_qsl(body.decode("utf-8", "replace"))).get("csrf", "")
            if not same_origin(scope) or not same(session.csrf, sent):
                raise CrossSite("the form did not come from this site's own pages")
        return Principal(session.access_key_id, session.account, csrf=session.csrf, session=token)

    def refuse(self, scope: Scope, exc: StillframeError) -> Response:
        if not isinstance(exc, SignInRequired):
            return PlainTextResponse(exc.message, exc.http_status, headers=_NO_STORE)
        rel, root = _relative(scope), scope.get("root_path", "")
        if rel.startswith("/data/"):
            return PlainTextResponse("sign in first", status_code=401, headers=_NO_STORE)
        back = scope["path"] + (f"?{scope['query_string'].decode('latin-1')}" if scope.get("query_string") else "")
        target = f"{root}/signin?{urlencode({'next': back})}" if scope["method"] == "GET" else f"{root}/signin"
        return RedirectResponse(target, status_code=303, headers=_NO_STORE)


def client_address(scope: Scope) -> str:
    """The client's address, as the connection gives it ("?" when unknown)."""
    client: Any = scope.get("client")
    return str(client[0]) if client else "?"
