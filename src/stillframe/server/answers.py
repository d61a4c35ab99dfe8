"""Every error the server answers, in the shape the caller's SDK reads, with the
message's server paths written as the caller names files (one mapping for every
route: the transport's limits, authentication, the services' own errors).

    Alibaba (`/`)          {"RequestId", "Code", "Message", "HostId"}, HTTP status of the error
    Huawei (/v1 /v1.0 /v3) {"error_code", "error_msg"}, the request id in X-Request-Id
    preview pages (/ui)    plain text
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from starlette.responses import PlainTextResponse, Response
from starlette.types import Scope

from stillframe.errors import StillframeError
from stillframe.server.buckets import Buckets

__all__ = ["HUAWEI_PREFIXES", "UI_PREFIX", "error_body", "error_response", "json_response", "request_id", "vendor"]

HUAWEI_PREFIXES = ("/v1/", "/v1.0/", "/v3/")
UI_PREFIX = "/ui"
# API Gateway's codes for what it refuses before a Huawei service sees the request.
HUAWEI_CODES = {"InvalidParameter.BodyTooLarge": "APIG.0201"}


def vendor(path: str) -> str:
    """ "huawei", "ui" or "alibaba": whose error shape a path's callers read."""
    if path.startswith(HUAWEI_PREFIXES):
        return "huawei"
    if path == UI_PREFIX or path.startswith(UI_PREFIX + "/"):
        return "ui"
    return "alibaba"


def new_request_id() -> str:
    """As Alibaba writes them: an upper-case UUID with dashes."""
    return str(uuid.uuid4()).upper()


def request_id(scope: Scope) -> str:
    """The request's id, as RequestContext gave it (a new one outside it)."""
    return str(scope.get("state", {}).get("request_id") or new_request_id())


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """`body` as compact JSON (values JSON has no type for written as strings)."""
    text = json.dumps(body, separators=(",", ":"), default=str)
    return Response(text, status, headers=headers, media_type="application/json")


def error_body(path: str, rid: str, code: str, message: str) -> dict[str, Any]:
    """An error in the shape the SDK calling `path` reads."""
    if vendor(path) == "huawei":
        return {"error_code": HUAWEI_CODES.get(code, code), "error_msg": message}
    return {"RequestId": rid, "Code": code, "Message": message, "HostId": "stillframe"}


def error_response(
    scope: Scope, exc: StillframeError, buckets: Buckets | None = None, *, close: bool = False
) -> Response:
    """The answer to `exc` for the request in `scope`. `close`: the connection is
    closed after it (a body was left unread)."""
    path = scope.get("path", "")
    rid = request_id(scope)
    kind = vendor(path)
    message = exc.message or str(exc)
    if buckets is not None:
        message = buckets.scrub(message, "obs" if kind == "huawei" else "oss") or ""
    headers = {"Connection": "close"} if close else {}
    if kind == "ui":
        return PlainTextResponse(message, exc.http_status, headers={**headers, "Cache-Control": "no-store"})
    if kind == "huawei":
        headers["X-Request-Id"] = rid
    return json_response(error_body(path, rid, exc.code, message), exc.http_status, headers)
