"""A fault-injecting HTTP proxy on loopback, in front of an S3-compatible server:
each request is passed on, delayed, answered 503 SlowDown or 403 AccessDenied, cut
off by a reset connection part way through its body ("reset"), or passed on and its
answer cut off half way through the answer's body ("cut"), as `fault` decides.
Counts requests, body bytes both ways and the faults it made, so the cost of
retrying can be measured.

    with FaultProxy(endpoint) as proxy:        # proxy.url in place of endpoint
        proxy.fault = lambda method, path, attempt: "503" if method == "PUT" and attempt == 1 else None
"""

from __future__ import annotations

import http.client
import http.server
import socket
import struct
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable
from urllib.parse import urlsplit

Fault = Callable[[str, str, int], "str | float | None"]  # None, "503", "403", "reset", "cut", or seconds of delay

_HOP = {"connection", "keep-alive", "transfer-encoding", "expect", "proxy-connection", "te", "upgrade"}
_ERRORS = {
    "503": (503, "SlowDown", "Please reduce your request rate."),
    "403": (403, "AccessDenied", "Access Denied"),
}


def shares(latency: float = 0.0, slow_down: float = 0.0, cut: float = 0.0, reset: float = 0.0, seed: int = 0) -> Fault:
    """A store that misbehaves for a share of requests, the same ones on every run
    (a hash of the request and its attempt picks them): `slow_down` of all answered
    503 SlowDown, `cut` of GETs cut off half way through the answer, `reset` of PUTs
    reset part way through the upload; every other request delayed `latency` s."""

    def fault(method: str, path: str, attempt: int) -> str | float | None:
        roll = zlib.crc32(f"{seed} {method} {path} {attempt}".encode()) / 2**32
        if roll < slow_down:
            return "503"
        roll -= slow_down
        if method == "GET" and roll < cut:
            return "cut"
        if method == "PUT" and roll < reset:
            return "reset"
        return latency or None

    return fault


class FaultProxy:
    def __init__(self, upstream: str, host: str = "127.0.0.1", port: int = 0) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.fault: Fault = lambda method, path, attempt: None
        self.seen: Counter[tuple[str, str]] = Counter()
        self.faults: Counter[str] = Counter()
        self.requests = self.bytes_in = self.bytes_out = 0
        self._lock = threading.Lock()
        proxy = self

        class Handler(_Handler):
            owner = proxy

        self._server = http.server.ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self.url = f"http://{host}:{self._server.server_address[1]}"

    def __enter__(self) -> FaultProxy:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def reset_counts(self) -> None:
        with self._lock:
            self.seen.clear()
            self.faults.clear()
            self.requests = self.bytes_in = self.bytes_out = 0

    def _decide(self, method: str, path: str) -> str | float | None:
        with self._lock:
            self.requests += 1
            self.seen[(method, path)] += 1
            attempt = self.seen[(method, path)]
        fault = self.fault(method, path, attempt)
        if isinstance(fault, str):
            with self._lock:
                self.faults[fault] += 1
        return fault

    def _count(self, sent: int = 0, answered: int = 0) -> None:
        with self._lock:
            self.bytes_in += sent
            self.bytes_out += answered


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    owner: FaultProxy

    def log_message(self, *args: object) -> None:
        pass

    def _body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _reset(self) -> None:
        """Read part of the body, then drop the connection with a RST."""
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.owner._count(sent=len(self.rfile.read(min(length, 256))))
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True

    def _error(self, status: int, code: str, message: str) -> None:
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{message}</Message>'
            f"<Resource>{self.path}</Resource><RequestId>fault</RequestId></Error>"
        ).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _any(self) -> None:
        fault = self.owner._decide(self.command, self.path)
        if fault == "reset":
            self._reset()
            return
        body = self._body()
        self.owner._count(sent=len(body))
        if fault in _ERRORS:
            self._error(*_ERRORS[fault])
            return
        if isinstance(fault, (int, float)):
            time.sleep(fault)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
        headers["Content-Length"] = str(len(body))
        upstream = http.client.HTTPConnection(*self.owner.upstream, timeout=60)
        try:
            upstream.request(self.command, self.path, body=body, headers=headers)
            reply = upstream.getresponse()
            data = reply.read()
            self.send_response(reply.status, reply.reason)
            for key, value in reply.getheaders():
                if key.lower() not in _HOP and key.lower() != "content-length":
                    self.send_header(key, value)
            length = reply.getheader("Content-Length") if self.command == "HEAD" else None
            self.send_header("Content-Length", length or str(len(data)))
            self.end_headers()
            if fault == "cut" and len(data) > 1:  # half the promised body, then a RST
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self.owner._count(answered=len(data) // 2)
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
                self.close_connection = True
                return
            if self.command != "HEAD":
                self.wfile.write(data)
            self.owner._count(answered=len(data))
        finally:
            upstream.close()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _any
