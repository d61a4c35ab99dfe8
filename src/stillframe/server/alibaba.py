"""Alibaba RPC on `/`: ICE 2020-11-09 (alibaba_ice, alibaba_live) and MPS 2014-06-18
(alibaba_mps). This module is the transport: it authenticates the request
(acs_sign), merges query and form parameters, finds the action and answers with its
JSON or with Alibaba's error shape."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from stillframe.errors import StillframeError
from stillframe.server import alibaba_ice, alibaba_live, alibaba_mps  # noqa: F401 - they register their actions
from stillframe.server.acs_sign import AcsRequest, AuthError, scheme_for
from stillframe.server.alibaba_rpc import ACTIONS, Call, Params
from stillframe.server.context import ServerContext

__all__ = ["API_NOT_FOUND", "rpc_endpoint"]

log = logging.getLogger("stillframe.server")

# Parameters of the signature itself, not of the action.
SIGNATURE_PARAMS = {
    "Action", "Version", "Format", "Timestamp", "SignatureNonce", "SignatureMethod", "SignatureVersion",
    "AccessKeyId", "Signature", "SecurityToken", "RegionId",
}  # fmt: skip


# Alibaba's words for an action, path or method it does not serve (404 InvalidAction.NotFound).
API_NOT_FOUND = "Specified api is not found, please check your url and method."

BODY_MAX = 4 << 20  # RPC bodies are form parameters; anything larger is refused unread


class BodyTooLarge(StillframeError):
    code = "InvalidParameter.BodyTooLarge"
    http_status = 413


def _json(body: dict[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(body, separators=(",", ":"), default=str), status, media_type="application/json")


def error_response(request_id: str, exc: StillframeError) -> Response:
    body = {"RequestId": request_id, "Code": exc.code, "Message": exc.message, "HostId": "stillframe"}
    return _json(body, exc.http_status)


async def _acs_request(request: Request) -> AcsRequest:
    received = bytearray()
    async for chunk in request.stream():
        received += chunk
        if len(received) > BODY_MAX:
            raise BodyTooLarge(f"the request body is over {BODY_MAX >> 20} MiB")
    body = bytes(received)
    form: list[tuple[str, str]] = []
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded") and body:
        form = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    headers: dict[str, list[str]] = {}
    for k, v in request.headers.items():
        headers.setdefault(k.lower(), []).append(v)
    query = parse_qsl(request.url.query, keep_blank_values=True)
    return AcsRequest(request.method, request.url.path, query, headers, body, form)


def _call(ctx: ServerContext, req: AcsRequest, request: Request) -> tuple[str | None, Response]:
    """(the action named, the response), run on a worker thread: handlers block."""
    rid = request.state.request_id
    values = {k: v for k, v in req.query}
    values.update(req.form)
    action = req.header("x-acs-action") or values.get("Action")
    version = req.header("x-acs-version") or values.get("Version")
    try:
        if not ctx.insecure:
            who = scheme_for(req).verify(req, ctx.keys, ctx.replay)
            # What was signed decides; an unsigned duplicate cannot redirect the call.
            action, version = who.action or action, who.version or version
        if not action:
            raise AuthError("MissingParameter", "Action is mandatory for this action.")
        handler = ACTIONS.get((version or "", action))
        if handler is None:
            raise AuthError("InvalidAction.NotFound", f"{API_NOT_FOUND} ({action} {version})", 404)
        params = Params({k: v for k, v in values.items() if k not in SIGNATURE_PARAMS})
        host = req.header("host") or ""
        body = handler(Call(ctx, params, host, rid))
        return action, _json({"RequestId": rid, **body})
    except StillframeError as exc:
        if exc.http_status >= 500:
            log.error("%s failed, RequestId %s: %s: %s", action, rid, exc.code, exc.message)
        return action, error_response(rid, exc)


def rpc_endpoint(ctx: ServerContext) -> Callable[[Request], Awaitable[Response]]:
    """The endpoint at `/` for Alibaba's RPC-style APIs: authenticate, merge query and form, dispatch by Action and
    Version, answer in the service's shape."""

    async def endpoint(request: Request) -> Response:
        try:
            req = await _acs_request(request)
        except BodyTooLarge as exc:
            return error_response(request.state.request_id, exc)
        # Named for the log before the call, so that a call that fails is logged by name too.
        request.state.action = req.header("x-acs-action") or dict(req.query).get("Action")
        action, response = await run_in_threadpool(_call, ctx, req, request)
        request.state.action = action
        return response

    return endpoint
