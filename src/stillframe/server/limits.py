"""Bounds on what a caller can make the server hold, before anything else looks at a
request: one body cap for every route, enforced while the body is read (and before
the request is authenticated), and one on the bodies held at once; a time limit on a
request's headers and on each part of its body; a cap on connections; and JSON
nesting; and failed sign-ins to the preview pages from one address.

`BodyLimit` is the outermost ASGI middleware after the request id: it reads the
whole body (at most `body_max` bytes), refuses more with 413 in the caller's error
shape and then hands the body on, so that authentication can hash it and handlers
can parse it without reading the socket again. `h11_protocol(limits)` is uvicorn's
HTTP/1.1 protocol with the header timeout and the connection cap."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stillframe.errors import InvalidParameter, StillframeError
from stillframe.server.answers import error_response
from stillframe.server.buckets import Buckets

__all__ = ["BodyLimit", "BodyTooLarge", "Limits", "RequestTimeout", "SignInLimiter", "h11_protocol", "parse_json"]


@dataclass(frozen=True)
class Limits:
    """What one server takes from its callers: body sizes, timeouts, connections, JSON nesting."""

    body_max: int = 4 << 20  # bytes, every route: form parameters and JSON bodies are small
    bodies_max: int = 256 << 20  # bytes of bodies held at once, all requests together
    body_timeout: float = 30.0  # seconds the next part of a body may take to arrive
    header_timeout: float = 10.0  # seconds from a request's first byte (or the connection) to its last header
    max_connections: int = 1000  # open at once; past this a new connection is closed at once
    json_depth: int = 32  # nesting of any JSON a request carries


class BodyTooLarge(StillframeError):
    """A request body over the cap."""

    code = "InvalidParameter.BodyTooLarge"
    http_status = 413


class RequestTimeout(StillframeError):
    """A request whose headers or body came too slowly."""

    code = "RequestTimeout"
    http_status = 408


class Throttling(StillframeError):
    """The bodies of requests in flight fill the server's budget: try again shortly."""

    code = "Throttling"
    http_status = 429


def parse_json(text: str | bytes, what: str, depth: int = Limits.json_depth) -> Any:
    """`text` as JSON, or InvalidParameter when it is not JSON or nests deeper than
    `depth` (the parser's recursion is never what stops it)."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise InvalidParameter(f"{what} nests deeper than {depth} levels") from None
    except ValueError:
        raise InvalidParameter(f"{what} is not valid JSON") from None
    level = [value]
    for _ in range(depth + 1):
        level = [
            v
            for item in level
            if isinstance(item, (dict, list))
            for v in (item.values() if isinstance(item, dict) else item)
        ]
        if not level:
            return value
    raise InvalidParameter(f"{what} nests deeper than {depth} levels")


class BodyLimit:
    """Reads each request's body whole, at most `limits.body_max` bytes, each part
    within `limits.body_timeout`, and no more than `limits.bodies_max` bytes for all
    requests in flight together; the body is then in scope["state"]["body"] and
    replayed to the app."""

    def __init__(self, app: ASGIApp, limits: Limits, buckets: Buckets) -> None:
        self.app = app
        self.limits = limits
        self.buckets = buckets
        self.held = 0  # bytes of bodies held now (one event loop: no lock needed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cap = self.limits.body_max
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > cap):
            await self._refuse(scope, receive, send, BodyTooLarge(f"the request body is over {cap >> 20} MiB"))
            return
        body = bytearray()
        try:
            refusal = await self._read(receive, body)
            if refusal is not None:
                await self._refuse(scope, receive, send, refusal)
                return
            data = scope.setdefault("state", {})["body"] = bytes(body)
            await self.app(scope, _replay(data, receive), send)
        except _Gone:  # the client went away while sending
            return
        finally:
            self.held -= len(body)

    async def _read(self, receive: Receive, body: bytearray) -> StillframeError | None:
        """Read the body into `body` (counted in `held` as it grows); the error to
        answer with, if any. A client that went away leaves `body` as it was."""
        cap, more = self.limits.body_max, True
        while more:
            try:
                message = await asyncio.wait_for(receive(), self.limits.body_timeout)
            except asyncio.TimeoutError:
                return RequestTimeout(f"no part of the request body came for {self.limits.body_timeout:g} s")
            if message["type"] == "http.disconnect":
                raise _Gone
            chunk = message.get("body", b"")
            if len(body) + len(chunk) > cap:
                return BodyTooLarge(f"the request body is over {cap >> 20} MiB")
            if self.held + len(chunk) > self.limits.bodies_max:
                return Throttling("the server holds as many request bodies as it takes: try again shortly")
            body += chunk
            self.held += len(chunk)
            more = message.get("more_body", False)
        return None

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, exc: StillframeError) -> None:
        await error_response(scope, exc, self.buckets, close=True)(scope, receive, send)


class _Gone(Exception):
    pass


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # http.disconnect, when the client goes

    return replay


def h11_protocol(limits: Limits) -> type:
    """uvicorn's h11 protocol, which bounds a request's headers in time (uvicorn
    bounds only the idle wait between requests) and closes new connections past
    `limits.max_connections`."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class GuardedH11(H11Protocol):
        _header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > limits.max_connections:
                transport.abort()
                return
            self._await_headers()

        def _await_headers(self) -> None:
            self._cancel_header_timer()
            self._header_timer = self.loop.call_later(limits.header_timeout, self._headers_too_slow)

        def _cancel_header_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _waiting(self) -> bool:
            return self.cycle is None or self.cycle.response_complete

        def _headers_too_slow(self) -> None:
            self._header_timer = None
            if self._waiting() and not self.transport.is_closing():
                self.transport.close()

        def data_received(self, data: bytes) -> None:
            # The first byte of a request after an idle keep-alive wait starts its clock.
            if self._header_timer is None and self._waiting():
                self._await_headers()
            super().data_received(data)

        def handle_events(self) -> None:
            cycle = self.cycle
            super().handle_events()
            if self.cycle is not cycle:  # a request's headers are in
                self._cancel_header_timer()

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel_header_timer()
            super().connection_lost(exc)

    return GuardedH11


class SignInLimiter:
    """At most `attempts` failed sign-ins from one client address within `window`
    seconds; then it waits until the oldest of them leaves the window."""

    def __init__(self, attempts: int = 10, window: float = 300.0) -> None:
        self.attempts, self.window = attempts, window
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def wait(self, client: str) -> float:
        """Seconds `client` must wait before trying again (0: it may try now)."""
        now = time.monotonic()
        with self._lock:
            seen = self._failures.get(client)
            while seen and now - seen[0] > self.window:
                seen.popleft()
            if not seen:
                self._failures.pop(client, None)
                return 0.0
            return max(0.0, seen[0] + self.window - now) if len(seen) >= self.attempts else 0.0

    def failed(self, client: str) -> None:
        """Count a failed sign-in from `client`."""
        with self._lock:
            if len(self._failures) > 100_000:  # a flood of addresses: forget the quietest
                self._failures.clear()
            self._failures.setdefault(client, deque(maxlen=self.attempts)).append(time.monotonic())
