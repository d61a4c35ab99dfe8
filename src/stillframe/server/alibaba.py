"""Alibaba RPC on `/`: ICE 2020-11-09 (alibaba_ice, alibaba_live) and MPS 2014-06-18
(alibaba_mps). This module is the transport: the request has been read and
authenticated (limits, auth.AcsBackend) before it gets here; this merges query and
form parameters, finds the action the signature covers and answers with its JSON or
with Alibaba's error shape."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from stillframe.errors import MissingParameter, NotFound, StillframeError
from stillframe.server import alibaba_ice, alibaba_live, alibaba_mps  # noqa: F401 - they register their actions
from stillframe.server.acs_sign import AcsRequest
from stillframe.server.alibaba_rpc import ACTIONS, Call, Params
from stillframe.server.answers import error_response, json_response
from stillframe.server.auth import Principal, principal
from stillframe.server.context import ServerContext

__all__ = ["API_NOT_FOUND", "rpc_endpoint"]

log = logging.getLogger("stillframe.server")

# Parameters of the signature itself, not of the action.
SIGNATURE_PARAMS = {
    "Action",
    "Version",
    "Format",
    "Timestamp",
    "SignatureNonce",
    "SignatureMethod",
    "SignatureVersion",
    "AccessKeyId",
    "Signature",
    "SecurityToken",
    "RegionId",
}


# Alibaba's words for an action, path or method it does not serve (404 InvalidAction.NotFound).
API_NOT_FOUND = "Specified api is not found, please check your url and method."


class ActionNotFound(NotFound):
    """An action (and version) this server does not serve."""

    code = "InvalidAction.NotFound"


def _call(ctx: ServerContext, req: AcsRequest, who: Principal, request: Request) -> Response:
    """The action's answer, run on a worker thread: handlers block."""
    rid = request.state.request_id
    values = {k: v for k, v in req.query}
    values.update(req.form)
    try:
        if not who.action:
            raise MissingParameter("Action is mandatory for this action.")
        handler = ACTIONS.get((who.version or "", who.action))
        if handler is None:
            raise ActionNotFound(f"{API_NOT_FOUND} ({who.action} {who.version})")
        params = Params({k: v for k, v in values.items() if k not in SIGNATURE_PARAMS}, ctx.limits.json_depth)
        body = handler(Call(ctx, params, req.header("host") or "", rid, ctx.tenant(who.account)))
        return json_response({"RequestId": rid, **body})
    except StillframeError as exc:
        if exc.http_status >= 500:
            log.error("%s failed, RequestId %s: %s: %s", who.action, rid, exc.code, exc.message)
        return error_response(request.scope, exc, ctx.buckets)


def rpc_endpoint(ctx: ServerContext) -> Callable[[Request], Awaitable[Response]]:
    """The endpoint at `/` for Alibaba's RPC-style APIs: authenticate, merge query and form, dispatch by Action and
    Version, answer in the service's shape."""

    async def endpoint(request: Request) -> Response:
        req = request.state.acs
        return await run_in_threadpool(_call, ctx, req, principal(request.scope), request)

    return endpoint
