"""The ASGI app: routes, a RequestId and a log line for every request, and errors in the
calling service's own shape (never a traceback on the wire).

`serving(ctx)` runs the app on a free loopback port in a thread, for tests and
benchmarks; `run(ctx, ...)` is what `stillframe serve` calls."""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stillframe.jobs.faults import first_line
from stillframe.jobs.faults import unavailable as store_unavailable
from stillframe.server import huawei, ui
from stillframe.server.alibaba import API_NOT_FOUND, rpc_endpoint
from stillframe.server.answers import HUAWEI_PREFIXES, UI_PREFIX, error_body, new_request_id
from stillframe.server.auth import AcsBackend, Authenticate
from stillframe.server.context import ServerContext
from stillframe.server.limits import BodyLimit, h11_protocol

__all__ = ["ServerThread", "create_app", "new_request_id", "run", "serving"]

log = logging.getLogger("stillframe.server")

API_NOT_FOUND_HUAWEI = "The API does not exist or has not been published in the environment"
SHUTDOWN_GRACE = 5  # seconds requests in flight get once the server is told to stop
# The job store cannot be reached (restarting, say): each service's own words for a
# passing failure behind it, always as a 503 with Retry-After, never a 500.
UNAVAILABLE_ALIBABA = ("ServiceUnavailable", "The request has failed due to a temporary failure of the server.")
UNAVAILABLE_HUAWEI = ("APIG.0202", "Backend unavailable")


def unavailable_response(path: str, request_id: str) -> Response:
    """The answer while the job store cannot be reached: a 503 in the caller's shape."""
    headers = {"Retry-After": "1"}
    if path == UI_PREFIX or path.startswith(UI_PREFIX + "/"):
        return PlainTextResponse("The job store cannot be reached; try again shortly.", 503, headers=headers)
    code, message = UNAVAILABLE_HUAWEI if path.startswith(HUAWEI_PREFIXES) else UNAVAILABLE_ALIBABA
    body = error_body(path, request_id, code, f"{message} (the job store cannot be reached; RequestId {request_id})")
    return JSONResponse(body, status_code=503, headers=headers)


class RequestContext:
    """Pure ASGI middleware (so it also wraps streaming responses): gives the request
    its id (`request.state.request_id`, echoed as X-Request-Id), logs one line when it
    ends, and turns any exception that escapes a handler into a 500 in the caller's
    error shape (a 503 when the job store cannot be reached)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = new_request_id()
        state = scope.setdefault("state", {})
        state["request_id"] = rid
        start = time.perf_counter()
        status = 500
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                headers = list(message.get("headers", []))
                if not any(k.lower() == b"x-request-id" for k, _ in headers):
                    headers.append((b"x-request-id", rid.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            path = scope.get("path", "")
            if store_unavailable(exc):
                log.warning("the job store cannot be reached (RequestId %s): %s", rid, first_line(exc))
                if not started:
                    await unavailable_response(path, rid)(scope, receive, send_with_id)
                status = 503
            else:
                log.exception("unhandled error, RequestId %s", rid)
                if not started:
                    body = error_body(path, rid, "InternalError", f"the server failed; RequestId {rid}")
                    await JSONResponse(body, status_code=500)(scope, receive, send_with_id)
                status = 500
        finally:
            ms = (time.perf_counter() - start) * 1000
            action = state.get("action")
            log.info(
                "%s %s%s %d %.1fms %s",
                scope.get("method"),
                scope.get("path"),
                f" {action}" if action else "",
                status,
                ms,
                rid,
            )


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def not_found(request: Request, exc: Exception) -> Response:
    """An unknown path, or a known one called with a method it does not take, as the
    gateway in front of the service would answer it (the SDKs raise their own
    exception with its code). The preview pages keep a plain 404."""
    path = request.url.path
    rid = getattr(request.state, "request_id", None) or new_request_id()
    if path.startswith(HUAWEI_PREFIXES):
        # API Gateway: wrong path and wrong method alike are APIG.0101.
        body = {"error_code": "APIG.0101", "error_msg": API_NOT_FOUND_HUAWEI, "request_id": rid}
        return JSONResponse(body, status_code=404)
    if path == UI_PREFIX or path.startswith(UI_PREFIX + "/"):
        return PlainTextResponse("Not Found", status_code=404)
    return JSONResponse(error_body(path, rid, "InvalidAction.NotFound", API_NOT_FOUND), status_code=404)


class BrowserToUi:
    """`/` is the RPC API; a browser opening the server's address (a GET with no
    query and no signature, asking for HTML) is sent to the preview pages, before
    a signature is asked for."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and not scope.get("query_string"):
            headers = Headers(scope=scope)
            if "authorization" not in headers and "text/html" in headers.get("accept", ""):
                await RedirectResponse(UI_PREFIX + "/", status_code=303)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(ctx: ServerContext) -> Starlette:
    """The ASGI app over `ctx`: health, Alibaba RPC at `/` (a browser's visit sent to
    the preview pages), Huawei's routes and the preview pages, each behind the
    authentication of its scheme (auth.Authenticate; /healthz and unknown paths need
    none), all behind one body cap (limits.BodyLimit) and the request id, log line and
    last-resort error of RequestContext."""
    signed = [Middleware(Authenticate, backend=AcsBackend(ctx))]
    routes: list[BaseRoute] = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/", rpc_endpoint(ctx), methods=["GET", "POST"], middleware=[Middleware(BrowserToUi), *signed]),
        *huawei.routes(ctx),
        *ui.routes(ctx),
    ]
    middleware = [Middleware(RequestContext), Middleware(BodyLimit, limits=ctx.limits, buckets=ctx.buckets)]
    app = Starlette(routes=routes, middleware=middleware, exception_handlers={404: not_found, 405: not_found})
    app.state.ctx = ctx
    return app


def _config(ctx: ServerContext, **kwargs: Any):
    import uvicorn

    # The app logs each request itself; uvicorn's access log would say it twice.
    return uvicorn.Config(
        create_app(ctx),
        access_log=False,
        log_config=None,
        timeout_keep_alive=30,
        http=h11_protocol(ctx.limits),
        timeout_graceful_shutdown=SHUTDOWN_GRACE,
        **kwargs,
    )


def run(
    ctx: ServerContext,
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    workers: int = 64,
    log_level: str = "info",
    sock: socket.socket | None = None,
) -> None:
    """Serve until SIGINT/SIGTERM, in this process: the JobService (its store, job
    workers and live captures) lives here. The SDKs keep pooled keep-alive connections
    open and every call blocks a thread, so `workers` bounds how many calls are
    answered at once (anyio's default is 40). `sock`: a socket already bound (then
    `host` and `port` only name it)."""
    import asyncio

    import anyio.to_thread
    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            # uvicorn re-raises SIGTERM once it has stopped, killing the process before
            # the caller can close the service (finish jobs, flush notifications).
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            old = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for sig, handler in old.items():
                    signal.signal(sig, handler)

    server = Server(_config(ctx, host=host, port=port, log_level=log_level))

    async def serve() -> None:
        anyio.to_thread.current_default_thread_limiter().total_tokens = max(1, workers)
        await server.serve(sockets=[sock] if sock is not None else None)

    asyncio.run(serve())


class ServerThread:
    """uvicorn on 127.0.0.1 at a free port, in a daemon thread. `start()` returns once
    it accepts connections; `stop()` lets requests in flight finish."""

    def __init__(self, ctx: ServerContext, host: str = "127.0.0.1") -> None:
        import uvicorn

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # uvicorn leaves a socket it is handed as it is: without this, a response written
        # as headers then body waits out the client's delayed ACK (40 ms a call).
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.bind((host, 0))
        self.host, self.port = self.sock.getsockname()[:2]
        self.server = uvicorn.Server(_config(ctx, log_level="warning"))
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True, name="stillframe-serve"
        )

    @property
    def base_url(self) -> str:
        """The server's URL (http://host:port)."""
        return f"http://{self.host}:{self.port}"

    @property
    def endpoint(self) -> str:
        """host:port, as the Alibaba SDKs take their endpoint."""
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> ServerThread:
        """Serve on a thread until stop(); returns once it listens (RuntimeError after `timeout` seconds
        otherwise)."""
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving, waiting up to `timeout` seconds for the thread."""
        self.server.should_exit = True
        self.thread.join(timeout)
        self.sock.close()

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def serving(ctx: ServerContext) -> Iterator[str]:
    """`with serving(ctx) as base_url:` -> "http://127.0.0.1:PORT" while the app runs."""
    with ServerThread(ctx) as st:
        yield st.base_url
